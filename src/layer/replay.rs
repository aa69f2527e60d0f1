//! Regenerates a layer's original tar stream from tar-split metadata and
//! the layer's unpacked directory, as `docker save` does
//! (moby `layer/layer_store.go` `assembleTarTo` → tar-split
//! `asm.WriteOutputTarStream`), but never stops at a changed file: each
//! difference becomes a [`Finding`] and the stream is still completed with
//! the recorded length, so the tar stays well-formed.

use super::content::{Content, Counting, Length, copy_content, write_zeros};
use super::findings::Findings;
use super::tarsplit::{Entry, Reader, TarSplitError};
use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use crate::pipe::FillFrom;
use crate::report::{Finding, FindingKind};
use std::io::{self, BufRead, Write};

const CHUNK: usize = 1 << 20;

/// Where a layer's files are: a directory on an evidence filesystem.
#[derive(Clone, Copy)]
pub struct LayerDir<'a> {
    pub fs: &'a dyn FileSystem,
    pub dir: &'a EvPath,
}

impl std::fmt::Debug for LayerDir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerDir").field("dir", self.dir).finish()
    }
}

pub use super::content::Written;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The tar-split metadata itself is unreadable; nothing can be trusted.
    #[error("tar-split: {0}")]
    TarSplit(#[from] TarSplitError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
    /// Reading back the entries spooled by [`super::prepare`] failed.
    #[error("reading spooled tar-split: {0}")]
    Spool(#[source] io::Error),
}

impl From<io::Error> for ReplayError {
    /// The output, or the thread hashing it, failed.
    fn from(e: io::Error) -> Self {
        ReplayError::Output(e)
    }
}

/// Replays `tarsplit` (decompressed JSON lines, read with
/// [`Reader::checked`]) into `out`, taking file contents from `layer`.
/// `progress` is told how many content bytes were copied, as they are.
pub fn replay<R: BufRead + Send, W: FillFrom>(
    tarsplit: R,
    layer: LayerDir<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), ReplayError> {
    let entries = Reader::checked(tarsplit).map(|e| e.map_err(ReplayError::TarSplit));
    replay_entries(entries, layer, out, progress)
}

/// Replays entries already read (from tar-split or its spool).
pub(crate) fn replay_entries<I, W>(
    entries: I,
    layer: LayerDir<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), ReplayError>
where
    I: Iterator<Item = Result<Entry, ReplayError>> + Send,
    W: FillFrom,
{
    // A second thread reads the entries ahead, opens the files they name
    // and asks for their data, so that on a cold cache many reads are
    // under way while this one copies (a layer is ~100k small files).
    // Entries go over in batches: one hand-over per file would cost a
    // thread wake-up per file (a layer of a million small files spent
    // more time switching threads than copying).
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Ahead>>(LOOKAHEAD / BATCH);
        s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut batch_bytes = 0u64;
            for entry in entries {
                let item = match entry {
                    Ok(Entry::File { name, size, crc64 }) if size > 0 => {
                        let opened = open_member(layer, &name);
                        if let Ok(f) = &opened {
                            f.will_need(size.min(WILL_NEED_LIMIT));
                        }
                        Ahead::File {
                            name,
                            size,
                            crc64,
                            opened,
                        }
                    }
                    Ok(Entry::File { .. }) => continue,
                    Ok(Entry::Segment(b)) => Ahead::Segment(b),
                    Err(e) => Ahead::Error(e),
                };
                if let Ahead::File { size, .. } = &item {
                    batch_bytes += size;
                }
                batch.push(item);
                // a large file goes over at once, so its copy starts early
                if batch.len() == BATCH || batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(full).is_err() {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
        });
        copy_all(rx.into_iter().flatten(), out, progress)
    })
}

/// Entries (files and the segments between them) read ahead of the copy.
const LOOKAHEAD: usize = 512;
/// Entries handed over at once.
const BATCH: usize = 64;
/// A batch goes over when its files hold this much data.
const BATCH_BYTES: u64 = 1 << 20;
/// How much of each file to ask for ahead.
const WILL_NEED_LIMIT: u64 = 8 << 20;

/// One tar-split entry, with its file already opened.
enum Ahead {
    Segment(Vec<u8>),
    File {
        name: Vec<u8>,
        size: u64,
        crc64: Option<u64>,
        opened: Result<Box<dyn FileReader>, MemberProblem>,
    },
    Error(ReplayError),
}

fn copy_all<W: FillFrom>(
    rx: impl Iterator<Item = Ahead>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), ReplayError> {
    let mut out = Counting::new(out);
    let mut buf = vec![0u8; CHUNK];
    let mut findings = Findings::default();
    let mut files_checked = 0;
    for entry in rx {
        match entry {
            Ahead::Error(e) => return Err(e),
            Ahead::Segment(bytes) => out.write_all(&bytes).map_err(ReplayError::Output)?,
            Ahead::File {
                name,
                size,
                crc64,
                opened,
            } => {
                let shown = || String::from_utf8_lossy(&name).into_owned();
                match opened {
                    Ok(file) => {
                        files_checked += 1;
                        let mut content = Content::new(file, size, progress);
                        copy_content(&mut content, &mut out, &mut buf)
                            .map_err(ReplayError::Output)?;
                        if let Some(f) = compare(content.length(), size, crc64, shown) {
                            findings.push(f);
                        }
                    }
                    Err(finding) => {
                        findings.push(finding.with_path(shown(), size));
                        write_zeros(&mut out, size).map_err(ReplayError::Output)?;
                    }
                }
            }
        }
    }
    out.finish(files_checked, findings.into_vec())
        .map_err(ReplayError::Output)
}

/// A finding when a file's content is not what tar-split recorded.
fn compare(
    length: Length,
    size: u64,
    crc64: Option<u64>,
    shown: impl Fn() -> String,
) -> Option<Finding> {
    let changed = |what: String| {
        Finding::new(
            FindingKind::SizeChanged,
            Some(shown()),
            format!(
                "file is {what}; the layer recorded {size} (stream padded or cut to the recorded size)"
            ),
        )
    };
    match length {
        Length::Short(n) => Some(changed(format!("{n} bytes"))),
        Length::Longer => Some(changed(format!("more than {size} bytes"))),
        Length::Exact(crc) => match crc64 {
            Some(want) if want != crc => Some(Finding::new(
                FindingKind::ContentChanged,
                Some(shown()),
                format!("content changed: CRC-64 {crc:016x}, the layer recorded {want:016x}"),
            )),
            _ => None,
        },
    }
}

/// Why a member could not be read, before its path is attached.
struct MemberProblem {
    kind: FindingKind,
    detail: String,
}

impl MemberProblem {
    fn with_path(self, path: String, size: u64) -> Finding {
        Finding::new(
            self.kind,
            Some(path),
            format!("{}; {size} zero bytes written in its place", self.detail),
        )
    }
}

fn open_member(layer: LayerDir<'_>, name: &[u8]) -> Result<Box<dyn FileReader>, MemberProblem> {
    let unsafe_path = |detail: &str| MemberProblem {
        kind: FindingKind::UnsafePath,
        detail: detail.into(),
    };
    if name.first() == Some(&b'/') {
        return Err(unsafe_path("absolute name in the layer; nothing read"));
    }
    let Some(rel) = EvPath::parse(name) else {
        return Err(unsafe_path(
            "name climbs out of the layer with '..'; nothing read",
        ));
    };
    let path = layer.dir.join_path(&rel);
    layer.fs.open(&path).map_err(|e| match e {
        FsError::NotFound { .. } | FsError::NotADirectory { .. } => MemberProblem {
            kind: FindingKind::FileMissing,
            detail: "file missing from the layer directory".into(),
        },
        FsError::SymlinkInPath { .. } => {
            unsafe_path("path crosses a symbolic link inside the layer; nothing read")
        }
        e => MemberProblem {
            kind: FindingKind::FileUnreadable,
            detail: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::MemFs;
    use crate::layer::MAX_LAYER_FINDINGS;

    #[test]
    fn a_million_missing_files_keep_the_findings_small() {
        let fs = MemFs::new();
        let dir = EvPath::parse("layer").unwrap();
        let n = 1_000_000u64;
        let entries = (0..n).map(|i| {
            Ok(Entry::File {
                name: format!("f{i}").into_bytes(),
                size: 1,
                crc64: None,
            })
        });
        let (_, written) = replay_entries(
            entries,
            LayerDir { fs: &fs, dir: &dir },
            io::sink(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(written.size, n);
        assert_eq!(written.findings.len(), MAX_LAYER_FINDINGS + 1);
        assert_eq!(written.findings[0].kind, FindingKind::FileMissing);
        let last = written.findings.last().unwrap();
        assert_eq!(last.kind, FindingKind::FindingsOmitted);
        assert!(last.detail.starts_with("999000 more"), "{last}");
    }
}
