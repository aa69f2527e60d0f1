//! docker-forensics: rebuild the images and containers of a seized Docker
//! host, byte for byte, from a mounted filesystem or a disk image.
//!
//! The crate follows the data, one floor per module; a floor only uses
//! the floors below it:
//!
//! 1. [`evidence`]: directories and disk images → read-only filesystems;
//! 2. [`store`]: image stores on those filesystems (Docker's overlay2
//!    graph) → images, layers, containers;
//! 3. [`layer`]: one layer → its original tar stream (tar-split replay) or
//!    a rebuilt one;
//! 4. [`export`]: archives `docker load` accepts, Dockerfiles, reports.
//!
//! ```no_run
//! use docker_forensics::{evidence::{Evidence, OpenOptions}, store::docker::DataRoot};
//! use docker_forensics::export::{ExportOptions, export_image};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let evidence = Evidence::open("/mnt/seized".as_ref(), &OpenOptions::default())?;
//! let roots = DataRoot::discover(&evidence, None)?;
//! let image = roots[0].resolve("nginx:latest")?;
//! let report = export_image(&roots[0], &image, "/cases/42/out".as_ref(), &ExportOptions::default())?;
//! println!("{} layers verified: {}", report.layers.len(), report.verified);
//! # Ok(()) }
//! ```

#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod digest;
pub mod evidence;
pub mod export;
pub mod layer;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod pipe;
pub mod report;
pub mod store;
