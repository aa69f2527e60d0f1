//! Where a store is ([`StorePlace`]), how stores are found on the
//! evidence's volumes ([`discover_places`]), and what every store offers
//! the commands ([`Store`]).

use super::StoreError;
use super::model::{Container, Image, ImageRow, SnapshotLayers, SnapshotRef};
use crate::evidence::fs::{EvPath, FileSystem};
use crate::evidence::provenance::Location;
use crate::evidence::{Evidence, Volume};

/// Where a store is in the evidence and why it was taken as one.
#[derive(Debug, Clone)]
pub struct StorePlace {
    /// The evidence volume it is on.
    pub volume: Volume,
    /// Its directory, relative to the volume's root.
    pub path: EvPath,
    /// What it holds: the graph driver (`overlay2`), `containerd`.
    pub what: String,
    /// Why this directory was taken as a store (`default location
    /// /var/lib/docker`, `named explicitly`, `found by scanning the
    /// filesystem`), for the report.
    pub reason: String,
}

impl StorePlace {
    /// The filesystem it is on.
    pub fn fs(&self) -> &dyn FileSystem {
        &*self.volume.fs
    }

    /// Where it is, typed: the chain from the evidence file (image,
    /// partition, LV, filesystem) to its directory.
    pub fn location(&self) -> Location {
        self.volume.spec.at(&self.path)
    }

    /// A path below it.
    pub fn path_of(&self, rel: &str) -> EvPath {
        self.path.join_path(&EvPath::parse(rel).unwrap_or_default())
    }

    /// The same, as every JSON document names it: `data_root` with
    /// `volume`, `path`, `driver` and `reason`.
    pub fn data_root(&self) -> DataRootRef {
        DataRootRef {
            volume: self.volume.label.clone(),
            path: self.path.display(),
            driver: self.what.clone(),
            reason: self.reason.clone(),
        }
    }

    /// Human-readable place: the volume when the evidence is a disk
    /// image, the path, and what it holds.
    pub fn describe(&self) -> String {
        self.data_root().to_string()
    }
}

/// A store's directory as every JSON document names it (`data_root`):
/// one object, the path and what it holds in separate fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct DataRootRef {
    /// The evidence volume it is on: `directory` for a directory tree,
    /// else the partition or logical volume (`partition 1 (ext4)`).
    pub volume: String,
    /// Its directory, relative to the volume's root (`/var/lib/docker`).
    pub path: String,
    /// What it holds: Docker's graph driver (`overlay2`, `aufs`),
    /// `containerd`, or the containers/storage driver.
    pub driver: String,
    /// Why this directory was taken as a store.
    pub reason: String,
}

impl std::fmt::Display for DataRootRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.volume == "directory" {
            write!(f, "{} ({})", self.path, self.driver)
        } else {
            write!(f, "{}:{} ({})", self.volume, self.path, self.driver)
        }
    }
}

/// Finds the places of one kind of store on every volume of `ev`: at
/// `explicit` (a path relative to the volume's root; `None` when it is
/// none) or else at each of `candidates`, the most authoritative first;
/// `kinds` says what a directory holds (one place each: a graph driver,
/// `containerd`), nothing when it is not such a store. A directory is
/// taken once per volume.
pub(crate) fn discover_places(
    ev: &Evidence,
    explicit: Option<&str>,
    candidates: impl Fn(&dyn FileSystem) -> Vec<(EvPath, String)>,
    kinds: impl Fn(&dyn FileSystem, &EvPath) -> Vec<String>,
) -> Result<Vec<StorePlace>, Option<String>> {
    let mut found: Vec<StorePlace> = Vec::new();
    for vol in &ev.volumes {
        let fs = &*vol.fs;
        let cands = match explicit {
            Some(p) => {
                let path = EvPath::parse(p).ok_or_else(|| Some(p.to_string()))?;
                vec![(path, "named explicitly".to_string())]
            }
            None => candidates(fs),
        };
        for (path, reason) in cands {
            if found
                .iter()
                .any(|r| r.path == path && r.volume.label == vol.label)
            {
                continue;
            }
            for what in kinds(fs, &path) {
                found.push(StorePlace {
                    volume: vol.clone(),
                    path: path.clone(),
                    what,
                    reason: reason.clone(),
                });
            }
        }
    }
    if let (Some(p), true) = (explicit, found.is_empty()) {
        return Err(Some(p.to_string()));
    }
    Ok(found)
}

/// One image store, as every command sees it. `Send`, so that a
/// [`crate::store::catalog::Catalog`] can move to another thread (the
/// Python bindings work on one with the interpreter's lock released).
pub trait Store: Send {
    /// The store family: `docker`, `containerd` or `podman`. Images and
    /// containers carry a finer label (`containerd/<namespace>`).
    fn kind(&self) -> &'static str;
    /// Where it is.
    fn place(&self) -> StorePlace;
    /// The filesystem it is on.
    fn fs(&self) -> &dyn FileSystem;
    /// Every image, one row each.
    fn images(&self) -> Result<Vec<ImageRow>, StoreError>;
    /// The labels of this store's parts (`docker`; `containerd/<ns>` for
    /// each namespace), without reading their images.
    fn labels(&self) -> Vec<String> {
        vec![self.kind().to_string()]
    }
    /// Every image as (store label, id), for `--all` and `verify`.
    fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// One image by store label and id, with its layers located.
    fn image(&self, label: &str, id: &str) -> Result<Image, StoreError>;
    /// The images a name, id or id prefix names, in the parts of the
    /// store whose label `wanted` accepts; empty when none.
    fn resolve(&self, name: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError>;
    /// Names to suggest when a name resolves nowhere.
    fn names(&self) -> Vec<String>;
    /// Every container; one that cannot be read is an error naming it.
    fn containers(&self) -> Vec<Result<Container, StoreError>>;
    /// The directories of a snapshot another store's container names
    /// ([`crate::store::model::ContainerLayers::snapshot`]): `None` when
    /// this store keeps no snapshots of that snapshotter and namespace
    /// (the default), else the snapshot's directories or why they cannot
    /// be found here.
    fn snapshot_layers(&self, snap: &SnapshotRef) -> Option<Result<SnapshotLayers, StoreError>> {
        let _ = snap;
        None
    }
}
