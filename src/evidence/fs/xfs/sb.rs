//! XFS superblock and address arithmetic ("XFS Algorithms & Data
//! Structures", 3rd ed., ch. "Allocation Groups" / "Superblocks" and
//! "Sharing Data Blocks"; Linux `fs/xfs/libxfs/xfs_format.h`).
//!
//! All fields are big-endian. Filesystem block numbers are split
//! `(agno << agblklog) | agbno`; inode numbers
//! `(agno << (agblklog + inopblog)) | (agbno << inopblog) | index`.
//! v5 metadata CRCs are CRC-32C with the CRC field zeroed, stored
//! little-endian.

use super::error::{CorruptKind, Result, UnsupportedKind, XfsError};
use crate::evidence::bytes::{Reader, ShortInput, u8_at, u16_be, u32_le};
use crate::evidence::image::ReadAt;

pub const INCOMPAT_FTYPE: u32 = 0x1;
pub const INCOMPAT_NREXT64: u32 = 0x20;
/// Incompatible features this reader understands (ftype, sparse inodes,
/// meta_uuid, bigtime, needsrepair, nrext64, exchange-range, parent).
const INCOMPAT_KNOWN: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80;

/// Whether the CRC-32C of `buf`, with the 4 bytes at `crc_at` taken as
/// zero, matches the one stored there (false when `buf` is too short to
/// hold it).
///
/// Fuzz builds (`--cfg fuzzing`, set by cargo-fuzz) accept any CRC so the
/// fuzzer can reach the structures behind it; normal builds never do.
pub fn crc_ok(buf: &[u8], crc_at: usize) -> bool {
    let (Ok(stored), Some((before, after))) = (
        u32_le(buf, crc_at),
        buf.split_at_checked(crc_at)
            .and_then(|(a, rest)| Some((a, rest.get(4..)?))),
    ) else {
        return false;
    };
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    d.update(before);
    d.update(&[0; 4]);
    d.update(after);
    d.finalize() == u64::from(stored) || cfg!(fuzzing)
}

/// The geometry and features read from the primary superblock.
#[derive(Debug, Clone)]
pub struct Superblock {
    pub block_size: u32,
    pub dblocks: u64,
    pub root_ino: u64,
    pub ag_blocks: u32,
    pub ag_count: u32,
    pub inode_size: u16,
    pub block_log: u8,
    pub inopb_log: u8,
    pub agblk_log: u8,
    pub dirblk_log: u8,
    pub incompat: u32,
    pub label: String,
    /// `sb_uuid` (bytes 32–47).
    pub uuid: [u8; 16],
}

impl Superblock {
    /// Reads and checks the superblock at offset 0 of `dev`.
    pub fn read(dev: &dyn ReadAt) -> Result<Self> {
        let mut b = vec![0u8; 512];
        dev.read_exact_at(&mut b, 0)
            .map_err(|e| XfsError::io("the superblock", 0, e))?;
        if b.get(..4) != Some(b"XFSB") {
            return Err(CorruptKind::SuperblockMagic.into());
        }
        let version = u16_be(&b, 100).map_err(CorruptKind::SuperblockShort)? & 0xf;
        if version != 5 {
            return Err(UnsupportedKind::Version(version).into());
        }
        let sect_size = u16_be(&b, 102).map_err(CorruptKind::SuperblockShort)?;
        if !(512..=32768).contains(&sect_size) || !sect_size.is_power_of_two() {
            return Err(CorruptKind::SectorSize(sect_size).into());
        }
        let mut sect = vec![0u8; usize::from(sect_size)];
        dev.read_exact_at(&mut sect, 0)
            .map_err(|e| XfsError::io("the superblock sector", 0, e))?;
        if !crc_ok(&sect, 224) {
            return Err(CorruptKind::SuperblockCrc.into());
        }
        let sb = Self::fields(&b).map_err(CorruptKind::SuperblockShort)?;
        let bad = |what: &'static str| Err(CorruptKind::Implausible(what).into());
        // the logs are compared as numbers, never used as shift amounts
        // before they are known to be small
        if !(512..=65536).contains(&sb.block_size)
            || !sb.block_size.is_power_of_two()
            || u32::from(sb.block_log) != sb.block_size.trailing_zeros()
        {
            return bad("block size");
        }
        if !(256..=2048).contains(&sb.inode_size) || !sb.inode_size.is_power_of_two() {
            return bad("inode size");
        }
        if u32::from(sb.inopb_log) + sb.inode_size.trailing_zeros() != u32::from(sb.block_log) {
            return bad("inodes per block");
        }
        if sb.ag_blocks == 0
            || sb.ag_count == 0
            || sb.agblk_log > 31
            || u64::from(sb.ag_blocks) > 1u64 << sb.agblk_log
        {
            return bad("allocation group geometry");
        }
        if sb.dirblk_log > 6 {
            return bad("directory block size");
        }
        if sb.incompat & !INCOMPAT_KNOWN != 0 {
            return Err(UnsupportedKind::IncompatFeatures(sb.incompat & !INCOMPAT_KNOWN).into());
        }
        let size = sb.dblocks.saturating_mul(u64::from(sb.block_size));
        if size > dev.size() {
            return Err(CorruptKind::DeviceTooSmall {
                fs_bytes: size,
                device_bytes: dev.size(),
            }
            .into());
        }
        Ok(sb)
    }

    /// The fields of the first 512 bytes of the superblock (`struct
    /// xfs_dsb`), unchecked.
    fn fields(b: &[u8]) -> std::result::Result<Self, ShortInput> {
        let mut r = Reader::at(b, 4);
        let block_size = r.u32_be()?;
        let dblocks = r.u64_be()?;
        r.skip(16)?; // rblocks, rextents
        let uuid = r.array::<16>()?;
        r.skip(8)?; // logstart
        let root_ino = r.u64_be()?;
        let mut r = Reader::at(b, 84);
        let (ag_blocks, ag_count) = (r.u32_be()?, r.u32_be()?);
        let mut r = Reader::at(b, 104);
        let inode_size = r.u16_be()?;
        r.skip(2)?; // inopblock
        let label = r.array::<12>()?;
        Ok(Superblock {
            block_size,
            dblocks,
            root_ino,
            ag_blocks,
            ag_count,
            inode_size,
            block_log: u8_at(b, 120)?,
            inopb_log: u8_at(b, 123)?,
            agblk_log: u8_at(b, 124)?,
            dirblk_log: u8_at(b, 192)?,
            incompat: Reader::at(b, 216).u32_be()?,
            uuid,
            label: String::from_utf8_lossy(&label)
                .trim_end_matches('\0')
                .to_string(),
        })
    }

    pub fn has(&self, incompat: u32) -> bool {
        self.incompat & incompat != 0
    }

    pub fn dir_block_size(&self) -> u64 {
        u64::from(self.block_size) << self.dirblk_log
    }

    /// Byte offset of filesystem block `fsb`, or `None` if it is not a
    /// valid block of this filesystem.
    pub fn fsb_to_byte(&self, fsb: u64) -> Option<u64> {
        let agno = fsb >> self.agblk_log;
        let agbno = fsb & ((1u64 << self.agblk_log) - 1);
        if agno >= u64::from(self.ag_count) || agbno >= u64::from(self.ag_blocks) {
            return None;
        }
        let block = agno * u64::from(self.ag_blocks) + agbno;
        (block < self.dblocks).then(|| block * u64::from(self.block_size))
    }

    /// Byte offset of inode `ino`, or `None` if the number is impossible.
    pub fn ino_to_byte(&self, ino: u64) -> Option<u64> {
        let per_block_bits = self.inopb_log;
        let idx = ino & ((1u64 << per_block_bits) - 1);
        let fsb = ino >> per_block_bits;
        Some(self.fsb_to_byte(fsb)? + idx * u64::from(self.inode_size))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::evidence::image::MemImage;

    /// Stores the CRC-32C of `b` (with its CRC field zeroed) at `at`.
    pub fn set_crc(b: &mut [u8], at: usize) {
        b[at..at + 4].fill(0);
        let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
        d.update(b);
        let c = d.finalize() as u32;
        b[at..at + 4].copy_from_slice(&c.to_le_bytes());
    }

    /// A v5 superblock sector: 4 KiB blocks, 512-byte inodes, one AG of
    /// 4096 blocks, root inode 128; `patch` edits it before the CRC.
    pub fn sb_sector(patch: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&4096u64.to_be_bytes());
        b[56..64].copy_from_slice(&128u64.to_be_bytes());
        b[84..88].copy_from_slice(&4096u32.to_be_bytes());
        b[88..92].copy_from_slice(&1u32.to_be_bytes());
        b[100..102].copy_from_slice(&5u16.to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b[104..106].copy_from_slice(&512u16.to_be_bytes());
        b[120] = 12;
        b[123] = 3;
        b[124] = 12;
        patch(&mut b);
        set_crc(&mut b, 224);
        b
    }

    fn read(sector: Vec<u8>) -> Result<Superblock> {
        Superblock::read(&MemImage::zero_extended(sector, 4096 * 4096, "sb"))
    }

    #[test]
    fn plausible_superblock_is_read() {
        let sb = read(sb_sector(|_| {})).unwrap();
        assert_eq!(
            (sb.block_size, sb.inode_size, sb.root_ino),
            (4096, 512, 128)
        );
        assert_eq!(sb.fsb_to_byte(1), Some(4096));
    }

    /// Fuzzer find (`xfs` target): a block log of 32 or more was used as a
    /// shift amount and overflowed.
    #[test]
    fn huge_block_log_is_an_error_not_an_overflow() {
        for log in [32u8, 200, 255] {
            let e = read(sb_sector(|b| b[120] = log)).unwrap_err();
            assert!(
                matches!(
                    e.corrupt_kind(),
                    Some(CorruptKind::Implausible("block size"))
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn huge_inodes_per_block_log_is_an_error_not_an_overflow() {
        for log in [32u8, 250] {
            let e = read(sb_sector(|b| b[123] = log)).unwrap_err();
            assert!(
                matches!(
                    e.corrupt_kind(),
                    Some(CorruptKind::Implausible("inodes per block"))
                ),
                "{e}"
            );
        }
    }
}
