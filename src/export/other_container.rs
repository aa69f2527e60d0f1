//! `export-container` for containerd and containers/storage containers:
//! the same layout as for Docker's (`changes.tar`, `committed.tar`, the
//! runtime spec as found, logs, `report.json`, `SHA256SUMS`).
//!
//! containers/storage keeps the container's log in `userdata/ctr.log` in
//! the CRI "k8s-file" format (`<RFC 3339 time> <stream> <P|F> <message>`,
//! kubernetes `pkg/kubelet/kuberuntime/logs`); it is rendered as
//! `time stream message` lines, partial (`P`) lines joined.

use super::archive::ArchiveLayer;
use super::container::ContainerReport;
use super::logs::LogSummary;
use super::{ExportError, ExportOptions, out_err, write_file};
use crate::digest::hex_part;
use crate::layer::diff::Change;
use crate::layer::{LayerDir, hashed, retar};
use crate::report::{Finding, FindingKind};
use crate::store::catalog::{Catalog, Found, OtherContainer};
use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The directory a container is written to.
pub fn other_container_dir(out: &Path, c: &OtherContainer<'_>) -> PathBuf {
    let id = &c.container.id;
    out.join(format!("container_{}", id.get(..12).unwrap_or(id)))
}

/// Exports one containerd or containers/storage container; `changes` is
/// its diff, as the `diff` command computed it.
pub fn export_other_container(
    catalog: &Catalog,
    oc: &OtherContainer<'_>,
    changes: &[Change],
    out: &Path,
    opts: &ExportOptions,
) -> Result<ContainerReport, ExportError> {
    let dir = other_container_dir(out, oc);
    super::output::in_fresh_dir(&dir, opts.force, |dir| {
        write(catalog, oc, changes, dir, opts)
    })
}

fn write(
    catalog: &Catalog,
    oc: &OtherContainer<'_>,
    changes: &[Change],
    dir: &Path,
    opts: &ExportOptions,
) -> Result<ContainerReport, ExportError> {
    let c = &oc.container;
    let mut findings: Vec<Finding> = c
        .problems
        .iter()
        .map(|p| Finding::new(FindingKind::FileMissing, None, p.clone()))
        .collect();
    let mut sums: Vec<(String, String)> = Vec::new();
    if let Some(spec) = &c.spec {
        sums.push(write_file(dir, "config.json", spec)?);
    }

    // changes.tar from the writable layer.
    let mut changes_sha = None;
    if let Some(upper) = c.writable_dir.as_ref().filter(|d| oc.fs.exists(d)) {
        let path = dir.join("changes.tar");
        let file = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(out_err(&path))?);
        let (mut w, written) = hashed(file, None, |w| {
            retar(
                LayerDir {
                    fs: oc.fs,
                    dir: upper,
                },
                w,
                &|_| {},
            )
            .map(|(_, written)| written)
            .map_err(|e| io::Error::other(e.to_string()))
        })
        .map_err(out_err(&path))?;
        w.flush().map_err(out_err(&path))?;
        findings.extend(written.findings);
        sums.push((written.sha256.clone(), "changes.tar".into()));
        changes_sha = Some((written.sha256, written.size));
    } else if c.state.as_deref() != Some("created") {
        findings.push(Finding::new(
            FindingKind::LayerMissing,
            c.writable_dir.as_ref().map(|d| d.display()),
            "the container's writable layer is missing",
        ));
    }

    // committed.tar: the image's layers, then the container's.
    let mut committed = None;
    let mut tag = None;
    let mut image_layers = Vec::new();
    let image_ref = c.image_id.clone().or(c.image.clone());
    if let (Some((sha, size)), Some(image_ref)) = (&changes_sha, image_ref) {
        match catalog.resolve(&image_ref, Some(&c.store)) {
            Ok(Found::Other {
                fs: ifs, content, ..
            }) => {
                let tmp = dir.join(".image-layers");
                fs::create_dir_all(&tmp).map_err(out_err(&tmp))?;
                let mut layers = Vec::new();
                for l in &content.layers {
                    let file = tmp.join(format!("layer_{}.tar", l.index));
                    let (r, _) = super::oci::write_layer(ifs, &content, l, &file, opts)?;
                    layers.push(ArchiveLayer {
                        sha256: r.sha256.clone(),
                        size: r.size,
                        file,
                    });
                    image_layers.push(r);
                }
                layers.push(ArchiveLayer {
                    sha256: sha.clone(),
                    size: *size,
                    file: dir.join("changes.tar"),
                });
                let config = commit_config(
                    &content.config_bytes,
                    &layers,
                    c.created.clone().unwrap_or_default(),
                    &c.id,
                );
                let (line, id, t) = super::output::write_committed(
                    dir,
                    &config,
                    &layers,
                    &c.name.clone().unwrap_or_else(|| c.id.clone()),
                    &c.id,
                )?;
                sums.push(line);
                let _ = fs::remove_dir_all(&tmp);
                committed = Some(id);
                tag = Some(t);
            }
            Ok(Found::Docker(..)) => {}
            Err(e) => findings.push(Finding::new(
                FindingKind::LayerMissing,
                None,
                format!("image {image_ref} of the container cannot be read, no committed.tar: {e}"),
            )),
        }
    }

    // The log (k8s-file format).
    let mut log = None;
    if let Some(lp) = c.log.as_ref().filter(|lp| oc.fs.exists(lp)) {
        let written = super::output::write_log(oc.fs, lp, dir, "container.log", |r, w| {
            render_k8s_file(r, w)
        })?;
        sums.extend(written.sums);
        findings.extend(written.finding);
        log = Some(written.summary);
    }

    let verified = findings.is_empty()
        && image_layers
            .iter()
            .all(|l| l.verified && l.findings.is_empty());
    let report = ContainerReport {
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: opts.evidence.clone(),
        data_root: format!("{} {}", c.store, oc.data_root),
        container: oc.to_model(),
        diff: changes.iter().map(Change::to_string).collect(),
        changes_sha256: changes_sha.map(|(s, _)| s),
        committed_image_id: committed,
        committed_tag: tag,
        image_layers,
        log,
        volumes: Vec::new(),
        findings,
        verified,
    };
    super::close_dir(dir, &report, sums)?;
    Ok(report)
}

/// The image config with the container's layer added, as a commit would.
fn commit_config(image_config: &[u8], layers: &[ArchiveLayer], when: String, id: &str) -> Vec<u8> {
    let mut cfg: serde_json::Value = serde_json::from_slice(image_config).unwrap_or_default();
    if let Some(o) = cfg.as_object_mut() {
        o.insert("created".into(), when.clone().into());
        let entry = serde_json::json!({
            "created": when,
            "comment": format!("docker-forensics export of container {id}"),
        });
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
    serde_json::to_vec(&cfg).unwrap_or_default()
}

/// Renders a k8s-file log: `time stream P|F message`; `P` lines are
/// parts of one longer line and are joined with what follows.
fn render_k8s_file(input: impl BufRead, mut out: impl Write) -> io::Result<LogSummary> {
    let mut s = LogSummary::default();
    let mut partial = String::new();
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(_) => {
                s.broken_lines += 1;
                continue;
            }
        };
        let mut parts = line.splitn(4, ' ');
        let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            s.broken_lines += 1;
            continue;
        };
        if chrono::DateTime::parse_from_rfc3339(time).is_err() || !matches!(tag, "P" | "F") {
            s.broken_lines += 1;
            continue;
        }
        partial.push_str(parts.next().unwrap_or(""));
        if tag == "P" {
            continue;
        }
        s.lines += 1;
        s.first_time.get_or_insert_with(|| time.to_string());
        s.last_time = Some(time.to_string());
        writeln!(out, "{time} {stream} {partial}")?;
        partial.clear();
    }
    out.flush()?;
    Ok(s)
}
