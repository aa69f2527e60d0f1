//! Writing an image's layers and its `image.tar` in one pass.
//!
//! When the size of every archive member is known before its bytes are
//! produced, the member's tar header is written first and the bytes then
//! go, as they are read, both to `layer_<i>/layer.tar` and into
//! `image.tar`: one read of the evidence, each output written once, the
//! sha256s computed on separate threads. Two plans allow it:
//!
//! - [`Plan::Blobs`]: every layer comes from a blob the store kept and the
//!   store kept the manifest: the archive carries the blobs and the
//!   manifest byte for byte (sizes from the manifest), so its digests
//!   still verify;
//! - [`Plan::Tars`]: every layer is replayed from tar-split, whose length
//!   is known ahead: the archive carries the layer tars, named by the
//!   diff_ids they should hash to.
//!
//! If a member turns out not to match, the caller writes the archive
//! again the slow way from the layer files, under a derived config.
//!
//! Under [`Plan::Blobs`] the archive also carries the rest of the image's
//! stored graph ([`crate::store::model::ImageGraph`]: the index, other
//! platforms' manifests, BuildKit attestation manifests and statements),
//! each blob verbatim, and `index.json` points at the index the image
//! record pointed at: Docker 29's `docker load` then reports the id the
//! image had on the seized host (OCI image-spec `image-layout.md`; moby
//! `image/tarexport` and `daemon/containerd/image_exporter.go`).

use super::archive::small_entry;
use super::archive::{ArchivePlan, closing_entries, header, opening_entries, padding};
use super::error::{ExportError, ExportOptions, out_err};
use super::progress::Bar;
use super::source::{LayerOut, Prepared, Tee, write_layer};
use crate::digest::{hex_part, sha256_hex};
use crate::evidence::fs::FileSystem;
use crate::pipe::{Chunk, DirectFile, FanOut, Output, channel, run_sink};
use crate::store::model::GraphBlob;
use crate::store::model::Image;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

/// How the archive can be written alongside the layers.
pub(crate) enum Plan {
    /// The stored blobs and manifest, verbatim: each layer's blob digest
    /// (hex) and size.
    Blobs(Vec<(String, u64)>),
    /// The layer tars: each layer's length, read ahead.
    Tars(Vec<u64>),
}

/// Chooses how the archive is written: in the same pass when every
/// member's size is known ahead, else afterwards from the layer files.
pub(crate) fn plan(image: &Image, prepared: &[Prepared<'_>]) -> Option<Plan> {
    let blobs: Option<Vec<(String, u64)>> = prepared
        .iter()
        .map(|p| match p {
            Prepared::Blob(b) => Some((hex_part(&b.digest).to_string(), b.size)),
            Prepared::Unpacked(_) => None,
        })
        .collect();
    match blobs {
        Some(b) if image.manifest_bytes.is_some() => Some(Plan::Blobs(b)),
        _ => prepared
            .iter()
            .map(Prepared::tar_len)
            .collect::<Option<Vec<u64>>>()
            .map(Plan::Tars),
    }
}

/// A layer as written, with its file.
pub(crate) type WrittenLayer = (LayerOut, PathBuf);

/// The archive written in the same pass, when it came out whole.
pub(crate) struct StreamedArchive {
    pub sha256: String,
    pub len: u64,
    pub plan: ArchivePlan,
    /// Blobs of the image's graph that did not come out as their digest
    /// says (short, unreadable, or hashing otherwise).
    pub graph_problems: Vec<String>,
}

/// Writes every layer file and, alongside, `image.tar`. Returns the
/// archive only when every member went in whole and verified.
pub(crate) fn stream_image(
    fs_: &dyn FileSystem,
    image: &Image,
    dir: &Path,
    plan: Plan,
    prepared: Vec<Prepared<'_>>,
    opts: &ExportOptions,
) -> Result<(Vec<WrittenLayer>, Option<StreamedArchive>), ExportError> {
    let tar_path = dir.join("image.tar");
    std::thread::scope(|s| {
        let (img_tx, img_rx) = channel();
        let image_file = DirectFile::create(&tar_path).map_err(out_err(&tar_path))?;
        let sink = s.spawn(move || run_sink(img_rx, image_file, true));
        let mut graph_problems = Vec::new();
        let result = (|| -> Result<(Vec<WrittenLayer>, Option<ArchivePlan>), ExportError> {
            let mut whole = true;
            send(&img_tx, &opening_entries().map_err(out_err(&tar_path))?)
                .map_err(out_err(&tar_path))?;
            let mut in_archive = HashSet::new();
            let mut written = Vec::with_capacity(image.layers.len());
            for ((i, l), p) in image.layers.iter().enumerate().zip(prepared) {
                let (member, size) = match &plan {
                    Plan::Blobs(b) => (b[i].0.clone(), b[i].1),
                    Plan::Tars(sizes) => (hex_part(&l.diff_id).to_string(), sizes[i]),
                };
                let first = in_archive.insert(member.clone());
                let tee = if first {
                    let name = format!("blobs/sha256/{member}");
                    let h = header(&name, tar::EntryType::Regular, 0o644, size)
                        .map_err(out_err(&tar_path))?;
                    send(&img_tx, h.as_bytes()).map_err(out_err(&tar_path))?;
                    match plan {
                        Plan::Blobs(_) => Tee::Blob(&img_tx),
                        Plan::Tars(_) => Tee::Tar(&img_tx),
                    }
                } else {
                    Tee::None
                };
                let file = layer_file(dir, l.index);
                let keep = !opts.archive_only;
                let out = write_one(fs_, image, i, p, &file, keep, tee, opts)?;
                if first {
                    let streamed = match plan {
                        Plan::Blobs(_) => out.blob_ok,
                        Plan::Tars(_) => out.report.size == size,
                    };
                    whole &= out.teed && streamed && out.report.verified;
                    if out.teed && streamed {
                        send(&img_tx, &vec![0u8; padding(size)]).map_err(out_err(&tar_path))?;
                    }
                }
                written.push((out, file));
            }
            if !whole {
                return Ok((written, None));
            }
            let mut archive_plan = match &plan {
                Plan::Blobs(blobs) => verbatim_plan(image, blobs),
                Plan::Tars(_) => {
                    ArchivePlan::new(&image.config_bytes, &image.names, &archive_layers(&written))
                }
            };
            if let (Plan::Blobs(_), Some(graph)) = (&plan, &image.graph) {
                let t = &graph.target;
                archive_plan.point_index_at(&t.media_type, &t.digest, t.size);
                in_archive.insert(sha256_hex(&archive_plan.config));
                in_archive.insert(sha256_hex(&archive_plan.oci_manifest));
                for b in &graph.blobs {
                    if in_archive.insert(hex_part(&b.digest).to_string()) {
                        write_graph_blob(fs_, &img_tx, b, &mut graph_problems)
                            .map_err(out_err(&tar_path))?;
                    }
                }
            }
            send(
                &img_tx,
                &closing_entries(&archive_plan).map_err(out_err(&tar_path))?,
            )
            .map_err(out_err(&tar_path))?;
            Ok((written, Some(archive_plan)))
        })();
        drop(img_tx);
        let (done, file) = sink
            .join()
            .map_err(|_| out_err(&tar_path)(io::Error::other("archive writer failed")))?
            .map_err(out_err(&tar_path))?;
        let (written, plan) = result?;
        file.finish().map_err(out_err(&tar_path))?;
        let archive = plan.map(|plan| StreamedArchive {
            sha256: done.sha256.unwrap_or_default(),
            len: done.written,
            plan,
            graph_problems,
        });
        Ok((written, archive))
    })
}

/// Writes one blob of the image's graph into the archive: the small
/// documents from the bytes read (and checked) when the image was
/// resolved, a layer from the evidence, exactly as long as its descriptor
/// says, hashed on the way.
fn write_graph_blob(
    fs_: &dyn FileSystem,
    tx: &SyncSender<Chunk>,
    b: &GraphBlob,
    problems: &mut Vec<String>,
) -> io::Result<()> {
    use sha2::Digest;
    use std::io::Read;
    let hex = hex_part(&b.digest);
    let name = format!("blobs/sha256/{hex}");
    if let Some(bytes) = &b.bytes {
        return send(tx, &small_entry(&name, bytes)?);
    }
    let mut file = match fs_.open(&b.path) {
        Ok(f) => f,
        Err(e) => {
            problems.push(format!("{}: left out of image.tar: {e}", b.digest));
            return Ok(());
        }
    };
    send(
        tx,
        header(&name, tar::EntryType::Regular, 0o644, b.size)?.as_bytes(),
    )?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = b.size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                problems.push(format!(
                    "{}: unreadable after {} bytes: {e}",
                    b.digest,
                    b.size - left
                ));
                break;
            }
        };
        hasher.update(&buf[..n]);
        send(tx, &buf[..n])?;
        left -= n as u64;
    }
    if left > 0 {
        problems.push(format!(
            "{}: {left} of its {} bytes missing, zero-filled in image.tar",
            b.digest, b.size
        ));
        buf.fill(0);
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            send(tx, &buf[..n])?;
            left -= n as u64;
        }
    }
    let got = hex::encode(hasher.finalize());
    if got != hex {
        problems.push(format!("{}: content hashes to sha256:{got}", b.digest));
    }
    send(tx, &vec![0u8; padding(b.size)])
}

/// The plan of an archive that keeps the store's manifest and blobs.
fn verbatim_plan(image: &Image, blobs: &[(String, u64)]) -> ArchivePlan {
    let manifest = image.manifest_bytes.clone().unwrap_or_default();
    let media = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
    let names: Vec<String> = blobs.iter().map(|b| b.0.clone()).collect();
    let top = image
        .layers
        .last()
        .map(|l| hex_part(&l.diff_id).to_string());
    ArchivePlan::with_manifest(
        &image.config_bytes,
        manifest,
        &media,
        &image.names,
        &names,
        top,
    )
}

/// Writes every layer file (in parallel, two at a time); the archive is
/// then written from them.
pub(crate) fn layers_only(
    fs_: &dyn FileSystem,
    image: &Image,
    dir: &Path,
    prepared: Vec<Prepared<'_>>,
    opts: &ExportOptions,
) -> Result<Vec<WrittenLayer>, ExportError> {
    use rayon::prelude::*;
    prepared
        .into_par_iter()
        .enumerate()
        .map(|(i, p)| {
            let file = layer_file(dir, image.layers[i].index);
            let out = write_one(fs_, image, i, p, &file, true, Tee::None, opts)?;
            Ok((out, file))
        })
        .collect()
}

/// The layers as archive members.
pub(crate) fn archive_layers(written: &[WrittenLayer]) -> Vec<super::archive::ArchiveLayer> {
    written
        .iter()
        .map(|(out, file)| super::archive::ArchiveLayer {
            sha256: out.report.sha256.clone(),
            size: out.report.size,
            file: file.clone(),
        })
        .collect()
}

fn send(tx: &SyncSender<Chunk>, bytes: &[u8]) -> io::Result<()> {
    let mut f = FanOut::new(vec![tx.clone()]);
    f.write_all(bytes)?;
    f.finish()
}

/// Where layer `index` is written: `layer_<index>/layer.tar`.
fn layer_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("layer_{index}")).join("layer.tar")
}

/// Creates the directory `file` goes in.
fn make_parent(file: &Path) -> io::Result<()> {
    match file.parent() {
        Some(parent) => fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// Where a layer's bytes go besides `image.tar`: its own file, or, with
/// `--archive-only`, nowhere (they are still hashed, to check the
/// diff_id, and written once, inside the archive).
enum LayerSink {
    File(DirectFile),
    HashedOnly,
}

impl Write for LayerSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            LayerSink::File(f) => f.write(data),
            LayerSink::HashedOnly => Ok(data.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerSink::File(f) => f.flush(),
            LayerSink::HashedOnly => Ok(()),
        }
    }
}

impl Output for LayerSink {
    fn write_chunk(&mut self, chunk: &Chunk) -> io::Result<()> {
        match self {
            LayerSink::File(f) => f.write_chunk(chunk),
            LayerSink::HashedOnly => Ok(()),
        }
    }
}

impl LayerSink {
    fn finish(self) -> io::Result<()> {
        match self {
            LayerSink::File(f) => f.finish().map(drop),
            LayerSink::HashedOnly => Ok(()),
        }
    }
}

/// Writes layer `i`, to `file` when `keep`, else only into the tee.
#[allow(clippy::too_many_arguments)]
fn write_one(
    fs_: &dyn FileSystem,
    image: &Image,
    i: usize,
    prepared: Prepared<'_>,
    file: &Path,
    keep: bool,
    tee: Tee<'_>,
    opts: &ExportOptions,
) -> Result<LayerOut, ExportError> {
    let l = &image.layers[i];
    if keep && let Some(out) = linked(image, i, file, tee, opts)? {
        return Ok(out);
    }
    let bar = Bar::start(
        opts.progress.as_ref(),
        &format!("{} layer {}", image.short_id(), l.index),
        l.size.or(l.blob.as_ref().map(|b| b.size)),
    );
    let open = || {
        if !keep {
            return Ok(LayerSink::HashedOnly);
        }
        make_parent(file)?;
        DirectFile::create(file).map(LayerSink::File)
    };
    let (w, out) = write_layer(fs_, image, l, prepared, open, tee, &bar)?;
    w.finish().map_err(out_err(file))?;
    bar.finish();
    Ok(out)
}

/// The layer as a hard link (or, across filesystems, a copy) of the same
/// verified layer this run already wrote for another image, when there is
/// one; its bytes also go to a tar tee. `None`: write it.
fn linked(
    image: &Image,
    i: usize,
    file: &Path,
    tee: Tee<'_>,
    opts: &ExportOptions,
) -> Result<Option<LayerOut>, ExportError> {
    let l = &image.layers[i];
    let Some(cache) = opts.written.as_ref().filter(|_| !opts.rebuild) else {
        return Ok(None);
    };
    if matches!(tee, Tee::Blob(_)) {
        return Ok(None);
    }
    let Some((src, shown, report)) = cache.get(&l.diff_id) else {
        return Ok(None);
    };
    make_parent(file).map_err(out_err(file))?;
    if fs::hard_link(&src, file).is_err() && fs::copy(&src, file).is_err() {
        return Ok(None);
    }
    let mut teed = false;
    if let Tee::Tar(tx) = tee {
        let mut f = FanOut::new(vec![tx.clone()]);
        let mut input = fs::File::open(file).map_err(out_err(file))?;
        io::copy(&mut input, &mut f).map_err(out_err(file))?;
        f.finish().map_err(out_err(file))?;
        teed = true;
    }
    let mut r = report;
    r.index = l.index;
    r.chain_id = l.chain_id.clone();
    r.findings = l.findings.iter().cloned().chain(r.findings).collect();
    r.same_as = Some(shown);
    Ok(Some(LayerOut {
        report: r,
        blob_ok: false,
        teed,
    }))
}
