//! XFS v5 extended attributes ("XFS Algorithms & Data Structures", ch.
//! "Extended Attributes"; Linux `xfs_da_format.h`).
//!
//! - Short form (local attribute fork): totsize (u16), count (u8), pad,
//!   then entries: namelen (u8), valuelen (u8), flags (u8), name, value.
//! - Leaf and node forms: leaf blocks (`xfs_da3_blkinfo` magic 0x3bee at
//!   byte 8, 80-byte header, entries of hash u32, nameidx u16, flags u8,
//!   pad) whose names are local (valuelen u16, namelen u8, name, value) or
//!   remote (valueblk u32, valuelen u32, namelen u8, name); remote values
//!   are in attribute-fork blocks each starting with a 56-byte `XARM`
//!   header. Every leaf block of the fork is read, so node blocks (the
//!   hash index) are not needed to enumerate.
//!
//! Namespace flags: `ROOT` (0x2) is `trusted.`, `SECURE` (0x4) is
//! `security.`, neither is `user.`; parent pointers (0x8) and incomplete
//! entries (0x80) are skipped.

use super::inode::{FMT_BTREE, FMT_EXTENTS, FMT_LOCAL, Inode, read_mapped};
use super::sb::{Superblock, be16, be32, crc_ok};
use crate::evidence::fs::Xattrs;
use crate::evidence::image::ReadAt;

const ATTR3_LEAF_MAGIC: u16 = 0x3bee;
const LEAF_HDR: usize = 80;
const RMT_HDR: usize = 56;
const MAX_VALUE: u32 = 1 << 20;

fn full_name(flags: u8, name: &[u8]) -> Option<Vec<u8>> {
    if flags & 0x88 != 0 {
        return None;
    }
    let prefix: &[u8] = if flags & 0x2 != 0 {
        b"trusted."
    } else if flags & 0x4 != 0 {
        b"security."
    } else {
        b"user."
    };
    Some([prefix, name].concat())
}

/// All extended attributes of `inode`.
pub fn read_all(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode) -> Result<Xattrs, String> {
    let ino = inode.ino;
    let fork = inode.attr_fork();
    if fork.is_empty() {
        return Ok(Vec::new());
    }
    match inode.aformat {
        FMT_LOCAL => short_form(fork).map_err(|e| format!("inode {ino}: attributes: {e}")),
        FMT_EXTENTS | FMT_BTREE => {
            let extents = inode.extents(dev, sb, true)?;
            let bs = u64::from(sb.block_size);
            let fork_size = extents.last().map_or(0, |e| (e.file_block + e.len) * bs);
            let mut out = Vec::new();
            let mut b = vec![0u8; bs as usize];
            for e in &extents {
                for k in 0..e.len {
                    read_mapped(
                        dev,
                        sb,
                        &extents,
                        fork_size,
                        &mut b,
                        (e.file_block + k) * bs,
                    )
                    .map_err(|err| format!("inode {ino}: attribute block: {err}"))?;
                    if be16(&b, 8) == ATTR3_LEAF_MAGIC {
                        leaf(dev, sb, &extents, fork_size, &b, &mut out).map_err(|err| {
                            format!(
                                "inode {ino}: attribute leaf block {}: {err}",
                                e.file_block + k
                            )
                        })?;
                    }
                }
            }
            Ok(out)
        }
        f => Err(format!("inode {ino}: unknown attribute fork format {f}")),
    }
}

fn short_form(f: &[u8]) -> Result<Xattrs, String> {
    if f.len() < 4 {
        return Err("short-form header truncated".into());
    }
    let total = usize::from(be16(f, 0)).min(f.len());
    let count = f[2];
    let mut p = 4;
    let mut out = Vec::new();
    for _ in 0..count {
        if p + 3 > total {
            return Err("short-form entry past the fork".into());
        }
        let (nl, vl, flags) = (usize::from(f[p]), usize::from(f[p + 1]), f[p + 2]);
        p += 3;
        if p + nl + vl > total {
            return Err("short-form entry past the fork".into());
        }
        if let Some(name) = full_name(flags, &f[p..p + nl]) {
            out.push((name, f[p + nl..p + nl + vl].to_vec()));
        }
        p += nl + vl;
    }
    Ok(out)
}

fn leaf(
    dev: &dyn ReadAt,
    sb: &Superblock,
    extents: &[super::inode::Extent],
    fork_size: u64,
    b: &[u8],
    out: &mut Xattrs,
) -> Result<(), String> {
    if !crc_ok(b, 12) {
        return Err("CRC mismatch".into());
    }
    let count = usize::from(be16(b, 56));
    if LEAF_HDR + count * 8 > b.len() {
        return Err("entry count too large".into());
    }
    for i in 0..count {
        let e = LEAF_HDR + i * 8;
        let idx = usize::from(be16(b, e + 4));
        let flags = b[e + 6];
        let bad = || format!("entry {i} out of the block");
        if flags & 0x1 != 0 {
            // local: valuelen u16, namelen u8, name, value
            if idx + 3 > b.len() {
                return Err(bad());
            }
            let vl = usize::from(be16(b, idx));
            let nl = usize::from(b[idx + 2]);
            let p = idx + 3;
            if p + nl + vl > b.len() {
                return Err(bad());
            }
            if let Some(name) = full_name(flags, &b[p..p + nl]) {
                out.push((name, b[p + nl..p + nl + vl].to_vec()));
            }
        } else {
            // remote: valueblk u32, valuelen u32, namelen u8, name
            if idx + 9 > b.len() {
                return Err(bad());
            }
            let blk = u64::from(be32(b, idx));
            let vl = be32(b, idx + 4);
            let nl = usize::from(b[idx + 8]);
            if idx + 9 + nl > b.len() {
                return Err(bad());
            }
            let Some(name) = full_name(flags, &b[idx + 9..idx + 9 + nl]) else {
                continue;
            };
            if vl > MAX_VALUE {
                return Err(format!("remote value of {vl} bytes"));
            }
            out.push((name, remote(dev, sb, extents, fork_size, blk, vl)?));
        }
    }
    Ok(())
}

fn remote(
    dev: &dyn ReadAt,
    sb: &Superblock,
    extents: &[super::inode::Extent],
    fork_size: u64,
    mut blk: u64,
    len: u32,
) -> Result<Vec<u8>, String> {
    let bs = u64::from(sb.block_size);
    let mut out = Vec::with_capacity(len as usize);
    let mut b = vec![0u8; bs as usize];
    while out.len() < len as usize {
        let n = read_mapped(dev, sb, extents, fork_size, &mut b, blk * bs)
            .map_err(|e| format!("remote value: {e}"))?;
        if n < RMT_HDR || &b[..4] != b"XARM" || !crc_ok(&b, 12) {
            return Err(format!("remote value block {blk}: bad header or CRC"));
        }
        let bytes = (be32(&b, 8) as usize).min(b.len() - RMT_HDR);
        if bytes == 0 {
            return Err(format!("remote value block {blk}: empty"));
        }
        let take = bytes.min(len as usize - out.len());
        out.extend_from_slice(&b[RMT_HDR..RMT_HDR + take]);
        blk += 1;
    }
    Ok(out)
}
