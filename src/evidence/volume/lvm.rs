//! LVM2 physical volumes: linear logical volumes, read from the text
//! metadata, without device-mapper.
//!
//! On-disk layout, after LVM2's `lib/label/label.h`,
//! `lib/format_text/layout.h` and `man 7 lvm` / `lvmcache`'s
//! documentation of the metadata format:
//! - one of sectors 0–3 holds the label header: `LABELONE`, its sector
//!   (u64), CRC (u32), offset of the PV header (u32), type `LVM2 001`;
//! - the PV header: the PV UUID (32 ASCII characters), the device size
//!   (u64), then a zero-terminated list of data areas and one of metadata
//!   areas, each (offset u64, size u64) in bytes from the PV start;
//! - a metadata area starts with a header: checksum (u32), magic
//!   `" LVM2 x[5A%r0N*>"`, version (u32), start (u64), size (u64), then
//!   raw locations (offset u64 from the area start, size u64, checksum
//!   u32, flags u32); the first one is the current metadata text, which
//!   may wrap around the end of the circular area to just after the header;
//! - the text is LVM's configuration syntax: `name { key = value … }`, with
//!   strings, integers and `[ … ]` lists. The VG section gives
//!   `extent_size` (sectors), `physical_volumes { pvN { id, pe_start } }`
//!   and `logical_volumes { lv { segmentN { start_extent, extent_count,
//!   type = "striped", stripe_count = 1, stripes = ["pvN", first_pe] } } }`.
//!
//! No crate reads this, hence our own. Only linear (one-stripe) segments on
//! this PV are mapped; anything else is reported by name, never guessed.

mod error;
mod text;

pub use error::{CorruptKind, LvFailure, LvmError, SegmentFault, UnsupportedKind};
pub use text::{TextError, Value, parse};

use super::Region;
use crate::evidence::bytes::{Reader, bytes_at, u32_le};
use crate::evidence::image::{Concat, ReadAt, slice::Piece};
use crate::evidence::provenance::SpecLayer;
use std::sync::Arc;

const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
const MAX_TEXT: u64 = 16 << 20;
const SECTOR: usize = 512;

/// One LV found on the PV: a region to probe, or why it cannot be read.
pub type LvOutcome = Result<Region, LvFailure>;

fn read_at(
    pv: &dyn ReadAt,
    buf: &mut [u8],
    offset: u64,
    what: &'static str,
) -> Result<(), LvmError> {
    pv.read_exact_at(buf, offset)
        .map_err(|source| LvmError::Io {
            what,
            offset,
            source,
        })
}

/// Reads the PV label and the current metadata text of `pv`: (PV UUID
/// without dashes, text).
pub fn read_metadata(pv: &dyn ReadAt) -> Result<(String, String), LvmError> {
    let sector = super::probe::lvm_label_sector(pv).ok_or(CorruptKind::NoLabel)?;
    let mut label = [0u8; SECTOR];
    read_at(pv, &mut label, sector * 512, "the LVM2 label")?;
    let hdr_off = u32_le(&label, 20).unwrap_or(0);
    let pv_header = usize::try_from(hdr_off)
        .ok()
        .filter(|o| (32..=SECTOR - 40).contains(o))
        .ok_or(CorruptKind::PvHeaderOffset {
            sector,
            offset: hdr_off,
        })?;
    let bad_header = CorruptKind::PvHeaderOffset {
        sector,
        offset: hdr_off,
    };
    let uuid = String::from_utf8_lossy(bytes_at(&label, pv_header, 32).map_err(|_| bad_header)?)
        .into_owned();
    // data areas, then metadata areas, each list zero-terminated
    let mut r = Reader::at(&label, pv_header + 40);
    let mut lists: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        loop {
            let area = CorruptKind::AreaList { sector };
            let (off, size) = (
                r.u64_le().map_err(|_| area.clone())?,
                r.u64_le().map_err(|_| area)?,
            );
            if off == 0 && size == 0 {
                break;
            }
            list.push((off, size));
        }
    }
    let (mda_off, _) = *lists[1].first().ok_or(CorruptKind::NoMetadataArea)?;
    let mut mh = [0u8; SECTOR];
    read_at(pv, &mut mh, mda_off, "an LVM2 metadata area header")?;
    let magic = CorruptKind::MetadataMagic { offset: mda_off };
    if bytes_at(&mh, 4, 16).ok() != Some(&MDA_MAGIC[..]) {
        return Err(magic.into());
    }
    let mut r = Reader::at(&mh, 32);
    let mut next = || r.u64_le().map_err(|_| magic.clone());
    let (mda_size, rel, len) = (next()?, next()?, next()?);
    let location = CorruptKind::MetadataLocation {
        offset: mda_off,
        rel,
        len,
    };
    if len == 0 || len > MAX_TEXT || len > mda_size || rel >= mda_size || rel < 512 {
        return Err(location.into());
    }
    let text_at = mda_off.checked_add(rel).ok_or(location)?;
    let mut text = vec![0u8; len as usize];
    let first = (mda_size - rel).min(len) as usize;
    let (head, tail) = text.split_at_mut(first);
    read_at(pv, head, text_at, "LVM2 metadata text")?;
    if !tail.is_empty() {
        // wrapped around the circular buffer, continuing after the header
        let wrapped = mda_off.saturating_add(512);
        read_at(pv, tail, wrapped, "LVM2 metadata text")?;
    }
    while text.last() == Some(&0) {
        text.pop();
    }
    Ok((uuid, String::from_utf8_lossy(&text).into_owned()))
}

/// The logical volumes of the PV region `pv`; each becomes a region whose
/// layers are `pv`'s plus its [`SpecLayer::LogicalVolume`].
pub fn logical_volumes(pv: &Region) -> Result<Vec<LvOutcome>, LvmError> {
    let (uuid, text) = read_metadata(pv.dev.as_ref())?;
    let root = parse(&text).map_err(CorruptKind::Text)?;
    let (vg_name, vg) = root
        .items()
        .iter()
        .find(|(_, v)| v.get("physical_volumes").is_some())
        .ok_or(CorruptKind::NoVolumeGroup)?;
    let extent = vg
        .int("extent_size")
        .filter(|e| *e > 0)
        .and_then(sectors_to_bytes)
        .ok_or_else(|| CorruptKind::ExtentSize {
            vg: vg_name.clone(),
        })?;
    let pvs = vg
        .get("physical_volumes")
        .map(Value::items)
        .unwrap_or_default();
    let (pv_name, pv_sec) = pvs
        .iter()
        .find(|(_, p)| p.str("id").is_some_and(|id| id.replace('-', "") == uuid))
        .ok_or_else(|| CorruptKind::PvNotInGroup {
            vg: vg_name.clone(),
            uuid: uuid.clone(),
        })?;
    let pe_start =
        sectors_to_bytes(pv_sec.int("pe_start").unwrap_or(0).max(0)).ok_or_else(|| {
            CorruptKind::PeStart {
                vg: vg_name.clone(),
                pv: pv_name.clone(),
            }
        })?;
    let on = PvMap {
        pv: &pv.dev,
        name: pv_name,
        pe_start,
        extent,
    };
    let mut out = Vec::new();
    for (lv_name, lv) in vg
        .get("logical_volumes")
        .map(Value::items)
        .unwrap_or_default()
    {
        let label = format!("lvm {vg_name}/{lv_name}");
        let mut layers = pv.layers.clone();
        layers.push(SpecLayer::LogicalVolume {
            vg: vg_name.clone(),
            lv: lv_name.clone(),
        });
        out.push(match on.map_lv(lv, &label) {
            Ok(dev) => Ok(Region {
                summary: format!("{} in {}", label, pv.summary),
                label,
                partition: pv.partition,
                mmls_slot: pv.mmls_slot.clone(),
                start_sector: pv.start_sector,
                dev,
                layers,
            }),
            Err(source) => Err(LvFailure { label, source }),
        });
    }
    Ok(out)
}

/// Where the extents of this PV are.
struct PvMap<'a> {
    pv: &'a Arc<dyn ReadAt>,
    /// The PV's name in the VG metadata ("pv0").
    name: &'a str,
    pe_start: u64,
    extent: u64,
}

impl PvMap<'_> {
    fn map_lv(&self, lv: &Value, label: &str) -> Result<Arc<dyn ReadAt>, LvmError> {
        let mut segs: Vec<(u64, u64, u64)> = Vec::new();
        for (key, seg) in lv.items() {
            if !key.starts_with("segment") || !matches!(seg, Value::Section(_)) {
                continue;
            }
            let fault = |what| CorruptKind::Segment {
                segment: key.clone(),
                what,
            };
            let kind = seg.str("type").unwrap_or("?");
            if kind != "striped" || seg.int("stripe_count") != Some(1) {
                return Err(UnsupportedKind::SegmentType {
                    segment: key.clone(),
                    kind: kind.to_string(),
                }
                .into());
            }
            let stripes = match seg.get("stripes") {
                Some(Value::List(l)) => l,
                _ => return Err(fault(SegmentFault::NoStripes).into()),
            };
            let (Some(Value::Str(on)), Some(Value::Int(first_pe))) =
                (stripes.first(), stripes.get(1))
            else {
                return Err(fault(SegmentFault::MalformedStripes).into());
            };
            if on != self.name {
                return Err(UnsupportedKind::OtherPv {
                    segment: key.clone(),
                    pv: on.clone(),
                }
                .into());
            }
            let first_pe =
                u64::try_from(*first_pe).map_err(|_| fault(SegmentFault::MalformedStripes))?;
            let start = seg
                .int("start_extent")
                .and_then(|v| u64::try_from(v).ok())
                .ok_or(fault(SegmentFault::NoStartExtent))?;
            let count = seg
                .int("extent_count")
                .and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v > 0)
                .ok_or(fault(SegmentFault::NoExtentCount))?;
            segs.push((start, count, first_pe));
        }
        segs.sort_unstable();
        let mut pieces = Vec::new();
        let mut next = 0u64;
        for (start, count, pe) in segs {
            if start != next {
                return Err(CorruptKind::SegmentGap { extent: start }.into());
            }
            next = start.checked_add(count).ok_or(CorruptKind::Overflow)?;
            let dev_offset = pe
                .checked_mul(self.extent)
                .and_then(|o| o.checked_add(self.pe_start))
                .ok_or(CorruptKind::Overflow)?;
            let len = count
                .checked_mul(self.extent)
                .ok_or(CorruptKind::Overflow)?;
            let pv_size = self.pv.size();
            if dev_offset.checked_add(len).is_none_or(|e| e > pv_size) {
                return Err(CorruptKind::PastEnd {
                    first: pe,
                    end: pe.saturating_add(count),
                    pv_size,
                }
                .into());
            }
            pieces.push(Piece {
                dev: self.pv.clone(),
                dev_offset,
                len,
            });
        }
        if pieces.is_empty() {
            return Err(CorruptKind::NoSegments.into());
        }
        Ok(Arc::new(Concat::new(pieces, label.to_string())))
    }
}

/// A count of 512-byte sectors (as LVM metadata gives sizes) in bytes,
/// `None` when negative or too large.
fn sectors_to_bytes(sectors: i64) -> Option<u64> {
    u64::try_from(sectors).ok()?.checked_mul(512)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::image::MemImage;

    const UUID: &str = "abcdefghijklmnopqrstuvwxyz012345";

    /// A PV: label in sector 1, metadata area at 4096 (`mda_size` bytes,
    /// text at `rel` from its start), `text` as the current metadata.
    fn pv(text: &str, mda_size: u64, rel: u64) -> Region {
        let mut d = vec![0u8; 1 << 20];
        let l = 512;
        d[l..l + 8].copy_from_slice(b"LABELONE");
        d[l + 8..l + 16].copy_from_slice(&1u64.to_le_bytes());
        d[l + 20..l + 24].copy_from_slice(&32u32.to_le_bytes());
        d[l + 24..l + 32].copy_from_slice(b"LVM2 001");
        d[l + 32..l + 64].copy_from_slice(UUID.as_bytes());
        // data areas: one, then the terminator; metadata areas: one at 4096
        d[l + 72..l + 80].copy_from_slice(&(64u64 << 10).to_le_bytes());
        d[l + 104..l + 112].copy_from_slice(&4096u64.to_le_bytes());
        d[l + 112..l + 120].copy_from_slice(&mda_size.to_le_bytes());
        let m = 4096;
        d[m + 4..m + 20].copy_from_slice(MDA_MAGIC);
        d[m + 32..m + 40].copy_from_slice(&mda_size.to_le_bytes());
        d[m + 40..m + 48].copy_from_slice(&rel.to_le_bytes());
        d[m + 48..m + 56].copy_from_slice(&(text.len() as u64).to_le_bytes());
        if let Some(t) = d.get_mut(m + 512..m + 512 + text.len()) {
            t.copy_from_slice(text.as_bytes());
        }
        Region {
            label: "pv".into(),
            partition: None,
            mmls_slot: None,
            start_sector: 0,
            summary: "pv".into(),
            dev: Arc::new(MemImage::new(d, "pv")),
            layers: Vec::new(),
        }
    }

    fn vg(extent_size: &str, pe_start: &str) -> String {
        format!(
            "vg0 {{ extent_size = {extent_size} physical_volumes {{ pv0 {{ id = \"{UUID}\" \
             pe_start = {pe_start} }} }} logical_volumes {{ lv {{ segment1 {{ start_extent = 0 \
             extent_count = 2 type = \"striped\" stripe_count = 1 stripes = [\"pv0\", 1] }} }} }} }}"
        )
    }

    #[test]
    fn linear_lv_is_mapped() {
        let lvs = logical_volumes(&pv(&vg("8", "128"), 65536, 512)).unwrap();
        let lv = lvs.into_iter().next().unwrap().unwrap();
        assert_eq!(lv.dev.size(), 2 * 8 * 512);
        assert_eq!(lv.label, "lvm vg0/lv");
        assert_eq!(
            lv.layers,
            [SpecLayer::LogicalVolume {
                vg: "vg0".into(),
                lv: "lv".into()
            }]
        );
    }

    /// `extent_size` and `pe_start` are sector counts from the evidence;
    /// multiplying a huge one by 512 overflowed.
    #[test]
    fn huge_extent_size_or_pe_start_is_an_error_not_an_overflow() {
        let big = i64::MAX.to_string();
        let e = logical_volumes(&pv(&vg(&big, "128"), 65536, 512))
            .err()
            .unwrap();
        assert!(
            matches!(e.corrupt_kind(), Some(CorruptKind::ExtentSize { vg }) if vg == "vg0"),
            "{e}"
        );
        assert!(e.to_string().contains("extent_size"), "{e}");
        let e = logical_volumes(&pv(&vg("8", &big), 65536, 512))
            .err()
            .unwrap();
        assert!(
            matches!(e.corrupt_kind(), Some(CorruptKind::PeStart { pv, .. }) if pv == "pv0"),
            "{e}"
        );
        assert!(e.to_string().contains("pe_start"), "{e}");
    }

    /// A metadata location near 2^64 overflowed when added to the offset
    /// of its area.
    #[test]
    fn metadata_location_past_u64_is_an_error_not_an_overflow() {
        let e = read_metadata(pv(&vg("8", "128"), u64::MAX, u64::MAX - 8).dev.as_ref())
            .err()
            .unwrap();
        assert!(
            matches!(
                e.corrupt_kind(),
                Some(CorruptKind::MetadataLocation { offset: 4096, .. })
            ),
            "{e}"
        );
        assert!(e.to_string().contains("out of range"), "{e}");
    }
}
