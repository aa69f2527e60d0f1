//! Volumes on a medium: partition tables (GPT, MBR with extended and
//! logical partitions), LVM2 logical volumes, or a bare filesystem.
//!
//! - GPT (UEFI Specification 2.10, §5.3 "GUID Partition Table Disk
//!   Layout") is read with the `gptman` crate, which verifies the header
//!   and entry-array CRC32s and falls back to the backup header; the entry
//!   count is bounded here first so a crafted header cannot make it
//!   allocate without limit.
//! - MBR (and the EBR chain of an extended partition) is read with the
//!   `mbrman` crate, which requires every EBR to lie after the previous
//!   one, so a looping chain is refused rather than followed forever.
//! - LVM2: see [`lvm`].
//!
//! Partitions are numbered as `fdisk`/`sfdisk`/`sgdisk` do: GPT entries
//! by their index in the entry array, MBR primaries 1–4 by slot and
//! logical partitions from 5 in chain order.

mod choice;
pub mod lvm;
mod names;
pub mod probe;

use crate::evidence::bytes::{u8_at, u32_le};
use crate::evidence::image::{ReadAt, Slice};
use crate::evidence::provenance::SpecLayer;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

pub use choice::PartitionChoice;

/// A region of the medium that may hold a filesystem.
pub struct Region {
    /// For messages and volume labels: "partition 1", "lvm vg0/root", "disk".
    pub label: String,
    /// The partition number (1-based) this region is, or lies inside.
    pub partition: Option<u32>,
    /// Its slot as `mmls` shows it (`000`, `000:001`).
    pub mmls_slot: Option<String>,
    /// Its first sector, in the table's sector size.
    pub start_sector: u64,
    /// One line naming it every way (`1 (mmls slot 000, sector 2048,
    /// Linux filesystem "rootfs")`), for the list of partitions.
    pub summary: String,
    pub dev: Arc<dyn ReadAt>,
    /// Where it is on the medium: its [`SpecLayer::Partition`] and
    /// [`SpecLayer::LogicalVolume`] layers, outermost first (empty for the
    /// whole medium).
    pub layers: Vec<SpecLayer>,
}

/// Errors reading partition tables and volume managers.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{what}: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// `Read + Seek` over a [`ReadAt`], for crates that want a stream.
pub struct Cursor<'a> {
    dev: &'a dyn ReadAt,
    pos: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(dev: &'a dyn ReadAt) -> Self {
        Cursor { dev, pos: 0 }
    }
}

impl Read for Cursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.dev.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.dev.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

/// How the medium is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Gpt,
    Mbr,
    /// No partition table: the medium starts with a filesystem or LVM PV.
    Bare,
}

const MAX_GPT_ENTRIES: u32 = 16384;

/// Finds the partitions of `dev` (or the whole of it when it has no table).
/// `only` keeps just that partition; when there is none such, the error
/// lists the partitions there are.
pub fn partitions(
    dev: &Arc<dyn ReadAt>,
    only: Option<&PartitionChoice>,
) -> Result<(Layout, Vec<Region>), VolumeError> {
    let what = "partition table".to_string();
    let io_err = |source| VolumeError::Io {
        what: what.clone(),
        source,
    };
    let mut s0 = [0u8; 512];
    dev.read_exact_at(&mut s0, 0).map_err(io_err)?;
    // A filesystem or PV at sector 0 means no table (a FAT/NTFS boot
    // sector also ends in 55 AA, so check the content first).
    if probe::identify(dev.as_ref()).is_some_and(|s| s.is_volume_content())
        || s0[510..512] != [0x55, 0xaa]
    {
        if only.is_some_and(|c| *c != PartitionChoice::Number(1)) {
            return Err(VolumeError::Corrupt {
                what,
                detail: "no partition table, so there is no partition to choose".into(),
            });
        }
        return Ok((
            Layout::Bare,
            vec![Region {
                label: "disk".into(),
                partition: None,
                mmls_slot: None,
                start_sector: 0,
                summary: "the whole disk".into(),
                dev: dev.clone(),
                layers: Vec::new(),
            }],
        ));
    }
    let protective = (0..4).any(|i| s0[446 + 16 * i + 4] == 0xee);
    let mut out = Vec::new();
    let layout = if protective {
        for ss in [512u64, 4096] {
            let mut hdr = [0u8; 92];
            if dev.read_exact_at(&mut hdr, ss).is_ok() && &hdr[..8] == b"EFI PART" {
                // number of partition entries (fixed 92-byte header)
                let n = u32_le(&hdr, 80).unwrap_or(u32::MAX);
                if n > MAX_GPT_ENTRIES {
                    return Err(VolumeError::Corrupt {
                        what,
                        detail: format!(
                            "GPT header claims {n} partition entries (at most {MAX_GPT_ENTRIES} accepted)"
                        ),
                    });
                }
            }
        }
        let gpt = gptman::GPT::find_from(&mut Cursor::new(dev.as_ref())).map_err(|e| {
            VolumeError::Corrupt {
                what: what.clone(),
                detail: format!("protective MBR but no valid GPT: {e}"),
            }
        })?;
        let ss = gpt.sector_size;
        for (n, e) in gpt.iter() {
            if !e.is_used() {
                continue;
            }
            let (start, end) = (e.starting_lba, e.ending_lba);
            let len = end
                .checked_sub(start)
                .and_then(|d| d.checked_add(1))
                .and_then(|d| d.checked_mul(ss));
            let at = Placement {
                scheme: "gpt",
                start_sector: start,
                number: n,
                mmls_slot: n.checked_sub(1).map(|i| format!("{i:03}")),
                offset: start.saturating_mul(ss),
                type_name: Some(names::gpt_type(&e.partition_type_guid)),
                name: Some(e.partition_name.as_str().to_string()).filter(|s| !s.is_empty()),
            };
            out.push(region(dev, at, len)?);
        }
        Layout::Gpt
    } else {
        check_mbr_entries(&s0).map_err(|detail| VolumeError::Corrupt {
            what: what.clone(),
            detail,
        })?;
        let mbr = mbrman::MBR::read_from(&mut Cursor::new(dev.as_ref()), 512).map_err(|e| {
            VolumeError::Corrupt {
                what: what.clone(),
                detail: format!("invalid MBR partition table: {e}"),
            }
        })?;
        for (n, e) in mbr.iter() {
            let n = n as u32;
            if !e.is_used() || e.is_extended() {
                continue;
            }
            let len = u64::from(e.sectors) * 512;
            // mmls numbers the primary table 000 and each EBR after it.
            let mmls_slot = match n.checked_sub(5) {
                None => format!("000:{:03}", n - 1),
                Some(k) => format!("{:03}:000", k + 1),
            };
            let at = Placement {
                scheme: "mbr",
                start_sector: u64::from(e.starting_lba),
                number: n,
                mmls_slot: Some(mmls_slot),
                offset: u64::from(e.starting_lba) * 512,
                type_name: Some(names::mbr_type(e.sys)),
                name: None,
            };
            out.push(region(dev, at, Some(len))?);
        }
        Layout::Mbr
    };
    if let Some(choice) = only {
        let all: Vec<String> = out.iter().map(|r| r.summary.clone()).collect();
        out.retain(|r| {
            r.partition
                .is_some_and(|n| choice.matches(n, r.mmls_slot.as_deref(), r.start_sector))
        });
        if out.is_empty() {
            let list = if all.is_empty() {
                "it has none".to_string()
            } else {
                format!("it has {}", all.join("; "))
            };
            return Err(VolumeError::Corrupt {
                what,
                detail: format!("there is no partition {choice}: {list}"),
            });
        }
    }
    Ok((layout, out))
}

/// Checks what `mbrman` assumes of the four primary entries of sector 0:
/// a used entry (non-zero type) never starts at LBA 0, where the MBR
/// itself is (`mbrman` 0.6 panics when every used entry starts there).
fn check_mbr_entries(s0: &[u8; 512]) -> Result<(), String> {
    for i in 0..4 {
        let e = 446 + 16 * i;
        let kind = u8_at(s0, e + 4).unwrap_or(0);
        let start = u32_le(s0, e + 8).unwrap_or(0);
        if kind != 0 && start == 0 {
            return Err(format!(
                "MBR entry {} (type {kind:#04x}) starts at sector 0, on the MBR itself",
                i + 1,
            ));
        }
    }
    Ok(())
}

/// Where a partition table places one partition.
struct Placement {
    scheme: &'static str,
    /// In the table's sector size, as `mmls` shows it.
    start_sector: u64,
    number: u32,
    mmls_slot: Option<String>,
    offset: u64,
    type_name: Option<String>,
    name: Option<String>,
}

fn region(dev: &Arc<dyn ReadAt>, at: Placement, len: Option<u64>) -> Result<Region, VolumeError> {
    let (n, start) = (at.number, at.offset);
    let label = format!("partition {n}");
    let len = len.ok_or_else(|| VolumeError::Corrupt {
        what: label.clone(),
        detail: "end before start".into(),
    })?;
    let slice =
        Slice::new(dev.clone(), start, len, label.clone()).map_err(|source| VolumeError::Io {
            what: label.clone(),
            source,
        })?;
    let kind = at.type_name.as_deref().unwrap_or("unknown type");
    let summary = format!(
        "{n} (mmls slot {}, sector {}, {kind}{})",
        at.mmls_slot.as_deref().unwrap_or("-"),
        at.start_sector,
        at.name
            .as_deref()
            .map(|s| format!(" {:?}", crate::escape::visible(s)))
            .unwrap_or_default()
    );
    Ok(Region {
        label,
        partition: Some(n),
        mmls_slot: at.mmls_slot.clone(),
        start_sector: at.start_sector,
        summary,
        dev: Arc::new(slice),
        layers: vec![SpecLayer::Partition {
            scheme: at.scheme.to_string(),
            number: n,
            mmls_slot: at.mmls_slot,
            offset: start,
            size: len,
            type_name: at.type_name,
            name: at.name,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::image::MemImage;

    fn mbr(entries: &[(u8, u32, u32)]) -> Arc<dyn ReadAt> {
        let mut d = vec![0u8; 64 << 10];
        for (i, (kind, start, sectors)) in entries.iter().enumerate() {
            let e = 446 + 16 * i;
            d[e + 4] = *kind;
            d[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
            d[e + 12..e + 16].copy_from_slice(&sectors.to_le_bytes());
        }
        d[510] = 0x55;
        d[511] = 0xaa;
        Arc::new(MemImage::new(d, "disk"))
    }

    #[test]
    fn mbr_partitions_are_listed() {
        let (layout, regions) = partitions(&mbr(&[(0x83, 1, 16), (0x83, 32, 8)]), None).unwrap();
        assert_eq!(layout, Layout::Mbr);
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[1].dev.size(), 8 * 512);
    }

    /// Fuzzer find (`volumes` target): `mbrman` panicked (unwrap in
    /// `find_alignment`) when every used entry started at sector 0.
    #[test]
    fn mbr_partition_at_sector_zero_is_an_error_not_a_panic() {
        for entries in [&[(0x83, 0, 16)][..], &[(0x83, 0, 16), (0x05, 0, 100)]] {
            let e = partitions(&mbr(entries), None).err().unwrap();
            assert!(e.to_string().contains("starts at sector 0"), "{e}");
        }
    }
}
