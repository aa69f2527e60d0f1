//! btrfs B-trees: reading and checking nodes, and visiting the items of
//! a key range.
//!
//! Every tree block starts with a 101-byte header (checksum, fsid,
//! logical address, flags, chunk tree uuid, generation, owner, item
//! count, level). A leaf (level 0) holds 25-byte item headers (key, data
//! offset and size relative to the end of the header); an internal node
//! 33-byte key pointers (key, child address, generation). Each node read
//! is checked: CRC-32C, fsid, the logical address it records, its level
//! (one below its parent's), and its item count against the node size.
//! Searches are bounded in depth (8 levels) and in nodes visited.

use super::error::{BtrfsError, CorruptKind, Result};
use super::sb::{ChunkMap, csum_ok};
use crate::evidence::bytes::{Reader, bytes_at, u8_at, u32_le, u64_le};
use crate::evidence::cache::Lru;
use crate::evidence::image::ReadAt;
use std::sync::Arc;

pub const INODE_ITEM: u8 = 1;
pub const XATTR_ITEM: u8 = 24;
pub const DIR_ITEM: u8 = 84;
pub const DIR_INDEX: u8 = 96;
pub const EXTENT_DATA: u8 = 108;
pub const ROOT_ITEM: u8 = 132;
pub const CHUNK_ITEM: u8 = 228;

const HEADER: usize = 101;
const ITEM: usize = 25;
const KEY_PTR: usize = 33;
const MAX_LEVEL: u8 = 7;
/// Most nodes one search may visit.
pub const MAX_VISITS: usize = 1 << 16;
const NODE_CACHE: usize = 2048;
/// Most item bytes one [`Trees::all`] gathers (a directory of a million
/// entries takes about 100 MiB).
const MAX_GATHERED: usize = 256 << 20;

/// A btrfs key, ordered as the trees order it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub objectid: u64,
    pub kind: u8,
    pub offset: u64,
}

impl Key {
    pub const fn new(objectid: u64, kind: u8, offset: u64) -> Self {
        Key {
            objectid,
            kind,
            offset,
        }
    }
    fn read(r: &mut Reader) -> std::result::Result<Self, crate::evidence::bytes::ShortInput> {
        Ok(Key {
            objectid: r.u64_le()?,
            kind: r.u8()?,
            offset: r.u64_le()?,
        })
    }
}

/// A checked tree block.
struct Node {
    level: u8,
    /// Leaf: (key, data); internal: (key, child logical).
    items: Vec<(Key, Vec<u8>, u64)>,
}

/// The node reader: device, chunk map and a cache of checked nodes.
pub struct Trees {
    pub dev: Arc<dyn ReadAt>,
    pub chunks: ChunkMap,
    fsid: [u8; 16],
    node_size: usize,
    cache: Lru<u64, Node>,
}

impl Trees {
    pub fn new(dev: Arc<dyn ReadAt>, chunks: ChunkMap, fsid: [u8; 16], node_size: u32) -> Self {
        Trees {
            dev,
            chunks,
            fsid,
            node_size: node_size as usize,
            cache: Lru::new(NODE_CACHE),
        }
    }

    fn node(&self, logical: u64, want_level: Option<u8>) -> Result<Arc<Node>> {
        let n = self.cache.get(logical, || self.read_node(logical))?;
        if let Some(l) = want_level.filter(|&l| l != n.level) {
            return Err(CorruptKind::Node {
                logical,
                detail: format!("level {} where its parent expects {l}", n.level),
            }
            .into());
        }
        Ok(n)
    }

    /// The node at `logical` from the first of its copies (DUP or
    /// mirrored metadata) that reads and checks, as the kernel falls back
    /// to the other copy; the first copy's error when none does.
    fn read_node(&self, logical: u64) -> Result<Node> {
        let mut first = None;
        for copy in 0..self.chunks.copies(logical).max(1) {
            match self.read_node_copy(logical, copy) {
                Ok(n) => return Ok(n),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(CorruptKind::Unmapped(logical).into()))
    }

    fn read_node_copy(&self, logical: u64, copy: usize) -> Result<Node> {
        let mut b = vec![0u8; self.node_size];
        self.chunks
            .read_copy(self.dev.as_ref(), &mut b, logical, copy)?;
        let bad = |detail: String| BtrfsError::from(CorruptKind::Node { logical, detail });
        let short = |short| BtrfsError::from(CorruptKind::NodeShort { logical, short });
        if !csum_ok(&b) {
            return Err(CorruptKind::NodeChecksum { logical }.into());
        }
        if b.get(0x20..0x30) != Some(&self.fsid[..]) && !cfg!(fuzzing) {
            return Err(bad("belongs to another filesystem (fsid)".into()));
        }
        let bytenr = u64_le(&b, 0x30).map_err(short)?;
        if bytenr != logical && !cfg!(fuzzing) {
            return Err(bad(format!("records logical address {bytenr}")));
        }
        let count = u32_le(&b, 0x60).map_err(short)? as usize;
        let level = u8_at(&b, 0x64).map_err(short)?;
        if level > MAX_LEVEL {
            return Err(bad(format!("level {level}")));
        }
        let each = if level == 0 { ITEM } else { KEY_PTR };
        if count > (self.node_size - HEADER) / each {
            return Err(bad(format!("{count} items do not fit")));
        }
        let mut r = Reader::at(&b, HEADER);
        let mut items = Vec::with_capacity(count);
        let mut last: Option<Key> = None;
        for i in 0..count {
            let key = Key::read(&mut r).map_err(short)?;
            if last.is_some_and(|l| l > key) {
                return Err(bad(format!("item {i} out of key order")));
            }
            last = Some(key);
            if level == 0 {
                let off = r.u32_le().map_err(short)? as usize;
                let size = r.u32_le().map_err(short)? as usize;
                let data = bytes_at(&b, HEADER.saturating_add(off), size).map_err(|_| {
                    bad(format!(
                        "item {i}: data ({size} bytes at {off}) past the node"
                    ))
                })?;
                items.push((key, data.to_vec(), 0));
            } else {
                let child = r.u64_le().map_err(short)?;
                r.skip(8).map_err(short)?;
                items.push((key, Vec::new(), child));
            }
        }
        Ok(Node { level, items })
    }

    /// Calls `f` for every item of the tree rooted at `root` (level
    /// `level`) whose key lies in `lo..=hi`, in key order; `f` returns
    /// false to stop.
    pub fn range(
        &self,
        tree: u64,
        root: u64,
        level: u8,
        lo: Key,
        hi: Key,
        f: &mut dyn FnMut(Key, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut visits = 0usize;
        self.walk(tree, root, Some(level), lo, hi, f, &mut visits)
            .map(drop)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        tree: u64,
        logical: u64,
        level: Option<u8>,
        lo: Key,
        hi: Key,
        f: &mut dyn FnMut(Key, &[u8]) -> Result<bool>,
        visits: &mut usize,
    ) -> Result<bool> {
        *visits += 1;
        if *visits > MAX_VISITS {
            return Err(CorruptKind::TooManyNodes {
                tree,
                limit: MAX_VISITS,
            }
            .into());
        }
        let n = self.node(logical, level)?;
        if n.level == 0 {
            for (k, data, _) in &n.items {
                if *k > hi {
                    return Ok(false);
                }
                if *k >= lo && !f(*k, data)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        for (i, (k, _, child)) in n.items.iter().enumerate() {
            if *k > hi {
                return Ok(false);
            }
            // the child holds keys from k up to the next pointer's key
            if n.items.get(i + 1).is_some_and(|(next, _, _)| *next <= lo) {
                continue;
            }
            if !self.walk(tree, *child, Some(n.level - 1), lo, hi, f, visits)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The data of the item with exactly `key`, if present.
    pub fn get(&self, tree: u64, root: u64, level: u8, key: Key) -> Result<Option<Vec<u8>>> {
        let mut out = None;
        self.range(tree, root, level, key, key, &mut |_, d| {
            out = Some(d.to_vec());
            Ok(false)
        })?;
        Ok(out)
    }

    /// Every item with key `(objectid, kind, *)`.
    pub fn all(
        &self,
        tree: u64,
        root: u64,
        level: u8,
        objectid: u64,
        kind: u8,
    ) -> Result<Vec<(Key, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        self.range(
            tree,
            root,
            level,
            Key::new(objectid, kind, 0),
            Key::new(objectid, kind, u64::MAX),
            &mut |k, d| {
                bytes += d.len() + 32;
                if bytes > MAX_GATHERED {
                    return Err(CorruptKind::Inode {
                        tree,
                        ino: objectid,
                        detail: format!("more than {MAX_GATHERED} bytes of items of type {kind}"),
                    }
                    .into());
                }
                out.push((k, d.to_vec()));
                Ok(true)
            },
        )?;
        Ok(out)
    }
}
