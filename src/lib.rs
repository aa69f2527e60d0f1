//! docker-forensics: rebuild the images and containers of a seized Docker
//! host, byte for byte, from a mounted filesystem or a disk image.
//!
//! The crate follows the data, one floor per module; a floor only uses
//! the floors below it:
//!
//! 1. [`evidence`]: directories and disk images → read-only filesystems;
//! 2. [`store`]: image stores on those filesystems (Docker's own store,
//!    containerd, containers/storage) → images, layers, containers;
//! 3. [`layer`]: one layer → its original tar stream (tar-split replay) or
//!    a rebuilt one;
//! 4. [`export`]: archives `docker load` accepts, Dockerfiles, reports.
//! 5. [`view`] (beside `export`): an image's or container's merged tree,
//!    served read-only through FUSE (`mount`).
//!
//! The main types and functions are re-exported at the crate root. One
//! image, from whichever store holds it (Docker, containerd, Podman):
//!
//! ```no_run
//! use docker_forensics::{Catalog, Evidence, ExportOptions, OpenOptions, StoreFilter, export_image};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let evidence = Evidence::open("/mnt/seized".as_ref(), &OpenOptions::default())?;
//! let catalog = Catalog::discover(&evidence, None)?;
//! let found = catalog.resolve("nginx:latest", StoreFilter::default())?;
//! let out = "/cases/42/out".as_ref();
//! // Writes out/image_<12 hex>/: image.tar, report.json, SHA256SUMS, ...
//! let report = export_image(found.store, &found.image, out, &ExportOptions::default())?;
//! println!("{} layers, verified: {}", report.layers.len(), report.verified);
//! # Ok(()) }
//! ```
//!
//! Set [`ExportOptions::evidence`] (and `acquisition`, from
//! [`Evidence::acquisition`]) so that `report.json` names the evidence.
//! [`Catalog::find_container`] and [`export_container`] do the same for a
//! container; [`verify_images`] checks images without writing anything.

#![warn(missing_docs)]

#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod digest;
pub mod escape;
pub mod evidence;
pub mod export;
pub mod json;
pub mod layer;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod pipe;
pub mod report;
pub mod schema;
pub mod store;
pub mod time;
pub mod view;

pub use evidence::{Evidence, EvidenceError, OpenOptions};
pub use export::ImageReport;
pub use export::{
    ContainerReport, ExportError, ExportOptions, VerifiedImage, export_container, export_image,
    verify_images,
};
pub use layer::diff::{Change, container_changes};
pub use report::{Finding, FindingKind, LayerReport};
pub use store::catalog::{Catalog, Found, FoundContainer, StoreFilter};
pub use store::model::{Container, Image, ImageRow};
pub use store::{Store, StoreError, StorePlace};
