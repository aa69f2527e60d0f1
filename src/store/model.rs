//! The parts of an image config (Docker image spec v1.2 / OCI image-spec
//! `config.md`) that the tool reads. The raw bytes are always kept beside
//! it: they are the image's identity and are exported unchanged.

use serde::Deserialize;
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

/// An image as found in a store.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// The config exactly as stored.
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    /// `name:tag` references, familiar form (`fixture/web:1.0`).
    pub tags: Vec<String>,
    /// `name@sha256:…` references.
    pub digests: Vec<String>,
    /// Parent image id recorded by the builder, if any.
    pub parent: Option<String>,
    /// False when sha256(config_bytes) is not the id.
    pub config_verified: bool,
}

impl Image {
    /// The first 12 hex characters of the id, as `docker images` shows.
    pub fn short_id(&self) -> &str {
        let hex = crate::digest::hex_part(&self.id);
        &hex[..hex.len().min(12)]
    }
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
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PortBinding {
    /// `8080/tcp` inside the container.
    pub container_port: String,
    pub host_ip: String,
    pub host_port: String,
}
