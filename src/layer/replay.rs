//! Regenerates a layer's original tar stream from tar-split metadata and
//! the layer's unpacked directory, as `docker save` does
//! (moby `layer/layer_store.go` `assembleTarTo` → tar-split
//! `asm.WriteOutputTarStream`), but never stops at a changed file: each
//! difference becomes a [`Finding`] and the stream is still completed with
//! the recorded length, so the tar stays well-formed.

use super::tarsplit::{Entry, Reader, TarSplitError};
use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use crate::report::{Finding, FindingKind};
use std::io::{self, BufRead, Write};

/// CRC-64 with the ISO polynomial, as Go's `hash/crc64` computes it with
/// `crc64.MakeTable(crc64.ISO)` (what tar-split records), computed with
/// carry-less multiplication where the CPU has it.
fn crc64() -> crc_fast::Digest {
    crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64GoIso)
}

const CHUNK: usize = 1 << 20;

/// Where a layer's files are: a directory on an evidence filesystem.
#[derive(Clone, Copy)]
pub struct LayerDir<'a> {
    pub fs: &'a dyn FileSystem,
    pub dir: &'a EvPath,
}

/// What a replay (or rebuild) produced.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Hex sha256 of the stream (filled in by whoever hashed it, see
    /// [`super::hashed`]).
    pub sha256: String,
    pub size: u64,
    /// Files whose content was read and checked.
    pub files_checked: u64,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The tar-split metadata itself is unreadable; nothing can be trusted.
    #[error("tar-split: {0}")]
    TarSplit(#[from] TarSplitError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

/// Replays `tarsplit` (decompressed JSON lines) into `out`, taking file
/// contents from `layer`. `progress` is told how many content bytes were
/// copied, as they are.
pub fn replay<R: BufRead + Send, W: Write>(
    tarsplit: R,
    layer: LayerDir<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), ReplayError> {
    // A second thread reads tar-split ahead, opens the files it names and
    // asks for their data, so that on a cold cache many reads are under
    // way while this one copies (a layer is ~100k small files).
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Ahead>(LOOKAHEAD);
        s.spawn(move || {
            for entry in Reader::new(tarsplit) {
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
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        copy_all(rx, out, progress)
    })
}

/// Files opened ahead of the copy.
const LOOKAHEAD: usize = 256;
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
    Error(TarSplitError),
}

fn copy_all<W: Write>(
    rx: std::sync::mpsc::Receiver<Ahead>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), ReplayError> {
    let mut out = Counting {
        inner: out,
        written: 0,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut findings = Vec::new();
    let mut files_checked = 0;
    for entry in rx {
        match entry {
            Ahead::Error(e) => return Err(e.into()),
            Ahead::Segment(bytes) => out.write_all(&bytes).map_err(ReplayError::Output)?,
            Ahead::File {
                name,
                size,
                crc64,
                opened,
            } => {
                let shown = String::from_utf8_lossy(&name).into_owned();
                match opened {
                    Ok(mut file) => {
                        files_checked += 1;
                        let (crc, found) = copy_exact(
                            &mut *file, &mut out, size, &mut buf, progress,
                        )
                        .map_err(|e| match e {
                            CopyError::Output(e) => ReplayError::Output(e),
                        })?;
                        if found != Some(size) {
                            let what = match found {
                                Some(n) => format!("{n} bytes"),
                                None => format!("more than {size} bytes"),
                            };
                            findings.push(Finding::new(
                                FindingKind::SizeChanged,
                                Some(shown),
                                format!("file is {what}; the layer recorded {size} (stream padded or cut to the recorded size)"),
                            ));
                        } else if let Some(want) = crc64
                            && crc.is_some_and(|c| c != want)
                        {
                            findings.push(Finding::new(
                                FindingKind::ContentChanged,
                                Some(shown),
                                format!(
                                    "content changed: CRC-64 {:016x}, the layer recorded {want:016x}",
                                    crc.unwrap_or_default()
                                ),
                            ));
                        }
                    }
                    Err(finding) => {
                        findings.push(finding.with_path(shown, size));
                        write_zeros(&mut out, size).map_err(ReplayError::Output)?;
                    }
                }
            }
        }
    }
    out.flush().map_err(ReplayError::Output)?;
    let Counting {
        inner: out,
        written: size,
    } = out;
    let sha256 = String::new();
    Ok((
        out,
        Written {
            sha256,
            size,
            files_checked,
            findings,
        },
    ))
}

/// Counts what passes through.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

enum CopyError {
    Output(io::Error),
}

/// Copies exactly `size` bytes (zero-padding a short file) and returns the
/// CRC-64 of what the file gave and how long the file turned out to be
/// (`None` when it is longer than `size`). A read error counts as the end
/// of the file.
fn copy_exact(
    file: &mut dyn FileReader,
    out: &mut impl Write,
    size: u64,
    buf: &mut [u8],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Option<u64>, Option<u64>), CopyError> {
    let mut digest = crc64();
    let mut left = size;
    let mut read_total = 0u64;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        digest.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Output)?;
        progress(n as u64);
        left -= n as u64;
        read_total += n as u64;
    }
    if left > 0 {
        write_zeros(out, left).map_err(CopyError::Output)?;
        return Ok((None, Some(read_total)));
    }
    let mut probe = [0u8; 1];
    let longer = matches!(file.read(&mut probe), Ok(n) if n > 0);
    Ok((
        Some(digest.finalize()),
        if longer { None } else { Some(read_total) },
    ))
}

fn write_zeros(out: &mut impl Write, mut n: u64) -> io::Result<()> {
    let zeros = [0u8; 8192];
    while n > 0 {
        let k = zeros.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        out.write_all(&zeros[..k])?;
        n -= k as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_go_iso() {
        // Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO))
        let mut d = crc64();
        d.update(b"123456789");
        assert_eq!(d.finalize(), 0xb90956c775a41001);
    }
}
