//! Errors reading a btrfs filesystem: a public error whose corruption case
//! carries a [`CorruptKind`] to match on; every message names the
//! structure and where it is (logical address, tree, inode, offset).
//!
//! [`super::BtrfsFs`] returns them inside
//! [`crate::evidence::fs::FsError::Btrfs`] with the path concerned.

use crate::evidence::bytes::ShortInput;
use std::io;

/// Errors reading a btrfs filesystem.
#[derive(Debug, thiserror::Error)]
pub enum BtrfsError {
    /// A structure is damaged or implausible.
    #[error("btrfs {0}")]
    Corrupt(#[from] CorruptKind),
    /// A valid filesystem (or file) this reader does not read.
    #[error("btrfs: {0}")]
    Unsupported(String),
    /// The device could not be read.
    #[error("btrfs: reading {what} at offset {offset}: {source}")]
    Io {
        what: String,
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl BtrfsError {
    /// The kind of corruption, if this is one.
    pub fn corrupt_kind(&self) -> Option<&CorruptKind> {
        match self {
            BtrfsError::Corrupt(k) => Some(k),
            _ => None,
        }
    }

    pub(super) fn io(what: impl Into<String>, offset: u64, source: io::Error) -> Self {
        BtrfsError::Io {
            what: what.into(),
            offset,
            source,
        }
    }
}

/// Shorthand for the result of the btrfs readers.
pub type Result<T> = std::result::Result<T, BtrfsError>;

/// What is wrong with a btrfs structure, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptKind {
    #[error("superblock: no valid copy (primary at 64 KiB: {primary}; mirrors: {mirrors})")]
    NoSuperblock { primary: String, mirrors: String },
    #[error("superblock: implausible {0}")]
    Implausible(&'static str),
    #[error(
        "superblock: the device is {device_bytes} bytes but the filesystem records {fs_bytes} (truncated image?)"
    )]
    DeviceTooSmall { fs_bytes: u64, device_bytes: u64 },
    #[error("system chunk array: {0}")]
    SysChunkArray(String),
    #[error("logical address {0} is not mapped by any chunk")]
    Unmapped(u64),
    #[error("chunk at logical {logical}: {detail}")]
    Chunk { logical: u64, detail: String },
    #[error("tree node at logical {logical}: checksum mismatch")]
    NodeChecksum { logical: u64 },
    #[error("tree node at logical {logical}: {detail}")]
    Node { logical: u64, detail: String },
    #[error("tree node at logical {logical}: {0}", .short)]
    NodeShort { logical: u64, short: ShortInput },
    #[error("tree {tree}: more than {limit} nodes visited in one search (loop or huge tree)")]
    TooManyNodes { tree: u64, limit: usize },
    #[error("tree {0}: no root item in the root tree")]
    NoRoot(u64),
    #[error("tree {tree}: inode {ino}: no inode item")]
    NoInode { tree: u64, ino: u64 },
    #[error("tree {tree}: inode {ino}: {detail}")]
    Inode { tree: u64, ino: u64, detail: String },
    #[error("tree {tree}: inode {ino}: extent at file offset {offset}: {detail}")]
    Extent {
        tree: u64,
        ino: u64,
        offset: u64,
        detail: String,
    },
}
