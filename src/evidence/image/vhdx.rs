//! Hyper-V VHDX images (dynamic, fixed, differencing), read-only.
//!
//! Layout after Microsoft's "VHDX Format Specification" v1.00 ([MS-VHDX]),
//! all integers little-endian, GUIDs in their mixed-endian form:
//! - file type identifier `vhdxfile` at 0;
//! - two 4 KiB headers at 64 KiB and 128 KiB (`head`, CRC-32C, sequence
//!   number, log GUID, log offset/length): the valid one with the higher
//!   sequence number is current; a non-zero log GUID means the log holds
//!   writes not yet applied;
//! - two 64 KiB region tables at 192 KiB and 256 KiB (`regi`, CRC-32C):
//!   the BAT and metadata regions;
//! - metadata: file parameters (block size, has-parent), virtual disk
//!   size, logical sector size, parent locator (UTF-16 key/value pairs);
//! - the BAT: u64 entries (state in bits 0–2, file offset in MiB above bit
//!   20), payload blocks interleaved with one sector-bitmap entry per
//!   "chunk" of `2^23 * logical sector size / block size` blocks.
//!
//! A dirty log is not replayed: such an image is refused with a message
//! saying so (what the examiner reads must be what the file holds).

use super::ReadAt;
use super::sparse::{Blocks, DiskError, ImageFile, read_backing, utf16};
use crate::evidence::bytes::{u16_le, u32_le, u64_le};
use std::sync::Arc;

/// The file type identifier.
pub const SIGNATURE: &[u8; 8] = b"vhdxfile";
const FORMAT: &str = "vhdx";
const BAT: &str = "2DC27766-F623-4200-9D64-115E9BFD4A08";
const METADATA: &str = "8B7CA206-4790-4B9A-B8FE-575F050F886E";
const FILE_PARAMETERS: &str = "CAA16737-FA36-4D43-B3B6-33F0AA44E76B";
const DISK_SIZE: &str = "2FA54224-CD1B-4876-B211-5DBED83BF4B8";
const LOGICAL_SECTOR: &str = "8141BF1D-A96F-4709-BA47-F233A8FAAB5F";
const PARENT_LOCATOR: &str = "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C";

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> DiskError {
    DiskError::corrupt(FORMAT, what, offset, detail)
}

fn short(what: &'static str, at: u64) -> impl Fn(crate::evidence::bytes::ShortInput) -> DiskError {
    move |e| corrupt(what, at, e.to_string())
}

/// A GUID's canonical text from its on-disk bytes.
fn guid(b: &[u8]) -> String {
    if b.len() < 16 {
        return String::new();
    }
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        hex::encode_upper(&b[8..10]),
        hex::encode_upper(&b[10..16])
    )
}

fn crc_ok(block: &[u8]) -> bool {
    let stored = u32_le(block, 4).unwrap_or(0);
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    d.update(block.get(..4).unwrap_or_default());
    d.update(&[0u8; 4]);
    d.update(block.get(8..).unwrap_or_default());
    cfg!(fuzzing) || d.finalize() as u32 == stored
}

/// A VHDX image.
pub struct Vhdx {
    file: ImageFile,
    size: u64,
    block: u64,
    sector: u64,
    chunk_ratio: u64,
    has_parent: bool,
    bat: Vec<u64>,
    bat_at: u64,
    parent_names: Vec<String>,
    parent: Option<Arc<dyn ReadAt>>,
}

impl Vhdx {
    pub(crate) fn open(file: ImageFile) -> Result<Self, DiskError> {
        let id = file.read_vec(0, 8, "file type identifier")?;
        if id != SIGNATURE {
            return Err(corrupt("file type identifier", 0, "no vhdxfile signature"));
        }
        // The current header: valid, highest sequence number.
        let mut current: Option<(u64, Vec<u8>, u64)> = None;
        for at in [64u64 << 10, 128 << 10] {
            let h = file.read_vec(at, 4096, "header")?;
            if !h.starts_with(b"head") || !crc_ok(&h) {
                continue;
            }
            let seq = u64_le(&h, 8).map_err(short("header", at))?;
            if current.as_ref().is_none_or(|(s, _, _)| seq > *s) {
                current = Some((seq, h, at));
            }
        }
        let (_, header, header_at) = current.ok_or_else(|| {
            corrupt(
                "header",
                64 << 10,
                "neither header is valid (signature or CRC-32C)",
            )
        })?;
        let log_guid = header.get(48..64).unwrap_or_default();
        if log_guid.iter().any(|b| *b != 0) {
            return Err(DiskError::unsupported(
                FORMAT,
                format!(
                    "the log (GUID {}, header at {header_at}) holds writes not yet applied; \
                     this reader does not replay it (replay it on a copy, e.g. by opening the copy read-write in Hyper-V or qemu)",
                    guid(log_guid)
                ),
            ));
        }
        let version = u16_le(&header, 66).map_err(short("header", header_at))?;
        if version != 1 {
            return Err(DiskError::unsupported(FORMAT, format!("version {version}")));
        }
        // Region table.
        let mut regions = None;
        for at in [192u64 << 10, 256 << 10] {
            let r = file.read_vec(at, 64 << 10, "region table")?;
            if r.starts_with(b"regi") && crc_ok(&r) {
                regions = Some((r, at));
                break;
            }
        }
        let (r, r_at) = regions.ok_or_else(|| {
            corrupt(
                "region table",
                192 << 10,
                "neither copy is valid (signature or CRC-32C)",
            )
        })?;
        let count = u32_le(&r, 8).map_err(short("region table", r_at))?;
        if count > 2047 {
            return Err(corrupt("region table", r_at, format!("{count} entries")));
        }
        let (mut bat, mut meta) = (None, None);
        for i in 0..count as usize {
            let e = 16 + i * 32;
            let g = guid(r.get(e..e + 16).unwrap_or_default());
            let off = u64_le(&r, e + 16).map_err(short("region table", r_at))?;
            let len = u64::from(u32_le(&r, e + 24).map_err(short("region table", r_at))?);
            let required = u32_le(&r, e + 28).map_err(short("region table", r_at))? & 1 != 0;
            match g.as_str() {
                BAT => bat = Some((off, len)),
                METADATA => meta = Some((off, len)),
                _ if required => {
                    return Err(DiskError::unsupported(
                        FORMAT,
                        format!("required region {g}"),
                    ));
                }
                _ => {}
            }
        }
        let (meta_at, meta_len) =
            meta.ok_or_else(|| corrupt("region table", r_at, "no metadata region"))?;
        let (bat_at, bat_len) =
            bat.ok_or_else(|| corrupt("region table", r_at, "no BAT region"))?;
        let m = file.read_vec(meta_at, meta_len.min(1 << 20), "metadata region")?;
        if !m.starts_with(b"metadata") {
            return Err(corrupt("metadata table", meta_at, "no metadata signature"));
        }
        let entries = u16_le(&m, 10).map_err(short("metadata table", meta_at))?;
        if entries > 2047 {
            return Err(corrupt(
                "metadata table",
                meta_at,
                format!("{entries} entries"),
            ));
        }
        let mut items = std::collections::HashMap::new();
        for i in 0..usize::from(entries) {
            let e = 32 + i * 32;
            let g = guid(m.get(e..e + 16).unwrap_or_default());
            let off = u32_le(&m, e + 16).map_err(short("metadata table", meta_at))? as usize;
            let len = u32_le(&m, e + 20).map_err(short("metadata table", meta_at))? as usize;
            let flags = u32_le(&m, e + 24).map_err(short("metadata table", meta_at))?;
            let data = off
                .checked_add(len)
                .and_then(|end| m.get(off..end))
                .ok_or_else(|| {
                    corrupt(
                        "metadata item",
                        meta_at + e as u64,
                        "lies outside the metadata region",
                    )
                })?;
            let known = [FILE_PARAMETERS, DISK_SIZE, LOGICAL_SECTOR, PARENT_LOCATOR];
            if flags & 4 != 0 && !known.contains(&g.as_str()) && flags & 1 == 0 {
                // Required system items we do not read: page 83 data and
                // the physical sector size are informational.
                let informational = [
                    "BECA12AB-B2E6-4523-93EF-C309E000C746",
                    "CDA348C7-445D-4471-9CC9-E9885251C556",
                ];
                if !informational.contains(&g.as_str()) {
                    return Err(DiskError::unsupported(
                        FORMAT,
                        format!("required metadata item {g}"),
                    ));
                }
            }
            items.insert(g, (data, meta_at + off as u64));
        }
        let item = |g: &str, what: &'static str| {
            items
                .get(g)
                .copied()
                .ok_or_else(|| corrupt("metadata table", meta_at, format!("no {what} item")))
        };
        let (fp, fp_at) = item(FILE_PARAMETERS, "file parameters")?;
        let block = u64::from(u32_le(fp, 0).map_err(short("file parameters", fp_at))?);
        let has_parent = u32_le(fp, 4).map_err(short("file parameters", fp_at))? & 2 != 0;
        let (ds, ds_at) = item(DISK_SIZE, "virtual disk size")?;
        let size = u64_le(ds, 0).map_err(short("virtual disk size", ds_at))?;
        let (ls, ls_at) = item(LOGICAL_SECTOR, "logical sector size")?;
        let sector = u64::from(u32_le(ls, 0).map_err(short("logical sector size", ls_at))?);
        if !block.is_power_of_two() || !(1 << 20..=256 << 20).contains(&block) {
            return Err(corrupt(
                "file parameters",
                fp_at,
                format!("block size {block}"),
            ));
        }
        if sector != 512 && sector != 4096 {
            return Err(corrupt("logical sector size", ls_at, format!("{sector}")));
        }
        if size > 64 << 40 {
            return Err(corrupt(
                "virtual disk size",
                ds_at,
                format!("{size} bytes (more than 64 TiB)"),
            ));
        }
        let chunk_ratio = ((1u64 << 23) * sector) / block;
        let payload = size.div_ceil(block);
        let total = if has_parent {
            payload.div_ceil(chunk_ratio) * (chunk_ratio + 1)
        } else {
            payload + payload.saturating_sub(1) / chunk_ratio
        };
        if total * 8 > bat_len {
            return Err(corrupt(
                "BAT region",
                bat_at,
                format!("{bat_len} bytes cannot hold {total} entries"),
            ));
        }
        let bat = file
            .read_vec(bat_at, total * 8, "BAT")?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let mut parent_names = Vec::new();
        if has_parent {
            let (pl, pl_at) = item(PARENT_LOCATOR, "parent locator")?;
            let n = u16_le(pl, 18).map_err(short("parent locator", pl_at))?;
            let mut relative = None;
            let mut absolute = None;
            for i in 0..usize::from(n) {
                let e = 20 + i * 12;
                let f = short("parent locator", pl_at);
                let ko = u32_le(pl, e).map_err(&f)? as usize;
                let vo = u32_le(pl, e + 4).map_err(&f)? as usize;
                let kl = usize::from(u16_le(pl, e + 8).map_err(&f)?);
                let vl = usize::from(u16_le(pl, e + 10).map_err(&f)?);
                let s = |o: usize, l: usize| {
                    o.checked_add(l)
                        .and_then(|end| pl.get(o..end))
                        .map(|b| utf16(b, false))
                        .ok_or_else(|| corrupt("parent locator", pl_at, "entry outside the item"))
                };
                let key = s(ko, kl)?;
                let value = s(vo, vl)?;
                match key.as_str() {
                    "relative_path" => relative = Some(value),
                    "absolute_win32_path" => absolute = Some(value),
                    _ => {}
                }
            }
            parent_names.extend(relative);
            parent_names.extend(absolute);
            if parent_names.is_empty() {
                return Err(corrupt("parent locator", pl_at, "names no parent"));
            }
        }
        Ok(Vhdx {
            file,
            size,
            block,
            sector,
            chunk_ratio,
            has_parent,
            bat,
            bat_at,
            parent_names,
            parent: None,
        })
    }

    pub fn parent_names(&self) -> &[String] {
        &self.parent_names
    }

    pub(crate) fn set_parent(&mut self, parent: Arc<dyn ReadAt>) {
        self.parent = Some(parent);
    }

    pub fn info(&self) -> Vec<String> {
        let mut out = vec![format!(
            "vhdx{}: virtual size {} bytes, block size {}, logical sector {}",
            if self.has_parent { " differencing" } else { "" },
            self.size,
            self.block,
            self.sector
        )];
        for n in &self.parent_names {
            out.push(format!("parent recorded: {}", crate::escape::visible(n)));
        }
        out
    }

    fn entry(&self, index: u64) -> (u64, u64) {
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        (
            self.bat.get(i).copied().unwrap_or(0),
            self.bat_at + index * 8,
        )
    }

    /// The file offset of a BAT entry's block, checked to hold `need` bytes.
    fn located(&self, entry: u64, entry_at: u64, index: u64, need: u64) -> Result<u64, DiskError> {
        let off = (entry >> 20) << 20;
        if off < 1 << 20 || off.checked_add(need).is_none_or(|e| e > self.file.size) {
            return Err(corrupt(
                format!("BAT entry {index}"),
                entry_at,
                format!(
                    "block at {off} lies outside the file ({} bytes)",
                    self.file.size
                ),
            ));
        }
        Ok(off)
    }
}

impl Blocks for Vhdx {
    fn block_size(&self) -> u64 {
        self.block
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.file.name()
    }

    fn data_bytes(&self, index: u64) -> Result<u64, DiskError> {
        // PAYLOAD_BLOCK_FULLY_PRESENT (6) and PARTIALLY_PRESENT (7).
        let (entry, _) = self.entry(index + index / self.chunk_ratio);
        Ok(if entry & 7 >= 6 { self.block } else { 0 })
    }

    fn read_block(&self, index: u64, within: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let bat_index = index + index / self.chunk_ratio;
        let (entry, entry_at) = self.entry(bat_index);
        let guest = index * self.block + within;
        match entry & 7 {
            0..=3 if !self.has_parent || entry & 7 != 0 => {
                buf.fill(0);
                Ok(())
            }
            0 => read_backing(self.parent.as_ref(), buf, guest),
            6 => {
                let off = self.located(entry, entry_at, bat_index, within + buf.len() as u64)?;
                self.file.read_exact(buf, off + within, "payload block")
            }
            7 if self.has_parent => {
                let off = self.located(entry, entry_at, bat_index, within + buf.len() as u64)?;
                let chunk = index / self.chunk_ratio;
                let sb_index = chunk * (self.chunk_ratio + 1) + self.chunk_ratio;
                let (sb, sb_at) = self.entry(sb_index);
                if sb & 7 != 6 {
                    return Err(corrupt(
                        format!("BAT entry {bat_index}"),
                        entry_at,
                        "partially present block without a sector bitmap",
                    ));
                }
                let sb_off = self.located(sb, sb_at, sb_index, 1 << 20)?;
                // The bitmap covers the chunk; one bit per logical sector.
                let first_sector = (index % self.chunk_ratio) * (self.block / self.sector);
                let mut done = 0usize;
                while done < buf.len() {
                    let pos = within + done as u64;
                    let take = ((self.sector - pos % self.sector) as usize).min(buf.len() - done);
                    let s = first_sector + pos / self.sector;
                    let mut byte = [0u8; 1];
                    self.file
                        .read_exact(&mut byte, sb_off + s / 8, "sector bitmap")?;
                    let part = &mut buf[done..done + take];
                    if byte[0] & (1 << (s % 8)) != 0 {
                        self.file.read_exact(part, off + pos, "payload block")?;
                    } else {
                        read_backing(self.parent.as_ref(), part, index * self.block + pos)?;
                    }
                    done += take;
                }
                Ok(())
            }
            state => Err(corrupt(
                format!("BAT entry {bat_index}"),
                entry_at,
                format!("invalid payload block state {state}"),
            )),
        }
    }
}
