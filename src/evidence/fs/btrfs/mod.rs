//! btrfs filesystems inside an image, read-only, our own reader.
//!
//! Format reference: the btrfs documentation ("On-disk format", "Trees",
//! btrfs.readthedocs.io) and Linux `include/uapi/linux/btrfs_tree.h`. No
//! maintained crate reads btrfs from a device image, hence this one.
//! What it reads: the superblock (CRC-32C checked; the mirrors at 64 MiB
//! and 256 GiB when the primary is bad, [`sb`]), the system chunks and
//! the chunk tree (one device; single, DUP and mirrored profiles), the
//! root tree, the default subvolume's FS tree and every subvolume reached
//! through a directory entry (and, when the default is not the top level,
//! the top level as a second filesystem: [`BtrfsFs::top_level`]), inode items, directory indexes, xattrs,
//! inline / regular / preallocated extents and holes, zlib, zstd and
//! LZO compressed extents ([`file`]), symlinks and device numbers. Every tree
//! node is checked (CRC-32C, fsid, address, level; [`tree`]): a bad one
//! is an error naming its logical address.
//!
//! LZO extents are inflated by our own LZO1X decoder ([`lzo`]).
//!
//! Not read: multi-device
//! filesystems and striped/parity profiles (refused), checksum types
//! other than CRC-32C (refused), and the log tree (data fsync'ed after
//! the last commit of a filesystem that was not cleanly unmounted).
//!
//! Inode numbers repeat across subvolumes; [`Metadata::ino`] is the
//! inode number in the default subvolume and `(subvolume id << 48) | ino`
//! in any other, so that it stays unique in the filesystem.

pub mod error;
mod file;
mod lzo;
mod sb;
mod tree;

pub use error::{BtrfsError, CorruptKind};

use super::lookup;
use super::reader::Streamed;
use super::{DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata, Timestamp};
use crate::evidence::bytes::{Reader, u8_at, u32_le, u64_le};
use crate::evidence::cache::Lru;
use crate::evidence::image::ReadAt;
use crate::evidence::provenance::{SpecLayer, uuid_text};
use error::Result;
use sb::{ChunkMap, Superblock};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tree::{DIR_INDEX, DIR_ITEM, EXTENT_DATA, INODE_ITEM, Key, ROOT_ITEM, Trees, XATTR_ITEM};

const ROOT_TREE: u64 = 1;
const FS_TREE: u64 = 5;
const ROOT_TREE_DIR: u64 = 6;
const CHUNK_TREE_OBJECTID: u64 = 256;
const INODE_CACHE: usize = 4096;
const DIR_CACHE: usize = 64;
const MAX_SYMLINK: u64 = 4096;
const MAX_ROOTS: usize = 1 << 16;

/// One inode of one tree.
#[derive(Debug, Clone)]
pub struct Inode {
    tree: u64,
    ino: u64,
    size: u64,
    nlink: u32,
    uid: u32,
    gid: u32,
    mode: u32,
    rdev: u64,
    atime: Timestamp,
    ctime: Timestamp,
    mtime: Timestamp,
    otime: Timestamp,
}

impl Inode {
    fn kind(&self) -> FileKind {
        FileKind::from_mode(self.mode)
    }

    fn parse(tree: u64, ino: u64, d: &[u8]) -> Result<Self> {
        let bad = |e: crate::evidence::bytes::ShortInput| {
            BtrfsError::from(CorruptKind::Inode {
                tree,
                ino,
                detail: format!("inode item: {e}"),
            })
        };
        let ts = |at: usize| -> Result<Timestamp> {
            Ok(Timestamp {
                secs: u64_le(d, at).map_err(bad)? as i64,
                nanos: u32_le(d, at + 8).map_err(bad)?.min(999_999_999),
            })
        };
        Ok(Inode {
            tree,
            ino,
            size: u64_le(d, 16).map_err(bad)?,
            nlink: u32_le(d, 40).map_err(bad)?,
            uid: u32_le(d, 44).map_err(bad)?,
            gid: u32_le(d, 48).map_err(bad)?,
            mode: u32_le(d, 52).map_err(bad)?,
            rdev: u64_le(d, 56).map_err(bad)?,
            atime: ts(112)?,
            ctime: ts(124)?,
            mtime: ts(136)?,
            otime: ts(148)?,
        })
    }
}

/// A directory entry as stored: name, where it points, file type.
#[derive(Debug, Clone)]
struct RawEntry {
    name: Vec<u8>,
    tree: u64,
    ino: u64,
    ft: u8,
}

/// A tree's root node.
#[derive(Debug, Clone, Copy)]
struct Root {
    bytenr: u64,
    level: u8,
    dirid: u64,
}

type Node = Arc<Inode>;
/// One dir-item-shaped record: location key, type, name, data.
type Record<'a> = (Key, u8, &'a [u8], &'a [u8]);

/// A btrfs filesystem, read-only.
pub struct BtrfsFs {
    trees: Arc<Trees>,
    sb: Superblock,
    label: String,
    default: u64,
    roots: Mutex<HashMap<u64, Root>>,
    inodes: Lru<(u64, u64), Inode>,
    dirs: Lru<(u64, u64), Vec<RawEntry>>,
}

fn btrfs_error(path: &EvPath, e: impl Into<BtrfsError>) -> FsError {
    FsError::Btrfs {
        path: path.display(),
        source: Box::new(e.into()),
    }
}

/// The dir-item-shaped records packed in one item (`DIR_ITEM`,
/// `DIR_INDEX`, `XATTR_ITEM`): (location key, type, name, data).
fn dir_records(d: &[u8]) -> std::result::Result<Vec<Record<'_>>, String> {
    let mut r = Reader::new(d);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let s = |e: crate::evidence::bytes::ShortInput| e.to_string();
        let key = Key::new(
            r.u64_le().map_err(s)?,
            r.u8().map_err(s)?,
            r.u64_le().map_err(s)?,
        );
        r.skip(8).map_err(s)?; // transid
        let data_len = r.u16_le().map_err(s)?;
        let name_len = r.u16_le().map_err(s)?;
        let ft = r.u8().map_err(s)?;
        let name = r.bytes(usize::from(name_len)).map_err(s)?;
        let data = r.bytes(usize::from(data_len)).map_err(s)?;
        out.push((key, ft, name, data));
    }
    Ok(out)
}

impl BtrfsFs {
    /// Reads the superblock, the chunk tree and the root tree of the
    /// btrfs on `dev`, and the root directory of its default subvolume.
    pub fn open(dev: Arc<dyn ReadAt>, label: &str) -> std::result::Result<Self, FsError> {
        let at = |e: BtrfsError| FsError::Btrfs {
            path: label.to_string(),
            source: Box::new(e),
        };
        let fs = Self::open_inner(dev, label).map_err(at)?;
        let root = fs.root_inode(&EvPath::root())?;
        if root.kind() != FileKind::Dir {
            return Err(FsError::Corrupt {
                path: label.to_string(),
                detail: "btrfs: the default subvolume's root is not a directory".into(),
            });
        }
        Ok(fs)
    }

    fn open_inner(dev: Arc<dyn ReadAt>, label: &str) -> Result<Self> {
        let sb = Superblock::read(dev.as_ref())?;
        if sb.num_devices != 1 {
            return Err(BtrfsError::Unsupported(format!(
                "a filesystem of {} devices (only one-device btrfs is read)",
                sb.num_devices
            )));
        }
        if dev.size() < sb.dev_bytes {
            return Err(CorruptKind::DeviceTooSmall {
                fs_bytes: sb.dev_bytes,
                device_bytes: dev.size(),
            }
            .into());
        }
        let sys = ChunkMap::from_sys_array(&sb, dev.size())?;
        let boot = Trees::new(dev.clone(), sys.clone(), sb.fsid, sb.node_size);
        let items = boot.all(
            3,
            sb.chunk_root,
            sb.chunk_root_level,
            CHUNK_TREE_OBJECTID,
            tree::CHUNK_ITEM,
        )?;
        let mut chunks = sys;
        for (k, d) in &items {
            chunks.add(k.offset, d, sb.devid, dev.size())?;
        }
        let trees = Arc::new(Trees::new(dev, chunks, sb.fsid, sb.node_size));
        let mut fs = BtrfsFs {
            trees,
            sb,
            label: label.to_string(),
            default: FS_TREE,
            roots: Mutex::new(HashMap::new()),
            inodes: Lru::new(INODE_CACHE),
            dirs: Lru::new(DIR_CACHE),
        };
        // the default subvolume: the "default" entry of the root tree's
        // directory (set by `btrfs subvolume set-default`), else tree 5
        let items = fs.trees.all(
            ROOT_TREE,
            fs.sb.root,
            fs.sb.root_level,
            ROOT_TREE_DIR,
            DIR_ITEM,
        )?;
        for (_, d) in &items {
            let recs = dir_records(d).map_err(|detail| CorruptKind::Inode {
                tree: ROOT_TREE,
                ino: ROOT_TREE_DIR,
                detail,
            })?;
            if let Some((k, ..)) = recs.iter().find(|r| r.2 == b"default")
                && k.kind == ROOT_ITEM
            {
                fs.default = k.objectid;
            }
        }
        fs.root(fs.default)?;
        Ok(fs)
    }

    /// This filesystem as the last layer of a provenance chain.
    pub fn spec_layer(&self) -> SpecLayer {
        SpecLayer::file_system(
            "btrfs",
            uuid_text(&self.sb.fsid),
            Some(self.sb.label.clone()),
        )
    }

    /// The byte offset of the superblock copy in use (64 KiB unless the
    /// primary was damaged).
    pub fn superblock_offset(&self) -> u64 {
        self.sb.at
    }

    /// The subvolume shown as the root.
    pub fn default_subvolume(&self) -> u64 {
        self.default
    }

    /// When the default subvolume is not the top level (tree 5), the top
    /// level as a filesystem of its own: distributions that boot from a
    /// snapshot (openSUSE's snapper) keep `/var` in a sibling subvolume
    /// (`@/var`) that is reachable only from there.
    pub fn top_level(&self) -> Option<BtrfsFs> {
        if self.default == FS_TREE {
            return None;
        }
        let fs = BtrfsFs {
            trees: self.trees.clone(),
            sb: self.sb.clone(),
            label: self.label.clone(),
            default: FS_TREE,
            roots: Mutex::new(HashMap::new()),
            inodes: Lru::new(INODE_CACHE),
            dirs: Lru::new(DIR_CACHE),
        };
        let root = fs.root_inode(&EvPath::root()).ok()?;
        (root.kind() == FileKind::Dir).then_some(fs)
    }

    /// The device offsets of every copy of logical address `logical`
    /// (two for DUP metadata), for examiners and tests that point at a
    /// structure.
    pub fn physical_of(&self, logical: u64) -> Vec<u64> {
        self.trees.chunks.physical_copies(logical)
    }

    /// The logical address of the root node of tree `id` (5: the top
    /// subvolume; 256 and up: the other subvolumes).
    pub fn tree_root(&self, id: u64) -> Option<u64> {
        self.root(id).ok().map(|r| r.bytenr)
    }

    fn root(&self, id: u64) -> Result<Root> {
        if let Some(r) = self.roots.lock().ok().and_then(|m| m.get(&id).copied()) {
            return Ok(r);
        }
        let items = self
            .trees
            .all(ROOT_TREE, self.sb.root, self.sb.root_level, id, ROOT_ITEM)?;
        let (_, d) = items.last().ok_or(CorruptKind::NoRoot(id))?;
        let bad = |e: crate::evidence::bytes::ShortInput| CorruptKind::Inode {
            tree: ROOT_TREE,
            ino: id,
            detail: format!("root item: {e}"),
        };
        let r = Root {
            dirid: u64_le(d, 168).map_err(bad)?,
            bytenr: u64_le(d, 176).map_err(bad)?,
            level: u8_at(d, 238).map_err(bad)?,
        };
        if let Ok(mut m) = self.roots.lock()
            && m.len() < MAX_ROOTS
        {
            m.insert(id, r);
        }
        Ok(r)
    }

    fn root_inode(&self, path: &EvPath) -> std::result::Result<Node, FsError> {
        let r = self.root(self.default).map_err(|e| btrfs_error(path, e))?;
        self.inode(path, self.default, r.dirid)
    }

    fn inode(&self, path: &EvPath, tree: u64, ino: u64) -> std::result::Result<Node, FsError> {
        let load = || -> Result<Inode> {
            let r = self.root(tree)?;
            let d = self
                .trees
                .get(tree, r.bytenr, r.level, Key::new(ino, INODE_ITEM, 0))?
                .ok_or(CorruptKind::NoInode { tree, ino })?;
            Inode::parse(tree, ino, &d)
        };
        self.inodes
            .get((tree, ino), || load().map_err(|e| btrfs_error(path, e)))
    }

    fn items(&self, i: &Inode, kind: u8) -> Result<Vec<(Key, Vec<u8>)>> {
        let r = self.root(i.tree)?;
        self.trees.all(i.tree, r.bytenr, r.level, i.ino, kind)
    }

    fn dir_entries(
        &self,
        path: &EvPath,
        d: &Inode,
    ) -> std::result::Result<Arc<Vec<RawEntry>>, FsError> {
        let load = || -> Result<Vec<RawEntry>> {
            let mut out = Vec::new();
            for (k, data) in self.items(d, DIR_INDEX)? {
                let recs = dir_records(&data).map_err(|detail| CorruptKind::Inode {
                    tree: d.tree,
                    ino: d.ino,
                    detail: format!("directory index {}: {detail}", k.offset),
                })?;
                for (loc, ft, name, _) in recs {
                    let (tree, ino) = match loc.kind {
                        INODE_ITEM => (d.tree, loc.objectid),
                        ROOT_ITEM => (loc.objectid, self.root(loc.objectid)?.dirid),
                        t => {
                            return Err(CorruptKind::Inode {
                                tree: d.tree,
                                ino: d.ino,
                                detail: format!("directory entry of key type {t}"),
                            }
                            .into());
                        }
                    };
                    out.push(RawEntry {
                        name: name.to_vec(),
                        tree,
                        ino,
                        ft,
                    });
                }
            }
            Ok(out)
        };
        self.dirs
            .get((d.tree, d.ino), || load().map_err(|e| btrfs_error(path, e)))
    }

    fn lookup(&self, path: &EvPath) -> std::result::Result<Node, FsError> {
        lookup::resolve(self, path)
    }

    fn file(&self, path: &EvPath, i: &Inode) -> std::result::Result<file::BtrfsFile, FsError> {
        let items = self
            .items(i, EXTENT_DATA)
            .map_err(|e| btrfs_error(path, e))?;
        let extents = file::extents(
            i.tree,
            &items,
            i.ino,
            self.sb.node_size,
            self.sb.sector_size,
        )
        .map_err(|e| btrfs_error(path, e))?;
        Ok(file::BtrfsFile {
            trees: self.trees.clone(),
            extents,
            size: i.size,
            path: path.display(),
            sector: self.sb.sector_size,
            last: Mutex::new(None),
        })
    }

    fn shown_ino(&self, i: &Inode) -> u64 {
        if i.tree == self.default {
            i.ino
        } else {
            (i.tree << 48) | (i.ino & ((1 << 48) - 1))
        }
    }
}

impl lookup::Tree for BtrfsFs {
    type Node = Node;
    fn root(&self, path: &EvPath) -> std::result::Result<Node, FsError> {
        self.root_inode(path)
    }
    fn child(&self, path: &EvPath, dir: &Node, name: &[u8]) -> std::result::Result<Node, FsError> {
        let list = self.dir_entries(path, dir)?;
        let e = list
            .iter()
            .find(|e| e.name.as_slice() == name)
            .ok_or_else(|| FsError::NotFound {
                path: path.display(),
            })?;
        self.inode(path, e.tree, e.ino)
    }
    fn ino(node: &Node) -> u64 {
        node.tree.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ node.ino
    }
    fn kind(node: &Node) -> FileKind {
        node.kind()
    }
}

impl FileSystem for BtrfsFs {
    fn metadata(&self, path: &EvPath) -> std::result::Result<Metadata, FsError> {
        let i = self.lookup(path)?;
        let kind = i.kind();
        // the kernel stores its own dev_t: major above bit 20
        let (rdev_major, rdev_minor) = if kind.is_device() {
            ((i.rdev >> 20) as u32, (i.rdev & 0xf_ffff) as u32)
        } else {
            (0, 0)
        };
        Ok(Metadata {
            kind,
            perm: i.mode & 0o7777,
            uid: i.uid,
            gid: i.gid,
            size: i.size,
            nlink: u64::from(i.nlink),
            ino: self.shown_ino(&i),
            rdev_major,
            rdev_minor,
            mtime: i.mtime,
            atime: i.atime,
            ctime: i.ctime,
            // otime 0 is "not recorded" (mkfs.btrfs --rootdir leaves it so)
            btime: (i.otime != Timestamp::default()).then_some(i.otime),
        })
    }

    fn read_dir(&self, path: &EvPath) -> std::result::Result<Vec<DirEntry>, FsError> {
        let d = self.lookup(path)?;
        if d.kind() != FileKind::Dir {
            return Err(FsError::NotADirectory {
                path: path.display(),
            });
        }
        let list = self.dir_entries(path, &d)?;
        let mut out = Vec::with_capacity(list.len());
        for e in list.iter() {
            let kind = match FileKind::from_dirent_type(e.ft) {
                Some(k) => k,
                None => self.inode(path, e.tree, e.ino)?.kind(),
            };
            out.push(DirEntry {
                name: e.name.clone(),
                kind,
            });
        }
        Ok(out)
    }

    fn open(&self, path: &EvPath) -> std::result::Result<Box<dyn FileReader>, FsError> {
        let i = self.lookup(path)?;
        if i.kind() != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: i.kind(),
            });
        }
        Ok(Box::new(Streamed::new(self.file(path, &i)?)))
    }

    fn read_link(&self, path: &EvPath) -> std::result::Result<Vec<u8>, FsError> {
        use super::reader::ReadFileAt;
        let i = self.lookup(path)?;
        if i.kind() != FileKind::Symlink {
            return Err(FsError::Corrupt {
                path: path.display(),
                detail: "not a symbolic link".into(),
            });
        }
        if i.size == 0 || i.size > MAX_SYMLINK {
            return Err(btrfs_error(
                path,
                CorruptKind::Inode {
                    tree: i.tree,
                    ino: i.ino,
                    detail: format!("symlink length {}", i.size),
                },
            ));
        }
        let f = self.file(path, &i)?;
        let mut out = vec![0u8; i.size as usize];
        let mut done = 0;
        while done < out.len() {
            let n = f
                .read_file_at(&mut out[done..], done as u64)
                .map_err(|source| FsError::Io {
                    path: path.display(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            done += n;
        }
        out.truncate(done);
        Ok(out)
    }

    fn xattrs(&self, path: &EvPath) -> std::result::Result<super::Xattrs, FsError> {
        let i = self.lookup(path)?;
        let items = self
            .items(&i, XATTR_ITEM)
            .map_err(|e| btrfs_error(path, e))?;
        let mut out = Vec::new();
        for (k, d) in &items {
            let recs = dir_records(d).map_err(|detail| {
                btrfs_error(
                    path,
                    CorruptKind::Inode {
                        tree: i.tree,
                        ino: i.ino,
                        detail: format!("xattr item {}: {detail}", k.offset),
                    },
                )
            })?;
            for (_, _, name, value) in recs {
                out.push((name.to_vec(), value.to_vec()));
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        match self.sb.label.as_str() {
            "" => format!("btrfs in {}", self.label),
            l => format!("btrfs \"{l}\" in {}", self.label),
        }
    }
}
