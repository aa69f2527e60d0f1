//! Virtual PC / Hyper-V VHD images (fixed, dynamic, differencing),
//! read-only.
//!
//! Layout after Microsoft's "Virtual Hard Disk Image Format Specification"
//! (October 2006; all integers big-endian):
//! - a 512-byte footer at the end of the file (and a copy at offset 0 of a
//!   dynamic disk): cookie `conectix`, data offset (the dynamic header),
//!   current size, disk type (2 fixed, 3 dynamic, 4 differencing), and a
//!   checksum (one's complement of the byte sum, checked here);
//! - a fixed disk is its data followed by the footer;
//! - a dynamic or differencing disk has a 1024-byte dynamic header
//!   (cookie `cxsparse`, BAT offset, entry count, block size, checksum,
//!   parent's name in UTF-16BE, 8 parent locators) and a block allocation
//!   table of u32 sector offsets (`0xffffffff`: block absent). A block
//!   starts with a sector bitmap (one bit per sector, rounded up to 512
//!   bytes); in a differencing disk a clear bit means "read the parent".

use super::ReadAt;
use super::sparse::{Blocks, DiskError, ImageFile, read_backing, table_fits, utf16};
use crate::evidence::bytes::{u32_be, u64_be};
use std::sync::Arc;

/// The cookie of the footer.
pub const COOKIE: &[u8; 8] = b"conectix";
const FORMAT: &str = "vhd";
const ABSENT: u32 = u32::MAX;

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> DiskError {
    DiskError::corrupt(FORMAT, what, offset, detail)
}

/// One's-complement byte sum with the checksum field (at `at`) zeroed.
fn checksum(b: &[u8], at: usize) -> u32 {
    let sum: u32 = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(at..at + 4).contains(i))
        .map(|(_, x)| u32::from(*x))
        .fold(0u32, u32::wrapping_add);
    !sum
}

fn sum_ok(computed: u32, stored: u32) -> bool {
    cfg!(fuzzing) || computed == stored
}

/// A VHD image.
pub struct Vhd {
    file: ImageFile,
    size: u64,
    kind: u32,
    block: u64,
    bitmap_len: u64,
    bat: Vec<u32>,
    bat_at: u64,
    parent_names: Vec<String>,
    parent: Option<Arc<dyn ReadAt>>,
}

impl Vhd {
    /// True when `tail` (the last 512 bytes) or `head` holds a footer.
    pub fn detect(head: &[u8], tail: &[u8]) -> bool {
        head.starts_with(COOKIE) || tail.starts_with(COOKIE)
    }

    pub(crate) fn open(file: ImageFile) -> Result<Self, DiskError> {
        let at = file
            .size
            .checked_sub(512)
            .ok_or_else(|| corrupt("footer", 0, "file shorter than a footer"))?;
        let mut footer = file.read_vec(at, 512, "footer")?;
        let mut footer_at = at;
        if !footer.starts_with(COOKIE) {
            // A dynamic disk whose end was cut: its copy at offset 0.
            footer = file.read_vec(0, 512, "footer copy")?;
            footer_at = 0;
            if !footer.starts_with(COOKIE) {
                return Err(corrupt("footer", at, "no conectix cookie"));
            }
        }
        let f = |e: crate::evidence::bytes::ShortInput| corrupt("footer", footer_at, e.to_string());
        let stored = u32_be(&footer, 64).map_err(f)?;
        if !sum_ok(checksum(&footer, 64), stored) {
            return Err(corrupt("footer", footer_at, "checksum mismatch"));
        }
        let data_offset = u64_be(&footer, 16).map_err(f)?;
        let size = u64_be(&footer, 48).map_err(f)?;
        let kind = u32_be(&footer, 60).map_err(f)?;
        let mut vhd = Vhd {
            file,
            size,
            kind,
            block: 512,
            bitmap_len: 0,
            bat: Vec::new(),
            bat_at: 0,
            parent_names: Vec::new(),
            parent: None,
        };
        match kind {
            2 => {
                // Read in 1 MiB pieces; the data is contiguous.
                vhd.block = 1 << 20;
                if size.checked_add(512).is_none_or(|e| e > vhd.file.size) {
                    return Err(DiskError::Truncated {
                        format: FORMAT,
                        what: "fixed disk data".into(),
                        file: vhd.file.name(),
                        start: 0,
                        end: size.saturating_add(512),
                        size: vhd.file.size,
                    });
                }
            }
            3 | 4 => vhd.read_dynamic(data_offset)?,
            other => {
                return Err(DiskError::unsupported(FORMAT, format!("disk type {other}")));
            }
        }
        Ok(vhd)
    }

    fn read_dynamic(&mut self, at: u64) -> Result<(), DiskError> {
        let h = self.file.read_vec(at, 1024, "dynamic header")?;
        let f =
            |e: crate::evidence::bytes::ShortInput| corrupt("dynamic header", at, e.to_string());
        if !h.starts_with(b"cxsparse") {
            return Err(corrupt("dynamic header", at, "no cxsparse cookie"));
        }
        if !sum_ok(checksum(&h, 36), u32_be(&h, 36).map_err(f)?) {
            return Err(corrupt("dynamic header", at, "checksum mismatch"));
        }
        let bat_at = u64_be(&h, 16).map_err(f)?;
        let entries = u64::from(u32_be(&h, 28).map_err(f)?);
        let block = u64::from(u32_be(&h, 32).map_err(f)?);
        if !block.is_power_of_two() || !(512..=256 << 20).contains(&block) {
            return Err(corrupt(
                "dynamic header",
                at + 32,
                format!("block size {block}"),
            ));
        }
        if entries < self.size.div_ceil(block) {
            return Err(corrupt(
                "dynamic header",
                at + 28,
                format!("{entries} table entries cannot map {} bytes", self.size),
            ));
        }
        table_fits(FORMAT, "block allocation table", bat_at, entries * 4)?;
        self.bat = self
            .file
            .read_vec(bat_at, entries * 4, "block allocation table")?
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.bat_at = bat_at;
        self.block = block;
        self.bitmap_len = (block / 512).div_ceil(8).div_ceil(512) * 512;
        if self.kind == 4 {
            // Parent locators: relative Windows paths first ('W2ru'), then
            // the parent's name (a bare file name next to the child).
            for i in 0..8usize {
                let e = 576 + i * 24;
                let code = u32_be(&h, e).map_err(f)?;
                let len = u64::from(u32_be(&h, e + 8).map_err(f)?);
                let off = u64_be(&h, e + 16).map_err(f)?;
                if code == u32::from_be_bytes(*b"W2ru") && len > 0 && len <= 4096 {
                    let b = self.file.read_vec(off, len, "parent locator")?;
                    self.parent_names.push(utf16(&b, false));
                }
            }
            let name = utf16(h.get(64..576).unwrap_or_default(), true);
            if !name.is_empty() {
                self.parent_names.push(name);
            }
            if self.parent_names.is_empty() {
                return Err(corrupt(
                    "dynamic header",
                    at,
                    "differencing disk names no parent",
                ));
            }
        }
        Ok(())
    }

    /// The parent's names as recorded, most specific first.
    pub fn parent_names(&self) -> &[String] {
        &self.parent_names
    }

    pub(crate) fn set_parent(&mut self, parent: Arc<dyn ReadAt>) {
        self.parent = Some(parent);
    }

    pub fn info(&self) -> Vec<String> {
        let kind = match self.kind {
            2 => "fixed",
            3 => "dynamic",
            _ => "differencing",
        };
        let mut out = vec![format!("vhd {kind}: virtual size {} bytes", self.size)];
        if self.kind != 2 {
            out[0].push_str(&format!(", block size {}", self.block));
        }
        for n in &self.parent_names {
            out.push(format!("parent recorded: {}", crate::escape::visible(n)));
        }
        out
    }
}

impl Blocks for Vhd {
    fn block_size(&self) -> u64 {
        self.block
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.file.name()
    }

    fn data_bytes(&self, index: u64) -> Result<u64, DiskError> {
        // A fixed disk is all data; a dynamic or differencing block is
        // data when its BAT entry is set (QEMU's `vpc` does not read the
        // sector bitmap for this either).
        let set = self.kind == 2
            || self
                .bat
                .get(usize::try_from(index).unwrap_or(usize::MAX))
                .is_some_and(|e| *e != ABSENT);
        Ok(if set { self.block } else { 0 })
    }

    fn read_block(&self, index: u64, within: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let guest = index * self.block + within;
        if self.kind == 2 {
            return self.file.read_exact(buf, guest, "fixed disk data");
        }
        let entry = self
            .bat
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(ABSENT);
        if entry == ABSENT {
            return read_backing(self.parent.as_ref(), buf, guest);
        }
        let start = u64::from(entry) * 512;
        let entry_at = self.bat_at + index * 4;
        if start + self.bitmap_len + within + buf.len() as u64 > self.file.size {
            return Err(corrupt(
                format!("block allocation table entry {index}"),
                entry_at,
                format!(
                    "block at {start} lies past the end of the file ({} bytes)",
                    self.file.size
                ),
            ));
        }
        let data = start + self.bitmap_len;
        if self.kind == 3 {
            return self.file.read_exact(buf, data + within, "block data");
        }
        // Differencing: sector by sector, this file or the parent.
        let bitmap = self
            .file
            .read_vec(start, self.bitmap_len, "sector bitmap")?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = within + done as u64;
            let sector = pos / 512;
            let take = ((512 - pos % 512) as usize).min(buf.len() - done);
            let bit = bitmap
                .get((sector / 8) as usize)
                .is_some_and(|b| b & (0x80 >> (sector % 8)) != 0);
            let part = &mut buf[done..done + take];
            if bit {
                self.file.read_exact(part, data + pos, "block data")?;
            } else {
                read_backing(self.parent.as_ref(), part, index * self.block + pos)?;
            }
            done += take;
        }
        Ok(())
    }
}
