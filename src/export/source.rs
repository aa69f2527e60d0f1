//! One layer's tar from the best source its store kept ([`LayerSource`]):
//! the blob the registry served (checked against its digest and
//! decompressed), else a tar-split replay of the unpacked files, else a
//! rebuild from them, which the report calls "rebuilt".
//!
//! Whatever the source, the tar goes to the layer file; a tee, when given,
//! receives in the same read either the raw blob bytes (an archive that
//! keeps the registry's blobs verbatim) or the tar itself.
//!
//! A layer read from its blob that the store also unpacked (containerd's
//! snapshots) has its snapshot compared with the tar in the same pass
//! ([`crate::layer::snapshot`]): containers run from the snapshot, so a
//! change there is reported even when the blob is intact.

use super::error::ExportError;
use super::progress::Bar;
use crate::digest::hex_part;
use crate::evidence::fs::FileSystem;
use crate::layer::snapshot::{Snapshot, SnapshotCheck, check_chunks};
use crate::layer::{LayerInput, PreparedLayer, Produced, Written, hashed_all, prepare};
use crate::pipe::{Chunk, FanOut, Output};
use crate::report::{Finding, FindingKind, LayerReport, Method};
use crate::store::StoreError;
use crate::store::blob::{Compression, decompressed};
use crate::store::model::{Image, LayerBlob, LayerSource};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::sync::mpsc::SyncSender;

/// What a tee receives.
#[derive(Clone, Copy)]
pub(crate) enum Tee<'a> {
    None,
    /// The blob's bytes as stored (only for a layer read from its blob).
    Blob(&'a SyncSender<Chunk>),
    /// The layer tar.
    Tar(&'a SyncSender<Chunk>),
}

/// A layer as produced.
pub(crate) struct LayerOut {
    pub report: LayerReport,
    /// It came from its blob, and the blob matched its digest and size.
    pub blob_ok: bool,
    /// The tee received the whole stream it was meant to.
    pub teed: bool,
}

/// The blob to read a layer from: present, and not refused by `rebuild`.
pub(crate) fn usable_blob(l: &LayerSource, rebuild: bool) -> Option<&LayerBlob> {
    l.blob.as_ref().filter(|b| b.present && !rebuild)
}

/// Checks before anything is written that every layer has a source.
pub(crate) fn check_sources(image: &Image, rebuild: bool) -> Result<(), StoreError> {
    if image.layers.is_empty() {
        return Err(StoreError::BadImage {
            image: image.id.clone(),
            detail: "the config lists no layers (rootfs.diff_ids is empty)".into(),
        });
    }
    for l in &image.layers {
        if usable_blob(l, rebuild).is_none() && l.unpacked.is_none() {
            return Err(StoreError::LayerMissing {
                image: image.id.clone(),
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
            });
        }
    }
    Ok(())
}

/// The report entry of a layer; the locator's findings come first.
pub(crate) fn layer_report(l: &LayerSource, p: Produced, cache_id: Option<String>) -> LayerReport {
    let mut findings = l.findings.clone();
    findings.extend(p.findings);
    LayerReport {
        index: l.index,
        diff_id: l.diff_id.clone(),
        chain_id: l.chain_id.clone(),
        cache_id,
        method: p.method,
        sha256: p.written.sha256,
        size: p.written.size,
        verified: p.verified,
        files_checked: p.written.files_checked,
        findings,
        same_as: None,
    }
}

/// What `layer::produce` wants for an unpacked layer.
pub(crate) fn unpacked_input<'a>(
    fs: &'a dyn FileSystem,
    l: &'a LayerSource,
    rebuild: bool,
) -> Option<LayerInput<'a>> {
    let u = l.unpacked.as_ref()?;
    Some(LayerInput {
        fs,
        dir: &u.dir,
        tar_split: u.tar_split.as_ref(),
        diff_id: &l.diff_id,
        force_rebuild: rebuild,
    })
}

/// A layer's source, chosen and read ahead: its blob, or its unpacked
/// copy with the tar-split already parsed (once).
pub(crate) enum Prepared<'a> {
    Blob(&'a LayerBlob),
    Unpacked(PreparedLayer<'a>),
}

impl Prepared<'_> {
    /// The length of the layer tar, when known before it is written.
    pub fn tar_len(&self) -> Option<u64> {
        match self {
            Prepared::Blob(_) => None,
            Prepared::Unpacked(p) => p.tar_len(),
        }
    }
}

/// Chooses layer `l`'s source and reads what it needs ahead (the
/// tar-split, bounded by the layer's recorded size).
pub(crate) fn prepare_layer<'a>(
    fs: &'a dyn FileSystem,
    image: &Image,
    l: &'a LayerSource,
    rebuild: bool,
) -> Result<Prepared<'a>, ExportError> {
    if let Some(blob) = usable_blob(l, rebuild) {
        return Ok(Prepared::Blob(blob));
    }
    let layer_err = |source| ExportError::Layer {
        image: image.id.clone(),
        index: l.index,
        source,
    };
    let input = unpacked_input(fs, l, rebuild).ok_or_else(|| {
        ExportError::Store(StoreError::LayerMissing {
            image: image.id.clone(),
            index: l.index,
            diff_id: l.diff_id.clone(),
            detail: "no blob and no unpacked copy".into(),
        })
    })?;
    prepare(input, l.size)
        .map(Prepared::Unpacked)
        .map_err(layer_err)
}

/// Writes layer `l` of `image` to `out` (opened by `open`) from its
/// prepared source.
pub(crate) fn write_layer<W: Output + Send>(
    fs: &dyn FileSystem,
    image: &Image,
    l: &LayerSource,
    prepared: Prepared<'_>,
    open: impl FnMut() -> io::Result<W>,
    tee: Tee<'_>,
    bar: &Bar,
) -> Result<(W, LayerOut), ExportError> {
    let prepared = match prepared {
        Prepared::Blob(blob) => return from_blob(fs, l, blob, open, tee, bar),
        Prepared::Unpacked(p) => p,
    };
    let tar_tee = match tee {
        Tee::Tar(t) => Some(t),
        _ => None,
    };
    let advance = |n: u64| bar.advance(n);
    let (w, mut p) = prepared
        .produce(open, tar_tee, &advance)
        .map_err(|source| ExportError::Layer {
            image: image.id.clone(),
            index: l.index,
            source,
        })?;
    if let Some(b) = l.blob.as_ref().filter(|b| !b.present) {
        // Say why the blob was not used rather than only "no tar-split".
        p.findings
            .retain(|f| f.kind != FindingKind::TarSplitMissing);
        p.findings.insert(
            0,
            Finding::new(
                FindingKind::BlobMismatch,
                Some(b.path.display()),
                format!(
                    "blob {} is gone from the content store (garbage-collected?); the layer was rebuilt from the unpacked snapshot {}",
                    b.digest,
                    l.unpacked.as_ref().map(|u| u.dir.display()).unwrap_or_default()
                ),
            ),
        );
    }
    let teed = p.teed;
    let key = l.unpacked.as_ref().map(|u| u.key.clone());
    Ok((
        w,
        LayerOut {
            report: layer_report(l, p, key),
            blob_ok: false,
            teed,
        },
    ))
}

fn from_blob<W: Output + Send>(
    fs: &dyn FileSystem,
    l: &LayerSource,
    blob: &LayerBlob,
    open: impl FnMut() -> io::Result<W>,
    tee: Tee<'_>,
    bar: &Bar,
) -> Result<(W, LayerOut), ExportError> {
    let place = format!("{} (blob {})", blob.path.display(), blob.digest);
    let evidence_err = |e: String| ExportError::Evidence {
        place: place.clone(),
        detail: e,
    };
    let raw = fs
        .open(&blob.path)
        .map_err(|e| evidence_err(e.to_string()))?;
    // An uncompressed blob IS the layer tar, byte for byte: the sha256
    // the layer's output thread computes is the blob's too, and checks
    // both its digest and the diff_id (one hash of the bytes, not two).
    let one_hash = blob.compression == Compression::None;
    let mut counted = CountingReader {
        inner: raw,
        hash: (!one_hash).then(Sha256::new),
        len: 0,
        // (An uncompressed blob reaches the tee as the layer tar does, in
        // the same buffers.)
        copy: match tee {
            Tee::Blob(t) if !one_hash => Some(FanOut::new(vec![t.clone()])),
            _ => None,
        },
        advance: bar,
    };
    let mut open = open;
    let out = open().map_err(|source| ExportError::Output {
        path: place.clone(),
        source,
    })?;
    // A blob that inflates past this is checked against its digest
    // before it may go on (a decompression bomb that is not the blob its
    // manifest names stops here).
    // (Nothing inflates an uncompressed blob: the tar is no longer than
    // what the file gives.)
    let cap = if one_hash {
        u64::MAX
    } else {
        blob_file_size(fs, blob)
            .saturating_mul(INFLATE_RATIO)
            .max(1 << 20)
    };
    let mut bombed: Option<u64> = None;
    let snapshot = l.unpacked.as_ref().map(|u| Snapshot {
        fs,
        dir: &u.dir,
        key: &u.key,
        diff_id: &l.diff_id,
    });
    // The snapshot, if any, is compared with the tar as it is decompressed:
    // the fan-out that hashes the tar also hands each chunk to a checker.
    let (result, check) = std::thread::scope(|s| {
        let (tx, checker) = match snapshot {
            Some(snap) => {
                let (tx, rx) = crate::pipe::channel();
                let h = s.spawn(move || check_chunks(&snap, rx));
                (Some(tx), Some(h))
            }
            None => (None, None),
        };
        let mut tees: Vec<SyncSender<Chunk>> = tx.iter().cloned().collect();
        if let (true, Tee::Blob(t)) = (one_hash, tee) {
            tees.push(t.clone());
        }
        let result = hashed_all(out, tees, |w| -> Result<Written, Failure> {
            let mut stream: Box<dyn Read + Send + '_> =
                decompressed(&mut counted, blob.compression);
            let mut size = 0u64;
            let mut vouched = false;
            loop {
                if size > cap && !vouched {
                    // Past the ratio no honest blob needs to prove itself:
                    // finish hashing the blob (not inflating it) and go on
                    // only if it is the one its manifest names.
                    drop(stream);
                    io::copy(&mut counted, &mut io::sink()).map_err(Failure::Evidence)?;
                    let hex = counted
                        .hash
                        .clone()
                        .map(|h| hex::encode(h.finalize()))
                        .unwrap_or_default();
                    if hex != hex_part(&blob.digest) || counted.len != blob.size {
                        bombed = Some(size);
                        return Ok(Written {
                            size,
                            ..Default::default()
                        });
                    }
                    vouched = true;
                    // Authentic: inflate again from the start, past what
                    // was written (only such rare blobs are read twice).
                    let again = fs
                        .open(&blob.path)
                        .map_err(|e| Failure::Evidence(io::Error::other(e.to_string())))?;
                    stream = decompressed(again, blob.compression);
                    io::copy(&mut (&mut stream).take(size), &mut io::sink())
                        .map_err(Failure::Evidence)?;
                }
                // Read straight into the fan-out's buffer.
                let n = stream
                    .read(w.spare().map_err(Failure::Output)?)
                    .map_err(Failure::Evidence)?;
                if n == 0 {
                    break;
                }
                w.commit(n).map_err(Failure::Output)?;
                size += n as u64;
            }
            drop(stream);
            // Whatever the decompressor left unread still belongs to the blob.
            io::copy(&mut counted, &mut io::sink()).map_err(Failure::Evidence)?;
            Ok(Written {
                size,
                ..Default::default()
            })
        });
        // The checker reads until every sender is gone.
        drop(tx);
        let check = checker.map(|h| h.join().unwrap_or_else(|_| checker_failed(l)));
        (result, check)
    });
    let (w, mut written) = result.map_err(|f| match f {
        Failure::Evidence(e) => evidence_err(e.to_string()),
        Failure::Output(source) => ExportError::Output {
            path: place.clone(),
            source,
        },
    })?;
    let teed = match counted.copy.take() {
        Some(c) => c.finish().is_ok(),
        // The layer's own fan-out fed the tee, and finished.
        None => one_hash && matches!(tee, Tee::Blob(_)),
    };
    let mut findings = Vec::new();
    let blob_hex = match counted.hash.take() {
        Some(h) => hex::encode(h.finalize()),
        // Every byte of the blob went to the layer tar, in order.
        None if counted.len == written.size => written.sha256.clone(),
        // Bytes came after the end the tar saw (a reader that gave more
        // after saying it had ended): the blob is hashed on its own.
        None => blob_sha256(fs, blob).map_err(|e| evidence_err(e.to_string()))?,
    };
    let blob_ok = blob_hex == hex_part(&blob.digest) && counted.len == blob.size;
    if !blob_ok {
        findings.push(Finding::new(
            FindingKind::BlobMismatch,
            Some(blob.path.display()),
            format!(
                "blob is {} bytes hashing to sha256:{blob_hex}; the manifest says {} bytes, {}",
                counted.len, blob.size, blob.digest
            ),
        ));
    }
    let verified = written.sha256 == hex_part(&l.diff_id);
    if !verified {
        findings.push(Finding::new(
            FindingKind::DiffIdMismatch,
            None,
            if l.diff_id.is_empty() {
                format!(
                    "layer tar hashes to sha256:{}; the store recorded no diff_id to check it against",
                    written.sha256
                )
            } else {
                format!(
                    "layer tar hashes to sha256:{}, not to its diff_id {}",
                    written.sha256, l.diff_id
                )
            },
        ));
    }
    if let Some(at) = bombed {
        findings.push(Finding::new(
            FindingKind::SizeImplausible,
            Some(blob.path.display()),
            format!(
                "the blob does not match its digest {} and inflates past {INFLATE_RATIO} times its size: inflating stopped at {at} bytes, the layer tar is cut there",
                blob.digest
            ),
        ));
    }
    written.findings = Vec::new();
    if let Some(check) = check {
        written.files_checked = check.files_checked;
        findings.extend(check.findings);
    }
    let p = Produced {
        method: Method::Blob,
        written,
        verified,
        findings,
        teed,
    };
    Ok((
        w,
        LayerOut {
            report: layer_report(l, p, Some(blob.digest.clone())),
            blob_ok,
            teed,
        },
    ))
}

/// The sha256 (hex) of the blob file, read again.
fn blob_sha256(fs: &dyn FileSystem, blob: &LayerBlob) -> io::Result<String> {
    let mut f = fs
        .open(&blob.path)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(hex::encode(h.finalize())),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// How many times its stored size a blob may inflate to before its digest
/// must vouch for it (honest layers rarely pass 20; a bomb passes 1000).
const INFLATE_RATIO: u64 = 64;

/// The blob file's size in the evidence (0 when unknown): what the blob
/// really is, whatever its manifest claims.
fn blob_file_size(fs: &dyn FileSystem, blob: &LayerBlob) -> u64 {
    fs.metadata(&blob.path).map(|m| m.size).unwrap_or(0)
}

/// A failure while a blob is turned into a layer tar: reading the
/// evidence, or writing the output (never confused in messages).
pub(crate) enum Failure {
    Evidence(io::Error),
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

/// What a snapshot check that stopped unexpectedly reports.
fn checker_failed(l: &LayerSource) -> SnapshotCheck {
    SnapshotCheck {
        findings: vec![Finding::new(
            FindingKind::FileUnreadable,
            None,
            format!(
                "the comparison of the unpacked snapshot {} with the layer stopped unexpectedly",
                l.unpacked
                    .as_ref()
                    .map(|u| u.key.as_str())
                    .unwrap_or_default()
            ),
        )],
        ..Default::default()
    }
}

/// Hashes and counts what is read through it, and copies it to a tee.
struct CountingReader<'a, R> {
    inner: R,
    /// `None` when the blob's bytes are hashed as the layer tar.
    hash: Option<Sha256>,
    len: u64,
    copy: Option<FanOut>,
    advance: &'a Bar,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        self.advance.advance(n as u64);
        if let Some(c) = &mut self.copy {
            c.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}
