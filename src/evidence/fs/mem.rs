//! A filesystem built in memory, for tests and fuzzing: objects no test
//! can make on the host without privileges (overlay whiteouts, device
//! nodes, `trusted.*` attributes) and layers of any shape, with the same
//! rules as the real readers (no link followed, only files opened).

use super::{
    DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata, Timestamp, Xattrs,
};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

/// One object of a [`MemFs`].
#[derive(Debug, Clone)]
pub struct MemNode {
    pub meta: Metadata,
    pub data: Arc<[u8]>,
    pub link: Vec<u8>,
    pub xattrs: Xattrs,
}

impl MemNode {
    fn new(kind: FileKind, perm: u32) -> Self {
        MemNode {
            meta: Metadata {
                kind,
                perm,
                uid: 0,
                gid: 0,
                size: 0,
                nlink: 1,
                ino: 0,
                rdev_major: 0,
                rdev_minor: 0,
                mtime: Timestamp::default(),
                atime: Timestamp::default(),
                ctime: Timestamp::default(),
                btime: None,
            },
            data: Arc::from(&[][..]),
            link: Vec::new(),
            xattrs: Vec::new(),
        }
    }

    /// A regular file (0644) holding `data`.
    pub fn file(data: &[u8]) -> Self {
        let mut n = MemNode::new(FileKind::File, 0o644);
        n.meta.size = data.len() as u64;
        n.data = Arc::from(data);
        n
    }

    /// A directory (0755).
    pub fn dir() -> Self {
        MemNode::new(FileKind::Dir, 0o755)
    }

    /// A symbolic link to `target`.
    pub fn symlink(target: &[u8]) -> Self {
        let mut n = MemNode::new(FileKind::Symlink, 0o777);
        n.meta.size = target.len() as u64;
        n.link = target.to_vec();
        n
    }

    /// A character (or, with `FileKind::BlockDevice`, block) device or a
    /// FIFO.
    pub fn special(kind: FileKind, major: u32, minor: u32) -> Self {
        let mut n = MemNode::new(kind, 0o600);
        n.meta.rdev_major = major;
        n.meta.rdev_minor = minor;
        n
    }

    /// An overlayfs whiteout: a 0/0 character device.
    pub fn whiteout() -> Self {
        MemNode::special(FileKind::CharDevice, 0, 0)
    }

    pub fn perm(mut self, perm: u32) -> Self {
        self.meta.perm = perm;
        self
    }

    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.meta.uid = uid;
        self.meta.gid = gid;
        self
    }

    pub fn mtime(mut self, secs: i64) -> Self {
        self.meta.mtime = Timestamp { secs, nanos: 0 };
        self
    }

    /// Claims a size other than the data's (a damaged or hostile inode).
    pub fn claimed_size(mut self, size: u64) -> Self {
        self.meta.size = size;
        self
    }

    pub fn xattr(mut self, name: &[u8], value: &[u8]) -> Self {
        self.xattrs.push((name.to_vec(), value.to_vec()));
        self
    }
}

/// A filesystem held in memory; parents are made as objects are added.
#[derive(Debug, Clone)]
pub struct MemFs {
    nodes: BTreeMap<EvPath, MemNode>,
    next_ino: u64,
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemFs {
    /// An empty filesystem (just its root directory).
    pub fn new() -> Self {
        let mut fs = MemFs {
            nodes: BTreeMap::new(),
            next_ino: 1,
        };
        fs.put(EvPath::root(), MemNode::dir());
        fs
    }

    fn put(&mut self, path: EvPath, mut node: MemNode) {
        if node.meta.ino == 0 {
            node.meta.ino = self.next_ino;
            self.next_ino += 1;
        }
        self.nodes.insert(path, node);
    }

    /// Adds (or replaces) `path`, making missing parent directories.
    /// Paths that climb out with `..` are ignored.
    pub fn add(&mut self, path: impl AsRef<[u8]>, node: MemNode) -> &mut Self {
        let Some(path) = EvPath::parse(path) else {
            return self;
        };
        let mut dir = EvPath::root();
        for comp in path.parent().components() {
            let Some(next) = dir.child(comp) else {
                return self;
            };
            dir = next;
            if !self.nodes.contains_key(&dir) {
                self.put(dir.clone(), MemNode::dir());
            }
        }
        self.put(path, node);
        self
    }

    /// Makes `new` a hard link to the file at `existing` (same inode).
    pub fn hard_link(&mut self, existing: impl AsRef<[u8]>, new: impl AsRef<[u8]>) -> &mut Self {
        let Some(old) = EvPath::parse(existing) else {
            return self;
        };
        let Some(mut node) = self.nodes.get(&old).cloned() else {
            return self;
        };
        let nlink = node.meta.nlink + 1;
        let ino = node.meta.ino;
        for n in self.nodes.values_mut().filter(|n| n.meta.ino == ino) {
            n.meta.nlink = nlink;
        }
        node.meta.nlink = nlink;
        self.add(new, node)
    }

    fn lookup(&self, path: &EvPath) -> Result<&MemNode, FsError> {
        let mut at = EvPath::root();
        for comp in path.parent().components() {
            at = at.child(comp).ok_or_else(|| not_found(path))?;
            match self.nodes.get(&at).map(|n| n.meta.kind) {
                Some(FileKind::Dir) => {}
                Some(FileKind::Symlink) => {
                    return Err(FsError::SymlinkInPath {
                        path: path.display(),
                    });
                }
                Some(_) => {
                    return Err(FsError::NotADirectory {
                        path: path.display(),
                    });
                }
                None => return Err(not_found(path)),
            }
        }
        self.nodes.get(path).ok_or_else(|| not_found(path))
    }
}

fn not_found(path: &EvPath) -> FsError {
    FsError::NotFound {
        path: path.display(),
    }
}

struct MemFile {
    data: Arc<[u8]>,
    pos: usize,
}

impl Read for MemFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl FileReader for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let rest = self.data.get(start..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

impl FileSystem for MemFs {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        self.lookup(path).map(|n| n.meta.clone())
    }

    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        let node = self.lookup(path)?;
        if node.meta.kind != FileKind::Dir {
            return Err(FsError::NotADirectory {
                path: path.display(),
            });
        }
        Ok(self
            .nodes
            .iter()
            .filter(|(p, _)| !p.is_root() && p.parent() == *path)
            .map(|(p, n)| DirEntry {
                name: p.file_name().to_vec(),
                kind: n.meta.kind,
            })
            .collect())
    }

    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        let node = self.lookup(path)?;
        if node.meta.kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: node.meta.kind,
            });
        }
        Ok(Box::new(MemFile {
            data: node.data.clone(),
            pos: 0,
        }))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let node = self.lookup(path)?;
        if node.meta.kind != FileKind::Symlink {
            return Err(FsError::Corrupt {
                path: path.display(),
                detail: "not a symbolic link".into(),
            });
        }
        Ok(node.link.clone())
    }

    fn xattrs(&self, path: &EvPath) -> Result<Xattrs, FsError> {
        self.lookup(path).map(|n| n.xattrs.clone())
    }

    fn describe(&self) -> String {
        "filesystem in memory".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_the_real_readers_rules() {
        let mut fs = MemFs::new();
        fs.add("a/b/f", MemNode::file(b"hi"))
            .add("a/l", MemNode::symlink(b"b"))
            .hard_link("a/b/f", "a/g");
        let p = |s: &str| EvPath::parse(s).unwrap();
        assert!(fs.metadata(&p("a/b")).unwrap().is_dir());
        assert_eq!(fs.metadata(&p("a/g")).unwrap().nlink, 2);
        assert_eq!(fs.metadata(&p("a/b/f")).unwrap().nlink, 2);
        assert!(matches!(
            fs.metadata(&p("a/l/f")),
            Err(FsError::SymlinkInPath { .. })
        ));
        assert!(matches!(
            fs.metadata(&p("a/b/f/x")),
            Err(FsError::NotADirectory { .. })
        ));
        assert!(fs.open(&p("a/l")).is_err());
        let names: Vec<Vec<u8>> = fs
            .read_dir(&p("a"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [b"b".to_vec(), b"g".to_vec(), b"l".to_vec()]);
        let mut s = String::new();
        fs.open(&p("a/g")).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hi");
    }
}
