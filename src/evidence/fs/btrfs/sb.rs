//! The btrfs superblock and the chunk map (logical → physical).
//!
//! Layout from the btrfs documentation ("On-disk format",
//! btrfs.readthedocs.io) and Linux `include/uapi/linux/btrfs_tree.h`:
//! the superblock is 4096 bytes at 64 KiB with copies at 64 MiB and
//! 256 GiB; its first 32 bytes hold the CRC-32C of the rest. The system
//! chunks inside it (`sys_chunk_array`) map the chunk tree, whose chunk
//! items map everything else. Only one-device filesystems are read, with
//! the single and DUP profiles (and the mirrored RAID1 profiles, whose
//! every stripe is a full copy); striped and parity profiles are refused.

use super::error::{BtrfsError, CorruptKind, Result};
use crate::evidence::bytes::{Reader, bytes_at, u8_at, u16_le, u32_le, u64_le};
use crate::evidence::image::ReadAt;

/// Where the superblock copies live.
pub const SUPER_OFFSETS: [u64; 3] = [64 << 10, 64 << 20, 256 << 30];
const SUPER_SIZE: usize = 4096;
const MAGIC: &[u8; 8] = b"_BHRfS_M";
const SYS_ARRAY_AT: usize = 0x32b;
const SYS_ARRAY_MAX: usize = 2048;
/// Chunk type bits that stripe or add parity (RAID0, RAID10, RAID5, RAID6).
const STRIPED: u64 = 8 | 64 | 128 | 256;
/// Most chunks accepted (a 16 TiB filesystem has ~16k 1 GiB chunks).
pub const MAX_CHUNKS: usize = 1 << 20;

/// CRC-32C (Castagnoli, the iSCSI polynomial) as btrfs stores it.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    d.update(data);
    d.finalize() as u32
}

/// Whether the checksum in the first 4 bytes of `block` matches the
/// CRC-32C of everything after the 32-byte checksum field.
pub fn csum_ok(block: &[u8]) -> bool {
    match (u32_le(block, 0), block.get(32..)) {
        (Ok(stored), Some(rest)) => crc32c(rest) == stored || cfg!(fuzzing),
        _ => false,
    }
}

/// The fields of the superblock this reader uses.
#[derive(Debug, Clone)]
pub struct Superblock {
    /// Byte offset of the copy used.
    pub at: u64,
    pub fsid: [u8; 16],
    pub generation: u64,
    pub root: u64,
    pub chunk_root: u64,
    pub num_devices: u64,
    pub sector_size: u32,
    pub node_size: u32,
    pub root_level: u8,
    pub chunk_root_level: u8,
    pub devid: u64,
    pub dev_bytes: u64,
    pub label: String,
    pub sys_chunks: Vec<u8>,
}

impl Superblock {
    /// The primary superblock, or the newest valid mirror when the
    /// primary is damaged.
    pub fn read(dev: &dyn ReadAt) -> Result<Self> {
        let mut faults = Vec::new();
        let mut best: Option<Superblock> = None;
        for (i, &at) in SUPER_OFFSETS.iter().enumerate() {
            if at + SUPER_SIZE as u64 > dev.size() {
                if i > 0 {
                    faults.push(format!("at {at}: past the end of the device"));
                }
                continue;
            }
            match Self::read_at(dev, at) {
                Ok(sb) if i == 0 => return Ok(sb),
                Ok(sb) => {
                    if best.as_ref().is_none_or(|b| b.generation < sb.generation) {
                        best = Some(sb);
                    }
                }
                Err(e) if i == 0 => faults.push(e),
                Err(e) => faults.push(format!("at {at}: {e}")),
            }
        }
        let primary = if faults.is_empty() || dev.size() < SUPER_OFFSETS[0] + SUPER_SIZE as u64 {
            "past the end of the device".to_string()
        } else {
            faults.remove(0)
        };
        best.ok_or_else(|| {
            CorruptKind::NoSuperblock {
                primary,
                mirrors: if faults.is_empty() {
                    "none".into()
                } else {
                    faults.join(", ")
                },
            }
            .into()
        })
    }

    fn read_at(dev: &dyn ReadAt, at: u64) -> std::result::Result<Self, String> {
        let mut b = vec![0u8; SUPER_SIZE];
        dev.read_exact_at(&mut b, at).map_err(|e| e.to_string())?;
        if b.get(0x40..0x48) != Some(&MAGIC[..]) {
            return Err("no _BHRfS_M magic".into());
        }
        let csum_type = u16_le(&b, 0xc4).map_err(|e| e.to_string())?;
        if csum_type != 0 {
            return Err(format!(
                "checksum type {csum_type} (only CRC-32C, type 0, is read)"
            ));
        }
        if !csum_ok(&b) {
            return Err("checksum mismatch".into());
        }
        Self::fields(&b, at).map_err(|e| e.to_string())
    }

    fn fields(b: &[u8], at: u64) -> std::result::Result<Self, String> {
        let s = |e: crate::evidence::bytes::ShortInput| e.to_string();
        let bytenr = u64_le(b, 0x30).map_err(s)?;
        if bytenr != at {
            return Err(format!("records offset {bytenr}, found at {at}"));
        }
        let sys_len = u32_le(b, 0xa0).map_err(s)? as usize;
        if sys_len > SYS_ARRAY_MAX {
            return Err(format!("system chunk array of {sys_len} bytes"));
        }
        let sector_size = u32_le(b, 0x90).map_err(s)?;
        let node_size = u32_le(b, 0x94).map_err(s)?;
        let pow2 = |v: u32, lo: u32, hi: u32| v.is_power_of_two() && (lo..=hi).contains(&v);
        if !pow2(sector_size, 4096, 65536) || !pow2(node_size, sector_size, 65536) {
            return Err(format!(
                "sector size {sector_size} / node size {node_size} implausible"
            ));
        }
        let label_raw = bytes_at(b, 0x12b, 256).map_err(s)?;
        let end = label_raw.iter().position(|&c| c == 0).unwrap_or(256);
        Ok(Superblock {
            at,
            fsid: crate::evidence::bytes::array_at(b, 0x20).map_err(s)?,
            generation: u64_le(b, 0x48).map_err(s)?,
            root: u64_le(b, 0x50).map_err(s)?,
            chunk_root: u64_le(b, 0x58).map_err(s)?,
            num_devices: u64_le(b, 0x88).map_err(s)?,
            sector_size,
            node_size,
            root_level: u8_at(b, 0xc6).map_err(s)?,
            chunk_root_level: u8_at(b, 0xc7).map_err(s)?,
            devid: u64_le(b, 0xc9).map_err(s)?,
            dev_bytes: u64_le(b, 0xc9 + 8).map_err(s)?,
            label: String::from_utf8_lossy(label_raw.get(..end).unwrap_or_default()).into_owned(),
            sys_chunks: bytes_at(b, SYS_ARRAY_AT, sys_len).map_err(s)?.to_vec(),
        })
    }
}

/// Most copies of a chunk kept (DUP has 2, RAID1C4 4).
const MAX_COPIES: usize = 4;

/// One chunk: `len` logical bytes at `logical`, stored at `physical` on
/// this device (and, for DUP or a mirrored profile, at the other copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub logical: u64,
    pub len: u64,
    pub copies: Vec<u64>,
}

/// The logical → physical map of the filesystem's one device.
#[derive(Debug, Default, Clone)]
pub struct ChunkMap {
    /// Sorted by logical address, not overlapping.
    chunks: Vec<Chunk>,
}

impl ChunkMap {
    /// Adds a chunk item (`item`: the `btrfs_chunk` bytes) at `logical`.
    pub fn add(&mut self, logical: u64, item: &[u8], devid: u64, dev_size: u64) -> Result<()> {
        let bad = |detail: String| CorruptKind::Chunk { logical, detail };
        let mut r = Reader::new(item);
        let short = |e: crate::evidence::bytes::ShortInput| bad(e.to_string());
        let len = r.u64_le().map_err(short)?;
        r.skip(16).map_err(short)?; // owner, stripe_len
        let kind = r.u64_le().map_err(short)?;
        r.skip(12).map_err(short)?; // io_align, io_width, sector_size
        let stripes = r.u16_le().map_err(short)?;
        r.skip(2).map_err(short)?; // sub_stripes
        if kind & STRIPED != 0 {
            return Err(BtrfsError::Unsupported(format!(
                "chunk at logical {logical}: striped or parity profile (type {kind:#x}: RAID0/10/5/6) is not read"
            )));
        }
        if stripes == 0 || len == 0 {
            return Err(bad(format!("{stripes} stripes of {len} bytes")).into());
        }
        let mut copies = Vec::new();
        for _ in 0..stripes {
            let dev = r.u64_le().map_err(short)?;
            let off = r.u64_le().map_err(short)?;
            r.skip(16).map_err(short)?;
            if dev == devid && copies.len() < MAX_COPIES {
                if off.checked_add(len).is_none_or(|end| end > dev_size) {
                    return Err(
                        bad(format!("{len} bytes at physical {off} past the device")).into(),
                    );
                }
                copies.push(off);
            }
        }
        if copies.is_empty() {
            return Err(BtrfsError::Unsupported(format!(
                "chunk at logical {logical}: no copy on this device (devid {devid}): a multi-device filesystem"
            )));
        }
        if logical.checked_add(len).is_none() {
            return Err(bad(format!("{len} bytes overflow")).into());
        }
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(bad("too many chunks".into()).into());
        }
        let c = Chunk {
            logical,
            len,
            copies,
        };
        let idx = self.chunks.partition_point(|x| x.logical < logical);
        if self.chunks.get(idx).is_some_and(|x| x.logical == logical) {
            return Ok(()); // the same chunk, from the sys array and the chunk tree
        }
        let overlaps_prev = idx > 0
            && self
                .chunks
                .get(idx - 1)
                .is_some_and(|p| p.logical + p.len > logical);
        let overlaps_next = self
            .chunks
            .get(idx)
            .is_some_and(|n| logical + len > n.logical);
        if overlaps_prev || overlaps_next {
            return Err(bad("overlaps another chunk".into()).into());
        }
        self.chunks.insert(idx, c);
        Ok(())
    }

    /// Fills the map from the superblock's system chunk array.
    pub fn from_sys_array(sb: &Superblock, dev_size: u64) -> Result<Self> {
        let mut map = ChunkMap::default();
        let a = &sb.sys_chunks;
        let mut r = Reader::new(a);
        let bad = |d: String| CorruptKind::SysChunkArray(d);
        while r.remaining() > 0 {
            let _objectid = r.u64_le().map_err(|e| bad(e.to_string()))?;
            let kind = r.u8().map_err(|e| bad(e.to_string()))?;
            let logical = r.u64_le().map_err(|e| bad(e.to_string()))?;
            if kind != super::tree::CHUNK_ITEM {
                return Err(bad(format!("key type {kind}, not a chunk item")).into());
            }
            let stripes = u16_le(a, r.pos() + 44).map_err(|e| bad(e.to_string()))?;
            let size = 48 + 32 * usize::from(stripes);
            let item = r.bytes(size).map_err(|e| bad(e.to_string()))?;
            map.add(logical, item, sb.devid, dev_size)?;
        }
        if map.chunks.is_empty() {
            return Err(bad("empty".into()).into());
        }
        Ok(map)
    }

    /// The chunk holding `logical`.
    fn chunk_of(&self, logical: u64) -> Result<&Chunk> {
        let idx = self.chunks.partition_point(|c| c.logical <= logical);
        Ok(idx
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
            .filter(|c| logical - c.logical < c.len)
            .ok_or(CorruptKind::Unmapped(logical))?)
    }

    /// The device offsets of every copy of `logical`.
    pub fn physical_copies(&self, logical: u64) -> Vec<u64> {
        self.chunk_of(logical).map_or(Vec::new(), |c| {
            c.copies.iter().map(|p| p + (logical - c.logical)).collect()
        })
    }

    /// How many copies the chunk holding `logical` has.
    pub fn copies(&self, logical: u64) -> usize {
        self.chunk_of(logical).map_or(1, |c| c.copies.len())
    }

    /// Reads `buf.len()` bytes at `logical` from its first copy, across
    /// chunks if need be.
    pub fn read(&self, dev: &dyn ReadAt, buf: &mut [u8], logical: u64) -> Result<()> {
        self.read_copy(dev, buf, logical, 0)
    }

    /// Reads `buf.len()` bytes at `logical` from copy `copy` (the last
    /// copy, for a chunk that has fewer).
    pub fn read_copy(
        &self,
        dev: &dyn ReadAt,
        buf: &mut [u8],
        logical: u64,
        copy: usize,
    ) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = logical
                .checked_add(done as u64)
                .ok_or(CorruptKind::Unmapped(logical))?;
            let c = self.chunk_of(at)?;
            let base = c
                .copies
                .get(copy)
                .or(c.copies.last())
                .copied()
                .ok_or(CorruptKind::Unmapped(at))?;
            let within = at - c.logical;
            let phys = base + within;
            let n = ((buf.len() - done) as u64).min(c.len - within) as usize;
            dev.read_exact_at(&mut buf[done..done + n], phys)
                .map_err(|e| BtrfsError::io(format!("logical {at}"), phys, e))?;
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::image::MemImage;

    /// A chunk item: `len` bytes of type `kind`, stripes on (devid, offset).
    fn chunk(len: u64, kind: u64, stripes: &[(u64, u64)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(len.to_le_bytes());
        b.extend([0u8; 16]);
        b.extend(kind.to_le_bytes());
        b.extend([0u8; 12]);
        b.extend((stripes.len() as u16).to_le_bytes());
        b.extend([0u8; 2]);
        for (dev, off) in stripes {
            b.extend(dev.to_le_bytes());
            b.extend(off.to_le_bytes());
            b.extend([0u8; 16]);
        }
        b
    }

    #[test]
    fn chunks_map_dup_copies_and_refuse_what_is_not_read() {
        let mut m = ChunkMap::default();
        // DUP metadata: two copies on device 1
        m.add(1000, &chunk(100, 4 | 32, &[(1, 10), (1, 500)]), 1, 4096)
            .unwrap();
        m.add(2000, &chunk(50, 1, &[(1, 200)]), 1, 4096).unwrap();
        assert_eq!(m.physical_copies(1010), vec![20, 510]);
        assert_eq!(m.copies(2000), 1);
        assert!(m.physical_copies(1100).is_empty());
        let dev = MemImage::new((0..=255u8).cycle().take(4096).collect(), "d");
        let mut two = [0u8; 2];
        m.read_copy(&dev, &mut two, 1098, 1).unwrap();
        assert_eq!(two, [(598 % 256) as u8, (599 % 256) as u8]);
        m.read_copy(&dev, &mut two, 1098, 5).unwrap(); // the last copy
        assert_eq!(two, [(598 % 256) as u8, (599 % 256) as u8]);
        let mut b = [0u8; 3];
        // 1100..2000 is not mapped: the third byte fails
        assert!(matches!(
            m.read(&dev, &mut b, 1098),
            Err(BtrfsError::Corrupt(CorruptKind::Unmapped(1100)))
        ));
        // overlap, past the device, RAID0, another device only
        assert!(m.add(1050, &chunk(100, 1, &[(1, 0)]), 1, 4096).is_err());
        assert!(m.add(3000, &chunk(100, 1, &[(1, 4000)]), 1, 4096).is_err());
        let e = m
            .add(3000, &chunk(100, 1 | 8, &[(1, 0)]), 1, 4096)
            .unwrap_err();
        assert!(e.to_string().contains("RAID0/10/5/6"), "{e}");
        let e = m.add(3000, &chunk(100, 1, &[(2, 0)]), 1, 4096).unwrap_err();
        assert!(e.to_string().contains("multi-device"), "{e}");
        assert!(m.add(3000, &chunk(100, 1, &[]), 1, 4096).is_err());
    }

    #[test]
    fn superblock_copies_are_checked() {
        let dev = MemImage::new(vec![0u8; 70 << 10], "d");
        let e = Superblock::read(&dev).unwrap_err().to_string();
        assert!(e.contains("no _BHRfS_M magic"), "{e}");
        let short = MemImage::new(vec![0u8; 1000], "d");
        assert!(Superblock::read(&short).is_err());
    }
}
