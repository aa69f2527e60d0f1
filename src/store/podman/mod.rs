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

use crate::evidence::Volume;
use crate::evidence::fs::{EvPath, FileSystem, FsError};
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

/// One graph root (with one graph driver) on one evidence volume.
#[derive(Debug, Clone)]
pub struct PodmanRoot {
    pub volume: Volume,
    /// The graph root, relative to the volume's root.
    pub path: EvPath,
    /// Graph driver (`overlay`, `vfs`, ...).
    pub driver: String,
    /// Why this directory was taken as a graph root.
    pub reason: String,
}

impl PodmanRoot {
    pub fn fs(&self) -> &dyn FileSystem {
        &*self.volume.fs
    }

    /// A path below the graph root.
    pub fn path_of(&self, rel: &str) -> EvPath {
        self.path.join_path(&EvPath::parse(rel).unwrap_or_default())
    }

    /// Reads the image, layer and container records (and libpod's state).
    pub fn open(&self) -> Result<PodmanStore, PodmanError> {
        PodmanStore::open(self.clone())
    }

    /// Where it is, for reports.
    pub fn place(&self) -> crate::store::StorePlace {
        crate::store::StorePlace {
            volume: self.volume.clone(),
            path: self.path.clone(),
            what: self.driver.clone(),
            reason: self.reason.clone(),
        }
    }

    /// Human-readable place: volume label, path and what it holds.
    pub fn describe(&self) -> String {
        self.place().describe()
    }
}
