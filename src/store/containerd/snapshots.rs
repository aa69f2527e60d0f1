//! A snapshotter's own database, e.g.
//! `io.containerd.snapshotter.v1.overlayfs/metadata.db`, and where each
//! snapshot's files are.
//!
//! Layout (containerd `snapshots/storage/bolt.go`):
//! `v1/snapshots/<key>/` with `id` (uvarint), `kind` (one byte: 1 view,
//! 2 active, 3 committed), `parent` (the parent's key), `labels/`,
//! `createdat`, `updatedat`, `size` and `inodes` (varints, committed
//! only); `v1/parents/` indexes children by parent id. Keys are
//! `<namespace>/<n>/<name>` as the metadata database's `name` says.
//! The overlayfs snapshotter (`snapshots/overlay/overlay.go`) keeps a
//! snapshot's own files (its overlay upper directory) in
//! `snapshots/<id>/fs`.

use super::ContainerdStore;
use super::encoding::{go_time_rfc3339, uvarint, varint};
use super::meta::Labels;
use super::store::OVERLAY_SNAPSHOTTERS;
use crate::evidence::fs::{EvPath, FileSystem};
use crate::store::bolt::{BoltDb, BoltError, Value};
use crate::store::model::SnapshotLayers;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    Unknown,
    View,
    Active,
    Committed,
}

impl SnapshotKind {
    fn from_byte(b: u8) -> SnapshotKind {
        match b {
            1 => SnapshotKind::View,
            2 => SnapshotKind::Active,
            3 => SnapshotKind::Committed,
            _ => SnapshotKind::Unknown,
        }
    }
}

/// One snapshot of a snapshotter.
#[derive(Debug, Clone, Serialize)]
pub struct BackendSnapshot {
    /// `<namespace>/<n>/<name>`.
    pub key: String,
    pub id: Option<u64>,
    pub kind: SnapshotKind,
    pub parent: Option<String>,
    pub labels: Labels,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub size: Option<i64>,
    pub inodes: Option<i64>,
}

/// A snapshotter directory (`io.containerd.snapshotter.v1.<name>`) and
/// its database, read whole (it holds one small record per snapshot).
#[derive(Debug, Clone)]
pub struct Snapshotter {
    /// Snapshotter name (`overlayfs`).
    pub name: String,
    /// The plugin directory.
    pub dir: EvPath,
    pub snapshots: BTreeMap<String, BackendSnapshot>,
}

/// More snapshots than this in a parent chain means a loop.
const MAX_CHAIN: usize = 1024;

impl Snapshotter {
    /// Reads `<dir>/metadata.db`.
    pub fn open(fs: &dyn FileSystem, name: &str, dir: EvPath) -> Result<Snapshotter, BoltError> {
        let db_path = dir.child(b"metadata.db").unwrap_or_default();
        let db = BoltDb::open(fs, &db_path)?;
        let mut snapshots = BTreeMap::new();
        if let Some(bucket) = db.bucket_path(&[b"v1", b"snapshots"])? {
            for e in bucket.iter() {
                let (key, Value::Bucket(b)) = e? else {
                    continue;
                };
                let key = String::from_utf8_lossy(&key).into_owned();
                let get = |k: &str| b.get(k.as_bytes());
                let mut labels = Labels::new();
                if let Some(l) = b.bucket(b"labels")? {
                    for e in l.iter() {
                        if let (k, Value::Data(v)) = e? {
                            labels.insert(
                                String::from_utf8_lossy(&k).into_owned(),
                                String::from_utf8_lossy(&v).into_owned(),
                            );
                        }
                    }
                }
                let snap = BackendSnapshot {
                    key: key.clone(),
                    id: get("id")?.and_then(|v| uvarint(&v)),
                    kind: get("kind")?
                        .and_then(|v| v.first().copied())
                        .map_or(SnapshotKind::Unknown, SnapshotKind::from_byte),
                    parent: get("parent")?
                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                        .filter(|p| !p.is_empty()),
                    labels,
                    created: get("createdat")?.and_then(|v| go_time_rfc3339(&v)),
                    updated: get("updatedat")?.and_then(|v| go_time_rfc3339(&v)),
                    size: get("size")?.and_then(|v| varint(&v)),
                    inodes: get("inodes")?.and_then(|v| varint(&v)),
                };
                snapshots.insert(key, snap);
            }
        }
        Ok(Snapshotter {
            name: name.to_string(),
            dir,
            snapshots,
        })
    }

    /// The directory holding the snapshot's own files (overlayfs layout:
    /// `snapshots/<id>/fs`).
    pub fn fs_dir(&self, snap: &BackendSnapshot) -> Option<EvPath> {
        let id = snap.id?;
        self.dir.join(format!("snapshots/{id}/fs"))
    }

    /// The snapshot with key `key` and its ancestors, nearest first.
    /// A missing parent ends the chain; a loop is an error message.
    pub fn chain(&self, key: &str) -> Result<Vec<&BackendSnapshot>, String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(key.to_string());
        while let Some(k) = next {
            if !seen.insert(k.clone()) || out.len() >= MAX_CHAIN {
                return Err(format!("snapshot parents of {key} form a loop at {k}"));
            }
            let Some(s) = self.snapshots.get(&k) else {
                if out.is_empty() {
                    return Err(format!("no snapshot {k} in {}", self.dir));
                }
                return Err(format!("parent snapshot {k} is missing from {}", self.dir));
            };
            out.push(s);
            next = s.parent.clone();
        }
        Ok(out)
    }
}

impl ContainerdStore {
    /// The directories of snapshot `key` of snapshotter `sn` in namespace
    /// `ns`: the key's own `fs` directory, and its parent chain nearest
    /// first (containerd `snapshots/overlay/overlay.go` mounts them as
    /// `upperdir` and `lowerdir` in that order). The metadata database's
    /// record names the snapshot in the snapshotter's own database
    /// (`<namespace>/<n>/<key>`). Shared by containerd's own containers
    /// and by containers of other stores that name a snapshot (Docker
    /// with the containerd image store). Why it cannot be found is the
    /// error, one line naming the snapshot and the database.
    pub fn snapshot_layers(&self, ns: &str, sn: &str, key: &str) -> Result<SnapshotLayers, String> {
        let sref = self
            .meta
            .snapshot(ns, sn, key)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("snapshot {key} ({sn}) is not in {}", self.root.meta_path()))?;
        let name = sref
            .name
            .ok_or_else(|| format!("snapshot {key} ({sn}) has no backing name"))?;
        let snapshotter = match self.snapshotters.get(sn) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(format!("snapshotter {sn}: {e}")),
            None => return Err(format!("no database for snapshotter {sn}")),
        };
        if !OVERLAY_SNAPSHOTTERS.contains(&sn) {
            return Err(format!("snapshotter {sn} does not keep overlay upper dirs"));
        }
        let chain = snapshotter.chain(&name)?;
        let mut dirs: Vec<EvPath> = chain.iter().filter_map(|s| snapshotter.fs_dir(s)).collect();
        if dirs.len() != chain.len() || dirs.is_empty() {
            return Err(format!("a snapshot in the chain of {name} has no id"));
        }
        let upper = dirs.remove(0);
        Ok(SnapshotLayers {
            upper,
            lowers: dirs,
        })
    }
}
