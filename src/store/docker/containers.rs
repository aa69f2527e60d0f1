//! Containers of a Docker data root: `containers/<id>/config.v2.json`
//! and `hostconfig.json` (moby `container/container.go`, `api/types/
//! container/hostconfig.go`), and the layer store's record of each
//! container's writable layer (`image/<driver>/layerdb/mounts/<id>/`
//! with `mount-id`, `init-id`, `parent`). With the containerd image
//! store (moby `daemon/snapshotter`) `Driver` names a snapshotter and the
//! layers are the containerd snapshot keyed by the container id in
//! namespace `moby`: the container gets a [`SnapshotRef`] instead.

use super::{DataRoot, Layout, MOBY_NAMESPACE};
use crate::digest::{chain_ids, hex_part};
use crate::evidence::fs::{EvPath, FileKind};
use crate::store::StoreError;
use crate::store::model::{
    Container, ContainerLayers, ContainerLog, LogFormat, Mount, PortBinding, RecordedContent,
    RecordedFile, RecordedPath, SnapshotRef,
};
use serde::Deserialize;
use std::collections::BTreeMap;

const JSON_LIMIT: u64 = 16 << 20;
/// Go's zero time, which Docker writes for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ConfigV2 {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    state: StateV2,
    #[serde(default)]
    config: Option<RunConfigV2>,
    #[serde(default)]
    mount_points: BTreeMap<String, MountPointV2>,
    #[serde(default)]
    log_path: Option<String>,
    #[serde(default)]
    resolv_conf_path: Option<String>,
    #[serde(default)]
    hostname_path: Option<String>,
    #[serde(default)]
    hosts_path: Option<String>,
    #[serde(default)]
    shm_path: Option<String>,
    /// Before Docker 1.8: destination → host path of each volume.
    #[serde(default)]
    volumes: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "VolumesRW")]
    volumes_rw: Option<BTreeMap<String, bool>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct StateV2 {
    #[serde(default)]
    running: bool,
    #[serde(default)]
    paused: bool,
    #[serde(default)]
    restarting: bool,
    #[serde(default)]
    dead: bool,
    #[serde(default)]
    removal_in_progress: bool,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RunConfigV2 {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct MountPointV2 {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default, rename = "RW")]
    rw: bool,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct HostConfig {
    #[serde(default)]
    network_mode: Option<String>,
    #[serde(default)]
    port_bindings: Option<BTreeMap<String, Option<Vec<HostPort>>>>,
    #[serde(default)]
    restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    privileged: Option<bool>,
    #[serde(default)]
    cap_add: Option<Vec<String>>,
    #[serde(default)]
    cap_drop: Option<Vec<String>>,
    #[serde(default)]
    security_opt: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct HostPort {
    #[serde(default)]
    host_ip: String,
    #[serde(default)]
    host_port: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RestartPolicy {
    #[serde(default)]
    name: String,
    #[serde(default)]
    maximum_retry_count: i64,
}

impl DataRoot {
    fn containers_dir(&self) -> EvPath {
        self.path.join("containers").unwrap_or_default()
    }

    /// Ids of every container directory.
    pub fn container_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.containers_dir();
        let entries = match self.fs().read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids: Vec<String> = entries
            .into_iter()
            .filter(|e| e.kind == FileKind::Dir)
            .filter_map(|e| String::from_utf8(e.name).ok())
            .filter(|n| crate::digest::is_sha256_hex(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The container files `config.v2.json` and `hostconfig.json`.
    pub fn container_file(&self, id: &str, name: &str) -> EvPath {
        self.containers_dir()
            .join(format!("{id}/{name}"))
            .unwrap_or_default()
    }

    /// Loads one container, with where its layers, records and log are.
    pub fn load_container(&self, id: &str) -> Result<Container, StoreError> {
        let cfg_path = self.container_file(id, self.container_config_name());
        let bytes = self.fs().read_small(&cfg_path, JSON_LIMIT)?;
        let run_config = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("Config").cloned());
        let c: ConfigV2 = crate::json::parse(&bytes).map_err(|e| StoreError::CorruptJson {
            path: cfg_path.display(),
            detail: e.to_string(),
        })?;
        let host_path = self.container_file(id, "hostconfig.json");
        let host: HostConfig = match self.fs().read_small(&host_path, JSON_LIMIT) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StoreError::CorruptJson {
                path: host_path.display(),
                detail: e.to_string(),
            })?,
            Err(e) if e.is_not_found() => HostConfig::default(),
            Err(e) => return Err(e.into()),
        };
        let never = |t: &Option<String>| t.clone().filter(|t| !t.is_empty() && t != ZERO_TIME);
        let st = &c.state;
        let started = never(&st.started_at);
        let state = if st.removal_in_progress {
            "removing"
        } else if st.running && st.paused {
            "paused"
        } else if st.running && st.restarting {
            "restarting"
        } else if st.running {
            "running"
        } else if st.dead {
            "dead"
        } else if started.is_none() {
            "created"
        } else {
            "exited"
        };
        let recorded: Vec<(String, String)> = [
            ("LogPath", &c.log_path),
            ("ResolvConfPath", &c.resolv_conf_path),
            ("HostnamePath", &c.hostname_path),
            ("HostsPath", &c.hosts_path),
            ("ShmPath", &c.shm_path),
        ]
        .into_iter()
        .filter_map(|(what, p)| Some((what.to_string(), p.clone().filter(|p| !p.is_empty())?)))
        .chain(c.mount_points.iter().filter_map(|(dest, m)| {
            let src = m.source.clone().filter(|s| !s.is_empty())?;
            Some((format!("MountPoints[{dest}].Source"), src))
        }))
        .chain(
            c.volumes
                .iter()
                .flatten()
                .filter(|(_, src)| !src.is_empty())
                .map(|(dest, src)| (format!("Volumes[{dest}]"), src.clone())),
        )
        .collect();
        // Docker before 1.8 kept volumes as destination → host path.
        let old_volumes: Vec<Mount> = c
            .volumes
            .iter()
            .flatten()
            .filter(|_| c.mount_points.is_empty())
            .map(|(dest, src)| Mount {
                kind: if src.contains("/vfs/dir/") || src.contains("/volumes/") {
                    "volume".into()
                } else {
                    "bind".into()
                },
                name: None,
                source: Some(src.clone()).filter(|s| !s.is_empty()),
                destination: dest.clone(),
                read_write: c
                    .volumes_rw
                    .as_ref()
                    .and_then(|rw| rw.get(dest).copied())
                    .unwrap_or(true),
                data_dir: None,
            })
            .collect();
        let recorded_root = recorded_data_root(id, &recorded);
        let recorded_paths = recorded
            .into_iter()
            .map(|(what, p)| RecordedPath {
                found: self.found_at(recorded_root.as_deref(), &p),
                what,
                recorded: p,
            })
            .collect();
        let run = c.config.unwrap_or_default();
        let log_name = format!("{id}-json.log");
        let log = self.container_file(id, &log_name);
        let log_meta = self.fs().metadata(&log);
        let log_size = log_meta.as_ref().ok().map(|m| m.size);
        let log_kept = !matches!(&log_meta, Err(e) if e.is_not_found());
        let mut ports: Vec<PortBinding> = Vec::new();
        for (port, binds) in host.port_bindings.unwrap_or_default() {
            for b in binds.unwrap_or_default() {
                ports.push(PortBinding {
                    container_port: port.clone(),
                    host_ip: b.host_ip,
                    host_port: b.host_port,
                });
            }
        }
        let mut container = Container {
            id: if c.id.is_empty() {
                id.to_string()
            } else {
                c.id
            },
            name: c.name.trim_start_matches('/').to_string(),
            store: "docker".into(),
            image_id: c.image,
            image_ref: run.image,
            state: state.into(),
            exit_code: st.exit_code,
            created: c.created,
            started,
            finished: never(&st.finished_at),
            path: c.path,
            args: c.args,
            entrypoint: run.entrypoint,
            cmd: run.cmd,
            user: run.user.filter(|u| !u.is_empty()),
            working_dir: run.working_dir.filter(|w| !w.is_empty()),
            env: run.env.unwrap_or_default(),
            labels: run.labels.unwrap_or_default(),
            hostname: run.hostname,
            mounts: c
                .mount_points
                .into_iter()
                .map(|(dest, m)| Mount {
                    kind: m.kind.unwrap_or_else(|| {
                        if m.name.is_some() {
                            "volume".into()
                        } else {
                            "bind".into()
                        }
                    }),
                    name: m.name.filter(|n| !n.is_empty()),
                    source: m.source.filter(|s| !s.is_empty()),
                    destination: m.destination.unwrap_or(dest),
                    read_write: m.rw,
                    data_dir: None,
                })
                .chain(old_volumes)
                .collect(),
            ports,
            restart_policy: host.restart_policy.map(|r| {
                if r.maximum_retry_count > 0 {
                    format!("{}:{}", r.name, r.maximum_retry_count)
                } else {
                    r.name
                }
            }),
            privileged: host.privileged,
            cap_add: host.cap_add.unwrap_or_default(),
            cap_drop: host.cap_drop.unwrap_or_default(),
            security_opt: host.security_opt.unwrap_or_default(),
            network_mode: host.network_mode,
            log_path: log_size.map(|_| log.display()).or(c.log_path),
            log_size,
            driver: c.driver,
            recorded_data_root: recorded_root,
            recorded_paths,
            records: [self.container_config_name(), "hostconfig.json"]
                .into_iter()
                .map(|name| RecordedFile {
                    name: name.into(),
                    content: RecordedContent::File(self.container_file(id, name)),
                })
                .collect(),
            log: log_kept.then_some(ContainerLog {
                path: log,
                format: LogFormat::JsonFile,
                name: log_name,
            }),
            run_config,
            ..Default::default()
        };
        for m in &mut container.mounts {
            if m.kind == "volume" {
                m.data_dir = m.name.as_deref().and_then(|n| self.volume_dir(n));
            }
        }
        if self.driver_is_snapshotter(container.driver.as_deref()) {
            container.image_store = Some(format!("containerd/{MOBY_NAMESPACE}"));
        }
        match self.container_layers(&container) {
            Ok(layers) => container.layers = layers,
            Err(e) => container.layers.unresolved = Some(e.to_string()),
        }
        Ok(container)
    }

    /// The writable layer and the layers below it (moby
    /// `layer/mounted_layer.go`: the init layer sits between the image and
    /// the container's own layer).
    pub fn container_layers(&self, c: &Container) -> Result<ContainerLayers, StoreError> {
        if self.layout == Layout::Graph {
            return self.v1_container_layers(c);
        }
        let driver = c.driver.as_deref();
        if self.driver_is_snapshotter(driver) {
            // moby `daemon/snapshotter`: the writable layer is the
            // snapshot keyed by the container id in namespace `moby`.
            let snapshotter = driver.unwrap_or_default().to_string();
            return Ok(ContainerLayers {
                unresolved: Some(format!(
                    "its layers are snapshot {} of containerd snapshotter {snapshotter} (namespace {MOBY_NAMESPACE}), not looked up",
                    c.id
                )),
                snapshot: Some(SnapshotRef {
                    snapshotter,
                    namespace: MOBY_NAMESPACE.to_string(),
                    key: c.id.clone(),
                }),
                ..Default::default()
            });
        }
        if let Some(d) = driver.filter(|d| !d.is_empty() && *d != self.driver) {
            return Ok(ContainerLayers {
                unresolved: Some(format!(
                    "its driver {d} names no store here (the data root {} has no image/{d})",
                    self.describe()
                )),
                ..Default::default()
            });
        }
        let mounts = self.image_path(&format!("layerdb/mounts/{}", c.id));
        let read = |name: &str| -> Option<String> {
            let p = mounts.child(name.as_bytes())?;
            let b = self.fs().read_small(&p, 4096).ok()?;
            Some(String::from_utf8_lossy(&b).trim().to_string()).filter(|s| !s.is_empty())
        };
        let upper = read("mount-id").and_then(|m| self.driver_dir(&m));
        let unresolved = upper.is_none().then(|| {
            format!(
                "the layer store has no record of its writable layer (layerdb/mounts/{}/mount-id)",
                c.id
            )
        });
        let mut lowers = Vec::new();
        if let Some(init) = read("init-id").and_then(|i| self.driver_dir(&i)) {
            lowers.push(init);
        }
        // The image's layers: from the mount's parent chain id downwards
        // (or from the image config when the mount record is gone).
        let mut chain = read("parent");
        if chain.is_none()
            && let Ok(img) = self.load_image(&c.image_id, &Default::default())
        {
            chain = chain_ids(&img.config.rootfs.diff_ids).pop();
        }
        let mut seen = 0;
        while let Some(ch) = chain.take() {
            seen += 1;
            if seen > 1000 {
                return Err(StoreError::BadImage {
                    image: c.image_id.clone(),
                    detail: "layer parent chain loops".into(),
                });
            }
            let entry = self.image_path(&format!("layerdb/sha256/{}", hex_part(&ch)));
            let file = |n: &str| {
                entry
                    .child(n.as_bytes())
                    .and_then(|p| self.fs().read_small(&p, 4096).ok())
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let cache = file("cache-id").ok_or_else(|| StoreError::LayerMissing {
                image: c.image_id.clone(),
                index: 0,
                diff_id: ch.clone(),
                detail: format!("no cache-id in {entry}"),
            })?;
            if let Some(d) = self.driver_dir(&cache) {
                // overlay (v1): a layer's `root` holds the whole image up
                // to it; the layers below are not part of the mount.
                let whole = self.driver == "overlay" && d.file_name() == b"root";
                lowers.push(d);
                if whole {
                    break;
                }
            }
            chain = file("parent");
        }
        Ok(ContainerLayers {
            upper,
            lowers,
            unresolved,
            runtime_paths: &[],
            snapshot: None,
        })
    }

    /// Whether a container `Driver` is a containerd snapshotter rather
    /// than one of this data root's graph drivers: the names only
    /// snapshotters use, or any name without an `image/<driver>` store
    /// here (`btrfs`, `zfs` and `fuse-overlayfs` are both).
    pub fn driver_is_snapshotter(&self, driver: Option<&str>) -> bool {
        const GRAPH_ONLY: [&str; 7] = [
            "overlay2",
            "overlay",
            "aufs",
            "vfs",
            "devicemapper",
            "windowsfilter",
            "lcow",
        ];
        let Some(d) = driver.filter(|d| !d.is_empty()) else {
            return false;
        };
        if GRAPH_ONLY.contains(&d) {
            return false;
        }
        let own = self
            .path
            .join(format!("image/{d}"))
            .is_some_and(|p| self.fs().metadata(&p).is_ok_and(|m| m.is_dir()));
        !own
    }

    /// The container's own record: `config.v2.json`, `config.json`
    /// before Docker 1.10.
    pub fn container_config_name(&self) -> &'static str {
        match self.layout {
            Layout::ImageDb => "config.v2.json",
            Layout::Graph => "config.json",
        }
    }

    /// Before Docker 1.10 the driver keys a container's layers by its
    /// id: `<id>` writable, `<id>-init` the init layer, then the image's
    /// v1 chain (moby v1.9 `daemon/daemon.go` `createRootfs`).
    fn v1_container_layers(&self, c: &Container) -> Result<ContainerLayers, StoreError> {
        let upper = self.driver_dir(&c.id).filter(|d| self.fs().exists(d));
        let unresolved = upper.is_none().then(|| {
            format!(
                "its writable layer {}/{} is not in the evidence",
                self.driver, c.id
            )
        });
        let mut lowers: Vec<EvPath> = self
            .driver_dir(&format!("{}-init", c.id))
            .filter(|d| self.fs().exists(d))
            .into_iter()
            .collect();
        for img in self.v1_chain(&c.image_id)? {
            if let Some(d) = self.driver_dir(&img.id) {
                lowers.push(d);
            }
        }
        Ok(ContainerLayers {
            upper,
            lowers,
            unresolved,
            runtime_paths: &[],
            snapshot: None,
        })
    }

    /// Where a host path the engine recorded is in the evidence: below
    /// this data root's directory when it is below the data root as
    /// recorded (`recorded_root`), else the same path on this volume;
    /// `None` when nothing is there.
    fn found_at(&self, recorded_root: Option<&str>, recorded: &str) -> Option<String> {
        let rel = recorded_root
            .and_then(|r| recorded.strip_prefix(r))
            .and_then(|rest| rest.strip_prefix('/'));
        let at = match rel {
            Some(rel) => self.path.join(rel)?,
            None => EvPath::parse_strict(recorded)?,
        };
        self.fs().exists(&at).then(|| at.display())
    }

    /// A named volume's data directory.
    pub fn volume_dir(&self, name: &str) -> Option<EvPath> {
        self.path.join(format!("volumes/{name}/_data"))
    }
}

/// The data root as the host saw it: what precedes
/// `/containers/<id>/` in the paths the engine recorded for container
/// `id` (moby `daemon/container.go`: `<root>/containers/<id>/...`).
fn recorded_data_root(id: &str, recorded: &[(String, String)]) -> Option<String> {
    let marker = format!("/containers/{id}/");
    recorded.iter().find_map(|(_, p)| {
        let at = p.find(&marker)?;
        let root = p.get(..at)?;
        Some(if root.is_empty() { "/" } else { root }.to_string())
    })
}

#[cfg(test)]
mod recorded_tests {
    use super::recorded_data_root;

    #[test]
    fn the_data_root_is_what_precedes_containers_id() {
        let rec = |p: &str| vec![("LogPath".to_string(), p.to_string())];
        assert_eq!(
            recorded_data_root("abc", &rec("/tmp/docker/containers/abc/abc-json.log")).as_deref(),
            Some("/tmp/docker")
        );
        assert_eq!(
            recorded_data_root("abc", &rec("/srv/containers/xyz/x.log")),
            None
        );
        assert_eq!(recorded_data_root("abc", &[]), None);
    }
}
