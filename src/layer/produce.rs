//! Produces one layer's tar the best way the evidence allows: replay from
//! tar-split when it is there and readable, otherwise (or when asked) a
//! rebuild from the unpacked files. Used alike by `extract` (to a file),
//! `verify` (to nowhere) and every image store. The stream is hashed on
//! a thread of its own while the files are read ([`crate::pipe`]).

use super::replay::{LayerDir, ReplayError, Written, replay};
use super::retar::{RetarError, retar};
use super::tarsplit::{Entry, Reader, TarSplitError};
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use crate::pipe::{Chunk, FanOut, hash_through};
use crate::report::{Finding, FindingKind, Method};
use flate2::read::GzDecoder;
use std::io::{self, BufReader, Write};
use std::sync::mpsc::SyncSender;

/// What a layer is made from.
#[derive(Clone, Copy)]
pub struct LayerInput<'a> {
    pub fs: &'a dyn FileSystem,
    /// The unpacked files.
    pub dir: &'a EvPath,
    /// `tar-split.json.gz`, if the store has one.
    pub tar_split: Option<&'a EvPath>,
    /// The diff_id the tar should hash to.
    pub diff_id: &'a str,
    /// Ignore tar-split and rebuild (`--rebuild`).
    pub force_rebuild: bool,
}

/// The produced layer and what was learnt making it.
#[derive(Debug, Clone)]
pub struct Produced {
    pub method: Method,
    pub written: Written,
    /// sha256 of the stream equals the diff_id.
    pub verified: bool,
    pub findings: Vec<Finding>,
    /// Every byte also went to the tee, in order (a replay that finished).
    pub teed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Rebuild(#[from] RetarError),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Makes the layer into a fresh writer from `open_out` (called again, to
/// start over, if a tar-split turns out to be corrupt half-way). A replay
/// also sends every byte to `tee` (a rebuild never does).
pub fn produce<W: Write + Send>(
    input: LayerInput<'_>,
    mut open_out: impl FnMut() -> io::Result<W>,
    tee: Option<&SyncSender<Chunk>>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Produced), ProduceError> {
    let layer = LayerDir {
        fs: input.fs,
        dir: input.dir,
    };
    let mut findings = Vec::new();
    match (input.tar_split, input.force_rebuild) {
        (_, true) => {}
        (None, false) => findings.push(Finding::new(
            FindingKind::TarSplitMissing,
            None,
            "tar-split.json.gz is missing: the original tar stream cannot be replayed; the layer was rebuilt from its files",
        )),
        (Some(ts), false) => match try_replay(input.fs, ts, layer, open_out()?, tee, progress)? {
            Ok((out, written)) => {
                let verified = written.sha256 == hex_part(input.diff_id);
                let mut findings = written.findings.clone();
                if !verified {
                    findings.push(mismatch(input.diff_id, &written.sha256));
                }
                return Ok((
                    out,
                    Produced {
                        method: Method::TarSplit,
                        written,
                        verified,
                        findings,
                        teed: tee.is_some(),
                    },
                ));
            }
            Err(why) => findings.push(Finding::new(
                FindingKind::TarSplitCorrupt,
                Some(ts.display()),
                format!("tar-split unreadable ({why}); the layer was rebuilt from its files"),
            )),
        },
    }
    let (out, written) = hashed(open_out()?, None, |w| {
        retar(layer, w, progress)
            .map(|(_, w)| w)
            .map_err(ProduceError::from)
    })?;
    let verified = written.sha256 == hex_part(input.diff_id);
    findings.extend(written.findings.iter().cloned());
    if !verified {
        findings.push(mismatch(input.diff_id, &written.sha256));
    }
    Ok((
        out,
        Produced {
            method: Method::Rebuilt,
            written,
            verified,
            findings,
            teed: false,
        },
    ))
}

/// Runs a layer writer through a hashing output thread and records the
/// sha256 in what it returns.
pub fn hashed<W: Write + Send, E: From<io::Error>>(
    out: W,
    tee: Option<&SyncSender<Chunk>>,
    f: impl FnOnce(&mut FanOut) -> Result<Written, E>,
) -> Result<(W, Written), E> {
    let (mut written, sink, w) = hash_through(out, tee, f)?;
    written.sha256 = sink.sha256.unwrap_or_default();
    Ok((w, written))
}

fn mismatch(diff_id: &str, got: &str) -> Finding {
    Finding::new(
        FindingKind::DiffIdMismatch,
        None,
        format!("layer tar hashes to sha256:{got}, not to its diff_id {diff_id}"),
    )
}

/// The length of the stream a tar-split describes, read ahead so that an
/// archive header can be written before the layer itself.
pub fn tar_split_len(fs: &dyn FileSystem, ts: &EvPath) -> Result<u64, String> {
    let mut total = 0u64;
    for e in Reader::new(open_tar_split(fs, ts).map_err(|e| e.to_string())?) {
        total += match e.map_err(|e| e.to_string())? {
            Entry::Segment(b) => b.len() as u64,
            Entry::File { size, .. } => size,
        };
    }
    Ok(total)
}

/// Errors a replay can end with, before the output is blamed.
enum Attempt {
    TarSplit(TarSplitError),
    Output(io::Error),
}

impl From<io::Error> for Attempt {
    fn from(e: io::Error) -> Self {
        Attempt::Output(e)
    }
}

/// Replays from tar-split; the inner `Err` says why the tar-split could
/// not be used (the caller then rebuilds).
fn try_replay<W: Write + Send>(
    fs: &dyn FileSystem,
    ts: &EvPath,
    layer: LayerDir<'_>,
    out: W,
    tee: Option<&SyncSender<Chunk>>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Result<(W, Written), String>, ProduceError> {
    let reader = match open_tar_split(fs, ts) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let r = hashed(out, tee, |w| {
        replay(reader, layer, w, progress)
            .map(|(_, written)| written)
            .map_err(|e| match e {
                ReplayError::Output(e) => Attempt::Output(e),
                ReplayError::TarSplit(e) => Attempt::TarSplit(e),
            })
    });
    match r {
        Ok(done) => Ok(Ok(done)),
        Err(Attempt::Output(e)) => Err(ProduceError::Output(e)),
        Err(Attempt::TarSplit(e)) => Ok(Err(e.to_string())),
    }
}

fn open_tar_split(
    fs: &dyn FileSystem,
    path: &EvPath,
) -> Result<BufReader<GzDecoder<Box<dyn FileReader>>>, FsError> {
    let file = fs.open(path)?;
    Ok(BufReader::with_capacity(256 << 10, GzDecoder::new(file)))
}
