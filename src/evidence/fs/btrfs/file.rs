//! The data of a btrfs file: its `EXTENT_DATA` items (inline, regular,
//! preallocated; holes where none is recorded or where a regular extent
//! points at address 0), compressed with zlib or zstd (each extent one
//! stream, at most 128 KiB once inflated; `fs/btrfs/compression.h`).
//! LZO (btrfs frames it in segments of its own) is refused by name.

use super::error::{BtrfsError, CorruptKind, Result};
use super::tree::{Key, Trees};
use crate::evidence::bytes::{Reader, u8_at, u64_le};
use crate::evidence::fs::reader::ReadFileAt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

/// Largest compressed extent accepted, both sides (the kernel writes at
/// most 128 KiB; a little slack for other writers).
const MAX_COMPRESSED: u64 = 1 << 20;

/// One extent of a file, at file offset `off`, `len` bytes long.
#[derive(Debug, Clone)]
pub enum Extent {
    /// Bytes stored in the tree (already inflated).
    Inline { off: u64, data: Arc<Vec<u8>> },
    /// Uncompressed bytes at a logical address.
    Plain { off: u64, len: u64, logical: u64 },
    /// A compressed disk extent; the file sees `len` bytes from `skip`.
    Compressed {
        off: u64,
        len: u64,
        logical: u64,
        disk_len: u64,
        ram: u64,
        skip: u64,
        method: u8,
    },
    /// Reads as zeros (a hole or preallocated space).
    Zero { off: u64, len: u64 },
}

impl Extent {
    fn off(&self) -> u64 {
        match self {
            Extent::Inline { off, .. }
            | Extent::Plain { off, .. }
            | Extent::Compressed { off, .. }
            | Extent::Zero { off, .. } => *off,
        }
    }
    fn len(&self) -> u64 {
        match self {
            Extent::Inline { data, .. } => data.len() as u64,
            Extent::Plain { len, .. }
            | Extent::Compressed { len, .. }
            | Extent::Zero { len, .. } => *len,
        }
    }
}

/// Inflates `data` (btrfs compression `method`) to at most `ram` bytes,
/// zero-filled to `ram`.
fn inflate(method: u8, data: &[u8], ram: u64, sector: u32) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let r = match method {
        1 => flate2::read::ZlibDecoder::new(data)
            .take(ram)
            .read_to_end(&mut out),
        // One frame, as the kernel's `zstd_decompress` reads; the sectors
        // holding it are padded.
        3 => zstd::stream::read::Decoder::with_buffer(data)
            .map_err(|e| e.to_string())?
            .single_frame()
            .take(ram)
            .read_to_end(&mut out),
        2 => {
            out = super::lzo::btrfs_inflate(data, ram as usize, sector as usize)?;
            Ok(out.len())
        }
        m => return Err(format!("unknown compression {m}")),
    };
    r.map_err(|e| format!("inflating: {e}"))?;
    out.resize(ram as usize, 0);
    Ok(out)
}

/// The extents of inode `ino` of tree `tree` from its items.
pub fn extents(
    tree: u64,
    items: &[(Key, Vec<u8>)],
    ino: u64,
    node_size: u32,
    sector: u32,
) -> Result<Vec<Extent>> {
    let mut out = Vec::with_capacity(items.len());
    for (k, d) in items {
        let off = k.offset;
        let bad = |detail: String| {
            BtrfsError::from(CorruptKind::Extent {
                tree,
                ino,
                offset: off,
                detail,
            })
        };
        let short = |e: crate::evidence::bytes::ShortInput| bad(e.to_string());
        let ram = u64_le(d, 8).map_err(short)?;
        let method = u8_at(d, 16).map_err(short)?;
        let enc = (u8_at(d, 17).map_err(short)?, u8_at(d, 18).map_err(short)?);
        let kind = u8_at(d, 20).map_err(short)?;
        if enc != (0, 0) {
            return Err(BtrfsError::Unsupported(format!(
                "tree {tree}: inode {ino}: encrypted or encoded extent at file offset {off}"
            )));
        }
        let ext = match kind {
            0 => {
                let raw = d.get(21..).unwrap_or_default();
                if ram > u64::from(node_size) * 2 {
                    return Err(bad(format!("inline extent of {ram} bytes")));
                }
                let data = if method == 0 {
                    raw.to_vec()
                } else {
                    inflate(method, raw, ram, sector).map_err(bad)?
                };
                if off.checked_add(data.len() as u64).is_none() {
                    return Err(bad("inline extent past the largest offset".into()));
                }
                Extent::Inline {
                    off,
                    data: Arc::new(data),
                }
            }
            1 | 2 => {
                let mut r = Reader::at(d, 21);
                let logical = r.u64_le().map_err(short)?;
                let disk_len = r.u64_le().map_err(short)?;
                let skip = r.u64_le().map_err(short)?;
                let len = r.u64_le().map_err(short)?;
                if off.checked_add(len).is_none() {
                    return Err(bad(format!("length {len} overflows")));
                }
                if kind == 2 || logical == 0 {
                    Extent::Zero { off, len }
                } else if method == 0 {
                    let logical = logical
                        .checked_add(skip)
                        .filter(|l| l.checked_add(len).is_some())
                        .ok_or_else(|| bad("address overflows".into()))?;
                    Extent::Plain { off, len, logical }
                } else {
                    if disk_len > MAX_COMPRESSED || ram > MAX_COMPRESSED {
                        return Err(bad(format!(
                            "compressed extent of {disk_len} bytes inflating to {ram}"
                        )));
                    }
                    if skip.checked_add(len).is_none_or(|e| e > ram) {
                        return Err(bad(format!(
                            "uses {len} bytes from {skip} of a {ram}-byte extent"
                        )));
                    }
                    if !(1..=3).contains(&method) {
                        return Err(bad(format!("unknown compression {method}")));
                    }
                    Extent::Compressed {
                        off,
                        len,
                        logical,
                        disk_len,
                        ram,
                        skip,
                        method,
                    }
                }
            }
            t => return Err(bad(format!("extent type {t}"))),
        };
        if ext.len() > 0 {
            out.push(ext);
        }
    }
    Ok(out)
}

/// A regular file (or symlink target) of a btrfs filesystem.
pub struct BtrfsFile {
    pub trees: Arc<Trees>,
    pub extents: Vec<Extent>,
    pub size: u64,
    pub path: String,
    /// Sector size (LZO segments never straddle one).
    pub sector: u32,
    /// The last compressed extent inflated (its logical address).
    pub last: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

impl BtrfsFile {
    fn inflated(
        &self,
        logical: u64,
        disk_len: u64,
        ram: u64,
        method: u8,
    ) -> io::Result<Arc<Vec<u8>>> {
        if let Some((l, d)) = self.last.lock().ok().and_then(|g| g.clone())
            && l == logical
        {
            return Ok(d);
        }
        let mut raw = vec![0u8; disk_len as usize];
        self.trees
            .chunks
            .read(self.trees.dev.as_ref(), &mut raw, logical)
            .map_err(|e| io::Error::other(format!("{}: {e}", self.path)))?;
        let d = Arc::new(inflate(method, &raw, ram, self.sector).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: btrfs compressed extent at logical {logical}: {e}",
                    self.path
                ),
            )
        })?);
        if let Ok(mut g) = self.last.lock() {
            *g = Some((logical, d.clone()));
        }
        Ok(d)
    }
}

impl ReadFileAt for BtrfsFile {
    fn read_file_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let want = (self.size - offset).min(buf.len() as u64);
        let idx = self
            .extents
            .partition_point(|e| e.off() + e.len() <= offset);
        let ext = self.extents.get(idx).filter(|e| e.off() <= offset);
        let Some(ext) = ext else {
            // a hole up to the next extent or the end
            let end = self.extents.get(idx).map_or(self.size, |e| e.off());
            let n = (end - offset).min(want) as usize;
            buf[..n].fill(0);
            return Ok(n);
        };
        let within = offset - ext.off();
        let mut n = (ext.len() - within).min(want) as usize;
        if let Some(next) = self.extents.get(idx + 1) {
            // overlapping items: the later one wins from its start
            n = n.min((next.off().max(offset + 1) - offset) as usize);
        }
        let out = &mut buf[..n];
        match ext {
            Extent::Zero { .. } => out.fill(0),
            Extent::Inline { data, .. } => {
                let src = data
                    .get(within as usize..within as usize + n)
                    .unwrap_or_default();
                out[..src.len()].copy_from_slice(src);
                out[src.len()..].fill(0);
            }
            Extent::Plain { logical, .. } => self
                .trees
                .chunks
                .read(self.trees.dev.as_ref(), out, logical + within)
                .map_err(|e| io::Error::other(format!("{}: {e}", self.path)))?,
            Extent::Compressed {
                logical,
                disk_len,
                ram,
                skip,
                method,
                ..
            } => {
                let d = self.inflated(*logical, *disk_len, *ram, *method)?;
                let from = (skip + within) as usize;
                let src = d.get(from..from + n).unwrap_or_default();
                out[..src.len()].copy_from_slice(src);
                out[src.len()..].fill(0);
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn zlib_zstd_inflate_and_bad_input_is_an_error() {
        let text = b"btrfs compressed extent ".repeat(100);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&text).unwrap();
        let z = z.finish().unwrap();
        let mut got = inflate(1, &z, 4096, 4096).unwrap();
        assert_eq!(got.len(), 4096, "zero-filled to the extent's size");
        got.truncate(text.len());
        assert_eq!(got, text);
        let mut zs = zstd::encode_all(&text[..], 1).unwrap();
        zs.resize(zs.len().next_multiple_of(4096), 0);
        assert_eq!(&inflate(3, &zs, text.len() as u64, 4096).unwrap(), &text);
        assert!(inflate(2, &z, 10, 4096).unwrap_err().starts_with("LZO"));
        assert!(inflate(1, b"not zlib", 10, 4096).is_err());
        assert!(inflate(9, b"", 10, 4096).is_err());
    }
}
