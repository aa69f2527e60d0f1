//! containerd's image store: the store of Kubernetes nodes (CRI), k3s,
//! microk8s, and of Docker 23+ with the containerd image store.
//!
//! A containerd root (default `/var/lib/containerd`) holds one directory
//! per plugin (containerd `plugins/`, `services/server/config`):
//! - `io.containerd.metadata.v1.bolt/meta.db`: images, containers, content
//!   and snapshot references per namespace ([`meta`]);
//! - `io.containerd.content.v1.content/blobs/sha256/<hex>`: manifests,
//!   configs and layer blobs as pulled ([`content`]);
//! - `io.containerd.snapshotter.v1.overlayfs/{metadata.db,snapshots/<id>/fs}`:
//!   unpacked layers and containers' writable layers ([`snapshots`]).
//!
//! Everything is read through [`crate::evidence::fs::FileSystem`], bbolt
//! files with the read-only reader in [`crate::store::bolt`]. [`ContainerdRoot::discover`]
//! finds roots; [`ContainerdRoot::open`] gives a [`ContainerdStore`], which
//! lists images ([`ContainerdStore::images`]), resolves one image to its
//! config and layer sources ([`ContainerdStore::image`]) and lists
//! containers ([`ContainerdStore::containers`]), in the store-neutral
//! [`crate::store::model`].

mod as_store;
mod containers;
pub mod content;
mod discover;
pub mod encoding;
pub mod meta;
pub mod snapshots;
mod store;

pub use crate::store::model::{
    Image, KubernetesRef, LayerBlob, LayerSource, StoreContainer, StoreImage, UnpackedLayer,
};
pub use content::Platform;
pub use store::ContainerdStore;

use crate::evidence::fs::FsError;
use crate::store::StorePlace;

/// Errors reading a containerd root; each says what and where.
#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error(transparent)]
    Bolt(#[from] crate::store::bolt::BoltError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Blob(#[from] crate::store::blob::BlobError),
    #[error("{path}: corrupt JSON: {detail}")]
    CorruptJson { path: String, detail: String },
    #[error("{path}: not a containerd root (no {} inside)", meta::META_DB)]
    NotARoot { path: String },
    #[error("namespace {namespace}: no image {reference}{}", hint(.candidates))]
    UnknownImage {
        namespace: String,
        reference: String,
        candidates: Vec<String>,
    },
    #[error("{what} blob {digest} is not in the content store: {path} is missing")]
    MissingBlob {
        what: String,
        digest: String,
        path: String,
    },
    #[error("image {image} in namespace {namespace}: {detail}")]
    BadImage {
        namespace: String,
        image: String,
        detail: String,
    },
}

fn hint(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; images here: {}", c.join(", "))
    }
}

/// One containerd root on one evidence volume (its place's `what` is
/// `containerd`).
#[derive(Debug, Clone)]
pub struct ContainerdRoot(pub StorePlace);

impl std::ops::Deref for ContainerdRoot {
    type Target = StorePlace;
    fn deref(&self) -> &StorePlace {
        &self.0
    }
}

impl ContainerdRoot {
    /// Opens the metadata database and the snapshotters' databases.
    pub fn open(&self) -> Result<ContainerdStore, ContainerdError> {
        ContainerdStore::open(self.clone())
    }

    /// Where it is, for reports.
    pub fn place(&self) -> StorePlace {
        self.0.clone()
    }

    /// Its metadata database: `io.containerd.metadata.v1.bolt/meta.db`,
    /// else a bare `meta.db` (databases-only acquisition).
    pub fn meta_path(&self) -> crate::evidence::fs::EvPath {
        let std = self.path_of(meta::META_DB);
        if self.fs().exists(&std) {
            return std;
        }
        let flat = self.path_of(meta::FLAT_META_DB);
        if self.fs().exists(&flat) { flat } else { std }
    }

    /// True for a databases-only acquisition: a bare `meta.db`, no
    /// plugin directories.
    pub fn databases_only(&self) -> bool {
        self.meta_path() != self.path_of(meta::META_DB)
    }
}
