//! Produces one layer's tar the best way the evidence allows: replay from
//! tar-split when it is there and readable, otherwise (or when asked) a
//! rebuild from the unpacked files. Used alike by `extract` (to a file),
//! `verify` (to a sink) and every image store.

use super::replay::{LayerDir, ReplayError, Written, replay};
use super::retar::{RetarError, retar};
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileSystem, FsError};
use crate::report::{Finding, FindingKind, Method};
use flate2::read::GzDecoder;
use std::io::{self, BufReader, Write};

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
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Rebuild(#[from] RetarError),
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

/// Makes the layer into a fresh writer from `open_out` (called again, to
/// start over, if a tar-split turns out to be corrupt half-way).
pub fn produce<W: Write>(
    input: LayerInput<'_>,
    mut open_out: impl FnMut() -> io::Result<W>,
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
        (Some(ts), false) => match try_replay(input.fs, ts, layer, &mut open_out, progress)? {
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
    let out = open_out().map_err(ProduceError::Output)?;
    let (out, written) = retar(layer, out, progress)?;
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
        },
    ))
}

fn mismatch(diff_id: &str, got: &str) -> Finding {
    Finding::new(
        FindingKind::DiffIdMismatch,
        None,
        format!("layer tar hashes to sha256:{got}, not to its diff_id {diff_id}"),
    )
}

/// Replays from tar-split; the inner `Err` says why the tar-split could
/// not be used (the caller then rebuilds).
fn try_replay<W: Write>(
    fs: &dyn FileSystem,
    ts: &EvPath,
    layer: LayerDir<'_>,
    open_out: &mut impl FnMut() -> io::Result<W>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Result<(W, Written), String>, ProduceError> {
    let reader = match open_tar_split(fs, ts) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let out = open_out().map_err(ProduceError::Output)?;
    match replay(reader, layer, out, progress) {
        Ok(done) => Ok(Ok(done)),
        Err(ReplayError::Output(e)) => Err(ProduceError::Output(e)),
        Err(e @ ReplayError::TarSplit(_)) => Ok(Err(e.to_string())),
    }
}

fn open_tar_split(
    fs: &dyn FileSystem,
    path: &EvPath,
) -> Result<BufReader<GzDecoder<Box<dyn crate::evidence::fs::FileReader>>>, FsError> {
    let file = fs.open(path)?;
    Ok(BufReader::with_capacity(256 << 10, GzDecoder::new(file)))
}
