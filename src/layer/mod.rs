//! One layer → a tar stream: the original one replayed from tar-split
//! ([`replay`]), or a new one built from the unpacked files ([`retar`]).

pub mod diff;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod produce;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod replay;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod retar;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod tarsplit;

pub use produce::{LayerInput, ProduceError, Produced, hashed, produce, tar_split_len};
pub use replay::{LayerDir, ReplayError, Written, replay};
pub use retar::{RetarError, retar};
