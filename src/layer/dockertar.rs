//! The tars Docker writes of a container, byte for byte (moby 20.10
//! `pkg/archive`):
//! - [`upper_tar`]: `docker commit`'s new layer where the graph driver
//!   tars the writable layer itself (overlay2 `Diff`: `TarWithOptions`
//!   with the overlay whiteout converter; aufs `Diff`: `TarWithOptions`
//!   without the branch's `.wh..wh.*` bookkeeping);
//! - [`changes_tar`]: `docker commit`'s new layer where the driver has no
//!   diff of its own (overlay v1, vfs, and overlay2 on kernels that force
//!   the "naive" diff): `ExportChanges` of the `docker diff` list, the
//!   container's files as its mount shows them, a `.wh.<name>` for each
//!   deletion;
//! - [`merged_tar`]: `docker export`: `TarWithOptions` of the container's
//!   mounted filesystem.
//!
//! Every entry is `tarAppender.addTarFile`: Go's `FileInfoHeader` with
//! the file-type bits in the mode (`040755` for a directory; Docker 24
//! dropped them: `0755`), times cut to the second, user and group names
//! looked up by id (up to Docker 20.10.26; later ones write none), device
//! numbers;
//! of the extended attributes only `security.capability` (a version 3
//! capability written as version 2); a regular file with more than one
//! link that was already written becomes a hard link to its first name.
//! Names are walked in byte order, a directory before what it holds; the
//! root itself is not an entry; sockets are skipped (Go's tar cannot
//! write them). The overlay converter turns a 0/0 character device into
//! an empty `.wh.<name>` file of mode 0600 (keeping its owner, time and,
//! for a second link of a shared whiteout inode, the link name Go had
//! set) and follows an opaque directory with `<dir>/.wh..wh..opq` (its
//! permission bits, owner, time zero).

use super::content::{Content, Counting, Length};
use super::diff::Change;
use super::findings::Findings;
use super::gotar::{
    GoHeader, GoTar, TYPE_BLOCK, TYPE_CHAR, TYPE_DIR, TYPE_FIFO, TYPE_LINK, TYPE_REG, TYPE_SYMLINK,
};
use super::merged::{Merged, Node, WH_OPAQUE, WH_PREFIX, Whiteouts};
use super::replay::Written;
use super::retar::RetarError;
use super::usernames::UserNames;
use crate::evidence::fs::{EvPath, FileKind, FileSystem, FsError, Metadata};
use crate::report::{Finding, FindingKind};
use std::collections::HashMap;
use std::io::{self, Write};

/// Directory depth walked at most (a hostile filesystem may loop).
const MAX_DEPTH: usize = 1024;

/// `docker commit`'s layer where the driver tars the writable layer (the
/// union's first) itself.
pub fn upper_tar<W: Write>(
    u: &Union<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), RetarError> {
    let (fs, style) = (u.fs, u.style);
    let upper = u.layers.first().ok_or_else(|| RetarError::Dir {
        path: String::new(),
        source: FsError::NotADirectory {
            path: "no writable layer".into(),
        },
    })?;
    is_dir(fs, upper)?;
    let mut a = Appender::new(u, style == Whiteouts::Overlay, out, progress);
    a.walk_dir(upper, &EvPath::root(), style)
        .map_err(RetarError::Output)?;
    a.finish()
}

/// A container's layers (writable layer first) and the user database
/// its tar's names come from.
pub struct Union<'a> {
    /// The evidence.
    pub fs: &'a dyn FileSystem,
    /// The layers' directories, topmost first.
    pub layers: &'a [EvPath],
    /// How they mark deletions.
    pub style: Whiteouts,
    /// Where `Uname`/`Gname` come from.
    pub names: &'a UserNames,
    /// The mode carries the file-type bits (Docker before 24).
    pub type_bits: bool,
}

/// `docker export`: the filesystem of the union.
pub fn merged_tar<W: Write>(
    u: &Union<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), RetarError> {
    let view = Merged {
        fs: u.fs,
        layers: u.layers,
        style: u.style,
    };
    let root = view.root().ok_or_else(|| RetarError::Dir {
        path: u.layers.first().map(EvPath::display).unwrap_or_default(),
        source: FsError::NotADirectory {
            path: "the container's layers".into(),
        },
    })?;
    let mut a = Appender::new(u, false, out, progress);
    a.walk_merged(&view, &root, &EvPath::root())
        .map_err(RetarError::Output)?;
    a.finish()
}

/// `docker commit`'s layer by `ExportChanges`: `changes` in path order,
/// each as the union shows it; a deletion as an empty
/// `.wh.<name>` (Go's header with only a name and a time: USTAR, mode 0,
/// owner 0, no names). Docker stamps those with the time of the commit;
/// `whiteout_mtime` stands for it.
pub fn changes_tar<W: Write>(
    u: &Union<'_>,
    changes: &[Change],
    whiteout_mtime: i64,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), RetarError> {
    let view = Merged {
        fs: u.fs,
        layers: u.layers,
        style: u.style,
    };
    let mut a = Appender::new(u, false, out, progress);
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by(|x, y| x.path.as_bytes().cmp(y.path.as_bytes()));
    for ch in sorted {
        let Some(rel) = EvPath::parse_strict(ch.path.as_bytes()) else {
            continue;
        };
        if ch.kind == 'D' {
            let mut name = rel.parent().as_bytes().to_vec();
            if !name.is_empty() {
                name.push(b'/');
            }
            name.extend_from_slice(WH_PREFIX);
            name.extend_from_slice(rel.file_name());
            let h = GoHeader {
                name,
                typeflag: TYPE_REG,
                mtime: whiteout_mtime,
                ..Default::default()
            };
            a.tar.header(&h).map_err(RetarError::Output)?;
            continue;
        }
        match view.lookup(&rel) {
            Some(n) => a
                .add(&n.path, &n.meta, rel.as_bytes())
                .map_err(RetarError::Output)?,
            None => a.note(FindingKind::FileMissing, &rel, "changed path not found"),
        }
    }
    a.finish()
}

fn is_dir(fs: &dyn FileSystem, dir: &EvPath) -> Result<(), RetarError> {
    let m = fs.metadata(dir).map_err(|source| RetarError::Dir {
        path: dir.display(),
        source,
    })?;
    if m.is_dir() {
        Ok(())
    } else {
        Err(RetarError::Dir {
            path: dir.display(),
            source: FsError::NotADirectory {
                path: dir.display(),
            },
        })
    }
}

/// moby's `tarAppender`.
struct Appender<'a, W: Write> {
    fs: &'a dyn FileSystem,
    tar: GoTar<Counting<W>>,
    names: &'a UserNames,
    /// inode → the name it was first written as.
    seen: HashMap<u64, Vec<u8>>,
    /// The overlay whiteout converter is on.
    convert: bool,
    /// Modes carry the file-type bits.
    type_bits: bool,
    findings: Findings,
    files: u64,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<'a, W: Write> Appender<'a, W> {
    fn new(u: &Union<'a>, convert: bool, out: W, progress: &'a (dyn Fn(u64) + Sync)) -> Self {
        Appender {
            fs: u.fs,
            tar: GoTar::new(Counting::new(out)),
            names: u.names,
            type_bits: u.type_bits,
            seen: HashMap::new(),
            convert,
            findings: Findings::default(),
            files: 0,
            progress,
        }
    }

    fn finish(self) -> Result<(W, Written), RetarError> {
        let counting = self.tar.finish().map_err(RetarError::Output)?;
        counting
            .finish(self.files, self.findings.into_vec())
            .map_err(RetarError::Output)
    }

    fn note(&mut self, kind: FindingKind, rel: &EvPath, detail: impl Into<String>) {
        self.findings
            .push(Finding::new(kind, Some(rel.display()), detail));
    }

    /// `filepath.Walk` of one directory tree (below `top`).
    fn walk_dir(&mut self, top: &EvPath, rel: &EvPath, style: Whiteouts) -> io::Result<()> {
        if self.too_deep(rel) {
            return Ok(());
        }
        let dir = top.join_path(rel);
        let mut entries = match self.fs.read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                self.note(
                    FindingKind::FileUnreadable,
                    rel,
                    format!("directory unreadable: {e}"),
                );
                return Ok(());
            }
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            // aufs `Diff` excludes the branch's `.wh..wh.*` bookkeeping
            // at its top (but not an opaque marker).
            if style == Whiteouts::Aufs
                && rel.is_root()
                && e.name.starts_with(b".wh..wh.")
                && e.name != WH_OPAQUE
            {
                continue;
            }
            let Some(child) = rel.child(&e.name) else {
                continue;
            };
            let full = top.join_path(&child);
            let meta = match self.fs.metadata(&full) {
                Ok(m) => m,
                Err(e) => {
                    self.note(FindingKind::FileUnreadable, &child, e.to_string());
                    continue;
                }
            };
            self.add(&full, &meta, child.as_bytes())?;
            if meta.is_dir() {
                self.walk_dir(top, &child, style)?;
            }
        }
        Ok(())
    }

    /// `filepath.Walk` of the union view.
    fn walk_merged(&mut self, view: &Merged<'_>, dir: &Node, rel: &EvPath) -> io::Result<()> {
        if self.too_deep(rel) {
            return Ok(());
        }
        for (name, node) in view.children(dir) {
            let Some(child) = rel.child(&name) else {
                continue;
            };
            self.add(&node.path, &node.meta, child.as_bytes())?;
            if node.meta.is_dir() {
                self.walk_merged(view, &node, &child)?;
            }
        }
        Ok(())
    }

    fn too_deep(&mut self, rel: &EvPath) -> bool {
        let deep = rel.components().count() >= MAX_DEPTH;
        if deep {
            self.note(
                FindingKind::SizeImplausible,
                rel,
                format!("directories nested deeper than {MAX_DEPTH}: not walked further"),
            );
        }
        deep
    }

    /// `addTarFile(full, name)`; only writing errors end the tar.
    fn add(&mut self, full: &EvPath, meta: &Metadata, name: &[u8]) -> io::Result<()> {
        let rel = EvPath::parse_strict(name).unwrap_or_default();
        let (typeflag, type_bits) = match meta.kind {
            FileKind::File => (TYPE_REG, 0o100000),
            FileKind::Dir => (TYPE_DIR, 0o040000),
            FileKind::Symlink => (TYPE_SYMLINK, 0o120000),
            FileKind::CharDevice => (TYPE_CHAR, 0o020000),
            FileKind::BlockDevice => (TYPE_BLOCK, 0o060000),
            FileKind::Fifo => (TYPE_FIFO, 0o010000),
            FileKind::Socket | FileKind::Unknown => return Ok(()),
        };
        let mut h = GoHeader {
            name: name.to_vec(),
            typeflag,
            mode: i64::from(meta.perm & 0o7777) | if self.type_bits { type_bits } else { 0 },
            uid: i64::from(meta.uid),
            gid: i64::from(meta.gid),
            size: if meta.is_file() {
                i64::try_from(meta.size).unwrap_or(i64::MAX)
            } else {
                0
            },
            mtime: meta.mtime.secs,
            uname: self.names.user(meta.uid).to_vec(),
            gname: self.names.group(meta.gid).to_vec(),
            ..Default::default()
        };
        if meta.is_dir() {
            h.name.push(b'/');
        }
        if matches!(meta.kind, FileKind::CharDevice | FileKind::BlockDevice) {
            h.devmajor = i64::from(meta.rdev_major);
            h.devminor = i64::from(meta.rdev_minor);
        }
        if meta.kind == FileKind::Symlink {
            match self.fs.read_link(full) {
                Ok(t) => h.linkname = t,
                Err(e) => {
                    self.note(
                        FindingKind::FileUnreadable,
                        &rel,
                        format!("link unreadable: {e}"),
                    );
                    return Ok(());
                }
            }
        } else if let Some(cap) = self.capability(full) {
            h.xattrs.push((b"security.capability".to_vec(), cap));
        }
        if !meta.is_dir() && meta.nlink > 1 {
            match self.seen.get(&meta.ino) {
                Some(first) => {
                    h.typeflag = TYPE_LINK;
                    h.linkname = first.clone();
                    h.size = 0;
                }
                None => {
                    self.seen.insert(meta.ino, name.to_vec());
                }
            }
        }
        let mut opaque_marker = None;
        if self.convert {
            if meta.is_overlay_whiteout() {
                let cut = name.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
                let mut wh = name[..cut].to_vec();
                wh.extend_from_slice(WH_PREFIX);
                wh.extend_from_slice(&name[cut..]);
                h.name = wh;
                h.mode = 0o600;
                h.typeflag = TYPE_REG;
                h.size = 0;
            } else if meta.is_dir() && self.overlay_opaque(full) {
                let mut marker = h.name.clone();
                marker.extend_from_slice(WH_OPAQUE);
                opaque_marker = Some(GoHeader {
                    name: marker,
                    typeflag: TYPE_REG,
                    mode: h.mode & 0o777,
                    uid: h.uid,
                    gid: h.gid,
                    uname: h.uname.clone(),
                    gname: h.gname.clone(),
                    ..Default::default()
                });
            }
        }
        if let Err(e) = self.tar.header(&h) {
            if e.kind() == io::ErrorKind::InvalidInput {
                self.note(FindingKind::FileUnreadable, &rel, e.to_string());
                return Ok(());
            }
            return Err(e);
        }
        if let Some(m) = opaque_marker {
            return self.tar.header(&m);
        }
        if h.typeflag == TYPE_REG && h.size > 0 {
            self.content(full, &rel, meta.size)?;
        }
        Ok(())
    }

    /// The file's content, zero-padded (and noted) where it cannot be
    /// read whole.
    fn content(&mut self, full: &EvPath, rel: &EvPath, size: u64) -> io::Result<()> {
        let file = match self.fs.open(full) {
            Ok(f) => f,
            Err(e) => {
                self.note(
                    FindingKind::FileUnreadable,
                    rel,
                    format!("{e}; written as zeros"),
                );
                return self.tar.content(&mut io::repeat(0), size);
            }
        };
        self.files += 1;
        let mut data = Content::new(file, size, self.progress);
        self.tar.content(&mut data, size)?;
        if let Length::Short(n) = data.length() {
            self.note(
                FindingKind::FileUnreadable,
                rel,
                format!("only {n} of its {size} bytes could be read; the rest written as zeros"),
            );
        }
        Ok(())
    }

    /// moby `ReadSecurityXattrToTarHeader`.
    fn capability(&self, full: &EvPath) -> Option<Vec<u8>> {
        let mut cap = self
            .fs
            .xattrs(full)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == b"security.capability")?
            .1;
        if cap.get(3) == Some(&3) {
            cap[3] = 2;
            cap.truncate(20);
        }
        Some(cap)
    }

    /// The converter asks for `trusted.overlay.opaque` only.
    fn overlay_opaque(&self, dir: &EvPath) -> bool {
        self.fs.xattrs(dir).is_ok_and(|x| {
            x.iter()
                .any(|(k, v)| k == b"trusted.overlay.opaque" && v == b"y")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::path;

    /// (name, type flag, mode, linkname) of each header.
    fn headers(tar: &[u8]) -> Vec<(String, u8, String, String)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
            let h = &tar[at..at + 512];
            let s = |r: std::ops::Range<usize>| {
                let f = &h[r];
                let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
                String::from_utf8_lossy(&f[..end]).into_owned()
            };
            let size = u64::from_str_radix(&s(124..136), 8).unwrap();
            out.push((s(0..100), h[156], s(100..108), s(157..257)));
            let data = if h[156] == TYPE_REG || h[156] == b'x' {
                size.div_ceil(512) * 512
            } else {
                0
            };
            at += 512 + data as usize;
        }
        out
    }

    fn union<'a>(
        fs: &'a MemFs,
        layers: &'a [EvPath],
        style: Whiteouts,
        names: &'a UserNames,
    ) -> Union<'a> {
        Union {
            fs,
            layers,
            style,
            names,
            type_bits: true,
        }
    }

    fn upper(fs: &MemFs, style: Whiteouts) -> Vec<u8> {
        let names = UserNames::assumed();
        let layers = [path("up")];
        upper_tar(&union(fs, &layers, style, &names), Vec::new(), &|_| {})
            .unwrap()
            .0
    }

    /// Kernels since 5.8 make whiteouts links of one inode: the second
    /// is converted after Go marked it a link, and keeps the link name.
    #[test]
    fn shared_whiteout_inode_keeps_the_link_name() {
        let mut fs = MemFs::new();
        fs.add("up/a/x", MemNode::whiteout())
            .hard_link("up/a/x", "up/b/y")
            .add(
                "up/c",
                MemNode::dir().xattr(b"trusted.overlay.opaque", b"y"),
            );
        let h = headers(&upper(&fs, Whiteouts::Overlay));
        let row =
            |n: &str, t: u8, m: &str, l: &str| (n.to_string(), t, m.to_string(), l.to_string());
        assert_eq!(
            h,
            [
                row("a/", TYPE_DIR, "0040755", ""),
                row("a/.wh.x", TYPE_REG, "0000600", ""),
                row("b/", TYPE_DIR, "0040755", ""),
                row("b/.wh.y", TYPE_REG, "0000600", "a/x"),
                row("c/", TYPE_DIR, "0040755", ""),
                row("c/.wh..wh..opq", TYPE_REG, "0000755", ""),
            ]
        );
    }

    /// aufs: the branch's bookkeeping stays out, its whiteouts and opaque
    /// markers are written as the files they are; a version 3 capability
    /// becomes version 2.
    #[test]
    fn aufs_branch_and_capabilities() {
        let mut cap = vec![0, 0, 0, 3];
        cap.extend_from_slice(&[7u8; 20]);
        let mut fs = MemFs::new();
        fs.add("up/.wh..wh.aufs", MemNode::file(b""))
            .add("up/.wh..wh.plnk/1.2", MemNode::file(b""))
            .add("up/.wh..wh.orph", MemNode::dir())
            .add("up/.wh.gone", MemNode::file(b""))
            .add("up/d/.wh..wh..opq", MemNode::file(b""))
            .add(
                "up/bin",
                MemNode::file(b"x").xattr(b"security.capability", &cap),
            );
        let out = upper(&fs, Whiteouts::Aufs);
        let names: Vec<String> = headers(&out).into_iter().map(|h| h.0).collect();
        assert_eq!(
            names,
            [
                ".wh.gone",
                "PaxHeaders.0/bin",
                "bin",
                "d/",
                "d/.wh..wh..opq"
            ]
        );
        let want = b"57 SCHILY.xattr.security.capability=\0\0\0\x02\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\n";
        assert_eq!(&out[1024..1024 + want.len()], want);
    }

    #[test]
    fn depth_is_bounded() {
        let mut fs = MemFs::new();
        let deep = format!("up/{}f", "d/".repeat(MAX_DEPTH + 5));
        fs.add(&deep, MemNode::file(b"x"));
        let names = UserNames::assumed();
        let layers = [path("up")];
        let u = union(&fs, &layers, Whiteouts::Overlay, &names);
        let (_, w) = upper_tar(&u, Vec::new(), &|_| {}).unwrap();
        assert_eq!(w.findings.len(), 1);
        assert_eq!(w.findings[0].kind, FindingKind::SizeImplausible);
    }
}
