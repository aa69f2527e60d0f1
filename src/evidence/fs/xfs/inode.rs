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

use super::error::{BlockFault, CorruptKind, InodeFault, Result, XfsError};
use super::sb::{INCOMPAT_NREXT64, Superblock, crc_ok};
use crate::evidence::bytes::{Reader, ShortInput, bytes_at, u32_be, u64_be};
use crate::evidence::fs::reader::Run;
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
    FileKind::from_mode(u32::from(mode))
}

fn timestamp(b: &[u8], at: usize, bigtime: bool) -> std::result::Result<Timestamp, ShortInput> {
    Ok(if bigtime {
        let ns = u64_be(b, at)?;
        Timestamp {
            secs: (ns / 1_000_000_000) as i64 - (1i64 << 31),
            nanos: (ns % 1_000_000_000) as u32,
        }
    } else {
        let mut r = Reader::at(b, at);
        Timestamp {
            secs: i64::from(r.u32_be()? as i32),
            nanos: r.u32_be()?.min(999_999_999),
        }
    })
}

/// The fields of a v3 inode core (`struct xfs_dinode`), unchecked.
struct Core {
    mode: u16,
    version: u8,
    format: u8,
    uid: u32,
    gid: u32,
    nlink: u32,
    nextents64: u64,
    size: u64,
    nextents32: u32,
    anextents16: u16,
    forkoff: u8,
    aformat: u8,
    flags2: u64,
    ino: u64,
}

impl Core {
    fn parse(raw: &[u8]) -> std::result::Result<Core, ShortInput> {
        let mut r = Reader::at(raw, 2);
        let (mode, version, format) = (r.u16_be()?, r.u8()?, r.u8()?);
        r.skip(2)?; // onlink
        let (uid, gid, nlink) = (r.u32_be()?, r.u32_be()?, r.u32_be()?);
        let mut r = Reader::at(raw, 76);
        let nextents32 = r.u32_be()?;
        let anextents16 = r.u16_be()?;
        let (forkoff, aformat) = (r.u8()?, r.u8()?);
        Ok(Core {
            mode,
            version,
            format,
            uid,
            gid,
            nlink,
            nextents64: u64_be(raw, 24)?,
            size: u64_be(raw, 56)?,
            nextents32,
            anextents16,
            forkoff,
            aformat,
            flags2: u64_be(raw, 120)?,
            ino: u64_be(raw, 152)?,
        })
    }
}

impl Inode {
    /// Reads inode `ino`, checking magic, version, CRC and self-number.
    pub fn read(dev: &dyn ReadAt, sb: &Superblock, ino: u64) -> Result<Self> {
        let at = sb.ino_to_byte(ino).ok_or(CorruptKind::InodeNumber(ino))?;
        let mut raw = vec![0u8; usize::from(sb.inode_size)];
        dev.read_exact_at(&mut raw, at)
            .map_err(|e| XfsError::io(format!("inode {ino}"), at, e))?;
        let bad = |fault| {
            Err(CorruptKind::Inode {
                ino,
                offset: at,
                fault,
            }
            .into())
        };
        if raw.get(..2) != Some(b"IN") {
            return bad(InodeFault::Magic);
        }
        // the superblock holds inodes to 256 bytes or more: a short core
        // is as bad as a wrong version
        let Ok(core) = Core::parse(&raw) else {
            return bad(InodeFault::Version);
        };
        if core.version != 3 {
            return bad(InodeFault::Version);
        }
        if !crc_ok(&raw, 100) {
            return bad(InodeFault::Crc);
        }
        if core.ino != ino {
            return bad(InodeFault::OtherNumber);
        }
        let bigtime = core.flags2 & FLAG2_BIGTIME != 0;
        let (nextents, anextents) = if sb.has(INCOMPAT_NREXT64) && core.flags2 & FLAG2_NREXT64 != 0
        {
            (core.nextents64, u64::from(core.nextents32))
        } else {
            (u64::from(core.nextents32), u64::from(core.anextents16))
        };
        let forkoff = usize::from(core.forkoff) * 8;
        if CORE_LEN + forkoff > raw.len() {
            return bad(InodeFault::ForkOffset);
        }
        let time = |at| timestamp(&raw, at, bigtime);
        let (Ok(atime), Ok(mtime), Ok(ctime), Ok(crtime)) =
            (time(32), time(40), time(48), time(144))
        else {
            return bad(InodeFault::Version);
        };
        Ok(Inode {
            ino,
            mode: core.mode,
            format: core.format,
            aformat: core.aformat,
            uid: core.uid,
            gid: core.gid,
            nlink: core.nlink,
            size: core.size,
            nextents,
            anextents,
            atime,
            mtime,
            ctime,
            crtime,
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
        self.raw.get(CORE_LEN..end).unwrap_or_default()
    }

    /// The bytes of the attribute fork (empty when there is none).
    pub fn attr_fork(&self) -> &[u8] {
        if self.forkoff == 0 {
            &[]
        } else {
            self.raw.get(CORE_LEN + self.forkoff..).unwrap_or_default()
        }
    }

    /// (major, minor) of a device inode (Linux `sysv` encoding: 14/18 bits).
    pub fn rdev(&self) -> (u32, u32) {
        match u32_be(self.data_fork(), 0) {
            Ok(d) if self.format == FMT_DEV => (d >> 18, d & 0x3ffff),
            _ => (0, 0),
        }
    }

    /// The extents of the data fork (`attr = false`) or attribute fork,
    /// sorted by file block.
    pub fn extents(&self, dev: &dyn ReadAt, sb: &Superblock, attr: bool) -> Result<Vec<Extent>> {
        let (fork, format, count) = if attr {
            (self.attr_fork(), self.aformat, self.anextents)
        } else {
            (self.data_fork(), self.format, self.nextents)
        };
        let ino = self.ino;
        if count > MAX_EXTENTS {
            return Err(CorruptKind::TooManyExtents { ino, count }.into());
        }
        let mut out = Vec::new();
        match format {
            FMT_EXTENTS => {
                let recs = bytes_at(fork, 0, count as usize * 16)
                    .map_err(|_| CorruptKind::ExtentsDoNotFit { ino, count })?;
                parse_recs(recs, &mut out);
            }
            FMT_BTREE => {
                let mut r = Reader::new(fork);
                let (level, nrecs) = match (r.u16_be(), r.u16_be()) {
                    (Ok(l), Ok(n)) => (l, usize::from(n)),
                    _ => (0, 0),
                };
                let maxrecs = fork.len().saturating_sub(4) / 16;
                if level == 0 || level > MAX_BTREE_DEPTH || nrecs > maxrecs {
                    return Err(CorruptKind::BtreeRoot {
                        ino,
                        level,
                        records: nrecs,
                    }
                    .into());
                }
                let ptrs_at = 4 + maxrecs * 8;
                let mut walk = BmbtWalk {
                    dev,
                    sb,
                    ino,
                    limit: count,
                    blocks_left: bmbt_block_budget(count),
                };
                let mut ptrs = Reader::at(fork, ptrs_at);
                for _ in 0..nrecs {
                    let ptr = ptrs.u64_be().map_err(|_| CorruptKind::BtreeRoot {
                        ino,
                        level,
                        records: nrecs,
                    })?;
                    walk.visit(ptr, level - 1, &mut out)?;
                }
            }
            FMT_LOCAL | FMT_DEV => {}
            f => {
                return Err(CorruptKind::ForkFormat {
                    ino,
                    fork: if attr { "attribute" } else { "data" },
                    format: f,
                }
                .into());
            }
        }
        out.sort_unstable_by_key(|e| e.file_block);
        for w in out.windows(2) {
            if let [a, b] = w
                && a.file_block.saturating_add(a.len) > b.file_block
            {
                return Err(CorruptKind::OverlappingExtents {
                    ino,
                    file_block: b.file_block,
                }
                .into());
            }
        }
        let bs = u64::from(sb.block_size);
        for e in &out {
            // every later `file_block * block_size` stays below this
            if e.file_block
                .checked_add(e.len)
                .and_then(|end| end.checked_mul(bs))
                .is_none()
            {
                return Err(CorruptKind::ExtentPastLargestOffset {
                    ino,
                    file_block: e.file_block,
                    len: e.len,
                }
                .into());
            }
            let last = e.fs_block.checked_add(e.len.saturating_sub(1));
            let ok = e.len > 0
                && sb.fsb_to_byte(e.fs_block).is_some()
                && last.and_then(|l| sb.fsb_to_byte(l)).is_some()
                && last.is_some_and(|l| (l >> sb.agblk_log) == (e.fs_block >> sb.agblk_log));
            let end = sb
                .fsb_to_byte(e.fs_block)
                .and_then(|b| b.checked_add(e.len.checked_mul(u64::from(sb.block_size))?));
            if !ok || end.is_none_or(|end| end > dev.size()) {
                return Err(CorruptKind::ExtentPastEnd {
                    ino,
                    file_block: e.file_block,
                    fs_block: e.fs_block,
                    len: e.len,
                }
                .into());
            }
        }
        Ok(out)
    }
}

fn parse_recs(b: &[u8], out: &mut Vec<Extent>) {
    let mut r = Reader::new(b);
    while let (Ok(l0), Ok(l1)) = (r.u64_be(), r.u64_be()) {
        out.push(Extent {
            unwritten: l0 >> 63 != 0,
            file_block: (l0 & ((1u64 << 63) - 1)) >> 9,
            fs_block: ((l0 & 0x1ff) << 43) | (l1 >> 21),
            len: l1 & ((1u64 << 21) - 1),
        });
    }
}

/// How many extent btree blocks a walk may read for an inode that counts
/// `extents` extents. A well-formed tree has at most one leaf per extent
/// and fewer interior blocks than leaves; without a bound, interior blocks
/// that all point at the same children would make the walk exponential.
fn bmbt_block_budget(extents: u64) -> u64 {
    extents.saturating_mul(2).saturating_add(64)
}

/// A walk of the long-form extent btree (`BMA3` blocks) of one inode.
struct BmbtWalk<'a> {
    dev: &'a dyn ReadAt,
    sb: &'a Superblock,
    ino: u64,
    /// The extent count the inode records.
    limit: u64,
    /// Blocks that may still be read.
    blocks_left: u64,
}

impl BmbtWalk<'_> {
    /// Collects the records below the block `fsb`, expected at `level`.
    fn visit(&mut self, fsb: u64, level: u16, out: &mut Vec<Extent>) -> Result<()> {
        let (dev, sb, ino) = (self.dev, self.sb, self.ino);
        let bad = |fault| CorruptKind::BtreeBlock {
            ino,
            block: fsb,
            fault,
        };
        if self.blocks_left == 0 {
            return Err(CorruptKind::BtreeTooManyBlocks {
                ino,
                extents: self.limit,
            }
            .into());
        }
        self.blocks_left -= 1;
        let at = sb
            .fsb_to_byte(fsb)
            .ok_or_else(|| bad(BlockFault::OutOfRange))?;
        let mut b = vec![0u8; sb.block_size as usize];
        dev.read_exact_at(&mut b, at)
            .map_err(|e| XfsError::io(format!("inode {ino}: extent btree block {fsb}"), at, e))?;
        // struct xfs_btree_block, long form: magic, level, numrecs, …,
        // owner at 56; records (or keys then pointers) from byte 72
        let mut r = Reader::new(&b);
        let header = (r.array::<4>(), r.u16_be(), r.u16_be(), u64_be(&b, 56));
        let (Ok(magic), Ok(got_level), Ok(nrecs), Ok(owner)) = header else {
            return Err(bad(BlockFault::Header).into());
        };
        if &magic != b"BMA3" || got_level != level || owner != ino {
            return Err(bad(BlockFault::Header).into());
        }
        if !crc_ok(&b, 64) {
            return Err(bad(BlockFault::Crc).into());
        }
        const HDR: usize = 72;
        let nrecs = usize::from(nrecs);
        if level == 0 {
            let recs =
                bytes_at(&b, HDR, nrecs * 16).map_err(|_| bad(BlockFault::TooManyRecords))?;
            parse_recs(recs, out);
            if out.len() as u64 > self.limit.max(1) * 2 + 16 {
                return Err(CorruptKind::BtreeTooManyRecords { ino }.into());
            }
            return Ok(());
        }
        let maxrecs = b.len().saturating_sub(HDR) / 16;
        if nrecs > maxrecs {
            return Err(bad(BlockFault::TooManyKeys).into());
        }
        let mut ptrs = Reader::at(&b, HDR + maxrecs * 8);
        for _ in 0..nrecs {
            let ptr = ptrs.u64_be().map_err(|_| bad(BlockFault::TooManyKeys))?;
            self.visit(ptr, level - 1, out)?;
        }
        Ok(())
    }
}

/// The device runs of `extents` as [`Inode::extents`] returns them
/// (sorted, checked to lie on the device).
pub fn to_runs(sb: &Superblock, ino: u64, extents: &[Extent]) -> Result<Vec<Run>> {
    extents
        .iter()
        .map(|e| {
            let dev_offset = sb
                .fsb_to_byte(e.fs_block)
                .ok_or(CorruptKind::ExtentPastEnd {
                    ino,
                    file_block: e.file_block,
                    fs_block: e.fs_block,
                    len: e.len,
                })?;
            Ok(Run {
                file_block: e.file_block,
                len: e.len,
                dev_offset,
                unwritten: e.unwritten,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::xfs::sb::tests::{sb_sector, set_crc};
    use crate::evidence::image::MemImage;

    const INO: u64 = 128;

    fn sb() -> Superblock {
        let dev = MemImage::zero_extended(sb_sector(|_| {}), 4096 * 4096, "sb");
        Superblock::read(&dev).unwrap()
    }

    fn inode(format: u8, nextents: u64, fork: &[u8]) -> Inode {
        let mut raw = vec![0u8; 512];
        raw[CORE_LEN..CORE_LEN + fork.len()].copy_from_slice(fork);
        Inode {
            ino: INO,
            mode: 0o100644,
            format,
            aformat: FMT_EXTENTS,
            uid: 0,
            gid: 0,
            nlink: 1,
            size: 0,
            nextents,
            anextents: 0,
            atime: Timestamp::default(),
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            crtime: Timestamp::default(),
            forkoff: 0,
            raw,
        }
    }

    fn rec(file_block: u64, fs_block: u64, len: u64) -> [u8; 16] {
        let l0 = (file_block << 9) | (fs_block >> 43);
        let l1 = (fs_block << 21) | len;
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&l0.to_be_bytes());
        r[8..].copy_from_slice(&l1.to_be_bytes());
        r
    }

    /// An extent whose byte offset in the file does not fit in 64 bits
    /// (file block near 2^54 × 4 KiB) made later offset arithmetic
    /// overflow; it is refused where extents are checked.
    #[test]
    fn extent_past_the_largest_file_offset_is_an_error() {
        let sb = sb();
        let dev = MemImage::zero_extended(Vec::new(), 4096 * 4096, "dev");
        let i = inode(FMT_EXTENTS, 1, &rec(1 << 53, 16, 1));
        let e = i.extents(&dev, &sb, false).unwrap_err();
        assert!(
            matches!(
                e.corrupt_kind(),
                Some(CorruptKind::ExtentPastLargestOffset { ino: INO, .. })
            ),
            "{e}"
        );
        assert!(e.to_string().contains("largest file offset"), "{e}");
        let ok = inode(FMT_EXTENTS, 1, &rec(3, 16, 2));
        assert_eq!(ok.extents(&dev, &sb, false).unwrap()[0].fs_block, 16);
    }

    /// Interior btree blocks whose every pointer names the same child
    /// (block L+1 → block L, 251 times, nine levels) took 251^8 reads:
    /// a hang. The walk now reads a bounded number of blocks.
    #[test]
    fn extent_btree_with_shared_children_is_refused_quickly() {
        let sb = sb();
        let bs = 4096usize;
        let mut img = vec![0u8; 16 * bs];
        for level in 0..9u16 {
            let fsb = usize::from(level) + 1;
            let b = &mut img[fsb * bs..(fsb + 1) * bs];
            b[..4].copy_from_slice(b"BMA3");
            b[4..6].copy_from_slice(&level.to_be_bytes());
            b[56..64].copy_from_slice(&INO.to_be_bytes());
            if level > 0 {
                let maxrecs = (bs - 72) / 16;
                b[6..8].copy_from_slice(&(maxrecs as u16).to_be_bytes());
                for i in 0..maxrecs {
                    let at = 72 + maxrecs * 8 + i * 8;
                    b[at..at + 8].copy_from_slice(&(fsb as u64 - 1).to_be_bytes());
                }
            }
            set_crc(b, 64);
        }
        let dev = MemImage::zero_extended(img, 4096 * 4096, "dev");
        // root in the inode: level 9, one pointer to block 9
        let mut fork = vec![0u8; 4 + 8 + 8];
        fork[..2].copy_from_slice(&9u16.to_be_bytes());
        fork[2..4].copy_from_slice(&1u16.to_be_bytes());
        let maxrecs = (512 - CORE_LEN - 4) / 16;
        let mut i = inode(FMT_BTREE, 1, &fork);
        let at = CORE_LEN + 4 + maxrecs * 8;
        i.raw[at..at + 8].copy_from_slice(&9u64.to_be_bytes());
        let started = std::time::Instant::now();
        let e = i.extents(&dev, &sb, false).unwrap_err();
        assert!(
            matches!(
                e.corrupt_kind(),
                Some(CorruptKind::BtreeTooManyBlocks { ino: INO, .. })
            ),
            "{e}"
        );
        assert!(e.to_string().contains("more blocks than"), "{e}");
        assert!(started.elapsed().as_secs() < 5);
    }
}
