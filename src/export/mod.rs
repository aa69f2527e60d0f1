//! Writing what was found, for every store alike:
//! - [`image`]: `OUTPUT_DIR/image_<12 hex>/` with the loadable archive,
//!   each layer tar, the original config, a reconstructed Dockerfile,
//!   `report.json` and `SHA256SUMS`;
//! - [`verify`]: every layer checked against its diff_id, nothing written;
//! - [`container`]: `OUTPUT_DIR/container_<12 hex>/` with the container's
//!   changes, a committed image, its records and logs;
//! - [`timeline`]: every file and event with its times.
//!
//! Layers come from the best source each store kept ([`source`]); the
//! archive is written in the same pass as the layers wherever its members'
//! sizes are known ahead ([`stream`]).

pub mod archive;
pub mod container;
pub mod dockerfile;
pub mod image;
pub mod logs;
mod output;
mod progress;
mod source;
mod stream;
pub mod timeline;
pub mod verify;

pub use container::{ContainerReport, container_dir, export_container};
pub use image::{export_image, image_dir};
pub use progress::{LayerProgress, ProgressSink};
pub use verify::{VerifiedImage, verify_images};

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
