//! A read-only bbolt (BoltDB) reader over positioned reads of one evidence
//! file: no lock, no write, no mmap, no copy of the database.
//!
//! On-disk format (Go `go.etcd.io/bbolt`, `page.go`, `node.go`,
//! `bucket.go`, `db.go`), all integers little-endian:
//! - the file is a sequence of pages of `page_size` bytes; a page starts
//!   with a 16-byte header: `id u64, flags u16, count u16, overflow u32`;
//!   it spans `overflow + 1` pages; flags: branch 0x01, leaf 0x02,
//!   meta 0x04, freelist 0x10;
//! - pages 0 and 1 are meta pages: after the header, `magic u32`
//!   (0xED0CDAED), `version u32` (2), `page_size u32`, `flags u32`,
//!   root bucket `{root pgid u64, sequence u64}`, `freelist pgid u64`,
//!   `pgid u64` (high-water mark: first page never allocated), `txid u64`,
//!   `checksum u64` (FNV-1a 64 of the 56 bytes before it). The valid meta
//!   with the higher txid is the current one;
//! - a branch page holds `count` elements `{pos u32, ksize u32, pgid u64}`,
//!   a leaf page `{flags u32, pos u32, ksize u32, vsize u32}`; `pos` is the
//!   distance from the element to its key (the value follows the key);
//!   leaf flag 0x01 marks a nested bucket, whose value is a bucket header
//!   `{root pgid u64, sequence u64}` and, when `root` is 0 (an inline
//!   bucket), a whole leaf page right after it.
//!
//! Evidence may be damaged or hostile: every page id is checked against the
//! file size and the meta's high-water mark, every element against its
//! page, and every walk remembers the pages it has seen, so a cycle or an
//! out-of-range reference is a [`BoltError::Corrupt`] naming the page.

mod bucket;
mod page;
#[cfg(test)]
mod tests;

pub use bucket::{Bucket, Entries, Value};

use crate::evidence::bytes::{Reader, bytes_at, u16_le, u32_le, u64_le};
use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use bucket::Root;
use page::Page;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const META_SUM_LEN: usize = 56;
const FLAG_BRANCH: u16 = 0x01;
const FLAG_LEAF: u16 = 0x02;
const FLAG_META: u16 = 0x04;
const LEAF_BUCKET: u32 = 0x01;
/// Deeper than any real B+tree (or chain of nested buckets) can be.
const MAX_DEPTH: usize = 64;
/// One page (with its overflow) larger than this is not believed.
const MAX_PAGE_BYTES: u64 = 256 << 20;

/// Errors reading a bbolt file; each names the file and, where it applies,
/// the page.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: not a usable bbolt database: {detail}")]
    NotBolt { path: String, detail: String },
    #[error("{path}: page {page}: corrupt bbolt page: {detail}")]
    Corrupt {
        path: String,
        page: u64,
        detail: String,
    },
    #[error("{path}: reading {len} bytes at offset {offset}: {source}")]
    Io {
        path: String,
        offset: u64,
        len: usize,
        #[source]
        source: std::io::Error,
    },
}

/// The meta page in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// 0 or 1: which meta page was chosen.
    pub page: u64,
    pub page_size: u32,
    pub root: u64,
    pub freelist: u64,
    /// First page id never allocated.
    pub high_water: u64,
    pub txid: u64,
}

/// An open bbolt database, read through positioned reads only.
pub struct BoltDb {
    file: Box<dyn FileReader>,
    path: String,
    file_size: u64,
    meta: Meta,
}

impl std::fmt::Debug for BoltDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltDb")
            .field("path", &self.path)
            .field("file_size", &self.file_size)
            .field("meta", &self.meta)
            .finish()
    }
}

/// FNV-1a, 64 bit (Go `hash/fnv` `New64a`), the meta checksum.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Decodes and checks the meta at the start of `page`.
fn parse_meta(page: &[u8], id: u64) -> Result<Meta, String> {
    let short = |_| "too short for a meta page".to_string();
    let m = bytes_at(page, PAGE_HEADER, META_SUM_LEN + 8).map_err(short)?;
    let flags = u16_le(page, 8).map_err(short)?;
    if flags & FLAG_META == 0 {
        return Err(format!("flags {flags:#x} are not a meta page's"));
    }
    // `m` holds META_SUM_LEN + 8 bytes: every field below is inside it.
    let mut r = Reader::new(m);
    let mut next32 = || r.u32_le().map_err(short);
    let (magic, version, page_size) = (next32()?, next32()?, next32()?);
    if magic != MAGIC {
        return Err(format!("magic {magic:#010x}, not {MAGIC:#010x}"));
    }
    if version != VERSION {
        return Err(format!("format version {version}, not {VERSION}"));
    }
    let (sum_bytes, stored) = m.split_at(META_SUM_LEN);
    let sum = fnv1a64(sum_bytes);
    let stored = u64_le(stored, 0).map_err(short)?;
    // Fuzz builds (`--cfg fuzzing`, set by cargo-fuzz) accept any
    // checksum so the fuzzer can reach the pages behind the meta; normal
    // builds never do.
    if stored != sum && !cfg!(fuzzing) {
        return Err(format!("checksum {stored:#018x}, computed {sum:#018x}"));
    }
    if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("implausible page size {page_size}"));
    }
    let field64 = |at| u64_le(m, at).map_err(short);
    Ok(Meta {
        page: id,
        page_size,
        root: field64(16)?,
        freelist: field64(32)?,
        high_water: field64(40)?,
        txid: field64(48)?,
    })
}

impl BoltDb {
    /// Opens the database at `path` on `fs` (read-only, unlocked).
    pub fn open(fs: &dyn FileSystem, path: &EvPath) -> Result<BoltDb, BoltError> {
        let file_size = fs.metadata(path)?.size;
        let file = fs.open(path)?;
        Self::from_reader(file, file_size, path.display())
    }

    /// Reads the meta pages of an already opened file; `path` only names it
    /// in errors.
    pub fn from_reader(
        file: Box<dyn FileReader>,
        file_size: u64,
        path: String,
    ) -> Result<BoltDb, BoltError> {
        let mut db = BoltDb {
            file,
            path,
            file_size,
            meta: Meta {
                page: 0,
                page_size: 4096,
                root: 0,
                freelist: 0,
                high_water: 0,
                txid: 0,
            },
        };
        let head_len = file_size.min(4096) as usize;
        let head = db.read_exact_at(0, head_len)?;
        let meta0 = parse_meta(&head, 0);
        // Page 1 sits one page size in; take it from page 0 when that is
        // readable, else try every plausible size (as bbolt does).
        let sizes: Vec<u64> = match &meta0 {
            Ok(m) => vec![u64::from(m.page_size)],
            Err(_) => (9..=16).map(|s| 1u64 << s).collect(),
        };
        let mut meta1 = Err("beyond the end of the file".to_string());
        for size in sizes {
            if size + (PAGE_HEADER + META_SUM_LEN + 8) as u64 > file_size {
                continue;
            }
            let page = db.read_exact_at(size, PAGE_HEADER + META_SUM_LEN + 8)?;
            meta1 = parse_meta(&page, 1);
            if meta1.as_ref().is_ok_and(|m| u64::from(m.page_size) == size) {
                break;
            }
            if meta1.is_ok() {
                meta1 = Err(format!("found at offset {size} but says page size differs"));
            }
        }
        let meta = match (meta0, meta1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(a), Err(b)) => {
                return Err(BoltError::NotBolt {
                    path: db.path,
                    detail: format!("meta page 0: {a}; meta page 1: {b}"),
                });
            }
        };
        db.meta = meta;
        if file_size < 2 * u64::from(meta.page_size) {
            return Err(BoltError::NotBolt {
                path: db.path,
                detail: format!(
                    "{file_size} bytes, less than the two meta pages of {} bytes (truncated?)",
                    meta.page_size
                ),
            });
        }
        let pages = file_size / u64::from(meta.page_size);
        if meta.high_water > pages {
            // A truncated copy: pages past the end cannot be read, which is
            // reported page by page when they are needed.
            db.meta.high_water = meta.high_water.min(pages.max(2));
        }
        Ok(db)
    }

    /// The meta page in use.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// The file, as named in errors.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The top-level bucket (its entries are the named root buckets).
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: Root::Page(self.meta.root),
            ancestors: vec![self.meta.root],
        }
    }

    /// Follows `names` from the root; `None` if one of them is missing or
    /// is a plain value.
    pub fn bucket_path(&self, names: &[&[u8]]) -> Result<Option<Bucket<'_>>, BoltError> {
        let mut b = self.root();
        for name in names {
            match b.bucket(name)? {
                Some(next) => b = next,
                None => return Ok(None),
            }
        }
        Ok(Some(b))
    }

    fn corrupt(&self, page: u64, detail: impl Into<String>) -> BoltError {
        BoltError::Corrupt {
            path: self.path.clone(),
            page,
            detail: detail.into(),
        }
    }

    fn read_exact_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, BoltError> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let n = self
                .file
                .read_at(&mut buf[done..], offset + done as u64)
                .map_err(|source| BoltError::Io {
                    path: self.path.clone(),
                    offset,
                    len,
                    source,
                })?;
            if n == 0 {
                return Err(BoltError::Io {
                    path: self.path.clone(),
                    offset,
                    len,
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            done += n;
        }
        Ok(buf)
    }

    /// Reads branch or leaf page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<Page, BoltError> {
        if id < 2 || id >= self.meta.high_water {
            return Err(self.corrupt(
                id,
                format!(
                    "page id out of range (data pages are 2..{})",
                    self.meta.high_water
                ),
            ));
        }
        let size = u64::from(self.meta.page_size);
        let offset = id * size;
        if offset + size > self.file_size {
            return Err(self.corrupt(id, "page lies beyond the end of the file (truncated?)"));
        }
        let first = self.read_exact_at(offset, size as usize)?;
        let short = |e| self.corrupt(id, format!("page header: {e}"));
        let got = u64_le(&first, 0).map_err(short)?;
        if got != id {
            return Err(self.corrupt(id, format!("page header says it is page {got}")));
        }
        let overflow = u64::from(u32_le(&first, 12).map_err(short)?);
        if overflow == 0 {
            return Ok(Page { id, data: first });
        }
        let total = (overflow + 1) * size;
        if id + overflow >= self.meta.high_water
            || offset + total > self.file_size
            || total > MAX_PAGE_BYTES
        {
            return Err(self.corrupt(
                id,
                format!("{overflow} overflow pages run past the end of the database"),
            ));
        }
        let mut data = first;
        data.extend(self.read_exact_at(offset + size, (total - size) as usize)?);
        Ok(Page { id, data })
    }
}
