//! Expert Witness Format version 1 (EnCase 6 `.E01`, `.E02`, …), read-only.
//! EWF2 (EnCase 7 `.Ex01`) segments are walked by `ewf/v2.rs` into the same
//! tables, cache and chunk checks.
//!
//! Layout, after Joachim Metz's "Expert Witness Compression Format (EWF)"
//! specification (libewf documentation, `documentation/Expert Witness
//! Compression Format (EWF).asciidoc`):
//! - each segment file starts with a 13-byte header: the signature
//!   `EVF 09 0d 0a ff 00`, `01`, the segment number (u16 LE), `00 00`;
//! - then a chain of sections, each with a 76-byte descriptor: type (16
//!   bytes, NUL-padded), absolute offset of the next section (u64), section
//!   size including the descriptor (u64), 40 bytes padding, Adler-32 of the
//!   first 72 bytes;
//! - `header2` / `header`: zlib-compressed tab-separated acquisition
//!   metadata (UTF-16LE / ASCII); `volume` (or `disk`): chunk count,
//!   sectors per chunk, bytes per sector, sector count; `sectors`: the chunk
//!   data; `table`: a 24-byte header (entry count, base offset, Adler-32)
//!   then u32 entries (bit 31 = zlib-compressed, low 31 bits = offset from
//!   the base) then the Adler-32 of the entries; `table2`: a copy;
//!   `hash`: MD5; `digest`: MD5 and SHA-1; `next` / `done`: end of segment.
//!
//! Written here rather than taken from the `ewf` crate, which was found to
//! return wrong bytes for a corrupted chunk: every chunk read here is
//! checked (the Adler-32 at the end of a zlib stream, or the Adler-32 that
//! follows an uncompressed chunk) and a mismatch is an error naming the
//! chunk and its media offset. Tables are loaded on demand and decompressed
//! chunks kept in a small LRU cache, so memory stays bounded whatever the
//! image size.

mod error;
mod header;
mod v2;

pub use error::{ChunkFault, CorruptKind, EwfError, TruncatedKind};

use super::ahead::inflaters;
use super::{ImageError, ReadAt};
use crate::evidence::bytes::{Reader, bytes_at, u32_be, u32_le, u64_le};
use crate::evidence::cache::{Claim, Lru};
use header::{inflate_header, parse_header_text};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The first eight bytes of every EWF v1 segment file.
pub const SIGNATURE: [u8; 8] = *b"EVF\x09\x0d\x0a\xff\x00";
/// The first eight bytes of every EWF2 (EnCase 7 `.Ex01`) segment file.
pub const SIGNATURE_V2: [u8; 8] = *b"EVF2\x0d\x0a\x81\x00";

const DESCRIPTOR_LEN: u64 = 76;
/// Decompressed chunks kept, in bytes (whatever chunk size is claimed).
const CHUNK_CACHE_BYTES: u64 = 16 << 20;
/// Chunks inflated together, on every core, when reads go forward
/// (libewf inflates one chunk at a time; the medium is read in order by
/// `verify_media` and mostly in order by layer replay).
const READ_AHEAD_BYTES: u64 = 1 << 20;
/// Batches inflated ahead of the reader, in the background.
const AHEAD_BATCHES: u64 = 2;
/// Recent misses remembered to tell forward reads from random ones.
const RECENT_MISSES: usize = 8;
const TABLE_CACHE: usize = 8;
/// Bound on a chunk size we accept (EnCase writes 32 KiB).
const MAX_CHUNK: u64 = 64 << 20;
/// Bound on a compressed header section.
const MAX_HEADER: u64 = 1 << 20;

/// What the acquisition tool recorded about the acquisition.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Acquisition {
    pub format: String,
    pub segments: Vec<String>,
    pub case_number: Option<String>,
    pub evidence_number: Option<String>,
    pub description: Option<String>,
    pub examiner: Option<String>,
    pub notes: Option<String>,
    /// As stored (`header2`: seconds since the epoch; `header`: "Y M D h m s").
    pub acquisition_date: Option<String>,
    /// The acquisition date as RFC 3339 UTC, when it was stored as epoch seconds.
    pub acquisition_date_utc: Option<String>,
    pub system_date: Option<String>,
    /// The system date as RFC 3339 UTC, when stored as epoch seconds.
    pub system_date_utc: Option<String>,
    pub acquisition_software: Option<String>,
    pub acquisition_os: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub media_size: u64,
    pub bytes_per_sector: u32,
    pub chunk_size: u32,
    /// Stored MD5 of the media (hex), from the `hash` or `digest` section.
    pub md5: Option<String>,
    /// Stored SHA-1 of the media (hex), from the `digest` section.
    pub sha1: Option<String>,
}

struct Segment {
    file: File,
    path: PathBuf,
    size: u64,
}

/// One `table` section: where the offsets of a run of chunks are.
struct Table {
    segment: usize,
    first_chunk: u64,
    count: u32,
    /// File offset of the first entry.
    entries_at: u64,
    layout: TableLayout,
}

/// How a table's entries are laid out.
#[derive(Clone, Copy)]
enum TableLayout {
    /// EWF v1: u32 offsets from `base` (bit 31: zlib); a chunk ends where
    /// the next begins, the last at `data_end` (the end of its `sectors`).
    V1 { base: u64, data_end: u64 },
    /// EWF2: 16-byte entries (offset in the file, size, flags); compressed
    /// chunks use the segment header's method (`bzip2` or zlib).
    V2 { bzip2: bool },
}

/// Where one chunk is stored and how.
#[derive(Clone, Copy, Debug)]
struct ChunkLoc {
    start: u64,
    end: u64,
    how: Stored,
}

#[derive(Clone, Copy, Debug)]
enum Stored {
    /// A zlib stream (its Adler-32 trailer checked).
    Zlib,
    /// Plain data followed by its Adler-32.
    Summed,
    /// Plain data, no checksum (EWF2 without the CHECKSUMED flag).
    Plain,
    /// EWF2 bzip2 (not supported: said when read).
    Bzip2,
    /// EWF2 pattern fill: the chunk is this 64-bit value repeated.
    Fill(u64),
}

/// An EWF v1 image, all segments, as one [`ReadAt`] medium.
pub struct EwfImage {
    // Shared with the threads that inflate chunks ahead of the reader.
    ewf: Arc<Ewf>,
}

impl std::ops::Deref for EwfImage {
    type Target = Ewf;
    fn deref(&self) -> &Ewf {
        &self.ewf
    }
}

/// The segments, tables and caches of an open EWF v1 image.
pub struct Ewf {
    segments: Vec<Segment>,
    tables: Vec<Table>,
    chunk_size: u64,
    chunk_count: u64,
    media_size: u64,
    acquisition: Acquisition,
    /// Chunks decompressed and checked, and those being inflated (ahead,
    /// in the background, or by another reader), for their waiters.
    chunks: Lru<u64, Vec<u8>>,
    table_cache: Lru<usize, Vec<ChunkLoc>>,
    /// The last chunks that were not cached when read.
    misses: Mutex<std::collections::VecDeque<u64>>,
}

fn ewf_error(path: &Path, source: impl Into<EwfError>) -> ImageError {
    ImageError::Ewf {
        path: path.display().to_string(),
        source: source.into(),
    }
}

fn corrupt(path: &Path, kind: CorruptKind) -> ImageError {
    ewf_error(path, kind)
}

/// A little-endian `u32` at `at` of a buffer read to a known length
/// (a short buffer reads as a value no checksum matches).
fn le32(b: &[u8], at: usize) -> u32 {
    u32_le(b, at).unwrap_or(u32::MAX)
}

fn adler32(data: &[u8]) -> u32 {
    adler2::adler32_slice(data)
}

/// Whether a computed Adler-32 matches the stored one. Fuzz builds
/// (`--cfg fuzzing`, set by cargo-fuzz) accept any value so the fuzzer can
/// reach the structures behind the checksums; normal builds never do.
fn sum_ok(computed: u32, stored: u32) -> bool {
    cfg!(fuzzing) || computed == stored
}

/// The name of segment `n` (1-based) next to `first`: `.E01`…`.E99`, then
/// `.EAA`…`.EZZ`, `.FAA`…, keeping the case of the first extension; for
/// an EWF2 first segment (`.Ex01`), `.Ex02`…`.Ex99`, `.ExAA`…`.ExZZ`,
/// `.EyAA`…`.EzZZ`.
pub fn segment_path(first: &Path, n: u32) -> Option<PathBuf> {
    let ext = first.extension()?.to_str()?;
    let lower = ext.starts_with('e');
    if ext.len() == 4
        && ext
            .as_bytes()
            .get(1)
            .is_some_and(|b| b.eq_ignore_ascii_case(&b'x'))
    {
        return segment_path_v2(first, ext, n);
    }
    let name = if n < 100 {
        format!("E{n:02}")
    } else {
        let k = n - 100;
        let (hi, rest) = (k / 676, k % 676);
        let first_letter = u8::try_from(u32::from(b'E') + hi).ok()?;
        if first_letter > b'Z' {
            return None;
        }
        format!(
            "{}{}{}",
            first_letter as char,
            (b'A' + (rest / 26) as u8) as char,
            (b'A' + (rest % 26) as u8) as char
        )
    };
    let name = if lower { name.to_lowercase() } else { name };
    Some(first.with_extension(name))
}

/// `.Ex02`…: the first extension's first letter kept, `x`…`z` then two
/// letters after segment 99.
fn segment_path_v2(first: &Path, ext: &str, n: u32) -> Option<PathBuf> {
    let head = ext.get(..2)?;
    let name = if n < 100 {
        format!("{head}{n:02}")
    } else {
        let k = n - 100;
        let (hi, rest) = (k / 676, k % 676);
        let second = u8::try_from(u32::from(b'x') + hi).ok()?;
        if second > b'z' {
            return None;
        }
        let upper = |b: u8| {
            if ext.starts_with('e') {
                b.to_ascii_lowercase()
            } else {
                b
            }
        };
        format!(
            "{}{}{}{}",
            head.get(..1)?,
            if head.ends_with('X') {
                second.to_ascii_uppercase()
            } else {
                second
            } as char,
            upper(b'A' + (rest / 26) as u8) as char,
            upper(b'A' + (rest % 26) as u8) as char
        )
    };
    Some(first.with_extension(name))
}

impl EwfImage {
    /// Opens the first segment `path` and every following one (EWF v1 or
    /// EWF2, told by the first segment's signature).
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let mut head = [0u8; 8];
        let f = File::open(path).map_err(|e| ImageError::io(path, e))?;
        let n = super::pread::read_at(&f, &mut head, 0).map_err(|e| ImageError::io(path, e))?;
        let ewf = if n == 8 && head == SIGNATURE_V2 {
            Ewf::open_v2(path)?
        } else {
            Ewf::open(path)?
        };
        Ok(EwfImage { ewf: Arc::new(ewf) })
    }
}

impl Ewf {
    /// An image with no segments yet, of `format` (for messages).
    fn empty(format: &str) -> Self {
        Ewf {
            segments: Vec::new(),
            tables: Vec::new(),
            chunk_size: 0,
            chunk_count: 0,
            media_size: 0,
            acquisition: Acquisition {
                format: format.into(),
                ..Default::default()
            },
            // Sized once the chunk size is known (below).
            chunks: Lru::new(1),
            misses: Mutex::new(std::collections::VecDeque::with_capacity(RECENT_MISSES)),
            table_cache: Lru::new(TABLE_CACHE),
        }
    }

    /// Opens segment file `number` (1 for the first) and adds it; a later
    /// segment that is not there is named as missing after the previous one.
    fn open_segment(&mut self, seg_path: &Path, number: u32) -> Result<usize, ImageError> {
        let file = File::open(seg_path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound && number > 1 {
                let previous = self
                    .segments
                    .last()
                    .map(|s| s.path.display().to_string())
                    .unwrap_or_default();
                ewf_error(seg_path, EwfError::MissingSegment { previous })
            } else {
                ImageError::io(seg_path, e)
            }
        })?;
        let size = file
            .metadata()
            .map_err(|e| ImageError::io(seg_path, e))?
            .len();
        self.segments.push(Segment {
            file,
            path: seg_path.to_path_buf(),
            size,
        });
        Ok(self.segments.len() - 1)
    }

    fn open(path: &Path) -> Result<Self, ImageError> {
        let mut img = Ewf::empty("EWF v1 (EnCase 6)");
        let mut seg_path = path.to_path_buf();
        let mut number = 1u32;
        let mut next_chunk = 0u64;
        loop {
            let idx = img.open_segment(&seg_path, number)?;
            let more = img.read_segment(idx, number, &mut next_chunk)?;
            if !more {
                break;
            }
            number += 1;
            seg_path = segment_path(path, number)
                .ok_or_else(|| corrupt(path, CorruptKind::SegmentName(number)))?;
        }
        img.finish(path, next_chunk)
    }

    /// Checks the geometry against the tables read, records it in the
    /// acquisition and sizes the chunk cache.
    fn finish(mut self, path: &Path, next_chunk: u64) -> Result<Self, ImageError> {
        let img = &mut self;
        if img.chunk_size == 0 {
            return Err(corrupt(path, CorruptKind::NoVolume));
        }
        if next_chunk != img.chunk_count {
            return Err(corrupt(
                path,
                CorruptKind::ChunkCount {
                    listed: next_chunk,
                    declared: img.chunk_count,
                },
            ));
        }
        if img.media_size > img.chunk_count.saturating_mul(img.chunk_size) {
            return Err(corrupt(path, CorruptKind::MediaSize));
        }
        img.acquisition.segments = img
            .segments
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        img.acquisition.media_size = img.media_size;
        img.acquisition.chunk_size = img.chunk_size as u32;
        // Memory held by the cache is bounded in bytes, whatever chunk
        // size the volume section claims.
        let entries = usize::try_from((CHUNK_CACHE_BYTES / img.chunk_size).max(4)).unwrap_or(4);
        img.chunks = Lru::new(entries);
        Ok(self)
    }

    /// The acquisition metadata and stored hashes.
    pub fn acquisition(&self) -> &Acquisition {
        &self.acquisition
    }

    /// The segment files, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Reads `len` bytes at `off` of segment `idx`, or names what is missing.
    fn seg_read(&self, idx: usize, off: u64, len: u64) -> Result<Vec<u8>, ImageError> {
        let mut buf = Vec::new();
        self.seg_read_into(idx, off, len, &mut buf)?;
        Ok(buf)
    }

    /// As [`Ewf::seg_read`], into `buf` (resized; its memory reused).
    fn seg_read_into(
        &self,
        idx: usize,
        off: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<(), ImageError> {
        let seg = &self.segments[idx];
        if off.checked_add(len).is_none_or(|end| end > seg.size) {
            let short = TruncatedKind::Short {
                start: off,
                end: off.saturating_add(len),
                size: seg.size,
            };
            return Err(ewf_error(&seg.path, EwfError::Truncated(short)));
        }
        buf.clear();
        buf.resize(len as usize, 0);
        super::pread::read_exact_at(&seg.file, buf, off).map_err(|e| ImageError::io(&seg.path, e))
    }

    /// Walks the sections of one segment; returns whether another follows.
    fn read_segment(
        &mut self,
        idx: usize,
        number: u32,
        next_chunk: &mut u64,
    ) -> Result<bool, ImageError> {
        let path = self.segments[idx].path.clone();
        let head = self.seg_read(idx, 0, 13)?;
        let mut r = Reader::new(&head);
        if r.array::<8>().ok() != Some(SIGNATURE) {
            return Err(corrupt(&path, CorruptKind::Signature));
        }
        let seg_no = r
            .skip(1)
            .and_then(|()| r.u16_le())
            .map_err(|_| corrupt(&path, CorruptKind::Signature))?;
        if u32::from(seg_no) != number {
            return Err(corrupt(
                &path,
                CorruptKind::SegmentNumber {
                    found: seg_no,
                    expected: number,
                },
            ));
        }
        let mut off = 13u64;
        let mut last_sectors_end: Option<u64> = None;
        let mut seen = 0usize;
        loop {
            seen += 1;
            if seen > 1_000_000 {
                return Err(corrupt(&path, CorruptKind::TooManySections));
            }
            let d = self.seg_read(idx, off, DESCRIPTOR_LEN)?;
            let descriptor = Descriptor::parse(&d)
                .filter(|d| sum_ok(d.computed_sum, d.stored_sum))
                .ok_or_else(|| corrupt(&path, CorruptKind::DescriptorChecksum { offset: off }))?;
            let Descriptor {
                kind, next, size, ..
            } = descriptor;
            let body_len = size.saturating_sub(DESCRIPTOR_LEN);
            let body_at = off + DESCRIPTOR_LEN;
            match kind.as_slice() {
                b"header2" | b"header" if number == 1 => {
                    if body_len > MAX_HEADER {
                        return Err(corrupt(
                            &path,
                            CorruptKind::HeaderTooLarge {
                                section: String::from_utf8_lossy(&kind).into_owned(),
                                offset: off,
                            },
                        ));
                    }
                    let body = self.seg_read(idx, body_at, body_len)?;
                    let text = inflate_header(&body, kind == b"header2").map_err(|e| {
                        corrupt(
                            &path,
                            CorruptKind::Header {
                                offset: off,
                                detail: e.to_string(),
                            },
                        )
                    })?;
                    // header2 (Unicode) wins over header when both exist.
                    if kind == b"header2" || self.acquisition.case_number.is_none() {
                        parse_header_text(&text, kind == b"header2", &mut self.acquisition);
                    }
                }
                b"volume" | b"disk" => {
                    let body = self.seg_read(idx, body_at, body_len.min(1052))?;
                    let short = || corrupt(&path, CorruptKind::VolumeShort { offset: off });
                    let mut r = Reader::at(&body, 4);
                    let mut next32 = || r.u32_le().map_err(|_| short());
                    let (chunks, spc, bps) = (next32()?, next32()?, next32()?);
                    let sectors = u64_le(&body, 16).map_err(|_| short())?;
                    if body.len() == 1052 {
                        let (summed, sum) = body.split_at(1048);
                        if !sum_ok(adler32(summed), le32(sum, 0)) {
                            return Err(corrupt(
                                &path,
                                CorruptKind::VolumeChecksum { offset: off },
                            ));
                        }
                    }
                    let chunks = u64::from(chunks);
                    let chunk_size = u64::from(spc) * u64::from(bps);
                    if chunk_size == 0 || chunk_size > MAX_CHUNK {
                        return Err(corrupt(
                            &path,
                            CorruptKind::ChunkSize {
                                offset: off,
                                size: chunk_size,
                            },
                        ));
                    }
                    self.chunk_size = chunk_size;
                    self.chunk_count = chunks;
                    self.media_size = sectors.saturating_mul(u64::from(bps));
                    self.acquisition.bytes_per_sector = bps;
                }
                b"sectors" => last_sectors_end = Some(off.saturating_add(size)),
                b"table" => {
                    let h = self.seg_read(idx, body_at, 24)?;
                    let (summed, sum) = h.split_at(20);
                    if !sum_ok(adler32(summed), le32(sum, 0)) {
                        return Err(corrupt(&path, CorruptKind::TableChecksum { offset: off }));
                    }
                    let count = le32(&h, 0);
                    let base = u64_le(&h, 8).unwrap_or(u64::MAX);
                    // chunk offsets are `base` + 31 bits, inside this file
                    if base >= self.segments[idx].size {
                        return Err(corrupt(&path, CorruptKind::TableBase { offset: off, base }));
                    }
                    if 24 + 4 * u64::from(count) > body_len {
                        return Err(corrupt(
                            &path,
                            CorruptKind::TableCount { offset: off, count },
                        ));
                    }
                    self.tables.push(Table {
                        segment: idx,
                        first_chunk: *next_chunk,
                        count,
                        entries_at: body_at + 24,
                        layout: TableLayout::V1 {
                            base,
                            data_end: last_sectors_end.unwrap_or(off),
                        },
                    });
                    *next_chunk += u64::from(count);
                }
                b"hash" => {
                    let body = self.seg_read(idx, body_at, body_len.min(36))?;
                    if let Ok(md5) = bytes_at(&body, 0, 16)
                        && self.acquisition.md5.is_none()
                    {
                        self.acquisition.md5 = Some(hex::encode(md5));
                    }
                }
                b"digest" => {
                    let body = self.seg_read(idx, body_at, body_len.min(80))?;
                    if let (Ok(md5), Ok(sha1)) = (bytes_at(&body, 0, 16), bytes_at(&body, 16, 20)) {
                        self.acquisition.md5 = Some(hex::encode(md5));
                        self.acquisition.sha1 = Some(hex::encode(sha1));
                    }
                }
                b"next" => return Ok(true),
                b"done" => return Ok(false),
                _ => {}
            }
            if next <= off {
                return Err(corrupt(
                    &path,
                    CorruptKind::SectionLoop { offset: off, next },
                ));
            }
            off = next;
            if off >= self.segments[idx].size {
                let cut = TruncatedKind::ChainPastEnd { offset: off };
                return Err(ewf_error(&path, EwfError::Truncated(cut)));
            }
        }
    }

    /// The (verified) chunk locations of table `t`.
    fn table_entries(&self, t: usize) -> io::Result<Arc<Vec<ChunkLoc>>> {
        self.table_cache.get(t, || self.read_table(t))
    }

    /// Reads and checks table `t`'s chunk locations.
    fn read_table(&self, t: usize) -> io::Result<Vec<ChunkLoc>> {
        let table = &self.tables[t];
        let seg = &self.segments[table.segment];
        let width = match table.layout {
            TableLayout::V1 { .. } => 4,
            TableLayout::V2 { .. } => 16,
        };
        let len = width * u64::from(table.count) + 4;
        let raw = self
            .seg_read(table.segment, table.entries_at, len)
            .map_err(to_io)?;
        let (entries, sum) = raw.split_at(raw.len().saturating_sub(4));
        if !sum_ok(adler32(entries), le32(sum, 0)) {
            return Err(invalid(CorruptKind::TableEntries {
                segment: seg.path.display().to_string(),
                first: table.first_chunk,
                end: table.first_chunk + u64::from(table.count),
            }));
        }
        let mut r = Reader::new(entries);
        let mut v = Vec::with_capacity(table.count as usize);
        match table.layout {
            TableLayout::V1 { base, data_end } => {
                let mut offsets = Vec::with_capacity(table.count as usize);
                while let Ok(e) = r.u32_le() {
                    offsets.push(e);
                }
                for (i, e) in offsets.iter().enumerate() {
                    let end = match offsets.get(i + 1) {
                        Some(next) => base + u64::from(next & 0x7fff_ffff),
                        None => data_end,
                    };
                    v.push(ChunkLoc {
                        start: base + u64::from(e & 0x7fff_ffff),
                        end,
                        how: if e & 0x8000_0000 != 0 {
                            Stored::Zlib
                        } else {
                            Stored::Summed
                        },
                    });
                }
            }
            TableLayout::V2 { bzip2 } => {
                let first = table.first_chunk;
                let mut i = 0u64;
                while let (Ok(offset), Ok(size), Ok(flags)) = (r.u64_le(), r.u32_le(), r.u32_le()) {
                    let loc = v2::chunk_loc(offset, size, flags, bzip2)
                        .map_err(|fault| self.chunk_fault(first + i, fault))?;
                    v.push(loc);
                    i += 1;
                }
            }
        }
        Ok(v)
    }

    /// Chunks inflated together (one batch), and the unit of read-ahead.
    fn batch_len(&self) -> u64 {
        (READ_AHEAD_BYTES / self.chunk_size.max(1)).clamp(1, 64)
    }

    /// Chunk `n`, decompressed and checked: from the cache, from the
    /// threads inflating it ahead, or inflated now with the rest of its
    /// batch (in parallel) when reads go forward. Reading forward also
    /// starts the next batches in the background, so inflating overlaps
    /// with what the reader does with the bytes.
    fn chunk(self: &Arc<Self>, n: u64) -> io::Result<Arc<Vec<u8>>> {
        let batch = self.batch_len();
        if let Some(c) = self.chunks.kept_or_awaited(&n) {
            if n.is_multiple_of(batch) {
                self.read_ahead(n, batch)?;
            }
            return Ok(c);
        }
        let forward = {
            let mut m = self.misses.lock().map_err(poisoned)?;
            let forward = n.checked_sub(1).is_some_and(|p| m.contains(&p))
                || self.chunks.contains(&n.saturating_sub(1));
            if m.len() == RECENT_MISSES {
                m.pop_front();
            }
            m.push_back(n);
            forward
        };
        // the rest of n's batch, when reads go forward
        let last = if forward {
            (n / batch + 1).saturating_mul(batch).min(self.chunk_count)
        } else {
            n + 1
        };
        let claim = self.chunks.claim(n..last.max(n + 1), Some(&n));
        use rayon::prelude::*;
        let wanted = claim.keys();
        let decoded: Vec<(u64, io::Result<Vec<u8>>)> = if wanted.len() > 1
            && let Some(pool) = inflaters()
        {
            // `inflaters`: a pool of its own (why: see there).
            pool.install(|| wanted.par_iter().map(|k| (*k, self.decode(*k))).collect())
        } else {
            wanted.iter().map(|k| (*k, self.decode(*k))).collect()
        };
        let mine = land(claim, decoded, Some(n));
        if forward {
            self.read_ahead(n, batch)?;
        }
        mine.ok_or_else(|| io::Error::other("EWF chunk not decoded"))?
    }

    /// Starts inflating, in the background, the batches after the one
    /// holding `n` (those not cached or already in flight).
    fn read_ahead(self: &Arc<Self>, n: u64, batch: u64) -> io::Result<()> {
        let Some(pool) = inflaters() else {
            return Ok(());
        };
        for ahead in 1..=AHEAD_BATCHES {
            let first = (n / batch + ahead).saturating_mul(batch);
            if first >= self.chunk_count {
                break;
            }
            let last = first.saturating_add(batch).min(self.chunk_count);
            let claim = self.chunks.claim(first..last, None);
            if claim.keys().is_empty() {
                continue;
            }
            let wanted = claim.detach();
            let ewf = Arc::clone(self);
            pool.spawn(move || {
                use rayon::prelude::*;
                // Whatever happens, the chunks stop being in flight.
                let claim = ewf.chunks.reclaim(wanted);
                let decoded = claim
                    .keys()
                    .par_iter()
                    .map(|k| (*k, ewf.decode(*k)))
                    .collect();
                land(claim, decoded, None);
            });
        }
        Ok(())
    }

    /// Chunk `n` read, inflated and checked (no cache).
    fn decode(&self, n: u64) -> io::Result<Vec<u8>> {
        let bad = |fault| self.chunk_fault(n, fault);
        let t = self
            .tables
            .partition_point(|t| t.first_chunk <= n)
            .checked_sub(1)
            .ok_or_else(|| bad(ChunkFault::NotInTable))?;
        let table = &self.tables[t];
        let entries = self.table_entries(t)?;
        let i = usize::try_from(n - table.first_chunk).unwrap_or(usize::MAX);
        let ChunkLoc { start, end, how } =
            *entries.get(i).ok_or_else(|| bad(ChunkFault::NotInTable))?;
        let expect =
            (self.media_size.saturating_sub(n * self.chunk_size)).min(self.chunk_size) as usize;
        match how {
            Stored::Fill(pattern) => {
                let word = pattern.to_le_bytes();
                return Ok(word
                    .iter()
                    .copied()
                    .cycle()
                    .take(self.chunk_size as usize)
                    .collect());
            }
            Stored::Bzip2 => return Err(bad(ChunkFault::Bzip2)),
            _ => {}
        }
        if end <= start || end - start > self.chunk_size + 4096 {
            return Err(bad(ChunkFault::Extent { start, end }));
        }
        let seg = &self.segments[table.segment];
        let segment = || seg.path.display().to_string();
        // The compressed bytes and the inflater are kept per thread and
        // reused: a new zlib state (and its 32 KiB window) per 32 KiB
        // chunk cost more than the inflating.
        thread_local! {
            static STORED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            static INFLATER: std::cell::RefCell<flate2::Decompress> =
                std::cell::RefCell::new(flate2::Decompress::new(true));
        }
        STORED.with_borrow_mut(|stored| {
            self.seg_read_into(table.segment, start, end - start, stored)
                .map_err(|e| {
                    bad(ChunkFault::Unreadable {
                        segment: segment(),
                        start,
                        end,
                        detail: match e {
                            ImageError::Ewf { source, .. } => source.to_string(),
                            e => e.to_string(),
                        },
                    })
                })?;
            let stored: &[u8] = stored;
            let data = if let Stored::Zlib = how {
                INFLATER.with_borrow_mut(|d| self.inflate(d, stored, n, start, &segment))?
            } else if let Stored::Plain = how {
                stored
                    .get(..stored.len().min(self.chunk_size as usize))
                    .unwrap_or(stored)
                    .to_vec()
            } else {
                let (data, sum) = stored
                    .split_at_checked(stored.len().wrapping_sub(4))
                    .ok_or_else(|| bad(ChunkFault::TooShort))?;
                let keep = data.len().min(self.chunk_size as usize);
                let data = data.get(..keep).unwrap_or(data);
                if !sum_ok(adler32(data), le32(sum, 0)) {
                    return Err(bad(ChunkFault::Checksum {
                        segment: segment(),
                        start,
                    }));
                }
                data.to_vec()
            };
            if data.len() < expect {
                return Err(bad(ChunkFault::Short {
                    got: data.len(),
                    expected: expect,
                }));
            }
            Ok(data)
        })
    }

    /// The error for chunk `n`, naming it and its media offset.
    fn chunk_fault(&self, n: u64, fault: ChunkFault) -> io::Error {
        invalid(CorruptKind::Chunk {
            chunk: n,
            media_offset: n * self.chunk_size,
            fault,
        })
    }

    /// Inflates chunk `n` (a zlib stream at `start`) and checks the
    /// stream's own Adler-32 trailer.
    fn inflate(
        &self,
        d: &mut flate2::Decompress,
        stored: &[u8],
        n: u64,
        start: u64,
        segment: &dyn Fn() -> String,
    ) -> io::Result<Vec<u8>> {
        let bad = |fault| self.chunk_fault(n, fault);
        d.reset(true);
        let mut out = Vec::with_capacity(self.chunk_size as usize);
        let status = d
            .decompress_vec(stored, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| {
                bad(ChunkFault::Zlib {
                    segment: segment(),
                    start,
                    detail: e.to_string(),
                })
            })?;
        let incomplete = || {
            bad(ChunkFault::ZlibIncomplete {
                segment: segment(),
                start,
            })
        };
        let used = usize::try_from(d.total_in()).map_err(|_| incomplete())?;
        if status != flate2::Status::StreamEnd || used < 6 {
            return Err(incomplete());
        }
        // the stream's own Adler-32 trailer, big-endian
        let want = u32_be(stored, used - 4).map_err(|_| incomplete())?;
        if !sum_ok(adler32(&out), want) {
            return Err(bad(ChunkFault::Adler32 {
                segment: segment(),
                start,
            }));
        }
        Ok(out)
    }
}

/// Keeps the chunks decoded under `claim` and wakes their waiters;
/// returns chunk `mine`'s result. A chunk read ahead that fails is said
/// when it is read.
fn land(
    claim: Claim<'_, u64, Vec<u8>>,
    decoded: Vec<(u64, io::Result<Vec<u8>>)>,
    mine: Option<u64>,
) -> Option<io::Result<Arc<Vec<u8>>>> {
    let mut result = None;
    let mut kept = Vec::with_capacity(decoded.len());
    for (k, d) in decoded {
        match d {
            Ok(d) => {
                let d = Arc::new(d);
                if Some(k) == mine {
                    result = Some(Ok(d.clone()));
                }
                kept.push((k, d));
            }
            Err(e) if Some(k) == mine => result = Some(Err(e)),
            Err(_) => {}
        }
    }
    claim.land(kept);
    result
}

fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("EWF read-ahead lock poisoned")
}

fn to_io(e: ImageError) -> io::Error {
    match e {
        ImageError::Io { source, .. } => source,
        ImageError::Ewf { source, .. } => io::Error::new(io::ErrorKind::InvalidData, source),
        e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    }
}

/// An `InvalidData` I/O error carrying an [`EwfError`] (see
/// [`EwfError::from_io`]).
fn invalid(kind: CorruptKind) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, EwfError::Corrupt(kind))
}

/// A section descriptor: type (16 bytes, NUL-padded), next (u64), size
/// (u64), 40 bytes of padding, Adler-32 of the first 72 bytes.
struct Descriptor {
    kind: Vec<u8>,
    next: u64,
    size: u64,
    computed_sum: u32,
    stored_sum: u32,
}

impl Descriptor {
    fn parse(d: &[u8]) -> Option<Self> {
        let mut r = Reader::new(d);
        let kind = r.bytes(16).ok()?;
        let (next, size) = (r.u64_le().ok()?, r.u64_le().ok()?);
        let summed = bytes_at(d, 0, 72).ok()?;
        Some(Descriptor {
            kind: kind.iter().copied().take_while(|b| *b != 0).collect(),
            next,
            size,
            computed_sum: adler32(summed),
            stored_sum: u32_le(d, 72).ok()?,
        })
    }
}

impl ReadAt for EwfImage {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            if pos >= self.media_size {
                break;
            }
            let n = pos / self.chunk_size;
            let within = (pos % self.chunk_size) as usize;
            let chunk = self.ewf.chunk(n)?;
            let avail = (self.media_size - pos).min((chunk.len() - within.min(chunk.len())) as u64)
                as usize;
            if avail == 0 {
                break;
            }
            let take = avail.min(buf.len() - done);
            buf[done..done + take].copy_from_slice(&chunk[within..within + take]);
            done += take;
        }
        Ok(done)
    }
    fn size(&self) -> u64 {
        self.media_size
    }
    fn describe(&self) -> String {
        self.segments
            .first()
            .map(|s| s.path.display().to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section descriptor of `kind` at `off`, `body` bytes long.
    fn section(out: &mut Vec<u8>, kind: &str, next: u64, body: &[u8]) {
        let mut d = [0u8; DESCRIPTOR_LEN as usize];
        d[..kind.len()].copy_from_slice(kind.as_bytes());
        d[16..24].copy_from_slice(&next.to_le_bytes());
        d[24..32].copy_from_slice(&(DESCRIPTOR_LEN + body.len() as u64).to_le_bytes());
        let sum = adler32(&d[..72]);
        d[72..76].copy_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&d);
        out.extend_from_slice(body);
    }

    /// One segment: a volume section (one 32 KiB chunk), a table of one
    /// entry with base offset `base`, and `done`.
    fn segment(base: u64) -> Vec<u8> {
        let mut f = SIGNATURE.to_vec();
        f.extend_from_slice(&[1, 1, 0, 0, 0]);
        let mut vol = vec![0u8; 94];
        vol[4..8].copy_from_slice(&1u32.to_le_bytes());
        vol[8..12].copy_from_slice(&64u32.to_le_bytes());
        vol[12..16].copy_from_slice(&512u32.to_le_bytes());
        vol[16..24].copy_from_slice(&64u64.to_le_bytes());
        let table_at = f.len() as u64 + DESCRIPTOR_LEN + vol.len() as u64;
        section(&mut f, "volume", table_at, &vol);
        let mut t = vec![0u8; 24];
        t[..4].copy_from_slice(&1u32.to_le_bytes());
        t[8..16].copy_from_slice(&base.to_le_bytes());
        let sum = adler32(&t[..20]);
        t[20..24].copy_from_slice(&sum.to_le_bytes());
        let entries = 0x10u32.to_le_bytes();
        t.extend_from_slice(&entries);
        t.extend_from_slice(&adler32(&entries).to_le_bytes());
        let done_at = table_at + DESCRIPTOR_LEN + t.len() as u64;
        section(&mut f, "table", done_at, &t);
        section(&mut f, "done", done_at, &[]);
        f
    }

    fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<EwfImage, ImageError>) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("img.E01");
        std::fs::write(&p, bytes).unwrap();
        let r = EwfImage::open(&p);
        (d, r)
    }

    #[test]
    fn hand_made_segment_opens_and_a_bad_chunk_is_an_error() {
        let (_d, r) = open_bytes(&segment(0));
        let img = r.unwrap();
        assert_eq!(img.size(), 32768);
        let mut b = [0u8; 16];
        let e = img.read_at(&mut b, 0).unwrap_err();
        assert!(
            matches!(
                EwfError::from_io(&e).and_then(EwfError::corrupt_kind),
                Some(CorruptKind::Chunk { chunk: 0, .. })
            ),
            "{e}"
        );
    }

    /// A table base offset near 2^64 overflowed when a chunk offset was
    /// added to it; it must lie inside the segment file.
    #[test]
    fn table_base_past_the_file_is_an_error_not_an_overflow() {
        let (_d, r) = open_bytes(&segment(u64::MAX - 4));
        let e = r.err().unwrap();
        assert!(
            matches!(
                &e,
                ImageError::Ewf {
                    source: EwfError::Corrupt(CorruptKind::TableBase { .. }),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("base offset"), "{e}");
    }
}
