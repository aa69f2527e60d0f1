//! What we found and what we verified, in the form written to
//! `report.json` and printed by `verify --json`.

use serde::Serialize;

/// What kind of integrity problem a finding records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A file's bytes differ from what tar-split recorded (CRC-64).
    ContentChanged,
    /// A file's size differs from what tar-split recorded.
    SizeChanged,
    /// A file tar-split names is not in the layer's directory.
    FileMissing,
    /// A file is there but is not a regular file, or cannot be read.
    FileUnreadable,
    /// A name is absolute, climbs out with `..`, or crosses a symlink:
    /// nothing was read for it.
    UnsafePath,
    /// `tar-split.json.gz` is absent: the layer was rebuilt from its files.
    TarSplitMissing,
    /// `tar-split.json.gz` cannot be read: the layer was rebuilt.
    TarSplitCorrupt,
    /// The layer we wrote does not hash to its diff_id.
    DiffIdMismatch,
    /// The layerdb says something other than the image config does.
    LayerDbMismatch,
    /// A piece of the layer (layerdb entry, cache-id, directory) is gone.
    LayerMissing,
    /// The image config does not hash to its name.
    ConfigHashMismatch,
    /// A layer was rebuilt, so the archive carries a derived config.
    DerivedConfig,
    /// A content-store blob does not hash to its digest, or is missing.
    BlobMismatch,
    /// What the layer claims exceeds what its store recorded for it (a
    /// tar-split's file sizes over the layer's recorded size): the layer
    /// was not written past that size.
    SizeImplausible,
    /// The unpacked snapshot a container runs from differs from its layer
    /// as the blob gives it (a file's content, size, mode, owner, link
    /// target or device numbers; a whiteout or opaque directory; a file
    /// the layer does not have or one it has that is gone), although the
    /// blob itself may be intact.
    SnapshotChanged,
    /// A layer had more findings than are listed; this one counts the
    /// rest, by kind.
    FindingsOmitted,
}

/// One finding: what, where, and in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem it is.
    pub kind: FindingKind,
    /// The path inside the layer (or the evidence) it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The problem in words, for the examiner.
    pub detail: String,
}

impl Finding {
    /// A finding of `kind` about `path` (if it concerns one).
    pub fn new(kind: FindingKind, path: Option<String>, detail: impl Into<String>) -> Self {
        Finding {
            kind,
            path,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

/// How a layer's tar was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Replayed from `tar-split.json.gz`: the original stream.
    TarSplit,
    /// Re-tarred from the unpacked files: a new stream.
    Rebuilt,
    /// Decompressed from the blob the registry served (containerd).
    Blob,
}

/// One layer as written (or, for `verify`, as checked).
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// 0 is the lowest layer.
    pub index: usize,
    /// `sha256:<hex>` the image config expects for the uncompressed tar.
    pub diff_id: String,
    /// `sha256:<hex>` ChainID of the layers up to this one.
    pub chain_id: String,
    /// The store's name for the layer's files (Docker's cache-id, the
    /// snapshot key, the containers/storage layer id), or the blob's
    /// digest when the tar came from a blob.
    pub cache_id: Option<String>,
    /// How the tar was produced.
    pub method: Method,
    /// sha256 of the tar we produced (kept as hex; JSON says
    /// `sha256:<hex>`).
    #[serde(serialize_with = "crate::schema::sha256")]
    pub sha256: String,
    /// Length of that tar in bytes.
    pub size: u64,
    /// True when `sha256` equals `diff_id`.
    pub verified: bool,
    /// Files whose content was read and checked: against tar-split, or,
    /// for a layer read from its blob that also has an unpacked snapshot,
    /// the snapshot's files against the blob's.
    pub files_checked: u64,
    /// What was found wrong with this layer.
    pub findings: Vec<Finding>,
    /// When this run had already written the same layer for another image:
    /// that file (relative to the output directory), of which this one is
    /// a hard link (or, across filesystems, a copy). Its bytes are counted
    /// once in the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
}
