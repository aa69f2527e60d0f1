//! Docker Engine's own image store (the graph-driver store: overlay2 and
//! its predecessors) inside a data root such as `/var/lib/docker`.
//!
//! Layout (moby `image/fs.go`, `layer/filestore.go`, `refstore/store.go`):
//! - `image/<driver>/imagedb/content/sha256/<id>`: image configs, named by
//!   their sha256; `imagedb/metadata/sha256/<id>/parent` the build parent;
//! - `image/<driver>/repositories.json`: tags and digests → image ids;
//! - `image/<driver>/layerdb/sha256/<chainID>/`: `diff`, `cache-id`,
//!   `size`, `parent`, `tar-split.json.gz` for each layer;
//! - `<driver>/<cache-id>/diff` (overlay2): the unpacked files.
//!
//! With the containerd image store (moby `daemon/containerd`, the
//! default of Docker 29; `"features": {"containerd-snapshotter": true}`
//! before) there is no `image/` directory: images live in containerd's
//! `moby` namespace, and each container's `config.v2.json` names a
//! snapshotter as its `Driver` (moby `daemon/snapshotter`): its writable
//! layer is the snapshot keyed by the container id, whose parent
//! `<id>-init` is Docker's init layer. Such a data root lists no images;
//! its containers carry a [`crate::store::model::SnapshotRef`] that the
//! catalog resolves through the containerd store.

mod containers;
mod discover;
mod images;
mod layers;
mod legacy;
mod store;

pub use crate::store::model::ImageKind;
pub use images::{ImageSummary, References};

use crate::evidence::Volume;
use crate::evidence::fs::{EvPath, FileSystem};

/// One Docker data root (with one graph driver) on one evidence volume.
#[derive(Debug, Clone)]
pub struct DataRoot {
    pub volume: Volume,
    /// The data root, relative to the volume's root.
    pub path: EvPath,
    /// Graph driver whose image store this is (`overlay2`, `vfs`, ...);
    /// [`CONTAINERD_IMAGES`] when the data root has no image store of its
    /// own.
    pub driver: String,
    /// Why this directory was taken as a data root.
    pub reason: String,
    /// How its images are kept.
    pub layout: Layout,
    /// Every graph driver in use in this directory (this one included),
    /// sorted: a container whose `Driver` is none of them is listed by
    /// the first.
    pub peers: Vec<String>,
    /// `repositories.json`, once read (every image lookup needs it).
    references: std::sync::OnceLock<std::sync::Arc<images::References>>,
}

/// How a data root keeps its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Docker 1.10 and later: `image/<driver>/imagedb`, `layerdb`,
    /// content-addressed image ids.
    ImageDb,
    /// Before Docker 1.10: `graph/<id>/json`, `repositories-<driver>`,
    /// random v1 image ids, `containers/<id>/config.json`.
    Graph,
}

/// The `driver` of a data root whose images are in containerd.
pub const CONTAINERD_IMAGES: &str = "containerd image store";

/// The containerd namespace dockerd keeps its images, containers and
/// snapshots in (moby `daemon/daemon.go`, `--containerd-namespace`).
pub const MOBY_NAMESPACE: &str = "moby";

impl DataRoot {
    /// True when the data root keeps no images of its own: they are in
    /// containerd's `moby` namespace.
    pub fn images_in_containerd(&self) -> bool {
        self.driver == CONTAINERD_IMAGES
    }

    pub fn fs(&self) -> &dyn FileSystem {
        &*self.volume.fs
    }

    /// `image/<driver>` inside the data root.
    fn image_dir(&self) -> EvPath {
        self.path
            .join_path(&EvPath::parse(format!("image/{}", self.driver)).unwrap_or_default())
    }

    /// A path below `image/<driver>`.
    fn image_path(&self, rel: &str) -> EvPath {
        self.image_dir()
            .join_path(&EvPath::parse(rel).unwrap_or_default())
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

    /// Human-readable place: volume label and path.
    pub fn describe(&self) -> String {
        self.place().describe()
    }
}
