//! Image stores found on evidence filesystems. Each store module only
//! fills the store-neutral [`model`] through the [`Store`] trait:
//!
//! - [`docker`]: Docker Engine's own graph-driver store (overlay2, ...);
//! - [`containerd`]: containerd roots, every namespace;
//! - [`podman`]: containers/storage (Podman, CRI-O) and libpod's state.
//!
//! What they share sits beside them: the bbolt reader ([`bolt`]), blob
//! decompression ([`blob`]), image references ([`mod@reference`]). The
//! [`catalog`] holds every store of one piece of evidence and resolves
//! names across them. No store module imports another's internals.

#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod blob;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod bolt;
pub mod catalog;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod containerd;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod docker;
mod error;
pub mod model;
mod place;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod podman;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod reference;

pub use error::StoreError;
pub use place::{DataRootRef, Store, StorePlace};
