//! Expert Witness Compression Format 2 (EnCase 7 `.Ex01`, `.Ex02`, …),
//! read into the same [`Ewf`] as version 1: the chunk cache, read-ahead
//! and chunk checks are shared; only the segment walk and the table
//! entries differ.
//!
//! Layout, after Joachim Metz's "Expert Witness Compression Format 2
//! (EWF2)" specification (libewf documentation, `documentation/Expert
//! Witness Compression Format 2 (EWF2).asciidoc`), checked against files
//! written by libewf 20260924's `ewfacquire -f encase7-v2`:
//! - each segment starts with a 32-byte header: the signature
//!   `EVF2 0d 0a 81 00`, version 2.1, the compression method (u16: 0 none,
//!   1 zlib, 2 bzip2), the segment number (u32), the set identifier (GUID);
//! - sections follow, each its data then a 64-byte descriptor: type (u32),
//!   flags (u32; 2 = encrypted), offset of the previous descriptor (u64, 0
//!   for the first), data size (u64, padding included), descriptor size,
//!   padding size, an MD5 of the data, reserved bytes, the Adler-32 of the
//!   first 60 bytes. The chain is read back to front from the descriptor in
//!   the file's last 64 bytes, which must be `next` (0x0d) or `done` (0x0f);
//! - device information (0x01) and case data (0x02): compressed UTF-16LE
//!   text, "main" then a line of tags and a line of values (`ts` sectors,
//!   `bp` bytes per sector; `sb` sectors per chunk, `tb` chunks, case
//!   fields);
//! - sector table (0x04): first chunk (u64), entry count (u32), padding,
//!   Adler-32 of those 16 bytes, 12 bytes of padding, 16-byte entries
//!   (offset in the segment file u64, size u32, flags u32: 1 compressed,
//!   2 followed by an Adler-32, 4 with 1: pattern fill, the offset being
//!   the 64-bit pattern), then the Adler-32 of the entries;
//! - MD5 (0x08) and SHA-1 (0x09) hashes, each followed by its Adler-32.
//!
//! Encrypted sections and bzip2-compressed data are refused with an error
//! that says so (libewf 20260924's tools write neither).

use super::error::{ChunkFault, CorruptKind, EwfError, TruncatedKind};
use super::header::inflate_header;
use super::{
    Acquisition, ChunkLoc, Ewf, ImageError, MAX_CHUNK, MAX_HEADER, SIGNATURE_V2, Stored, Table,
    TableLayout, adler32, corrupt, ewf_error, le32, sum_ok,
};
use crate::evidence::bytes::{Reader, bytes_at, u32_le, u64_le};
use std::path::Path;

const HEADER_LEN: u64 = 32;
const DESCRIPTOR_LEN: u64 = 64;
/// Bound on the sections of one segment (each is at least 64 bytes).
const MAX_SECTIONS: usize = 1_000_000;
/// Bound on the entries of one sector table (64 GiB of 32 KiB chunks;
/// libewf writes one table per segment, EnCase smaller ones), so a table
/// held in the cache stays under 50 MiB whatever count is claimed.
const MAX_TABLE_ENTRIES: u32 = 1 << 21;

const DEVICE_INFORMATION: u32 = 0x01;
const CASE_DATA: u32 = 0x02;
const SECTOR_TABLE: u32 = 0x04;
const MD5_HASH: u32 = 0x08;
const SHA1_HASH: u32 = 0x09;
const NEXT: u32 = 0x0d;
const DONE: u32 = 0x0f;

/// A section descriptor, checked.
struct Descriptor {
    /// Where the descriptor is.
    offset: u64,
    kind: u32,
    flags: u32,
    previous: u64,
    /// Where the section's data starts (it ends at the descriptor).
    data_at: u64,
    data_size: u64,
}

/// The name of a section type, for messages.
fn section_name(kind: u32) -> &'static str {
    match kind {
        DEVICE_INFORMATION => "device information",
        CASE_DATA => "case data",
        0x03 => "sector data",
        SECTOR_TABLE => "sector table",
        MD5_HASH => "MD5 hash",
        SHA1_HASH => "SHA-1 hash",
        NEXT => "next",
        DONE => "done",
        _ => "other",
    }
}

/// Where chunk data lies and how it is stored, from a table entry.
pub(super) fn chunk_loc(
    offset: u64,
    size: u32,
    flags: u32,
    bzip2: bool,
) -> Result<ChunkLoc, ChunkFault> {
    if flags & !7 != 0 {
        return Err(ChunkFault::Flags { flags });
    }
    let compressed = flags & 1 != 0;
    if compressed && flags & 4 != 0 {
        return Ok(ChunkLoc {
            start: 0,
            end: 0,
            how: Stored::Fill(offset),
        });
    }
    let end = offset
        .checked_add(u64::from(size))
        .ok_or(ChunkFault::Extent {
            start: offset,
            end: u64::MAX,
        })?;
    let how = if compressed {
        if bzip2 { Stored::Bzip2 } else { Stored::Zlib }
    } else if flags & 2 != 0 {
        Stored::Summed
    } else {
        Stored::Plain
    };
    Ok(ChunkLoc {
        start: offset,
        end,
        how,
    })
}

/// The geometry and identity read from the first segment's metadata.
#[derive(Default)]
struct Geometry {
    sectors: Option<u64>,
    bytes_per_sector: Option<u64>,
    sectors_per_chunk: Option<u64>,
    chunks: Option<u64>,
}

impl Ewf {
    /// Opens an EWF2 image: the first segment `path` and every following
    /// one.
    pub(super) fn open_v2(path: &Path) -> Result<Self, ImageError> {
        let mut img = Ewf::empty("EWF2 (EnCase 7 Ex01)");
        let mut geometry = Geometry::default();
        let mut set_id: Option<[u8; 16]> = None;
        let mut seg_path = path.to_path_buf();
        let mut number = 1u32;
        let mut next_chunk = 0u64;
        loop {
            let idx = img.open_segment(&seg_path, number)?;
            let more =
                img.read_segment_v2(idx, number, &mut next_chunk, &mut set_id, &mut geometry)?;
            if number == 1 {
                img.apply_geometry(path, &geometry)?;
            }
            if !more {
                break;
            }
            number += 1;
            seg_path = super::segment_path(path, number)
                .ok_or_else(|| corrupt(path, CorruptKind::SegmentName(number)))?;
        }
        if geometry.chunks.is_none() {
            img.chunk_count = next_chunk;
        }
        img.finish(path, next_chunk)
    }

    /// Chunk size, media size and chunk count from the metadata.
    fn apply_geometry(&mut self, path: &Path, g: &Geometry) -> Result<(), ImageError> {
        let (Some(bps), Some(spc)) = (g.bytes_per_sector, g.sectors_per_chunk) else {
            return Err(corrupt(path, CorruptKind::NoVolume));
        };
        let chunk_size = bps.saturating_mul(spc);
        if chunk_size == 0 || chunk_size > MAX_CHUNK || bps > u64::from(u32::MAX) {
            return Err(corrupt(
                path,
                CorruptKind::ChunkSize {
                    offset: 0,
                    size: chunk_size,
                },
            ));
        }
        self.chunk_size = chunk_size;
        self.chunk_count = g.chunks.unwrap_or(0);
        let sectors = g
            .sectors
            .ok_or_else(|| corrupt(path, CorruptKind::NoVolume))?;
        self.media_size = sectors.saturating_mul(bps);
        self.acquisition.bytes_per_sector = bps as u32;
        Ok(())
    }

    /// The descriptor at `offset` of segment `idx`, checked.
    fn descriptor(&self, idx: usize, offset: u64) -> Result<Descriptor, ImageError> {
        let path = &self.segments[idx].path;
        let bad = |detail: String| corrupt(path, CorruptKind::Section { offset, detail });
        let d = self.seg_read(idx, offset, DESCRIPTOR_LEN)?;
        if !sum_ok(adler32(bytes_at(&d, 0, 60).unwrap_or(&[])), le32(&d, 60)) {
            return Err(bad("checksum mismatch".into()));
        }
        let mut r = Reader::new(&d);
        let short = |_| bad("short".into());
        let kind = r.u32_le().map_err(short)?;
        let flags = r.u32_le().map_err(short)?;
        let previous = r.u64_le().map_err(short)?;
        let data_size = r.u64_le().map_err(short)?;
        let descriptor_size = r.u32_le().map_err(short)?;
        if u64::from(descriptor_size) != DESCRIPTOR_LEN {
            return Err(bad(format!(
                "descriptor size {descriptor_size}, expected 64"
            )));
        }
        let data_at = offset
            .checked_sub(data_size)
            .filter(|at| *at >= HEADER_LEN)
            .ok_or_else(|| {
                bad(format!(
                    "data size {data_size} reaches before the file header"
                ))
            })?;
        Ok(Descriptor {
            offset,
            kind,
            flags,
            previous,
            data_at,
            data_size,
        })
    }

    /// Reads the sections of EWF2 segment `idx`; returns whether another
    /// segment follows.
    fn read_segment_v2(
        &mut self,
        idx: usize,
        number: u32,
        next_chunk: &mut u64,
        set_id: &mut Option<[u8; 16]>,
        geometry: &mut Geometry,
    ) -> Result<bool, ImageError> {
        let path = self.segments[idx].path.clone();
        let size = self.segments[idx].size;
        let head = self.seg_read(idx, 0, HEADER_LEN)?;
        let mut r = Reader::new(&head);
        let sig = r.array::<8>().ok();
        let (major, minor) = (r.u8().unwrap_or(0), r.u8().unwrap_or(0));
        if sig != Some(SIGNATURE_V2) || major != 2 {
            return Err(corrupt(&path, CorruptKind::SignatureV2 { major, minor }));
        }
        let method = r.u16_le().unwrap_or(u16::MAX);
        let bzip2 = match method {
            0 | 1 => false,
            2 => true,
            _ => {
                return Err(corrupt(
                    &path,
                    CorruptKind::Compression {
                        method,
                        detail: "unknown",
                    },
                ));
            }
        };
        let seg_no = r.u32_le().unwrap_or(0);
        if seg_no != number {
            return Err(corrupt(
                &path,
                CorruptKind::SegmentNumber {
                    found: u16::try_from(seg_no).unwrap_or(u16::MAX),
                    expected: number,
                },
            ));
        }
        let id = r.array::<16>().unwrap_or_default();
        match set_id {
            None => *set_id = Some(id),
            Some(first) if *first != id => {
                return Err(corrupt(
                    &path,
                    CorruptKind::SegmentSet {
                        found: hex::encode(id),
                        expected: hex::encode(*first),
                    },
                ));
            }
            Some(_) => {}
        }

        // The chain, back to front from the last descriptor.
        let last = size
            .checked_sub(DESCRIPTOR_LEN)
            .filter(|o| *o >= HEADER_LEN);
        let no_end = |offset: u64, detail: String| {
            ewf_error(
                &path,
                EwfError::Truncated(TruncatedKind::NoEnd {
                    size,
                    offset,
                    detail,
                }),
            )
        };
        let Some(last) = last else {
            return Err(no_end(0, "too short for a section".into()));
        };
        let end = self
            .descriptor(idx, last)
            .map_err(|e| no_end(last, inner(e)))?;
        if end.kind != NEXT && end.kind != DONE {
            return Err(no_end(last, format!("section type {:#x}", end.kind)));
        }
        let more = end.kind == NEXT;
        let mut chain = vec![end];
        while let Some(d) = chain.last() {
            if d.previous == 0 {
                break;
            }
            if d.previous.saturating_add(DESCRIPTOR_LEN) > d.data_at {
                return Err(corrupt(
                    &path,
                    CorruptKind::Section {
                        offset: d.offset,
                        detail: format!(
                            "previous section at {} overlaps this one's data at {}",
                            d.previous, d.data_at
                        ),
                    },
                ));
            }
            if chain.len() >= MAX_SECTIONS {
                return Err(corrupt(&path, CorruptKind::TooManySections));
            }
            let previous = d.previous;
            chain.push(self.descriptor(idx, previous)?);
        }
        chain.reverse();

        for d in &chain {
            let section = section_name(d.kind);
            if d.flags & 2 != 0 {
                return Err(corrupt(
                    &path,
                    CorruptKind::Encrypted {
                        section,
                        offset: d.offset,
                    },
                ));
            }
            let data_err = |detail: String| {
                corrupt(
                    &path,
                    CorruptKind::SectionData {
                        section,
                        offset: d.data_at,
                        detail,
                    },
                )
            };
            match d.kind {
                DEVICE_INFORMATION | CASE_DATA if number == 1 => {
                    if bzip2 {
                        return Err(corrupt(
                            &path,
                            CorruptKind::Compression {
                                method,
                                detail: "bzip2 is not supported",
                            },
                        ));
                    }
                    if d.data_size > MAX_HEADER {
                        return Err(data_err(format!("{} bytes, too large", d.data_size)));
                    }
                    let body = self.seg_read(idx, d.data_at, d.data_size)?;
                    let text = inflate_header(&body, true).map_err(|e| data_err(e.to_string()))?;
                    let fields = main_fields(&text);
                    let number_of = |tag: &str| -> Result<Option<u64>, ImageError> {
                        match fields.iter().find(|(k, _)| k == tag) {
                            Some((_, v)) if !v.is_empty() => v
                                .trim()
                                .parse::<u64>()
                                .map(Some)
                                .map_err(|_| data_err(format!("'{tag}' is not a number"))),
                            _ => Ok(None),
                        }
                    };
                    if d.kind == DEVICE_INFORMATION {
                        geometry.sectors = number_of("ts")?;
                        geometry.bytes_per_sector = number_of("bp")?.or(Some(512));
                    } else {
                        geometry.sectors_per_chunk = number_of("sb")?;
                        geometry.chunks = number_of("tb")?;
                    }
                    fill_acquisition(&fields, &mut self.acquisition);
                }
                SECTOR_TABLE => {
                    let h = self.seg_read(idx, d.data_at, 20.min(d.data_size))?;
                    if h.len() < 20
                        || !sum_ok(adler32(bytes_at(&h, 0, 16).unwrap_or(&[])), le32(&h, 16))
                    {
                        return Err(data_err("header checksum mismatch".into()));
                    }
                    let first = u64_le(&h, 0).unwrap_or(u64::MAX);
                    let count = u32_le(&h, 8).unwrap_or(u32::MAX);
                    if count > MAX_TABLE_ENTRIES || 32 + 16 * u64::from(count) + 4 > d.data_size {
                        return Err(data_err(format!(
                            "{count} entries do not fit in {} bytes",
                            d.data_size
                        )));
                    }
                    if first != *next_chunk {
                        return Err(data_err(format!(
                            "starts at chunk {first}, expected {} (chunks missing or out of order)",
                            *next_chunk
                        )));
                    }
                    self.tables.push(Table {
                        segment: idx,
                        first_chunk: first,
                        count,
                        entries_at: d.data_at + 32,
                        layout: TableLayout::V2 { bzip2 },
                    });
                    *next_chunk += u64::from(count);
                }
                MD5_HASH | SHA1_HASH => {
                    let len = if d.kind == MD5_HASH { 16 } else { 20 };
                    let body = self.seg_read(idx, d.data_at, (len as u64 + 4).min(d.data_size))?;
                    let hash = bytes_at(&body, 0, len).map_err(|_| data_err("too short".into()))?;
                    if !sum_ok(adler32(hash), le32(&body, len)) {
                        return Err(data_err("checksum mismatch".into()));
                    }
                    let hash = Some(hex::encode(hash));
                    if d.kind == MD5_HASH {
                        self.acquisition.md5 = hash;
                    } else {
                        self.acquisition.sha1 = hash;
                    }
                }
                _ => {}
            }
        }
        Ok(more)
    }
}

/// The message of an error, without the path (said once, by the caller).
fn inner(e: ImageError) -> String {
    match e {
        ImageError::Ewf {
            source: EwfError::Corrupt(kind),
            ..
        } => kind.to_string(),
        ImageError::Ewf { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// The tags and values of the "main" object of a serialized object
/// string: the line after `main` holds the tags, the next the values;
/// 0x01, 0x02, 0x03 stand for an escaped line feed, carriage return, tab.
fn main_fields(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let Some(main) = lines.iter().position(|l| *l == "main") else {
        return Vec::new();
    };
    let (Some(keys), Some(values)) = (lines.get(main + 1), lines.get(main + 2)) else {
        return Vec::new();
    };
    let unescape = |v: &str| -> String {
        v.chars()
            .map(|c| match c {
                '\u{1}' => '\n',
                '\u{2}' => '\r',
                '\u{3}' => '\t',
                c => c,
            })
            .collect()
    };
    keys.split('\t')
        .zip(values.split('\t'))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect()
}

/// The case and device fields an examiner reads, as EWF v1's header2
/// fills them (`tt`, the acquisition time, and `at`, the system time, are
/// seconds since the epoch).
fn fill_acquisition(fields: &[(String, String)], acq: &mut Acquisition) {
    for (k, v) in fields {
        if v.is_empty() {
            continue;
        }
        let value = Some(v.clone());
        match k.as_str() {
            "cn" => acq.case_number = value,
            "en" => acq.evidence_number = value,
            "nm" => acq.description = value,
            "ex" => acq.examiner = value,
            "nt" => acq.notes = value,
            "av" => acq.acquisition_software = value,
            "os" => acq.acquisition_os = value,
            "md" => acq.model = value,
            "sn" => acq.serial_number = value,
            "tt" => {
                acq.acquisition_date_utc = super::header::epoch_utc(&value);
                acq.acquisition_date = value;
            }
            "at" => {
                acq.system_date_utc = super::header::epoch_utc(&value);
                acq.system_date = value;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CorruptKind, EwfImage, ReadAt, segment_path};
    use super::*;
    use std::io::Write;

    /// Appends `data` and its section descriptor; returns the
    /// descriptor's offset.
    fn section(out: &mut Vec<u8>, kind: u32, previous: u64, data: &[u8]) -> u64 {
        out.extend_from_slice(data);
        let at = out.len() as u64;
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&kind.to_le_bytes());
        d[8..16].copy_from_slice(&previous.to_le_bytes());
        d[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
        d[24..28].copy_from_slice(&64u32.to_le_bytes());
        let sum = adler32(&d[..60]);
        d[60..].copy_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&d);
        at
    }

    /// A serialized object string: zlib of UTF-16LE with a BOM.
    fn object(keys: &str, values: &str) -> Vec<u8> {
        let text = format!("1\nmain\n{keys}\n{values}\n\n");
        let mut units = vec![0xfeffu16];
        units.extend(text.encode_utf16());
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&bytes).unwrap();
        z.finish().unwrap()
    }

    /// One segment holding one 512-byte chunk (`chunk`, stored at the
    /// offset the entry gives) described by the table entry
    /// (offset, size, flags) that `entry` returns from the chunk's offset;
    /// `count` overrides the table's entry count.
    fn segment(chunk: &[u8], entry: impl Fn(u64) -> (u64, u32, u32), count: u32) -> Vec<u8> {
        let mut f = SIGNATURE_V2.to_vec();
        f.extend_from_slice(&[2, 1, 1, 0, 1, 0, 0, 0]);
        f.extend_from_slice(&[7u8; 16]);
        let d1 = section(&mut f, DEVICE_INFORMATION, 0, &object("ts\tbp", "1\t512"));
        let d2 = section(&mut f, CASE_DATA, d1, &object("cn\ttb\tsb", "case 1\t1\t1"));
        let chunk_at = f.len() as u64;
        let d3 = section(&mut f, 0x03, d2, chunk);
        let (offset, size, flags) = entry(chunk_at);
        let mut t = Vec::new();
        t.extend_from_slice(&0u64.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&[0; 4]);
        let sum = adler32(&t);
        t.extend_from_slice(&sum.to_le_bytes());
        t.extend_from_slice(&[0; 12]);
        let mut e = Vec::new();
        e.extend_from_slice(&offset.to_le_bytes());
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        let sum = adler32(&e);
        t.extend_from_slice(&e);
        t.extend_from_slice(&sum.to_le_bytes());
        t.extend_from_slice(&[0; 12]);
        let d4 = section(&mut f, SECTOR_TABLE, d3, &t);
        section(&mut f, DONE, d4, &[]);
        f
    }

    fn summed_chunk() -> Vec<u8> {
        let mut c: Vec<u8> = (0..512u32).map(|i| (i * 7) as u8).collect();
        let sum = adler32(&c);
        c.extend_from_slice(&sum.to_le_bytes());
        c
    }

    fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<EwfImage, ImageError>) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img.Ex01");
        std::fs::write(&p, bytes).unwrap();
        let r = EwfImage::open(&p);
        (d, r)
    }

    fn read_error(bytes: &[u8]) -> ChunkFault {
        let (_d, r) = open_bytes(bytes);
        let img = r.unwrap();
        let mut b = [0u8; 512];
        let e = img.read_at(&mut b, 0).unwrap_err();
        match EwfError::from_io(&e).and_then(EwfError::corrupt_kind) {
            Some(CorruptKind::Chunk {
                chunk: 0, fault, ..
            }) => fault.clone(),
            _ => panic!("{e}"),
        }
    }

    #[test]
    fn hand_made_segment_reads_its_chunk_and_metadata() {
        let chunk = summed_chunk();
        let (_d, r) = open_bytes(&segment(&chunk, |at| (at, 516, 2), 1));
        let img = r.unwrap();
        assert_eq!(img.size(), 512);
        assert_eq!(img.acquisition().case_number.as_deref(), Some("case 1"));
        let mut b = [0u8; 512];
        img.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b[..], &chunk[..512]);
    }

    #[test]
    fn pattern_fill_is_the_pattern_repeated() {
        let (_d, r) = open_bytes(&segment(&[], |_| (0x0102_0304_0506_0708, 8, 5), 1));
        let img = r.unwrap();
        let mut b = [0u8; 512];
        img.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[504..], &b[..8]);
    }

    #[test]
    fn hostile_table_entries_are_chunk_errors() {
        let chunk = summed_chunk();
        let f = read_error(&segment(&chunk, |at| (at, 516, 0x10), 1));
        assert_eq!(f, ChunkFault::Flags { flags: 0x10 });
        let f = read_error(&segment(&chunk, |_| (u64::MAX - 4, 516, 2), 1));
        assert!(matches!(f, ChunkFault::Extent { .. }), "{f}");
        let f = read_error(&segment(&chunk, |at| (at, 1 << 30, 1), 1));
        assert!(matches!(f, ChunkFault::Extent { .. }), "{f}");
        let f = read_error(&segment(&chunk, |at| (at + 1, 516, 2), 1));
        assert!(matches!(f, ChunkFault::Checksum { .. }), "{f}");
    }

    #[test]
    fn hostile_counts_and_chains_are_open_errors() {
        let chunk = summed_chunk();
        let (_d, r) = open_bytes(&segment(&chunk, |at| (at, 516, 2), u32::MAX));
        let e = r.err().unwrap();
        assert!(e.to_string().contains("entries do not fit"), "{e}");

        // A descriptor whose previous section is itself: no loop.
        let mut f = SIGNATURE_V2.to_vec();
        f.extend_from_slice(&[2, 1, 1, 0, 1, 0, 0, 0]);
        f.extend_from_slice(&[7u8; 16]);
        let at = f.len() as u64;
        section(&mut f, DONE, at, &[]);
        let (_d, r) = open_bytes(&f);
        let e = r.err().unwrap();
        assert!(
            matches!(
                &e,
                ImageError::Ewf {
                    source: EwfError::Corrupt(CorruptKind::Section { .. }),
                    ..
                }
            ),
            "{e}"
        );

        // Data size claimed larger than the file.
        let mut f = SIGNATURE_V2.to_vec();
        f.extend_from_slice(&[2, 1, 1, 0, 1, 0, 0, 0]);
        f.extend_from_slice(&[7u8; 16]);
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&DONE.to_le_bytes());
        d[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        d[24..28].copy_from_slice(&64u32.to_le_bytes());
        let sum = adler32(&d[..60]);
        d[60..].copy_from_slice(&sum.to_le_bytes());
        f.extend_from_slice(&d);
        let (_d, r) = open_bytes(&f);
        let e = r.err().unwrap();
        assert!(e.to_string().contains("before the file header"), "{e}");

        // Cut anywhere: an error, never a panic.
        let whole = segment(&chunk, |at| (at, 516, 2), 1);
        for cut in 0..whole.len() {
            let (_d, r) = open_bytes(&whole[..cut]);
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn segment_names_follow_ex01() {
        let p = Path::new("/e/disk.Ex01");
        let name = |n| segment_path(p, n).unwrap().display().to_string();
        assert_eq!(name(2), "/e/disk.Ex02");
        assert_eq!(name(99), "/e/disk.Ex99");
        assert_eq!(name(100), "/e/disk.ExAA");
        assert_eq!(name(775), "/e/disk.ExZZ");
        assert_eq!(name(776), "/e/disk.EyAA");
        assert!(segment_path(p, 100 + 3 * 676).is_none());
        let lower = Path::new("disk.ex01");
        assert_eq!(
            segment_path(lower, 101).unwrap().display().to_string(),
            "disk.exab"
        );
        // EWF v1 names are unchanged.
        assert_eq!(
            segment_path(Path::new("disk.E01"), 100)
                .unwrap()
                .display()
                .to_string(),
            "disk.EAA"
        );
    }
}
