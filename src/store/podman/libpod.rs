//! Podman's own state database, `<graphroot>/libpod/bolt_state.db`
//! (libpod `bolt_state.go`, `boltdb_state_internal.go`): per container,
//! `ctr/<id>/config` (the libpod `ContainerConfig` as JSON: name, labels,
//! image, created time, runtime, log path, the OCI spec) and
//! `ctr/<id>/state` (`ContainerState` JSON: `state` number, started and
//! finished times, exit code); `exit-code/<id>` holds exit codes of
//! removed sessions. State numbers (libpod `define/containerstate.go`):
//! 0 unknown, 1 configured (shown as "created"), 2 created ("initialized"),
//! 3 running, 4 stopped, 5 paused, 6 exited, 7 removing, 8 stopping.
//!
//! Read with the bbolt reader of [`crate::store::containerd::bolt`].

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
    pub exit_code: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub created: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub runtime: Option<String>,
    pub image_id: Option<String>,
    pub image_name: Option<String>,
    /// Pod id, for containers in a pod.
    pub pod: Option<String>,
    /// The OCI runtime spec kept in the config, as JSON.
    pub spec: Option<Vec<u8>>,
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

/// Go's zero time, which libpod writes for "never".
fn real_time(t: Option<String>) -> Option<String> {
    t.filter(|t| !t.starts_with("0001-01-01"))
}

/// Reads every container of `bolt_state.db`, by id. A record whose JSON
/// does not parse keeps what could be read.
pub fn read_state(
    fs: &dyn FileSystem,
    path: &EvPath,
) -> Result<BTreeMap<String, LibpodContainer>, BoltError> {
    let db = BoltDb::open(fs, path)?;
    let mut out = BTreeMap::new();
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
    let Some(ctrs) = db.bucket_path(&[b"ctr"])? else {
        return Ok(out);
    };
    for e in ctrs.iter() {
        let (id, Value::Bucket(b)) = e? else {
            continue;
        };
        let id = String::from_utf8_lossy(&id).into_owned();
        let mut c = LibpodContainer {
            id: id.clone(),
            ..Default::default()
        };
        if let Some(cfg) = b.get(b"config")?
            && let Ok(cfg) = serde_json::from_slice::<Config>(&cfg)
        {
            c.name = cfg.name;
            c.labels = cfg.labels.unwrap_or_default();
            c.created = real_time(cfg.created);
            c.runtime = cfg.runtime;
            c.image_id = cfg.image_id;
            c.image_name = cfg.image_name;
            c.pod = cfg.pod.filter(|p| !p.is_empty());
            c.spec = cfg.spec.and_then(|s| serde_json::to_vec(&s).ok());
        }
        if let Some(st) = b.get(b"state")?
            && let Ok(st) = serde_json::from_slice::<State>(&st)
        {
            c.state = st.state.map(|n| state_name(n).to_string());
            c.started = real_time(st.started);
            c.finished = real_time(st.finished);
            c.exit_code = st.exit_code;
        }
        if c.exit_code.is_none() {
            c.exit_code = exit_codes.get(&id).copied();
        }
        out.insert(id, c);
    }
    Ok(out)
}
