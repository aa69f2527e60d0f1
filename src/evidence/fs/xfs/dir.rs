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

use super::inode::{FMT_LOCAL, Inode};
use super::sb::{INCOMPAT_FTYPE, Superblock, be16, be32, be64, crc_ok};
use crate::evidence::image::ReadAt;

/// Byte offset where the leaf part of a directory fork starts.
const LEAF_OFFSET: u64 = 1 << 35;
const DATA_HDR: usize = 64;

/// One entry: name, inode number, ftype (0 when not recorded).
pub type RawEntry = (Vec<u8>, u64, u8);

/// Every entry of directory `dir` except `.` and `..`.
pub fn entries(dev: &dyn ReadAt, sb: &Superblock, dir: &Inode) -> Result<Vec<RawEntry>, String> {
    let ftype = sb.has(INCOMPAT_FTYPE);
    if dir.format == FMT_LOCAL {
        return short_form(dir.data_fork(), ftype)
            .map_err(|e| format!("directory inode {}: {e}", dir.ino));
    }
    let dbs = sb.dir_block_size();
    let bs = u64::from(sb.block_size);
    let mut out = Vec::new();
    for e in dir.extents(dev, sb, false)? {
        if e.unwritten {
            continue;
        }
        let start = e.file_block * bs;
        let end = (e.file_block + e.len) * bs;
        let mut off = start.div_ceil(dbs) * dbs;
        while off + dbs <= end && off < LEAF_OFFSET {
            let fsb = e.fs_block + (off - start) / bs;
            let at = sb
                .fsb_to_byte(fsb)
                .ok_or_else(|| format!("directory inode {}: block {fsb} out of range", dir.ino))?;
            let mut b = vec![0u8; dbs as usize];
            dev.read_exact_at(&mut b, at)
                .map_err(|e| format!("directory inode {}: block at {at}: {e}", dir.ino))?;
            data_block(&b, ftype, &mut out)
                .map_err(|e| format!("directory inode {} block at offset {off}: {e}", dir.ino))?;
            off += dbs;
        }
    }
    Ok(out)
}

fn short_form(f: &[u8], ftype: bool) -> Result<Vec<RawEntry>, String> {
    if f.len() < 6 {
        return Err("short-form header truncated".into());
    }
    let count = usize::from(f[0]);
    let i8 = f[1] != 0;
    let isz = if i8 { 8 } else { 4 };
    let mut p = 2 + isz;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let need = |p: usize, k: usize| {
            if p + k > f.len() {
                Err("short-form entry past the fork".to_string())
            } else {
                Ok(())
            }
        };
        need(p, 3)?;
        let len = usize::from(f[p]);
        p += 3;
        need(p, len + usize::from(ftype) + isz)?;
        let name = f[p..p + len].to_vec();
        p += len;
        let ft = if ftype {
            p += 1;
            f[p - 1]
        } else {
            0
        };
        let ino = if i8 {
            be64(f, p)
        } else {
            u64::from(be32(f, p))
        };
        p += isz;
        if len == 0 {
            return Err("empty name".into());
        }
        out.push((name, ino, ft));
    }
    Ok(out)
}

fn data_block(b: &[u8], ftype: bool, out: &mut Vec<RawEntry>) -> Result<(), String> {
    let magic = &b[..4];
    let end = match magic {
        b"XDD3" => b.len(),
        b"XDB3" => {
            let count = be32(b, b.len() - 8) as usize;
            b.len()
                .checked_sub(8 + count * 8)
                .filter(|e| *e >= DATA_HDR)
                .ok_or("block directory leaf count too large")?
        }
        _ => return Ok(()), // not a data block (should not occur below the leaf offset)
    };
    if !crc_ok(b, 4) {
        return Err("CRC mismatch".into());
    }
    let mut p = DATA_HDR;
    while p + 8 <= end {
        if be16(b, p) == 0xffff {
            let len = usize::from(be16(b, p + 2));
            if len < 8 || len % 8 != 0 {
                return Err(format!("bad free entry length {len} at {p}"));
            }
            p += len;
            continue;
        }
        if p + 11 > end {
            return Err(format!("entry at {p} truncated"));
        }
        let ino = be64(b, p);
        let len = usize::from(b[p + 8]);
        let size = (8 + 1 + len + usize::from(ftype) + 2).div_ceil(8) * 8;
        if len == 0 || p + size > end {
            return Err(format!("entry at {p} overruns the block"));
        }
        let name = b[p + 9..p + 9 + len].to_vec();
        let ft = if ftype { b[p + 9 + len] } else { 0 };
        if name != b"." && name != b".." {
            out.push((name, ino, ft));
        }
        p += size;
    }
    Ok(())
}
