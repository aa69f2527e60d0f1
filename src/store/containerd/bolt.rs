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

use crate::evidence::fs::{EvPath, FileReader, FileSystem, FsError};
use std::collections::HashSet;

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

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes and checks the meta at the start of `page`.
fn parse_meta(page: &[u8], id: u64) -> Result<Meta, String> {
    let m = page
        .get(PAGE_HEADER..PAGE_HEADER + META_SUM_LEN + 8)
        .ok_or("too short for a meta page")?;
    let flags = u16_at(page, 8).unwrap_or(0);
    if flags & FLAG_META == 0 {
        return Err(format!("flags {flags:#x} are not a meta page's"));
    }
    let field32 = |at| u32_at(m, at).unwrap_or(0);
    let field64 = |at| u64_at(m, at).unwrap_or(0);
    if field32(0) != MAGIC {
        return Err(format!("magic {:#010x}, not {MAGIC:#010x}", field32(0)));
    }
    if field32(4) != VERSION {
        return Err(format!("format version {}, not {VERSION}", field32(4)));
    }
    let sum = fnv1a64(&m[..META_SUM_LEN]);
    if field64(META_SUM_LEN) != sum {
        return Err(format!(
            "checksum {:#018x}, computed {sum:#018x}",
            field64(META_SUM_LEN)
        ));
    }
    let page_size = field32(8);
    if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("implausible page size {page_size}"));
    }
    Ok(Meta {
        page: id,
        page_size,
        root: field64(16),
        freelist: field64(32),
        high_water: field64(40),
        txid: field64(48),
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
        let got = u64_at(&first, 0).unwrap_or(u64::MAX);
        if got != id {
            return Err(self.corrupt(id, format!("page header says it is page {got}")));
        }
        let overflow = u64::from(u32_at(&first, 12).unwrap_or(0));
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

/// One page's bytes (a file page with its overflow, or an inline page).
#[derive(Clone)]
struct Page {
    /// The page id (for an inline page, the page of the bucket holding it).
    id: u64,
    data: Vec<u8>,
}

enum Kind {
    Branch,
    Leaf,
}

impl Page {
    fn flags(&self) -> u16 {
        u16_at(&self.data, 8).unwrap_or(0)
    }
    fn count(&self) -> usize {
        usize::from(u16_at(&self.data, 10).unwrap_or(0))
    }

    fn kind(&self, db: &BoltDb) -> Result<Kind, BoltError> {
        if self.data.len() < PAGE_HEADER {
            return Err(db.corrupt(self.id, "shorter than a page header"));
        }
        let kind = match self.flags() {
            f if f & FLAG_BRANCH != 0 => Kind::Branch,
            f if f & FLAG_LEAF != 0 => Kind::Leaf,
            f => {
                return Err(db.corrupt(self.id, format!("flags {f:#x}: neither branch nor leaf")));
            }
        };
        if PAGE_HEADER + self.count() * ELEMENT > self.data.len() {
            return Err(db.corrupt(
                self.id,
                format!("{} elements do not fit in the page", self.count()),
            ));
        }
        Ok(kind)
    }

    /// A byte range of element `i`, `pos` bytes from the element onwards.
    fn slice(&self, db: &BoltDb, i: usize, pos: u32, len: u64) -> Result<&[u8], BoltError> {
        let start = (PAGE_HEADER + i * ELEMENT) as u64 + u64::from(pos);
        let end = start + len;
        if end > self.data.len() as u64 {
            return Err(db.corrupt(
                self.id,
                format!("element {i} points past the end of the page"),
            ));
        }
        Ok(&self.data[start as usize..end as usize])
    }

    /// Branch element `i`: (first key of the child, child page id).
    fn branch(&self, db: &BoltDb, i: usize) -> Result<(&[u8], u64), BoltError> {
        let e = PAGE_HEADER + i * ELEMENT;
        let pos = u32_at(&self.data, e).unwrap_or(0);
        let ksize = u32_at(&self.data, e + 4).unwrap_or(0);
        let child = u64_at(&self.data, e + 8).unwrap_or(0);
        Ok((self.slice(db, i, pos, u64::from(ksize))?, child))
    }

    /// Leaf element `i`: (flags, key, value).
    fn leaf(&self, db: &BoltDb, i: usize) -> Result<(u32, &[u8], &[u8]), BoltError> {
        let e = PAGE_HEADER + i * ELEMENT;
        let flags = u32_at(&self.data, e).unwrap_or(0);
        let pos = u32_at(&self.data, e + 4).unwrap_or(0);
        let ksize = u32_at(&self.data, e + 8).unwrap_or(0);
        let vsize = u32_at(&self.data, e + 12).unwrap_or(0);
        let kv = self.slice(db, i, pos, u64::from(ksize) + u64::from(vsize))?;
        let (k, v) = kv.split_at(ksize as usize);
        Ok((flags, k, v))
    }
}

/// Where a bucket's B+tree starts.
#[derive(Clone)]
enum Root {
    Page(u64),
    /// An inline bucket: its single leaf page, copied out of the parent.
    Inline(Page),
}

/// A bucket: a B+tree of keys, each holding a value or a nested bucket.
#[derive(Clone)]
pub struct Bucket<'db> {
    db: &'db BoltDb,
    root: Root,
    /// Root pages of the buckets enclosing this one (and its own), to
    /// refuse a bucket that refers back to an ancestor.
    ancestors: Vec<u64>,
}

impl std::fmt::Debug for Bucket<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.root {
            Root::Page(p) => write!(f, "Bucket(page {p})"),
            Root::Inline(p) => write!(f, "Bucket(inline in page {})", p.id),
        }
    }
}

/// What a key of a bucket holds.
#[derive(Debug, Clone)]
pub enum Value<'db> {
    Data(Vec<u8>),
    Bucket(Bucket<'db>),
}

impl<'db> Bucket<'db> {
    fn load(&self, id: u64) -> Result<Page, BoltError> {
        match &self.root {
            Root::Inline(p) => Ok(p.clone()),
            Root::Page(_) => self.db.page(id),
        }
    }

    fn root_id(&self) -> u64 {
        match &self.root {
            Root::Page(p) => *p,
            Root::Inline(p) => p.id,
        }
    }

    /// Decodes a leaf entry found in page `page`.
    fn value(&self, page: u64, flags: u32, v: &[u8]) -> Result<Value<'db>, BoltError> {
        if flags & LEAF_BUCKET == 0 {
            return Ok(Value::Data(v.to_vec()));
        }
        if self.ancestors.len() >= MAX_DEPTH {
            return Err(self.db.corrupt(page, "buckets nested too deeply"));
        }
        let root = u64_at(v, 0)
            .filter(|_| v.len() >= BUCKET_HEADER)
            .ok_or_else(|| self.db.corrupt(page, "nested bucket header is truncated"))?;
        let root = if root == 0 {
            let data = v[BUCKET_HEADER..].to_vec();
            if data.len() < PAGE_HEADER {
                return Err(self.db.corrupt(page, "inline bucket is truncated"));
            }
            let inline = Page { id: page, data };
            if inline.flags() & FLAG_LEAF == 0 {
                return Err(self.db.corrupt(page, "inline bucket page is not a leaf"));
            }
            Root::Inline(inline)
        } else {
            if self.ancestors.contains(&root) {
                return Err(self.db.corrupt(
                    page,
                    format!("nested bucket refers back to enclosing bucket page {root}"),
                ));
            }
            Root::Page(root)
        };
        let mut ancestors = self.ancestors.clone();
        if let Root::Page(r) = root {
            ancestors.push(r);
        } else {
            // An inline bucket still counts towards the nesting depth.
            ancestors.push(u64::MAX);
        }
        Ok(Value::Bucket(Bucket {
            db: self.db,
            root,
            ancestors,
        }))
    }

    /// Looks `key` up; `None` when absent.
    pub fn get_value(&self, key: &[u8]) -> Result<Option<Value<'db>>, BoltError> {
        let mut id = self.root_id();
        let mut seen = HashSet::new();
        loop {
            if !seen.insert(id) || seen.len() > MAX_DEPTH {
                return Err(self.db.corrupt(id, "branch pages form a cycle"));
            }
            let page = self.load(id)?;
            match page.kind(self.db)? {
                Kind::Branch => {
                    // The last child whose first key is <= key.
                    let mut next = None;
                    for i in 0..page.count() {
                        let (k, child) = page.branch(self.db, i)?;
                        if k > key && next.is_some() {
                            break;
                        }
                        next = Some(child);
                        if k > key {
                            break;
                        }
                    }
                    match next {
                        Some(c) => id = c,
                        None => return Err(self.db.corrupt(page.id, "empty branch page")),
                    }
                }
                Kind::Leaf => {
                    for i in 0..page.count() {
                        let (flags, k, v) = page.leaf(self.db, i)?;
                        if k == key {
                            return self.value(page.id, flags, v).map(Some);
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The plain value at `key` (`None` if absent or a nested bucket).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoltError> {
        Ok(match self.get_value(key)? {
            Some(Value::Data(v)) => Some(v),
            _ => None,
        })
    }

    /// The nested bucket at `key` (`None` if absent or a plain value).
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'db>>, BoltError> {
        Ok(match self.get_value(key)? {
            Some(Value::Bucket(b)) => Some(b),
            _ => None,
        })
    }

    /// Every entry in key order, as a streaming iterator (one page per
    /// tree level in memory). After an error it yields nothing more.
    pub fn iter(&self) -> Entries<'db> {
        Entries {
            bucket: self.clone(),
            stack: Vec::new(),
            seen: HashSet::new(),
            started: false,
            failed: false,
        }
    }

    /// Every entry, collected.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Value<'db>)>, BoltError> {
        self.iter().collect()
    }

    /// The names of the nested buckets, in key order.
    pub fn bucket_names(&self) -> Result<Vec<Vec<u8>>, BoltError> {
        let mut out = Vec::new();
        for e in self.iter() {
            let (k, v) = e?;
            if matches!(v, Value::Bucket(_)) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

/// Iterator over a bucket's entries, from [`Bucket::iter`].
pub struct Entries<'db> {
    bucket: Bucket<'db>,
    /// Pages from the root down to the current leaf, with the next index.
    stack: Vec<(Page, usize)>,
    seen: HashSet<u64>,
    started: bool,
    failed: bool,
}

impl<'db> Entries<'db> {
    fn push(&mut self, id: u64) -> Result<(), BoltError> {
        let db = self.bucket.db;
        let inline = matches!(self.bucket.root, Root::Inline(_));
        if (!inline && !self.seen.insert(id)) || self.stack.len() >= MAX_DEPTH {
            return Err(db.corrupt(id, "page reached twice while walking a bucket (a cycle)"));
        }
        let page = self.bucket.load(id)?;
        page.kind(db)?;
        self.stack.push((page, 0));
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(Vec<u8>, Value<'db>)>, BoltError> {
        let db = self.bucket.db;
        if !self.started {
            self.started = true;
            self.push(self.bucket.root_id())?;
        }
        loop {
            let Some((page, idx)) = self.stack.last_mut() else {
                return Ok(None);
            };
            if *idx >= page.count() {
                self.stack.pop();
                continue;
            }
            let i = *idx;
            *idx += 1;
            match page.kind(db)? {
                Kind::Branch => {
                    let (_, child) = page.branch(db, i)?;
                    self.push(child)?;
                }
                Kind::Leaf => {
                    let (flags, k, v) = page.leaf(db, i)?;
                    let value = self.bucket.value(page.id, flags, v)?;
                    return Ok(Some((k.to_vec(), value)));
                }
            }
        }
    }
}

impl<'db> Iterator for Entries<'db> {
    type Item = Result<(Vec<u8>, Value<'db>), BoltError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_go() {
        // Go: fnv.New64a() over "" and "a".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
