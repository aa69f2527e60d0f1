//! A read-only view of one filesystem found in the evidence.
//!
//! Everything above this floor (image stores, layers, exports) reads the
//! evidence only through [`FileSystem`], so the same Docker logic works on a
//! mounted directory and on an ext4, XFS or btrfs volume inside a disk image.
//!
//! Rules every implementation keeps:
//! - paths are [`EvPath`]s: relative to the filesystem root, `/`-separated,
//!   raw bytes (Linux file names need not be UTF-8);
//! - no symbolic link is ever followed, neither in an intermediate component
//!   (that is an error, [`FsError::SymlinkInPath`]) nor at the end
//!   ([`FileSystem::metadata`] describes the link itself);
//! - only regular files are opened for reading: a device node inside the
//!   evidence is data, never something to open on the examiner's machine;
//! - nothing is ever written.

pub mod btrfs;
mod dir_index;
mod ext4;
mod host;
mod lookup;
mod mem;
mod reader;
pub mod xfs;

pub use crate::evidence::path::EvPath;
pub use btrfs::BtrfsFs;
pub use ext4::Ext4Fs;
pub use host::HostDir;
pub use host::limits_of_this_os as host_limits;
pub use mem::{MemFs, MemNode};
pub use xfs::XfsFs;

use std::io::Read;

/// What kind of object a directory entry or inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    Unknown,
}

impl FileKind {
    /// The kind encoded in the type bits of a POSIX `st_mode` (the same
    /// `S_IFMT` values in ext4 and XFS inodes and in `stat`).
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & 0o170000 {
            0o100000 => FileKind::File,
            0o040000 => FileKind::Dir,
            0o120000 => FileKind::Symlink,
            0o020000 => FileKind::CharDevice,
            0o060000 => FileKind::BlockDevice,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            _ => FileKind::Unknown,
        }
    }

    /// The kind a directory entry's file type byte names: Linux `FT_*`
    /// (`include/linux/fs_types.h`), as ext4 (`filetype` feature) and XFS
    /// (`ftype` feature) store it; `None` for 0 (not recorded) and
    /// anything unknown, when the inode must be read instead.
    pub fn from_dirent_type(t: u8) -> Option<FileKind> {
        Some(match t {
            1 => FileKind::File,
            2 => FileKind::Dir,
            3 => FileKind::CharDevice,
            4 => FileKind::BlockDevice,
            5 => FileKind::Fifo,
            6 => FileKind::Socket,
            7 => FileKind::Symlink,
            _ => return None,
        })
    }

    /// True for character and block devices (the kinds with a device
    /// number).
    pub fn is_device(self) -> bool {
        matches!(self, FileKind::CharDevice | FileKind::BlockDevice)
    }
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// The metadata of one inode, as stored (never of a link's target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    /// Inode number (unique within this filesystem).
    pub ino: u64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub mtime: Timestamp,
    pub atime: Timestamp,
    pub ctime: Timestamp,
    /// Birth (creation) time, where the filesystem records it.
    pub btime: Option<Timestamp>,
}

impl Metadata {
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
    /// Overlayfs marks a deleted path with a 0/0 character device
    /// (Linux `Documentation/filesystems/overlayfs.rst`, "whiteouts").
    pub fn is_overlay_whiteout(&self) -> bool {
        self.kind == FileKind::CharDevice && self.rdev_major == 0 && self.rdev_minor == 0
    }
}

/// Extended attributes: (name, value) pairs, names with their namespace.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One entry of a directory listing (`.` and `..` are never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub kind: FileKind,
}

/// A regular file opened for reading: streamed with [`Read`], or read at
/// any offset with [`FileReader::read_at`].
pub trait FileReader: Read + Send {
    /// Reads up to `buf.len()` bytes at `offset` without moving the stream
    /// position; returns 0 at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;

    /// A hint that the first `len` bytes will be read soon (readahead);
    /// readers that cannot use it ignore it.
    fn will_need(&self, _len: u64) {}

    /// The file's length as its filesystem records it, where the reader
    /// knows it. A reader that gives it never reads past it, so a caller
    /// that has read this many bytes is at the end without reading again.
    fn stored_len(&self) -> Option<u64> {
        None
    }
}

/// Errors from reading the evidence; each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: no such file or directory in the evidence")]
    NotFound { path: String },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    /// The examiner's account may not read this part of the evidence
    /// (a mounted or copied host tree with restrictive permissions).
    #[error(
        "{path}: permission denied reading the evidence (run as a user who may read all of it, e.g. root)"
    )]
    PermissionDenied {
        /// The object that could not be read.
        path: String,
    },
    #[error("{path}: not a regular file ({kind:?})")]
    NotAFile { path: String, kind: FileKind },
    #[error(
        "{path}: a path component is a symbolic link; links inside the evidence are never followed"
    )]
    SymlinkInPath { path: String },
    #[error("{path}: corrupt filesystem structure: {detail}")]
    Corrupt { path: String, detail: String },
    /// A file read whole is larger than any genuine one of its kind: it
    /// is not believed (and not read), so memory stays bounded.
    #[error(
        "{path}: {size} bytes, more than the {limit} a genuine file of this kind holds; not read"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    /// Directory inode `ino` (an entry of directory inode `parent`) is
    /// its own ancestor on the way to `path`.
    #[error(
        "{path}: corrupt filesystem structure: directory loop: inode {ino} is its own ancestor (entry in directory inode {parent})"
    )]
    DirectoryLoop { path: String, ino: u64, parent: u64 },
    /// An XFS structure met on the way to `path` is damaged, unsupported
    /// or unreadable (boxed: it is larger than the other variants).
    #[error("{path}: {source}")]
    Xfs {
        path: String,
        #[source]
        source: Box<xfs::XfsError>,
    },
    /// A btrfs structure met on the way to `path` is damaged, unsupported
    /// or unreadable (boxed like [`FsError::Xfs`]).
    #[error("{path}: {source}")]
    Btrfs {
        path: String,
        #[source]
        source: Box<btrfs::BtrfsError>,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    /// True when the object simply is not there (as opposed to unreadable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::NotFound { .. })
    }
}

/// A read-only filesystem inside the evidence.
pub trait FileSystem: Send + Sync {
    /// Metadata of the object at `path`; a symlink is described, not followed.
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError>;
    /// Entries of the directory at `path`, in on-disk order.
    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError>;
    /// Opens the regular file at `path` for reading.
    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError>;
    /// The target of the symbolic link at `path`, as stored.
    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError>;
    /// Extended attributes of the object at `path` (all namespaces,
    /// `trusted.*` included where the source keeps them).
    fn xattrs(&self, path: &EvPath) -> Result<Xattrs, FsError>;
    /// A short description for reports ("directory /mnt/evidence",
    /// "ext4 in partition 1 of disk.E01").
    fn describe(&self) -> String;

    /// Reads a whole small file (configs, ids); refuses files over `limit`.
    fn read_small(&self, path: &EvPath, limit: u64) -> Result<Vec<u8>, FsError> {
        let meta = self.metadata(path)?;
        if meta.kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: meta.kind,
            });
        }
        if meta.size > limit {
            return Err(FsError::TooLarge {
                path: path.display(),
                size: meta.size,
                limit,
            });
        }
        let mut out = Vec::with_capacity(meta.size as usize);
        self.open(path)?
            .read_to_end(&mut out)
            .map_err(|source| FsError::Io {
                path: path.display(),
                source,
            })?;
        Ok(out)
    }

    /// True when `path` exists (as any kind of object).
    fn exists(&self, path: &EvPath) -> bool {
        self.metadata(path).is_ok()
    }
}
