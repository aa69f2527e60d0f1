//! containers/storage: the image store of Podman, Buildah, Skopeo and
//! CRI-O (OpenShift nodes), default graph root `/var/lib/containers/storage`.
//!
//! Layout of a graph root (containers/storage `store.go`, `images.go`,
//! `layers.go`, `containers.go`, `drivers/overlay/overlay.go`), for a
//! graph driver `<driver>` (usually `overlay`):
//! - `<driver>-images/images.json` and `<driver>-images/<id>/<big-data>`:
//!   images and their manifest/config files ([`records`]);
//! - `<driver>-layers/layers.json` and `<driver>-layers/<id>.tar-split.gz`:
//!   layers, with the tar-split that replays each original tar;
//! - `<driver>/<id>/diff` (overlay): each layer's files;
//! - `<driver>-containers/containers.json` and
//!   `<driver>-containers/<id>/userdata/{config.json,ctr.log}`;
//! - `libpod/bolt_state.db` (Podman 4 and before) or `db.sql` (Podman 5,
//!   SQLite, [`sqlite`]): Podman's names, states, commands and volumes
//!   ([`libpod`]).
//!
//! [`PodmanRoot::discover`] finds graph roots; [`PodmanRoot::open`] reads
//! the record files into a [`PodmanStore`], which fills the store-neutral
//! [`crate::store::model`].

mod as_store;
mod discover;
pub mod libpod;
pub mod records;
pub mod sqlite;
mod store;

pub use store::PodmanStore;

use crate::evidence::fs::FsError;
use crate::store::StorePlace;
use crate::store::bolt::BoltError;
use sqlite::SqliteStateError;

/// Errors reading a containers/storage graph root; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Bolt(#[from] BoltError),
    #[error(transparent)]
    Sqlite(#[from] SqliteStateError),
    #[error("{path}: corrupt JSON: {detail}")]
    CorruptJson { path: String, detail: String },
    #[error("{path}: not a containers/storage graph root (no <driver>-images/images.json)")]
    NotARoot { path: String },
    #[error("no image {reference} in {store}{}", hint(.candidates))]
    UnknownImage {
        store: String,
        reference: String,
        candidates: Vec<String>,
    },
    #[error("{reference}: ambiguous, it matches {}", .candidates.join(", "))]
    AmbiguousImage {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("image {image}: {detail}")]
    BadImage { image: String, detail: String },
}

fn hint(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; images here: {}", c.join(", "))
    }
}

/// One graph root (with one graph driver, its place's `what`) on one
/// evidence volume.
#[derive(Debug, Clone)]
pub struct PodmanRoot {
    place: StorePlace,
    /// Graph driver (`overlay`, `vfs`, ...), as in its place.
    pub driver: String,
}

impl std::ops::Deref for PodmanRoot {
    type Target = StorePlace;
    fn deref(&self) -> &StorePlace {
        &self.place
    }
}

impl PodmanRoot {
    fn new(place: StorePlace) -> Self {
        PodmanRoot {
            driver: place.what.clone(),
            place,
        }
    }

    /// Reads the image, layer and container records (and libpod's state).
    pub fn open(&self) -> Result<PodmanStore, PodmanError> {
        PodmanStore::open(self.clone())
    }

    /// Where it is, for reports.
    pub fn place(&self) -> StorePlace {
        self.place.clone()
    }
}
