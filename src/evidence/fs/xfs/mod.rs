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
mod inode;
mod sb;

use super::{DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata};
use crate::evidence::image::ReadAt;
use crate::evidence::provenance::{SpecLayer, uuid_text};
use inode::{Extent, FMT_LOCAL, Inode, kind_of};
use lru::LruCache;
use sb::Superblock;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

const INODE_CACHE: usize = 4096;
const DIR_CACHE: usize = 64;
const MAX_SYMLINK: u64 = 4096;
const MAX_DEPTH: usize = 4096;

type DirList = Arc<Vec<dir::RawEntry>>;

/// An XFS v5 filesystem, read-only.
pub struct XfsFs {
    dev: Arc<dyn ReadAt>,
    sb: Arc<Superblock>,
    label: String,
    inodes: Mutex<LruCache<u64, Arc<Inode>>>,
    dirs: Mutex<LruCache<u64, DirList>>,
}

fn cache<K: std::hash::Hash + Eq, V>(n: usize) -> Mutex<LruCache<K, V>> {
    Mutex::new(LruCache::new(
        NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN),
    ))
}

fn corrupt(path: &EvPath, detail: impl Into<String>) -> FsError {
    FsError::Corrupt {
        path: path.display(),
        detail: detail.into(),
    }
}

impl XfsFs {
    /// Reads the superblock and root inode of the XFS on `dev`.
    pub fn open(dev: Arc<dyn ReadAt>, label: &str) -> Result<Self, FsError> {
        let sb = Superblock::read(dev.as_ref()).map_err(|detail| FsError::Corrupt {
            path: label.to_string(),
            detail: format!("XFS {detail}"),
        })?;
        let fs = XfsFs {
            dev,
            sb: Arc::new(sb),
            label: label.to_string(),
            inodes: cache(INODE_CACHE),
            dirs: cache(DIR_CACHE),
        };
        let root = fs.inode(&EvPath::root(), fs.sb.root_ino)?;
        if root.kind() != FileKind::Dir {
            return Err(FsError::Corrupt {
                path: label.to_string(),
                detail: format!("XFS root inode {} is not a directory", fs.sb.root_ino),
            });
        }
        Ok(fs)
    }

    /// This filesystem as the last layer of a provenance chain.
    pub fn spec_layer(&self) -> SpecLayer {
        SpecLayer::file_system("xfs", uuid_text(&self.sb.uuid), Some(self.sb.label.clone()))
    }

    fn inode(&self, path: &EvPath, ino: u64) -> Result<Arc<Inode>, FsError> {
        if let Some(i) = self
            .inodes
            .lock()
            .ok()
            .and_then(|mut c| c.get(&ino).cloned())
        {
            return Ok(i);
        }
        let i =
            Arc::new(Inode::read(self.dev.as_ref(), &self.sb, ino).map_err(|e| corrupt(path, e))?);
        if let Ok(mut c) = self.inodes.lock() {
            c.put(ino, i.clone());
        }
        Ok(i)
    }

    fn dir_entries(&self, path: &EvPath, d: &Inode) -> Result<DirList, FsError> {
        if let Some(l) = self
            .dirs
            .lock()
            .ok()
            .and_then(|mut c| c.get(&d.ino).cloned())
        {
            return Ok(l);
        }
        let l =
            Arc::new(dir::entries(self.dev.as_ref(), &self.sb, d).map_err(|e| corrupt(path, e))?);
        if let Ok(mut c) = self.dirs.lock() {
            c.put(d.ino, l.clone());
        }
        Ok(l)
    }

    /// Resolves `path` to its inode, never following a symlink and
    /// refusing a directory that contains one of its own ancestors.
    fn lookup(&self, path: &EvPath) -> Result<Arc<Inode>, FsError> {
        let mut cur = self.inode(path, self.sb.root_ino)?;
        let mut seen = vec![cur.ino];
        for (depth, name) in path.components().enumerate() {
            match cur.kind() {
                FileKind::Dir => {}
                FileKind::Symlink => {
                    return Err(FsError::SymlinkInPath {
                        path: path.display(),
                    });
                }
                _ => {
                    return Err(FsError::NotADirectory {
                        path: path.display(),
                    });
                }
            }
            if depth > MAX_DEPTH {
                return Err(corrupt(path, "path too deep"));
            }
            let list = self.dir_entries(path, &cur)?;
            let ino = list
                .iter()
                .find(|(n, _, _)| n.as_slice() == name)
                .map(|(_, ino, _)| *ino)
                .ok_or_else(|| FsError::NotFound {
                    path: path.display(),
                })?;
            let next = self.inode(path, ino)?;
            if next.kind() == FileKind::Dir {
                if seen.contains(&ino) {
                    return Err(corrupt(
                        path,
                        format!(
                            "directory loop: inode {ino} is its own ancestor (entry in directory inode {})",
                            cur.ino
                        ),
                    ));
                }
                seen.push(ino);
            }
            cur = next;
        }
        Ok(cur)
    }
}

impl FileSystem for XfsFs {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        let i = self.lookup(path)?;
        let kind = i.kind();
        let (rdev_major, rdev_minor) = match kind {
            FileKind::CharDevice | FileKind::BlockDevice => i.rdev(),
            _ => (0, 0),
        };
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
            let kind = match ft {
                1 => FileKind::File,
                2 => FileKind::Dir,
                3 => FileKind::CharDevice,
                4 => FileKind::BlockDevice,
                5 => FileKind::Fifo,
                6 => FileKind::Socket,
                7 => FileKind::Symlink,
                _ => kind_of(self.inode(path, *ino)?.mode),
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
            let fork = i.data_fork();
            let n = (i.size as usize).min(fork.len());
            if (n as u64) < i.size {
                return Err(corrupt(
                    path,
                    format!("inode {}: local data shorter than the size", i.ino),
                ));
            }
            Data::Local(fork[..n].to_vec())
        } else {
            Data::Mapped(
                i.extents(self.dev.as_ref(), &self.sb, false)
                    .map_err(|e| corrupt(path, e))?,
            )
        };
        Ok(Box::new(XfsFile {
            dev: self.dev.clone(),
            sb: self.sb.clone(),
            size: i.size,
            data,
            pos: 0,
            path: path.display(),
        }))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let i = self.lookup(path)?;
        if i.kind() != FileKind::Symlink {
            return Err(corrupt(path, "not a symbolic link"));
        }
        if i.size == 0 || i.size > MAX_SYMLINK {
            return Err(corrupt(
                path,
                format!("inode {}: symlink length {}", i.ino, i.size),
            ));
        }
        if i.format == FMT_LOCAL {
            let fork = i.data_fork();
            return fork
                .get(..i.size as usize)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    corrupt(
                        path,
                        format!("inode {}: symlink longer than its fork", i.ino),
                    )
                });
        }
        // remote: blocks each with a 56-byte XSLM header
        let extents = i
            .extents(self.dev.as_ref(), &self.sb, false)
            .map_err(|e| corrupt(path, e))?;
        let bs = u64::from(self.sb.block_size);
        let mut out = Vec::new();
        let mut b = vec![0u8; bs as usize];
        for e in &extents {
            for k in 0..e.len {
                let at = self
                    .sb
                    .fsb_to_byte(e.fs_block + k)
                    .ok_or_else(|| corrupt(path, "symlink block out of range"))?;
                self.dev
                    .read_exact_at(&mut b, at)
                    .map_err(|source| FsError::Io {
                        path: path.display(),
                        source,
                    })?;
                if &b[..4] != b"XSLM" || !sb::crc_ok(&b, 12) {
                    return Err(corrupt(
                        path,
                        format!("inode {}: remote symlink block: bad header or CRC", i.ino),
                    ));
                }
                let n = (sb::be32(&b, 8) as usize).min(b.len() - 56);
                out.extend_from_slice(&b[56..56 + n]);
            }
        }
        out.truncate(i.size as usize);
        if out.len() as u64 != i.size {
            return Err(corrupt(
                path,
                format!("inode {}: symlink target shorter than its size", i.ino),
            ));
        }
        Ok(out)
    }

    fn xattrs(&self, path: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> {
        let i = self.lookup(path)?;
        attr::read_all(self.dev.as_ref(), &self.sb, &i).map_err(|e| corrupt(path, e))
    }

    fn describe(&self) -> String {
        match self.sb.label.as_str() {
            "" => format!("xfs in {}", self.label),
            l => format!("xfs \"{l}\" in {}", self.label),
        }
    }
}

enum Data {
    Local(Vec<u8>),
    Mapped(Vec<Extent>),
}

/// A regular file of an [`XfsFs`], read extent by extent.
struct XfsFile {
    dev: Arc<dyn ReadAt>,
    sb: Arc<Superblock>,
    size: u64,
    data: Data,
    pos: u64,
    path: String,
}

impl FileReader for XfsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.data {
            Data::Local(d) => {
                let Some(rest) = d.get(offset as usize..).filter(|_| offset < d.len() as u64)
                else {
                    return Ok(0);
                };
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
            Data::Mapped(ex) => {
                inode::read_mapped(self.dev.as_ref(), &self.sb, ex, self.size, buf, offset)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path)))
            }
        }
    }
}

impl io::Read for XfsFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = FileReader::read_at(self, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
