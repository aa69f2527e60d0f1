//! Containers of a containerd root (`v1/<namespace>/containers/<id>` in
//! `meta.db`, containerd `metadata/containers.go`) with their snapshot
//! chains: the container's `snapshotKey` in the metadata database names a
//! snapshot of the snapshotter's database, whose `parent` links lead down
//! to the image's committed layers (`snapshots/storage/bolt.go`).
//!
//! How it runs (command, environment, user, working directory, mounts,
//! capabilities, hostname) is read from the OCI runtime spec the record
//! keeps (opencontainers runtime-spec `config.md`, via the `oci-spec`
//! types); containerd records no `privileged` flag.
//!
//! containerd keeps no container state on disk; a task bundle under
//! `io.containerd.runtime.v2.task/<namespace>/<id>` means the task existed
//! when the host stopped (reported as `running`). Kubernetes identity
//! comes from CRI's labels or, failing those, CRI's spec annotations
//! (containerd `pkg/cri/annotations`).

use super::meta::ContainerRecord;
use super::{ContainerdError, ContainerdStore};
use crate::store::model::{KubernetesRef, Mount, StoreContainer};
use oci_spec::runtime::Spec;
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
        let spec = match rec.spec.as_deref().map(RunSpec::parse) {
            Some(Ok(spec)) => spec,
            Some(Err(why)) => {
                problems.push(format!("its OCI runtime spec cannot be read: {why}"));
                RunSpec::default()
            }
            None => RunSpec::default(),
        };
        let kubernetes = KubernetesRef::from_labels(&rec.labels)
            .or_else(|| KubernetesRef::from_labels(&cri_annotations(&annotations)));
        let (writable_dir, parent_dirs) = match (&rec.snapshotter, &rec.snapshot_key) {
            (Some(sn), Some(key)) => match self.snapshot_layers(ns, sn, key) {
                // The model lists a store's parent dirs lowest first.
                Ok(l) => {
                    if !self.fs().exists(&l.upper) {
                        problems.push(format!(
                            "snapshot {key} ({sn}): its directory {} is not in the evidence",
                            l.upper
                        ));
                    }
                    (Some(l.upper), l.lowers.into_iter().rev().collect())
                }
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
            snapshotter: rec.snapshotter.clone(),
            snapshot_key: rec.snapshot_key.clone(),
            writable_dir,
            parent_dirs,
            spec: rec.spec,
            runtime: rec.runtime,
            log: None,
            problems,
            path: spec.path,
            args: spec.args,
            env: spec.env,
            user: spec.user,
            working_dir: spec.working_dir,
            hostname: spec.hostname,
            mounts: spec.mounts,
            capabilities: spec.capabilities,
            // containerd records no `privileged`; the spec only shows its
            // effects, which are not guessed back into a flag.
            privileged: None,
            ..Default::default()
        })
    }
}

/// What a container's stored OCI runtime spec (runtime-spec
/// `config.md`, the `spec` of containerd's container record) says about
/// how it runs.
#[derive(Debug, Default)]
struct RunSpec {
    path: Option<String>,
    args: Option<Vec<String>>,
    env: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    hostname: Option<String>,
    mounts: Option<Vec<Mount>>,
    capabilities: Option<Vec<String>>,
}

/// Mounts every runtime spec has (runtime-spec `config-linux.md`, the
/// defaults of containerd's `oci.WithDefaultSpec`), left out of the
/// container's own mounts.
const DEFAULT_MOUNTS: [&str; 7] = [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
];

impl RunSpec {
    fn parse(bytes: &[u8]) -> Result<RunSpec, String> {
        let spec: Spec = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut out = RunSpec {
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            ..Default::default()
        };
        if let Some(p) = spec.process() {
            if let Some((first, rest)) = p.args().as_deref().and_then(|a| a.split_first()) {
                out.path = Some(first.clone());
                out.args = Some(rest.to_vec());
            }
            out.env = p.env().clone();
            let u = p.user();
            out.user = Some(match u.username() {
                Some(name) if !name.is_empty() => name.clone(),
                _ => format!("{}:{}", u.uid(), u.gid()),
            });
            out.working_dir = Some(p.cwd().to_string_lossy().into_owned());
            out.capabilities = p.capabilities().as_ref().and_then(|c| {
                let mut caps: Vec<String> = c
                    .bounding()
                    .as_ref()?
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                caps.sort();
                Some(caps)
            });
        }
        out.mounts = spec.mounts().as_ref().map(|ms| {
            ms.iter()
                .filter(|m| !DEFAULT_MOUNTS.contains(&m.destination().to_string_lossy().as_ref()))
                .map(|m| {
                    let opts = m.options().clone().unwrap_or_default();
                    let bind = opts.iter().any(|o| o == "bind" || o == "rbind");
                    Mount {
                        kind: if bind {
                            "bind".to_string()
                        } else {
                            m.typ().clone().unwrap_or_else(|| "bind".into())
                        },
                        name: None,
                        source: m
                            .source()
                            .as_ref()
                            .map(|s| s.to_string_lossy().into_owned()),
                        destination: m.destination().to_string_lossy().into_owned(),
                        read_write: !opts.iter().any(|o| o == "ro"),
                        data_dir: None,
                    }
                })
                .collect()
        });
        Ok(out)
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
