//! Podman's own state ("libpod state"): per container the libpod
//! `ContainerConfig` (name, labels, image, command, log path, named
//! volumes, privileged, the OCI spec it was created with; libpod
//! `container_config.go`) and `ContainerState` (state number, started and
//! finished times, exit code; libpod `container_internal.go`,
//! `define/containerstate.go`), both as JSON, and per named volume the
//! `VolumeConfig` (libpod `volume.go`: driver, mount point, created time).
//! The same JSON is kept by both database backends:
//! - Podman 4 and before: `<graphroot>/libpod/bolt_state.db`, a bbolt file
//!   (libpod `boltdb_state.go`, `boltdb_state_internal.go`):
//!   `ctr/<id>/config`, `ctr/<id>/state`, `vol/<name>/config`, and
//!   `exit-code/<id>` for exit codes of removed sessions. Read here with
//!   the bbolt reader of [`crate::store::bolt`];
//! - Podman 5: `<graphroot>/db.sql`, SQLite ([`super::sqlite`]).
//!
//! State numbers (libpod `define/containerstate.go`): 0 unknown,
//! 1 configured (shown as "created"), 2 created ("initialized"),
//! 3 running, 4 stopped, 5 paused, 6 exited, 7 removing, 8 stopping.
//!
//! Go's `encoding/json` leaves out zero values of fields tagged
//! `omitempty` (libpod's `user`, `entrypoint`, `command`, `exitCode`):
//! an absent `exitCode` of a container that has finished means 0, an
//! absent `user` means the image's user. Go's zero time
//! (`0001-01-01T00:00:00Z`) means "never".

use crate::evidence::fs::{EvPath, FileSystem};
use crate::store::bolt::{BoltDb, BoltError, Value};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What libpod knows about one container.
#[derive(Debug, Clone, Default)]
pub struct LibpodContainer {
    pub id: String,
    pub name: Option<String>,
    /// As `podman ps` shows it.
    pub state: Option<String>,
    /// Exit code of the last run: `None` when the state has none (never
    /// ran, or the state is unreadable).
    pub exit_code: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub created: Option<String>,
    /// RFC 3339, UTC; `None` when it never started.
    pub started: Option<String>,
    /// RFC 3339, UTC; `None` when it never finished.
    pub finished: Option<String>,
    pub runtime: Option<String>,
    pub image_id: Option<String>,
    pub image_name: Option<String>,
    /// Pod id, for containers in a pod.
    pub pod: Option<String>,
    /// The OCI runtime spec kept in the config, as JSON.
    pub spec: Option<Vec<u8>>,
    /// `command` of the config: the command the user gave (or the
    /// image's `Cmd`); `None` when not recorded.
    pub command: Option<Vec<String>>,
    /// `entrypoint` of the config; `None` when not recorded.
    pub entrypoint: Option<Vec<String>>,
    /// `user` of the config (`--user`); `Some("")` when the config was
    /// read and has none (Go leaves the empty string out), `None` when
    /// the config is unreadable.
    pub user: Option<String>,
    /// `privileged` of the config, where the key is present.
    pub privileged: Option<bool>,
    /// `logPath` of the config: the log file as the host saw it.
    pub log_path: Option<String>,
    /// `logDriver` of the config (`k8s-file`, `journald`, ...).
    pub log_driver: Option<String>,
    /// `staticDir` of the config (`.../overlay-containers/<id>/userdata`).
    pub static_dir: Option<String>,
    /// `namedVolumes` of the config.
    pub named_volumes: Vec<NamedVolumeRef>,
    /// `userVolumes` of the config: destinations of the mounts the user
    /// asked for (`-v`, `--mount`), named volumes included.
    pub user_volumes: Vec<String>,
    /// Records of this container that could not be read.
    pub problems: Vec<String>,
}

/// One named volume a container mounts (`namedVolumes` of its config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedVolumeRef {
    pub name: String,
    /// Where it is mounted inside the container.
    pub destination: String,
    pub options: Vec<String>,
}

/// A named volume (libpod `VolumeConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibpodVolume {
    pub name: String,
    /// `local` unless a plugin manages it.
    pub driver: Option<String>,
    /// Its data directory as the host saw it
    /// (`<graphroot>/volumes/<name>/_data`).
    pub mount_point: Option<String>,
    /// RFC 3339, UTC.
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Created for an anonymous `-v /path`.
    pub anonymous: Option<bool>,
}

/// Everything read from one libpod database.
#[derive(Debug, Clone, Default)]
pub struct LibpodState {
    /// The database file, as shown to the examiner.
    pub source: String,
    pub containers: BTreeMap<String, LibpodContainer>,
    pub volumes: BTreeMap<String, LibpodVolume>,
    /// The graph root and volume directory Podman recorded (SQLite
    /// `DBConfig`), to map recorded host paths into the evidence.
    pub graph_root: Option<String>,
    pub volume_dir: Option<String>,
    /// What the examiner should know about how it was read (a journal or
    /// write-ahead log beside the database, a table that could not be
    /// read completely).
    pub findings: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "createdTime")]
    created: Option<String>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default, rename = "rootfsImageID")]
    image_id: Option<String>,
    #[serde(default, rename = "rootfsImageName")]
    image_name: Option<String>,
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    spec: Option<serde_json::Value>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    privileged: Option<bool>,
    #[serde(default, rename = "logPath")]
    log_path: Option<String>,
    #[serde(default, rename = "logDriver")]
    log_driver: Option<String>,
    #[serde(default, rename = "staticDir")]
    static_dir: Option<String>,
    #[serde(default, rename = "namedVolumes")]
    named_volumes: Option<Vec<NamedVolumeJson>>,
    #[serde(default, rename = "userVolumes")]
    user_volumes: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct NamedVolumeJson {
    #[serde(default, rename = "volumeName")]
    name: String,
    #[serde(default)]
    dest: String,
    #[serde(default)]
    options: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    state: Option<i64>,
    #[serde(default, rename = "startedTime")]
    started: Option<String>,
    #[serde(default, rename = "finishedTime")]
    finished: Option<String>,
    #[serde(default, rename = "exitCode")]
    exit_code: Option<i64>,
}

#[derive(Deserialize)]
struct VolumeJson {
    #[serde(default, rename = "volumeDriver")]
    driver: Option<String>,
    #[serde(default, rename = "mountPoint")]
    mount_point: Option<String>,
    #[serde(default, rename = "createdAt")]
    created: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "isAnon")]
    anonymous: Option<bool>,
}

/// `podman ps` wording of a libpod state number.
pub fn state_name(n: i64) -> &'static str {
    match n {
        1 => "created",
        2 => "initialized",
        3 => "running",
        4 => "stopped",
        5 => "paused",
        6 => "exited",
        7 => "removing",
        8 => "stopping",
        _ => "unknown",
    }
}

/// A time libpod recorded, as RFC 3339 in UTC: `None` for Go's zero time
/// ("never") and for text that is no time at all. A time already in UTC
/// keeps its text (and so the precision Go wrote).
pub fn utc_time(t: Option<&str>) -> Option<String> {
    let t = t?.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    let utc = parsed.with_timezone(&chrono::Utc);
    if chrono::Datelike::year(&utc) <= 1 {
        return None;
    }
    if t.ends_with('Z') {
        Some(t.to_string())
    } else {
        Some(utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

/// A recorded time, keeping a note when it is not a time.
fn time_field(t: Option<String>, what: &str, problems: &mut Vec<String>) -> Option<String> {
    let raw = t?;
    let out = utc_time(Some(&raw));
    if out.is_none() && !raw.starts_with("0001-01-01") {
        problems.push(format!("{what} {raw:?} is not an RFC 3339 time"));
    }
    out
}

impl LibpodContainer {
    /// Builds a container from its `ContainerConfig` and `ContainerState`
    /// JSON (either may be missing); what does not parse is noted in
    /// `problems`, what does is kept. `where_` names the records for
    /// those notes.
    pub fn from_json(
        id: &str,
        config: Option<&[u8]>,
        state: Option<&[u8]>,
        where_: &str,
    ) -> LibpodContainer {
        let mut c = LibpodContainer {
            id: id.to_string(),
            ..Default::default()
        };
        match config.map(serde_json::from_slice::<Config>) {
            Some(Ok(cfg)) => {
                c.name = cfg.name.filter(|n| !n.is_empty());
                c.labels = cfg.labels.unwrap_or_default();
                c.created = time_field(cfg.created, "createdTime", &mut c.problems);
                c.runtime = cfg.runtime;
                c.image_id = cfg.image_id.filter(|i| !i.is_empty());
                c.image_name = cfg.image_name.filter(|i| !i.is_empty());
                c.pod = cfg.pod.filter(|p| !p.is_empty());
                c.spec = cfg.spec.and_then(|s| serde_json::to_vec(&s).ok());
                c.command = cfg.command;
                c.entrypoint = cfg.entrypoint;
                c.user = Some(cfg.user.unwrap_or_default());
                c.privileged = cfg.privileged;
                c.log_path = cfg.log_path.filter(|p| !p.is_empty());
                c.log_driver = cfg.log_driver.filter(|p| !p.is_empty());
                c.static_dir = cfg.static_dir.filter(|p| !p.is_empty());
                c.named_volumes = cfg
                    .named_volumes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| NamedVolumeRef {
                        name: v.name,
                        destination: v.dest,
                        options: v.options.unwrap_or_default(),
                    })
                    .collect();
                c.user_volumes = cfg.user_volumes.unwrap_or_default();
            }
            Some(Err(e)) => c
                .problems
                .push(format!("{where_}: container config is not valid JSON: {e}")),
            None => c
                .problems
                .push(format!("{where_}: no container config recorded")),
        }
        match state.map(serde_json::from_slice::<State>) {
            Some(Ok(st)) => {
                c.state = st.state.map(|n| state_name(n).to_string());
                c.started = time_field(st.started, "startedTime", &mut c.problems);
                c.finished = time_field(st.finished, "finishedTime", &mut c.problems);
                c.exit_code = st.exit_code;
            }
            Some(Err(e)) => c
                .problems
                .push(format!("{where_}: container state is not valid JSON: {e}")),
            None => c
                .problems
                .push(format!("{where_}: no container state recorded")),
        }
        c
    }

    /// Fills the exit code from a separate exit-code record (bbolt
    /// `exit-code`, SQLite `ContainerExitCode`) when the state has none,
    /// then applies Go's `omitempty`: a container that has finished and
    /// records no exit code exited 0.
    pub fn settle_exit_code(&mut self, recorded: Option<i64>) {
        if self.exit_code.is_none() {
            self.exit_code = recorded;
        }
        if self.exit_code.is_none() && matches!(self.state.as_deref(), Some("exited" | "stopped")) {
            self.exit_code = Some(0);
        }
    }
}

impl LibpodVolume {
    /// Builds a volume from its `VolumeConfig` JSON; `None` (with a note
    /// in `problems`) when it does not parse.
    pub fn from_json(
        name: &str,
        json: &[u8],
        where_: &str,
        problems: &mut Vec<String>,
    ) -> Option<LibpodVolume> {
        match serde_json::from_slice::<VolumeJson>(json) {
            Ok(v) => Some(LibpodVolume {
                name: name.to_string(),
                driver: v.driver.filter(|d| !d.is_empty()),
                mount_point: v.mount_point.filter(|m| !m.is_empty()),
                created: time_field(v.created, "createdAt", problems),
                labels: v.labels.unwrap_or_default(),
                anonymous: v.anonymous,
            }),
            Err(e) => {
                problems.push(format!(
                    "{where_}: config of volume {name:?} is not valid JSON: {e}"
                ));
                None
            }
        }
    }
}

/// Reads every container of `bolt_state.db`, by id. A record whose JSON
/// does not parse keeps what could be read.
pub fn read_state(
    fs: &dyn FileSystem,
    path: &EvPath,
) -> Result<BTreeMap<String, LibpodContainer>, BoltError> {
    read_bolt(fs, path).map(|s| s.containers)
}

/// Reads the containers and volumes of `bolt_state.db`.
pub fn read_bolt(fs: &dyn FileSystem, path: &EvPath) -> Result<LibpodState, BoltError> {
    let db = BoltDb::open(fs, path)?;
    let mut out = LibpodState {
        source: path.display(),
        ..Default::default()
    };
    let exit_codes: BTreeMap<String, i64> = match db.bucket_path(&[b"exit-code"])? {
        Some(b) => b
            .entries()?
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Data(v) => Some((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).trim().parse().ok()?,
                )),
                Value::Bucket(_) => None,
            })
            .collect(),
        None => BTreeMap::new(),
    };
    if let Some(ctrs) = db.bucket_path(&[b"ctr"])? {
        for e in ctrs.iter() {
            let (id, Value::Bucket(b)) = e? else {
                continue;
            };
            let id = String::from_utf8_lossy(&id).into_owned();
            let config = b.get(b"config")?;
            let state = b.get(b"state")?;
            let where_ = format!("{} ctr/{id}", path.display());
            let mut c =
                LibpodContainer::from_json(&id, config.as_deref(), state.as_deref(), &where_);
            c.settle_exit_code(exit_codes.get(&id).copied());
            out.containers.insert(id, c);
        }
    }
    if let Some(vols) = db.bucket_path(&[b"vol"])? {
        for e in vols.iter() {
            let (name, Value::Bucket(b)) = e? else {
                continue;
            };
            let name = String::from_utf8_lossy(&name).into_owned();
            let Some(cfg) = b.get(b"config")? else {
                continue;
            };
            let where_ = format!("{} vol/{name}", path.display());
            if let Some(v) = LibpodVolume::from_json(&name, &cfg, &where_, &mut out.findings) {
                out.volumes.insert(name, v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_and_zero_time_is_never() {
        assert_eq!(utc_time(Some("0001-01-01T00:00:00Z")), None);
        assert_eq!(
            utc_time(Some("2026-11-27T10:13:21.948458232Z")).as_deref(),
            Some("2026-11-27T10:13:21.948458232Z")
        );
        assert_eq!(
            utc_time(Some("2026-11-27T11:13:21.5+01:00")).as_deref(),
            Some("2026-11-27T10:13:21.500Z")
        );
        assert_eq!(utc_time(Some("yesterday")), None);
    }

    #[test]
    fn config_and_state_json() {
        let cfg = br#"{"name":"web","command":["sleep","1"],"privileged":false,
            "namedVolumes":[{"volumeName":"data","dest":"/data","options":["ro"]}],
            "createdTime":"2026-01-02T03:04:05Z","logPath":"/x/ctr.log"}"#;
        let st = br#"{"state":6,"startedTime":"2026-01-02T03:04:06Z","finishedTime":"0001-01-01T00:00:00Z"}"#;
        let mut c = LibpodContainer::from_json("abc", Some(cfg), Some(st), "db");
        c.settle_exit_code(None);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.state.as_deref(), Some("exited"));
        assert_eq!(c.exit_code, Some(0));
        assert_eq!(c.finished, None);
        assert_eq!(c.user.as_deref(), Some(""));
        assert_eq!(c.privileged, Some(false));
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.named_volumes[0].destination, "/data");
        // A created container has no exit code; broken JSON is a note.
        let mut c = LibpodContainer::from_json("abc", Some(b"{"), Some(br#"{"state":1}"#), "db");
        c.settle_exit_code(None);
        assert_eq!(c.exit_code, None);
        assert_eq!(c.privileged, None);
        assert_eq!(c.user, None);
        assert!(
            c.problems[0].starts_with("db: container config"),
            "{:?}",
            c.problems
        );
    }
}
