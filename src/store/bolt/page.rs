//! One bbolt page in memory: header fields, and bounds-checked access to
//! branch and leaf elements (Go bbolt `page.go`: `branchPageElement`,
//! `leafPageElement`; `pos` counts from the element itself).

use super::{
    BoltDb, BoltError, ELEMENT, FLAG_BRANCH, FLAG_LEAF, PAGE_HEADER, u16_at, u32_at, u64_at,
};

/// One page's bytes (a file page with its overflow, or an inline page).
#[derive(Clone)]
pub(super) struct Page {
    /// The page id (for an inline page, the page of the bucket holding it).
    pub(super) id: u64,
    pub(super) data: Vec<u8>,
}

pub(super) enum Kind {
    Branch,
    Leaf,
}

impl Page {
    pub(super) fn flags(&self) -> u16 {
        u16_at(&self.data, 8).unwrap_or(0)
    }
    pub(super) fn count(&self) -> usize {
        usize::from(u16_at(&self.data, 10).unwrap_or(0))
    }

    pub(super) fn kind(&self, db: &BoltDb) -> Result<Kind, BoltError> {
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
    pub(super) fn branch(&self, db: &BoltDb, i: usize) -> Result<(&[u8], u64), BoltError> {
        let e = PAGE_HEADER + i * ELEMENT;
        let pos = u32_at(&self.data, e).unwrap_or(0);
        let ksize = u32_at(&self.data, e + 4).unwrap_or(0);
        let child = u64_at(&self.data, e + 8).unwrap_or(0);
        Ok((self.slice(db, i, pos, u64::from(ksize))?, child))
    }

    /// Leaf element `i`: (flags, key, value).
    pub(super) fn leaf(&self, db: &BoltDb, i: usize) -> Result<(u32, &[u8], &[u8]), BoltError> {
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
