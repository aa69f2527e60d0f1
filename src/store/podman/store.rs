//! An opened containers/storage graph root: images with their config and
//! manifest big-data files, each image's layer chain (top layer →
//! `parent` links, containers/storage `layers.go`) matched to the
//! config's diff_ids, and containers with their writable layer.

use super::libpod::{LibpodContainer, LibpodState, LibpodVolume, read_bolt};
use super::records::{ContainerRecord, ImageRecord, LayerRecord, big_data_file_name};
use super::sqlite::read_sqlite;
use super::{PodmanError, PodmanRoot};
use crate::digest::{chain_ids, hex_part, sha256_hex, short_id};
use crate::evidence::fs::{EvPath, FileSystem};
use crate::store::model::{
    Image, ImageConfig, KubernetesRef, LayerSource, Mount, StoreContainer, StoreImage, StoreVolume,
    UnpackedLayer,
};
use crate::store::reference::Reference;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Record files (`images.json`, `layers.json`, `containers.json`) larger
/// than this are not believed: ~30,000 records, where parsed JSON takes
/// about three times its size in memory.
const RECORDS_LIMIT: u64 = 16 << 20;
/// Configs and manifests larger than this are not believed (real ones
/// are a few KiB).
const BIG_DATA_LIMIT: u64 = 8 << 20;
/// Container specs larger than this are not believed.
const SPEC_LIMIT: u64 = 16 << 20;
/// Longer layer chains mean a loop.
const MAX_CHAIN: usize = 1024;

/// An opened graph root.
#[derive(Debug)]
pub struct PodmanStore {
    root: PodmanRoot,
    images: Vec<ImageRecord>,
    layers: HashMap<String, LayerRecord>,
    containers: Vec<ContainerRecord>,
    libpod: BTreeMap<String, LibpodContainer>,
    /// Named volumes of libpod's state, by name.
    volumes: BTreeMap<String, LibpodVolume>,
    /// The graph root Podman recorded (SQLite `DBConfig`), if any.
    recorded_graph_root: Option<String>,
    /// Why libpod's state could not be read, if it could not.
    libpod_error: Option<String>,
    /// How libpod's state was read (a log or journal applied to a private
    /// copy, a table read only in part).
    libpod_findings: Vec<String>,
}

fn read_json<T: DeserializeOwned>(
    fs: &dyn FileSystem,
    path: &EvPath,
    missing_ok: bool,
) -> Result<Option<T>, PodmanError> {
    let bytes = match fs.read_small(path, RECORDS_LIMIT) {
        Ok(b) => b,
        Err(e) if e.is_not_found() && missing_ok => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| PodmanError::CorruptJson {
            path: path.display(),
            detail: e.to_string(),
        })
}

impl PodmanStore {
    pub(super) fn open(root: PodmanRoot) -> Result<PodmanStore, PodmanError> {
        let fs = root.fs();
        let d = root.driver.as_str();
        let images_json = root.path_of(&format!("{d}-images/images.json"));
        let images: Vec<ImageRecord> =
            read_json(fs, &images_json, false)?.ok_or_else(|| PodmanError::NotARoot {
                path: root.path.display(),
            })?;
        let layers_json = root.path_of(&format!("{d}-layers/layers.json"));
        let layers: Vec<LayerRecord> = read_json(fs, &layers_json, true)?.unwrap_or_default();
        let containers_json = root.path_of(&format!("{d}-containers/containers.json"));
        let containers: Vec<ContainerRecord> =
            read_json(fs, &containers_json, true)?.unwrap_or_default();
        let state = read_libpod(&root);
        Ok(PodmanStore {
            layers: layers.into_iter().map(|l| (l.id.clone(), l)).collect(),
            root,
            images,
            containers,
            libpod: state.containers,
            volumes: state.volumes,
            recorded_graph_root: state.graph_root,
            libpod_error: state.error,
            libpod_findings: state.findings,
        })
    }

    pub fn root(&self) -> &PodmanRoot {
        &self.root
    }

    fn fs(&self) -> &dyn FileSystem {
        self.root.fs()
    }

    /// The records of `images.json`.
    pub fn image_records(&self) -> &[ImageRecord] {
        &self.images
    }

    /// The record of layer `id` in `layers.json`.
    pub fn layer_record(&self, id: &str) -> Option<&LayerRecord> {
        self.layers.get(id)
    }

    /// The records of `containers.json`.
    pub fn container_records(&self) -> &[ContainerRecord] {
        &self.containers
    }

    /// Podman's view of the containers (from `libpod/bolt_state.db` or
    /// `db.sql`).
    pub fn libpod(&self) -> &BTreeMap<String, LibpodContainer> {
        &self.libpod
    }

    /// Podman's named volumes (from `libpod/bolt_state.db` or `db.sql`).
    pub fn libpod_volumes(&self) -> &BTreeMap<String, LibpodVolume> {
        &self.volumes
    }

    /// Why `libpod/bolt_state.db` or `db.sql` could not be read, if it
    /// could not (one line, naming the file).
    pub fn libpod_error(&self) -> Option<&str> {
        self.libpod_error.as_deref()
    }

    /// What the examiner should know about how libpod's state was read
    /// (one line each, naming the file).
    pub fn libpod_findings(&self) -> &[String] {
        &self.libpod_findings
    }

    /// Where layer `id`'s own files are, per graph driver.
    pub fn layer_dir(&self, id: &str) -> Option<EvPath> {
        let id = EvPath::parse_strict(id).filter(|p| p.components().count() == 1)?;
        let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
        let rel = match self.root.driver.as_str() {
            "vfs" => format!("vfs/dir/{id}"),
            "btrfs" => format!("btrfs/subvolumes/{id}"),
            d => format!("{d}/{id}/diff"),
        };
        self.root.path.join(rel)
    }

    /// `<driver>-layers/<id>.tar-split.gz`, if it exists.
    pub fn tar_split(&self, id: &str) -> Option<EvPath> {
        let name = format!("{id}.tar-split.gz");
        let p = self
            .root
            .path_of(&format!("{}-layers", self.root.driver.as_str()))
            .child(name.as_bytes())?;
        self.fs()
            .metadata(&p)
            .is_ok_and(|m| m.is_file())
            .then_some(p)
    }

    /// The chain ending in layer `top`, lowest layer first.
    pub fn layer_chain(&self, top: &str) -> Result<Vec<&LayerRecord>, String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(top.to_string());
        while let Some(id) = next.filter(|i| !i.is_empty()) {
            if !seen.insert(id.clone()) || out.len() >= MAX_CHAIN {
                return Err(format!("layer parents of {top} form a loop at {id}"));
            }
            let layer = self
                .layers
                .get(&id)
                .ok_or_else(|| format!("layer {id} is not in layers.json"))?;
            out.push(layer);
            next = layer.parent.clone();
        }
        out.reverse();
        Ok(out)
    }

    /// A big-data file of image `rec`.
    fn big_data_path(&self, rec: &ImageRecord, key: &str) -> Option<EvPath> {
        let dir = self
            .root
            .path_of(&format!("{}-images", self.root.driver.as_str()))
            .child(rec.id.as_bytes())?;
        dir.child(big_data_file_name(key).as_bytes())
    }

    /// Every image: id, names, created, layer count; an image whose
    /// config cannot be read is a row with `error` set.
    pub fn images(&self) -> Vec<StoreImage> {
        self.images
            .iter()
            .map(|rec| match self.content(rec) {
                Ok(img) => StoreImage {
                    store: "podman".into(),
                    id: img.id.clone(),
                    config_digest: img.config_digest.clone(),
                    names: img.names.clone(),
                    created: img.config.created.clone().or(rec.created.clone()),
                    layers: img.layers.len(),
                    manifest_digest: img.manifest_digest.clone(),
                    unresolved_target: None,
                    unpacked: img.layers.iter().all(|l| l.unpacked.is_some()),
                    error: None,
                },
                Err(e) => StoreImage {
                    store: "podman".into(),
                    id: format!("sha256:{}", rec.id),
                    config_digest: format!("sha256:{}", rec.id),
                    names: rec.names.clone(),
                    created: rec.created.clone(),
                    layers: 0,
                    manifest_digest: rec.digest.clone(),
                    unresolved_target: None,
                    unpacked: false,
                    error: Some(e.to_string()),
                },
            })
            .collect()
    }

    /// Resolves what a user typed: a stored name, a short name
    /// (`fxbase:1` matches `localhost/fxbase:1` only if unique), an id or
    /// a unique id prefix.
    pub fn image(&self, reference: &str) -> Result<Image, PodmanError> {
        let bare = hex_part(reference);
        let hits: Vec<&ImageRecord> = if let Some(r) = self
            .images
            .iter()
            .find(|i| i.id == bare || i.names.iter().any(|n| n == reference))
        {
            vec![r]
        } else {
            let mut hits: Vec<&ImageRecord> = Vec::new();
            if let Some(want) = Reference::parse(reference) {
                // Short names: compare the path and tag, ignoring the registry.
                let tail = |r: &Reference| {
                    let path = r.name.split_once('/').map_or(r.name.as_str(), |(_, p)| p);
                    let path = path.strip_prefix("library/").unwrap_or(path);
                    (path.to_string(), r.tag.clone(), r.digest.clone())
                };
                hits = self
                    .images
                    .iter()
                    .filter(|i| {
                        i.names
                            .iter()
                            .filter_map(|n| Reference::parse(n))
                            .any(|n| n == want || tail(&n) == tail(&want))
                    })
                    .collect();
            }
            if hits.is_empty() && bare.len() >= 4 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
                hits = self
                    .images
                    .iter()
                    .filter(|i| i.id.starts_with(bare))
                    .collect();
            }
            hits
        };
        match hits.as_slice() {
            [one] => self.content(one),
            [] => Err(PodmanError::UnknownImage {
                store: self.root.describe(),
                reference: reference.to_string(),
                candidates: self
                    .images
                    .iter()
                    .flat_map(|i| i.names.iter().cloned())
                    .take(20)
                    .collect(),
            }),
            many => Err(PodmanError::AmbiguousImage {
                reference: reference.to_string(),
                candidates: many.iter().map(|i| short_id(&i.id).to_string()).collect(),
            }),
        }
    }

    /// Reads the config and manifest of image `rec` and lays out its
    /// layers.
    pub fn content(&self, rec: &ImageRecord) -> Result<Image, PodmanError> {
        let image = rec.id.clone();
        let bad = |detail: String| PodmanError::BadImage {
            image: image.clone(),
            detail,
        };
        let mut problems = Vec::new();
        let id_key = format!("sha256:{}", rec.id);
        let config_key = if rec.big_data_names.contains(&id_key) || rec.big_data_names.is_empty() {
            id_key.clone()
        } else {
            rec.big_data_names
                .iter()
                .find(|k| k.starts_with("sha256:"))
                .cloned()
                .unwrap_or(id_key.clone())
        };
        let config_path = self
            .big_data_path(rec, &config_key)
            .ok_or_else(|| bad(format!("unusable image id {:?}", rec.id)))?;
        let config_bytes = self.fs().read_small(&config_path, BIG_DATA_LIMIT)?;
        let config: ImageConfig =
            crate::json::parse(&config_bytes).map_err(|e| PodmanError::CorruptJson {
                path: config_path.display(),
                detail: e.to_string(),
            })?;
        let config_verified = sha256_hex(&config_bytes) == rec.id;
        if !config_verified {
            problems.push(format!(
                "{config_path}: config hashes to sha256:{}, not to the image id",
                sha256_hex(&config_bytes)
            ));
        }
        let manifest_bytes = self
            .big_data_path(rec, "manifest")
            .and_then(|p| self.fs().read_small(&p, BIG_DATA_LIMIT).ok());
        let diff_ids = &config.rootfs.diff_ids;
        let chain = match &rec.layer {
            Some(top) => self.layer_chain(top).map_err(bad)?,
            None => Vec::new(),
        };
        if chain.len() != diff_ids.len() {
            problems.push(format!(
                "the config lists {} diff_ids, the layer chain has {} layers",
                diff_ids.len(),
                chain.len()
            ));
        }
        let mut layers = Vec::new();
        for (index, (diff_id, chain_id)) in diff_ids.iter().zip(chain_ids(diff_ids)).enumerate() {
            let unpacked = chain.get(index).and_then(|l| {
                if l.diff_digest.as_deref().is_some_and(|d| d != diff_id) {
                    problems.push(format!(
                        "layer {} records diff-digest {}, the config {diff_id}",
                        l.id,
                        l.diff_digest.as_deref().unwrap_or("")
                    ));
                }
                let dir = self.layer_dir(&l.id)?;
                if !self.fs().metadata(&dir).is_ok_and(|m| m.is_dir()) {
                    problems.push(format!("layer {} directory {dir} is missing", l.id));
                    return None;
                }
                Some(UnpackedLayer {
                    key: l.id.clone(),
                    dir,
                    tar_split: self.tar_split(&l.id),
                })
            });
            layers.push(LayerSource {
                index,
                diff_id: diff_id.clone(),
                chain_id,
                // containers/storage records the tar's length (`diff-size`).
                size: chain
                    .get(index)
                    .and_then(|l| l.diff_size)
                    .and_then(|s| u64::try_from(s).ok()),
                findings: Vec::new(),
                blob: None,
                unpacked,
            });
        }
        Ok(Image {
            digests: rec.digest.iter().cloned().collect(),
            parent: None,
            store: "podman".into(),
            config_digest: id_key.clone(),
            id: id_key,
            names: rec.names.clone(),
            config_bytes,
            config,
            config_verified,
            manifest_digest: rec.digest.clone(),
            manifest_bytes,
            layers,
            problems,
            graph: None,
        })
    }

    /// Every container, merged from `containers.json`, its `userdata`
    /// directory and libpod's state.
    /// Containers libpod knows of whose containers/storage record is
    /// gone come last, with a problem saying so.
    pub fn containers(&self) -> Vec<StoreContainer> {
        let mut out: Vec<StoreContainer> =
            self.containers.iter().map(|c| self.container(c)).collect();
        let stored: HashSet<&str> = self.containers.iter().map(|c| c.id.as_str()).collect();
        for (id, l) in &self.libpod {
            if stored.contains(id.as_str()) {
                continue;
            }
            let rec = ContainerRecord {
                id: id.clone(),
                names: Vec::new(),
                image: l.image_id.clone(),
                layer: None,
                metadata: None,
                big_data_names: Vec::new(),
                created: None,
            };
            let mut c = self.container(&rec);
            c.problems.push(
                "only in libpod's state: containers/storage has no record of it (containers.json), so its writable layer is unknown"
                    .into(),
            );
            out.push(c);
        }
        out
    }

    fn container(&self, rec: &ContainerRecord) -> StoreContainer {
        let mut problems = Vec::new();
        let lp = self.libpod.get(&rec.id);
        let meta: BTreeMap<String, serde_json::Value> = rec
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let meta_str = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let userdata = self
            .root
            .path_of(&format!("{}-containers", self.root.driver.as_str()))
            .child(rec.id.as_bytes())
            .and_then(|d| d.join("userdata"));
        let file = |name: &str| {
            userdata
                .as_ref()
                .and_then(|u| u.child(name.as_bytes()))
                .filter(|p| self.fs().metadata(p).is_ok_and(|m| m.is_file()))
        };
        let spec = file("config.json")
            .and_then(|p| self.fs().read_small(&p, SPEC_LIMIT).ok())
            .or_else(|| lp.and_then(|l| l.spec.clone()));
        let annotations: BTreeMap<String, String> = spec
            .as_deref()
            .and_then(|s| serde_json::from_slice::<serde_json::Value>(s).ok())
            .and_then(|v| serde_json::from_value(v.get("annotations")?.clone()).ok())
            .unwrap_or_default();
        let labels = lp.map(|l| l.labels.clone()).unwrap_or_default();
        let kubernetes = KubernetesRef::from_labels(&labels)
            .or_else(|| KubernetesRef::from_labels(&annotations));
        let (writable_dir, parent_dirs) = match &rec.layer {
            Some(layer) => match self.layer_chain(layer) {
                Ok(mut chain) => {
                    let top = chain.pop().and_then(|l| self.layer_dir(&l.id));
                    let parents = chain.iter().filter_map(|l| self.layer_dir(&l.id)).collect();
                    (top, parents)
                }
                Err(why) => {
                    problems.push(why);
                    (self.layer_dir(layer), Vec::new())
                }
            },
            None => (None, Vec::new()),
        };
        if lp.is_none() && self.libpod_error.is_some() {
            problems.push(format!(
                "libpod state unreadable: {}",
                self.libpod_error.as_deref().unwrap_or("")
            ));
        }
        if let Some(l) = lp {
            problems.extend(l.problems.iter().cloned());
        }
        let run = spec
            .as_deref()
            .and_then(|s| serde_json::from_slice::<SpecView>(s).ok())
            .unwrap_or_default();
        let hostname = run.hostname.clone().filter(|h| !h.is_empty());
        let process = run.process.unwrap_or_default();
        let named_volumes: Vec<StoreVolume> = lp
            .map(|l| {
                l.named_volumes
                    .iter()
                    .map(|v| self.store_volume(&v.name, &v.destination, &v.options))
                    .collect()
            })
            .unwrap_or_default();
        let mounts = lp.map(|l| {
            // As `podman inspect` lists them (libpod
            // `container_inspect.go`): named volumes, then the spec's
            // mounts at the destinations the user asked for.
            let mut m: Vec<Mount> = named_volumes
                .iter()
                .map(|v| Mount {
                    kind: "volume".into(),
                    name: Some(v.name.clone()),
                    source: v.mount_point.clone(),
                    destination: v.destination.clone(),
                    read_write: !v.options.iter().any(|o| o == "ro"),
                    data_dir: v.data_dir.clone(),
                })
                .collect();
            for sm in run.mounts.iter().flatten() {
                let Some(dest) = sm.destination.as_deref() else {
                    continue;
                };
                if l.user_volumes.iter().any(|u| u == dest)
                    && !named_volumes.iter().any(|v| v.destination == dest)
                {
                    m.push(Mount {
                        kind: sm.kind.clone().unwrap_or_else(|| "bind".into()),
                        name: None,
                        source: sm.source.clone(),
                        destination: dest.to_string(),
                        read_write: !sm.options.iter().flatten().any(|o| o == "ro"),
                        data_dir: None,
                    });
                }
            }
            m
        });
        let log = file("ctr.log").or_else(|| {
            lp.and_then(|l| l.log_path.as_deref())
                .and_then(|p| self.evidence_path(p))
                .filter(|p| self.fs().metadata(p).is_ok_and(|m| m.is_file()))
        });
        let mut args = process.args.clone();
        let path = args
            .as_mut()
            .and_then(|a| (!a.is_empty()).then(|| a.remove(0)));
        StoreContainer {
            store: "podman".into(),
            snapshotter: None,
            snapshot_key: None,
            id: rec.id.clone(),
            name: lp
                .and_then(|l| l.name.clone())
                .or_else(|| rec.names.first().cloned())
                .or_else(|| meta_str("name")),
            image: meta_str("image-name").or_else(|| lp.and_then(|l| l.image_name.clone())),
            image_id: rec
                .image
                .as_ref()
                .or(lp.and_then(|l| l.image_id.as_ref()))
                .map(|i| format!("sha256:{}", hex_part(i))),
            state: lp.and_then(|l| l.state.clone()),
            labels,
            kubernetes,
            // Podman shows libpod's creation time; containers/storage
            // records its own a little later.
            created: lp
                .and_then(|l| l.created.clone())
                .or_else(|| rec.created.clone()),
            updated: lp.and_then(|l| l.finished.clone().or(l.started.clone())),
            writable_dir,
            parent_dirs,
            spec,
            runtime: lp.and_then(|l| l.runtime.clone()),
            log,
            problems,
            exit_code: lp.and_then(|l| l.exit_code),
            started: lp.and_then(|l| l.started.clone()),
            finished: lp.and_then(|l| l.finished.clone()),
            path,
            args,
            command: lp.and_then(|l| l.command.clone()),
            entrypoint: lp.and_then(|l| l.entrypoint.clone()),
            env: process.env,
            user: lp.and_then(|l| l.user.clone()),
            working_dir: process.cwd,
            hostname,
            mounts,
            named_volumes,
            privileged: lp.and_then(|l| l.privileged),
            // libpod keeps the resulting capability set, not what was added.
            cap_add: None,
            capabilities: process.capabilities.and_then(|c| c.bounding),
            log_path: lp.and_then(|l| l.log_path.clone()),
            log_driver: lp.and_then(|l| l.log_driver.clone()),
        }
    }

    /// Named volume `name` mounted at `destination`, with its data
    /// directory in the evidence.
    fn store_volume(&self, name: &str, destination: &str, options: &[String]) -> StoreVolume {
        let v = self.volumes.get(name);
        let mount_point = v.and_then(|v| v.mount_point.clone());
        let conventional = self
            .root
            .path_of("volumes")
            .child(name.as_bytes())
            .and_then(|d| d.child(b"_data"));
        let data_dir = mount_point
            .as_deref()
            .and_then(|m| self.evidence_path(m))
            .into_iter()
            .chain(conventional)
            .find(|d| self.fs().metadata(d).is_ok_and(|m| m.is_dir()));
        StoreVolume {
            name: name.to_string(),
            destination: destination.to_string(),
            options: options.to_vec(),
            driver: v.and_then(|v| v.driver.clone()),
            mount_point,
            data_dir,
            created: v.and_then(|v| v.created.clone()),
        }
    }

    /// A host path Podman recorded, in the evidence: below the graph
    /// root when it was below the recorded one (the evidence may hold the
    /// graph root elsewhere), else the same path from the volume's root.
    fn evidence_path(&self, recorded: &str) -> Option<EvPath> {
        let graph_root = self
            .recorded_graph_root
            .as_deref()
            .unwrap_or(DEFAULT_GRAPH_ROOT)
            .trim_end_matches('/');
        if let Some(rest) = recorded
            .strip_prefix(graph_root)
            .and_then(|r| r.strip_prefix('/'))
            && let Some(p) = self.root.path.join(rest)
            && self.fs().exists(&p)
        {
            return Some(p);
        }
        EvPath::parse_strict(recorded)
    }
}

/// containers/storage's default graph root.
const DEFAULT_GRAPH_ROOT: &str = "/var/lib/containers/storage";

/// The parts of an OCI runtime spec (`config.json`) shown for a
/// container.
#[derive(Debug, Default, serde::Deserialize)]
struct SpecView {
    #[serde(default)]
    process: Option<SpecProcess>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    mounts: Option<Vec<SpecMount>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecProcess {
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    capabilities: Option<SpecCapabilities>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecCapabilities {
    #[serde(default)]
    bounding: Option<Vec<String>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecMount {
    #[serde(default)]
    destination: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    options: Option<Vec<String>>,
}

/// libpod's state as read from whichever databases the graph root holds.
struct ReadLibpod {
    containers: BTreeMap<String, LibpodContainer>,
    volumes: BTreeMap<String, LibpodVolume>,
    graph_root: Option<String>,
    error: Option<String>,
    findings: Vec<String>,
}

/// Reads `db.sql` (Podman 5) and `libpod/bolt_state.db` (Podman 4),
/// whichever are there. Where both are, Podman keeps using
/// `bolt_state.db` (libpod `runtime.go`), so its records win.
fn read_libpod(root: &PodmanRoot) -> ReadLibpod {
    let fs = root.fs();
    let sql = root.path_of("db.sql");
    let bolt = root.path_of("libpod/bolt_state.db");
    let mut out = ReadLibpod {
        containers: BTreeMap::new(),
        volumes: BTreeMap::new(),
        graph_root: None,
        error: None,
        findings: Vec::new(),
    };
    let mut errors = Vec::new();
    let merge = |s: LibpodState, out: &mut ReadLibpod| {
        out.containers.extend(s.containers);
        out.volumes.extend(s.volumes);
        out.graph_root = out.graph_root.take().or(s.graph_root);
        out.findings.extend(s.findings);
    };
    let (has_sql, has_bolt) = (fs.exists(&sql), fs.exists(&bolt));
    if has_sql {
        match read_sqlite(fs, &sql) {
            Ok(s) => merge(s, &mut out),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if has_bolt {
        match read_bolt(fs, &bolt) {
            Ok(s) => merge(s, &mut out),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if has_sql && has_bolt {
        out.findings.push(format!(
            "both {sql} and {bolt} are here; Podman uses {bolt} while it exists, so its records are shown where both have a container"
        ));
    }
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}
