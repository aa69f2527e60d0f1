//! Writing an image's layers and its `image.tar` in one pass.
//!
//! When every layer can be replayed from tar-split, each layer's length is
//! known before it is written (the tar-split read ahead), so the archive's
//! entry header can be written first and the layer's bytes then go, as
//! they are produced, both to `layer_<i>/layer.tar` and into `image.tar`:
//! one read of the evidence, each output written once, and the two
//! sha256s (the layer's diff_id and the archive's checksum) computed on
//! separate threads. The blob is named by the diff_id it should have; if a
//! layer turns out not to match, the caller writes the archive again the
//! slow way from the layer files, under a derived config.

use super::archive::{
    ArchiveLayer, ArchivePlan, closing_entries, header, opening_entries, padding,
};
use super::progress::Bar;
use super::{ExportError, ExportOptions, out_err};
use crate::digest::hex_part;
use crate::layer::{Produced, produce};
use crate::pipe::{Chunk, DirectFile, FanOut, channel, run_sink};
use crate::store::docker::{DataRoot, LayerLocation};
use crate::store::model::Image;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

/// A layer as written: where it was found, how it was made, its file.
pub type WrittenLayer = (LayerLocation, Produced, PathBuf);

/// The archive written in the same pass, when it came out whole.
pub struct StreamedArchive {
    pub sha256: String,
    pub len: u64,
    pub plan: ArchivePlan,
}

/// Writes every layer file and, alongside, `image.tar`. `sizes` are the
/// layers' lengths read ahead from tar-split. Returns the archive only
/// when every layer replayed to its diff_id.
pub fn stream_image(
    root: &DataRoot,
    image: &Image,
    dir: &Path,
    locations: Vec<LayerLocation>,
    sizes: &[u64],
    opts: &ExportOptions,
) -> Result<(Vec<WrittenLayer>, Option<StreamedArchive>), ExportError> {
    let tar_path = dir.join("image.tar");
    std::thread::scope(|s| {
        let (img_tx, img_rx) = channel();
        let image_file = DirectFile::create(&tar_path).map_err(out_err(&tar_path))?;
        let sink = s.spawn(move || run_sink(img_rx, image_file, true));
        // The plan of the closing entries, when every layer went in whole.
        let result = (|| -> Result<(Vec<WrittenLayer>, Option<ArchivePlan>), ExportError> {
            let mut whole = true;
            send(&img_tx, &opening_entries().map_err(out_err(&tar_path))?)
                .map_err(out_err(&tar_path))?;
            let mut in_archive = HashSet::new();
            let mut written = Vec::with_capacity(locations.len());
            for (loc, size) in locations.into_iter().zip(sizes) {
                let first = in_archive.insert(loc.diff_id.clone());
                let tee = if first {
                    let name = format!("blobs/sha256/{}", hex_part(&loc.diff_id));
                    let h = header(&name, tar::EntryType::Regular, 0o644, *size)
                        .map_err(out_err(&tar_path))?;
                    send(&img_tx, h.as_bytes()).map_err(out_err(&tar_path))?;
                    Some(&img_tx)
                } else {
                    None
                };
                let file = layer_file(dir, loc.index)?;
                let p = write_layer(root, image, &loc, &file, tee, opts)?;
                if first {
                    whole &= p.teed && p.verified && p.written.size == *size;
                    if p.teed && p.written.size == *size {
                        send(&img_tx, &vec![0u8; padding(*size)]).map_err(out_err(&tar_path))?;
                    }
                }
                written.push((loc, p, file));
            }
            if !whole {
                return Ok((written, None));
            }
            let plan =
                ArchivePlan::new(&image.config_bytes, &image.tags, &archive_layers(&written));
            send(
                &img_tx,
                &closing_entries(&plan).map_err(out_err(&tar_path))?,
            )
            .map_err(out_err(&tar_path))?;
            Ok((written, Some(plan)))
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
        });
        Ok((written, archive))
    })
}

/// Writes every layer file (in parallel, two at a time); the archive is
/// then written from them.
pub fn layers_only(
    root: &DataRoot,
    image: &Image,
    dir: &Path,
    locations: Vec<LayerLocation>,
    opts: &ExportOptions,
) -> Result<Vec<WrittenLayer>, ExportError> {
    use rayon::prelude::*;
    locations
        .into_par_iter()
        .map(|loc| {
            let file = layer_file(dir, loc.index)?;
            let p = write_layer(root, image, &loc, &file, None, opts)?;
            Ok((loc, p, file))
        })
        .collect()
}

pub fn archive_layers(written: &[WrittenLayer]) -> Vec<ArchiveLayer> {
    written
        .iter()
        .map(|(_, p, file)| ArchiveLayer {
            sha256: p.written.sha256.clone(),
            size: p.written.size,
            file: file.clone(),
        })
        .collect()
}

fn send(tx: &SyncSender<Chunk>, bytes: &[u8]) -> io::Result<()> {
    let mut f = FanOut::new(vec![tx.clone()]);
    f.write_all(bytes)?;
    f.finish()
}

fn layer_file(dir: &Path, index: usize) -> Result<PathBuf, ExportError> {
    let ldir = dir.join(format!("layer_{index}"));
    fs::create_dir_all(&ldir).map_err(out_err(&ldir))?;
    Ok(ldir.join("layer.tar"))
}

fn write_layer(
    root: &DataRoot,
    image: &Image,
    loc: &LayerLocation,
    file: &Path,
    tee: Option<&SyncSender<Chunk>>,
    opts: &ExportOptions,
) -> Result<Produced, ExportError> {
    let bar = Bar::start(
        opts.progress.as_ref(),
        &format!("{} layer {}", image.short_id(), loc.index),
        loc.size,
    );
    let advance = |n: u64| bar.advance(n);
    let input = super::layer_input(root, loc, opts.rebuild);
    let (w, produced) =
        produce(input, || DirectFile::create(file), tee, &advance).map_err(|source| {
            ExportError::Layer {
                image: image.id.clone(),
                index: loc.index,
                source,
            }
        })?;
    w.finish().map_err(out_err(file))?;
    bar.finish();
    Ok(produced)
}
