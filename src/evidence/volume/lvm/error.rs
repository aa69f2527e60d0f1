//! Errors reading an LVM2 physical volume: a public error whose
//! corruption case carries a [`CorruptKind`] to match on, each message
//! naming the structure and its offset.

use super::text::TextError;
use std::io;

/// Errors reading an LVM2 physical volume or mapping its logical volumes.
#[derive(Debug, thiserror::Error)]
pub enum LvmError {
    /// A structure is damaged or implausible.
    #[error("{0}")]
    Corrupt(#[from] CorruptKind),
    /// Valid metadata that this reader does not map (it never guesses).
    #[error("{0}")]
    Unsupported(#[from] UnsupportedKind),
    /// The physical volume could not be read.
    #[error("reading {what} at offset {offset}: {source}")]
    Io {
        what: &'static str,
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl LvmError {
    /// The kind of corruption, if this is one.
    pub fn corrupt_kind(&self) -> Option<&CorruptKind> {
        match self {
            LvmError::Corrupt(k) => Some(k),
            _ => None,
        }
    }
}

/// What is wrong with an LVM2 structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptKind {
    #[error("no LVM2 label in sectors 0-3")]
    NoLabel,
    #[error("LVM2 label in sector {sector}: PV header offset {offset} out of range")]
    PvHeaderOffset { sector: u64, offset: u32 },
    #[error("LVM2 PV header in sector {sector}: area list runs past the label sector")]
    AreaList { sector: u64 },
    #[error("LVM2 PV has no metadata area")]
    NoMetadataArea,
    #[error("LVM2 metadata area at offset {offset}: bad magic")]
    MetadataMagic { offset: u64 },
    #[error("LVM2 metadata area at offset {offset}: metadata location {rel}+{len} out of range")]
    MetadataLocation { offset: u64, rel: u64, len: u64 },
    #[error("LVM2 metadata text: {0}")]
    Text(#[from] TextError),
    #[error("LVM2 metadata has no volume group")]
    NoVolumeGroup,
    #[error("VG {vg}: no usable extent_size")]
    ExtentSize { vg: String },
    #[error("VG {vg}: this PV ({uuid}) is not among its physical volumes")]
    PvNotInGroup { vg: String, uuid: String },
    #[error("VG {vg}: pe_start of {pv} is out of range")]
    PeStart { vg: String, pv: String },
    #[error("{segment}: {what}")]
    Segment { segment: String, what: SegmentFault },
    #[error("segments leave a gap or overlap at extent {extent}")]
    SegmentGap { extent: u64 },
    #[error("extents {first}..{end} lie past the end of the physical volume ({pv_size} bytes)")]
    PastEnd { first: u64, end: u64, pv_size: u64 },
    #[error("extent numbers or offsets overflow")]
    Overflow,
    #[error("no segments")]
    NoSegments,
}

/// What is wrong with one `segmentN` section of a logical volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SegmentFault {
    #[error("has no stripes")]
    NoStripes,
    #[error("malformed stripes")]
    MalformedStripes,
    #[error("no start_extent")]
    NoStartExtent,
    #[error("no extent_count")]
    NoExtentCount,
}

/// LVM2 metadata this reader does not map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsupportedKind {
    #[error("{segment} is of type {kind:?} (only linear volumes are supported)")]
    SegmentType { segment: String, kind: String },
    #[error("{segment} lies on {pv}, another physical volume not in this evidence")]
    OtherPv { segment: String, pv: String },
}

/// A logical volume that was found but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{label}: {source}")]
pub struct LvFailure {
    /// "lvm VG/LV".
    pub label: String,
    #[source]
    pub source: LvmError,
}
