//! The store-neutral model every store fills: [`Image`] (config and
//! [`LayerSource`]s), [`Container`] (what the engine recorded and where
//! its layers are) and [`ImageRow`] (one line of `images`). Exporters,
//! `verify`, `diff` and the timeline only see these.
//!
//! The image config types are the parts of the Docker image spec v1.2 /
//! OCI image-spec `config.md` that the tool reads. The raw bytes are
//! always kept beside them: they are the image's identity and are
//! exported unchanged.

mod records;

pub use records::{
    KubernetesRef, LayerBlob, LayerSource, PODMAN_RUNTIME_PATHS, StoreContainer, StoreImage,
    StoreVolume, UnpackedLayer,
};

use crate::evidence::fs::EvPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: bool,
}

/// The container defaults an image carries (`config` in the image config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub healthcheck: Option<HealthCheck>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub shell: Option<Vec<String>>,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    #[serde(default)]
    pub test: Option<Vec<String>>,
    #[serde(default)]
    pub interval: Option<i64>,
    #[serde(default)]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub start_period: Option<i64>,
    #[serde(default)]
    pub retries: Option<i64>,
}

/// An image as found in a store, ready to be verified or exported.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// Which store holds it: `docker`, `containerd/<namespace>`, `podman`.
    pub store: String,
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// References as the store records them, familiar form
    /// (`fixture/web:1.0`); CRI also records the id itself as a name.
    pub names: Vec<String>,
    /// `name@sha256:…` references, or the manifest digest the store's
    /// name points at.
    pub digests: Vec<String>,
    /// Parent image id recorded by the builder, if any.
    pub parent: Option<String>,
    /// The config exactly as stored.
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    /// False when sha256(config_bytes) is not the id.
    pub config_verified: bool,
    /// The platform manifest the store keeps (digest and bytes), if any.
    pub manifest_digest: Option<String>,
    pub manifest_bytes: Option<Vec<u8>>,
    /// Layers, lowest first, one per diff_id.
    pub layers: Vec<LayerSource>,
    /// Inconsistencies noticed (a missing blob, a digest mismatch, ...).
    pub problems: Vec<String>,
}

impl Image {
    /// The first 12 hex characters of the id, as `docker images` shows.
    pub fn short_id(&self) -> &str {
        let hex = crate::digest::hex_part(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// The names that are references, not the id repeated as a name.
    pub fn tags(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|n| !n.starts_with("sha256:"))
            .cloned()
            .collect()
    }

    /// A name for messages: the first tag, else the short id.
    pub fn display_name(&self) -> String {
        self.tags()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.short_id().to_string())
    }
}

/// One row of `images`, whatever the store.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRow {
    /// `docker`, `containerd/<namespace>` or `podman`.
    pub store: String,
    /// Where the store is (volume, path).
    pub data_root: String,
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    pub created: Option<String>,
    pub layers: usize,
    pub size: Option<u64>,
    /// Docker: tagged, intermediate or dangling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ImageKind>,
    /// containerd/podman: the manifest the name points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// containerd/podman: every layer is unpacked on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<bool>,
    pub config_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether an image is tagged, a build parent of another, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    Tagged,
    /// Untagged, but the parent of another image (`docker images -a`).
    Intermediate,
    /// Untagged and nobody's parent (`docker images -f dangling=true`).
    Dangling,
}

/// A container as its engine recorded it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Container {
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Which store it belongs to (`docker`, ...).
    pub store: String,
    /// Image id it was created from.
    pub image_id: String,
    /// The reference it was started with (`fixture/web:1.0`).
    pub image_ref: Option<String>,
    /// created, running, paused, restarting, exited, dead, removing.
    pub state: String,
    pub exit_code: Option<i64>,
    pub created: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// Executable and arguments of the main process.
    pub path: Option<String>,
    pub args: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub hostname: Option<String>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<PortBinding>,
    pub restart_policy: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub network_mode: Option<String>,
    /// Where its log is, inside the evidence, and how big.
    pub log_path: Option<String>,
    pub log_size: Option<u64>,
    /// Storage driver of its writable layer.
    pub driver: Option<String>,
    /// Kubernetes identity, from CRI labels or annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesRef>,
    /// OCI runtime (`io.containerd.runc.v2`, `crun`, ...), where recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// What could not be resolved about it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Where its filesystem is.
    #[serde(skip)]
    pub layers: ContainerLayers,
    /// The engine's own records of it, exported as found.
    #[serde(skip)]
    pub records: Vec<RecordedFile>,
    /// Its log, where kept.
    #[serde(skip)]
    pub log: Option<ContainerLog>,
    /// The run config (`Config` of Docker's `config.v2.json`), which
    /// `docker commit` puts into the committed image.
    #[serde(skip)]
    pub run_config: Option<serde_json::Value>,
}

/// The directories that make up a container's filesystem.
#[derive(Debug, Clone, Default)]
pub struct ContainerLayers {
    /// The writable (upper) layer; `None` when the store has no record
    /// of it.
    pub upper: Option<EvPath>,
    /// Lower directories, topmost first: an init layer, if any, then the
    /// image's layers from the top down.
    pub lowers: Vec<EvPath>,
    /// Why the writable layer is unknown, when `upper` is `None`.
    pub unresolved: Option<String>,
    /// Paths the engine's own `diff` leaves out because its runtime puts
    /// them into every container (Podman).
    pub runtime_paths: &'static [&'static str],
}

/// A record of the engine's about one container, exported as found.
#[derive(Debug, Clone)]
pub struct RecordedFile {
    /// The name it is written under (`config.v2.json`, `config.json`).
    pub name: String,
    pub content: RecordedContent,
}

/// Where a recorded file's bytes are.
#[derive(Debug, Clone)]
pub enum RecordedContent {
    /// A file in the evidence.
    File(EvPath),
    /// Bytes read out of a database (containerd's `meta.db`).
    Bytes(Vec<u8>),
}

/// A container's log file and its format.
#[derive(Debug, Clone)]
pub struct ContainerLog {
    pub path: EvPath,
    pub format: LogFormat,
    /// The name the raw log is written under.
    pub name: String,
}

/// Log file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Docker's json-file driver: one JSON object per line.
    JsonFile,
    /// CRI / Podman "k8s-file": `<RFC 3339 time> <stream> <P|F> <message>`.
    K8sFile,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// Volume name, for named and anonymous volumes.
    pub name: Option<String>,
    pub source: Option<String>,
    pub destination: String,
    pub read_write: bool,
    /// Where a named volume's data is in the evidence.
    #[serde(skip)]
    pub data_dir: Option<EvPath>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PortBinding {
    /// `8080/tcp` inside the container.
    pub container_port: String,
    pub host_ip: String,
    pub host_port: String,
}
