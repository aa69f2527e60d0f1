//! `export-container`: everything an examiner takes away about one
//! container, in `OUTPUT_DIR/container_<12 hex>/`:
//! - `changes.tar`: its writable layer as an image layer (whiteouts
//!   converted, as `docker commit` writes it);
//! - `committed.tar`: its image plus that layer, with the config `docker
//!   commit` would write (moby `daemon/commit.go`: the container's
//!   `Config`, a history entry, the new diff_id), loadable by `docker load`;
//! - `config.v2.json`, `hostconfig.json` as found; `logs.txt` rendered
//!   from the json-file log, and the raw log;
//! - `volumes/<name>.tar` for each named volume it used;
//! - `report.json` and `SHA256SUMS`.

use super::archive::ArchiveLayer;
use super::logs::{LogSummary, render};
use super::{ExportError, out_err, write_file};
use crate::evidence::fs::EvPath;
use crate::layer::diff::{Change, changes};
use crate::layer::{LayerDir, hashed, produce, retar};
use crate::report::{Finding, FindingKind, LayerReport};
use crate::store::StoreError;
use crate::store::docker::DataRoot;
use crate::store::model::Container;
use rayon::prelude::*;
use serde::Serialize;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What `report.json` of a container export says.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerReport {
    pub tool: String,
    pub evidence: String,
    pub data_root: String,
    pub container: Container,
    /// `docker diff` of the container.
    pub diff: Vec<String>,
    /// sha256 of `changes.tar` (the new layer's diff_id).
    pub changes_sha256: Option<String>,
    /// Image id `docker load` of `committed.tar` reports, and its tag.
    pub committed_image_id: Option<String>,
    pub committed_tag: Option<String>,
    /// The image's layers as put into `committed.tar`.
    pub image_layers: Vec<LayerReport>,
    pub log: Option<LogSummary>,
    pub volumes: Vec<String>,
    pub findings: Vec<Finding>,
    /// Every image layer verified and nothing found.
    pub verified: bool,
}

/// The directory a container is written to.
pub fn container_dir(out: &Path, c: &Container) -> PathBuf {
    out.join(format!("container_{}", c.id.get(..12).unwrap_or(&c.id)))
}

/// Exports one container.
pub fn export_container(
    root: &DataRoot,
    c: &Container,
    out: &Path,
    force: bool,
    evidence: &str,
) -> Result<ContainerReport, ExportError> {
    let dir = container_dir(out, c);
    super::output::in_fresh_dir(&dir, force, |dir| write_container(root, c, dir, evidence))
}

fn write_container(
    root: &DataRoot,
    c: &Container,
    dir: &Path,
    evidence: &str,
) -> Result<ContainerReport, ExportError> {
    let fs_ = root.fs();
    let mut findings = Vec::new();
    let mut sums: Vec<(String, String)> = Vec::new();

    // Configs as found.
    for name in ["config.v2.json", "hostconfig.json"] {
        match fs_.read_small(&root.container_file(&c.id, name), 64 << 20) {
            Ok(bytes) => sums.push(write_file(dir, name, &bytes)?),
            Err(e) => findings.push(Finding::new(
                FindingKind::FileMissing,
                Some(name.into()),
                e.to_string(),
            )),
        }
    }

    // The writable layer: diff and changes.tar.
    let layers = root.container_layers(c)?;
    let upper = layers.upper.clone().filter(|u| fs_.exists(u));
    let (diff, changes_sha) = match &upper {
        Some(u) => {
            let list: Vec<String> = changes(fs_, u, &layers.lowers)
                .map_err(StoreError::from)?
                .iter()
                .map(Change::to_string)
                .collect();
            let path = dir.join("changes.tar");
            let file =
                BufWriter::with_capacity(1 << 20, File::create(&path).map_err(out_err(&path))?);
            let (mut w, written) = hashed(file, None, |w| {
                retar(LayerDir { fs: fs_, dir: u }, w, &|_| {})
                    .map(|(_, written)| written)
                    .map_err(|e| io::Error::other(e.to_string()))
            })
            .map_err(out_err(&path))?;
            w.flush().map_err(out_err(&path))?;
            findings.extend(written.findings);
            sums.push((written.sha256.clone(), "changes.tar".into()));
            (list, Some((written.sha256, written.size)))
        }
        None if c.state == "created" => (Vec::new(), None),
        None => {
            findings.push(Finding::new(
                FindingKind::LayerMissing,
                layers.upper.as_ref().map(EvPath::display),
                "the container's writable layer is missing",
            ));
            (Vec::new(), None)
        }
    };

    // committed.tar: the image's layers, then the container's.
    let mut image_layers = Vec::new();
    let mut committed = None;
    let mut tag = None;
    if let Some((sha, size)) = &changes_sha {
        let image = root.load_image(&c.image_id, &root.references()?)?;
        let locs = root.locate_layers(&image)?;
        let tmp = dir.join(".image-layers");
        fs::create_dir_all(&tmp).map_err(out_err(&tmp))?;
        let produced: Vec<(LayerReport, ArchiveLayer)> = locs
            .into_par_iter()
            .map(|loc| {
                let file = tmp.join(format!("layer_{}.tar", loc.index));
                let input = super::layer_input(root, &loc, false);
                let open = || File::create(&file).map(|f| BufWriter::with_capacity(1 << 20, f));
                let (mut w, p) =
                    produce(input, open, None, &|_| {}).map_err(|source| ExportError::Layer {
                        image: image.id.clone(),
                        index: loc.index,
                        source,
                    })?;
                w.flush().map_err(out_err(&file))?;
                let al = ArchiveLayer {
                    sha256: p.written.sha256.clone(),
                    size: p.written.size,
                    file: file.clone(),
                };
                Ok((super::layer_report(&loc, p), al))
            })
            .collect::<Result<_, ExportError>>()?;
        let mut archive_layers = Vec::new();
        for (r, al) in produced {
            image_layers.push(r);
            archive_layers.push(al);
        }
        archive_layers.push(ArchiveLayer {
            sha256: sha.clone(),
            size: *size,
            file: dir.join("changes.tar"),
        });
        let config = commit_config(root, c, &image.config_bytes, &archive_layers)?;
        let (line, id, t) =
            super::output::write_committed(dir, &config, &archive_layers, &c.name, &c.id)?;
        sums.push(line);
        let _ = fs::remove_dir_all(&tmp);
        committed = Some(id);
        tag = Some(t);
    }

    // Logs.
    let log_path = root.container_file(&c.id, &format!("{}-json.log", c.id));
    let log = match fs_.metadata(&log_path) {
        Ok(_) => {
            let written = super::output::write_log(
                fs_,
                &log_path,
                dir,
                &format!("{}-json.log", c.id),
                |r, w| render(r, w),
            )?;
            sums.extend(written.sums);
            findings.extend(written.finding);
            Some(written.summary)
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            findings.push(Finding::new(
                FindingKind::FileUnreadable,
                Some(log_path.display()),
                e.to_string(),
            ));
            None
        }
    };

    // Named volumes.
    let mut volumes = Vec::new();
    for m in c.mounts.iter().filter(|m| m.kind == "volume") {
        let Some(name) = &m.name else { continue };
        let Some(vdir) = root.volume_dir(name).filter(|d| fs_.exists(d)) else {
            findings.push(Finding::new(
                FindingKind::FileMissing,
                Some(format!("volumes/{name}")),
                "volume data directory missing",
            ));
            continue;
        };
        let vd = dir.join("volumes");
        fs::create_dir_all(&vd).map_err(out_err(&vd))?;
        let rel = format!("volumes/{name}.tar");
        let path = dir.join(&rel);
        let file = BufWriter::new(File::create(&path).map_err(out_err(&path))?);
        let made = hashed(file, None, |w| {
            retar(
                LayerDir {
                    fs: fs_,
                    dir: &vdir,
                },
                w,
                &|_| {},
            )
            .map(|(_, written)| written)
            .map_err(|e| io::Error::other(e.to_string()))
        });
        match made {
            Ok((mut w, written)) => {
                w.flush().map_err(out_err(&path))?;
                findings.extend(written.findings);
                sums.push((written.sha256, rel));
                volumes.push(name.clone());
            }
            Err(e) => findings.push(Finding::new(
                FindingKind::FileUnreadable,
                Some(format!("volumes/{name}")),
                e.to_string(),
            )),
        }
    }

    let verified = findings.is_empty()
        && image_layers
            .iter()
            .all(|l| l.verified && l.findings.is_empty());
    let report = ContainerReport {
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: evidence.to_string(),
        data_root: root.describe(),
        container: c.clone(),
        diff,
        changes_sha256: changes_sha.map(|(s, _)| s),
        committed_image_id: committed,
        committed_tag: tag,
        image_layers,
        log,
        volumes,
        findings,
        verified,
    };
    super::close_dir(dir, &report, sums)?;
    Ok(report)
}

/// The config `docker commit` writes: the image's, with the container's
/// run config, a history entry, and the new layer's diff_id.
fn commit_config(
    root: &DataRoot,
    c: &Container,
    image_config: &[u8],
    layers: &[ArchiveLayer],
) -> Result<Vec<u8>, ExportError> {
    let path = root.container_file(&c.id, "config.v2.json");
    let v2: serde_json::Value = serde_json::from_slice(
        &root
            .fs()
            .read_small(&path, 64 << 20)
            .map_err(StoreError::from)?,
    )
    .map_err(|e| StoreError::CorruptJson {
        path: path.display(),
        detail: e.to_string(),
    })?;
    let mut cfg: serde_json::Value =
        serde_json::from_slice(image_config).map_err(|e| StoreError::CorruptJson {
            path: c.image_id.clone(),
            detail: e.to_string(),
        })?;
    let when = c
        .finished
        .clone()
        .or_else(|| c.started.clone())
        .or_else(|| c.created.clone())
        .unwrap_or_default();
    let created_by: Vec<String> = c
        .path
        .iter()
        .cloned()
        .chain(c.args.iter().cloned())
        .collect();
    if let Some(o) = cfg.as_object_mut() {
        if let Some(run) = v2.get("Config") {
            o.insert("config".into(), run.clone());
            o.insert("container_config".into(), run.clone());
        }
        o.insert("container".into(), c.id.clone().into());
        o.insert("created".into(), when.clone().into());
        let entry = serde_json::json!({
            "created": when,
            "created_by": created_by.join(" "),
            "comment": format!("docker-forensics export of container {} ({})", c.name, c.id),
        });
        match o.get_mut("history").and_then(|h| h.as_array_mut()) {
            Some(h) => h.push(entry),
            None => {
                o.insert("history".into(), serde_json::json!([entry]));
            }
        }
        let ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", l.sha256))
            .collect();
        o.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": ids}),
        );
    }
    Ok(serde_json::to_vec(&cfg).unwrap_or_default())
}
