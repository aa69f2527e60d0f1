//! Containers of a containerd root (`v1/<namespace>/containers/<id>` in
//! `meta.db`, containerd `metadata/containers.go`) with their snapshot
//! chains: the container's `snapshotKey` in the metadata database names a
//! snapshot of the snapshotter's database, whose `parent` links lead down
//! to the image's committed layers (`snapshots/storage/bolt.go`).
//!
//! containerd keeps no container state on disk; a task bundle under
//! `io.containerd.runtime.v2.task/<namespace>/<id>` means the task existed
//! when the host stopped (reported as `running`). Kubernetes identity
//! comes from CRI's labels or, failing those, CRI's spec annotations
//! (containerd `pkg/cri/annotations`).

use super::meta::ContainerRecord;
use super::{ContainerdError, ContainerdStore};
use crate::store::model::{KubernetesRef, StoreContainer};
use std::collections::{BTreeMap, HashMap};

impl ContainerdStore {
    /// Every container of every namespace, with its snapshot chain.
    pub fn containers(&self) -> Result<Vec<StoreContainer>, ContainerdError> {
        let mut out = Vec::new();
        for ns in self.namespaces()? {
            let mut image_ids: HashMap<String, Option<String>> = HashMap::new();
            for rec in self.meta.containers(&ns)? {
                let image_id = match &rec.image {
                    Some(name) => image_ids
                        .entry(name.clone())
                        .or_insert_with(|| self.image(&ns, name).ok().map(|i| i.id))
                        .clone(),
                    None => None,
                };
                out.push(self.container(&ns, rec, image_id)?);
            }
        }
        Ok(out)
    }

    fn container(
        &self,
        ns: &str,
        rec: ContainerRecord,
        image_id: Option<String>,
    ) -> Result<StoreContainer, ContainerdError> {
        let mut problems = Vec::new();
        let annotations = rec
            .spec
            .as_deref()
            .and_then(|s| serde_json::from_slice::<serde_json::Value>(s).ok())
            .and_then(|v| {
                serde_json::from_value::<BTreeMap<String, String>>(v.get("annotations")?.clone())
                    .ok()
            })
            .unwrap_or_default();
        let kubernetes = KubernetesRef::from_labels(&rec.labels)
            .or_else(|| KubernetesRef::from_labels(&cri_annotations(&annotations)));
        let (writable_dir, parent_dirs) = match (&rec.snapshotter, &rec.snapshot_key) {
            (Some(sn), Some(key)) => match self.snapshot_layers(ns, sn, key) {
                // The model lists a store's parent dirs lowest first.
                Ok(l) => (Some(l.upper), l.lowers.into_iter().rev().collect()),
                Err(why) => {
                    problems.push(why);
                    (None, Vec::new())
                }
            },
            _ => (None, Vec::new()),
        };
        let bundle = self
            .root
            .path_of(&format!("io.containerd.runtime.v2.task/{ns}"));
        let state = bundle
            .child(rec.id.as_bytes())
            .filter(|b| self.fs().metadata(b).is_ok_and(|m| m.is_dir()))
            .map(|_| "running".to_string());
        let name = rec
            .labels
            .get("io.kubernetes.container.name")
            .cloned()
            .unwrap_or_else(|| rec.id.clone());
        Ok(StoreContainer {
            store: format!("containerd/{ns}"),
            id: rec.id,
            name: Some(name),
            image: rec.image,
            image_id,
            state,
            labels: rec.labels,
            kubernetes,
            created: rec.created,
            updated: rec.updated,
            writable_dir,
            parent_dirs,
            spec: rec.spec,
            runtime: rec.runtime,
            log: None,
            problems,
            ..Default::default()
        })
    }
}

/// CRI's own spec annotations, renamed to the pod labels' keys
/// (containerd `pkg/cri/annotations`).
fn cri_annotations(a: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (from, to) in [
        ("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
        (
            "io.kubernetes.cri.sandbox-namespace",
            "io.kubernetes.pod.namespace",
        ),
        (
            "io.kubernetes.cri.container-name",
            "io.kubernetes.container.name",
        ),
        ("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"),
    ] {
        if let Some(v) = a.get(from) {
            out.insert(to.to_string(), v.clone());
        }
    }
    out
}
