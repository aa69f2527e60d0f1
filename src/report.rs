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
    /// sha256 of the tar we produced.
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
}

/// Everything `report.json` says about one exported image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// `docker-forensics <version>` that wrote the report.
    pub tool: String,
    /// The evidence as the examiner named it (path given on the command
    /// line).
    pub evidence: String,
    /// Acquisition metadata of a disk image (case, examiner, stored hashes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<crate::evidence::image::Acquisition>,
    /// The store (`docker`, `containerd/<namespace>`, `podman`), the
    /// evidence volume and the store's directory the image was read from,
    /// and why that directory was taken as a store.
    pub store: String,
    /// Where the store is, typed: evidence file, partition, LV,
    /// filesystem and directory (a dfVFS-style path specification).
    pub source: crate::evidence::provenance::Location,
    /// The evidence volume (`directory`, or a partition/LV label).
    pub volume: String,
    /// The store's directory, relative to the volume's root.
    pub data_root: String,
    /// Why that directory was taken as a store.
    pub data_root_reason: String,
    /// The image id as its engine showed it: the config digest, or, for
    /// Docker's containerd image store, the digest its record points at
    /// (an index or a manifest).
    pub image_id: String,
    /// `sha256:<hex>` of the stored config, as its manifest names it.
    pub config_digest: String,
    /// Names as the store records them.
    pub tags: Vec<String>,
    /// `name@sha256:…` references, or the manifest digest.
    pub digests: Vec<String>,
    /// sha256 of the stored config equals `config_digest`.
    pub config_verified: bool,
    /// Id an engine of the image's kind gives `image.tar` when it loads
    /// it: the original id, unless a layer could not be reproduced and a
    /// derived config had to be written.
    pub archive_image_id: String,
    /// Id engines that identify images by config (Docker's own store,
    /// Podman) give `image.tar`: sha256 of the config it carries.
    pub archive_config_id: String,
    /// True when `archive_image_id` is not the original id: a layer was
    /// rebuilt and its new diff_id written into a derived config.
    pub derived_config: bool,
    /// Every layer, lowest first.
    pub layers: Vec<LayerReport>,
    /// What the image's BuildKit provenance attestation says about its
    /// build, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::export::provenance::Provenance>,
    /// Image-level findings (config, derived config).
    pub findings: Vec<Finding>,
    /// Every layer hashed to its diff_id and nothing was found.
    pub verified: bool,
    /// Sums over the layers.
    pub totals: Totals,
    /// When the export started, RFC 3339 UTC (seconds).
    pub started: String,
    /// When the export finished, RFC 3339 UTC (seconds).
    pub finished: String,
}

/// Sums over an exported image's layers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Number of layers.
    pub layers: usize,
    /// Layers whose tar hashed to their diff_id.
    pub layers_verified: usize,
    /// Layers re-tarred from their files ([`Method::Rebuilt`]).
    pub layers_rebuilt: usize,
    /// Bytes written: the layer tars plus `image.tar`.
    pub bytes_written: u64,
    /// Files whose content was checked, over all layers
    /// ([`LayerReport::files_checked`]).
    pub files_checked: u64,
    /// Findings, image-level and per layer.
    pub findings: usize,
}

impl ImageReport {
    /// Every finding, image-level first, each with its layer (if any).
    pub fn all_findings(&self) -> impl Iterator<Item = (Option<usize>, &Finding)> {
        self.findings.iter().map(|f| (None, f)).chain(
            self.layers
                .iter()
                .flat_map(|l| l.findings.iter().map(move |f| (Some(l.index), f))),
        )
    }
}
