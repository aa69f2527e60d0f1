//! What replay and rebuild share: a writer that counts the stream's bytes,
//! the reading of one file's content to an exact length (zero-padded when
//! the file gives less, with its CRC-64 and true length), and the overlay
//! opaque-directory test.

use crate::evidence::fs::{EvPath, FileReader, FileSystem};
use crate::pipe::FillFrom;
use crate::report::Finding;
use std::io::{self, Read, Write};

/// CRC-64 with the ISO polynomial, as Go's `hash/crc64` computes it with
/// `crc64.MakeTable(crc64.ISO)` (what tar-split records), computed with
/// carry-less multiplication where the CPU has it.
pub(crate) fn crc64() -> crc_fast::Digest {
    crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64GoIso)
}

/// Counts what passes through.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub written: u64,
}

impl<W: Write> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Counting { inner, written: 0 }
    }

    /// Flushes and hands back the writer with what was written (the
    /// sha256 is filled in by whoever hashed the stream).
    pub(crate) fn finish(
        mut self,
        files_checked: u64,
        findings: Vec<Finding>,
    ) -> io::Result<(W, Written)> {
        self.flush()?;
        Ok((
            self.inner,
            Written {
                sha256: String::new(),
                size: self.written,
                files_checked,
                findings,
            },
        ))
    }
}

impl<W: FillFrom> FillFrom for Counting<W> {
    fn fill_from(&mut self, r: &mut dyn Read, scratch: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.fill_from(r, scratch)?;
        self.written += n as u64;
        Ok(n)
    }
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

/// Exactly `size` bytes of a file: its content, then zeros if it ends (or
/// fails to read) early, never more. Tells `progress` of the real bytes.
pub(crate) struct Content<'a> {
    file: Box<dyn FileReader>,
    size: u64,
    /// Bytes handed out so far (content and padding).
    pos: u64,
    /// Bytes the file gave.
    read: u64,
    /// The file stopped giving bytes.
    ended: bool,
    crc: crc_fast::Digest,
    progress: &'a (dyn Fn(u64) + Sync),
}

/// How a file's content compared with the size it was read to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// Exactly the size; the CRC-64 of the content.
    Exact(u64),
    /// Shorter: this many bytes, the rest zeros.
    Short(u64),
    /// Longer than the size (cut).
    Longer,
}

impl<'a> Content<'a> {
    pub(crate) fn new(
        file: Box<dyn FileReader>,
        size: u64,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> Self {
        Content {
            file,
            size,
            pos: 0,
            read: 0,
            ended: false,
            crc: crc64(),
            progress,
        }
    }

    /// After every byte was read: how the file's length compared.
    pub(crate) fn length(mut self) -> Length {
        if self.read < self.size {
            return Length::Short(self.read);
        }
        // The recorded length says the end was reached: one read fewer
        // per file (a layer may hold a million).
        if self.file.stored_len() == Some(self.size) {
            return Length::Exact(self.crc.finalize());
        }
        let mut probe = [0u8; 1];
        if matches!(self.file.read(&mut probe), Ok(n) if n > 0) {
            Length::Longer
        } else {
            Length::Exact(self.crc.finalize())
        }
    }
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..want];
        if !self.ended {
            // A read error counts as the end of the file; the padding
            // keeps the stream well-formed.
            match self.file.read(buf) {
                Ok(0) | Err(_) => self.ended = true,
                Ok(n) => {
                    self.crc.update(&buf[..n]);
                    self.read += n as u64;
                    self.pos += n as u64;
                    (self.progress)(n as u64);
                    return Ok(n);
                }
            }
        }
        buf.fill(0);
        self.pos += want as u64;
        Ok(want)
    }
}

/// Copies all of `content` to `out`: straight into its buffer where it
/// has one (a fan-out's), else through `buf`.
pub(crate) fn copy_content(
    content: &mut Content<'_>,
    out: &mut impl FillFrom,
    buf: &mut [u8],
) -> io::Result<()> {
    while out.fill_from(content, buf)? > 0 {}
    Ok(())
}

/// Writes `n` zero bytes.
pub(crate) fn write_zeros(out: &mut impl Write, n: u64) -> io::Result<()> {
    io::copy(&mut io::repeat(0).take(n), out).map(|_| ())
}

/// True for a directory overlayfs marks opaque (`trusted.overlay.opaque`
/// or, rootless, `user.overlay.opaque` set to `y`).
pub(crate) fn is_opaque(fs: &dyn FileSystem, dir: &EvPath) -> bool {
    fs.xattrs(dir).is_ok_and(|x| {
        x.iter().any(|(k, v)| {
            (k == b"trusted.overlay.opaque" || k == b"user.overlay.opaque") && v == b"y"
        })
    })
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

    /// A file in memory; `len_known` makes it report its length.
    struct Mem(io::Cursor<Vec<u8>>, bool);
    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl FileReader for Mem {
        fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<usize> {
            Ok(0)
        }
        fn stored_len(&self) -> Option<u64> {
            self.1.then(|| self.0.get_ref().len() as u64)
        }
    }

    fn read_to(data: &[u8], size: u64, len_known: bool) -> (Vec<u8>, Length) {
        let file = Mem(io::Cursor::new(data.to_vec()), len_known);
        let mut c = Content::new(Box::new(file), size, &|_| {});
        let mut out = Vec::new();
        copy_content(&mut c, &mut out, &mut [0u8; 3]).unwrap();
        (out, c.length())
    }

    #[test]
    fn content_is_padded_or_cut_to_its_size() {
        let mut d = crc64();
        d.update(b"hello");
        let hello = d.finalize();
        // the same whether the reader knows the file's length or not
        for len_known in [false, true] {
            assert_eq!(
                read_to(b"hello", 5, len_known),
                (b"hello".to_vec(), Length::Exact(hello))
            );
            assert_eq!(
                read_to(b"hel", 5, len_known),
                (b"hel\0\0".to_vec(), Length::Short(3))
            );
            assert_eq!(
                read_to(b"hello!", 5, len_known),
                (b"hello".to_vec(), Length::Longer)
            );
        }
    }
}

/// What a replay (or rebuild) produced.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Hex sha256 of the stream (filled in by whoever hashed it, see
    /// [`crate::layer::hashed`]).
    pub sha256: String,
    /// Length of the stream in bytes.
    pub size: u64,
    /// Files whose content was read and checked.
    pub files_checked: u64,
    /// What was noticed while writing it (changed, missing files, ...).
    pub findings: Vec<Finding>,
}
