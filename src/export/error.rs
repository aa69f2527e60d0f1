//! What every export takes and what it can fail with.

use super::progress::ProgressSink;
use crate::layer::ProduceError;
use crate::store::StoreError;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How to export.
#[derive(Clone, Default)]
pub struct ExportOptions {
    /// Replace an existing output directory.
    pub force: bool,
    /// Ignore tar-split and blobs; rebuild every layer from its files.
    pub rebuild: bool,
    /// Where progress goes (nothing when `None`).
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The evidence as the examiner named it, for the report.
    pub evidence: String,
    /// What the acquisition tool recorded, for a disk image (EWF).
    pub acquisition: Option<crate::evidence::image::Acquisition>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: already exists; use --force to replace it")]
    Exists { path: String },
    #[error("{path}: cannot write output: {source}")]
    Output {
        path: String,
        #[source]
        source: io::Error,
    },
    /// Reading the evidence failed (never blamed on the output).
    #[error("{place}: cannot read evidence: {detail}")]
    Evidence { place: String, detail: String },
    #[error("image {image}: layer {index}: {source}")]
    Layer {
        image: String,
        index: usize,
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
