//! Produces one layer's tar the best way the evidence allows: replay from
//! tar-split when it is there and readable, otherwise (or when asked) a
//! rebuild from the unpacked files. Used alike by `extract` (to a file),
//! `verify` (to nowhere) and every image store. The stream is hashed on
//! a thread of its own while the files are read ([`crate::pipe`]).
//!
//! In two steps: [`prepare`] reads the tar-split once (gunzip, parse,
//! check, see [`super::tarsplit::Reader::checked`]) into a compact spool
//! ([`super::spool`]) and learns the tar's length, so an archive header
//! can be written before the layer; [`PreparedLayer::produce`] then writes
//! the layer from the spool. A tar-split that is missing, unreadable or
//! implausible is found in the first step, and the layer is rebuilt.

use super::replay::{LayerDir, ReplayError, Written, replay_entries};
use super::retar::{RetarError, retar_limited};
use super::spool::{Spool, SpoolWriter};
use super::tarsplit::Reader;
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use crate::pipe::{Chunk, FanOut, Output, hash_through_all};
use crate::report::{Finding, FindingKind, Method};
use flate2::read::GzDecoder;
use std::io::{self, BufReader};
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
    /// The temporary spool of the tar-split entries failed (a problem of
    /// the examiner's machine, not of the evidence).
    #[error("spooling tar-split entries: {0}")]
    Spool(#[source] io::Error),
}

/// A layer whose tar-split, if any, was read and checked: ready to be
/// written with [`PreparedLayer::produce`].
#[derive(Debug)]
pub struct PreparedLayer<'a> {
    layer: LayerDir<'a>,
    diff_id: &'a str,
    size_limit: Option<u64>,
    plan: Plan,
    /// Why the layer will be rebuilt, if it will.
    findings: Vec<Finding>,
}

#[derive(Debug)]
enum Plan {
    Replay { spool: Spool, tar_len: u64 },
    Rebuild,
}

/// Reads the layer's tar-split once (unless `force_rebuild`), keeping its
/// checked entries for [`PreparedLayer::produce`].
///
/// `size_limit` is the store's recorded size of the layer: Docker's
/// layerdb `size` (for overlay2 the size of the unpacked directory, moby
/// `daemon/graphdriver/overlay2` `ApplyDiff` → `directory.Size`: every
/// file and symlink once) or containers-storage's `diff-size` (the tar's
/// length). Either is at least the sum of the tar's file contents, so a
/// tar-split whose files add up to more is not replayed
/// (`size_implausible`, then a rebuild), and a rebuild writes no more file
/// content than that. A tar-split that is missing or unreadable means a
/// rebuild too, with the same findings as [`produce`] always gave.
pub fn prepare(
    input: LayerInput<'_>,
    size_limit: Option<u64>,
) -> Result<PreparedLayer<'_>, ProduceError> {
    let mut prepared = PreparedLayer {
        layer: LayerDir {
            fs: input.fs,
            dir: input.dir,
        },
        diff_id: input.diff_id,
        size_limit,
        plan: Plan::Rebuild,
        findings: Vec::new(),
    };
    match (input.tar_split, input.force_rebuild) {
        (_, true) => {}
        (None, false) => prepared.findings.push(Finding::new(
            FindingKind::TarSplitMissing,
            None,
            "tar-split.json.gz is missing: the original tar stream cannot be replayed; the layer was rebuilt from its files",
        )),
        (Some(ts), false) => match spool_tar_split(input.fs, ts)? {
            Ok((spool, check)) => match size_limit {
                Some(limit) if check.content_len() > limit => {
                    prepared.findings.push(Finding::new(
                        FindingKind::SizeImplausible,
                        Some(ts.display()),
                        format!(
                            "tar-split's files add up to {} bytes, more than the layer's recorded size of {limit}; the layer was rebuilt from its files",
                            check.content_len()
                        ),
                    ))
                }
                _ => {
                    prepared.plan = Plan::Replay {
                        spool,
                        tar_len: check.tar_len(),
                    }
                }
            },
            Err(why) => prepared.findings.push(Finding::new(
                FindingKind::TarSplitCorrupt,
                Some(ts.display()),
                format!("tar-split unreadable ({why}); the layer was rebuilt from its files"),
            )),
        },
    }
    Ok(prepared)
}

/// Reads and checks every entry into a spool; the inner `Err` says why the
/// tar-split cannot be used.
fn spool_tar_split(
    fs: &dyn FileSystem,
    ts: &EvPath,
) -> Result<Result<(Spool, super::tarsplit::StreamCheck), String>, ProduceError> {
    let mut reader = match open_tar_split(fs, ts) {
        Ok(r) => Reader::checked(r),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut spool = SpoolWriter::new();
    for entry in &mut reader {
        match entry {
            Ok(e) => spool.push(&e).map_err(ProduceError::Spool)?,
            Err(e) => return Ok(Err(e.to_string())),
        }
    }
    let check = reader.stream().cloned().unwrap_or_default();
    Ok(Ok((spool.finish().map_err(ProduceError::Spool)?, check)))
}

impl PreparedLayer<'_> {
    /// The length of the tar [`PreparedLayer::produce`] will write: known
    /// for a replay (from tar-split), `None` for a rebuild.
    pub fn tar_len(&self) -> Option<u64> {
        match &self.plan {
            Plan::Replay { tar_len, .. } => Some(*tar_len),
            Plan::Rebuild => None,
        }
    }

    /// The method [`PreparedLayer::produce`] will use.
    pub fn method(&self) -> Method {
        match self.plan {
            Plan::Replay { .. } => Method::TarSplit,
            Plan::Rebuild => Method::Rebuilt,
        }
    }

    /// Writes the layer into a fresh writer from `open_out`, hashing it; a
    /// replay also sends every byte to `tee` (a rebuild never does).
    pub fn produce<W: Output + Send>(
        self,
        mut open_out: impl FnMut() -> io::Result<W>,
        tee: Option<&SyncSender<Chunk>>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(W, Produced), ProduceError> {
        let PreparedLayer {
            layer,
            diff_id,
            size_limit,
            plan,
            findings: before,
        } = self;
        let (out, method, written, teed) = match plan {
            Plan::Replay { spool, .. } => {
                let entries = spool.into_entries().map(|e| e.map_err(ReplayError::Spool));
                let (out, written) = hashed(open_out()?, tee, |w| {
                    replay_entries(entries, layer, w, progress).map(|(_, w)| w)
                })
                .map_err(|e| match e {
                    ReplayError::Output(e) => ProduceError::Output(e),
                    // Entries were checked when spooled: only our own
                    // temporary file can fail now.
                    ReplayError::Spool(e) => ProduceError::Spool(e),
                    ReplayError::TarSplit(e) => ProduceError::Spool(io::Error::other(e)),
                })?;
                (out, Method::TarSplit, written, tee.is_some())
            }
            Plan::Rebuild => {
                let (out, written) = hashed(open_out()?, None, |w| {
                    retar_limited(layer, w, progress, size_limit)
                        .map(|(_, w)| w)
                        .map_err(ProduceError::from)
                })?;
                (out, Method::Rebuilt, written, false)
            }
        };
        let verified = written.sha256 == hex_part(diff_id);
        // The rebuild's reasons, then what the writing found (already
        // capped), then the verdict.
        let mut findings = before;
        findings.extend(written.findings.iter().cloned());
        if !verified {
            findings.push(mismatch(diff_id, &written.sha256));
        }
        Ok((
            out,
            Produced {
                method,
                written,
                verified,
                findings,
                teed,
            },
        ))
    }
}

/// Makes the layer into a fresh writer from `open_out`. A replay also
/// sends every byte to `tee` (a rebuild never does). [`prepare`] then
/// [`PreparedLayer::produce`], without a size limit.
pub fn produce<W: Output + Send>(
    input: LayerInput<'_>,
    open_out: impl FnMut() -> io::Result<W>,
    tee: Option<&SyncSender<Chunk>>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Produced), ProduceError> {
    prepare(input, None)?.produce(open_out, tee, progress)
}

/// Runs a layer writer through a hashing output thread and records the
/// sha256 in what it returns.
pub fn hashed<W: Output + Send, E: From<io::Error>>(
    out: W,
    tee: Option<&SyncSender<Chunk>>,
    f: impl FnOnce(&mut FanOut) -> Result<Written, E>,
) -> Result<(W, Written), E> {
    hashed_all(out, tee.into_iter().cloned().collect(), f)
}

/// [`hashed`], sending every byte also to each of `tees`.
pub fn hashed_all<W: Output + Send, E: From<io::Error>>(
    out: W,
    tees: Vec<SyncSender<Chunk>>,
    f: impl FnOnce(&mut FanOut) -> Result<Written, E>,
) -> Result<(W, Written), E> {
    let (mut written, sink, w) = hash_through_all(out, tees, f)?;
    written.sha256 = sink.sha256.unwrap_or_default();
    Ok((w, written))
}

fn mismatch(diff_id: &str, got: &str) -> Finding {
    Finding::new(
        FindingKind::DiffIdMismatch,
        None,
        if diff_id.is_empty() {
            // Pre-1.10 Docker kept no diff_id: nothing to check against.
            format!(
                "layer tar hashes to sha256:{got}; the store recorded no diff_id to check it against"
            )
        } else {
            format!("layer tar hashes to sha256:{got}, not to its diff_id {diff_id}")
        },
    )
}

/// The length of the stream a tar-split describes, by reading all of it
/// (the tests' independent measure of what [`prepare`] keeps).
#[cfg(test)]
fn tar_split_len(fs: &dyn FileSystem, ts: &EvPath) -> Result<u64, String> {
    let mut reader = Reader::checked(open_tar_split(fs, ts).map_err(|e| e.to_string())?);
    for e in &mut reader {
        e.map_err(|e| e.to_string())?;
    }
    Ok(reader.stream().map_or(0, |c| c.tar_len()))
}

fn open_tar_split(
    fs: &dyn FileSystem,
    path: &EvPath,
) -> Result<BufReader<GzDecoder<Box<dyn FileReader>>>, FsError> {
    let file = fs.open(path)?;
    Ok(BufReader::with_capacity(256 << 10, GzDecoder::new(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::{self, DIR, TAR_SPLIT, path};
    use crate::pipe::{channel, run_sink};

    const FILES: &[(&str, &[u8])] = &[
        ("bin/", b""),
        ("bin/sh", b"#!/bin/sh\necho hello\n"),
        ("empty", b""),
        ("etc/", b""),
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
    ];

    struct Layer {
        fs: MemFs,
        tar: Vec<u8>,
        diff_id: String,
        dir: EvPath,
        ts: EvPath,
    }

    impl Layer {
        fn new(tar_split: Option<&str>) -> Layer {
            let tar = testutil::tar_of(FILES);
            let ts = tar_split.map_or_else(|| testutil::disassemble(&tar), str::to_string);
            let fs = testutil::layer_fs(FILES, tar_split.is_none().then_some(ts.as_str()));
            Layer::with(fs, tar)
        }

        fn with(fs: MemFs, tar: Vec<u8>) -> Layer {
            Layer {
                diff_id: format!("sha256:{}", testutil::sha256_hex(&tar)),
                fs,
                tar,
                dir: path(DIR),
                ts: path(TAR_SPLIT),
            }
        }

        fn input(&self, tar_split: bool) -> LayerInput<'_> {
            LayerInput {
                fs: &self.fs,
                dir: &self.dir,
                tar_split: tar_split.then_some(&self.ts),
                diff_id: &self.diff_id,
                force_rebuild: false,
            }
        }
    }

    fn to_vec(p: PreparedLayer<'_>) -> (Vec<u8>, Produced) {
        p.produce(|| Ok(Vec::new()), None, &|_| {}).unwrap()
    }

    fn kinds(p: &Produced) -> Vec<FindingKind> {
        p.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn replay_gives_back_the_original_tar() {
        let l = Layer::new(None);
        let p = prepare(l.input(true), None).unwrap();
        assert_eq!(p.tar_len(), Some(l.tar.len() as u64));
        assert_eq!(p.method(), Method::TarSplit);
        let (out, produced) = to_vec(p);
        assert_eq!(out, l.tar);
        assert!(produced.verified);
        assert_eq!(produced.method, Method::TarSplit);
        assert_eq!(produced.written.size, l.tar.len() as u64);
        assert_eq!(produced.written.files_checked, 2);
        assert!(produced.findings.is_empty(), "{:?}", produced.findings);
        // The one-step wrapper and the length-only pass agree.
        let (again, _) = produce(l.input(true), || Ok(Vec::new()), None, &|_| {}).unwrap();
        assert_eq!(again, l.tar);
        assert_eq!(tar_split_len(&l.fs, &l.ts), Ok(l.tar.len() as u64));
    }

    #[test]
    fn tee_gets_the_same_bytes_as_the_file_and_tar_len_is_what_was_written() {
        let l = Layer::new(None);
        let p = prepare(l.input(true), None).unwrap();
        let len = p.tar_len().unwrap();
        let (tx, rx) = channel();
        let sink = std::thread::spawn(move || run_sink(rx, Vec::new(), true));
        let (out, produced) = p.produce(|| Ok(Vec::new()), Some(&tx), &|_| {}).unwrap();
        drop(tx);
        let (done, teed) = sink.join().unwrap().unwrap();
        assert!(produced.teed);
        assert_eq!(teed, out);
        assert_eq!(done.written, len);
        assert_eq!(produced.written.size, len);
        assert_eq!(
            done.sha256.as_deref(),
            Some(produced.written.sha256.as_str())
        );
    }

    #[test]
    fn changed_and_missing_files_are_findings_and_the_stream_keeps_its_length() {
        let tar = testutil::tar_of(FILES);
        let mut fs = testutil::layer_fs(FILES, Some(&testutil::disassemble(&tar)));
        fs.add(
            format!("{DIR}/bin/sh"),
            MemNode::file(b"#!/bin/sh\necho HELLO\n"),
        );
        fs.add(format!("{DIR}/etc/passwd"), MemNode::dir());
        let l = Layer::with(fs, tar);
        let (out, p) = to_vec(prepare(l.input(true), None).unwrap());
        assert_eq!(out.len(), l.tar.len());
        assert!(!p.verified);
        assert_eq!(
            kinds(&p),
            [
                FindingKind::ContentChanged,
                FindingKind::FileUnreadable,
                FindingKind::DiffIdMismatch
            ]
        );
        assert_eq!(p.findings[0].path.as_deref(), Some("bin/sh"));
    }

    fn rebuilt_names(out: &[u8]) -> Vec<String> {
        tar::Archive::new(out)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn missing_tar_split_rebuilds_with_its_finding() {
        let l = Layer::new(None);
        let p = prepare(l.input(false), None).unwrap();
        assert_eq!(p.tar_len(), None);
        let (out, produced) = to_vec(p);
        assert_eq!(produced.method, Method::Rebuilt);
        assert!(!produced.teed);
        assert_eq!(
            kinds(&produced),
            [FindingKind::TarSplitMissing, FindingKind::DiffIdMismatch]
        );
        assert_eq!(produced.written.size, out.len() as u64);
        assert_eq!(
            rebuilt_names(&out),
            ["bin/", "bin/sh", "empty", "etc/", "etc/passwd"]
        );
    }

    #[test]
    fn corrupt_tar_split_rebuilds_with_its_finding() {
        for bad in [
            "{\"type\":2,\"payload\":\"aGk=\",\"position\":7}\n",
            "not json\n",
        ] {
            let l = Layer::new(Some(bad));
            let mut fs = l.fs.clone();
            fs.add(TAR_SPLIT, MemNode::file(&testutil::gz(bad.as_bytes())));
            let l = Layer::with(fs, l.tar);
            let p = prepare(l.input(true), None).unwrap();
            assert_eq!(p.tar_len(), None);
            let (_, produced) = to_vec(p);
            assert_eq!(produced.method, Method::Rebuilt);
            assert_eq!(
                kinds(&produced),
                [FindingKind::TarSplitCorrupt, FindingKind::DiffIdMismatch]
            );
            let f = &produced.findings[0];
            assert_eq!(f.path.as_deref(), Some("/tar-split.json.gz"));
            assert!(
                f.detail.starts_with("tar-split unreadable (line 1: "),
                "{f}"
            );
        }
        // Not gzip at all.
        let mut l = Layer::new(None);
        l.fs.add(TAR_SPLIT, MemNode::file(b"plain"));
        let (_, produced) = to_vec(prepare(l.input(true), None).unwrap());
        assert_eq!(produced.findings[0].kind, FindingKind::TarSplitCorrupt);
        assert!(tar_split_len(&l.fs, &l.ts).is_err());
    }

    #[test]
    fn forced_rebuild_has_no_tar_split_finding() {
        let l = Layer::new(None);
        let mut input = l.input(true);
        input.force_rebuild = true;
        let (_, produced) = to_vec(prepare(input, None).unwrap());
        assert_eq!(produced.method, Method::Rebuilt);
        assert_eq!(kinds(&produced), [FindingKind::DiffIdMismatch]);
    }

    #[test]
    fn a_prepared_layer_can_move_to_another_thread() {
        fn send<T: Send>(_: &T) {}
        let l = Layer::new(None);
        send(&prepare(l.input(true), None).unwrap());
    }

    #[test]
    fn output_errors_are_errors_not_fallbacks() {
        let l = Layer::new(None);
        let p = prepare(l.input(true), None).unwrap();
        let r = p.produce(
            || Err::<Vec<u8>, _>(io::Error::other("disk full")),
            None,
            &|_| {},
        );
        assert!(matches!(r, Err(ProduceError::Output(_))));
    }

    /// A layer whose tar-split is `lines` and whose directory holds one
    /// small file.
    fn hostile(lines: &str) -> Layer {
        let fs = testutil::layer_fs(&[("small", b"x")], Some(lines));
        Layer::with(fs, Vec::new())
    }

    #[test]
    fn a_tar_split_past_the_recorded_size_is_not_replayed() {
        // 1 TB claimed for a file the layer does not have.
        let tb = 1u64 << 40;
        let h = testutil::header("huge", tar::EntryType::Regular, tb);
        let lines = testutil::segment_line(0, h.as_bytes())
            + &testutil::file_line(1, b"huge", tb, None)
            + &testutil::segment_line(2, &[0; 1024]);
        let l = hostile(&lines);
        // Without a limit the claim is only arithmetic.
        let p = prepare(l.input(true), None).unwrap();
        assert_eq!(p.tar_len(), Some(512 + tb + 1024));
        drop(p);
        // With the store's recorded size: not replayed, rebuilt, bounded.
        let p = prepare(l.input(true), Some(1 << 20)).unwrap();
        assert_eq!(p.tar_len(), None);
        let (out, produced) = to_vec(p);
        assert!(out.len() < 8192, "{} bytes", out.len());
        assert_eq!(produced.method, Method::Rebuilt);
        assert_eq!(
            kinds(&produced),
            [FindingKind::SizeImplausible, FindingKind::DiffIdMismatch]
        );
        // A recorded size that covers it would let it be replayed.
        let p = prepare(l.input(true), Some(tb)).unwrap();
        assert_eq!(p.method(), Method::TarSplit);
    }

    #[test]
    fn hostile_tar_splits_fall_back_like_corrupt_ones() {
        let long_line = format!(
            "{{\"type\":2,\"payload\":\"{}\",\"position\":0}}\n",
            "A".repeat(2 << 20)
        );
        let big = i64::MAX as u64 & !511;
        let h = testutil::header("f", tar::EntryType::Regular, big);
        let wrapping: String = (0..3)
            .map(|i| {
                testutil::segment_line(2 * i, h.as_bytes())
                    + &testutil::file_line(2 * i + 1, b"f", big, None)
            })
            .collect();
        let disagreeing = testutil::segment_line(
            0,
            testutil::header("f", tar::EntryType::Regular, 1).as_bytes(),
        ) + &testutil::file_line(1, b"small", 2, None);
        for (lines, why) in [
            (long_line, "longer than"),
            (wrapping, "2^64"),
            (disagreeing, "tar header says 1"),
        ] {
            let l = hostile(&lines);
            assert!(tar_split_len(&l.fs, &l.ts).is_err());
            let p = prepare(l.input(true), None).unwrap();
            assert_eq!(p.tar_len(), None);
            let (_, produced) = to_vec(p);
            assert_eq!(produced.method, Method::Rebuilt);
            assert_eq!(produced.findings[0].kind, FindingKind::TarSplitCorrupt);
            assert!(
                produced.findings[0].detail.contains(why),
                "{}",
                produced.findings[0]
            );
        }
    }

    #[test]
    fn a_large_tar_split_is_spooled_not_held() {
        // 6000 files (~6 MB of spool): the spool passes its in-memory size and moves to a
        // temporary file; the replay is still exact.
        let names: Vec<String> = (0..6000).map(|i| format!("d/f{i:05}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"data"[..])).collect();
        let tar = testutil::tar_of(&files);
        let fs = testutil::layer_fs(&files, Some(&testutil::disassemble(&tar)));
        let l = Layer::with(fs, tar);
        let p = prepare(l.input(true), None).unwrap();
        match &p.plan {
            Plan::Replay { spool, .. } => assert!(!spool.in_memory()),
            Plan::Rebuild => panic!("not replayed: {:?}", p.findings),
        }
        let (out, produced) = to_vec(p);
        assert!(produced.verified);
        assert_eq!(out, l.tar);
    }
}
