//! XFS v3 inodes and their forks ("XFS Algorithms & Data Structures",
//! ch. "On-disk Inode", "Data Extents", "Extent Tree"; Linux
//! `xfs_format.h`: `struct xfs_dinode`, `xfs_bmbt_rec`, `xfs_bmdr_block`,
//! `xfs_btree_block` long form with `BMA3` magic).
//!
//! The 176-byte v3 core is followed by the data fork; the attribute fork
//! starts `di_forkoff * 8` bytes into the literal area. Extent records are
//! 128-bit big-endian: unwritten flag (1), file offset (54), filesystem
//! block (52), length (21). Timestamps are (i32 seconds, u32 ns), or with
//! the bigtime flag a u64 of nanoseconds since 1901-12-13 (epoch - 2^31 s).

use super::sb::{INCOMPAT_NREXT64, Superblock, be16, be32, be64, crc_ok};
use crate::evidence::fs::{FileKind, Timestamp};
use crate::evidence::image::ReadAt;

pub const CORE_LEN: usize = 176;
pub const FMT_DEV: u8 = 0;
pub const FMT_LOCAL: u8 = 1;
pub const FMT_EXTENTS: u8 = 2;
pub const FMT_BTREE: u8 = 3;
const FLAG2_BIGTIME: u64 = 0x8;
const FLAG2_NREXT64: u64 = 0x10;
/// Bounds against corrupt counts.
const MAX_EXTENTS: u64 = 1 << 24;
const MAX_BTREE_DEPTH: u16 = 10;

/// One mapping of file blocks to filesystem blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub file_block: u64,
    pub fs_block: u64,
    pub len: u64,
    pub unwritten: bool,
}

/// A parsed inode, with its raw bytes for the forks.
#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u64,
    pub mode: u16,
    pub format: u8,
    pub aformat: u8,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub size: u64,
    pub nextents: u64,
    pub anextents: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub crtime: Timestamp,
    forkoff: usize,
    raw: Vec<u8>,
}

pub fn kind_of(mode: u16) -> FileKind {
    match mode & 0o170000 {
        0o100000 => FileKind::File,
        0o040000 => FileKind::Dir,
        0o120000 => FileKind::Symlink,
        0o020000 => FileKind::CharDevice,
        0o060000 => FileKind::BlockDevice,
        0o010000 => FileKind::Fifo,
        0o140000 => FileKind::Socket,
        _ => FileKind::Unknown,
    }
}

fn timestamp(b: &[u8], at: usize, bigtime: bool) -> Timestamp {
    if bigtime {
        let ns = be64(b, at);
        Timestamp {
            secs: (ns / 1_000_000_000) as i64 - (1i64 << 31),
            nanos: (ns % 1_000_000_000) as u32,
        }
    } else {
        Timestamp {
            secs: i64::from(be32(b, at) as i32),
            nanos: be32(b, at + 4).min(999_999_999),
        }
    }
}

impl Inode {
    /// Reads inode `ino`, checking magic, version, CRC and self-number.
    pub fn read(dev: &dyn ReadAt, sb: &Superblock, ino: u64) -> Result<Self, String> {
        let at = sb
            .ino_to_byte(ino)
            .ok_or_else(|| format!("inode {ino}: number out of range"))?;
        let mut raw = vec![0u8; usize::from(sb.inode_size)];
        dev.read_exact_at(&mut raw, at)
            .map_err(|e| format!("inode {ino}: {e}"))?;
        let bad = |what: &str| Err(format!("inode {ino} (offset {at}): {what}"));
        if &raw[..2] != b"IN" {
            return bad("bad magic");
        }
        if raw[4] != 3 {
            return bad("not a v3 inode");
        }
        if !crc_ok(&raw, 100) {
            return bad("CRC mismatch");
        }
        if be64(&raw, 152) != ino {
            return bad("records another inode number");
        }
        let flags2 = be64(&raw, 120);
        let bigtime = flags2 & FLAG2_BIGTIME != 0;
        let (nextents, anextents) = if sb.has(INCOMPAT_NREXT64) && flags2 & FLAG2_NREXT64 != 0 {
            (be64(&raw, 24), u64::from(be32(&raw, 76)))
        } else {
            (u64::from(be32(&raw, 76)), u64::from(be16(&raw, 80)))
        };
        let forkoff = usize::from(raw[82]) * 8;
        if CORE_LEN + forkoff > raw.len() {
            return bad("attribute fork offset past the inode");
        }
        Ok(Inode {
            ino,
            mode: be16(&raw, 2),
            format: raw[5],
            aformat: raw[83],
            uid: be32(&raw, 8),
            gid: be32(&raw, 12),
            nlink: be32(&raw, 16),
            size: be64(&raw, 56),
            nextents,
            anextents,
            atime: timestamp(&raw, 32, bigtime),
            mtime: timestamp(&raw, 40, bigtime),
            ctime: timestamp(&raw, 48, bigtime),
            crtime: timestamp(&raw, 144, bigtime),
            forkoff,
            raw,
        })
    }

    pub fn kind(&self) -> FileKind {
        kind_of(self.mode)
    }

    /// The bytes of the data fork.
    pub fn data_fork(&self) -> &[u8] {
        let end = if self.forkoff == 0 {
            self.raw.len()
        } else {
            CORE_LEN + self.forkoff
        };
        &self.raw[CORE_LEN..end]
    }

    /// The bytes of the attribute fork (empty when there is none).
    pub fn attr_fork(&self) -> &[u8] {
        if self.forkoff == 0 {
            &[]
        } else {
            &self.raw[CORE_LEN + self.forkoff..]
        }
    }

    /// (major, minor) of a device inode (Linux `sysv` encoding: 14/18 bits).
    pub fn rdev(&self) -> (u32, u32) {
        let fork = self.data_fork();
        if self.format != FMT_DEV || fork.len() < 4 {
            return (0, 0);
        }
        let d = be32(fork, 0);
        (d >> 18, d & 0x3ffff)
    }

    /// The extents of the data fork (`attr = false`) or attribute fork,
    /// sorted by file block.
    pub fn extents(
        &self,
        dev: &dyn ReadAt,
        sb: &Superblock,
        attr: bool,
    ) -> Result<Vec<Extent>, String> {
        let (fork, format, count) = if attr {
            (self.attr_fork(), self.aformat, self.anextents)
        } else {
            (self.data_fork(), self.format, self.nextents)
        };
        let ino = self.ino;
        if count > MAX_EXTENTS {
            return Err(format!("inode {ino}: {count} extents, more than accepted"));
        }
        let mut out = Vec::new();
        match format {
            FMT_EXTENTS => {
                let n = count as usize;
                if n * 16 > fork.len() {
                    return Err(format!("inode {ino}: {n} extents do not fit in the fork"));
                }
                parse_recs(&fork[..n * 16], &mut out);
            }
            FMT_BTREE => {
                if fork.len() < 4 {
                    return Err(format!("inode {ino}: btree root too small"));
                }
                let level = be16(fork, 0);
                let nrecs = usize::from(be16(fork, 2));
                let maxrecs = (fork.len() - 4) / 16;
                if level == 0 || level > MAX_BTREE_DEPTH || nrecs > maxrecs {
                    return Err(format!(
                        "inode {ino}: corrupt extent btree root (level {level}, {nrecs} records)"
                    ));
                }
                let ptrs_at = 4 + maxrecs * 8;
                for i in 0..nrecs {
                    let ptr = be64(fork, ptrs_at + i * 8);
                    walk_bmbt(dev, sb, ino, ptr, level - 1, &mut out, count)?;
                }
            }
            FMT_LOCAL | FMT_DEV => {}
            f => return Err(format!("inode {ino}: unknown fork format {f}")),
        }
        out.sort_unstable_by_key(|e| e.file_block);
        for w in out.windows(2) {
            if w[0].file_block + w[0].len > w[1].file_block {
                return Err(format!(
                    "inode {ino}: overlapping extents at file block {}",
                    w[1].file_block
                ));
            }
        }
        for e in &out {
            let last = e.fs_block.checked_add(e.len.saturating_sub(1));
            let ok = e.len > 0
                && sb.fsb_to_byte(e.fs_block).is_some()
                && last.and_then(|l| sb.fsb_to_byte(l)).is_some()
                && last.is_some_and(|l| (l >> sb.agblk_log) == (e.fs_block >> sb.agblk_log));
            let end = sb
                .fsb_to_byte(e.fs_block)
                .map(|b| b + e.len * u64::from(sb.block_size));
            if !ok || end.is_none_or(|end| end > dev.size()) {
                return Err(format!(
                    "inode {ino}: extent at file block {} (fs block {}+{}) lies past the end of the filesystem or device",
                    e.file_block, e.fs_block, e.len
                ));
            }
        }
        Ok(out)
    }
}

fn parse_recs(b: &[u8], out: &mut Vec<Extent>) {
    for r in b.chunks_exact(16) {
        let (l0, l1) = (be64(r, 0), be64(r, 8));
        out.push(Extent {
            unwritten: l0 >> 63 != 0,
            file_block: (l0 & ((1u64 << 63) - 1)) >> 9,
            fs_block: ((l0 & 0x1ff) << 43) | (l1 >> 21),
            len: l1 & ((1u64 << 21) - 1),
        });
    }
}

/// Collects the records below one long-form btree block (`BMA3`).
fn walk_bmbt(
    dev: &dyn ReadAt,
    sb: &Superblock,
    ino: u64,
    fsb: u64,
    level: u16,
    out: &mut Vec<Extent>,
    limit: u64,
) -> Result<(), String> {
    let at = sb
        .fsb_to_byte(fsb)
        .ok_or_else(|| format!("inode {ino}: extent btree block {fsb} out of range"))?;
    let mut b = vec![0u8; sb.block_size as usize];
    dev.read_exact_at(&mut b, at)
        .map_err(|e| format!("inode {ino}: extent btree block {fsb}: {e}"))?;
    if &b[..4] != b"BMA3" || be16(&b, 4) != level || be64(&b, 56) != ino {
        return Err(format!("inode {ino}: extent btree block {fsb}: bad header"));
    }
    if !crc_ok(&b, 64) {
        return Err(format!(
            "inode {ino}: extent btree block {fsb}: CRC mismatch"
        ));
    }
    const HDR: usize = 72;
    let nrecs = usize::from(be16(&b, 6));
    if level == 0 {
        if HDR + nrecs * 16 > b.len() {
            return Err(format!(
                "inode {ino}: extent btree block {fsb}: too many records"
            ));
        }
        parse_recs(&b[HDR..HDR + nrecs * 16], out);
        if out.len() as u64 > limit.max(1) * 2 + 16 {
            return Err(format!(
                "inode {ino}: extent btree holds more records than the inode counts"
            ));
        }
        return Ok(());
    }
    let maxrecs = (b.len() - HDR) / 16;
    if nrecs > maxrecs {
        return Err(format!(
            "inode {ino}: extent btree block {fsb}: too many keys"
        ));
    }
    for i in 0..nrecs {
        let ptr = be64(&b, HDR + maxrecs * 8 + i * 8);
        walk_bmbt(dev, sb, ino, ptr, level - 1, out, limit)?;
    }
    Ok(())
}

/// Reads the bytes at file byte `offset` of a fork mapped by `extents`
/// (holes and unwritten extents read as zeros). Returns bytes filled.
pub fn read_mapped(
    dev: &dyn ReadAt,
    sb: &Superblock,
    extents: &[Extent],
    size: u64,
    buf: &mut [u8],
    offset: u64,
) -> std::io::Result<usize> {
    if offset >= size || buf.is_empty() {
        return Ok(0);
    }
    let bs = u64::from(sb.block_size);
    let want = (size - offset).min(buf.len() as u64) as usize;
    let buf = &mut buf[..want];
    let block = offset / bs;
    let idx = extents.partition_point(|e| e.file_block + e.len <= block);
    match extents.get(idx) {
        Some(e) if e.file_block <= block => {
            let within = offset - e.file_block * bs;
            let run = (e.len * bs - within).min(want as u64) as usize;
            if e.unwritten {
                buf[..run].fill(0);
            } else {
                let at = sb.fsb_to_byte(e.fs_block).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("fs block {} out of range", e.fs_block),
                    )
                })?;
                dev.read_exact_at(&mut buf[..run], at + within)?;
            }
            Ok(run)
        }
        next => {
            let hole_end = next.map_or(size, |e| e.file_block * bs);
            let run = (hole_end - offset).min(want as u64) as usize;
            buf[..run].fill(0);
            Ok(run)
        }
    }
}
