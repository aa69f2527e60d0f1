//! Errors reading an EWF image: a public error whose corruption case
//! carries a [`CorruptKind`] to match on; every message names the section
//! and its file offset, or the chunk and its media offset.
//!
//! Errors while opening come wrapped in [`super::super::ImageError::Ewf`]
//! with the segment's path. Errors while reading the media (a bad chunk)
//! come as an [`std::io::Error`] of kind `InvalidData` whose inner error
//! is an [`EwfError`]: `io_error.get_ref()` and `downcast_ref::<EwfError>()`
//! recover it.

/// Errors reading an EWF v1 image.
#[derive(Debug, thiserror::Error)]
pub enum EwfError {
    /// A segment file named by the segment before it does not exist.
    #[error("segment file is missing (the image continues after {previous})")]
    MissingSegment { previous: String },
    /// A segment file ends before its structures do.
    #[error("truncated: {0}")]
    Truncated(TruncatedKind),
    /// A structure is damaged or implausible.
    #[error("corrupt image: {0}")]
    Corrupt(#[from] CorruptKind),
}

impl EwfError {
    /// The kind of corruption, if this is one.
    pub fn corrupt_kind(&self) -> Option<&CorruptKind> {
        match self {
            EwfError::Corrupt(k) => Some(k),
            _ => None,
        }
    }

    /// The [`EwfError`] inside an I/O error from reading an EWF medium.
    pub fn from_io(e: &std::io::Error) -> Option<&EwfError> {
        e.get_ref()?.downcast_ref()
    }
}

/// How a segment file is cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TruncatedKind {
    #[error("needs bytes {start}..{end} but the file has {size} bytes")]
    Short { start: u64, end: u64, size: u64 },
    #[error(
        "the section chain continues at {offset}, past the end of the file, without 'done' or 'next'"
    )]
    ChainPastEnd { offset: u64 },
    /// EWF2: the last 64 bytes are not a 'done' or 'next' section descriptor.
    #[error(
        "the file ({size} bytes) does not end with a 'done' or 'next' section descriptor (at {offset}: {detail})"
    )]
    NoEnd {
        size: u64,
        offset: u64,
        detail: String,
    },
}

/// What is wrong with an EWF structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptKind {
    #[error("not an EWF v1 segment (signature missing)")]
    Signature,
    #[error("not an EWF2 segment (signature missing or version {major}.{minor})")]
    SignatureV2 { major: u8, minor: u8 },
    #[error("segment set identifier {found} differs from the first segment's {expected}")]
    SegmentSet { found: String, expected: String },
    #[error("compression method {method} in the file header: {detail}")]
    Compression { method: u16, detail: &'static str },
    /// An EWF2 section descriptor (64 bytes at `offset`).
    #[error("section descriptor at offset {offset}: {detail}")]
    Section { offset: u64, detail: String },
    #[error("{section} section at {offset} is encrypted (EWF2 encryption is not supported)")]
    Encrypted { section: &'static str, offset: u64 },
    /// An EWF2 section's data (`section` names it).
    #[error("{section} section (data at {offset}): {detail}")]
    SectionData {
        section: &'static str,
        offset: u64,
        detail: String,
    },
    #[error("segment number {found} in the file, expected {expected}")]
    SegmentNumber { found: u16, expected: u32 },
    #[error("no name for segment {0}")]
    SegmentName(u32),
    #[error("too many sections (loop?)")]
    TooManySections,
    #[error("section descriptor at offset {offset}: checksum mismatch")]
    DescriptorChecksum { offset: u64 },
    #[error("{section} section at {offset} too large")]
    HeaderTooLarge { section: String, offset: u64 },
    /// The zlib stream or text of a `header`/`header2` section.
    #[error("header section at {offset}: {detail}")]
    Header { offset: u64, detail: String },
    #[error("volume section at {offset} too short")]
    VolumeShort { offset: u64 },
    #[error("volume section at {offset}: checksum mismatch")]
    VolumeChecksum { offset: u64 },
    #[error("volume section at {offset}: chunk size {size} unsupported")]
    ChunkSize { offset: u64, size: u64 },
    #[error("table section at {offset}: header checksum mismatch")]
    TableChecksum { offset: u64 },
    #[error("table section at {offset}: base offset {base} lies past the end of the file")]
    TableBase { offset: u64, base: u64 },
    #[error("table section at {offset}: {count} entries do not fit")]
    TableCount { offset: u64, count: u32 },
    #[error("section at {offset} points back to {next} and the segment has no 'done' or 'next'")]
    SectionLoop { offset: u64, next: u64 },
    #[error("no volume section (chunk geometry unknown)")]
    NoVolume,
    #[error("the tables list {listed} chunks but the volume section says {declared}")]
    ChunkCount { listed: u64, declared: u64 },
    #[error("media size exceeds the chunks stored")]
    MediaSize,
    #[error("{segment}: table of chunks {first}..{end}: entries checksum mismatch")]
    TableEntries {
        segment: String,
        first: u64,
        end: u64,
    },
    #[error("EWF chunk {chunk} (media offset {media_offset}): {fault}")]
    Chunk {
        chunk: u64,
        media_offset: u64,
        fault: ChunkFault,
    },
}

/// What is wrong with one chunk of media data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkFault {
    #[error("in no table")]
    NotInTable,
    #[error("stored at {start}..{end}: implausible extent")]
    Extent { start: u64, end: u64 },
    #[error("stored at {start}..{end} in {segment}: {detail}")]
    Unreadable {
        segment: String,
        start: u64,
        end: u64,
        detail: String,
    },
    #[error("zlib stream in {segment} at {start}: {detail}")]
    Zlib {
        segment: String,
        start: u64,
        detail: String,
    },
    #[error("zlib stream in {segment} at {start} is incomplete")]
    ZlibIncomplete { segment: String, start: u64 },
    #[error("Adler-32 mismatch in {segment} at {start}")]
    Adler32 { segment: String, start: u64 },
    #[error("checksum mismatch in {segment} at {start}")]
    Checksum { segment: String, start: u64 },
    #[error("uncompressed chunk too short")]
    TooShort,
    #[error("bzip2-compressed (EWF2 bzip2 chunks are not supported)")]
    Bzip2,
    #[error("unknown chunk flags {flags:#x} in its table entry")]
    Flags { flags: u32 },
    #[error("holds {got} bytes, expected {expected}")]
    Short { got: usize, expected: usize },
}
