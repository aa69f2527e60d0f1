//! One layer → a tar stream: the original one replayed from tar-split
//! ([`replay`]), or a new one built from the unpacked files ([`retar`]);
//! the tars Docker writes of a container, `docker commit`'s layer and
//! `docker export` ([`dockertar`]); and the check that an unpacked
//! snapshot still holds what its layer put there ([`snapshot`]).

mod content;
pub mod diff;
pub mod dockertar;
mod findings;
mod gotar;
pub mod merged;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod produce;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod replay;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod retar;
pub mod snapshot;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod spool;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod tarsplit;
mod tarstream;
#[cfg(test)]
mod testutil;
pub mod usernames;

pub use findings::MAX_LAYER_FINDINGS;
pub use produce::{
    LayerInput, PreparedLayer, ProduceError, Produced, hashed, hashed_all, prepare, produce,
};
pub use replay::{LayerDir, ReplayError, Written, replay};
pub use retar::{RetarError, retar, retar_limited};

pub(crate) use content::is_opaque;
