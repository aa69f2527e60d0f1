//! `export-container`: everything an examiner takes away about one
//! container of any store, in `OUTPUT_DIR/container_<12 hex>/`:
//! - `changes.tar`: its writable layer as an image layer; for a Docker
//!   container, byte for byte the layer `docker commit` (moby 20.10)
//!   writes, so its sha256 is the diff_id Docker's commit gives
//!   ([`crate::layer::dockertar`]): overlay2 and aufs tar the writable
//!   layer (without the init layer below it, nor aufs bookkeeping),
//!   overlay v1 tars the `docker diff` list;
//! - `export.tar` with `--flat`: the container's whole filesystem as
//!   `docker export` writes it;
//! - `committed.tar`: its image plus that layer, with the config `docker
//!   commit` would write (moby `daemon/commit.go`: the container's
//!   `Config`, a history entry, the new diff_id), loadable by `docker load`;
//! - the engine's records as found (`config.v2.json`, `hostconfig.json`
//!   for Docker; the OCI runtime spec `config.json` for containerd and
//!   Podman); `logs.txt` rendered from its log, and the raw log;
//! - `volumes/<name>.tar` for each named volume it used;
//! - `report.json` and `SHA256SUMS`.

use super::archive::ArchiveLayer;
use super::docker_version::docker_form;
use super::error::{ExportError, ExportOptions, out_err};
use super::logs::{LogSummary, render_as};
use super::output::{close_dir, in_fresh_dir, write_committed, write_file, write_log};
use super::progress::Bar;
use super::source::{Failure, Tee, prepare_layer, write_layer};
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileSystem};
use crate::layer::diff::{Change, container_changes};
use crate::layer::dockertar::{Union, changes_tar, merged_tar, upper_tar};
use crate::layer::merged::Whiteouts;
use crate::layer::usernames::UserNames;
use crate::layer::{LayerDir, RetarError, Written, hashed, retar};
use crate::pipe::FanOut;
use crate::report::{Finding, FindingKind, LayerReport};
use crate::store::catalog::{Catalog, FoundContainer, StoreFilter};
use crate::store::model::{Container, RecordedContent};
use rayon::prelude::*;
use serde::Serialize;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Records larger than this are not believed.
const RECORD_LIMIT: u64 = 64 << 20;

/// What `report.json` of a container export says.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerReport {
    /// `docker-forensics/1`: the schema of this document.
    pub schema: crate::schema::Schema,
    /// `docker-forensics <version>` that wrote the report.
    pub tool: String,
    /// How the tool was run (command line, examiner's host, start time,
    /// `--verify-image` verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<super::RunRecord>,
    /// The evidence as the examiner named it.
    pub evidence: String,
    /// Where the container's store is (volume, path, driver, why).
    pub data_root: crate::store::DataRootRef,
    /// The same, typed: evidence file → partition → LV → filesystem →
    /// the store's directory.
    pub source: crate::evidence::provenance::Location,
    /// The container as its engine recorded it.
    pub container: Container,
    /// The engine's `diff` of the container, one object per change.
    pub diff: Vec<Change>,
    /// sha256 of `changes.tar` (the new layer's diff_id).
    #[serde(serialize_with = "crate::schema::sha256_opt")]
    pub changes_sha256: Option<String>,
    /// How `changes.tar` was written (which of Docker's ways, or a
    /// rebuild of the writable layer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_written_as: Option<String>,
    /// Where the user and group names in `changes.tar` came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_user_names: Option<String>,
    /// sha256 of `export.tar` (`--flat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::schema::sha256_opt")]
    pub export_sha256: Option<String>,
    /// Where the user and group names in `export.tar` came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_user_names: Option<String>,
    /// Image id `docker load` of `committed.tar` reports, and its tag.
    pub committed_image_id: Option<String>,
    /// The tag given to it, `forensics/<container name>:<12 hex of id>`.
    pub committed_tag: Option<String>,
    /// The image's layers as put into `committed.tar`.
    pub image_layers: Vec<LayerReport>,
    /// What was read from its log (lines, time span), if it has one.
    pub log: Option<LogSummary>,
    /// Named volumes written to `volumes/<file>.tar`: each volume's name
    /// as the engine recorded it and the portable file name it got.
    pub volumes: Vec<VolumeFile>,
    /// What could not be exported or did not check out.
    pub findings: Vec<Finding>,
    /// Every image layer verified and nothing found.
    pub verified: bool,
}

/// A named volume as written: its name as recorded, its file.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeFile {
    /// The volume's name as the engine recorded it.
    pub name: String,
    /// The file written, relative to the container's directory
    /// (`volumes/<portable name>.tar`).
    pub file: String,
}

/// The directory a container is written to: `container_<12 hex>` for a
/// hex id (Docker, Podman), else its whole id as a portable name
/// (containerd names containers as it likes: `web-0`).
pub fn container_dir(out: &Path, c: &Container) -> PathBuf {
    let hex = c.id.len() >= 12 && c.id.bytes().all(|b| b.is_ascii_hexdigit());
    let name = if hex {
        c.id[..12].to_ascii_lowercase()
    } else {
        crate::escape::PortableNames::default().name_for(&c.id)
    };
    out.join(format!("container_{name}"))
}

/// Exports one container; `catalog` resolves its image.
pub fn export_container(
    catalog: &Catalog,
    found: &FoundContainer<'_>,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ContainerReport, ExportError> {
    let dir = container_dir(out, &found.container);
    in_fresh_dir(&dir, opts.force, |dir| {
        write_container(catalog, found, dir, opts)
    })
}

fn write_container(
    catalog: &Catalog,
    found: &FoundContainer<'_>,
    dir: &Path,
    opts: &ExportOptions,
) -> Result<ContainerReport, ExportError> {
    let fs_ = found.store.fs();
    let c = &found.container;
    let mut findings: Vec<Finding> = c
        .problems
        .iter()
        .map(|p| Finding::new(FindingKind::FileMissing, None, p.clone()))
        .collect();
    let mut sums: Vec<(String, String)> = Vec::new();

    // The engine's records, as found.
    for r in &c.records {
        match &r.content {
            RecordedContent::Bytes(b) => sums.push(write_file(dir, &r.name, b)?),
            RecordedContent::File(p) => match fs_.read_small(p, RECORD_LIMIT) {
                Ok(bytes) => sums.push(write_file(dir, &r.name, &bytes)?),
                Err(e) => findings.push(Finding::new(
                    FindingKind::FileMissing,
                    Some(r.name.clone()),
                    e.to_string(),
                )),
            },
        }
    }

    // The writable layer: diff and changes.tar.
    let upper = c.layers.upper.clone().filter(|u| fs_.exists(u));
    let mut written_as = None;
    let mut flat = None;
    let (diff, changes) = match &upper {
        Some(u) => {
            let list = container_changes(fs_, c).map_err(|e| ExportError::Evidence {
                place: u.display(),
                detail: e.to_string(),
            })?;
            let (changes, how, names) = write_changes(fs_, c, u, &list, dir, opts, &mut findings)?;
            written_as = Some((how, names));
            sums.push((changes.0.clone(), "changes.tar".into()));
            if opts.flat {
                let (sha, names) = write_flat(fs_, c, u, dir, opts, &mut findings)?;
                sums.push((sha.clone(), "export.tar".into()));
                flat = Some((sha, names));
            }
            (list, Some(changes))
        }
        None if c.state == "created" => (Vec::new(), None),
        None => {
            findings.push(Finding::new(
                FindingKind::LayerMissing,
                c.layers.upper.as_ref().map(EvPath::display),
                match &c.layers.unresolved {
                    Some(why) => format!("the container's writable layer is missing: {why}"),
                    None => "the container's writable layer is missing".into(),
                },
            ));
            (Vec::new(), None)
        }
    };

    // committed.tar: the image's layers, then the container's.
    let mut image_layers = Vec::new();
    let mut committed = None;
    let mut tag = None;
    if let Some((sha, size)) = &changes {
        match commit(catalog, c, dir, sha, *size) {
            Ok((line, layers, id, t)) => {
                sums.push(line);
                image_layers = layers;
                committed = Some(id);
                tag = Some(t);
            }
            Err(e) => findings.push(Finding::new(
                FindingKind::LayerMissing,
                None,
                format!("the container's image cannot be read, no committed.tar: {e}"),
            )),
        }
    }

    // The log.
    let mut log = None;
    if let Some(l) = &c.log {
        let written = write_log(fs_, &l.path, dir, &l.name, |r, w| render_as(l.format, r, w));
        match written {
            Ok(w) => {
                sums.extend(w.sums);
                findings.extend(w.finding);
                log = Some(w.summary);
            }
            Err(ExportError::Evidence { place, detail }) => findings.push(Finding::new(
                FindingKind::FileUnreadable,
                Some(place),
                detail,
            )),
            Err(e) => return Err(e),
        }
    }

    // Named volumes.
    let mut volumes = Vec::new();
    let mut names = crate::escape::PortableNames::default();
    for m in c.mounts.iter().filter(|m| m.kind == "volume") {
        let Some(name) = &m.name else { continue };
        let Some(vdir) = m.data_dir.as_ref().filter(|d| fs_.exists(d)) else {
            findings.push(Finding::new(
                FindingKind::FileMissing,
                Some(format!("volumes/{name}")),
                "volume data directory missing",
            ));
            continue;
        };
        let vd = dir.join("volumes");
        fs::create_dir_all(&vd).map_err(out_err(&vd))?;
        let rel = format!("volumes/{}.tar", names.name_for(name));
        let tree =
            |w: &mut FanOut| retar(LayerDir { fs: fs_, dir: vdir }, w, &|_| {}).map(|(_, w)| w);
        match write_tree(dir, &rel, vdir, &mut findings, tree) {
            Ok((sha, _)) => {
                volumes.push(VolumeFile {
                    name: name.clone(),
                    file: rel.clone(),
                });
                sums.push((sha, rel));
            }
            Err(e @ ExportError::Output { .. }) => return Err(e),
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
        schema: crate::schema::Schema,
        run: opts.run.clone(),
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: opts.evidence.clone(),
        data_root: found.store.place().data_root(),
        source: found.store.place().location(),
        container: c.clone(),
        diff: diff.clone(),
        changes_sha256: changes.map(|(s, _)| s),
        changes_written_as: written_as.as_ref().map(|(h, _)| h.clone()),
        changes_user_names: written_as.and_then(|(_, n)| n),
        export_sha256: flat.as_ref().map(|(s, _)| s.clone()),
        export_user_names: flat.map(|(_, n)| n),
        committed_image_id: committed,
        committed_tag: tag,
        image_layers,
        log,
        volumes,
        findings,
        verified,
    };
    close_dir(dir, &report, sums)?;
    Ok(report)
}

/// How Docker's graph driver writes a container's layer on commit
/// (moby 20.10 `daemon/graphdriver/<driver>`, `Diff`).
enum CommitForm {
    /// The driver tars the writable layer (overlay2, aufs).
    Upper(Whiteouts),
    /// The driver has no diff of its own: `ExportChanges` of the change
    /// list (overlay v1's `NaiveDiffDriver`).
    Changes,
}

fn commit_form(c: &Container, naive: bool) -> Option<CommitForm> {
    if c.store != "docker" || c.layers.snapshot.is_some() {
        return None;
    }
    match c.driver.as_deref().unwrap_or("overlay2") {
        "overlay2" if naive => Some(CommitForm::Changes),
        "overlay2" => Some(CommitForm::Upper(Whiteouts::Overlay)),
        "aufs" => Some(CommitForm::Upper(Whiteouts::Aufs)),
        "overlay" => Some(CommitForm::Changes),
        _ => None,
    }
}

/// The user database `docker commit` looked names up in: the daemon
/// host's, where the evidence holds the host's root.
fn host_names(fs_: &dyn FileSystem) -> UserNames {
    let read = |p: &str| EvPath::parse(p).and_then(|p| fs_.read_small(&p, NAMES_LIMIT).ok());
    match (read("etc/passwd"), read("etc/group")) {
        (Some(p), Some(g)) => UserNames::parse(&p, &g, "the evidence's /etc/passwd and /etc/group"),
        _ => UserNames::assumed(),
    }
}

/// `/etc/passwd` and `/etc/group` larger than this are not read.
const NAMES_LIMIT: u64 = 16 << 20;

/// `changes.tar`: its sha256 and length, how it was written, and where
/// its user names came from.
#[allow(clippy::type_complexity)]
fn write_changes(
    fs_: &dyn FileSystem,
    c: &Container,
    upper: &EvPath,
    list: &[Change],
    dir: &Path,
    opts: &ExportOptions,
    findings: &mut Vec<Finding>,
) -> Result<((String, u64), String, Option<String>), ExportError> {
    let driver = c.driver.as_deref().unwrap_or("overlay2");
    let Some(form) = commit_form(c, opts.naive_diff) else {
        let t = write_tree(dir, "changes.tar", upper, findings, |w| {
            retar(
                LayerDir {
                    fs: fs_,
                    dir: upper,
                },
                w,
                &|_| {},
            )
            .map(|(_, w)| w)
        })?;
        return Ok((
            t,
            "the writable layer rebuilt as an image layer".into(),
            None,
        ));
    };
    let docker = docker_form(fs_, opts.docker_version.as_deref());
    let names = if docker.lookups {
        host_names(fs_)
    } else {
        UserNames::none(format!("none: {} looks no names up", docker.said))
    };
    let mut layers = vec![upper.clone()];
    layers.extend(c.layers.lowers.iter().cloned());
    let union = |style| Union {
        fs: fs_,
        layers: &layers,
        style,
        names: &names,
        type_bits: docker.type_bits,
    };
    let (t, how) = match form {
        CommitForm::Upper(style) => (
            write_tree(dir, "changes.tar", upper, findings, |w| {
                upper_tar(&union(style), w, &|_| {}).map(|(_, w)| w)
            })?,
            format!(
                "as docker commit writes it: the {driver} writable layer, tarred as {}'s {driver} Diff does",
                docker.said
            ),
        ),
        CommitForm::Changes => {
            let when = [&c.finished, &c.started, &c.created]
                .into_iter()
                .flatten()
                .find_map(|t| crate::time::parse(t))
                .map_or(0, |t| t.timestamp());
            (
                write_tree(dir, "changes.tar", upper, findings, |w| {
                    changes_tar(&union(Whiteouts::Overlay), list, when, w, &|_| {}).map(|(_, w)| w)
                })?,
                format!(
                    "as docker commit writes it: {}'s {driver} naive diff (the docker diff list); a deletion's .wh. entry carries the time of the commit, unknown here, written as the container's finish time {when}",
                    docker.said
                ),
            )
        }
    };
    Ok((t, how, Some(names.source)))
}

/// `export.tar`: the container's whole filesystem as `docker export`
/// writes it, its user names (where that Docker looks them up) from the
/// container's own `/etc/passwd` and `/etc/group` (Docker tars it from
/// inside a chroot).
fn write_flat(
    fs_: &dyn FileSystem,
    c: &Container,
    upper: &EvPath,
    dir: &Path,
    opts: &ExportOptions,
    findings: &mut Vec<Finding>,
) -> Result<(String, String), ExportError> {
    let style = if c.driver.as_deref() == Some("aufs") {
        Whiteouts::Aufs
    } else {
        Whiteouts::Overlay
    };
    let mut layers = vec![upper.clone()];
    layers.extend(c.layers.lowers.iter().cloned());
    let view = crate::layer::merged::Merged {
        fs: fs_,
        layers: &layers,
        style,
    };
    let read = |p: &str| {
        let n = view.lookup(&EvPath::parse(p)?)?;
        n.meta
            .is_file()
            .then(|| fs_.read_small(&n.path, NAMES_LIMIT).ok())
            .flatten()
    };
    let docker = docker_form(fs_, opts.docker_version.as_deref());
    let names = if docker.lookups {
        UserNames::parse(
            &read("etc/passwd").unwrap_or_default(),
            &read("etc/group").unwrap_or_default(),
            "the container's /etc/passwd and /etc/group",
        )
    } else {
        UserNames::none(format!("none: {} looks no names up", docker.said))
    };
    let (sha, _) = write_tree(dir, "export.tar", upper, findings, |w| {
        merged_tar(
            &Union {
                fs: fs_,
                layers: &layers,
                style,
                names: &names,
                type_bits: docker.type_bits,
            },
            w,
            &|_| {},
        )
        .map(|(_, w)| w)
    })?;
    Ok((sha, names.source))
}

/// A tar `make` writes into `dir/name`; returns its sha256 and length.
fn write_tree<F>(
    dir: &Path,
    name: &str,
    tree: &EvPath,
    findings: &mut Vec<Finding>,
    make: F,
) -> Result<(String, u64), ExportError>
where
    F: FnOnce(&mut FanOut) -> Result<Written, RetarError>,
{
    let path = dir.join(name);
    let file = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(out_err(&path))?);
    let (mut w, written) = hashed(file, None, |w| {
        make(w).map_err(|e| match e {
            RetarError::Output(e) => Failure::Output(e),
            other => Failure::Evidence(io::Error::other(other.to_string())),
        })
    })
    .map_err(|f| match f {
        Failure::Evidence(e) => ExportError::Evidence {
            place: tree.display(),
            detail: e.to_string(),
        },
        Failure::Output(source) => ExportError::Output {
            path: path.display().to_string(),
            source,
        },
    })?;
    w.flush().map_err(out_err(&path))?;
    findings.extend(written.findings);
    Ok((written.sha256, written.size))
}

/// `committed.tar` as written: its `SHA256SUMS` line, the image's layer
/// reports, the committed image id and its tag.
type Committed = ((String, String), Vec<LayerReport>, String, String);

/// Writes `committed.tar`.
fn commit(
    catalog: &Catalog,
    c: &Container,
    dir: &Path,
    changes_sha: &str,
    changes_size: u64,
) -> Result<Committed, ExportError> {
    let wanted = if c.image_id.is_empty() {
        c.image_ref.clone().unwrap_or_default()
    } else {
        c.image_id.clone()
    };
    // A Docker container of the containerd image store has its image in
    // containerd's `moby` namespace.
    let label = c.image_store.as_deref().unwrap_or(&c.store);
    let found = catalog.resolve(&wanted, StoreFilter(Some(label)))?;
    let image = &found.image;
    let fs_ = found.store.fs();
    let tmp = dir.join(".image-layers");
    fs::create_dir_all(&tmp).map_err(out_err(&tmp))?;
    let produced: Vec<(LayerReport, ArchiveLayer)> = image
        .layers
        .par_iter()
        .map(|l| {
            let file = tmp.join(format!("layer_{}.tar", l.index));
            let open = || File::create(&file).map(|f| BufWriter::with_capacity(1 << 20, f));
            let bar = Bar::start(None, "", None);
            let prepared = prepare_layer(fs_, image, l, false)?;
            let (mut w, out) = write_layer(fs_, image, l, prepared, open, Tee::None, &bar)?;
            w.flush().map_err(out_err(&file))?;
            let al = ArchiveLayer {
                sha256: out.report.sha256.clone(),
                size: out.report.size,
                file: file.clone(),
            };
            Ok((out.report, al))
        })
        .collect::<Result<_, ExportError>>()?;
    let (reports, mut layers): (Vec<LayerReport>, Vec<ArchiveLayer>) = produced.into_iter().unzip();
    layers.push(ArchiveLayer {
        sha256: changes_sha.to_string(),
        size: changes_size,
        file: dir.join("changes.tar"),
    });
    let config = commit_config(c, &image.config_bytes, &layers)?;
    let (line, id, tag) = write_committed(dir, &config, &layers, &c.name, &c.id)?;
    let _ = fs::remove_dir_all(&tmp);
    Ok((line, reports, id, tag))
}

/// The config `docker commit` writes: the image's, with the container's
/// run config (where the engine recorded one), a history entry, and the
/// new layer's diff_id.
fn commit_config(
    c: &Container,
    image_config: &[u8],
    layers: &[ArchiveLayer],
) -> Result<Vec<u8>, ExportError> {
    let mut cfg: serde_json::Value = serde_json::from_slice(image_config).map_err(|e| {
        crate::store::StoreError::CorruptJson {
            path: c.image_id.clone(),
            detail: e.to_string(),
        }
    })?;
    let when = c
        .finished
        .clone()
        .or_else(|| c.started.clone())
        .or_else(|| c.created.clone())
        .unwrap_or_default();
    let created_by = c.command_line();
    if let Some(o) = cfg.as_object_mut() {
        if let Some(run) = &c.run_config {
            o.insert("config".into(), run.clone());
            o.insert("container_config".into(), run.clone());
            o.insert("container".into(), c.id.clone().into());
        }
        o.insert("created".into(), when.clone().into());
        let mut entry = serde_json::json!({
            "created": when,
            "comment": format!("docker-forensics export of container {} ({})", c.name, c.id),
        });
        if !created_by.is_empty()
            && let Some(e) = entry.as_object_mut()
        {
            e.insert("created_by".into(), created_by.join(" ").into());
        }
        match o.get_mut("history").and_then(|h| h.as_array_mut()) {
            Some(h) => h.push(entry),
            None => {
                o.insert("history".into(), serde_json::json!([entry]));
            }
        }
        let ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", hex_part(&l.sha256)))
            .collect();
        o.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": ids}),
        );
    }
    serde_json::to_vec(&cfg).map_err(|e| ExportError::Evidence {
        place: c.image_id.clone(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_directories_stay_inside_and_apart() {
        let out = Path::new("/out");
        let dir = |id: &str| {
            container_dir(
                out,
                &Container {
                    id: id.into(),
                    ..Default::default()
                },
            )
        };
        assert_eq!(dir(&"ab".repeat(32)), out.join("container_abababababab"));
        for hostile in ["../x", "..", "a\\..\\b", "CON", "x:y"] {
            let d = dir(hostile);
            assert_eq!(d.parent(), Some(out), "{hostile}");
            let name = d.file_name().unwrap().to_str().unwrap();
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-%~".contains(&b)),
                "{name}"
            );
        }
        assert_eq!(dir("../x"), out.join("container_..%2Fx"));
        assert_eq!(dir("web-0"), out.join("container_web-0"));
    }
}
