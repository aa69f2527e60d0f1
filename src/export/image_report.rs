//! What `report.json` of an exported image says ([`ImageReport`]).

use crate::report::{Finding, LayerReport};
use serde::Serialize;

/// Everything `report.json` says about one exported image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// `docker-forensics/1`: the schema of this document.
    pub schema: crate::schema::Schema,
    /// How the tool was run: command line, examiner's host, start time,
    /// and the `--verify-image` verdict when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<super::RunRecord>,
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
    /// The store's directory: the evidence volume (`directory`, or a
    /// partition/LV label), its path relative to the volume's root, what
    /// it holds (driver) and why it was taken as a store.
    pub data_root: crate::store::DataRootRef,
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
    /// `extract --archive-only`: the layers were written only inside
    /// `image.tar` (`manifest.json`'s `Layers` names each one's member),
    /// not also as `layer_<i>/layer.tar`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub archive_only: bool,
    /// Every layer, lowest first.
    pub layers: Vec<LayerReport>,
    /// What the image's BuildKit provenance attestation says about its
    /// build, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<super::provenance::Provenance>,
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
