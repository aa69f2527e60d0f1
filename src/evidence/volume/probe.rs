//! What a region holds, by the magic numbers at fixed places (as
//! `blkid`/libblkid probes them): ext2/3/4 (`s_magic` 0xEF53 at byte 1080),
//! XFS (`XFSB` at 0), btrfs (`_BHRfS_M` at 64 KiB + 64), an LVM2 physical volume (`LABELONE` in one of the
//! first four sectors), and, to name what is not supported, NTFS, FAT,
//! exFAT, LUKS, swap, ISO 9660, APFS and HFS+.

use crate::evidence::image::ReadAt;

/// A recognised signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Ext,
    Xfs,
    LvmPv,
    Ntfs,
    Fat,
    ExFat,
    Btrfs,
    Luks,
    Swap,
    Iso9660,
    Apfs,
    HfsPlus,
}

impl Signature {
    pub fn name(self) -> &'static str {
        match self {
            Signature::Ext => "ext2/3/4",
            Signature::Xfs => "XFS",
            Signature::LvmPv => "LVM2 physical volume",
            Signature::Ntfs => "NTFS",
            Signature::Fat => "FAT",
            Signature::ExFat => "exFAT",
            Signature::Btrfs => "Btrfs",
            Signature::Luks => "LUKS (encrypted)",
            Signature::Swap => "Linux swap",
            Signature::Iso9660 => "ISO 9660",
            Signature::Apfs => "APFS",
            Signature::HfsPlus => "HFS+",
        }
    }

    /// True for content that lives at the start of a volume (so a medium
    /// starting with it has no partition table).
    pub fn is_volume_content(self) -> bool {
        true
    }
}

fn at(dev: &dyn ReadAt, off: u64, len: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; len];
    dev.read_exact_at(&mut b, off).ok()?;
    Some(b)
}

fn has(dev: &dyn ReadAt, off: u64, magic: &[u8]) -> bool {
    at(dev, off, magic.len()).is_some_and(|b| b == magic)
}

/// The sector (0–3) holding an LVM2 label, if any.
pub fn lvm_label_sector(dev: &dyn ReadAt) -> Option<u64> {
    (0..4u64).find(|s| {
        at(dev, s * 512, 32).is_some_and(|b| &b[..8] == b"LABELONE" && &b[24..32] == b"LVM2 001")
    })
}

/// Identifies what starts at offset 0 of `dev`.
pub fn identify(dev: &dyn ReadAt) -> Option<Signature> {
    if has(dev, 0, b"XFSB") {
        return Some(Signature::Xfs);
    }
    if has(dev, 1080, &[0x53, 0xef]) {
        return Some(Signature::Ext);
    }
    if lvm_label_sector(dev).is_some() {
        return Some(Signature::LvmPv);
    }
    let checks: [(u64, &[u8], Signature); 12] = [
        (3, b"NTFS    ", Signature::Ntfs),
        (3, b"EXFAT   ", Signature::ExFat),
        (82, b"FAT32   ", Signature::Fat),
        (54, b"FAT16   ", Signature::Fat),
        (54, b"FAT12   ", Signature::Fat),
        (0, b"LUKS\xba\xbe", Signature::Luks),
        (0x10040, b"_BHRfS_M", Signature::Btrfs),
        (4086, b"SWAPSPACE2", Signature::Swap),
        (4086, b"SWAP-SPACE", Signature::Swap),
        (0x8001, b"CD001", Signature::Iso9660),
        (32, b"NXSB", Signature::Apfs),
        (1024, b"H+", Signature::HfsPlus),
    ];
    checks
        .iter()
        .find(|(off, magic, _)| has(dev, *off, magic))
        .map(|(_, _, s)| *s)
}
