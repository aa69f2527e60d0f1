//! Expert Witness Format version 1 (EnCase 6 `.E01`, `.E02`, …), read-only.
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

use super::{ImageError, ReadAt};
use lru::LruCache;
use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The first eight bytes of every EWF v1 segment file.
pub const SIGNATURE: [u8; 8] = *b"EVF\x09\x0d\x0a\xff\x00";

const DESCRIPTOR_LEN: u64 = 76;
const CHUNK_CACHE: usize = 32;
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
    base: u64,
    /// End of the chunk data the table refers to (end of its `sectors`).
    data_end: u64,
}

/// An EWF v1 image, all segments, as one [`ReadAt`] medium.
pub struct EwfImage {
    segments: Vec<Segment>,
    tables: Vec<Table>,
    chunk_size: u64,
    chunk_count: u64,
    media_size: u64,
    acquisition: Acquisition,
    chunks: Mutex<LruCache<u64, Arc<Vec<u8>>>>,
    table_cache: Mutex<LruCache<usize, Arc<Vec<u32>>>>,
}

fn corrupt(path: &Path, detail: String) -> ImageError {
    ImageError::Corrupt {
        path: path.display().to_string(),
        detail,
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
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
/// `.EAA`…`.EZZ`, `.FAA`…, keeping the case of the first extension.
pub fn segment_path(first: &Path, n: u32) -> Option<PathBuf> {
    let ext = first.extension()?.to_str()?;
    let lower = ext.starts_with('e');
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

impl EwfImage {
    /// Opens the first segment `path` and every following one.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let mut img = EwfImage {
            segments: Vec::new(),
            tables: Vec::new(),
            chunk_size: 0,
            chunk_count: 0,
            media_size: 0,
            acquisition: Acquisition {
                format: "EWF v1 (EnCase 6)".into(),
                ..Default::default()
            },
            chunks: Mutex::new(LruCache::new(
                NonZeroUsize::new(CHUNK_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
            table_cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(TABLE_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
        };
        let mut seg_path = path.to_path_buf();
        let mut number = 1u32;
        let mut next_chunk = 0u64;
        loop {
            let file = File::open(&seg_path).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound && number > 1 {
                    ImageError::MissingSegment {
                        path: seg_path.display().to_string(),
                        previous: img
                            .segments
                            .last()
                            .map(|s| s.path.display().to_string())
                            .unwrap_or_default(),
                    }
                } else {
                    ImageError::io(&seg_path, e)
                }
            })?;
            let size = file
                .metadata()
                .map_err(|e| ImageError::io(&seg_path, e))?
                .len();
            img.segments.push(Segment {
                file,
                path: seg_path.clone(),
                size,
            });
            let idx = img.segments.len() - 1;
            let more = img.read_segment(idx, number, &mut next_chunk)?;
            if !more {
                break;
            }
            number += 1;
            seg_path = segment_path(path, number)
                .ok_or_else(|| corrupt(path, format!("no name for segment {number}")))?;
        }
        if img.chunk_size == 0 {
            return Err(corrupt(
                path,
                "no volume section (chunk geometry unknown)".into(),
            ));
        }
        if next_chunk != img.chunk_count {
            return Err(corrupt(
                path,
                format!(
                    "the tables list {next_chunk} chunks but the volume section says {}",
                    img.chunk_count
                ),
            ));
        }
        if img.media_size > img.chunk_count.saturating_mul(img.chunk_size) {
            return Err(corrupt(path, "media size exceeds the chunks stored".into()));
        }
        img.acquisition.segments = img
            .segments
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        img.acquisition.media_size = img.media_size;
        img.acquisition.chunk_size = img.chunk_size as u32;
        Ok(img)
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
        let seg = &self.segments[idx];
        if off.checked_add(len).is_none_or(|end| end > seg.size) {
            return Err(ImageError::Truncated {
                path: seg.path.display().to_string(),
                detail: format!(
                    "needs bytes {off}..{} but the file has {} bytes",
                    off.saturating_add(len),
                    seg.size
                ),
            });
        }
        let mut buf = vec![0u8; len as usize];
        seg.file
            .read_exact_at(&mut buf, off)
            .map_err(|e| ImageError::io(&seg.path, e))?;
        Ok(buf)
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
        if head[..8] != SIGNATURE {
            return Err(corrupt(
                &path,
                "not an EWF v1 segment (signature missing)".into(),
            ));
        }
        let seg_no = u16::from_le_bytes([head[9], head[10]]);
        if u32::from(seg_no) != number {
            return Err(corrupt(
                &path,
                format!("segment number {seg_no} in the file, expected {number}"),
            ));
        }
        let mut off = 13u64;
        let mut last_sectors_end: Option<u64> = None;
        let mut seen = 0usize;
        loop {
            seen += 1;
            if seen > 1_000_000 {
                return Err(corrupt(&path, "too many sections (loop?)".into()));
            }
            let d = self.seg_read(idx, off, DESCRIPTOR_LEN)?;
            if !sum_ok(adler32(&d[..72]), le_u32(&d, 72)) {
                return Err(corrupt(
                    &path,
                    format!("section descriptor at offset {off}: checksum mismatch"),
                ));
            }
            let kind: Vec<u8> = d[..16].iter().copied().take_while(|b| *b != 0).collect();
            let next = le_u64(&d, 16);
            let size = le_u64(&d, 24);
            let body_len = size.saturating_sub(DESCRIPTOR_LEN);
            let body_at = off + DESCRIPTOR_LEN;
            match kind.as_slice() {
                b"header2" | b"header" if number == 1 => {
                    if body_len > MAX_HEADER {
                        return Err(corrupt(
                            &path,
                            format!(
                                "{} section at {off} too large",
                                String::from_utf8_lossy(&kind)
                            ),
                        ));
                    }
                    let body = self.seg_read(idx, body_at, body_len)?;
                    let text = inflate_header(&body, kind == b"header2")
                        .map_err(|e| corrupt(&path, format!("header section at {off}: {e}")))?;
                    // header2 (Unicode) wins over header when both exist.
                    if kind == b"header2" || self.acquisition.case_number.is_none() {
                        parse_header_text(&text, kind == b"header2", &mut self.acquisition);
                    }
                }
                b"volume" | b"disk" => {
                    let body = self.seg_read(idx, body_at, body_len.min(1052))?;
                    if body.len() < 24 {
                        return Err(corrupt(&path, format!("volume section at {off} too short")));
                    }
                    if body.len() == 1052 && !sum_ok(adler32(&body[..1048]), le_u32(&body, 1048)) {
                        return Err(corrupt(
                            &path,
                            format!("volume section at {off}: checksum mismatch"),
                        ));
                    }
                    let chunks = u64::from(le_u32(&body, 4));
                    let spc = u64::from(le_u32(&body, 8));
                    let bps = le_u32(&body, 12);
                    let sectors = le_u64(&body, 16);
                    let chunk_size = spc * u64::from(bps);
                    if chunk_size == 0 || chunk_size > MAX_CHUNK {
                        return Err(corrupt(
                            &path,
                            format!("volume section: chunk size {chunk_size} unsupported"),
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
                    if !sum_ok(adler32(&h[..20]), le_u32(&h, 20)) {
                        return Err(corrupt(
                            &path,
                            format!("table section at {off}: header checksum mismatch"),
                        ));
                    }
                    let count = le_u32(&h, 0);
                    let base = le_u64(&h, 8);
                    // chunk offsets are `base` + 31 bits, inside this file
                    if base >= self.segments[idx].size {
                        return Err(corrupt(
                            &path,
                            format!(
                                "table section at {off}: base offset {base} lies past the end of the file"
                            ),
                        ));
                    }
                    if 24 + 4 * u64::from(count) > body_len {
                        return Err(corrupt(
                            &path,
                            format!("table section at {off}: {count} entries do not fit"),
                        ));
                    }
                    self.tables.push(Table {
                        segment: idx,
                        first_chunk: *next_chunk,
                        count,
                        entries_at: body_at + 24,
                        base,
                        data_end: last_sectors_end.unwrap_or(off),
                    });
                    *next_chunk += u64::from(count);
                }
                b"hash" => {
                    let body = self.seg_read(idx, body_at, body_len.min(36))?;
                    if body.len() >= 16 && self.acquisition.md5.is_none() {
                        self.acquisition.md5 = Some(hex::encode(&body[..16]));
                    }
                }
                b"digest" => {
                    let body = self.seg_read(idx, body_at, body_len.min(80))?;
                    if body.len() >= 36 {
                        self.acquisition.md5 = Some(hex::encode(&body[..16]));
                        self.acquisition.sha1 = Some(hex::encode(&body[16..36]));
                    }
                }
                b"next" => return Ok(true),
                b"done" => return Ok(false),
                _ => {}
            }
            if next <= off {
                return Err(corrupt(
                    &path,
                    format!(
                        "section at {off} points back to {next} and the segment has no 'done' or 'next'"
                    ),
                ));
            }
            off = next;
            if off >= self.segments[idx].size {
                return Err(ImageError::Truncated {
                    path: path.display().to_string(),
                    detail: format!(
                        "the section chain continues at {off}, past the end of the file, without 'done' or 'next'"
                    ),
                });
            }
        }
    }

    /// The (verified) entries of table `t`.
    fn table_entries(&self, t: usize) -> io::Result<Arc<Vec<u32>>> {
        if let Some(e) = self.table_cache.lock().map_err(poisoned)?.get(&t) {
            return Ok(e.clone());
        }
        let table = &self.tables[t];
        let seg = &self.segments[table.segment];
        let len = 4 * u64::from(table.count) + 4;
        let raw = self
            .seg_read(table.segment, table.entries_at, len)
            .map_err(to_io)?;
        let (entries, sum) = raw.split_at(raw.len() - 4);
        if !sum_ok(adler32(entries), le_u32(sum, 0)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: table of chunks {}..{}: entries checksum mismatch",
                    seg.path.display(),
                    table.first_chunk,
                    table.first_chunk + u64::from(table.count)
                ),
            ));
        }
        let v: Arc<Vec<u32>> = Arc::new(entries.chunks_exact(4).map(|c| le_u32(c, 0)).collect());
        self.table_cache.lock().map_err(poisoned)?.put(t, v.clone());
        Ok(v)
    }

    /// Chunk `n`, decompressed and checked.
    fn chunk(&self, n: u64) -> io::Result<Arc<Vec<u8>>> {
        if let Some(c) = self.chunks.lock().map_err(poisoned)?.get(&n) {
            return Ok(c.clone());
        }
        let media_off = n * self.chunk_size;
        let bad = |detail: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("EWF chunk {n} (media offset {media_off}): {detail}"),
            )
        };
        let t = self
            .tables
            .partition_point(|t| t.first_chunk <= n)
            .checked_sub(1)
            .ok_or_else(|| bad("in no table".into()))?;
        let table = &self.tables[t];
        let entries = self.table_entries(t)?;
        let i = (n - table.first_chunk) as usize;
        let entry = *entries.get(i).ok_or_else(|| bad("in no table".into()))?;
        let compressed = entry & 0x8000_0000 != 0;
        let start = table.base + u64::from(entry & 0x7fff_ffff);
        let end = match entries.get(i + 1) {
            Some(e) => table.base + u64::from(e & 0x7fff_ffff),
            None => table.data_end,
        };
        let expect = (self.media_size - media_off).min(self.chunk_size) as usize;
        if end <= start || end - start > self.chunk_size + 4096 {
            return Err(bad(format!("stored at {start}..{end}: implausible extent")));
        }
        let seg = &self.segments[table.segment];
        let stored = self
            .seg_read(table.segment, start, end - start)
            .map_err(|e| bad(format!("{e}")))?;
        let data = if compressed {
            let mut d = flate2::Decompress::new(true);
            let mut out = Vec::with_capacity(self.chunk_size as usize);
            let status = d
                .decompress_vec(&stored, &mut out, flate2::FlushDecompress::Finish)
                .map_err(|e| {
                    bad(format!(
                        "zlib stream in {} at {start}: {e}",
                        seg.path.display()
                    ))
                })?;
            let used = d.total_in() as usize;
            if status != flate2::Status::StreamEnd || used < 6 {
                return Err(bad(format!(
                    "zlib stream in {} at {start} is incomplete",
                    seg.path.display()
                )));
            }
            let want = u32::from_be_bytes([
                stored[used - 4],
                stored[used - 3],
                stored[used - 2],
                stored[used - 1],
            ]);
            if !sum_ok(adler32(&out), want) {
                return Err(bad(format!(
                    "Adler-32 mismatch in {} at {start}",
                    seg.path.display()
                )));
            }
            out
        } else {
            if stored.len() < 4 {
                return Err(bad("uncompressed chunk too short".into()));
            }
            let (data, sum) = stored.split_at(stored.len() - 4);
            let data = &data[..data.len().min(self.chunk_size as usize)];
            if !sum_ok(adler32(data), le_u32(sum, 0)) {
                return Err(bad(format!(
                    "checksum mismatch in {} at {start}",
                    seg.path.display()
                )));
            }
            data.to_vec()
        };
        if data.len() < expect {
            return Err(bad(format!(
                "holds {} bytes, expected {expect}",
                data.len()
            )));
        }
        let data = Arc::new(data);
        self.chunks.lock().map_err(poisoned)?.put(n, data.clone());
        Ok(data)
    }
}

fn poisoned<T>(_: T) -> io::Error {
    io::Error::other("EWF cache lock poisoned")
}

fn to_io(e: ImageError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
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
            let chunk = self.chunk(n)?;
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

fn inflate_header(body: &[u8], utf16: bool) -> io::Result<String> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_HEADER)
        .read_to_end(&mut raw)?;
    if utf16 {
        let mut units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if units.first() == Some(&0xfeff) {
            units.remove(0);
        }
        Ok(String::from_utf16_lossy(&units))
    } else {
        Ok(raw.iter().map(|&b| b as char).collect())
    }
}

/// Fills `acq` from the "main" category of a header text: a line of
/// identifiers and a line of values, tab-separated.
fn parse_header_text(text: &str, header2: bool, acq: &mut Acquisition) {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let Some(main) = lines.iter().position(|l| *l == "main") else {
        return;
    };
    let (Some(keys), Some(values)) = (lines.get(main + 1), lines.get(main + 2)) else {
        return;
    };
    for (k, v) in keys.split('\t').zip(values.split('\t')) {
        if v.is_empty() {
            continue;
        }
        let v = Some(v.to_string());
        match k {
            "c" => acq.case_number = v,
            "n" => acq.evidence_number = v,
            "a" => acq.description = v,
            "e" => acq.examiner = v,
            "t" => acq.notes = v,
            "av" => acq.acquisition_software = v,
            "ov" => acq.acquisition_os = v,
            "md" => acq.model = v,
            "sn" => acq.serial_number = v,
            "u" => acq.system_date = v,
            "m" => {
                acq.acquisition_date_utc = None;
                if header2 {
                    acq.acquisition_date_utc = v
                        .as_deref()
                        .and_then(|s| s.parse::<i64>().ok())
                        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                        .map(|d| d.to_rfc3339());
                }
                acq.acquisition_date = v;
            }
            _ => {}
        }
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
        assert!(img.read_at(&mut b, 0).is_err());
    }

    /// A table base offset near 2^64 overflowed when a chunk offset was
    /// added to it; it must lie inside the segment file.
    #[test]
    fn table_base_past_the_file_is_an_error_not_an_overflow() {
        let (_d, r) = open_bytes(&segment(u64::MAX - 4));
        let e = r.err().unwrap().to_string();
        assert!(e.contains("base offset"), "{e}");
    }
}
