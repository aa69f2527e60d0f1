//! Buckets: B+trees of keys, each holding a value or a nested bucket
//! (Go bbolt `bucket.go`, `cursor.go`), walked without recursion, every
//! page remembered so that a cycle ends the walk with an error.

use super::page::{Kind, Page};
use super::{BUCKET_HEADER, BoltDb, BoltError, FLAG_LEAF, LEAF_BUCKET, MAX_DEPTH, PAGE_HEADER};
use crate::evidence::bytes::u64_le;
use std::collections::HashSet;

/// Where a bucket's B+tree starts.
#[derive(Clone)]
pub(super) enum Root {
    Page(u64),
    /// An inline bucket: its single leaf page, copied out of the parent.
    Inline(Page),
}

/// A bucket: a B+tree of keys, each holding a value or a nested bucket.
#[derive(Clone)]
pub struct Bucket<'db> {
    pub(super) db: &'db BoltDb,
    pub(super) root: Root,
    /// Root pages of the buckets enclosing this one (and its own), to
    /// refuse a bucket that refers back to an ancestor.
    pub(super) ancestors: Vec<u64>,
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
        let (header, rest) = v
            .split_at_checked(BUCKET_HEADER)
            .ok_or_else(|| self.db.corrupt(page, "nested bucket header is truncated"))?;
        let root = u64_le(header, 0)
            .map_err(|e| self.db.corrupt(page, format!("nested bucket header: {e}")))?;
        let root = if root == 0 {
            let data = rest.to_vec();
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
