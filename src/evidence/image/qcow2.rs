//! QCOW2 (QEMU copy-on-write, versions 2 and 3), read-only.
//!
//! Layout after QEMU's `docs/interop/qcow2.txt` (all integers big-endian):
//! - header: magic `QFI\xfb`, version, backing file name offset and size,
//!   `cluster_bits`, virtual size, encryption method, L1 size and offset,
//!   refcount table, snapshot count and offset; version 3 adds feature
//!   bits, `header_length` and (byte 104) the compression type (0 deflate,
//!   1 zstd);
//! - the L1 table: one entry per L2 table (bits 9–55 its offset, 0 = none);
//! - an L2 table is one cluster of entries, one per data cluster: bit 62
//!   compressed, bits 9–55 the cluster's offset (0 = unallocated: read the
//!   backing file, or zeros), bit 0 (v3) "reads as zeros"; a compressed
//!   entry holds the offset in its low `62 - (cluster_bits - 8)` bits and
//!   the count of extra 512-byte sectors above them;
//! - snapshots: a table of entries (L1 table offset and size, id, name,
//!   date, and in v3 the virtual size at snapshot time).
//!
//! With the extended-L2 feature an entry is 16 bytes: the descriptor, then
//! a bitmap of 32 subclusters (bits 0–31 allocated, 32–63 read as zeros).
//!
//! Refcounts are not needed to read and are not checked. Encrypted images
//! and external data files are refused as unsupported.

use super::ReadAt;
use super::sparse::{
    Blocks, Cache, Codec, DiskError, ImageFile, copy_out, decompress, read_backing,
};
use crate::evidence::bytes::{u8_at, u16_be, u32_be, u64_be};
use std::sync::Arc;

/// The first four bytes of a QCOW2 (and QCOW1) image.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
const FORMAT: &str = "qcow2";
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED: u64 = 1 << 62;
const ZERO: u64 = 1;
/// QEMU's bound on the L1 table (`QCOW_MAX_L1_SIZE`, 32 MiB).
const MAX_L1_BYTES: u64 = 32 << 20;
/// QEMU's bound on the snapshot count (`QCOW_MAX_SNAPSHOTS`).
const MAX_SNAPSHOTS: u32 = 65536;
const L2_CACHE: usize = 64;
const CLUSTER_CACHE: usize = 32;

/// An internal snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub id: String,
    pub name: String,
    /// Seconds since the epoch, when it was taken.
    pub date: u32,
    /// The virtual disk size at that time (v3), else the current one.
    pub disk_size: u64,
    #[serde(skip)]
    l1_offset: u64,
    #[serde(skip)]
    l1_size: u32,
}

/// A QCOW2 image as a block device (its backing file set afterwards).
pub struct Qcow2 {
    file: ImageFile,
    version: u32,
    cluster_bits: u32,
    /// Extended L2 entries: 16 bytes, with a bitmap of 32 subclusters.
    extended: bool,
    size: u64,
    l1: Vec<u64>,
    codec: Codec,
    backing_name: Option<String>,
    backing_format: Option<String>,
    snapshots: Vec<Snapshot>,
    /// The snapshot read, when not the current state.
    reading: Option<String>,
    parent: Option<Arc<dyn ReadAt>>,
    l2_cache: Cache,
    clusters: Cache,
}

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> DiskError {
    DiskError::corrupt(FORMAT, what, offset, detail)
}

fn short(at: u64) -> impl Fn(crate::evidence::bytes::ShortInput) -> DiskError {
    move |e| corrupt("header", at, e.to_string())
}

impl Qcow2 {
    /// Reads the header, the snapshot table and the L1 table of the current
    /// state, or of snapshot `snapshot` (by name or id).
    pub(crate) fn open(file: ImageFile, snapshot: Option<&str>) -> Result<Self, DiskError> {
        let head = file.read_vec(0, 104.min(file.size), "header")?;
        if head.get(..4) != Some(&MAGIC[..]) {
            return Err(corrupt("header", 0, "no QCOW2 magic"));
        }
        let be32 = |at| u32_be(&head, at).map_err(short(at as u64));
        let be64 = |at| u64_be(&head, at).map_err(short(at as u64));
        let version = be32(4)?;
        if version == 1 {
            return Err(DiskError::unsupported(FORMAT, "QCOW version 1"));
        }
        if !(2..=3).contains(&version) {
            return Err(DiskError::unsupported(FORMAT, format!("version {version}")));
        }
        let backing_offset = be64(8)?;
        let backing_size = be32(16)?;
        let cluster_bits = be32(20)?;
        if !(9..=21).contains(&cluster_bits) {
            return Err(corrupt(
                "header",
                20,
                format!("cluster_bits {cluster_bits} outside 9..21"),
            ));
        }
        let cs = 1u64 << cluster_bits;
        let size = be64(24)?;
        if be32(32)? != 0 {
            return Err(DiskError::unsupported(FORMAT, "encrypted image"));
        }
        let l1_size = be32(36)?;
        let l1_offset = be64(40)?;
        let nb_snapshots = be32(60)?;
        let snapshots_offset = be64(64)?;
        let mut codec = Codec::Deflate;
        let mut header_length = 72u64;
        let mut extended = false;
        if version >= 3 {
            let incompatible = be64(72)?;
            header_length = u64::from(be32(100)?);
            if header_length < 104 || header_length > cs {
                return Err(corrupt(
                    "header",
                    100,
                    format!("header_length {header_length}"),
                ));
            }
            // Bit 0 dirty (refcounts only), bit 1 marked corrupt (a
            // writer's flag; reading continues), bit 3 compression type.
            if incompatible & 0b100 != 0 {
                return Err(DiskError::unsupported(FORMAT, "external data file"));
            }
            extended = incompatible & 0b1_0000 != 0;
            if extended && cluster_bits < 14 {
                return Err(corrupt(
                    "header",
                    20,
                    "extended L2 entries need clusters of at least 16 KiB",
                ));
            }
            let unknown = incompatible & !0b1_1011;
            if unknown != 0 {
                return Err(DiskError::unsupported(
                    FORMAT,
                    format!("incompatible feature bits {unknown:#x}"),
                ));
            }
            if incompatible & 0b1000 != 0 {
                let t = file.read_vec(104, 1, "compression type")?;
                codec = match u8_at(&t, 0).map_err(short(104))? {
                    0 => Codec::Deflate,
                    1 => Codec::Zstd,
                    other => {
                        return Err(DiskError::unsupported(
                            FORMAT,
                            format!("compression type {other}"),
                        ));
                    }
                };
            }
        }
        let backing_name = if backing_offset != 0 && backing_size != 0 {
            if backing_size > 1023 {
                return Err(corrupt(
                    "backing file name",
                    16,
                    format!("{backing_size} bytes (at most 1023)"),
                ));
            }
            let b = file.read_vec(backing_offset, backing_size.into(), "backing file name")?;
            Some(String::from_utf8_lossy(&b).into_owned())
        } else {
            None
        };
        let backing_format = read_extensions(&file, header_length, cs)?;
        let snapshots = read_snapshots(&file, nb_snapshots, snapshots_offset, version, size)?;
        let (l1_offset, l1_size, size, reading) = match snapshot {
            None => (l1_offset, l1_size, size, None),
            Some(want) => {
                let s = snapshots
                    .iter()
                    .find(|s| s.name == want)
                    .or_else(|| snapshots.iter().find(|s| s.id == want))
                    .ok_or_else(|| DiskError::NoSnapshot {
                        format: FORMAT,
                        name: crate::escape::visible(want).into_owned(),
                        known: if snapshots.is_empty() {
                            "none".into()
                        } else {
                            snapshots
                                .iter()
                                .map(|s| crate::escape::visible(&s.name).into_owned())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    })?;
                (s.l1_offset, s.l1_size, s.disk_size, Some(s.name.clone()))
            }
        };
        let entry_bits = if extended { 4 } else { 3 };
        let l1 = read_l1(&file, l1_offset, l1_size, size, cluster_bits, entry_bits)?;
        Ok(Qcow2 {
            file,
            version,
            cluster_bits,
            extended,
            size,
            l1,
            codec,
            backing_name,
            backing_format,
            snapshots,
            reading,
            parent: None,
            l2_cache: Cache::new(L2_CACHE),
            clusters: Cache::new(CLUSTER_CACHE),
        })
    }

    /// The backing file name recorded in the image.
    pub fn backing_name(&self) -> Option<&str> {
        self.backing_name.as_deref()
    }

    /// The backing file format recorded in a header extension.
    pub fn backing_format(&self) -> Option<&str> {
        self.backing_format.as_deref()
    }

    /// Sets the medium read where a cluster is unallocated.
    pub(crate) fn set_parent(&mut self, parent: Arc<dyn ReadAt>) {
        self.parent = Some(parent);
    }

    /// The internal snapshots.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// One line per fact worth reporting (version, sizes, backing file,
    /// snapshots).
    pub fn info(&self) -> Vec<String> {
        let mut out = vec![format!(
            "qcow2 v{}: virtual size {} bytes, cluster size {}, compression {}",
            self.version,
            self.size,
            1u64 << self.cluster_bits,
            match self.codec {
                Codec::Zstd => "zstd",
                _ => "deflate",
            }
        )];
        if let Some(b) = &self.backing_name {
            out.push(format!(
                "backing file recorded: {}{}",
                crate::escape::visible(b),
                self.backing_format
                    .as_deref()
                    .map(|f| format!(" (format {})", crate::escape::visible(f)))
                    .unwrap_or_default()
            ));
        }
        for s in &self.snapshots {
            out.push(format!(
                "internal snapshot id {} name {} taken {} ({} bytes){}",
                crate::escape::visible(&s.id),
                crate::escape::visible(&s.name),
                chrono::DateTime::from_timestamp(s.date.into(), 0)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(|| s.date.to_string()),
                s.disk_size,
                if self.reading.as_deref() == Some(s.name.as_str()) {
                    " — read"
                } else {
                    ""
                }
            ));
        }
        out
    }

    fn l2_table(&self, l1_index: usize) -> Result<Option<L2Table>, DiskError> {
        let Some(&entry) = self.l1.get(l1_index) else {
            return Ok(None);
        };
        let off = entry & OFFSET_MASK;
        if off == 0 {
            return Ok(None);
        }
        let cs = 1u64 << self.cluster_bits;
        if !off.is_multiple_of(cs) {
            return Err(corrupt(
                format!("L1 entry {l1_index}"),
                off,
                "L2 table offset not cluster-aligned",
            ));
        }
        if off.checked_add(cs).is_none_or(|e| e > self.file.size) {
            return Err(corrupt(
                format!("L1 entry {l1_index}"),
                off,
                format!(
                    "L2 table lies past the end of the file ({} bytes)",
                    self.file.size
                ),
            ));
        }
        let t = self
            .l2_cache
            .get(off, || self.file.read_vec(off, cs, "L2 table"))?;
        Ok(Some((off, t)))
    }
}

impl Qcow2 {
    /// Reads from a cluster with an extended L2 entry: each of its 32
    /// subclusters is allocated (bit n of the bitmap: read the cluster),
    /// zero (bit 32 + n) or neither (read the backing file).
    fn read_subclusters(
        &self,
        entry: u64,
        bitmap: u64,
        entry_at: u64,
        guest: u64,
        within: u64,
        buf: &mut [u8],
    ) -> Result<(), DiskError> {
        let cs = 1u64 << self.cluster_bits;
        let sc = cs / 32;
        let off = entry & OFFSET_MASK;
        let what = || format!("extended L2 entry (guest offset {guest})");
        if bitmap & 0xffff_ffff & (bitmap >> 32) != 0 {
            return Err(corrupt(
                what(),
                entry_at,
                "a subcluster is both allocated and zero",
            ));
        }
        if bitmap & 0xffff_ffff != 0 && (off == 0 || !off.is_multiple_of(cs)) {
            return Err(corrupt(
                what(),
                entry_at,
                format!("allocated subclusters but cluster offset {off}"),
            ));
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = within + done as u64;
            let n = pos / sc;
            let take = ((sc - pos % sc) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + take];
            if bitmap & (1 << n) != 0 {
                // The file may end inside the last cluster, after the
                // subclusters written.
                if off + pos + take as u64 > self.file.size {
                    return Err(corrupt(
                        what(),
                        entry_at,
                        format!(
                            "subcluster {n} of the cluster at {off} lies past the end of the file ({} bytes)",
                            self.file.size
                        ),
                    ));
                }
                self.file.read_exact(part, off + pos, "data subcluster")?;
            } else if bitmap & (1 << (32 + n)) != 0 {
                part.fill(0);
            } else {
                read_backing(self.parent.as_ref(), part, guest + pos)?;
            }
            done += take;
        }
        Ok(())
    }
}

/// An L2 table: its file offset and its bytes.
type L2Table = (u64, Arc<Vec<u8>>);

/// The L2 entry of one cluster, and where it is.
struct L2Entry {
    entry: u64,
    /// The entry's file offset.
    entry_at: u64,
    table: Arc<Vec<u8>>,
    l2_off: u64,
    slot: usize,
}

impl Qcow2 {
    /// The L2 entry of guest cluster `index`; `None` when its L2 table is
    /// not allocated.
    fn l2_entry(&self, index: u64) -> Result<Option<L2Entry>, DiskError> {
        let cs = 1u64 << self.cluster_bits;
        let entry_len = if self.extended { 16 } else { 8 };
        let per_table = cs / entry_len;
        let l1_index = usize::try_from(index / per_table).unwrap_or(usize::MAX);
        let Some((l2_off, table)) = self.l2_table(l1_index)? else {
            return Ok(None);
        };
        let slot = (index % per_table) as usize;
        let entry = u64_be(&table, slot * entry_len as usize)
            .map_err(|e| corrupt("L2 table", l2_off, e.to_string()))?;
        Ok(Some(L2Entry {
            entry,
            entry_at: l2_off + slot as u64 * entry_len,
            table,
            l2_off,
            slot,
        }))
    }
}

/// The backing file format, from the header extensions (others skipped).
fn read_extensions(file: &ImageFile, start: u64, cs: u64) -> Result<Option<String>, DiskError> {
    let mut at = start;
    let mut format = None;
    for _ in 0..64 {
        if at + 8 > cs.min(file.size) {
            break;
        }
        let h = file.read_vec(at, 8, "header extension")?;
        let kind = u32_be(&h, 0).map_err(short(at))?;
        let len = u64::from(u32_be(&h, 4).map_err(short(at))?);
        if kind == 0 {
            break;
        }
        if at + 8 + len > cs {
            return Err(corrupt(
                "header extension",
                at,
                format!("{len} bytes run past the first cluster"),
            ));
        }
        if kind == 0xe279_2aca {
            let b = file.read_vec(at + 8, len, "backing format extension")?;
            format = Some(String::from_utf8_lossy(&b).into_owned());
        }
        at += 8 + len.div_ceil(8) * 8;
    }
    Ok(format)
}

fn read_snapshots(
    file: &ImageFile,
    count: u32,
    offset: u64,
    version: u32,
    size: u64,
) -> Result<Vec<Snapshot>, DiskError> {
    if count > MAX_SNAPSHOTS {
        return Err(corrupt(
            "header",
            60,
            format!("{count} snapshots (at most {MAX_SNAPSHOTS})"),
        ));
    }
    let mut out = Vec::new();
    let mut at = offset;
    for i in 0..count {
        let what = format!("snapshot table entry {i}");
        let h = file.read_vec(at, 40, &what)?;
        let e = |r: Result<u64, _>| {
            r.map_err(|x: crate::evidence::bytes::ShortInput| corrupt(&what, at, x.to_string()))
        };
        let l1_offset = e(u64_be(&h, 0))?;
        let l1_size = e(u32_be(&h, 8).map(u64::from))? as u32;
        let id_len = e(u16_be(&h, 12).map(u64::from))?;
        let name_len = e(u16_be(&h, 14).map(u64::from))?;
        let date = e(u32_be(&h, 16).map(u64::from))? as u32;
        let extra = e(u32_be(&h, 36).map(u64::from))?;
        if extra > 1024 {
            return Err(corrupt(&what, at, format!("{extra} bytes of extra data")));
        }
        let rest = file.read_vec(at + 40, extra + id_len + name_len, &what)?;
        let disk_size = if version >= 3 && extra >= 16 {
            e(u64_be(&rest, 8))?
        } else {
            size
        };
        let id_end = (extra + id_len) as usize;
        let id = String::from_utf8_lossy(rest.get(extra as usize..id_end).unwrap_or_default());
        let name = String::from_utf8_lossy(rest.get(id_end..).unwrap_or_default());
        out.push(Snapshot {
            id: id.into_owned(),
            name: name.into_owned(),
            date,
            disk_size,
            l1_offset,
            l1_size,
        });
        at = (at + 40 + extra + id_len + name_len).div_ceil(8) * 8;
    }
    Ok(out)
}

fn read_l1(
    file: &ImageFile,
    offset: u64,
    entries: u32,
    size: u64,
    cluster_bits: u32,
    entry_bits: u32,
) -> Result<Vec<u64>, DiskError> {
    let bytes = u64::from(entries) * 8;
    if bytes > MAX_L1_BYTES {
        return Err(corrupt(
            "L1 table",
            offset,
            format!("{entries} entries (more than QEMU allows)"),
        ));
    }
    // Each L2 table maps cluster_size / entry size clusters.
    let per_l1 = 1u128 << (2 * cluster_bits - entry_bits);
    let needed = (u128::from(size)).div_ceil(per_l1);
    if needed > u128::from(entries) {
        return Err(corrupt(
            "L1 table",
            offset,
            format!("{entries} entries cannot map a virtual size of {size} bytes"),
        ));
    }
    let raw = file.read_vec(offset, bytes, "L1 table")?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

impl Blocks for Qcow2 {
    fn block_size(&self) -> u64 {
        1 << self.cluster_bits
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.file.name()
    }

    fn compresses(&self) -> bool {
        true
    }

    fn warm(&self, index: u64) {
        if let Ok(Some(e)) = self.l2_entry(index)
            && e.entry & COMPRESSED != 0
        {
            let _ = self.read_block(index, 0, &mut [0u8; 1]);
        }
    }

    fn data_bytes(&self, index: u64) -> Result<u64, DiskError> {
        let cs = 1u64 << self.cluster_bits;
        let Some(e) = self.l2_entry(index)? else {
            return Ok(0);
        };
        if e.entry & COMPRESSED != 0 {
            return Ok(cs);
        }
        if self.extended {
            let bitmap = u64_be(&e.table, e.slot * 16 + 8)
                .map_err(|x| corrupt("L2 table", e.l2_off, x.to_string()))?;
            // bits 0–31: allocated subclusters
            return Ok(u64::from((bitmap & 0xffff_ffff).count_ones()) * (cs / 32));
        }
        if (self.version >= 3 && e.entry & ZERO != 0) || e.entry & OFFSET_MASK == 0 {
            return Ok(0);
        }
        Ok(cs)
    }

    fn read_block(&self, index: u64, within: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let cs = 1u64 << self.cluster_bits;
        let guest = index * cs;
        let Some(L2Entry {
            entry,
            entry_at,
            table,
            l2_off,
            slot,
        }) = self.l2_entry(index)?
        else {
            return read_backing(self.parent.as_ref(), buf, guest + within);
        };
        let what = || format!("L2 entry {slot} (guest offset {guest})");
        if entry & COMPRESSED != 0 {
            let x = 62 - (self.cluster_bits - 8);
            let off = entry & ((1u64 << x) - 1);
            let sectors = ((entry >> x) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let csize = (sectors * 512).saturating_sub(off & 511);
            if off >= self.file.size {
                return Err(corrupt(
                    what(),
                    entry_at,
                    format!(
                        "compressed cluster at {off} lies past the end of the file ({} bytes)",
                        self.file.size
                    ),
                ));
            }
            // The sector count is rounded up; the last cluster of the file
            // may end before it.
            let avail = csize.min(self.file.size - off);
            let codec = self.codec;
            let data = self.clusters.get(off, || {
                let input = self.file.read_vec(off, avail, "compressed cluster")?;
                decompress(codec, &input, cs as usize).map_err(|d| {
                    corrupt(
                        what(),
                        entry_at,
                        format!("compressed cluster at {off} ({avail} bytes): {d}"),
                    )
                })
            })?;
            return copy_out(&data, within, buf);
        }
        if self.extended {
            let bitmap = u64_be(&table, slot * 16 + 8)
                .map_err(|e| corrupt("L2 table", l2_off, e.to_string()))?;
            return self.read_subclusters(entry, bitmap, entry_at, guest, within, buf);
        }
        if self.version >= 3 && entry & ZERO != 0 {
            buf.fill(0);
            return Ok(());
        }
        let off = entry & OFFSET_MASK;
        if off == 0 {
            return read_backing(self.parent.as_ref(), buf, guest + within);
        }
        if !off.is_multiple_of(cs) {
            return Err(corrupt(
                what(),
                entry_at,
                format!("data cluster offset {off} not cluster-aligned"),
            ));
        }
        let end = off + within + buf.len() as u64;
        if end > self.file.size {
            return Err(corrupt(
                what(),
                entry_at,
                format!(
                    "data cluster at {off} lies past the end of the file ({} bytes)",
                    self.file.size
                ),
            ));
        }
        self.file.read_exact(buf, off + within, "data cluster")
    }
}
