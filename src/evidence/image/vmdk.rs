//! VMware virtual disks (VMDK), read-only: a text descriptor listing
//! extents, or a sparse extent with its descriptor embedded.
//!
//! Layout after VMware's "Virtual Disk Format 1.1" specification (all
//! integers little-endian):
//! - descriptor: `key=value` lines (`createType`, `parentCID`,
//!   `parentFileNameHint`) and extent lines `RW <sectors> SPARSE|FLAT|ZERO
//!   "file" [offset]`;
//! - sparse extent header (512 bytes): magic `KDMV`, version, flags (bit
//!   0: the newline-detection bytes are valid; bit 16: grains compressed;
//!   bit 17: markers), capacity and grain size in sectors, embedded
//!   descriptor offset/size, grain table entries per table, grain
//!   directory offset (`0xffff…` in a stream-optimized file: the real
//!   header is the footer, 1024 bytes before the end), compression
//!   algorithm (1 = deflate);
//! - grain directory → grain tables → grain sector offsets (0: not
//!   allocated, read the parent or zeros; 1: a zeroed grain); a compressed
//!   grain starts with its LBA (u64) and the compressed size (u32), then a
//!   zlib stream.
//!
//! An `.ova` (a tar of an OVF descriptor and stream-optimized VMDKs) is
//! read through the archive: the first VMDK member is a window of the tar
//! file, nothing is unpacked.

use super::ReadAt;
use super::ahead::ReadAhead;
use super::sparse::{
    Cache, Codec, DiskError, ImageFile, copy_out, data_in, decompress, read_backing,
    resolve_parent, table_fits,
};
use crate::evidence::bytes::{bytes_at, u16_le, u32_le, u64_le};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// The first four bytes of a sparse extent.
pub const SPARSE_MAGIC: [u8; 4] = *b"KDMV";
/// The first line of a text descriptor.
pub const DESCRIPTOR: &[u8] = b"# Disk DescriptorFile";
const FORMAT: &str = "vmdk";
const MAX_DESCRIPTOR: u64 = 1 << 20;
const MAX_EXTENTS: usize = 4096;
const GT_CACHE: usize = 64;
const GRAIN_CACHE: usize = 32;

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> DiskError {
    DiskError::corrupt(FORMAT, what, offset, detail)
}

/// One sparse extent: grain directory and tables.
struct SparseExtent {
    file: ImageFile,
    /// In bytes.
    capacity: u64,
    grain: u64,
    gt_entries: u64,
    gd: Vec<u32>,
    compressed: bool,
    tables: Cache,
    grains: Cache,
    ahead: ReadAhead,
}

impl SparseExtent {
    /// Reads the header (or the footer of a stream-optimized file) and
    /// the grain directory; returns the embedded descriptor too.
    fn open(file: ImageFile) -> Result<(Self, Option<String>), DiskError> {
        let mut h = file.read_vec(0, 512.min(file.size), "sparse extent header")?;
        let f = |e: crate::evidence::bytes::ShortInput| {
            corrupt("sparse extent header", 0, e.to_string())
        };
        if h.get(..4) != Some(&SPARSE_MAGIC[..]) {
            return Err(corrupt("sparse extent header", 0, "no KDMV magic"));
        }
        let descriptor_at = u64_le(&h, 28).map_err(f)?.saturating_mul(512);
        let descriptor_len = u64_le(&h, 36).map_err(f)?.saturating_mul(512);
        if u64_le(&h, 56).map_err(f)? == u64::MAX {
            // Stream-optimized: the footer (before the end-of-stream
            // marker) holds the grain directory offset.
            let at = file.size.checked_sub(1024).ok_or_else(|| {
                corrupt("footer", 0, "file too short for a stream-optimized footer")
            })?;
            h = file.read_vec(at, 512, "footer")?;
            if h.get(..4) != Some(&SPARSE_MAGIC[..]) {
                return Err(corrupt("footer", at, "no KDMV magic"));
            }
        }
        let version = u32_le(&h, 4).map_err(f)?;
        let flags = u32_le(&h, 8).map_err(f)?;
        let capacity = u64_le(&h, 12).map_err(f)?;
        let grain = u64_le(&h, 20).map_err(f)?;
        let gt_entries = u64::from(u32_le(&h, 44).map_err(f)?);
        let gd_at = u64_le(&h, 56).map_err(f)?;
        let algorithm = u16_le(&h, 77).map_err(f)?;
        if !(1..=3).contains(&version) {
            return Err(DiskError::unsupported(
                FORMAT,
                format!("sparse extent version {version}"),
            ));
        }
        if flags & 1 != 0 && bytes_at(&h, 73, 4).map_err(f)? != b"\n \r\n" {
            return Err(corrupt(
                "sparse extent header",
                73,
                "newline-detection bytes altered (transferred as text?)",
            ));
        }
        if !grain.is_power_of_two() || !(8..=1 << 16).contains(&grain) {
            return Err(corrupt(
                "sparse extent header",
                20,
                format!("grain size {grain} sectors"),
            ));
        }
        if !(1..=4096).contains(&gt_entries) {
            return Err(corrupt(
                "sparse extent header",
                44,
                format!("{gt_entries} grain table entries"),
            ));
        }
        if capacity > 1 << 54 {
            return Err(corrupt(
                "sparse extent header",
                12,
                format!("capacity {capacity} sectors"),
            ));
        }
        let compressed = flags & (1 << 16) != 0;
        if compressed && algorithm != 1 {
            return Err(DiskError::unsupported(
                FORMAT,
                format!("compression algorithm {algorithm}"),
            ));
        }
        let per_gd = grain * gt_entries;
        let gd_len = capacity.div_ceil(per_gd);
        table_fits(
            FORMAT,
            "grain directory",
            gd_at.saturating_mul(512),
            gd_len * 4,
        )?;
        let gd = file
            .read_vec(gd_at.saturating_mul(512), gd_len * 4, "grain directory")?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let descriptor = if descriptor_at != 0 && descriptor_len != 0 {
            let len = descriptor_len.min(MAX_DESCRIPTOR);
            let b = file.read_vec(descriptor_at, len, "embedded descriptor")?;
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            Some(String::from_utf8_lossy(&b[..end]).into_owned())
        } else {
            None
        };
        Ok((
            SparseExtent {
                file,
                capacity: capacity * 512,
                grain: grain * 512,
                gt_entries,
                gd,
                compressed,
                tables: Cache::new(GT_CACHE),
                grains: Cache::new(GRAIN_CACHE),
                ahead: ReadAhead::new(grain * 512, capacity.div_ceil(grain.max(1))),
            },
            descriptor,
        ))
    }

    /// The grain table entry of grain `g` and its file offset; `None`
    /// when the grain's table is not allocated.
    fn grain_entry(&self, g: u64) -> Result<Option<(u32, u64)>, DiskError> {
        let gd_index = g / self.gt_entries;
        let gde = self
            .gd
            .get(usize::try_from(gd_index).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(0);
        if gde == 0 {
            return Ok(None);
        }
        let gt_at = u64::from(gde) * 512;
        let gt_len = self.gt_entries * 4;
        if gt_at + gt_len > self.file.size {
            return Err(corrupt(
                format!("grain directory entry {gd_index}"),
                gt_at,
                format!(
                    "grain table lies past the end of {} ({} bytes)",
                    self.file.name(),
                    self.file.size
                ),
            ));
        }
        let table = self
            .tables
            .get(gt_at, || self.file.read_vec(gt_at, gt_len, "grain table"))?;
        let slot = (g % self.gt_entries) as usize;
        let gte =
            u32_le(&table, slot * 4).map_err(|e| corrupt("grain table", gt_at, e.to_string()))?;
        Ok(Some((gte, gt_at + slot as u64 * 4)))
    }

    /// The bytes of the first `len` this extent stores as grains (zero
    /// grains and unallocated ones are not data).
    fn data_bytes(&self, len: u64) -> Result<u64, DiskError> {
        data_in(len, self.grain, |g| {
            Ok(match self.grain_entry(g)? {
                Some((gte, _)) if gte > 1 => self.grain,
                _ => 0,
            })
        })
    }

    /// Decompresses grain `g` into the cache if it is stored compressed
    /// (read ahead; a failure is left for the reader to report).
    fn warm(&self, g: u64) {
        if self.compressed
            && let Ok(Some((gte, _))) = self.grain_entry(g)
            && gte > 1
        {
            let _ = self.read(&mut [0u8; 1], g * self.grain, None, 0);
        }
    }

    /// Fills `buf` from `pos` of this extent (inside one grain);
    /// unallocated grains come from `parent` at `parent_at`.
    fn read(
        &self,
        buf: &mut [u8],
        pos: u64,
        parent: Option<&Arc<dyn ReadAt>>,
        parent_at: u64,
    ) -> Result<(), DiskError> {
        let g = pos / self.grain;
        let within = pos % self.grain;
        let Some((gte, entry_at)) = self.grain_entry(g)? else {
            return read_backing(parent, buf, parent_at);
        };
        let slot = g % self.gt_entries;
        let what = || format!("grain table entry {slot} (grain {g})");
        match gte {
            0 => return read_backing(parent, buf, parent_at),
            1 => {
                buf.fill(0);
                return Ok(());
            }
            _ => {}
        }
        let at = u64::from(gte) * 512;
        if self.compressed {
            let head = self
                .file
                .read_vec(at, 12, "compressed grain header")
                .map_err(|_| {
                    corrupt(
                        what(),
                        entry_at,
                        format!(
                            "compressed grain at {at} lies past the end of {} ({} bytes)",
                            self.file.name(),
                            self.file.size
                        ),
                    )
                })?;
            let lba = u64_le(&head, 0).unwrap_or(u64::MAX);
            let size = u64::from(u32_le(&head, 8).unwrap_or(u32::MAX));
            if lba != g * (self.grain / 512) {
                return Err(corrupt(
                    what(),
                    entry_at,
                    format!(
                        "compressed grain at {at} is for sector {lba}, not {}",
                        g * (self.grain / 512)
                    ),
                ));
            }
            if size > self.grain * 2 + 4096 || at + 12 + size > self.file.size {
                return Err(corrupt(
                    what(),
                    entry_at,
                    format!(
                        "compressed grain at {at} of {size} bytes runs past the end of {} ({} bytes)",
                        self.file.name(),
                        self.file.size
                    ),
                ));
            }
            let out_len = self.grain.min(self.capacity - g * self.grain) as usize;
            let data = self.grains.get(at, || {
                let input = self.file.read_vec(at + 12, size, "compressed grain")?;
                decompress(Codec::Zlib, &input, out_len).map_err(|d| {
                    corrupt(what(), entry_at, format!("compressed grain at {at}: {d}"))
                })
            })?;
            return copy_out(&data, within, buf);
        }
        if at + within + buf.len() as u64 > self.file.size {
            return Err(corrupt(
                what(),
                entry_at,
                format!(
                    "grain at {at} lies past the end of {} ({} bytes)",
                    self.file.name(),
                    self.file.size
                ),
            ));
        }
        self.file.read_exact(buf, at + within, "grain")
    }
}

enum Extent {
    Sparse(Arc<SparseExtent>),
    Flat { file: ImageFile, offset: u64 },
    Zero,
}

struct Piece {
    start: u64,
    len: u64,
    extent: Extent,
}

/// A VMDK disk: its extents end to end, and the parent for unallocated
/// grains.
pub struct Vmdk {
    pieces: Vec<Piece>,
    size: u64,
    name: String,
    create_type: String,
    parent_hint: Option<String>,
    files: Vec<std::path::PathBuf>,
    ova_note: Option<String>,
    parent: Option<Arc<dyn ReadAt>>,
}

/// What a descriptor says.
#[derive(Default)]
struct Descriptor {
    create_type: String,
    parent_cid: Option<String>,
    parent_hint: Option<String>,
    /// (access, sectors, type, file, offset in sectors)
    extents: Vec<(String, u64, String, String, u64)>,
}

fn parse_descriptor(text: &str) -> Result<Descriptor, DiskError> {
    let mut d = Descriptor::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or_default();
        if matches!(first, "RW" | "RDONLY" | "NOACCESS") {
            if d.extents.len() >= MAX_EXTENTS {
                return Err(corrupt("descriptor", n as u64, "too many extents"));
            }
            let bad = || {
                corrupt(
                    "descriptor extent line",
                    n as u64 + 1,
                    format!("cannot parse {:?}", crate::escape::visible(line)),
                )
            };
            let mut words = line
                .splitn(4, char::is_whitespace)
                .filter(|w| !w.is_empty());
            let access = words.next().ok_or_else(bad)?.to_string();
            let sectors: u64 = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            let kind = words.next().ok_or_else(bad)?.to_string();
            let rest = words.next().unwrap_or_default().trim();
            let (file, offset) = if let Some(r) = rest.strip_prefix('"') {
                let end = r.find('"').ok_or_else(bad)?;
                let off = r[end + 1..].trim();
                let off = if off.is_empty() {
                    0
                } else {
                    off.parse().map_err(|_| bad())?
                };
                (r[..end].to_string(), off)
            } else {
                (String::new(), 0)
            };
            d.extents.push((access, sectors, kind, file, offset));
        } else if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "createType" => d.create_type = v,
                "parentCID" => d.parent_cid = Some(v),
                "parentFileNameHint" => d.parent_hint = Some(v),
                _ => {}
            }
        }
    }
    Ok(d)
}

impl Vmdk {
    /// Opens a sparse extent file (`KDMV`), a text descriptor, or an OVA.
    pub(crate) fn open(path: &Path, kind: Kind) -> Result<Self, DiskError> {
        let file = ImageFile::open(path, FORMAT)?;
        match kind {
            Kind::Sparse => Self::from_sparse(file, None),
            Kind::Ova => {
                let (window, note) = ova_member(&file)?;
                Self::from_sparse(window, Some(note))
            }
            Kind::Descriptor => {
                if file.size > MAX_DESCRIPTOR {
                    return Err(corrupt(
                        "descriptor",
                        0,
                        format!("{} bytes (too large)", file.size),
                    ));
                }
                let text = file.read_vec(0, file.size, "descriptor")?;
                let d = parse_descriptor(&String::from_utf8_lossy(&text))?;
                Self::from_descriptor(path, d)
            }
        }
    }

    fn from_sparse(file: ImageFile, ova_note: Option<String>) -> Result<Self, DiskError> {
        let name = file.name();
        let path = file.path.clone();
        let (sparse, embedded) = SparseExtent::open(file)?;
        let d = match &embedded {
            Some(t) => parse_descriptor(t)?,
            None => Descriptor::default(),
        };
        let size = sparse.capacity;
        Ok(Vmdk {
            pieces: vec![Piece {
                start: 0,
                len: size,
                extent: Extent::Sparse(Arc::new(sparse)),
            }],
            size,
            name,
            create_type: d.create_type,
            parent_hint: parent_of(&d.parent_cid, d.parent_hint),
            files: vec![path],
            ova_note,
            parent: None,
        })
    }

    fn from_descriptor(path: &Path, d: Descriptor) -> Result<Self, DiskError> {
        let mut pieces = Vec::new();
        let mut files = vec![path.to_path_buf()];
        let mut start = 0u64;
        // Each file is opened (and a sparse one's grain directory read)
        // once, however often the descriptor names it.
        let mut opened: std::collections::HashMap<String, ImageFile> = Default::default();
        let mut sparse: std::collections::HashMap<String, Arc<SparseExtent>> = Default::default();
        for (access, sectors, kind, name, offset) in &d.extents {
            let len = sectors
                .checked_mul(512)
                .ok_or_else(|| corrupt("descriptor", 0, "extent size overflows"))?;
            let mut open = |files: &mut Vec<std::path::PathBuf>| -> Result<ImageFile, DiskError> {
                if let Some(f) = opened.get(name) {
                    return Ok(f.clone());
                }
                let p = resolve_parent(path, name, None, FORMAT, "extent")?;
                let f = ImageFile::open(&p, FORMAT)?;
                files.push(p);
                opened.insert(name.clone(), f.clone());
                Ok(f)
            };
            let extent = match (access.as_str(), kind.as_str()) {
                ("NOACCESS", _) | (_, "ZERO") => Extent::Zero,
                (_, "SPARSE") => {
                    let s = match sparse.get(name) {
                        Some(s) => s.clone(),
                        None => {
                            let f = open(&mut files)?;
                            let s = Arc::new(SparseExtent::open(f)?.0);
                            sparse.insert(name.clone(), s.clone());
                            s
                        }
                    };
                    if s.capacity < len {
                        return Err(corrupt(
                            "sparse extent",
                            0,
                            format!(
                                "{} holds {} bytes, the descriptor says {len}",
                                s.file.name(),
                                s.capacity
                            ),
                        ));
                    }
                    Extent::Sparse(s)
                }
                (_, "FLAT" | "VMFS") => {
                    let f = open(&mut files)?;
                    let offset = offset.saturating_mul(512);
                    if offset.checked_add(len).is_none_or(|e| e > f.size) {
                        return Err(DiskError::Truncated {
                            format: FORMAT,
                            what: "flat extent".into(),
                            file: f.name(),
                            start: offset,
                            end: offset.saturating_add(len),
                            size: f.size,
                        });
                    }
                    Extent::Flat { file: f, offset }
                }
                (_, other) => {
                    return Err(DiskError::unsupported(
                        FORMAT,
                        format!("extent type {}", crate::escape::visible(other)),
                    ));
                }
            };
            pieces.push(Piece { start, len, extent });
            start = start
                .checked_add(len)
                .ok_or_else(|| corrupt("descriptor", 0, "disk size overflows"))?;
        }
        if pieces.is_empty() {
            return Err(corrupt("descriptor", 0, "no extents"));
        }
        Ok(Vmdk {
            pieces,
            size: start,
            name: path.display().to_string(),
            create_type: d.create_type,
            parent_hint: parent_of(&d.parent_cid, d.parent_hint),
            files,
            ova_note: None,
            parent: None,
        })
    }

    /// The parent recorded (`parentFileNameHint`), for a delta link.
    pub fn parent_name(&self) -> Option<&str> {
        self.parent_hint.as_deref()
    }

    /// Sets the medium read where a grain is not allocated.
    pub(crate) fn set_parent(&mut self, parent: Arc<dyn ReadAt>) {
        self.parent = Some(parent);
    }

    /// The descriptor and every extent file.
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        self.files.clone()
    }

    pub fn info(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = &self.ova_note {
            out.push(n.clone());
        }
        out.push(format!(
            "vmdk {}: virtual size {} bytes, {} extent(s)",
            crate::escape::visible(if self.create_type.is_empty() {
                "sparse"
            } else {
                &self.create_type
            }),
            self.size,
            self.pieces.len()
        ));
        if let Some(p) = &self.parent_hint {
            out.push(format!("parent recorded: {}", crate::escape::visible(p)));
        }
        out
    }
}

fn parent_of(cid: &Option<String>, hint: Option<String>) -> Option<String> {
    match cid.as_deref() {
        Some(c) if !c.eq_ignore_ascii_case("ffffffff") => hint,
        _ => None,
    }
}

impl ReadAt for Vmdk {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let idx = self
            .pieces
            .partition_point(|p| p.start <= offset)
            .saturating_sub(1);
        let Some(p) = self.pieces.get(idx) else {
            return Ok(0);
        };
        let within = offset - p.start;
        let mut n = (p.len - within).min(buf.len() as u64) as usize;
        let buf = &mut buf[..n];
        match &p.extent {
            Extent::Zero => buf.fill(0),
            Extent::Flat { file, offset: base } => {
                file.read_exact(buf, base + within, "flat extent")
                    .map_err(super::sparse::to_io)?;
            }
            Extent::Sparse(s) => {
                if s.compressed {
                    s.ahead.follow(within / s.grain, s, SparseExtent::warm);
                }
                let left = s.grain - within % s.grain;
                n = n.min(left as usize);
                s.read(&mut buf[..n], within, self.parent.as_ref(), offset)
                    .map_err(super::sparse::to_io)?;
            }
        }
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn allocated(&self) -> Option<io::Result<u64>> {
        let mut total = 0u64;
        for p in &self.pieces {
            total += match &p.extent {
                Extent::Zero => 0,
                Extent::Flat { .. } => p.len,
                Extent::Sparse(s) => match s.data_bytes(p.len) {
                    Ok(n) => n,
                    Err(e) => return Some(Err(super::sparse::to_io(e))),
                },
            };
        }
        Some(Ok(total))
    }
}

/// What a VMDK file starts with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Sparse,
    Descriptor,
    Ova,
}

/// The first VMDK member of an OVA (tar) archive, as a window of the file.
fn ova_member(tar: &ImageFile) -> Result<(ImageFile, String), DiskError> {
    let mut at = 0u64;
    let mut long_name: Option<String> = None;
    let mut disks = Vec::new();
    let mut first = None;
    for _ in 0..100_000 {
        if at + 512 > tar.size {
            break;
        }
        let h = tar.read_vec(at, 512, "tar header")?;
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let field = |o: usize, l: usize| {
            let b = &h[o..o + l];
            let end = b.iter().position(|c| *c == 0).unwrap_or(l);
            String::from_utf8_lossy(&b[..end]).into_owned()
        };
        let size_text = field(124, 12);
        let size = u64::from_str_radix(size_text.trim(), 8)
            .map_err(|_| corrupt("OVA tar header", at, "bad size field"))?;
        let data = at + 512;
        if data.checked_add(size).is_none_or(|e| e > tar.size) {
            return Err(DiskError::Truncated {
                format: "ova",
                what: "tar member".into(),
                file: tar.name(),
                start: data,
                end: data.saturating_add(size),
                size: tar.size,
            });
        }
        let typeflag = h[156];
        let mut name = field(0, 100);
        if &h[257..262] == b"ustar" {
            let prefix = field(345, 155);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(l) = long_name.take() {
            name = l;
        }
        if typeflag == b'L' {
            let b = tar.read_vec(data, size.min(4096), "tar long name")?;
            let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
            long_name = Some(String::from_utf8_lossy(&b[..end]).into_owned());
        } else if matches!(typeflag, b'0' | 0) && name.to_ascii_lowercase().ends_with(".vmdk") {
            disks.push(name.clone());
            if first.is_none() {
                first = Some((data, size, name));
            }
        }
        at = data + size.div_ceil(512) * 512;
    }
    let (data, size, name) = first.ok_or_else(|| corrupt("OVA", 0, "no .vmdk member"))?;
    let window = tar.window(data, size, FORMAT)?;
    let mut note = format!(
        "ova: member {} at offset {data} ({size} bytes) read",
        crate::escape::visible(&name)
    );
    if disks.len() > 1 {
        note.push_str(&format!(
            "; {} more disk(s) in the archive not read: {}",
            disks.len() - 1,
            crate::escape::visible(&disks[1..].join(", "))
        ));
    }
    Ok((window, note))
}
