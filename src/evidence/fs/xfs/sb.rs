//! XFS superblock and address arithmetic ("XFS Algorithms & Data
//! Structures", 3rd ed., ch. "Allocation Groups" / "Superblocks" and
//! "Sharing Data Blocks"; Linux `fs/xfs/libxfs/xfs_format.h`).
//!
//! All fields are big-endian. Filesystem block numbers are split
//! `(agno << agblklog) | agbno`; inode numbers
//! `(agno << (agblklog + inopblog)) | (agbno << inopblog) | index`.
//! v5 metadata CRCs are CRC-32C with the CRC field zeroed, stored
//! little-endian.

use crate::evidence::image::ReadAt;

pub const INCOMPAT_FTYPE: u32 = 0x1;
pub const INCOMPAT_NREXT64: u32 = 0x20;
/// Incompatible features this reader understands (ftype, sparse inodes,
/// meta_uuid, bigtime, needsrepair, nrext64, exchange-range, parent).
const INCOMPAT_KNOWN: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80;

pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
pub fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// CRC-32C of `buf` with the 4 bytes at `crc_at` taken as zero.
///
/// Fuzz builds (`--cfg fuzzing`, set by cargo-fuzz) accept any CRC so the
/// fuzzer can reach the structures behind it; normal builds never do.
pub fn crc_ok(buf: &[u8], crc_at: usize) -> bool {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    d.update(&buf[..crc_at]);
    d.update(&[0; 4]);
    d.update(&buf[crc_at + 4..]);
    let stored = u32::from_le_bytes([
        buf[crc_at],
        buf[crc_at + 1],
        buf[crc_at + 2],
        buf[crc_at + 3],
    ]);
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
    pub fn read(dev: &dyn ReadAt) -> Result<Self, String> {
        let mut b = vec![0u8; 512];
        dev.read_exact_at(&mut b, 0)
            .map_err(|e| format!("superblock: {e}"))?;
        if &b[..4] != b"XFSB" {
            return Err("superblock: no XFSB magic at offset 0".into());
        }
        let version = be16(&b, 100) & 0xf;
        if version != 5 {
            return Err(format!(
                "superblock: XFS version {version}; only v5 (CRC-enabled) is supported"
            ));
        }
        let sect_size = be16(&b, 102);
        if !(512..=32768).contains(&sect_size) || !sect_size.is_power_of_two() {
            return Err(format!("superblock: sector size {sect_size} invalid"));
        }
        let mut sect = vec![0u8; usize::from(sect_size)];
        dev.read_exact_at(&mut sect, 0)
            .map_err(|e| format!("superblock: {e}"))?;
        if !crc_ok(&sect, 224) {
            return Err("superblock at offset 0: CRC mismatch".into());
        }
        let sb = Superblock {
            block_size: be32(&b, 4),
            dblocks: be64(&b, 8),
            root_ino: be64(&b, 56),
            ag_blocks: be32(&b, 84),
            ag_count: be32(&b, 88),
            inode_size: be16(&b, 104),
            block_log: b[120],
            inopb_log: b[123],
            agblk_log: b[124],
            dirblk_log: b[192],
            incompat: be32(&b, 216),
            uuid: b[32..48].try_into().unwrap_or_default(),
            label: String::from_utf8_lossy(&b[108..120])
                .trim_end_matches('\0')
                .to_string(),
        };
        let bad = |what: &str| Err(format!("superblock: implausible {what}"));
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
            return Err(format!(
                "superblock: unsupported incompatible features {:#x}",
                sb.incompat & !INCOMPAT_KNOWN
            ));
        }
        let size = sb.dblocks.saturating_mul(u64::from(sb.block_size));
        if size > dev.size() {
            return Err(format!(
                "superblock: the filesystem is {size} bytes but its device only {} (truncated image?)",
                dev.size()
            ));
        }
        Ok(sb)
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

    fn read(sector: Vec<u8>) -> Result<Superblock, String> {
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
            assert!(e.contains("block size"), "{e}");
        }
    }

    #[test]
    fn huge_inodes_per_block_log_is_an_error_not_an_overflow() {
        for log in [32u8, 250] {
            let e = read(sb_sector(|b| b[123] = log)).unwrap_err();
            assert!(e.contains("inodes per block"), "{e}");
        }
    }
}
