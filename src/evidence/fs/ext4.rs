//! ext2/3/4 filesystems inside an image, through the `rust-fs-ext4`
//! crate (`fs_ext4`), mounted read-only on a [`ReadAt`] device.
//!
//! The crate does the format work (kernel.org "ext4 Data Structures and
//! Algorithms": superblock, group descriptors, inodes with extra fields and
//! nanosecond/era timestamps, extent trees, htree and linear directories,
//! inline data, in-inode and block xattrs incl. `trusted.*`, metadata
//! checksums, journal replay into its cache on a read-only device). Here:
//! - paths are resolved one component at a time from the root inode, and a
//!   symlink met before the last component is refused, never followed;
//! - resolving is cached, within fixed bounds: verified inodes (an LRU of
//!   [`INODE_CACHE`]) and, for each directory of at most
//!   [`DIR_INDEX_MAX_BYTES`], its names sorted once ([`DirIndex`], an LRU
//!   of at most [`DIR_CACHE_BYTES`] in all). A directory's blocks are
//!   then read and checked (CRC-32C tail, extents inside the device) once,
//!   not once per file looked up in it; a larger or damaged directory is
//!   searched by the crate's own `lookup_at`, as before;
//! - device numbers are decoded from `i_block` (old 16-bit encoding in
//!   word 0, new 32-bit "huge" encoding in word 1, as the kernel's
//!   `ext4_read_inode`/`new_decode_dev` do);
//! - regular files with extents are read extent by extent straight from
//!   the device (one read per run, not per block), each extent checked to
//!   lie inside the device; other files go through the crate's reader.

use super::dir_index::{self, DirIndex};
use super::lookup;
use super::reader::{Mapped, ReadFileAt, Run, Streamed};
use super::{DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata, Timestamp};
use crate::evidence::bytes::u32_le;
use crate::evidence::cache::Lru;
use crate::evidence::image::ReadAt;
use crate::evidence::provenance::{SpecLayer, uuid_text};
use fs_ext4::dir::DirEntryType;
use fs_ext4::extent::Extent;
use fs_ext4::inode::{Inode, InodeFlags};
use lru::LruCache;
use std::io;
use std::sync::{Arc, Mutex};

const ROOT_INO: u32 = 2;
/// Verified inodes kept (each a few hundred bytes).
const INODE_CACHE: usize = 2048;
/// Directories larger than this (`i_size`) are not indexed.
const DIR_INDEX_MAX_BYTES: u64 = 1 << 20;
/// Bytes all cached directory indexes hold together.
const DIR_CACHE_BYTES: usize = 4 << 20;

/// A verified inode: parsed and raw.
type CachedInode = Arc<(Inode, Vec<u8>)>;

/// What the directory cache knows of one directory.
#[derive(Clone)]
enum Dir {
    Indexed(Arc<DirIndex>),
    /// Too large or not indexable: searched by the crate each time.
    Unindexed,
}

/// Directory indexes, least recently used first out, bounded in bytes.
struct DirCache {
    lru: LruCache<u32, Dir>,
    bytes: usize,
}

impl DirCache {
    fn get(&mut self, ino: u32) -> Option<Dir> {
        self.lru.get(&ino).cloned()
    }
    fn put(&mut self, ino: u32, dir: Dir) {
        let cost = |d: &Dir| match d {
            Dir::Indexed(ix) => ix.cost(),
            Dir::Unindexed => 0,
        } + 128;
        let add = cost(&dir);
        if let Some(old) = self.lru.put(ino, dir) {
            self.bytes = self.bytes.saturating_sub(cost(&old));
        }
        self.bytes += add;
        while self.bytes > DIR_CACHE_BYTES {
            let Some((_, old)) = self.lru.pop_lru() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(cost(&old));
        }
    }
}

/// Adapts a [`ReadAt`] to the crate's block device (never writable).
struct Device(Arc<dyn ReadAt>);

impl fs_ext4::block_io::BlockDevice for Device {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fs_ext4::Result<()> {
        self.0
            .read_exact_at(buf, offset)
            .map_err(fs_ext4::Error::Io)
    }
    fn size_bytes(&self) -> u64 {
        self.0.size()
    }
}

/// An ext2/3/4 filesystem, read-only.
pub struct Ext4Fs {
    fs: Arc<fs_ext4::Filesystem>,
    dev: Arc<dyn ReadAt>,
    label: String,
    inodes: Lru<u32, (Inode, Vec<u8>)>,
    dirs: Mutex<DirCache>,
}

fn corrupt(path: &EvPath, detail: impl std::fmt::Display) -> FsError {
    FsError::Corrupt {
        path: path.display(),
        detail: detail.to_string(),
    }
}

fn map_err(path: &EvPath, ino: u32, e: fs_ext4::Error) -> FsError {
    match e {
        fs_ext4::Error::NotFound => FsError::NotFound {
            path: path.display(),
        },
        fs_ext4::Error::NotADirectory => FsError::NotADirectory {
            path: path.display(),
        },
        fs_ext4::Error::Io(source) => FsError::Io {
            path: path.display(),
            source,
        },
        e => corrupt(path, format!("inode {ino}: {e}")),
    }
}

fn kind_of(mode: u16) -> FileKind {
    FileKind::from_mode(u32::from(mode))
}

/// (major, minor) of a device inode, from `i_block[0]` or `i_block[1]`.
fn rdev(inode: &Inode) -> (u32, u32) {
    let w = |i: usize| u32_le(&inode.block, 4 * i).unwrap_or(0);
    let (old, new) = (w(0), w(1));
    if old != 0 {
        ((old >> 8) & 0xff, old & 0xff)
    } else {
        ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
    }
}

impl Ext4Fs {
    /// Mounts the filesystem on `dev` read-only; `label` names where it is.
    pub fn open(dev: Arc<dyn ReadAt>, label: &str) -> Result<Self, FsError> {
        let device: Arc<dyn fs_ext4::block_io::BlockDevice> = Arc::new(Device(dev.clone()));
        let fs = fs_ext4::Filesystem::mount(device).map_err(|e| FsError::Corrupt {
            path: label.to_string(),
            detail: format!("ext4 superblock or group descriptors unreadable: {e}"),
        })?;
        Ok(Ext4Fs {
            fs: Arc::new(fs),
            dev,
            label: label.to_string(),
            inodes: Lru::new(INODE_CACHE),
            dirs: Mutex::new(DirCache {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        })
    }

    /// This filesystem as the last layer of a provenance chain.
    pub fn spec_layer(&self) -> SpecLayer {
        SpecLayer::file_system(
            "ext4",
            uuid_text(&self.fs.sb.uuid),
            Some(self.fs.sb.volume_name.clone()),
        )
    }

    /// Inode `ino`, read and checked (CRC-32C) once while it stays cached.
    fn inode(&self, path: &EvPath, ino: u32) -> Result<CachedInode, FsError> {
        self.inodes.get(ino, || {
            self.fs
                .read_inode_verified(ino)
                .map_err(|e| map_err(path, ino, e))
        })
    }

    /// The inode of `name` in directory `dir` (number `ino`): from the
    /// directory's cached index, or by the crate's search when it has none.
    fn find(&self, path: &EvPath, ino: u32, dir: &Inode, name: &[u8]) -> Result<u32, FsError> {
        let cached = self.dirs.lock().ok().and_then(|mut c| c.get(ino));
        let known = match cached {
            Some(d) => d,
            None => {
                let d = self.index(ino, dir).map_or(Dir::Unindexed, Dir::Indexed);
                if let Ok(mut c) = self.dirs.lock() {
                    c.put(ino, d.clone());
                }
                d
            }
        };
        match known {
            Dir::Indexed(ix) => ix.find(name).ok_or_else(|| FsError::NotFound {
                path: path.display(),
            }),
            Dir::Unindexed => self
                .fs
                .lookup_at(ino, name)
                .map_err(|e| map_err(path, ino, e)),
        }
    }

    /// The sorted names of directory `ino`, read with the checks of the
    /// crate's lookup (a live directory inode, names not encrypted, each
    /// block's CRC-32C tail) plus extents inside the device; `None` when
    /// it is larger than [`DIR_INDEX_MAX_BYTES`], not extent-mapped, or
    /// fails a check (the crate's search then reports what is wrong).
    fn index(&self, ino: u32, dir: &Inode) -> Option<Arc<DirIndex>> {
        if dir.size > DIR_INDEX_MAX_BYTES || dir.has_inline_data() || !dir.has_extents() {
            return None;
        }
        let live = self.fs.stat_ino(ino).ok()?;
        if !live.is_dir() || live.generation != dir.generation {
            return None;
        }
        fs_ext4::file_io::refuse_encrypted_names(dir).ok()?;
        let bs = self.fs.sb.block_size();
        let bs64 = u64::from(bs);
        let has_filetype =
            self.fs.sb.feature_incompat & fs_ext4::features::Incompat::FILETYPE.bits() != 0;
        let indexed = dir.flags & InodeFlags::INDEX.bits() != 0;
        let ex = fs_ext4::extent::collect_all(&dir.block, self.fs.dev.as_ref(), bs).ok()?;
        let runs = to_runs(&ex, bs64, self.dev.size()).ok()?;
        let total = dir.size.div_ceil(bs64);
        let mut block = vec![0u8; bs as usize];
        let mut ix = dir_index::Builder::default();
        for r in runs.iter().filter(|r| !r.unwritten) {
            for i in 0..r.len {
                let logical = r.file_block.checked_add(i)?;
                if logical >= total {
                    break;
                }
                self.fs
                    .dev
                    .read_at(r.dev_offset.checked_add(i.checked_mul(bs64)?)?, &mut block)
                    .ok()?;
                match fs_ext4::dir::parse_block_verified(
                    &block,
                    has_filetype,
                    ino,
                    dir.generation,
                    &self.fs.csum,
                ) {
                    Ok(list) => {
                        for e in list {
                            ix.push(&e.name, e.inode)?;
                        }
                    }
                    // the dx_root of an htree directory, as the crate's scan
                    Err(_) if logical == 0 && indexed => {}
                    Err(_) => return None,
                }
            }
        }
        Some(Arc::new(ix.finish()))
    }

    /// The inode at `path`, refusing symlinks on the way (see
    /// [`lookup::resolve`]).
    fn lookup(&self, path: &EvPath) -> Result<Found, FsError> {
        lookup::resolve(self, path)
    }

    fn meta(ino: u32, i: &Inode) -> Metadata {
        let kind = kind_of(i.mode);
        let (rdev_major, rdev_minor) = if kind.is_device() { rdev(i) } else { (0, 0) };
        let ts = |secs: i64, nanos: u32| Timestamp { secs, nanos };
        Metadata {
            kind,
            perm: u32::from(i.mode) & 0o7777,
            uid: i.uid,
            gid: i.gid,
            size: i.size,
            nlink: u64::from(i.links_count),
            ino: u64::from(ino),
            rdev_major,
            rdev_minor,
            mtime: ts(i.mtime, i.mtime_nsec),
            atime: ts(i.atime, i.atime_nsec),
            ctime: ts(i.ctime, i.ctime_nsec),
            btime: (i.crtime != 0 || i.crtime_nsec != 0).then(|| ts(i.crtime, i.crtime_nsec)),
        }
    }
}

/// An inode found by [`Ext4Fs::lookup`]: number, parsed and raw.
pub(super) struct Found {
    ino: u32,
    inode: CachedInode,
}

impl lookup::Tree for Ext4Fs {
    type Node = Found;
    fn root(&self, path: &EvPath) -> Result<Found, FsError> {
        Ok(Found {
            ino: ROOT_INO,
            inode: self.inode(path, ROOT_INO)?,
        })
    }
    fn child(&self, path: &EvPath, dir: &Found, name: &[u8]) -> Result<Found, FsError> {
        let ino = self.find(path, dir.ino, &dir.inode.0, name)?;
        Ok(Found {
            ino,
            inode: self.inode(path, ino)?,
        })
    }
    fn ino(node: &Found) -> u64 {
        u64::from(node.ino)
    }
    fn kind(node: &Found) -> FileKind {
        kind_of(node.inode.0.mode)
    }
}

impl FileSystem for Ext4Fs {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        let Found { ino, inode } = self.lookup(path)?;
        Ok(Self::meta(ino, &inode.0))
    }

    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        let Found { ino, inode } = self.lookup(path)?;
        let inode = &inode.0;
        if kind_of(inode.mode) != FileKind::Dir {
            return Err(FsError::NotADirectory {
                path: path.display(),
            });
        }
        let entries = self
            .fs
            .read_dir_ino(ino)
            .map_err(|e| map_err(path, ino, e))?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let kind = match e.file_type {
                DirEntryType::RegFile => FileKind::File,
                DirEntryType::Directory => FileKind::Dir,
                DirEntryType::CharDev => FileKind::CharDevice,
                DirEntryType::BlockDev => FileKind::BlockDevice,
                DirEntryType::Fifo => FileKind::Fifo,
                DirEntryType::Socket => FileKind::Socket,
                DirEntryType::Symlink => FileKind::Symlink,
                DirEntryType::Unknown => kind_of(self.inode(path, e.inode)?.0.mode),
            };
            out.push(DirEntry { name: e.name, kind });
        }
        Ok(out)
    }

    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        let Found { ino, inode } = self.lookup(path)?;
        let inode = &inode.0;
        let kind = kind_of(inode.mode);
        if kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind,
            });
        }
        let flags = InodeFlags::from_bits_truncate(inode.flags);
        let runs = if flags.contains(InodeFlags::EXTENTS)
            && !flags.contains(InodeFlags::INLINE_DATA)
        {
            let bs = self.fs.sb.block_size();
            let ex = fs_ext4::extent::collect_all(&inode.block, self.fs.dev.as_ref(), bs)
                .map_err(|e| map_err(path, ino, e))?;
            let runs = to_runs(&ex, u64::from(bs), self.dev.size()).map_err(|e| {
                corrupt(
                    path,
                    format!(
                        "inode {ino}: extent at logical block {} (physical {}+{}) lies past the end of the device ({} bytes)",
                        e.logical_block,
                        e.physical_block,
                        e.length,
                        self.dev.size()
                    ),
                )
            })?;
            Some((runs, u64::from(bs)))
        } else {
            None
        };
        Ok(Box::new(Streamed::new(Ext4File {
            fs: self.fs.clone(),
            dev: self.dev.clone(),
            ino,
            size: inode.size,
            runs,
            path: path.display(),
        })))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let Found { ino, inode } = self.lookup(path)?;
        let inode = &inode.0;
        if kind_of(inode.mode) != FileKind::Symlink {
            return Err(corrupt(path, "not a symbolic link"));
        }
        self.fs.read_link(ino).map_err(|e| map_err(path, ino, e))
    }

    fn xattrs(&self, path: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> {
        let Found { ino, inode } = self.lookup(path)?;
        let (inode, raw) = &*inode;
        let list = fs_ext4::xattr::read_all_resolved(&self.fs, inode, raw)
            .map_err(|e| map_err(path, ino, e))?;
        Ok(list
            .into_iter()
            .map(|x| (x.name.into_bytes(), x.value))
            .collect())
    }

    fn describe(&self) -> String {
        format!("ext4 in {}", self.label)
    }
}

/// The runs of sorted `extents` of `bs`-byte blocks, or the first extent
/// that does not lie inside a device of `dev_size` bytes.
fn to_runs(extents: &[Extent], bs: u64, dev_size: u64) -> Result<Vec<Run>, &Extent> {
    let mut runs: Vec<Run> = extents
        .iter()
        .map(|e| {
            let len = u64::from(e.length);
            let dev_offset = e.physical_block.checked_mul(bs);
            let end = e
                .physical_block
                .checked_add(len)
                .and_then(|b| b.checked_mul(bs));
            match (dev_offset, end) {
                (Some(dev_offset), Some(end)) if end <= dev_size => Ok(Run {
                    file_block: u64::from(e.logical_block),
                    len,
                    dev_offset,
                    unwritten: e.uninitialized,
                }),
                _ => Err(e),
            }
        })
        .collect::<Result<_, _>>()?;
    runs.sort_unstable_by_key(|r| r.file_block);
    Ok(runs)
}

/// A regular file of an [`Ext4Fs`].
struct Ext4File {
    fs: Arc<fs_ext4::Filesystem>,
    dev: Arc<dyn ReadAt>,
    ino: u32,
    size: u64,
    /// Sorted runs and the block size, when the file uses extents.
    runs: Option<(Vec<Run>, u64)>,
    path: String,
}

impl ReadFileAt for Ext4File {
    fn read_file_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let r = match &self.runs {
            Some((runs, bs)) => Mapped {
                dev: self.dev.as_ref(),
                runs,
                block_size: *bs,
                size: self.size,
            }
            .read_at(buf, offset),
            None => self.fs.read_ino(self.ino, offset, buf).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("inode {}: {e}", self.ino),
                )
            }),
        };
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path)))
    }
}
