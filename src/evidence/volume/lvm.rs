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

use super::{Region, VolumeError};
use crate::evidence::image::{Concat, ReadAt, slice::Piece};
use std::sync::Arc;

const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
const MAX_TEXT: u64 = 16 << 20;

/// A parsed configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    List(Vec<Value>),
    Section(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Section(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    fn items(&self) -> &[(String, Value)] {
        match self {
            Value::Section(items) => items,
            _ => &[],
        }
    }
}

/// One LV found on the PV: a region to probe, or why it cannot be read.
pub type LvOutcome = Result<Region, String>;

fn corrupt(what: &str, detail: impl Into<String>) -> VolumeError {
    VolumeError::Corrupt {
        what: what.to_string(),
        detail: detail.into(),
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the PV label and the current metadata text of `pv`.
pub fn read_metadata(pv: &dyn ReadAt, what: &str) -> Result<(String, String), VolumeError> {
    let io = |source| VolumeError::Io {
        what: what.to_string(),
        source,
    };
    let sector =
        super::probe::lvm_label_sector(pv).ok_or_else(|| corrupt(what, "no LVM2 label"))?;
    let mut label = [0u8; 512];
    pv.read_exact_at(&mut label, sector * 512).map_err(io)?;
    let hdr_off = u32_at(&label, 20) as usize;
    if !(32..=512 - 40).contains(&hdr_off) {
        return Err(corrupt(
            what,
            format!("LVM2 label: PV header offset {hdr_off} out of range"),
        ));
    }
    let uuid = String::from_utf8_lossy(&label[hdr_off..hdr_off + 32]).into_owned();
    // data areas, then metadata areas, each list zero-terminated
    let mut pos = hdr_off + 40;
    let mut lists: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        loop {
            if pos + 16 > 512 {
                return Err(corrupt(
                    what,
                    "LVM2 PV header: area list runs past the label sector",
                ));
            }
            let (off, size) = (u64_at(&label, pos), u64_at(&label, pos + 8));
            pos += 16;
            if off == 0 && size == 0 {
                break;
            }
            list.push((off, size));
        }
    }
    let (mda_off, _) = *lists[1]
        .first()
        .ok_or_else(|| corrupt(what, "LVM2 PV has no metadata area"))?;
    let mut mh = [0u8; 512];
    pv.read_exact_at(&mut mh, mda_off).map_err(io)?;
    if &mh[4..20] != MDA_MAGIC {
        return Err(corrupt(
            what,
            format!("LVM2 metadata area at offset {mda_off}: bad magic"),
        ));
    }
    let mda_size = u64_at(&mh, 32);
    let (rel, len) = (u64_at(&mh, 40), u64_at(&mh, 48));
    if len == 0 || len > MAX_TEXT || len > mda_size || rel >= mda_size || rel < 512 {
        return Err(corrupt(
            what,
            format!(
                "LVM2 metadata area at offset {mda_off}: metadata location {rel}+{len} out of range"
            ),
        ));
    }
    let text_at = mda_off.checked_add(rel).ok_or_else(|| {
        corrupt(
            what,
            format!("LVM2 metadata area at offset {mda_off}: metadata location {rel} out of range"),
        )
    })?;
    let mut text = vec![0u8; len as usize];
    let first = (mda_size - rel).min(len) as usize;
    pv.read_exact_at(&mut text[..first], text_at).map_err(io)?;
    if first < text.len() {
        // wrapped around the circular buffer, continuing after the header
        pv.read_exact_at(&mut text[first..], mda_off + 512)
            .map_err(io)?;
    }
    while text.last() == Some(&0) {
        text.pop();
    }
    Ok((uuid, String::from_utf8_lossy(&text).into_owned()))
}

/// The logical volumes of the PV `pv`, named after `parent` for messages.
pub fn logical_volumes(pv: &Arc<dyn ReadAt>, parent: &str) -> Result<Vec<LvOutcome>, VolumeError> {
    let (uuid, text) = read_metadata(pv.as_ref(), parent)?;
    let root = parse(&text).map_err(|e| corrupt(parent, format!("LVM2 metadata text: {e}")))?;
    let (vg_name, vg) = root
        .items()
        .iter()
        .find(|(_, v)| v.get("physical_volumes").is_some())
        .ok_or_else(|| corrupt(parent, "LVM2 metadata has no volume group"))?;
    let extent = vg
        .int("extent_size")
        .filter(|e| *e > 0)
        .and_then(sectors_to_bytes)
        .ok_or_else(|| corrupt(parent, format!("VG {vg_name}: no usable extent_size")))?;
    let pvs = vg
        .get("physical_volumes")
        .map(Value::items)
        .unwrap_or_default();
    let (pv_name, pv_sec) = pvs
        .iter()
        .find(|(_, p)| p.str("id").is_some_and(|id| id.replace('-', "") == uuid))
        .ok_or_else(|| {
            corrupt(
                parent,
                format!("VG {vg_name}: this PV ({uuid}) is not among its physical volumes"),
            )
        })?;
    let pe_start =
        sectors_to_bytes(pv_sec.int("pe_start").unwrap_or(0).max(0)).ok_or_else(|| {
            corrupt(
                parent,
                format!("VG {vg_name}: pe_start of {pv_name} is out of range"),
            )
        })?;
    let mut out = Vec::new();
    for (lv_name, lv) in vg
        .get("logical_volumes")
        .map(Value::items)
        .unwrap_or_default()
    {
        let label = format!("lvm {vg_name}/{lv_name}");
        out.push(
            map_lv(pv, lv, pv_name, pe_start, extent, &label).map_err(|e| format!("{label}: {e}")),
        );
    }
    Ok(out)
}

fn map_lv(
    pv: &Arc<dyn ReadAt>,
    lv: &Value,
    pv_name: &str,
    pe_start: u64,
    extent: u64,
    label: &str,
) -> Result<Region, String> {
    let mut segs: Vec<(u64, u64, u64)> = Vec::new();
    for (key, seg) in lv.items() {
        if !key.starts_with("segment") || !matches!(seg, Value::Section(_)) {
            continue;
        }
        let kind = seg.str("type").unwrap_or("?");
        if kind != "striped" || seg.int("stripe_count") != Some(1) {
            return Err(format!(
                "{key} is of type {kind:?} (only linear volumes are supported)"
            ));
        }
        let stripes = match seg.get("stripes") {
            Some(Value::List(l)) => l,
            _ => return Err(format!("{key} has no stripes")),
        };
        let (Some(Value::Str(on)), Some(Value::Int(first_pe))) = (stripes.first(), stripes.get(1))
        else {
            return Err(format!("{key}: malformed stripes"));
        };
        if on != pv_name {
            return Err(format!(
                "{key} lies on {on}, another physical volume not in this evidence"
            ));
        }
        let start = seg
            .int("start_extent")
            .filter(|v| *v >= 0)
            .ok_or(format!("{key}: no start_extent"))? as u64;
        let count = seg
            .int("extent_count")
            .filter(|v| *v > 0)
            .ok_or(format!("{key}: no extent_count"))? as u64;
        segs.push((start, count, *first_pe as u64));
    }
    segs.sort_unstable();
    let mut pieces = Vec::new();
    let mut next = 0u64;
    for (start, count, pe) in segs {
        if start != next {
            return Err(format!("segments leave a gap or overlap at extent {start}"));
        }
        next = start.checked_add(count).ok_or("extent numbers overflow")?;
        let dev_offset = pe
            .checked_mul(extent)
            .and_then(|o| o.checked_add(pe_start))
            .ok_or("extent offset overflows")?;
        let len = count
            .checked_mul(extent)
            .ok_or("segment length overflows")?;
        if dev_offset.checked_add(len).is_none_or(|e| e > pv.size()) {
            return Err(format!(
                "extents {pe}..{} lie past the end of the physical volume ({} bytes)",
                pe.saturating_add(count),
                pv.size()
            ));
        }
        pieces.push(Piece {
            dev: pv.clone(),
            dev_offset,
            len,
        });
    }
    if pieces.is_empty() {
        return Err("no segments".into());
    }
    Ok(Region {
        label: label.to_string(),
        partition: None,
        dev: Arc::new(Concat::new(pieces, label.to_string())),
    })
}

/// A count of 512-byte sectors (as LVM metadata gives sizes) in bytes,
/// `None` when negative or too large.
fn sectors_to_bytes(sectors: i64) -> Option<u64> {
    u64::try_from(sectors).ok()?.checked_mul(512)
}

/// Parses LVM's configuration text into a top-level [`Value::Section`].
pub fn parse(text: &str) -> Result<Value, String> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let items = parse_items(&tokens, &mut pos, 0)?;
    if pos != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[pos]));
    }
    Ok(Value::Section(items))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next().is_some_and(|c| c != '\n') {},
            '{' | '}' | '[' | ']' | '=' | ',' => {
                chars.next();
                out.push(Tok::Punct(c));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => s.extend(chars.next()),
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "{}[]=,\"#".contains(c) {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

fn parse_items(t: &[Tok], pos: &mut usize, depth: usize) -> Result<Vec<(String, Value)>, String> {
    if depth > 32 {
        return Err("sections nested too deeply".into());
    }
    let mut items = Vec::new();
    while let Some(tok) = t.get(*pos) {
        let Tok::Word(name) = tok else {
            if *tok == Tok::Punct('}') && depth > 0 {
                return Ok(items);
            }
            return Err(format!("unexpected {tok:?}"));
        };
        *pos += 1;
        match t.get(*pos) {
            Some(Tok::Punct('{')) => {
                *pos += 1;
                let inner = parse_items(t, pos, depth + 1)?;
                if t.get(*pos) != Some(&Tok::Punct('}')) {
                    return Err(format!("section {name} is not closed"));
                }
                *pos += 1;
                items.push((name.clone(), Value::Section(inner)));
            }
            Some(Tok::Punct('=')) => {
                *pos += 1;
                let v = parse_value(t, pos)?;
                items.push((name.clone(), v));
            }
            other => return Err(format!("after {name}: unexpected {other:?}")),
        }
    }
    if depth > 0 {
        return Err("unexpected end of text".into());
    }
    Ok(items)
}

fn parse_value(t: &[Tok], pos: &mut usize) -> Result<Value, String> {
    let tok = t.get(*pos).ok_or("missing value")?;
    *pos += 1;
    match tok {
        Tok::Str(s) => Ok(Value::Str(s.clone())),
        Tok::Word(w) => w
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| w.parse::<f64>().map(|_| Value::Str(w.clone())))
            .map_err(|_| format!("bad value {w:?}")),
        Tok::Punct('[') => {
            let mut list = Vec::new();
            loop {
                match t.get(*pos) {
                    Some(Tok::Punct(']')) => {
                        *pos += 1;
                        return Ok(Value::List(list));
                    }
                    Some(Tok::Punct(',')) => *pos += 1,
                    Some(_) => {
                        let v = parse_value(t, pos)?;
                        if matches!(v, Value::List(_)) {
                            return Err("nested list".into());
                        }
                        list.push(v);
                    }
                    None => return Err("unterminated list".into()),
                }
            }
        }
        Tok::Punct(c) => Err(format!("unexpected {c:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::image::MemImage;

    const UUID: &str = "abcdefghijklmnopqrstuvwxyz012345";

    /// A PV: label in sector 1, metadata area at 4096 (`mda_size` bytes,
    /// text at `rel` from its start), `text` as the current metadata.
    fn pv(text: &str, mda_size: u64, rel: u64) -> Arc<dyn ReadAt> {
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
        Arc::new(MemImage::new(d, "pv"))
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
        let lvs = logical_volumes(&pv(&vg("8", "128"), 65536, 512), "pv").unwrap();
        let lv = lvs.into_iter().next().unwrap().unwrap();
        assert_eq!(lv.dev.size(), 2 * 8 * 512);
    }

    /// `extent_size` and `pe_start` are sector counts from the evidence;
    /// multiplying a huge one by 512 overflowed.
    #[test]
    fn huge_extent_size_or_pe_start_is_an_error_not_an_overflow() {
        let big = i64::MAX.to_string();
        let e = logical_volumes(&pv(&vg(&big, "128"), 65536, 512), "pv")
            .err()
            .unwrap();
        assert!(e.to_string().contains("extent_size"), "{e}");
        let e = logical_volumes(&pv(&vg("8", &big), 65536, 512), "pv")
            .err()
            .unwrap();
        assert!(e.to_string().contains("pe_start"), "{e}");
    }

    /// A metadata location near 2^64 overflowed when added to the offset
    /// of its area.
    #[test]
    fn metadata_location_past_u64_is_an_error_not_an_overflow() {
        let e = read_metadata(pv(&vg("8", "128"), u64::MAX, u64::MAX - 8).as_ref(), "pv")
            .err()
            .unwrap();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn parses_vg_text() {
        let t = "vg0 {\n id = \"abc\"\n extent_size = 8192 # 4M\n status = [\"READ\", \"WRITE\"]\n \
                 logical_volumes {\n docker {\n segment1 {\n start_extent = 0\n stripes = [\"pv0\", 0]\n }\n }\n }\n}\n\
                 contents = \"Text Format Volume Group\"\nversion = 1\n";
        let v = parse(t).unwrap();
        let vg = v.get("vg0").unwrap();
        assert_eq!(vg.int("extent_size"), Some(8192));
        let seg = vg
            .get("logical_volumes")
            .unwrap()
            .get("docker")
            .unwrap()
            .get("segment1")
            .unwrap();
        assert_eq!(
            seg.get("stripes"),
            Some(&Value::List(vec![Value::Str("pv0".into()), Value::Int(0)]))
        );
        assert!(parse("a { b = 1").is_err());
        assert!(parse("a = [1, [2]]").is_err());
    }
}
