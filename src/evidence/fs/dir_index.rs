//! A directory's names, sorted once so that each lookup in it is a binary
//! search instead of a scan of every directory block.
//!
//! Rebuilding a layer looks up every file by its full path; on a linear
//! (non-htree) ext4 directory, which is what `mke2fs -d` and many older
//! kernels leave, each lookup parsed the directory's blocks from the
//! start, so a directory of n files cost n²/2 entry parses. The index is
//! compact (one buffer of names plus 12 bytes an entry) and reports its
//! size, so a cache of indexes can be bounded in bytes.

/// The (name → inode number) pairs of one directory.
pub(super) struct DirIndex {
    /// Every name, back to back.
    names: Vec<u8>,
    /// (offset in `names`, length, inode), sorted by name; entries with
    /// the same name keep their on-disk order (the first one wins, as in a
    /// scan).
    entries: Vec<(u32, u32, u32)>,
}

impl DirIndex {
    /// Indexes `entries` (name, inode) given in on-disk order; `None` when
    /// the names do not fit the 32-bit offsets (never for a directory that
    /// passed the size bound of its caller).
    #[cfg(test)]
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a [u8], u32)>) -> Option<Self> {
        let mut b = Builder::default();
        for (name, ino) in entries {
            b.push(name, ino)?;
        }
        Some(b.finish())
    }

    fn name(&self, e: &(u32, u32, u32)) -> &[u8] {
        let start = e.0 as usize;
        self.names
            .get(start..start.saturating_add(e.1 as usize))
            .unwrap_or_default()
    }

    /// The inode of the first entry called `name`.
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        let i = self.entries.partition_point(|e| self.name(e) < name);
        self.entries
            .get(i)
            .filter(|e| self.name(e) == name)
            .map(|e| e.2)
    }

    /// Bytes this index holds (what a cache of indexes counts).
    pub fn cost(&self) -> usize {
        self.names.capacity() + self.entries.capacity() * std::mem::size_of::<(u32, u32, u32)>()
    }
}

/// Collects a directory's entries in on-disk order, one block at a time
/// (so no list of every entry is held besides the index itself).
#[derive(Default)]
pub(super) struct Builder {
    names: Vec<u8>,
    list: Vec<(u32, u32, u32)>,
}

impl Builder {
    /// Adds one entry; `None` when the names outgrow 32-bit offsets.
    pub fn push(&mut self, name: &[u8], ino: u32) -> Option<()> {
        let off = u32::try_from(self.names.len()).ok()?;
        let len = u32::try_from(name.len()).ok()?;
        self.names.extend_from_slice(name);
        self.list.push((off, len, ino));
        Some(())
    }

    /// The index, sorted by name (stable: equal names stay in disk order).
    pub fn finish(self) -> DirIndex {
        let mut index = DirIndex {
            names: self.names,
            entries: Vec::new(),
        };
        let mut list = self.list;
        list.sort_by(|a, b| index.name(a).cmp(index.name(b)));
        list.shrink_to_fit();
        index.names.shrink_to_fit();
        index.entries = list;
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_first_duplicate_wins_and_misses() {
        let list: [(&[u8], u32); 5] = [
            (b"zeta", 5),
            (b"a", 7),
            (b"\xff\xfe", 9),
            (b"a", 8),
            (b"ab", 3),
        ];
        let ix = DirIndex::new(list).unwrap();
        assert_eq!(ix.find(b"a"), Some(7));
        assert_eq!(ix.find(b"ab"), Some(3));
        assert_eq!(ix.find(b"zeta"), Some(5));
        assert_eq!(ix.find(b"\xff\xfe"), Some(9));
        assert_eq!(ix.find(b""), None);
        assert_eq!(ix.find(b"b"), None);
        assert_eq!(ix.find(b"zz"), None);
        // 10 bytes of names, 12 an entry
        assert!(ix.cost() >= 10 + 5 * 12);
        assert_eq!(DirIndex::new([]).unwrap().find(b"a"), None);
    }
}
