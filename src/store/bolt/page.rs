//! One bbolt page in memory: header fields, and bounds-checked access to
//! branch and leaf elements (Go bbolt `page.go`: `branchPageElement`,
//! `leafPageElement`; `pos` counts from the element itself).

use super::{BoltDb, BoltError, ELEMENT, FLAG_BRANCH, FLAG_LEAF, PAGE_HEADER};
use crate::evidence::bytes::{Reader, ShortInput, bytes_at, u16_le};

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
    /// The flags of the header (0 for data too short to have one, which
    /// [`Page::kind`] refuses).
    pub(super) fn flags(&self) -> u16 {
        u16_le(&self.data, 8).unwrap_or(0)
    }
    /// The element count of the header (0 for data too short to have one).
    pub(super) fn count(&self) -> usize {
        usize::from(u16_le(&self.data, 10).unwrap_or(0))
    }

    /// A cursor on the 16-byte element `i`.
    fn element(&self, db: &BoltDb, i: usize) -> Result<Reader<'_>, BoltError> {
        let at = i
            .checked_mul(ELEMENT)
            .and_then(|o| o.checked_add(PAGE_HEADER))
            .unwrap_or(usize::MAX);
        bytes_at(&self.data, at, ELEMENT)
            .map(Reader::new)
            .map_err(|e| self.short(db, i, e))
    }

    fn short(&self, db: &BoltDb, i: usize, e: ShortInput) -> BoltError {
        db.corrupt(self.id, format!("element {i}: {e}"))
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
        let past = || {
            db.corrupt(
                self.id,
                format!("element {i} points past the end of the page"),
            )
        };
        let start = i
            .checked_mul(ELEMENT)
            .and_then(|o| o.checked_add(PAGE_HEADER))
            .and_then(|o| o.checked_add(usize::try_from(pos).ok()?))
            .ok_or_else(past)?;
        let len = usize::try_from(len).map_err(|_| past())?;
        bytes_at(&self.data, start, len).map_err(|_| past())
    }

    /// Branch element `i`: (first key of the child, child page id).
    pub(super) fn branch(&self, db: &BoltDb, i: usize) -> Result<(&[u8], u64), BoltError> {
        let mut e = self.element(db, i)?;
        let mut field = || e.u32_le().map_err(|s| self.short(db, i, s));
        let (pos, ksize) = (field()?, field()?);
        let child = e.u64_le().map_err(|s| self.short(db, i, s))?;
        Ok((self.slice(db, i, pos, u64::from(ksize))?, child))
    }

    /// Leaf element `i`: (flags, key, value).
    pub(super) fn leaf(&self, db: &BoltDb, i: usize) -> Result<(u32, &[u8], &[u8]), BoltError> {
        let mut e = self.element(db, i)?;
        let mut field = || e.u32_le().map_err(|s| self.short(db, i, s));
        let (flags, pos, ksize, vsize) = (field()?, field()?, field()?, field()?);
        let kv = self.slice(db, i, pos, u64::from(ksize) + u64::from(vsize))?;
        let k_len = usize::try_from(ksize).map_err(|_| db.corrupt(self.id, "key size"))?;
        let (k, v) = kv
            .split_at_checked(k_len)
            .ok_or_else(|| db.corrupt(self.id, "key size"))?;
        Ok((flags, k, v))
    }
}
