//! Exporting an image of a containerd or containers/storage (Podman,
//! CRI-O) store: the same output layout as for Docker's own store.
//!
//! Each layer comes from the best source the store kept: the blob the
//! registry served (containerd; checked against its digest, decompressed
//! to `layer_<i>/layer.tar`), a tar-split replay of the unpacked layer
//! (containers/storage), or, when neither is there (a blob garbage-
//! collected while its snapshot remains, moby#49473), a rebuild from the
//! unpacked files, which the report calls "rebuilt" (exit 3). When every
//! layer came from a blob that verified, `image.tar` carries the blobs and
//! the image's own manifest byte for byte, so its digest still verifies;
//! otherwise it carries a manifest of its own naming the layer tars.

use super::archive::{
    ArchiveLayer, ArchivePlan, Blob, BlobSource, write_archive, write_archive_blobs,
};
use super::{ExportError, ExportOptions, dockerfile, out_err, write_file};
use crate::digest::{hex_part, sha256_hex};
use crate::evidence::fs::FileSystem;
use crate::layer::{LayerInput, Produced, Written, hashed, produce};
use crate::pipe::DirectFile;
use crate::report::{Finding, FindingKind, ImageReport, LayerReport, Method};
use crate::store::blob::decompressed;
use crate::store::containerd::shape::{ImageContent, LayerSource};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Exports `content` (found in `store` at `data_root`) into `out`.
pub fn export_content(
    fs_: &dyn FileSystem,
    store: &str,
    data_root: &str,
    content: &ImageContent,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ImageReport, ExportError> {
    let started = super::now();
    let short = &hex_part(&content.id)[..12.min(hex_part(&content.id).len())];
    let dir = out.join(format!("image_{short}"));
    super::output::in_fresh_dir(&dir, opts.force, |dir| {
        write_content(fs_, store, data_root, content, dir, opts, started)
    })
}

fn write_content(
    fs_: &dyn FileSystem,
    store: &str,
    data_root: &str,
    content: &ImageContent,
    dir: &Path,
    opts: &ExportOptions,
    started: String,
) -> Result<ImageReport, ExportError> {
    let mut layers: Vec<LayerReport> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut all_blobs_ok = content.manifest_bytes.is_some();
    for l in &content.layers {
        let ldir = dir.join(format!("layer_{}", l.index));
        fs::create_dir_all(&ldir).map_err(out_err(&ldir))?;
        let file = ldir.join("layer.tar");
        let (report, from_blob) = write_layer(fs_, content, l, &file, opts)?;
        all_blobs_ok &= from_blob && report.verified && report.findings.is_empty();
        layers.push(report);
        files.push(file);
    }

    let mut findings: Vec<Finding> = content
        .problems
        .iter()
        .map(|p| Finding::new(FindingKind::BlobMismatch, None, p.clone()))
        .collect();
    let (config, derived, config_findings) = super::output::settle_config(
        &content.config_bytes,
        &content.id,
        content.config_verified,
        &layers,
    );
    findings.extend(config_findings);

    let tar_path = dir.join("image.tar");
    let (plan, tar_sha, tar_len) = match (&content.manifest_bytes, all_blobs_ok && !derived) {
        (Some(manifest), true) => {
            // The registry's own manifest and blobs, byte for byte.
            let media = serde_json::from_slice::<serde_json::Value>(manifest)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
            let blobs: Vec<Blob<'_>> = content
                .layers
                .iter()
                .filter_map(|l| l.blob.as_ref())
                .map(|b| Blob {
                    hex: hex_part(&b.digest).to_string(),
                    size: b.size,
                    source: BlobSource::Evidence(fs_, b.path.clone()),
                })
                .collect();
            let names: Vec<String> = blobs.iter().map(|b| b.hex.clone()).collect();
            let top = content
                .layers
                .last()
                .map(|l| hex_part(&l.diff_id).to_string());
            let plan = ArchivePlan::with_manifest(
                &config,
                manifest.clone(),
                &media,
                &content.names,
                &names,
                top,
            );
            let (sha, len) =
                write_archive_blobs(&tar_path, &plan, &blobs).map_err(out_err(&tar_path))?;
            (plan, sha, len)
        }
        _ => {
            let archive_layers: Vec<ArchiveLayer> = layers
                .iter()
                .zip(&files)
                .map(|(l, f)| ArchiveLayer {
                    sha256: l.sha256.clone(),
                    size: l.size,
                    file: f.clone(),
                })
                .collect();
            let plan = ArchivePlan::new(&config, &content.names, &archive_layers);
            let (sha, len) =
                write_archive(&tar_path, &plan, &archive_layers).map_err(out_err(&tar_path))?;
            (plan, sha, len)
        }
    };

    let mut sums: Vec<(String, String)> = layers
        .iter()
        .map(|l| (l.sha256.clone(), format!("layer_{}/layer.tar", l.index)))
        .collect();
    sums.push((tar_sha, "image.tar".into()));
    sums.push(write_file(dir, "manifest.json", &plan.manifest_json)?);
    sums.push(write_file(
        dir,
        "image_metadata.json",
        &content.config_bytes,
    )?);
    let dockerfile = dockerfile::reconstruct(&content.id, &content.names, &content.config);
    sums.push(write_file(dir, "Dockerfile", dockerfile.as_bytes())?);
    let totals = super::output::totals(&layers, findings.len(), tar_len);
    let report = ImageReport {
        tool: format!("docker-forensics {}", env!("CARGO_PKG_VERSION")),
        evidence: opts.evidence.clone(),
        acquisition: opts.acquisition.clone(),
        volume: store.to_string(),
        data_root: data_root.to_string(),
        data_root_reason: format!("{store} store"),
        image_id: content.id.clone(),
        tags: content.names.clone(),
        digests: content.manifest_digest.iter().cloned().collect(),
        config_verified: content.config_verified,
        archive_image_id: format!("sha256:{}", sha256_hex(&config)),
        derived_config: derived,
        verified: totals.findings == 0 && totals.layers_verified == totals.layers,
        layers,
        findings,
        totals,
        started,
        finished: super::now(),
    };
    super::close_dir(dir, &report, sums)?;
    Ok(report)
}

/// Writes one layer; says whether it came from a blob that verified.
pub(crate) fn write_layer(
    fs_: &dyn FileSystem,
    content: &ImageContent,
    l: &LayerSource,
    file: &Path,
    opts: &ExportOptions,
) -> Result<(LayerReport, bool), ExportError> {
    let layer_err = |source: crate::layer::ProduceError| ExportError::Layer {
        image: content.id.clone(),
        index: l.index,
        source,
    };
    let report = |p: Produced, cache: Option<String>| LayerReport {
        index: l.index,
        diff_id: l.diff_id.clone(),
        chain_id: l.chain_id.clone(),
        cache_id: cache,
        method: p.method,
        sha256: p.written.sha256,
        size: p.written.size,
        verified: p.verified,
        files_checked: p.written.files_checked,
        findings: p.findings,
    };
    // 1. The blob the registry served.
    if let Some(blob) = l.blob.as_ref().filter(|b| b.present && !opts.rebuild) {
        let mut raw = fs_
            .open(&blob.path)
            .map_err(|e| out_err(file)(io::Error::other(e.to_string())))?;
        let mut blob_hash = Sha256::new();
        let mut blob_len = 0u64;
        let counted = ReadHash {
            inner: &mut raw,
            hash: &mut blob_hash,
            len: &mut blob_len,
        };
        let out = DirectFile::create(file).map_err(out_err(file))?;
        let blob_place = format!("{} (blob {})", blob.path.display(), blob.digest);
        let (w, mut written) = hashed(out, None, |w| -> Result<Written, io::Error> {
            let mut stream = decompressed(counted, blob.compression);
            let size = io::copy(&mut stream, w)?;
            Ok(Written {
                size,
                ..Default::default()
            })
        })
        .map_err(|source| ExportError::Output {
            path: blob_place,
            source,
        })?;
        w.finish().map_err(out_err(file))?;
        let mut findings = Vec::new();
        let blob_hex = hex::encode(blob_hash.finalize());
        if blob_hex != hex_part(&blob.digest) || blob_len != blob.size {
            findings.push(Finding::new(
                FindingKind::BlobMismatch,
                Some(blob.path.display()),
                format!("blob is {blob_len} bytes hashing to sha256:{blob_hex}; the manifest says {} bytes, {}", blob.size, blob.digest),
            ));
        }
        let verified = written.sha256 == hex_part(&l.diff_id);
        if !verified {
            findings.push(Finding::new(
                FindingKind::DiffIdMismatch,
                None,
                format!(
                    "layer tar hashes to sha256:{}, not to its diff_id {}",
                    written.sha256, l.diff_id
                ),
            ));
        }
        written.findings = Vec::new();
        let p = Produced {
            method: Method::Blob,
            written,
            verified,
            findings,
            teed: false,
        };
        return Ok((report(p, Some(blob.digest.clone())), true));
    }
    // 2. The unpacked layer: replayed from tar-split, else rebuilt.
    let Some(unpacked) = &l.unpacked else {
        return Err(ExportError::Store(crate::store::StoreError::LayerMissing {
            image: content.id.clone(),
            index: l.index,
            diff_id: l.diff_id.clone(),
            detail: match &l.blob {
                Some(b) => format!(
                    "blob {} is missing ({}) and the layer is not unpacked",
                    b.digest,
                    b.path.display()
                ),
                None => "no blob and no unpacked copy".into(),
            },
        }));
    };
    let input = LayerInput {
        fs: fs_,
        dir: &unpacked.dir,
        tar_split: unpacked.tar_split.as_ref(),
        diff_id: &l.diff_id,
        force_rebuild: opts.rebuild,
    };
    let (w, mut p) =
        produce(input, || DirectFile::create(file), None, &|_| {}).map_err(layer_err)?;
    w.finish().map_err(out_err(file))?;
    if let Some(b) = l.blob.as_ref().filter(|b| !b.present) {
        // Say why the blob was not used rather than only "no tar-split".
        p.findings
            .retain(|f| f.kind != FindingKind::TarSplitMissing);
        p.findings.insert(
            0,
            Finding::new(
                FindingKind::BlobMismatch,
                Some(b.path.display()),
                format!("blob {} is gone from the content store (garbage-collected?); the layer was rebuilt from the unpacked snapshot {}", b.digest, unpacked.dir),
            ),
        );
    }
    Ok((report(p, Some(unpacked.key.clone())), false))
}

/// Hashes and counts what is read through it.
struct ReadHash<'a, R> {
    inner: R,
    hash: &'a mut Sha256,
    len: &'a mut u64,
}

impl<R: Read> Read for ReadHash<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        *self.len += n as u64;
        Ok(n)
    }
}

/// `verify` of a containerd or containers/storage image: each layer's
/// blob hashed as stored and uncompressed (or its unpacked copy replayed
/// or rebuilt), nothing written.
pub fn verify_content(
    fs_: &dyn FileSystem,
    data_root: &str,
    content: &ImageContent,
) -> super::VerifiedImage {
    let mut layers = Vec::new();
    for l in &content.layers {
        let mut findings = Vec::new();
        let (method, sha, size, files) = match l.blob.as_ref().filter(|b| b.present) {
            Some(b) => match crate::store::blob::digest_blob(fs_, &b.path, Some(b.compression)) {
                Ok(d) => {
                    if hex_part(&d.blob) != hex_part(&b.digest) {
                        findings.push(Finding::new(
                            FindingKind::BlobMismatch,
                            Some(b.path.display()),
                            format!("blob hashes to {}, not to its digest {}", d.blob, b.digest),
                        ));
                    }
                    (
                        Method::Blob,
                        hex_part(&d.uncompressed).to_string(),
                        d.uncompressed_size,
                        0,
                    )
                }
                Err(e) => {
                    findings.push(Finding::new(
                        FindingKind::BlobMismatch,
                        Some(b.path.display()),
                        e.to_string(),
                    ));
                    (Method::Blob, String::new(), 0, 0)
                }
            },
            None => match &l.unpacked {
                Some(u) => {
                    let input = LayerInput {
                        fs: fs_,
                        dir: &u.dir,
                        tar_split: u.tar_split.as_ref(),
                        diff_id: &l.diff_id,
                        force_rebuild: false,
                    };
                    match produce(input, || Ok(io::sink()), None, &|_| {}) {
                        Ok((_, p)) => {
                            findings.extend(
                                p.findings
                                    .into_iter()
                                    .filter(|f| f.kind != FindingKind::DiffIdMismatch),
                            );
                            (
                                p.method,
                                p.written.sha256,
                                p.written.size,
                                p.written.files_checked,
                            )
                        }
                        Err(e) => {
                            findings.push(Finding::new(
                                FindingKind::FileUnreadable,
                                None,
                                e.to_string(),
                            ));
                            (Method::Rebuilt, String::new(), 0, 0)
                        }
                    }
                }
                None => {
                    findings.push(Finding::new(
                        FindingKind::LayerMissing,
                        None,
                        "neither the blob nor an unpacked copy is there",
                    ));
                    (Method::Blob, String::new(), 0, 0)
                }
            },
        };
        let verified = sha == hex_part(&l.diff_id);
        if !verified && !sha.is_empty() {
            findings.push(Finding::new(
                FindingKind::DiffIdMismatch,
                None,
                format!(
                    "layer tar hashes to sha256:{sha}, not to its diff_id {}",
                    l.diff_id
                ),
            ));
        }
        layers.push(LayerReport {
            index: l.index,
            diff_id: l.diff_id.clone(),
            chain_id: l.chain_id.clone(),
            cache_id: l.unpacked.as_ref().map(|u| u.key.clone()),
            method,
            sha256: sha,
            size,
            verified,
            files_checked: files,
            findings,
        });
    }
    let mut findings: Vec<Finding> = content
        .problems
        .iter()
        .map(|p| Finding::new(FindingKind::BlobMismatch, None, p.clone()))
        .collect();
    if !content.config_verified {
        findings.push(Finding::new(
            FindingKind::ConfigHashMismatch,
            None,
            "the stored config does not hash to its id",
        ));
    }
    let verified =
        findings.is_empty() && layers.iter().all(|l| l.verified && l.findings.is_empty());
    super::VerifiedImage {
        data_root: data_root.to_string(),
        image_id: content.id.clone(),
        tags: content
            .names
            .iter()
            .filter(|n| !n.starts_with("sha256:"))
            .cloned()
            .collect(),
        config_verified: content.config_verified,
        layers,
        findings,
        error: None,
        verified,
    }
}
