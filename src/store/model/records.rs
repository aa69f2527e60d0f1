//! The records the content stores (containerd, containers/storage) list
//! as they keep them: image rows and containers, before they are mapped
//! to the store-neutral [`super::Image`] and [`super::Container`]; and
//! where a layer's bytes can come from ([`LayerSource`]), which every
//! store fills. Formats behind the fields are described where they are
//! read (`containerd::meta`, `podman::records`).

use crate::evidence::fs::EvPath;
use crate::store::blob::Compression;
use crate::store::model::Mount;
use serde::Serialize;
use std::collections::BTreeMap;

/// One image row.
#[derive(Debug, Clone, Serialize)]
pub struct StoreImage {
    /// Which store: `containerd/<namespace>` or `podman`.
    pub store: String,
    /// The image id as the engine shows it (see [`super::Image::id`]).
    pub id: String,
    /// `sha256:<hex>` of the image config; empty when the image could not
    /// be read (`error`).
    pub config_digest: String,
    /// Names as the store records them (`registry.example.com/shop/web:2`).
    pub names: Vec<String>,
    /// Creation time (RFC 3339): the config's `created`, else the store's.
    pub created: Option<String>,
    /// Number of layers (`rootfs.diff_ids`).
    pub layers: usize,
    /// Digest of the manifest (or index) the name points at, if any.
    pub manifest_digest: Option<String>,
    /// The image record's target (media type, digest) when the image
    /// could not be resolved past it: the id is then unknown.
    pub unresolved_target: Option<(String, String)>,
    /// True when every layer is unpacked on disk (snapshots / layer dirs).
    pub unpacked: bool,
    /// Why the image could not be read completely, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where one layer's tar can come from, in order of faithfulness: the
/// blob as the registry served it (containerd's content store), a
/// tar-split replay over the unpacked files (Docker, containers/storage),
/// or a rebuild from the unpacked files alone.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSource {
    /// Position in the config's `rootfs.diff_ids`, 0-based (lowest layer
    /// is 0).
    pub index: usize,
    /// `sha256:<hex>` of the uncompressed tar (from the config).
    pub diff_id: String,
    /// `ChainID` of the layers up to this one (OCI image-spec `config.md`).
    pub chain_id: String,
    /// Unpacked size the store recorded (Docker's layerdb `size`), if any.
    pub size: Option<u64>,
    /// Inconsistencies noticed while locating the layer.
    #[serde(skip)]
    pub findings: Vec<crate::report::Finding>,
    /// The (possibly compressed) blob, as the registry served it.
    pub blob: Option<LayerBlob>,
    /// The unpacked files, if the store unpacked the layer.
    pub unpacked: Option<UnpackedLayer>,
}

/// A layer blob in a content store.
#[derive(Debug, Clone, Serialize)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the blob's bytes.
    pub digest: String,
    /// The layer's media type as the manifest gives it
    /// (`application/vnd.oci.image.layer.v1.tar+gzip`, ...).
    pub media_type: String,
    /// Size the manifest gives.
    pub size: u64,
    /// Compression of the blob, from its media type.
    pub compression: Compression,
    /// Path of the blob file.
    #[serde(serialize_with = "ser_path")]
    pub path: EvPath,
    /// The file exists.
    pub present: bool,
}

/// A layer's files unpacked on disk.
#[derive(Debug, Clone, Serialize)]
pub struct UnpackedLayer {
    /// The store's name for it (snapshot key or layer id).
    pub key: String,
    /// The directory holding the layer's own files (overlay upper dir,
    /// with whiteouts as 0/0 character devices).
    #[serde(serialize_with = "ser_path")]
    pub dir: EvPath,
    /// A tar-split file that replays the original tar, if kept.
    #[serde(serialize_with = "ser_opt_path")]
    pub tar_split: Option<EvPath>,
}

/// Kubernetes identity of a container, from CRI labels or annotations
/// (`io.kubernetes.pod.name`, `io.kubernetes.pod.namespace`,
/// `io.kubernetes.container.name`, `io.kubernetes.pod.uid`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KubernetesRef {
    /// Pod name (`io.kubernetes.pod.name`).
    pub pod: Option<String>,
    /// Kubernetes namespace of the pod (`io.kubernetes.pod.namespace`).
    pub namespace: Option<String>,
    /// Container name in the pod spec (`io.kubernetes.container.name`).
    pub container: Option<String>,
    /// The pod's UID (`io.kubernetes.pod.uid`).
    pub pod_uid: Option<String>,
}

impl KubernetesRef {
    /// Picks the Kubernetes keys out of labels/annotations; `None` when
    /// none is there.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<KubernetesRef> {
        let get = |keys: &[&str]| keys.iter().find_map(|k| labels.get(*k).cloned());
        let k = KubernetesRef {
            pod: get(&["io.kubernetes.pod.name", "io.kubernetes.cri-o.PodName"]),
            namespace: get(&["io.kubernetes.pod.namespace"]),
            container: get(&[
                "io.kubernetes.container.name",
                "io.kubernetes.cri-o.ContainerName",
            ]),
            pod_uid: get(&["io.kubernetes.pod.uid"]),
        };
        (k != KubernetesRef::default()).then_some(k)
    }
}

/// One container. Fields after `problems` are filled where the store
/// records them (so far Podman's libpod state); `None` means "not
/// recorded", never a default.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreContainer {
    /// Which store: `containerd/<namespace>` or `podman`.
    pub store: String,
    /// The container id as the store keys it (containerd allows any
    /// string; Podman uses 64 hex digits).
    pub id: String,
    /// Its name: libpod's or containers/storage's for Podman, the
    /// `io.kubernetes.container.name` label (else the id) for containerd.
    pub name: Option<String>,
    /// The image as the container names it (a reference or an id).
    pub image: Option<String>,
    /// The image id (`sha256:<hex>`) when known.
    pub image_id: Option<String>,
    /// `created`, `running`, `exited`, ... where the store records it.
    pub state: Option<String>,
    /// Labels the store records for it.
    pub labels: BTreeMap<String, String>,
    /// Kubernetes identity, from its labels or annotations.
    pub kubernetes: Option<KubernetesRef>,
    /// Creation time (RFC 3339, UTC): containerd's `createdat`, libpod's
    /// (else containers/storage's) for Podman.
    pub created: Option<String>,
    /// Last change the store recorded (RFC 3339, UTC): containerd's
    /// `updatedat`; for Podman, the last finish, else start.
    pub updated: Option<String>,
    /// The snapshotter its writable layer is a snapshot of (containerd).
    pub snapshotter: Option<String>,
    /// The key of that snapshot (containerd `snapshotKey`).
    pub snapshot_key: Option<String>,
    /// The container's writable layer (overlay upper dir).
    #[serde(serialize_with = "ser_opt_path")]
    pub writable_dir: Option<EvPath>,
    /// The image layers below it, lowest first.
    #[serde(serialize_with = "ser_paths")]
    pub parent_dirs: Vec<EvPath>,
    /// The OCI runtime spec (`config.json`) bytes, where kept.
    #[serde(skip)]
    pub spec: Option<Vec<u8>>,
    /// Runtime name (`io.containerd.runc.v2`, `crun`, ...).
    pub runtime: Option<String>,
    /// The container's log file, where kept.
    #[serde(serialize_with = "ser_opt_path")]
    pub log: Option<EvPath>,
    /// What could not be resolved.
    pub problems: Vec<String>,
    /// Exit code of the last run; `None` when it never finished or the
    /// store does not record it.
    pub exit_code: Option<i64>,
    /// When the main process last started (RFC 3339, UTC).
    pub started: Option<String>,
    /// When the main process last finished (RFC 3339, UTC).
    pub finished: Option<String>,
    /// The main process as the runtime ran it: the first and the other
    /// elements of the OCI spec's `process.args` (`Path`/`Args` of
    /// `podman inspect`).
    pub path: Option<String>,
    /// The arguments after `path`.
    pub args: Option<Vec<String>>,
    /// The command and entrypoint the engine recorded (`Config.Cmd`,
    /// `Config.Entrypoint` of `podman inspect`).
    pub command: Option<Vec<String>>,
    /// The entrypoint the engine recorded (`Config.Entrypoint`).
    pub entrypoint: Option<Vec<String>>,
    /// `process.env` of the OCI spec the container ran with.
    pub env: Option<Vec<String>>,
    /// The user the engine recorded (`--user`; `""` for the image's).
    pub user: Option<String>,
    /// `process.cwd` of the OCI spec.
    pub working_dir: Option<String>,
    /// The hostname inside the container (the OCI spec's `hostname`).
    pub hostname: Option<String>,
    /// Volumes and bind mounts the user asked for, as `podman inspect`
    /// lists them (`source` is the host path the engine recorded).
    pub mounts: Option<Vec<Mount>>,
    /// The named volumes it mounts, with their data in the evidence.
    pub named_volumes: Vec<StoreVolume>,
    /// Run `--privileged`, where recorded.
    pub privileged: Option<bool>,
    /// Capabilities added to the engine's defaults, where recorded
    /// (Podman records only the resulting set: see `capabilities`).
    pub cap_add: Option<Vec<String>>,
    /// The bounding capability set of the OCI spec it ran with.
    pub capabilities: Option<Vec<String>>,
    /// The log file as the engine recorded it (a host path); `log` is
    /// where it is in the evidence.
    pub log_path: Option<String>,
    /// The log driver (`k8s-file`, `journald`, ...).
    pub log_driver: Option<String>,
}

/// A named volume a container mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreVolume {
    /// The volume's name (random hex for an anonymous volume).
    pub name: String,
    /// Where it is mounted inside the container.
    pub destination: String,
    /// Mount options the engine recorded (`ro`, `nosuid`, ...).
    pub options: Vec<String>,
    /// Volume driver (`local`), where recorded.
    pub driver: Option<String>,
    /// Its data directory as the host saw it (`mountPoint`).
    pub mount_point: Option<String>,
    /// That directory in the evidence, when it is there.
    #[serde(serialize_with = "ser_opt_path")]
    pub data_dir: Option<EvPath>,
    /// Creation time (RFC 3339, UTC), where recorded.
    pub created: Option<String>,
}

fn ser_path<S: serde::Serializer>(p: &EvPath, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.display())
}

fn ser_opt_path<S: serde::Serializer>(p: &Option<EvPath>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.display()),
        None => s.serialize_none(),
    }
}

fn ser_paths<S: serde::Serializer>(p: &[EvPath], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(|p| p.display()))
}

/// `podman diff` leaves out what the runtime itself puts into every
/// container (libpod `diff.go`, `initInodes`).
pub const PODMAN_RUNTIME_PATHS: &[&str] = &[
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/run",
    "/run/notify",
    "/run/.containerenv",
    "/run/secrets",
    "/sys",
    "/etc/mtab",
];

impl StoreContainer {
    /// The container in the store-neutral model.
    pub fn into_container(self) -> super::Container {
        use super::{ContainerLayers, ContainerLog, LogFormat, RecordedContent, RecordedFile};
        let unresolved = self.writable_dir.is_none().then(|| {
            self.problems
                .first()
                .cloned()
                .unwrap_or_else(|| "the store has no record of its writable layer".into())
        });
        super::Container {
            name: self.name.clone().unwrap_or_else(|| self.id.clone()),
            store: self.store,
            image_id: self.image_id.unwrap_or_default(),
            image_ref: self.image,
            state: self.state.unwrap_or_else(|| "unknown".into()),
            exit_code: self.exit_code,
            created: self.created,
            updated: self.updated,
            driver: self.snapshotter,
            snapshot_key: self.snapshot_key,
            started: self.started,
            finished: self.finished,
            path: self.path,
            args: self.args.unwrap_or_default(),
            entrypoint: self.entrypoint,
            cmd: self.command,
            user: self.user,
            working_dir: self.working_dir,
            hostname: self.hostname,
            env: self.env.unwrap_or_default(),
            mounts: mounts_with_data(self.mounts.unwrap_or_default(), &self.named_volumes),
            privileged: self.privileged,
            capabilities: self.capabilities,
            cap_add: self.cap_add.unwrap_or_default(),
            labels: self.labels,
            kubernetes: self.kubernetes,
            runtime: self.runtime,
            log_path: self.log.as_ref().map(EvPath::display),
            log: self.log.map(|path| ContainerLog {
                path,
                format: LogFormat::K8sFile,
                name: "container.log".into(),
            }),
            records: self
                .spec
                .map(|s| RecordedFile {
                    name: "config.json".into(),
                    content: RecordedContent::Bytes(s),
                })
                .into_iter()
                .collect(),
            layers: ContainerLayers {
                upper: self.writable_dir,
                // The store lists the image's layers lowest first.
                lowers: self.parent_dirs.into_iter().rev().collect(),
                unresolved,
                runtime_paths: &[],
                snapshot: None,
            },
            problems: self.problems,
            id: self.id,
            ..Default::default()
        }
    }
}

impl StoreImage {
    /// The row `images` shows; `data_root` is where the store is.
    pub fn into_row(
        self,
        data_root: crate::store::DataRootRef,
        source: crate::evidence::provenance::Location,
    ) -> super::ImageRow {
        // An image that could not be resolved past its record: its id
        // (the config digest) is unknown, the target is not it.
        let (id, manifest_digest, target) = match self.unresolved_target {
            Some((media_type, digest)) => (String::new(), None, Some((media_type, digest))),
            None => (self.id, self.manifest_digest, None),
        };
        super::ImageRow {
            layers_known: self.error.is_none(),
            target_media_type: target.as_ref().map(|t| t.0.clone()),
            target_digest: target.map(|t| t.1),
            source,
            config_verified: self.error.is_none(),
            store: self.store,
            data_root,
            id,
            config_digest: self.config_digest,
            // CRI records the image id as one more name; it is the id.
            // Docker's containerd image store names an untagged image
            // `moby-dangling@<target digest>`: not a tag either.
            tags: self
                .names
                .into_iter()
                .filter(|n| super::is_tag(n))
                .collect(),
            digests: Vec::new(),
            created: self.created,
            layers: self.layers,
            size: None,
            kind: None,
            manifest_digest,
            unpacked: Some(self.unpacked),
            error: self.error,
        }
    }
}

/// The mounts, each named volume with where its data is in the evidence.
fn mounts_with_data(mut mounts: Vec<Mount>, volumes: &[StoreVolume]) -> Vec<Mount> {
    for m in &mut mounts {
        if m.kind == "volume"
            && let Some(v) = volumes.iter().find(|v| Some(&v.name) == m.name.as_ref())
        {
            m.data_dir = v.data_dir.clone();
        }
    }
    mounts
}
