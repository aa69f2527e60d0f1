//! XFS v5 directories ("XFS Algorithms & Data Structures", ch.
//! "Directories": short form, block, leaf, node; Linux `xfs_da_format.h`).
//!
//! - Short form (local fork): count (u8), i8count (u8), parent (4 or 8
//!   bytes), then entries: namelen (u8), offset (u16), name, ftype (u8, with
//!   the ftype feature), inode number (4 or 8 bytes).
//! - Block, leaf and node directories keep every entry in data blocks in
//!   the first 32 GiB of the fork (leaf and free-index blocks live above),
//!   each a 64-byte header (`XDB3` block form or `XDD3` data block) then
//!   8-byte-aligned entries: inode (u64), namelen (u8), name, ftype (u8),
//!   padding, tag (u16); free space is `ffff`, length (u16). A block-form
//!   block ends with the leaf entries (8 bytes each) and a tail (count u32,
//!   stale u32). So listing needs only the data blocks, in offset order —
//!   the hash index is not needed to enumerate.

use super::error::{BlockFault, CorruptKind, Result, ShortFormFault, XfsError};
use super::inode::{FMT_LOCAL, Inode};
use super::sb::{INCOMPAT_FTYPE, Superblock, crc_ok};
use crate::evidence::bytes::{Reader, bytes_at, u16_be, u32_be};
use crate::evidence::image::ReadAt;

/// Byte offset where the leaf part of a directory fork starts.
const LEAF_OFFSET: u64 = 1 << 35;
const DATA_HDR: usize = 64;

/// One entry: name, inode number, ftype (0 when not recorded).
pub type RawEntry = (Vec<u8>, u64, u8);

/// Every entry of directory `dir` except `.` and `..`.
pub fn entries(dev: &dyn ReadAt, sb: &Superblock, dir: &Inode) -> Result<Vec<RawEntry>> {
    let ftype = sb.has(INCOMPAT_FTYPE);
    let ino = dir.ino;
    if dir.format == FMT_LOCAL {
        return short_form(dir.data_fork(), ftype)
            .map_err(|fault| CorruptKind::DirShortForm { ino, fault }.into());
    }
    let dbs = sb.dir_block_size();
    let bs = u64::from(sb.block_size);
    let mut out = Vec::new();
    for e in dir.extents(dev, sb, false)? {
        if e.unwritten {
            continue;
        }
        // `Inode::extents` checked that these byte offsets fit in a u64
        let start = e.file_block * bs;
        let end = (e.file_block + e.len) * bs;
        let mut off = start.div_ceil(dbs) * dbs;
        while off + dbs <= end && off < LEAF_OFFSET {
            let fsb = e.fs_block + (off - start) / bs;
            let at = sb
                .fsb_to_byte(fsb)
                .ok_or(CorruptKind::DirBlockOutOfRange { ino, block: fsb })?;
            let mut b = vec![0u8; dbs as usize];
            dev.read_exact_at(&mut b, at)
                .map_err(|e| XfsError::io(format!("directory inode {ino} block"), at, e))?;
            data_block(&b, ftype, &mut out).map_err(|fault| CorruptKind::DirBlock {
                ino,
                offset: off,
                fault,
            })?;
            off += dbs;
        }
    }
    Ok(out)
}

/// A short-form directory: count (u8), i8count (u8), parent (4 or 8
/// bytes), then the entries.
fn short_form(f: &[u8], ftype: bool) -> std::result::Result<Vec<RawEntry>, ShortFormFault> {
    let mut r = Reader::new(f);
    let header = (r.u8(), r.u8());
    let (Ok(count), Ok(i8count)) = header else {
        return Err(ShortFormFault::HeaderTruncated);
    };
    let wide = i8count != 0;
    r.skip(if wide { 8 } else { 4 })
        .map_err(|_| ShortFormFault::HeaderTruncated)?;
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let past = |_| ShortFormFault::EntryPastFork;
        let len = usize::from(r.u8().map_err(past)?);
        r.skip(2).map_err(past)?; // offset tag
        let name = r.bytes(len).map_err(past)?.to_vec();
        let ft = if ftype { r.u8().map_err(past)? } else { 0 };
        let ino = if wide {
            r.u64_be().map_err(past)?
        } else {
            u64::from(r.u32_be().map_err(past)?)
        };
        if len == 0 {
            return Err(ShortFormFault::EmptyName);
        }
        out.push((name, ino, ft));
    }
    Ok(out)
}

/// The entries of one data block (`XDD3`) or single-block directory
/// (`XDB3`).
fn data_block(
    b: &[u8],
    ftype: bool,
    out: &mut Vec<RawEntry>,
) -> std::result::Result<(), BlockFault> {
    let end = match b.get(..4) {
        Some(b"XDD3") => b.len(),
        Some(b"XDB3") => {
            let count = u32_be(b, b.len().saturating_sub(8))? as usize;
            count
                .checked_mul(8)
                .and_then(|leaf| b.len().checked_sub(8 + leaf))
                .filter(|e| *e >= DATA_HDR)
                .ok_or(BlockFault::LeafCount)?
        }
        _ => return Ok(()), // not a data block (should not occur below the leaf offset)
    };
    if !crc_ok(b, 4) {
        return Err(BlockFault::Crc);
    }
    let b = bytes_at(b, 0, end)?;
    let mut p = DATA_HDR;
    while p + 8 <= end {
        if u16_be(b, p)? == 0xffff {
            let len = usize::from(u16_be(b, p + 2)?);
            if len < 8 || len % 8 != 0 {
                return Err(BlockFault::FreeLength { len, at: p });
            }
            p += len;
            continue;
        }
        // inode (u64), namelen (u8), name, ftype (u8), padding, tag (u16)
        let mut r = Reader::at(b, p);
        let (Ok(ino), Ok(len)) = (r.u64_be(), r.u8()) else {
            return Err(BlockFault::EntryTruncated { at: p });
        };
        let len = usize::from(len);
        let size = (8 + 1 + len + usize::from(ftype) + 2).div_ceil(8) * 8;
        if len == 0 || p + size > end {
            return Err(BlockFault::EntryOverrun { at: p });
        }
        let name = r.bytes(len)?.to_vec();
        let ft = if ftype { r.u8()? } else { 0 };
        if name != b"." && name != b".." {
            out.push((name, ino, ft));
        }
        p += size;
    }
    Ok(())
}
