//! What every export takes and what it can fail with.

use super::progress::ProgressSink;
use crate::layer::ProduceError;
use crate::report::LayerReport;
use crate::store::StoreError;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How to export.
#[derive(Clone, Default)]
pub struct ExportOptions {
    /// Replace an existing output directory.
    pub force: bool,
    /// `extract --archive-only`: each layer is written only inside
    /// `image.tar`, not also as `layer_<i>/layer.tar`.
    pub archive_only: bool,
    /// Ignore tar-split and blobs; rebuild every layer from its files.
    pub rebuild: bool,
    /// Where progress goes (nothing when `None`).
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The evidence as the examiner named it, for the report.
    pub evidence: String,
    /// What the acquisition tool recorded, for a disk image (EWF).
    pub acquisition: Option<crate::evidence::image::Acquisition>,
    /// The layers this run has written, so that a layer several images
    /// share is written once and hard-linked into the others.
    pub written: Option<Arc<LayersWritten>>,
    /// How the examiner ran the tool, for the report.
    pub run: Option<RunRecord>,
    /// `export-container` also writes the container's whole filesystem
    /// as `docker export` would (`export.tar`).
    pub flat: bool,
    /// The host's dockerd used overlay2's naive diff (its kernel has
    /// overlayfs `redirect_dir` on): `changes.tar` is written as that diff
    /// writes it.
    pub naive_diff: bool,
    /// The Docker version that wrote the data root, as the examiner
    /// knows it (else the evidence's package database says, else 20.10).
    pub docker_version: Option<String>,
}

/// How and where the tool was run, recorded in every report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunRecord {
    /// The command line, word by word, as given.
    pub command_line: Vec<String>,
    /// The examiner's machine (its host name).
    pub host: Option<String>,
    /// When the run started (RFC 3339 UTC).
    pub started: String,
    /// `--verify-image`: the medium's hashes, computed and stored, and
    /// whether they agree; absent when it was not asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_verification: Option<crate::evidence::image::MediaVerification>,
}

/// The verified layers a run has written: diff_id → the file under the
/// output directory and its report.
#[derive(Debug, Default)]
pub struct LayersWritten {
    layers: std::sync::Mutex<
        std::collections::HashMap<String, (std::path::PathBuf, String, LayerReport)>,
    >,
}

impl LayersWritten {
    /// The file and report of a verified layer with this diff_id written
    /// before in this run (a verified layer's bytes are its diff_id's,
    /// whichever store it came from).
    pub(crate) fn get(&self, diff_id: &str) -> Option<(std::path::PathBuf, String, LayerReport)> {
        let map = self.layers.lock().ok()?;
        map.get(diff_id).cloned()
    }

    /// Records a verified layer file (`shown` is its path as the report
    /// names it, relative to the output directory).
    pub(crate) fn insert(
        &self,
        diff_id: &str,
        file: std::path::PathBuf,
        shown: String,
        report: LayerReport,
    ) {
        if let Ok(mut map) = self.layers.lock() {
            map.entry(diff_id.to_string())
                .or_insert((file, shown, report));
        }
    }
}

/// Errors of an export; each says whether the evidence or the output is
/// at fault.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store's records are missing or inconsistent (a layer with no
    /// source, an image with no layers, a corrupt config).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory is already there, complete: every file in its
    /// `SHA256SUMS` checks. A rerun into the same output skips it.
    #[error("{path}: already complete (its SHA256SUMS checks); skipped")]
    Complete {
        /// The directory.
        path: String,
    },
    /// The run is being stopped ([`super::stop_new_outputs`]): the
    /// directory was not started, or not finished, and nothing of it is
    /// left.
    #[error("{path}: not written, the run was interrupted")]
    Interrupted {
        /// The directory.
        path: String,
    },
    /// The output directory exists, is not complete, and
    /// [`ExportOptions::force`] is not set.
    #[error("{path}: already exists; use --force to replace it")]
    Exists {
        /// The output directory.
        path: String,
    },
    /// Writing the output failed (disk full, permissions).
    #[error("{path}: cannot write output: {source}")]
    Output {
        /// The output file or directory.
        path: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Reading the evidence failed (never blamed on the output).
    #[error("{place}: cannot read evidence: {detail}")]
    Evidence {
        /// What was being read: a blob, a log, a container's layer.
        place: String,
        /// Why it could not be read.
        detail: String,
    },
    /// The output directory is inside the evidence directory (the
    /// evidence is never written).
    #[error(
        "{out}: the output directory is inside the evidence {evidence}; choose one outside it (the evidence is never written)"
    )]
    InsideEvidence {
        /// The output directory, as given.
        out: String,
        /// The evidence directory, as given.
        evidence: String,
    },
    /// Producing a layer's tar failed: the layer directory cannot be
    /// walked for a rebuild, or writing the tar failed.
    #[error("image {image}: layer {index}: {source}")]
    Layer {
        /// The image id, `sha256:<hex>`.
        image: String,
        /// The layer's position, 0-based, lowest first.
        index: usize,
        /// What went wrong.
        #[source]
        source: ProduceError,
    },
}

pub(crate) fn out_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Output {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
