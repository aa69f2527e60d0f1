//! Errors reading an XFS filesystem: a public error whose corruption case
//! carries a [`CorruptKind`] to match on; every message names the
//! structure and where it is (inode number, block, byte offset).
//!
//! [`super::XfsFs`] returns them inside [`crate::evidence::fs::FsError::Xfs`]
//! with the path concerned.

use crate::evidence::bytes::ShortInput;
use std::io;

/// Errors reading an XFS v5 filesystem.
#[derive(Debug, thiserror::Error)]
pub enum XfsError {
    /// A structure is damaged or implausible.
    #[error("XFS {0}")]
    Corrupt(#[from] CorruptKind),
    /// A valid filesystem this reader does not read.
    #[error("XFS {0}")]
    Unsupported(#[from] UnsupportedKind),
    /// The device could not be read.
    #[error("XFS: reading {what} at offset {offset}: {source}")]
    Io {
        what: String,
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl XfsError {
    /// The kind of corruption, if this is one.
    pub fn corrupt_kind(&self) -> Option<&CorruptKind> {
        match self {
            XfsError::Corrupt(k) => Some(k),
            _ => None,
        }
    }

    pub(super) fn io(what: impl Into<String>, offset: u64, source: io::Error) -> Self {
        XfsError::Io {
            what: what.into(),
            offset,
            source,
        }
    }
}

/// Shorthand for the result of the XFS readers.
pub type Result<T> = std::result::Result<T, XfsError>;

/// Features of a valid XFS this reader does not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsupportedKind {
    #[error("superblock: XFS version {0}; only v5 (CRC-enabled) is supported")]
    Version(u16),
    #[error("superblock: unsupported incompatible features {0:#x}")]
    IncompatFeatures(u32),
}

/// What is wrong with an XFS structure, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptKind {
    // superblock
    #[error("superblock: no XFSB magic at offset 0")]
    SuperblockMagic,
    #[error("superblock: sector size {0} invalid")]
    SectorSize(u16),
    #[error("superblock at offset 0: CRC mismatch")]
    SuperblockCrc,
    #[error("superblock: implausible {0}")]
    Implausible(&'static str),
    #[error("superblock: {0}")]
    SuperblockShort(ShortInput),
    #[error(
        "superblock: the filesystem is {fs_bytes} bytes but its device only {device_bytes} (truncated image?)"
    )]
    DeviceTooSmall { fs_bytes: u64, device_bytes: u64 },
    #[error("root inode {0} is not a directory")]
    RootNotDirectory(u64),

    // inodes and their forks
    #[error("inode {0}: number out of range")]
    InodeNumber(u64),
    #[error("inode {ino} (offset {offset}): {fault}")]
    Inode {
        ino: u64,
        offset: u64,
        fault: InodeFault,
    },
    #[error("inode {ino}: {count} extents, more than accepted")]
    TooManyExtents { ino: u64, count: u64 },
    #[error("inode {ino}: {count} extents do not fit in the fork")]
    ExtentsDoNotFit { ino: u64, count: u64 },
    #[error("inode {ino}: corrupt extent btree root (level {level}, {records} records)")]
    BtreeRoot {
        ino: u64,
        level: u16,
        records: usize,
    },
    #[error("inode {ino}: unknown {fork} fork format {format}")]
    ForkFormat {
        ino: u64,
        fork: &'static str,
        format: u8,
    },
    #[error("inode {ino}: overlapping extents at file block {file_block}")]
    OverlappingExtents { ino: u64, file_block: u64 },
    #[error(
        "inode {ino}: extent at file block {file_block} (+{len}) lies past the largest file offset"
    )]
    ExtentPastLargestOffset { ino: u64, file_block: u64, len: u64 },
    #[error(
        "inode {ino}: extent at file block {file_block} (fs block {fs_block}+{len}) lies past the end of the filesystem or device"
    )]
    ExtentPastEnd {
        ino: u64,
        file_block: u64,
        fs_block: u64,
        len: u64,
    },
    #[error(
        "inode {ino}: extent btree has more blocks than its {extents} extents need (blocks shared or looping)"
    )]
    BtreeTooManyBlocks { ino: u64, extents: u64 },
    #[error("inode {ino}: extent btree holds more records than the inode counts")]
    BtreeTooManyRecords { ino: u64 },
    #[error("inode {ino}: extent btree block {block}: {fault}")]
    BtreeBlock {
        ino: u64,
        block: u64,
        fault: BlockFault,
    },
    #[error("inode {ino}: local data shorter than the size")]
    LocalDataShort { ino: u64 },

    // directories
    #[error("directory inode {ino}: {fault}")]
    DirShortForm { ino: u64, fault: ShortFormFault },
    #[error("directory inode {ino}: block {block} out of range")]
    DirBlockOutOfRange { ino: u64, block: u64 },
    #[error("directory inode {ino} block at offset {offset}: {fault}")]
    DirBlock {
        ino: u64,
        offset: u64,
        fault: BlockFault,
    },

    // attributes
    #[error("inode {ino}: attributes: {fault}")]
    AttrShortForm { ino: u64, fault: ShortFormFault },
    #[error("inode {ino}: attribute leaf block {block}: {fault}")]
    AttrLeaf {
        ino: u64,
        block: u64,
        fault: BlockFault,
    },

    // symbolic links
    #[error("inode {ino}: symlink length {len}")]
    SymlinkLength { ino: u64, len: u64 },
    #[error("inode {ino}: symlink longer than its fork")]
    SymlinkPastFork { ino: u64 },
    #[error("inode {ino}: remote symlink block {block}: {fault}")]
    SymlinkBlock {
        ino: u64,
        block: u64,
        fault: BlockFault,
    },
    #[error("inode {ino}: symlink target shorter than its size")]
    SymlinkShort { ino: u64 },
}

/// What is wrong with an inode's core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InodeFault {
    #[error("bad magic")]
    Magic,
    #[error("not a v3 inode")]
    Version,
    #[error("CRC mismatch")]
    Crc,
    #[error("records another inode number")]
    OtherNumber,
    #[error("attribute fork offset past the inode")]
    ForkOffset,
}

/// What is wrong with a short-form (in-inode) directory or attribute
/// fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShortFormFault {
    #[error("short-form header truncated")]
    HeaderTruncated,
    #[error("short-form entry past the fork")]
    EntryPastFork,
    #[error("empty name")]
    EmptyName,
}

/// What is wrong with one metadata block (extent btree, directory data,
/// attribute leaf, remote value, remote symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockFault {
    #[error("out of range")]
    OutOfRange,
    #[error("bad header")]
    Header,
    #[error("CRC mismatch")]
    Crc,
    #[error("too many records")]
    TooManyRecords,
    #[error("too many keys")]
    TooManyKeys,
    #[error("block directory leaf count too large")]
    LeafCount,
    #[error("bad free entry length {len} at {at}")]
    FreeLength { len: usize, at: usize },
    #[error("entry at {at} truncated")]
    EntryTruncated { at: usize },
    #[error("entry at {at} overruns the block")]
    EntryOverrun { at: usize },
    #[error("entry count too large")]
    EntryCount,
    #[error("entry {0} out of the block")]
    EntryOutOfBlock(usize),
    #[error("remote value of {0} bytes")]
    RemoteValueSize(u32),
    #[error("remote value block {0}: bad header or CRC")]
    RemoteValueHeader(u64),
    #[error("remote value block {0}: empty")]
    RemoteValueEmpty(u64),
    #[error("{0}")]
    Short(ShortInput),
}

impl From<ShortInput> for BlockFault {
    fn from(e: ShortInput) -> Self {
        BlockFault::Short(e)
    }
}
