//! Views of part of a device ([`Slice`]: a partition) and of several
//! pieces laid end to end ([`Concat`]: an LVM logical volume).

use super::ReadAt;
use std::io;
use std::sync::Arc;

/// `len` bytes of `inner` starting at `start`.
pub struct Slice {
    inner: Arc<dyn ReadAt>,
    start: u64,
    len: u64,
    label: String,
}

impl Slice {
    /// Fails when the range does not lie inside `inner`.
    pub fn new(inner: Arc<dyn ReadAt>, start: u64, len: u64, label: String) -> io::Result<Self> {
        let end = start.checked_add(len);
        if end.is_none_or(|e| e > inner.size()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "bytes {start}..+{len} lie past the end of {} ({} bytes)",
                    inner.describe(),
                    inner.size()
                ),
            ));
        }
        Ok(Slice {
            inner,
            start,
            len,
            label,
        })
    }
}

impl ReadAt for Slice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let n = (self.len - offset).min(buf.len() as u64) as usize;
        self.inner.read_at(&mut buf[..n], self.start + offset)
    }
    fn size(&self) -> u64 {
        self.len
    }
    fn describe(&self) -> String {
        format!("{} of {}", self.label, self.inner.describe())
    }
}

/// One piece of a [`Concat`]: `len` bytes of `dev` from `dev_offset`.
pub struct Piece {
    pub dev: Arc<dyn ReadAt>,
    pub dev_offset: u64,
    pub len: u64,
}

/// Pieces of devices laid end to end.
pub struct Concat {
    pieces: Vec<(u64, Piece)>,
    size: u64,
    label: String,
}

impl Concat {
    pub fn new(pieces: Vec<Piece>, label: String) -> Self {
        let mut at = 0u64;
        let mut out = Vec::with_capacity(pieces.len());
        for p in pieces {
            let len = p.len;
            out.push((at, p));
            at = at.saturating_add(len);
        }
        Concat {
            pieces: out,
            size: at,
            label,
        }
    }
}

impl ReadAt for Concat {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let idx = self.pieces.partition_point(|(start, _)| *start <= offset) - 1;
        let (start, p) = &self.pieces[idx];
        let within = offset - start;
        let n = (p.len - within).min(buf.len() as u64) as usize;
        p.dev.read_at(&mut buf[..n], p.dev_offset + within)
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.label.clone()
    }
}
