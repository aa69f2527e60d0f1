//! A containerd root as a [`Store`]: one store label per namespace
//! (`containerd/<namespace>`).

use super::{ContainerdError, ContainerdStore};
use crate::evidence::fs::FileSystem;
use crate::store::model::{Container, Image, ImageRow, SnapshotLayers, SnapshotRef};
use crate::store::{Store, StoreError, StorePlace};

impl ContainerdStore {
    fn err(&self, e: ContainerdError) -> StoreError {
        StoreError::Unreadable {
            place: self.root().describe(),
            detail: e.to_string(),
        }
    }
}

/// The namespace of a `containerd/<namespace>` label.
fn namespace(label: &str) -> &str {
    label.strip_prefix("containerd/").unwrap_or(label)
}

impl Store for ContainerdStore {
    fn kind(&self) -> &'static str {
        "containerd"
    }

    fn place(&self) -> StorePlace {
        self.root().place()
    }

    fn fs(&self) -> &dyn FileSystem {
        self.root().fs()
    }

    fn images(&self) -> Result<Vec<ImageRow>, StoreError> {
        let place = self.root().place();
        let rows = ContainerdStore::images(self).map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_row(place.data_root(), place.location()))
            .collect())
    }

    fn labels(&self) -> Vec<String> {
        let mut labels = vec![self.kind().to_string()];
        labels.extend(
            self.namespaces()
                .unwrap_or_default()
                .into_iter()
                .map(|ns| format!("containerd/{ns}")),
        );
        labels
    }

    fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(ContainerdStore::images(self)
            .map_err(|e| self.err(e))?
            .into_iter()
            // An image not resolved past its record has no known id:
            // its name finds it again.
            .map(|r| match (&r.unresolved_target, r.names.first()) {
                (Some(_), Some(name)) => (r.store, name.clone()),
                _ => (r.store, r.id),
            })
            .collect())
    }

    fn image(&self, label: &str, id: &str) -> Result<Image, StoreError> {
        ContainerdStore::image(self, namespace(label), id).map_err(|e| self.err(e))
    }

    fn resolve(&self, name: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError> {
        let mut hits = Vec::new();
        for ns in self.namespaces().map_err(|e| self.err(e))? {
            if !wanted(&format!("containerd/{ns}")) {
                continue;
            }
            match ContainerdStore::image(self, &ns, name) {
                Ok(image) => hits.push(image),
                Err(ContainerdError::UnknownImage { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(hits)
    }

    fn names(&self) -> Vec<String> {
        ContainerdStore::images(self)
            .map(|rows| rows.into_iter().flat_map(|r| r.names).collect())
            .unwrap_or_default()
    }

    fn containers(&self) -> Vec<Result<Container, StoreError>> {
        match ContainerdStore::containers(self) {
            Ok(all) => all.into_iter().map(|c| Ok(c.into_container())).collect(),
            Err(e) => vec![Err(self.err(e))],
        }
    }

    fn snapshot_layers(&self, snap: &SnapshotRef) -> Option<Result<SnapshotLayers, StoreError>> {
        // Not this root's: no such namespace, or no trace of the
        // snapshotter in it.
        let namespaces = self.namespaces().ok()?;
        if !namespaces.contains(&snap.namespace) {
            return None;
        }
        let used = self.meta.snapshotters(&snap.namespace).unwrap_or_default();
        if !self.snapshotters.contains_key(&snap.snapshotter) && !used.contains(&snap.snapshotter) {
            return None;
        }
        Some(
            ContainerdStore::snapshot_layers(self, &snap.namespace, &snap.snapshotter, &snap.key)
                .map_err(|detail| StoreError::Snapshot {
                    key: snap.key.clone(),
                    snapshotter: snap.snapshotter.clone(),
                    namespace: snap.namespace.clone(),
                    detail: format!("{detail} (containerd root {})", self.root().describe()),
                }),
        )
    }
}
