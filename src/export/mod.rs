//! Writing what was found, for every store alike:
//! - [`image`]: `OUTPUT_DIR/image_<12 hex>/` with the loadable archive,
//!   each layer tar, the original config, a reconstructed Dockerfile,
//!   `report.json` and `SHA256SUMS`;
//! - [`verify`]: every layer checked against its diff_id, nothing written;
//! - [`container`]: `OUTPUT_DIR/container_<12 hex>/` with the container's
//!   changes, a committed image, its records and logs;
//! - [`timeline`]: every file and event with its times;
//! - [`case_report`]: `report.html` and `case.jsonld`, the case report.
//!
//! Layers come from the best source each store kept (`source`); the
//! archive is written in the same pass as the layers wherever its members'
//! sizes are known ahead (`stream`).

#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod archive;
pub mod case_report;
pub mod container;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod docker_version;
pub mod dockerfile;
mod error;
pub mod image;
mod image_report;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod logs;
mod output;
mod outside;
mod progress;
pub mod provenance;
mod source;
mod stream;
pub mod timeline;
pub mod verify;

pub use container::{ContainerReport, container_dir, export_container};
pub use error::{ExportError, ExportOptions, LayersWritten, RunRecord};
pub use image::{export_image, image_dir};
pub use image_report::{ImageReport, Totals};
pub use output::{PARTIAL, is_complete, is_stopping, partial_name, stop_new_outputs};
pub use outside::check_output_outside;
pub use progress::{LayerProgress, ProgressSink};
pub use verify::{VerifiedImage, verify_images};

/// A byte count in decimal units ("35.5MB" with `sep` "", "35.5 MB" with
/// " "), as `docker images` shows sizes; below 1 kB the exact count.
pub fn decimal_size(n: u64, sep: &str) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}{sep}B")
    } else {
        format!("{v:.1}{sep}{}", UNITS[u])
    }
}
