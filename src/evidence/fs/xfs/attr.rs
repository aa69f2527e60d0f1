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

use super::error::{BlockFault, CorruptKind, Result, ShortFormFault, XfsError};
use super::inode::{FMT_BTREE, FMT_EXTENTS, FMT_LOCAL, Inode, to_runs};
use super::sb::{Superblock, crc_ok};
use crate::evidence::bytes::{Reader, bytes_at, u16_be, u32_be};
use crate::evidence::fs::Xattrs;
use crate::evidence::fs::reader::Mapped;
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
pub fn read_all(dev: &dyn ReadAt, sb: &Superblock, inode: &Inode) -> Result<Xattrs> {
    let ino = inode.ino;
    let fork = inode.attr_fork();
    if fork.is_empty() {
        return Ok(Vec::new());
    }
    match inode.aformat {
        FMT_LOCAL => {
            short_form(fork).map_err(|fault| CorruptKind::AttrShortForm { ino, fault }.into())
        }
        FMT_EXTENTS | FMT_BTREE => {
            let extents = inode.extents(dev, sb, true)?;
            let runs = to_runs(sb, ino, &extents)?;
            let fork = Fork {
                sb,
                map: Mapped {
                    dev,
                    runs: &runs,
                    block_size: u64::from(sb.block_size),
                    // `Inode::extents` checked that this fits in a u64
                    size: runs
                        .last()
                        .map_or(0, |r| (r.file_block + r.len) * u64::from(sb.block_size)),
                },
            };
            let mut out = Vec::new();
            let mut b = vec![0u8; sb.block_size as usize];
            for e in &extents {
                for k in 0..e.len {
                    let block = e.file_block + k;
                    fork.read_block(&mut b, block).map_err(|err| {
                        let at = block.saturating_mul(u64::from(sb.block_size));
                        XfsError::io(format!("inode {ino}: attribute fork"), at, err)
                    })?;
                    if u16_be(&b, 8).ok() == Some(ATTR3_LEAF_MAGIC) {
                        fork.leaf(&b, &mut out)
                            .map_err(|fault| CorruptKind::AttrLeaf { ino, block, fault })?;
                    }
                }
            }
            Ok(out)
        }
        f => Err(CorruptKind::ForkFormat {
            ino,
            fork: "attribute",
            format: f,
        }
        .into()),
    }
}

/// A short-form attribute fork: totsize (u16), count (u8), pad, then the
/// entries.
fn short_form(f: &[u8]) -> std::result::Result<Xattrs, ShortFormFault> {
    let mut r = Reader::new(f);
    let header = (r.u16_be(), r.u8(), r.skip(1));
    let (Ok(total), Ok(count), Ok(())) = header else {
        return Err(ShortFormFault::HeaderTruncated);
    };
    let f = bytes_at(f, 0, usize::from(total).min(f.len())).unwrap_or(f);
    let mut r = Reader::at(f, 4);
    let mut out = Vec::new();
    for _ in 0..count {
        let past = |_| ShortFormFault::EntryPastFork;
        let (nl, vl, flags) = (
            r.u8().map_err(past)?,
            r.u8().map_err(past)?,
            r.u8().map_err(past)?,
        );
        let name = r.bytes(usize::from(nl)).map_err(past)?;
        let value = r.bytes(usize::from(vl)).map_err(past)?;
        if let Some(name) = full_name(flags, name) {
            out.push((name, value.to_vec()));
        }
    }
    Ok(out)
}

/// The attribute fork of one inode, mapped by its extents.
struct Fork<'a> {
    sb: &'a Superblock,
    /// The fork's runs; its size ends with the last one.
    map: Mapped<'a>,
}

impl Fork<'_> {
    /// Reads fork block `block` into `b` (one block long); returns the
    /// bytes filled.
    fn read_block(&self, b: &mut [u8], block: u64) -> std::io::Result<usize> {
        let at = block.saturating_mul(u64::from(self.sb.block_size));
        self.map.read_at(b, at)
    }

    /// The entries of leaf block `b`: hash u32, nameidx u16, flags u8, pad.
    fn leaf(&self, b: &[u8], out: &mut Xattrs) -> std::result::Result<(), BlockFault> {
        if !crc_ok(b, 12) {
            return Err(BlockFault::Crc);
        }
        let count = usize::from(u16_be(b, 56)?);
        let mut entries = Reader::at(b, LEAF_HDR);
        if entries.remaining() < count * 8 {
            return Err(BlockFault::EntryCount);
        }
        for i in 0..count {
            let bad = |_| BlockFault::EntryOutOfBlock(i);
            let mut e = Reader::new(entries.bytes(8).map_err(bad)?);
            e.skip(4).map_err(bad)?; // hash
            let idx = usize::from(e.u16_be().map_err(bad)?);
            let flags = e.u8().map_err(bad)?;
            let mut r = Reader::at(b, idx);
            if flags & 0x1 != 0 {
                // local: valuelen u16, namelen u8, name, value
                let vl = usize::from(r.u16_be().map_err(bad)?);
                let nl = usize::from(r.u8().map_err(bad)?);
                let name = r.bytes(nl).map_err(bad)?;
                let value = r.bytes(vl).map_err(bad)?;
                if let Some(name) = full_name(flags, name) {
                    out.push((name, value.to_vec()));
                }
            } else {
                // remote: valueblk u32, valuelen u32, namelen u8, name
                let blk = u64::from(r.u32_be().map_err(bad)?);
                let vl = r.u32_be().map_err(bad)?;
                let nl = usize::from(r.u8().map_err(bad)?);
                let Some(name) = full_name(flags, r.bytes(nl).map_err(bad)?) else {
                    continue;
                };
                if vl > MAX_VALUE {
                    return Err(BlockFault::RemoteValueSize(vl));
                }
                out.push((name, self.remote(blk, vl)?));
            }
        }
        Ok(())
    }

    /// A remote value of `len` bytes from fork block `blk` on, each block
    /// a 56-byte `XARM` header then data.
    fn remote(&self, mut blk: u64, len: u32) -> std::result::Result<Vec<u8>, BlockFault> {
        let len = len as usize;
        let mut out = Vec::with_capacity(len);
        let mut b = vec![0u8; self.sb.block_size as usize];
        while out.len() < len {
            let n = self
                .read_block(&mut b, blk)
                .map_err(|_| BlockFault::RemoteValueHeader(blk))?;
            if n < RMT_HDR || b.get(..4) != Some(b"XARM") || !crc_ok(&b, 12) {
                return Err(BlockFault::RemoteValueHeader(blk));
            }
            let bytes = (u32_be(&b, 8)? as usize).min(b.len() - RMT_HDR);
            if bytes == 0 {
                return Err(BlockFault::RemoteValueEmpty(blk));
            }
            let take = bytes.min(len - out.len());
            out.extend_from_slice(bytes_at(&b, RMT_HDR, take)?);
            blk += 1;
        }
        Ok(out)
    }
}
