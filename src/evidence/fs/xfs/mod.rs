//! XFS v5 filesystems inside an image, read-only, our own reader.
//!
//! Format reference: "XFS Algorithms & Data Structures" (3rd edition,
//! kernel.org `Documentation/filesystems/xfs/`) and Linux
//! `fs/xfs/libxfs/xfs_format.h`, `xfs_da_format.h`. No maintained crate
//! reads XFS, hence this one. What it reads: the superblock ([`sb`]),
//! v3 inodes with extent-list and B+tree data forks and bigtime
//! ([`inode`]), short-form/block/leaf/node directories ([`dir`]),
//! short-form/leaf/node attributes with remote values ([`attr`]), local and
//! remote symlinks, device numbers. Every metadata block read is checked
//! (magic, CRC-32C, owner) and every extent bounded by the device, so a
//! corrupt structure is an error naming the inode or offset.
//!
//! The log is not replayed: an image of a filesystem that was not cleanly
//! unmounted shows the on-disk state as of the last checkpoint.

mod attr;
mod dir;
pub mod error;
mod inode;
mod sb;

pub use error::{BlockFault, CorruptKind, InodeFault, ShortFormFault, UnsupportedKind, XfsError};

use super::lookup;
use super::reader::{Mapped, ReadFileAt, Run, Streamed};
use super::{DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata};
use crate::evidence::bytes::{Reader, bytes_at};
use crate::evidence::cache::Lru;
use crate::evidence::image::ReadAt;
use crate::evidence::provenance::{SpecLayer, uuid_text};
use inode::{FMT_LOCAL, Inode, kind_of};
use sb::Superblock;
use std::io;
use std::sync::Arc;

const INODE_CACHE: usize = 4096;
const DIR_CACHE: usize = 64;
const MAX_SYMLINK: usize = 4096;

type DirList = Arc<Vec<dir::RawEntry>>;

/// An XFS v5 filesystem, read-only.
pub struct XfsFs {
    dev: Arc<dyn ReadAt>,
    sb: Arc<Superblock>,
    label: String,
    inodes: Lru<u64, Inode>,
    dirs: Lru<u64, Vec<dir::RawEntry>>,
}

/// An XFS error met while reading `path`.
fn xfs_error(path: &EvPath, e: impl Into<XfsError>) -> FsError {
    FsError::Xfs {
        path: path.display(),
        source: Box::new(e.into()),
    }
}

impl XfsFs {
    /// Reads the superblock and root inode of the XFS on `dev`.
    pub fn open(dev: Arc<dyn ReadAt>, label: &str) -> Result<Self, FsError> {
        let sb = Superblock::read(dev.as_ref()).map_err(|e| FsError::Xfs {
            path: label.to_string(),
            source: Box::new(e),
        })?;
        let fs = XfsFs {
            dev,
            sb: Arc::new(sb),
            label: label.to_string(),
            inodes: Lru::new(INODE_CACHE),
            dirs: Lru::new(DIR_CACHE),
        };
        let root = fs.inode(&EvPath::root(), fs.sb.root_ino)?;
        if root.kind() != FileKind::Dir {
            return Err(FsError::Xfs {
                path: label.to_string(),
                source: Box::new(CorruptKind::RootNotDirectory(fs.sb.root_ino).into()),
            });
        }
        Ok(fs)
    }

    /// This filesystem as the last layer of a provenance chain.
    pub fn spec_layer(&self) -> SpecLayer {
        SpecLayer::file_system("xfs", uuid_text(&self.sb.uuid), Some(self.sb.label.clone()))
    }

    fn inode(&self, path: &EvPath, ino: u64) -> Result<Arc<Inode>, FsError> {
        self.inodes.get(ino, || {
            Inode::read(self.dev.as_ref(), &self.sb, ino).map_err(|e| xfs_error(path, e))
        })
    }

    fn dir_entries(&self, path: &EvPath, d: &Inode) -> Result<DirList, FsError> {
        self.dirs.get(d.ino, || {
            dir::entries(self.dev.as_ref(), &self.sb, d).map_err(|e| xfs_error(path, e))
        })
    }

    /// Resolves `path` to its inode (see [`lookup::resolve`]).
    fn lookup(&self, path: &EvPath) -> Result<Arc<Inode>, FsError> {
        lookup::resolve(self, path)
    }
}

impl lookup::Tree for XfsFs {
    type Node = Arc<Inode>;
    fn root(&self, path: &EvPath) -> Result<Arc<Inode>, FsError> {
        self.inode(path, self.sb.root_ino)
    }
    fn child(&self, path: &EvPath, dir: &Arc<Inode>, name: &[u8]) -> Result<Arc<Inode>, FsError> {
        let list = self.dir_entries(path, dir)?;
        let ino = list
            .iter()
            .find(|(n, _, _)| n.as_slice() == name)
            .map(|(_, ino, _)| *ino)
            .ok_or_else(|| FsError::NotFound {
                path: path.display(),
            })?;
        self.inode(path, ino)
    }
    fn ino(node: &Arc<Inode>) -> u64 {
        node.ino
    }
    fn kind(node: &Arc<Inode>) -> FileKind {
        node.kind()
    }
}

impl FileSystem for XfsFs {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        let i = self.lookup(path)?;
        let kind = i.kind();
        let (rdev_major, rdev_minor) = if kind.is_device() { i.rdev() } else { (0, 0) };
        Ok(Metadata {
            kind,
            perm: u32::from(i.mode) & 0o7777,
            uid: i.uid,
            gid: i.gid,
            size: i.size,
            nlink: u64::from(i.nlink),
            ino: i.ino,
            rdev_major,
            rdev_minor,
            mtime: i.mtime,
            atime: i.atime,
            ctime: i.ctime,
            btime: Some(i.crtime),
        })
    }

    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        let d = self.lookup(path)?;
        if d.kind() != FileKind::Dir {
            return Err(FsError::NotADirectory {
                path: path.display(),
            });
        }
        let list = self.dir_entries(path, &d)?;
        let mut out = Vec::with_capacity(list.len());
        for (name, ino, ft) in list.iter() {
            let kind = match FileKind::from_dirent_type(*ft) {
                Some(k) => k,
                None => kind_of(self.inode(path, *ino)?.mode),
            };
            out.push(DirEntry {
                name: name.clone(),
                kind,
            });
        }
        Ok(out)
    }

    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        let i = self.lookup(path)?;
        if i.kind() != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: i.kind(),
            });
        }
        let data = if i.format == FMT_LOCAL {
            let local = usize::try_from(i.size)
                .ok()
                .and_then(|n| i.data_fork().get(..n))
                .ok_or_else(|| xfs_error(path, CorruptKind::LocalDataShort { ino: i.ino }))?;
            Data::Local(local.to_vec())
        } else {
            let runs = i
                .extents(self.dev.as_ref(), &self.sb, false)
                .and_then(|ex| inode::to_runs(&self.sb, i.ino, &ex))
                .map_err(|e| xfs_error(path, e))?;
            Data::Mapped(runs)
        };
        Ok(Box::new(Streamed::new(XfsFile {
            dev: self.dev.clone(),
            block_size: u64::from(self.sb.block_size),
            size: i.size,
            data,
            path: path.display(),
        })))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let i = self.lookup(path)?;
        if i.kind() != FileKind::Symlink {
            return Err(FsError::Corrupt {
                path: path.display(),
                detail: "not a symbolic link".into(),
            });
        }
        let ino = i.ino;
        let len = usize::try_from(i.size)
            .ok()
            .filter(|n| (1..=MAX_SYMLINK).contains(n))
            .ok_or_else(|| xfs_error(path, CorruptKind::SymlinkLength { ino, len: i.size }))?;
        if i.format == FMT_LOCAL {
            return bytes_at(i.data_fork(), 0, len)
                .map(<[u8]>::to_vec)
                .map_err(|_| xfs_error(path, CorruptKind::SymlinkPastFork { ino }));
        }
        let mut out =
            remote_symlink(self.dev.as_ref(), &self.sb, &i).map_err(|e| xfs_error(path, e))?;
        out.truncate(len);
        if out.len() != len {
            return Err(xfs_error(path, CorruptKind::SymlinkShort { ino }));
        }
        Ok(out)
    }

    fn xattrs(&self, path: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> {
        let i = self.lookup(path)?;
        attr::read_all(self.dev.as_ref(), &self.sb, &i).map_err(|e| xfs_error(path, e))
    }

    fn describe(&self) -> String {
        match self.sb.label.as_str() {
            "" => format!("xfs in {}", self.label),
            l => format!("xfs \"{l}\" in {}", self.label),
        }
    }
}

/// The target of a remote symlink: its blocks, each a 56-byte `XSLM`
/// header (magic, offset u32, bytes u32 at 8, CRC at 12, …) then data.
fn remote_symlink(dev: &dyn ReadAt, sb: &Superblock, i: &Inode) -> error::Result<Vec<u8>> {
    const HDR: usize = 56;
    let ino = i.ino;
    let extents = i.extents(dev, sb, false)?;
    let mut out = Vec::new();
    let mut b = vec![0u8; sb.block_size as usize];
    for e in &extents {
        for k in 0..e.len {
            let block = e.fs_block + k;
            let bad = |fault| CorruptKind::SymlinkBlock { ino, block, fault };
            let at = sb
                .fsb_to_byte(block)
                .ok_or_else(|| bad(BlockFault::OutOfRange))?;
            dev.read_exact_at(&mut b, at)
                .map_err(|err| XfsError::io(format!("inode {ino}: symlink block"), at, err))?;
            let mut r = Reader::new(&b);
            let header = (r.array::<4>(), r.skip(4), r.u32_be());
            let (Ok(magic), Ok(()), Ok(bytes)) = header else {
                return Err(bad(BlockFault::Header).into());
            };
            if &magic != b"XSLM" {
                return Err(bad(BlockFault::Header).into());
            }
            if !sb::crc_ok(&b, 12) {
                return Err(bad(BlockFault::Crc).into());
            }
            let n = (bytes as usize).min(b.len().saturating_sub(HDR));
            out.extend_from_slice(bytes_at(&b, HDR, n).map_err(|_| bad(BlockFault::Header))?);
        }
    }
    Ok(out)
}

enum Data {
    Local(Vec<u8>),
    Mapped(Vec<Run>),
}

/// A regular file of an [`XfsFs`], read run by run.
struct XfsFile {
    dev: Arc<dyn ReadAt>,
    block_size: u64,
    size: u64,
    data: Data,
    path: String,
}

impl ReadFileAt for XfsFile {
    fn read_file_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.data {
            Data::Local(d) => {
                let rest = usize::try_from(offset)
                    .ok()
                    .and_then(|o| d.get(o..))
                    .unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
            Data::Mapped(runs) => Mapped {
                dev: self.dev.as_ref(),
                runs,
                block_size: self.block_size,
                size: self.size,
            }
            .read_at(buf, offset)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path))),
        }
    }
}
