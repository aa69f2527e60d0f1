//! Writing what was found: per image, `OUTPUT_DIR/image_<12 hex>/` with
//! the loadable archive, each layer tar, the original config, a
//! reconstructed Dockerfile, `report.json` and `SHA256SUMS`.

pub mod archive;
pub mod container;
pub mod dockerfile;
pub mod logs;
pub mod oci;
pub mod other_container;
mod output;
mod progress;
mod stream;
pub mod timeline;
mod verify;

pub use progress::{LayerProgress, ProgressSink};
pub use verify::{VerifiedImage, verify_images};

use crate::digest::sha256_hex;
use crate::layer::{LayerInput, ProduceError, Produced, tar_split_len};
use crate::report::{ImageReport, LayerReport};
use crate::store::StoreError;
use crate::store::docker::{DataRoot, LayerLocation};
use crate::store::model::Image;
use archive::{ArchivePlan, write_archive};
pub(crate) use output::{close_dir, write_file};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to export.
#[derive(Clone, Default)]
pub struct ExportOptions {
    /// Replace an existing `image_<id>` directory.
    pub force: bool,
    /// Ignore tar-split and rebuild every layer from its files.
    pub rebuild: bool,
    /// Where progress goes (nothing when `None`).
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The evidence as the examiner named it, for the report.
    pub evidence: String,
    /// What the acquisition tool recorded, for a disk image (EWF).
    pub acquisition: Option<crate::evidence::image::Acquisition>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: already exists; use --force to replace it")]
    Exists { path: String },
    #[error("{path}: cannot write output: {source}")]
    Output {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("image {image}: layer {index}: {source}")]
    Layer {
        image: String,
        index: usize,
        #[source]
        source: ProduceError,
    },
}

pub(crate) fn out_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Output {
        path: path.display().to_string(),
        source,
    }
}

/// The directory an image is written to.
pub fn image_dir(out: &Path, image: &Image) -> PathBuf {
    out.join(format!("image_{}", image.short_id()))
}

/// Exports one image from a Docker data root into `out`.
pub fn export_image(
    root: &DataRoot,
    image: &Image,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ImageReport, ExportError> {
    let started = now();
    let dir = image_dir(out, image);
    // Locate every layer before anything is written: an image with a
    // missing piece leaves no directory behind.
    let locations = root.locate_layers(image)?;
    output::in_fresh_dir(&dir, opts.force, |dir| {
        write_image(root, image, dir, locations, opts, started)
    })
}

fn write_image(
    root: &DataRoot,
    image: &Image,
    dir: &Path,
    locations: Vec<LayerLocation>,
    opts: &ExportOptions,
    started: String,
) -> Result<ImageReport, ExportError> {
    // Read every tar-split ahead for the layers' lengths: when all are
    // known, the archive is written in the same pass as the layers.
    let sizes: Option<Vec<u64>> = if opts.rebuild {
        None
    } else {
        locations
            .iter()
            .map(|l| {
                l.tar_split
                    .as_ref()
                    .and_then(|ts| tar_split_len(root.fs(), ts).ok())
            })
            .collect()
    };
    let (produced, streamed) = match sizes {
        Some(sizes) => stream::stream_image(root, image, dir, locations, &sizes, opts)?,
        None => (
            stream::layers_only(root, image, dir, locations, opts)?,
            None,
        ),
    };
    let archive_layers = stream::archive_layers(&produced);
    let mut layers = Vec::with_capacity(produced.len());
    for (loc, p, _) in produced {
        layers.push(layer_report(&loc, p));
    }

    let (config, derived, findings) = output::settle_config(
        &image.config_bytes,
        &image.id,
        image.config_verified,
        &layers,
    );

    let mut sums: Vec<(String, String)> = Vec::new();
    for l in &layers {
        sums.push((l.sha256.clone(), format!("layer_{}/layer.tar", l.index)));
    }
    let tar_path = dir.join("image.tar");
    let (plan, tar_sha, tar_len) = match streamed {
        Some(a) if !derived => (a.plan, a.sha256, a.len),
        _ => {
            let plan = ArchivePlan::new(&config, &image.tags, &archive_layers);
            let (sha, len) =
                write_archive(&tar_path, &plan, &archive_layers).map_err(out_err(&tar_path))?;
            (plan, sha, len)
        }
    };
    sums.push((tar_sha, "image.tar".into()));
    sums.push(write_file(dir, "manifest.json", &plan.manifest_json)?);
    sums.push(write_file(dir, "image_metadata.json", &image.config_bytes)?);
    let dockerfile = dockerfile::reconstruct(&image.id, &image.tags, &image.config);
    sums.push(write_file(dir, "Dockerfile", dockerfile.as_bytes())?);

    let totals = output::totals(&layers, findings.len(), tar_len);
    let report = ImageReport {
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: opts.evidence.clone(),
        acquisition: opts.acquisition.clone(),
        volume: root.volume.label.clone(),
        data_root: root.path.display(),
        data_root_reason: root.reason.clone(),
        image_id: image.id.clone(),
        tags: image.tags.clone(),
        digests: image.digests.clone(),
        config_verified: image.config_verified,
        archive_image_id: format!("sha256:{}", sha256_hex(&config)),
        derived_config: derived,
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

/// What a Docker layer is made from, as `layer::produce` wants it.
pub(crate) fn layer_input<'a>(
    root: &'a DataRoot,
    loc: &'a LayerLocation,
    rebuild: bool,
) -> LayerInput<'a> {
    LayerInput {
        fs: root.fs(),
        dir: &loc.dir,
        tar_split: loc.tar_split.as_ref(),
        diff_id: &loc.diff_id,
        force_rebuild: rebuild,
    }
}

/// The layer's report entry; the locator's findings come first.
pub fn layer_report(loc: &LayerLocation, p: Produced) -> LayerReport {
    let mut findings = loc.findings.clone();
    findings.extend(p.findings);
    LayerReport {
        index: loc.index,
        diff_id: loc.diff_id.clone(),
        chain_id: loc.chain_id.clone(),
        cache_id: Some(loc.cache_id.clone()),
        method: p.method,
        sha256: p.written.sha256,
        size: p.written.size,
        verified: p.verified,
        files_checked: p.written.files_checked,
        findings,
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
