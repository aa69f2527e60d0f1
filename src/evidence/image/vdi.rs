//! VirtualBox disk images (VDI, version 1.1: dynamic and fixed),
//! read-only.
//!
//! Layout after VirtualBox's `src/VBox/Storage/VDICore.h` (all integers
//! little-endian): a 64-byte text pre-header, the signature `0xbeda107f`
//! at 64, the version at 68 (1.1), then the header: its size, image type
//! (1 dynamic, 2 fixed, 3 undo, 4 differencing), the block map and data
//! offsets (340, 344), the disk size (368), block size (376), extra bytes
//! before each block (380) and block count (384). The block map holds one
//! u32 per block: the index of the block in the data area, `0xffffffff`
//! not allocated (zeros), `0xfffffffe` a zero block.
//!
//! A differencing image links to its parent by UUID through VirtualBox's
//! registry, not by name: it is read only when the parent is given with
//! `--backing`.

use super::ReadAt;
use super::sparse::{Blocks, DiskError, ImageFile, read_backing, table_fits};
use crate::evidence::bytes::{u32_le, u64_le};
use std::sync::Arc;

/// The signature at offset 64.
pub const SIGNATURE: u32 = 0xbeda_107f;
const FORMAT: &str = "vdi";
const FREE: u32 = u32::MAX;
const ZERO: u32 = u32::MAX - 1;

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> DiskError {
    DiskError::corrupt(FORMAT, what, offset, detail)
}

/// True when `head` carries the VDI signature.
pub fn detect(head: &[u8]) -> bool {
    u32_le(head, 64) == Ok(SIGNATURE)
}

/// A VDI image.
pub struct Vdi {
    file: ImageFile,
    kind: u32,
    size: u64,
    block: u64,
    extra: u64,
    data_at: u64,
    map: Vec<u32>,
    map_at: u64,
    parent: Option<Arc<dyn ReadAt>>,
}

impl Vdi {
    pub(crate) fn open(file: ImageFile) -> Result<Self, DiskError> {
        let h = file.read_vec(0, 512.min(file.size), "header")?;
        let f = |e: crate::evidence::bytes::ShortInput| corrupt("header", 0, e.to_string());
        if u32_le(&h, 64).map_err(f)? != SIGNATURE {
            return Err(corrupt("header", 64, "no VDI signature"));
        }
        let version = u32_le(&h, 68).map_err(f)?;
        if version >> 16 != 1 {
            return Err(DiskError::unsupported(
                FORMAT,
                format!("version {}.{}", version >> 16, version & 0xffff),
            ));
        }
        let kind = u32_le(&h, 76).map_err(f)?;
        if !(1..=4).contains(&kind) {
            return Err(corrupt("header", 76, format!("image type {kind}")));
        }
        let map_at = u64::from(u32_le(&h, 340).map_err(f)?);
        let data_at = u64::from(u32_le(&h, 344).map_err(f)?);
        let size = u64_le(&h, 368).map_err(f)?;
        let block = u64::from(u32_le(&h, 376).map_err(f)?);
        let extra = u64::from(u32_le(&h, 380).map_err(f)?);
        let blocks = u64::from(u32_le(&h, 384).map_err(f)?);
        if !block.is_power_of_two() || !(512..=256 << 20).contains(&block) || extra > block {
            return Err(corrupt(
                "header",
                376,
                format!("block size {block} (+{extra} extra)"),
            ));
        }
        if blocks < size.div_ceil(block) {
            return Err(corrupt(
                "header",
                384,
                format!("{blocks} blocks cannot hold {size} bytes"),
            ));
        }
        table_fits(FORMAT, "block map", map_at, blocks * 4)?;
        let map = file
            .read_vec(map_at, blocks * 4, "block map")?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Vdi {
            file,
            kind,
            size,
            block,
            extra,
            data_at,
            map,
            map_at,
            parent: None,
        })
    }

    /// True for an undo or differencing image (it needs its parent).
    pub fn needs_parent(&self) -> bool {
        self.kind >= 3
    }

    pub(crate) fn set_parent(&mut self, parent: Arc<dyn ReadAt>) {
        self.parent = Some(parent);
    }

    pub fn info(&self) -> Vec<String> {
        let kind = match self.kind {
            1 => "dynamic",
            2 => "fixed",
            3 => "undo",
            _ => "differencing",
        };
        vec![format!(
            "vdi {kind}: virtual size {} bytes, block size {}",
            self.size, self.block
        )]
    }
}

impl Blocks for Vdi {
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
        let entry = self
            .map
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(FREE);
        Ok(if entry == FREE || entry == ZERO {
            0
        } else {
            self.block
        })
    }

    fn read_block(&self, index: u64, within: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let entry = self
            .map
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(FREE);
        match entry {
            FREE => read_backing(self.parent.as_ref(), buf, index * self.block + within),
            ZERO => {
                buf.fill(0);
                Ok(())
            }
            n => {
                let at = self.data_at + u64::from(n) * (self.block + self.extra) + self.extra;
                if at + within + buf.len() as u64 > self.file.size {
                    return Err(corrupt(
                        format!("block map entry {index}"),
                        self.map_at + index * 4,
                        format!(
                            "block {n} at {at} lies past the end of the file ({} bytes)",
                            self.file.size
                        ),
                    ));
                }
                self.file.read_exact(buf, at + within, "block data")
            }
        }
    }
}
