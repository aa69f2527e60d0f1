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

/// The parsed image config (the JSON blob whose sha256 is the image id).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture the image is built for (`amd64`, `arm64`, ...).
    #[serde(default)]
    pub architecture: Option<String>,
    /// Operating system the image is built for (`linux`, `windows`).
    #[serde(default)]
    pub os: Option<String>,
    /// CPU variant (`v8` for `arm64/v8`), if given.
    #[serde(default)]
    pub variant: Option<String>,
    /// When the image was built, RFC 3339 as the builder wrote it; a
    /// claim of the builder's, not a filesystem time.
    #[serde(default)]
    pub created: Option<String>,
    /// Author the builder recorded (`MAINTAINER`), if any.
    #[serde(default)]
    pub author: Option<String>,
    /// Defaults for containers run from the image.
    #[serde(default)]
    pub config: Option<RunConfig>,
    /// The layers that make up the image's filesystem.
    pub rootfs: RootFs,
    /// Build steps, oldest first, one per Dockerfile instruction;
    /// those with `empty_layer` made no layer.
    #[serde(default)]
    pub history: Vec<History>,
}

/// `rootfs` of the image config: the layer list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// Always `layers` in practice (the config's `type`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `sha256:<hex>` of each layer's uncompressed tar, lowest first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One build step of the image config's `history`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339 as the builder wrote it.
    #[serde(default)]
    pub created: Option<String>,
    /// The command that made the step (`/bin/sh -c #(nop) COPY ...`,
    /// `RUN ...`).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Author recorded for the step, if any.
    #[serde(default)]
    pub author: Option<String>,
    /// Free-text comment (`docker commit -m`, buildkit notes), if any.
    #[serde(default)]
    pub comment: Option<String>,
    /// True when the step made no layer (`ENV`, `CMD`, ...): it has no
    /// entry in `rootfs.diff_ids`.
    #[serde(default)]
    pub empty_layer: bool,
}

/// The container defaults an image carries (`config` in the image config).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `USER`: user (name or uid, optionally `:group`) processes run as.
    #[serde(default)]
    pub user: Option<String>,
    /// `EXPOSE`: ports as keys (`80/tcp`); the values are empty objects.
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `ENV`: environment, `NAME=value` each.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT`, exec form.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`, exec form (the entrypoint's arguments when there is one).
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`: mount points as keys; the values are empty objects.
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `WORKDIR`: the working directory of the main process.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `LABEL`s.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `HEALTHCHECK`.
    #[serde(default)]
    pub healthcheck: Option<HealthCheck>,
    /// `STOPSIGNAL` (`SIGTERM`, `9`, ...).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `SHELL`: the shell `RUN`, `CMD` and `ENTRYPOINT` shell forms use.
    #[serde(default)]
    pub shell: Option<Vec<String>>,
    /// `ONBUILD` instructions, as written, for images built from this one.
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
}

/// `HEALTHCHECK` as the image config records it; durations are Go
/// durations, in nanoseconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    /// The test: `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default)]
    pub test: Option<Vec<String>>,
    /// Time between checks, nanoseconds.
    #[serde(default)]
    pub interval: Option<i64>,
    /// Time one check may take, nanoseconds.
    #[serde(default)]
    pub timeout: Option<i64>,
    /// Grace period after start before failures count, nanoseconds.
    #[serde(default)]
    pub start_period: Option<i64>,
    /// Consecutive failures before the container is unhealthy.
    #[serde(default)]
    pub retries: Option<i64>,
}

/// An image as found in a store, ready to be verified or exported.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// Which store holds it: `docker`, `containerd/<namespace>`, `podman`.
    pub store: String,
    /// The image id as its engine shows it: Docker 29 with the
    /// containerd image store (namespace `moby`) shows the digest the
    /// image record points at (an index or a manifest); Docker's own
    /// store, CRI (`crictl`, namespace `k8s.io`) and Podman show the
    /// config digest. See [`Image::config_digest`].
    pub id: String,
    /// `sha256:<hex>` of the config, as the manifest names it: the id
    /// older engines (and `docker load` from `manifest.json`) give the
    /// image. Equal to `id` where the engine identifies images by config.
    pub config_digest: String,
    /// References as the store records them, familiar form
    /// (`fixture/web:1.0`); CRI also records the id itself as a name.
    pub names: Vec<String>,
    /// `name@sha256:…` references, or the digest the store's name points
    /// at (containerd: the record's target, an index or a manifest).
    pub digests: Vec<String>,
    /// Parent image id recorded by the builder, if any.
    pub parent: Option<String>,
    /// The config exactly as stored.
    pub config_bytes: Vec<u8>,
    /// `config_bytes`, parsed.
    pub config: ImageConfig,
    /// False when sha256(config_bytes) is not `config_digest`.
    pub config_verified: bool,
    /// The platform manifest the store keeps (digest and bytes), if any.
    pub manifest_digest: Option<String>,
    /// The manifest's bytes as stored (containerd, Podman); `None` for
    /// Docker's own store, which keeps none.
    pub manifest_bytes: Option<Vec<u8>>,
    /// Layers, lowest first, one per diff_id.
    pub layers: Vec<LayerSource>,
    /// Inconsistencies noticed (a missing blob, a digest mismatch, ...).
    pub problems: Vec<String>,
    /// The rest of the stored graph (containerd): the index the record
    /// points at, the other manifests in it, attestations; `None` when
    /// the record points at the manifest itself, or the store keeps none.
    pub graph: Option<ImageGraph>,
}

/// What an image record points at and what hangs off it besides the
/// platform manifest, its config and its layers (OCI image-spec
/// `image-index.md`; BuildKit `docs/attestations/attestation-storage.md`).
#[derive(Debug, Clone, Default)]
pub struct ImageGraph {
    /// The descriptor of the image record's target (media type, digest,
    /// size): what the archive's `index.json` points at.
    pub target: GraphBlob,
    /// Every other blob of the graph that is in the content store, each
    /// once, in the order found: the index (or indexes), the other
    /// platforms' manifests, configs and layers, attestation manifests
    /// and their statements. The platform manifest, its config and its
    /// layers are not repeated here.
    pub blobs: Vec<GraphBlob>,
    /// The attestation manifests of the index.
    pub attestations: Vec<Attestation>,
}

/// One blob of an image's stored graph.
#[derive(Debug, Clone, Default)]
pub struct GraphBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Media type, from the descriptor that names it.
    pub media_type: String,
    /// Size, from the descriptor that names it.
    pub size: u64,
    /// Where it is in the evidence.
    pub path: EvPath,
    /// The bytes, for the small JSON documents (indexes, manifests,
    /// configs, attestation statements), read and checked once; `None`
    /// for layers, copied from `path` when the archive is written.
    pub bytes: Option<Vec<u8>>,
}

/// A BuildKit attestation manifest: in-toto statements about one
/// platform manifest of the index.
#[derive(Debug, Clone, Default)]
pub struct Attestation {
    /// Digest of the attestation manifest.
    pub manifest_digest: String,
    /// The manifest it attests (`vnd.docker.reference.digest`).
    pub refers_to: Option<String>,
    /// Its layers: the in-toto statements.
    pub statements: Vec<AttestationStatement>,
}

/// One in-toto statement layer of an attestation manifest.
#[derive(Debug, Clone, Default)]
pub struct AttestationStatement {
    /// Digest of the statement blob.
    pub digest: String,
    /// `application/vnd.in-toto+json`.
    pub media_type: String,
    /// `in-toto.io/predicate-type` annotation, if given.
    pub predicate_type: Option<String>,
    /// The statement's bytes, when present and within bounds.
    pub bytes: Option<Vec<u8>>,
}

impl Image {
    /// The first 12 characters of the id, as `docker images` shows.
    pub fn short_id(&self) -> &str {
        crate::digest::short_id(crate::digest::hex_part(&self.id))
    }

    /// The names that are references, not the id repeated as a name
    /// (CRI) nor the placeholder of an untagged image (`moby-dangling@…`).
    pub fn tags(&self) -> Vec<String> {
        self.names.iter().filter(|n| is_tag(n)).cloned().collect()
    }

    /// A name for messages: the first tag, else the short id.
    pub fn display_name(&self) -> String {
        self.tags()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.short_id().to_string())
    }
}

/// The name Docker's containerd image store gives an untagged image
/// (moby `daemon/images/image_prune.go`, `danglingImageName`), followed by
/// `@<target digest>`.
pub const MOBY_DANGLING: &str = "moby-dangling";

/// Whether a stored name is a reference a user gave: not the id repeated
/// as a name (CRI's `sha256:<hex>`) nor `moby-dangling@<digest>`.
pub fn is_tag(name: &str) -> bool {
    !name.starts_with("sha256:")
        && !name
            .strip_prefix(MOBY_DANGLING)
            .is_some_and(|rest| rest.starts_with('@'))
}

/// One row of `images`, whatever the store.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRow {
    /// `docker`, `containerd/<namespace>` or `podman`.
    pub store: String,
    /// Where the store is: volume, directory, driver, why.
    pub data_root: crate::store::DataRootRef,
    /// The same, typed: evidence file → partition → LV → filesystem →
    /// the store's directory.
    pub source: crate::evidence::provenance::Location,
    /// Image id as the engine shows it (see [`Image::id`]).
    #[serde(rename = "image_id")]
    pub id: String,
    /// `sha256:<hex>` of the config (equal to `id` but for Docker's
    /// containerd image store); empty when the image could not be read.
    pub config_digest: String,
    /// References (`fixture/web:1.0`), not the id repeated as a name.
    pub tags: Vec<String>,
    /// `name@sha256:…` references (Docker's `repositories.json`).
    pub digests: Vec<String>,
    /// The config's `created` (RFC 3339, as the builder wrote it);
    /// containerd/Podman fall back to the store's own time.
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub created: Option<String>,
    /// Number of layers (`rootfs.diff_ids`); 0 when unreadable.
    pub layers: usize,
    /// False when the number of layers is unknown (the config or
    /// manifest is not there to count them): `layers` is then no count.
    pub layers_known: bool,
    /// What the store's name points at (containerd: the image record's
    /// target, an index or a manifest), when the image could not be
    /// resolved past it; the image id is then unknown and `id` empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_digest: Option<String>,
    /// The media type of `target_digest`, as the record gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_media_type: Option<String>,
    /// Docker: sum of the layers' unpacked sizes in bytes (layerdb
    /// `size`), when known.
    pub size: Option<u64>,
    /// Docker: tagged, intermediate or dangling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ImageKind>,
    /// containerd/podman: the platform manifest the image resolves to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// containerd/podman: every layer is unpacked on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpacked: Option<bool>,
    /// Docker: sha256 of the config is the id; containerd/Podman: the
    /// image was read without error.
    pub config_verified: bool,
    /// Why the image could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether an image is tagged, a build parent of another, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// Has at least one tag or digest reference.
    Tagged,
    /// Untagged, but the parent of another image (`docker images -a`).
    Intermediate,
    /// Untagged and nobody's parent (`docker images -f dangling=true`).
    Dangling,
}

/// A container as its engine recorded it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Container {
    /// Container id as the store keys it (Docker, Podman: 64 hex digits).
    #[serde(rename = "container_id")]
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Which store it belongs to (`docker`, ...).
    pub store: String,
    /// Image id it was created from.
    pub image_id: String,
    /// The store label where its image is, when not its own store: a
    /// Docker container of the containerd image store has its image in
    /// `containerd/moby`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_store: Option<String>,
    /// The reference it was started with (`fixture/web:1.0`).
    pub image_ref: Option<String>,
    /// created, running, paused, restarting, exited, dead, removing.
    pub state: String,
    /// Exit code of the last run; `None` when never finished or not
    /// recorded.
    pub exit_code: Option<i64>,
    /// When it was created, RFC 3339 as the engine recorded it.
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub created: Option<String>,
    /// The last change its store recorded (containerd `updatedat`, RFC
    /// 3339), where kept.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::time::serialize_utc"
    )]
    pub updated: Option<String>,
    /// The key of the snapshot that is its writable layer (containerd),
    /// in the snapshotter `driver` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_key: Option<String>,
    /// When its main process last started (RFC 3339); `None` if never.
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub started: Option<String>,
    /// When its main process last exited (RFC 3339); `None` if never.
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub finished: Option<String>,
    /// Executable and arguments of the main process.
    pub path: Option<String>,
    /// The arguments after `path`.
    pub args: Vec<String>,
    /// Entrypoint it was created with (image's or `--entrypoint`).
    pub entrypoint: Option<Vec<String>>,
    /// Command it was created with (image's `CMD` or the one given).
    pub cmd: Option<Vec<String>>,
    /// User its processes run as (`--user`); `None` or empty: the image's.
    pub user: Option<String>,
    /// Working directory of its main process; `None`: the image's.
    pub working_dir: Option<String>,
    /// Environment of the main process, `NAME=value` each (Docker: the
    /// image's plus `--env`; Podman: the OCI spec's `process.env`).
    pub env: Vec<String>,
    /// Labels: the image's plus `--label`.
    pub labels: BTreeMap<String, String>,
    /// Hostname inside the container.
    pub hostname: Option<String>,
    /// Volumes and bind mounts.
    pub mounts: Vec<Mount>,
    /// Published ports (`-p`), one per host binding.
    pub ports: Vec<PortBinding>,
    /// Restart policy, `name` or `name:max-retries` (`on-failure:5`).
    pub restart_policy: Option<String>,
    /// Run with `--privileged`: `None` (JSON `null`) where the store
    /// records nothing about it (containerd), never a guessed `false`.
    pub privileged: Option<bool>,
    /// Capabilities added to the engine's defaults (`--cap-add`).
    pub cap_add: Vec<String>,
    /// Capabilities dropped (`--cap-drop`).
    pub cap_drop: Vec<String>,
    /// The bounding capability set of the OCI runtime spec it was
    /// created with, where the store keeps that spec (containerd,
    /// Podman); `None` when not recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// `--security-opt` values (`seccomp=unconfined`, `apparmor=...`).
    pub security_opt: Vec<String>,
    /// Network mode (`bridge`, `host`, `none`, `container:<id>`, a
    /// network name).
    pub network_mode: Option<String>,
    /// Where its log is, inside the evidence (else the path the engine
    /// recorded).
    pub log_path: Option<String>,
    /// Size of the log file in the evidence, bytes.
    pub log_size: Option<u64>,
    /// Storage driver of its writable layer.
    pub driver: Option<String>,
    /// The data root as the host saw it, from the paths the engine
    /// recorded for the container (`/tmp/docker` when its `LogPath` is
    /// `/tmp/docker/containers/<id>/<id>-json.log`), whatever directory
    /// of the evidence holds it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_data_root: Option<String>,
    /// Every host path the engine recorded for it (`LogPath`,
    /// `ResolvConfPath`, `HostnamePath`, `HostsPath`, mount sources), as
    /// recorded, beside where it was found in the evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded_paths: Vec<RecordedPath>,
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

impl Container {
    /// The main process's command line: `path`, then `args`.
    pub fn command_line(&self) -> Vec<String> {
        self.path
            .iter()
            .cloned()
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// A host path the engine recorded for a container, and where it is in
/// the evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordedPath {
    /// The engine's name for it: `LogPath`, `ResolvConfPath`,
    /// `HostnamePath`, `HostsPath`, `ShmPath`, or `MountPoints[<dest>].Source`.
    pub what: String,
    /// The path as the engine recorded it (a path on the host then).
    pub recorded: String,
    /// Where it is in the evidence (relative to the volume's root), when
    /// it is there: under the data root's directory for a path under the
    /// recorded data root, else the same path; `None` when absent.
    pub found: Option<String>,
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
    /// The containerd snapshot that holds its layers, when another store
    /// keeps them (Docker with the containerd image store); the
    /// [`crate::store::catalog::Catalog`] fills `upper` and `lowers` from
    /// the store that has it ([`crate::store::Store::snapshot_layers`]).
    pub snapshot: Option<SnapshotRef>,
}

/// A snapshot of a containerd snapshotter, as a container of another
/// store names it (moby `daemon/containerd`: the container's writable
/// layer is the snapshot keyed by the container id in namespace `moby`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotRef {
    /// Snapshotter name (`overlayfs`, `native`, ...), Docker's `Driver`.
    pub snapshotter: String,
    /// containerd namespace (`moby`).
    pub namespace: String,
    /// The snapshot key in that namespace (the container id).
    pub key: String,
}

/// The directories of one snapshot and its ancestors, as a store that
/// keeps snapshots resolves a [`SnapshotRef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLayers {
    /// The snapshot's own files (overlayfs: `snapshots/<id>/fs`).
    pub upper: EvPath,
    /// Its ancestors' directories, nearest first (an init snapshot, then
    /// the image's layers from the top down).
    pub lowers: Vec<EvPath>,
}

/// A record of the engine's about one container, exported as found.
#[derive(Debug, Clone)]
pub struct RecordedFile {
    /// The name it is written under (`config.v2.json`, `config.json`).
    pub name: String,
    /// Where its bytes are.
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
    /// The log file in the evidence.
    pub path: EvPath,
    /// How its lines are written.
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

/// A volume, bind mount or tmpfs of a container.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// Volume name, for named and anonymous volumes.
    pub name: Option<String>,
    /// The host path the engine recorded (bind source, or a volume's
    /// data directory as the host saw it).
    pub source: Option<String>,
    /// Where it is mounted inside the container.
    pub destination: String,
    /// Mounted writable (not `:ro`).
    pub read_write: bool,
    /// Where a named volume's data is in the evidence.
    #[serde(skip)]
    pub data_dir: Option<EvPath>,
}

/// A published port: container port bound to a host address and port.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PortBinding {
    /// `8080/tcp` inside the container.
    pub container_port: String,
    /// Host address it listens on (`""` or `0.0.0.0`: all).
    pub host_ip: String,
    /// Host port (`""`: chosen by the engine at start).
    pub host_port: String,
}
