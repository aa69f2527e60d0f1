//! `extract`: one image of any store into `OUTPUT_DIR/image_<12 hex>/`
//! (the first 12 hex digits of the image id as its engine shows it) with
//! the loadable archive, each layer tar, the original config, a
//! reconstructed Dockerfile, `report.json` and `SHA256SUMS`; for an image
//! with a BuildKit provenance attestation, its facts in `report.json`
//! (`provenance`) and, where BuildKit recorded it (`mode=max`), the
//! Dockerfile itself as `Dockerfile.recorded`.

use super::archive::{ArchiveLayer, ArchivePlan, write_archive};
use super::dockerfile;
use super::error::{ExportError, ExportOptions, now, out_err};
use super::image_report::ImageReport;
use super::output::{close_dir, settle_config, totals, write_file};
use super::provenance;
use super::source::{check_sources, prepare_layer};
use super::stream::{archive_layers, layers_only, plan, stream_image};
use crate::digest::sha256_hex;
use crate::report::{Finding, FindingKind};
use crate::store::Store;
use crate::store::model::Image;
use std::path::{Path, PathBuf};

/// The directory an image is written to.
pub fn image_dir(out: &Path, image: &Image) -> PathBuf {
    // The id is the store's claim: made one safe path component.
    out.join(format!(
        "image_{}",
        crate::escape::file_name(image.short_id())
    ))
}

/// Exports one image of `store` into `out`.
pub fn export_image(
    store: &dyn Store,
    image: &Image,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ImageReport, ExportError> {
    let started = now();
    // Every layer must have a source before anything is written: an
    // image with a missing piece leaves no directory behind.
    check_sources(image, opts.rebuild)?;
    let dir = image_dir(out, image);
    let report = super::output::in_fresh_dir(&dir, opts.force, |dir| {
        write_image(store, image, dir, opts, started)
    })?;
    // Later images of this run that share a verified layer link to it
    // (with --archive-only there is no layer file to link to).
    if let Some(cache) = opts.written.as_ref().filter(|_| !opts.archive_only) {
        for r in report
            .layers
            .iter()
            .filter(|r| r.verified && r.same_as.is_none())
        {
            let rel = format!("layer_{}/layer.tar", r.index);
            let shown = format!(
                "{}/{rel}",
                dir.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            cache.insert(&r.diff_id, dir.join(&rel), shown, r.clone());
        }
    }
    Ok(report)
}

fn write_image(
    store: &dyn Store,
    image: &Image,
    dir: &Path,
    opts: &ExportOptions,
    started: String,
) -> Result<ImageReport, ExportError> {
    let fs = store.fs();
    // Each layer's source, read ahead once (tar-splits parsed here).
    let prepare = || {
        image
            .layers
            .iter()
            .map(|l| prepare_layer(fs, image, l, opts.rebuild))
            .collect::<Result<Vec<_>, _>>()
    };
    let prepared = prepare()?;
    // A tar-split may claim a layer far larger than the output can hold
    // (a hostile 1 TB entry): refuse it before padding the disk full.
    if let Some(free) = free_space(dir) {
        for (l, p) in image.layers.iter().zip(&prepared) {
            if let Some(len) = p.tar_len().filter(|len| *len > free) {
                return Err(ExportError::Output {
                    path: dir.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        format!(
                            "layer {} would be {len} bytes as its tar-split claims (size_implausible?), more than the {free} bytes free on the output filesystem",
                            l.index
                        ),
                    ),
                });
            }
        }
    }
    let (written, streamed) = match plan(image, &prepared) {
        Some(plan) => match stream_image(fs, image, dir, plan, prepared, opts)? {
            // With --archive-only the layers went only into image.tar; a
            // member that did not come out as planned means writing it
            // again from layer files, so they are read a second time.
            (_, None) if opts.archive_only => {
                (layers_only(fs, image, dir, prepare()?, opts)?, None)
            }
            done => done,
        },
        None => (layers_only(fs, image, dir, prepared, opts)?, None),
    };
    let archive_layers = archive_layers(&written);
    let layers: Vec<_> = written.into_iter().map(|(out, _)| out.report).collect();

    let mut findings: Vec<Finding> = image
        .problems
        .iter()
        .map(|p| Finding::new(FindingKind::BlobMismatch, None, p.clone()))
        .collect();
    let (config, derived, config_findings) = settle_config(
        &image.config_bytes,
        &image.config_digest,
        image.config_verified,
        &layers,
    );
    findings.extend(config_findings);

    let mut sums: Vec<(String, String)> = if opts.archive_only {
        Vec::new()
    } else {
        layers
            .iter()
            .map(|l| (l.sha256.clone(), format!("layer_{}/layer.tar", l.index)))
            .collect()
    };
    let tar_path = dir.join("image.tar");
    let (plan, tar_sha, tar_len) = match streamed {
        Some(a) if !derived => {
            findings.extend(
                a.graph_problems
                    .into_iter()
                    .map(|p| Finding::new(FindingKind::BlobMismatch, None, p)),
            );
            (a.plan, a.sha256, a.len)
        }
        _ => {
            let plan = ArchivePlan::new(&config, &image.names, &archive_layers);
            let (sha, len) =
                write_archive(&tar_path, &plan, &archive_layers).map_err(out_err(&tar_path))?;
            if opts.archive_only {
                remove_layer_files(&archive_layers)?;
            }
            (plan, sha, len)
        }
    };
    sums.push((tar_sha, "image.tar".into()));
    sums.extend(save_changed_files(fs, image, &layers, dir)?);
    sums.push(write_file(dir, "manifest.json", &plan.manifest_json)?);
    sums.push(write_file(dir, "image_metadata.json", &image.config_bytes)?);
    let dockerfile = dockerfile::reconstruct(&image.id, &image.names, &image.config);
    sums.push(write_file(dir, "Dockerfile", dockerfile.as_bytes())?);
    let provenance = image.graph.as_ref().and_then(|g| {
        // The attestation of the platform manifest exported, else any.
        let (own, other): (Vec<_>, Vec<_>) = g
            .attestations
            .iter()
            .cloned()
            .partition(|a| a.refers_to.is_some() && a.refers_to == image.manifest_digest);
        provenance::provenance(&own).or_else(|| provenance::provenance(&other))
    });
    if let Some(d) = provenance.as_ref().and_then(|p| p.dockerfile.as_ref()) {
        sums.push(write_file(dir, "Dockerfile.recorded", &d.data)?);
    }

    // The id engines give image.tar: kept verbatim, the image keeps the
    // id its engine showed; otherwise the new manifest (containerd image
    // store) or the config (engines that go by config) names it.
    let archive_config_id = format!("sha256:{}", sha256_hex(&config));
    let verbatim = image
        .manifest_bytes
        .as_ref()
        .is_some_and(|m| sha256_hex(m) == sha256_hex(&plan.oci_manifest));
    let archive_image_id = if image.id == image.config_digest || image.config_digest.is_empty() {
        archive_config_id.clone()
    } else if verbatim {
        match &image.graph {
            Some(g) => g.target.digest.clone(),
            None => format!("sha256:{}", sha256_hex(&plan.oci_manifest)),
        }
    } else {
        format!("sha256:{}", sha256_hex(&plan.oci_manifest))
    };

    let totals = totals(&layers, !opts.archive_only, findings.len(), tar_len);
    let place = store.place();
    let report = ImageReport {
        schema: crate::schema::Schema,
        run: opts.run.clone(),
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: opts.evidence.clone(),
        acquisition: opts.acquisition.clone(),
        store: image.store.clone(),
        source: place.location(),
        data_root: place.data_root(),
        image_id: image.id.clone(),
        config_digest: image.config_digest.clone(),
        tags: image.names.clone(),
        digests: image.digests.clone(),
        config_verified: image.config_verified,
        archive_image_id,
        archive_config_id,
        derived_config: derived,
        archive_only: opts.archive_only,
        provenance,
        verified: totals.findings == 0 && totals.layers_verified == totals.layers,
        layers,
        findings,
        totals,
        started,
        finished: now(),
    };
    close_dir(dir, &report, sums)?;
    Ok(report)
}

/// With --archive-only: the layer files `image.tar` was just written
/// from, and their directories.
fn remove_layer_files(layers: &[ArchiveLayer]) -> Result<(), ExportError> {
    for l in layers {
        std::fs::remove_file(&l.file).map_err(out_err(&l.file))?;
        if let Some(ldir) = l.file.parent() {
            std::fs::remove_dir(ldir).map_err(out_err(ldir))?;
        }
    }
    Ok(())
}

/// Bytes free for us on the filesystem holding `dir`, when it says.
#[cfg(unix)]
fn free_space(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Not asked elsewhere: a full disk is still a clear error when it comes.
#[cfg(not(unix))]
fn free_space(_dir: &Path) -> Option<u64> {
    None
}

/// Each file a layer's tar-split says was changed on disk
/// (`content_changed`, `size_changed`), copied as found to
/// `findings/layer_<i>/<path>`, so that the examiner has both the
/// original layer and the file as it was seized. Returns their
/// `SHA256SUMS` lines.
fn save_changed_files(
    fs: &dyn crate::evidence::fs::FileSystem,
    image: &Image,
    layers: &[crate::report::LayerReport],
    dir: &Path,
) -> Result<Vec<(String, String)>, ExportError> {
    use crate::evidence::fs::EvPath;
    use crate::report::FindingKind;
    let mut sums = Vec::new();
    for (l, r) in image.layers.iter().zip(layers) {
        let Some(unpacked) = &l.unpacked else {
            continue;
        };
        for f in r.findings.iter().filter(|f| {
            matches!(
                f.kind,
                FindingKind::ContentChanged | FindingKind::SizeChanged
            )
        }) {
            // The path is the tar-split's claim: only a clean relative
            // path inside the layer is followed, one component at a time.
            let Some(rel) = f.path.as_deref().and_then(EvPath::parse) else {
                continue;
            };
            let src = unpacked.dir.join_path(&rel);
            let Ok(mut input) = fs.open(&src) else {
                continue;
            };
            let shown: Vec<String> = rel
                .display()
                .trim_start_matches('/')
                .split('/')
                .map(crate::escape::file_name)
                .collect();
            let name = format!("findings/layer_{}/{}", l.index, shown.join("/"));
            let path = dir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(out_err(parent))?;
            }
            let out = std::fs::File::create(&path).map_err(out_err(&path))?;
            let mut w = crate::digest::HashingWriter::new(std::io::BufWriter::new(out));
            std::io::copy(&mut input, &mut w).map_err(|e| ExportError::Evidence {
                place: src.display(),
                detail: e.to_string(),
            })?;
            let (_, sha, _) = w.finish().map_err(out_err(&path))?;
            sums.push((sha, name));
        }
    }
    Ok(sums)
}
