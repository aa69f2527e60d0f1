//! The inode table of a view: every name of the merged tree (or of each
//! layer side by side), built once, up front, from the layer directories
//! in the evidence; file contents stay in the evidence and are read when
//! asked for.
//!
//! Merging follows overlayfs (Linux `Documentation/filesystems/overlayfs.rst`,
//! "Directories", "whiteouts and opaque directories"), layers topmost
//! first:
//! - the topmost layer holding a name decides what it is (type, metadata,
//!   content);
//! - a directory merges with the same-named directories of the layers
//!   below, down to the first layer where the name is not a directory, is
//!   whited out, or the directory is opaque;
//! - a whiteout (a 0/0 character device; for aufs layers a `.wh.<name>`
//!   file) hides the name in every layer below, and is never shown;
//! - an opaque directory (`trusted.overlay.opaque=y`, rootless
//!   `user.overlay.opaque=y`; for aufs a `.wh..wh..opq` entry) hides the
//!   directories of the same name below it;
//! - aufs's own bookkeeping at a layer's root (`.wh..wh.aufs`,
//!   `.wh..wh.orph`, `.wh..wh.plnk`) is never shown.
//!
//! Names in one directory are listed sorted. Hard links (a non-directory
//! whose link count is above one, met again under its inode number) share
//! one inode of the view. The walk is breadth first (no recursion, so a
//! deep hostile tree cannot exhaust the stack) and stops with an error
//! past [`MAX_ENTRIES`] names or [`MAX_PATH_BYTES`] of paths, so memory
//! stays bounded.

use crate::evidence::fs::{EvPath, FileKind, FileSystem, Metadata, Timestamp, Xattrs};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Most names a view holds (about 200 bytes each in memory).
pub const MAX_ENTRIES: usize = 5_000_000;

/// Most bytes of evidence paths a view keeps (each node keeps its full
/// path: a hostile, very deep tree would otherwise grow quadratically).
pub const MAX_PATH_BYTES: usize = 1 << 30;

/// Most problems (unreadable directories or entries) kept; past that,
/// they are counted.
const MAX_PROBLEMS: usize = 100;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const AUFS_OPAQUE: &[u8] = b".wh..wh..opq";

/// An inode number of the view (1 is the root, as FUSE wants it).
pub type Ino = u64;

/// One layer directory of the stack.
#[derive(Debug, Clone)]
pub struct ViewLayer {
    /// The directory holding the layer's own files.
    pub dir: EvPath,
    /// Whiteouts are aufs's `.wh.` files rather than overlay's 0/0
    /// character devices.
    pub aufs: bool,
    /// The layer's name for messages and provenance (`layer 2 sha256:…`,
    /// `writable layer`).
    pub label: String,
}

impl ViewLayer {
    /// A layer at `dir`; aufs when the directory is under `aufs/diff/`
    /// (Docker's aufs driver, see `store::docker::layers`).
    pub fn new(dir: EvPath, label: impl Into<String>) -> ViewLayer {
        let comps: Vec<&[u8]> = dir.components().collect();
        let aufs = comps
            .windows(2)
            .any(|w| w[0] == b"aufs".as_slice() && w[1] == b"diff".as_slice());
        ViewLayer {
            dir,
            aufs,
            label: label.into(),
        }
    }
}

/// What a node's bytes and attributes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An object in the evidence (layer index into the view's layers).
    Evidence {
        /// Index into the view's layers (topmost first).
        layer: usize,
        /// Its path in the evidence.
        path: EvPath,
    },
    /// A directory the view makes (the root of `--layers`).
    Synthetic,
    /// A file the view makes, with its bytes (the provenance file).
    Bytes(Vec<u8>),
}

/// One inode of the view.
#[derive(Debug, Clone)]
pub struct Node {
    /// Metadata as recorded (for a merged directory: its topmost layer's).
    pub meta: Metadata,
    /// Where it comes from.
    pub source: Source,
    /// The directory it was first found in (the root is its own parent).
    pub parent: Ino,
    /// For a directory: its entries, sorted by name.
    pub children: Vec<(Vec<u8>, Ino)>,
    /// Show `trusted.overlay.*` / `user.overlay.*` attributes (the raw
    /// layers view) or hide them (the merged view).
    pub overlay_xattrs: bool,
}

impl Node {
    /// The kind of object.
    pub fn kind(&self) -> FileKind {
        self.meta.kind
    }
}

/// Why a view cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// More names than [`MAX_ENTRIES`].
    #[error(
        "the tree has more than {limit} entries; refusing to hold more in memory (is the evidence hostile?)"
    )]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// Its paths add up to more than [`MAX_PATH_BYTES`].
    #[error(
        "the tree's paths add up to more than {limit} bytes (a very deep tree); refusing to hold more in memory (is the evidence hostile?)"
    )]
    PathsTooLong {
        /// The limit.
        limit: usize,
    },
    /// A layer's own directory cannot be read.
    #[error("{label}: its directory {path} cannot be read: {source}")]
    LayerUnreadable {
        /// The layer.
        label: String,
        /// Its directory in the evidence.
        path: String,
        /// Why.
        #[source]
        source: crate::evidence::fs::FsError,
    },
    /// The stack has no layer.
    #[error("nothing to show: no layer")]
    NoLayer,
}

/// The inode table.
pub struct Tree<'a> {
    fs: &'a dyn FileSystem,
    layers: Vec<ViewLayer>,
    nodes: Vec<Node>,
    /// What could not be read while building it (one line each).
    pub problems: Vec<String>,
    problems_omitted: usize,
    limit: usize,
    path_bytes: usize,
    hard_links: HashMap<(usize, u64), Ino>,
}

/// A directory still to list: the view's node and its directories in the
/// layers, topmost first.
struct Pending {
    ino: Ino,
    sources: Vec<(usize, EvPath)>,
}

/// One name of a directory being merged.
struct Candidate {
    layer: usize,
    path: EvPath,
    meta: Metadata,
    /// Directories of the same name below, to merge (topmost first).
    dirs: Vec<(usize, EvPath)>,
    /// Lower layers may still add directories to merge.
    open: bool,
}

impl<'a> Tree<'a> {
    /// The merged tree of `layers` (topmost first), as overlayfs shows
    /// it.
    pub fn merged(fs: &'a dyn FileSystem, layers: Vec<ViewLayer>) -> Result<Tree<'a>, ViewError> {
        Self::merged_limited(fs, layers, MAX_ENTRIES)
    }

    /// [`Tree::merged`] holding at most `limit` names.
    pub fn merged_limited(
        fs: &'a dyn FileSystem,
        layers: Vec<ViewLayer>,
        limit: usize,
    ) -> Result<Tree<'a>, ViewError> {
        let mut t = Tree::empty(fs, layers, limit)?;
        let mut sources = Vec::new();
        for (i, l) in t.layers.iter().enumerate() {
            sources.push((i, l.dir.clone()));
            if t.dir_opaque(i, &l.dir) {
                break;
            }
        }
        let root_meta = t.root_meta(0)?;
        t.nodes.push(Node {
            meta: root_meta,
            source: Source::Evidence {
                layer: 0,
                path: t.layers[0].dir.clone(),
            },
            parent: 1,
            children: Vec::new(),
            overlay_xattrs: false,
        });
        t.fill(Pending { ino: 1, sources }, true)?;
        t.count_links();
        Ok(t)
    }

    /// Every layer side by side under `layer_<n>/` (`n` counted from the
    /// lowest, 0), unmerged: whiteouts and opaque markers shown as
    /// stored. `layers` is topmost first, as for [`Tree::merged`].
    pub fn side_by_side(
        fs: &'a dyn FileSystem,
        layers: Vec<ViewLayer>,
    ) -> Result<Tree<'a>, ViewError> {
        Self::side_by_side_limited(fs, layers, MAX_ENTRIES)
    }

    /// [`Tree::side_by_side`] holding at most `limit` names.
    pub fn side_by_side_limited(
        fs: &'a dyn FileSystem,
        layers: Vec<ViewLayer>,
        limit: usize,
    ) -> Result<Tree<'a>, ViewError> {
        let mut t = Tree::empty(fs, layers, limit)?;
        let mut root = t.root_meta(0)?;
        root.perm = 0o555;
        t.nodes.push(Node {
            meta: root,
            source: Source::Synthetic,
            parent: 1,
            children: Vec::new(),
            overlay_xattrs: true,
        });
        let n = t.layers.len();
        for i in (0..n).rev() {
            let meta = t.root_meta(i)?;
            let name = format!("layer_{}", n - 1 - i).into_bytes();
            let ino = t.add(
                1,
                name,
                Node {
                    meta,
                    source: Source::Evidence {
                        layer: i,
                        path: t.layers[i].dir.clone(),
                    },
                    parent: 1,
                    children: Vec::new(),
                    overlay_xattrs: true,
                },
            )?;
            let dir = t.layers[i].dir.clone();
            t.fill(
                Pending {
                    ino,
                    sources: vec![(i, dir)],
                },
                false,
            )?;
        }
        // `layer_10` sorts before `layer_2`: lookups want byte order.
        if let Some(root) = t.node_mut(1) {
            root.children.sort_by(|a, b| a.0.cmp(&b.0));
        }
        t.count_links();
        Ok(t)
    }

    /// A directory's link count as a Linux filesystem gives it: 2 plus
    /// one per subdirectory (the merged directory's, not any one
    /// layer's).
    fn count_links(&mut self) {
        let counts: Vec<u64> = self
            .nodes
            .iter()
            .map(|n| {
                2 + n
                    .children
                    .iter()
                    .filter(|(_, c)| self.node(*c).is_some_and(|c| c.meta.is_dir()))
                    .count() as u64
            })
            .collect();
        for (n, c) in self.nodes.iter_mut().zip(counts) {
            if n.meta.is_dir() {
                n.meta.nlink = c;
            }
        }
    }

    fn empty(
        fs: &'a dyn FileSystem,
        layers: Vec<ViewLayer>,
        limit: usize,
    ) -> Result<Tree<'a>, ViewError> {
        if layers.is_empty() {
            return Err(ViewError::NoLayer);
        }
        Ok(Tree {
            fs,
            layers,
            nodes: Vec::new(),
            problems: Vec::new(),
            problems_omitted: 0,
            limit,
            path_bytes: 0,
            hard_links: HashMap::new(),
        })
    }

    fn root_meta(&self, layer: usize) -> Result<Metadata, ViewError> {
        let l = &self.layers[layer];
        let unreadable = |source| ViewError::LayerUnreadable {
            label: l.label.clone(),
            path: l.dir.display(),
            source,
        };
        let meta = self.fs.metadata(&l.dir).map_err(unreadable)?;
        if !meta.is_dir() {
            return Err(unreadable(crate::evidence::fs::FsError::NotADirectory {
                path: l.dir.display(),
            }));
        }
        Ok(meta)
    }

    /// Lists directories breadth first from `start`, merging (`merge`)
    /// or showing every entry as stored.
    fn fill(&mut self, start: Pending, merge: bool) -> Result<(), ViewError> {
        let mut queue = VecDeque::from([start]);
        while let Some(p) = queue.pop_front() {
            let entries = self.merge_dir(&p.sources, merge);
            for (name, c) in entries {
                let is_dir = c.meta.is_dir();
                let ino = self.add_entry(p.ino, name, &c, !merge)?;
                if is_dir {
                    let mut sources = vec![(c.layer, c.path)];
                    sources.extend(c.dirs);
                    queue.push_back(Pending { ino, sources });
                }
            }
        }
        Ok(())
    }

    /// The entries of one directory of the view, from its directories in
    /// the layers (topmost first).
    fn merge_dir(
        &mut self,
        sources: &[(usize, EvPath)],
        merge: bool,
    ) -> BTreeMap<Vec<u8>, Candidate> {
        let mut out: BTreeMap<Vec<u8>, Candidate> = BTreeMap::new();
        let mut hidden: HashSet<Vec<u8>> = HashSet::new();
        for (layer, dir) in sources {
            let layer = *layer;
            let aufs = self.layers[layer].aufs;
            let entries = match self.fs.read_dir(dir) {
                Ok(e) => e,
                Err(e) => {
                    self.problem(format!("{}: {e}", self.layers[layer].label));
                    continue;
                }
            };
            let mut whiteouts: Vec<Vec<u8>> = Vec::new();
            for e in entries {
                if merge && aufs && e.name.starts_with(WHITEOUT_PREFIX) {
                    if !e.name.starts_with(AUFS_META_PREFIX) {
                        whiteouts.push(e.name[WHITEOUT_PREFIX.len()..].to_vec());
                    }
                    continue;
                }
                // A name no Linux directory can hold (empty, `/`, NUL, `.`,
                // `..`) is corrupt or hostile: noted, not shown.
                let path = match dir.child(&e.name) {
                    Some(p) if !e.name.contains(&0) => p,
                    _ => {
                        self.problem(format!(
                            "{}: {dir}: an entry named {:?} cannot be shown",
                            self.layers[layer].label,
                            String::from_utf8_lossy(&e.name)
                        ));
                        continue;
                    }
                };
                let meta = match self.fs.metadata(&path) {
                    Ok(m) => m,
                    Err(err) => {
                        self.problem(format!("{}: {err}", self.layers[layer].label));
                        continue;
                    }
                };
                if merge && !aufs && meta.is_overlay_whiteout() {
                    whiteouts.push(e.name);
                    continue;
                }
                match out.get_mut(&e.name) {
                    None if !hidden.contains(&e.name) => {
                        let open = merge && meta.is_dir() && !self.dir_opaque(layer, &path);
                        out.insert(
                            e.name,
                            Candidate {
                                layer,
                                path,
                                meta,
                                dirs: Vec::new(),
                                open,
                            },
                        );
                    }
                    Some(c) if c.open => {
                        if meta.is_dir() {
                            c.open = !self.dir_opaque(layer, &path);
                            c.dirs.push((layer, path));
                        } else {
                            c.open = false;
                        }
                    }
                    _ => {}
                }
            }
            for name in whiteouts {
                if let Some(c) = out.get_mut(&name) {
                    c.open = false;
                }
                hidden.insert(name);
            }
        }
        out
    }

    /// True when directory `dir` of layer `layer` hides the layers below.
    fn dir_opaque(&self, layer: usize, dir: &EvPath) -> bool {
        if self.layers[layer].aufs {
            dir.child(AUFS_OPAQUE)
                .is_some_and(|p| self.fs.metadata(&p).is_ok())
        } else {
            crate::layer::is_opaque(self.fs, dir)
        }
    }

    fn add_entry(
        &mut self,
        parent: Ino,
        name: Vec<u8>,
        c: &Candidate,
        overlay_xattrs: bool,
    ) -> Result<Ino, ViewError> {
        if !c.meta.is_dir() && c.meta.nlink > 1 {
            let key = (self.fs_key(c.layer), c.meta.ino);
            if let Some(&ino) = self.hard_links.get(&key) {
                self.link(parent, name, ino)?;
                return Ok(ino);
            }
        }
        let ino = self.add(
            parent,
            name,
            Node {
                meta: c.meta.clone(),
                source: Source::Evidence {
                    layer: c.layer,
                    path: c.path.clone(),
                },
                parent,
                children: Vec::new(),
                overlay_xattrs,
            },
        )?;
        if !c.meta.is_dir() && c.meta.nlink > 1 {
            self.hard_links
                .insert((self.fs_key(c.layer), c.meta.ino), ino);
        }
        Ok(ino)
    }

    /// Every layer of a view is on the one filesystem of its store, so
    /// inode numbers are unique across layers.
    fn fs_key(&self, _layer: usize) -> usize {
        0
    }

    /// Adds a new node named `name` in directory `parent`.
    fn add(&mut self, parent: Ino, name: Vec<u8>, node: Node) -> Result<Ino, ViewError> {
        if self.nodes.len() >= self.limit {
            return Err(ViewError::TooManyEntries { limit: self.limit });
        }
        if let Source::Evidence { path, .. } = &node.source {
            self.path_bytes += path.as_bytes().len() + name.len();
            if self.path_bytes > MAX_PATH_BYTES {
                return Err(ViewError::PathsTooLong {
                    limit: MAX_PATH_BYTES,
                });
            }
        }
        self.nodes.push(node);
        let ino = self.nodes.len() as Ino;
        self.link(parent, name, ino)?;
        Ok(ino)
    }

    /// One more name for `ino` in `parent` (names arrive sorted).
    fn link(&mut self, parent: Ino, name: Vec<u8>, ino: Ino) -> Result<(), ViewError> {
        let limit = self.limit;
        let Some(dir) = self.node_mut(parent) else {
            return Ok(());
        };
        if dir.children.len() >= limit {
            return Err(ViewError::TooManyEntries { limit });
        }
        dir.children.push((name, ino));
        Ok(())
    }

    fn node_mut(&mut self, ino: Ino) -> Option<&mut Node> {
        let i = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.nodes.get_mut(i)
    }

    fn problem(&mut self, line: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(line);
        } else {
            self.problems_omitted += 1;
        }
    }

    /// Problems not kept in [`Tree::problems`].
    pub fn problems_omitted(&self) -> usize {
        self.problems_omitted
    }

    /// Adds a read-only file at the root (the provenance file).
    pub fn add_root_file(&mut self, name: &[u8], bytes: Vec<u8>) -> Result<Ino, ViewError> {
        let root = self.node(1).map(|n| n.meta.clone());
        let now = Timestamp::default();
        let (uid, gid, mtime) = root.map_or((0, 0, now), |m| (m.uid, m.gid, m.mtime));
        let meta = Metadata {
            kind: FileKind::File,
            perm: 0o444,
            uid,
            gid,
            size: bytes.len() as u64,
            nlink: 1,
            ino: 0,
            rdev_major: 0,
            rdev_minor: 0,
            mtime,
            atime: mtime,
            ctime: mtime,
            btime: None,
        };
        let ino = self.add(
            1,
            name.to_vec(),
            Node {
                meta,
                source: Source::Bytes(bytes),
                parent: 1,
                children: Vec::new(),
                overlay_xattrs: false,
            },
        )?;
        if let Some(root) = self.node_mut(1) {
            root.children.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(ino)
    }

    /// The node with inode number `ino`.
    pub fn node(&self, ino: Ino) -> Option<&Node> {
        let i = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.nodes.get(i)
    }

    /// The inode of `name` in directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &[u8]) -> Option<Ino> {
        let dir = self.node(parent)?;
        dir.children
            .binary_search_by(|(n, _)| n.as_slice().cmp(name))
            .ok()
            .and_then(|i| dir.children.get(i))
            .map(|(_, ino)| *ino)
    }

    /// Number of inodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there is no inode (never, once built).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The filesystem the layers are on.
    pub fn fs(&self) -> &'a dyn FileSystem {
        self.fs
    }

    /// The layers, topmost first.
    pub fn layers(&self) -> &[ViewLayer] {
        &self.layers
    }

    /// The extended attributes of `node` as the view shows them: the
    /// overlay's own (`trusted.overlay.*`, `user.overlay.*`) hidden in a
    /// merged view.
    pub fn xattrs(&self, node: &Node) -> Xattrs {
        let Source::Evidence { path, .. } = &node.source else {
            return Vec::new();
        };
        let mut x = self.fs.xattrs(path).unwrap_or_default();
        if !node.overlay_xattrs {
            x.retain(|(k, _)| {
                !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay.")
            });
        }
        x
    }

    /// The target of the symlink `node`, as stored.
    pub fn read_link(&self, node: &Node) -> Option<Vec<u8>> {
        match &node.source {
            Source::Evidence { path, .. } => self.fs.read_link(path).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};

    fn names(t: &Tree<'_>, dir: Ino) -> Vec<String> {
        t.node(dir)
            .map(|n| {
                n.children
                    .iter()
                    .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn layer(p: &str) -> ViewLayer {
        ViewLayer::new(EvPath::parse(p).unwrap(), p)
    }

    fn path(t: &Tree<'_>, p: &str) -> Option<Ino> {
        let mut ino = 1;
        for c in p.split('/').filter(|c| !c.is_empty()) {
            ino = t.lookup(ino, c.as_bytes())?;
        }
        Some(ino)
    }

    fn stack() -> MemFs {
        let mut fs = MemFs::new();
        fs.add("low", MemNode::dir())
            .add("low/etc", MemNode::dir())
            .add("low/etc/passwd", MemNode::file(b"root"))
            .add("low/etc/gone", MemNode::file(b"x"))
            .add("low/srv", MemNode::dir())
            .add("low/srv/old", MemNode::file(b"old"))
            .add("low/bin", MemNode::dir())
            .add("low/bin/sh", MemNode::file(b"sh"))
            .add("up", MemNode::dir())
            .add("up/etc", MemNode::dir())
            .add("up/etc/gone", MemNode::whiteout())
            .add("up/etc/new", MemNode::file(b"n"))
            .add(
                "up/srv",
                MemNode::dir().xattr(b"trusted.overlay.opaque", b"y"),
            )
            .add("up/srv/fresh", MemNode::file(b"f"))
            .add("up/bin", MemNode::file(b"not a dir"));
        fs
    }

    #[test]
    fn overlay_merge_applies_whiteouts_and_opaque_dirs() {
        let fs = stack();
        let t = Tree::merged(&fs, vec![layer("up"), layer("low")]).unwrap();
        assert_eq!(names(&t, 1), ["bin", "etc", "srv"]);
        assert_eq!(names(&t, path(&t, "etc").unwrap()), ["new", "passwd"]);
        assert_eq!(names(&t, path(&t, "srv").unwrap()), ["fresh"]);
        let bin = t.node(path(&t, "bin").unwrap()).unwrap();
        assert_eq!(bin.kind(), FileKind::File);
        let srv = t.node(path(&t, "srv").unwrap()).unwrap();
        assert!(t.xattrs(srv).is_empty(), "overlay xattrs are hidden");
        // Root: etc and srv are directories (bin is a file in the top).
        assert_eq!(t.node(1).unwrap().meta.nlink, 4);
    }

    #[test]
    fn side_by_side_shows_whiteouts() {
        let fs = stack();
        let t = Tree::side_by_side(&fs, vec![layer("up"), layer("low")]).unwrap();
        assert_eq!(names(&t, 1), ["layer_0", "layer_1"]);
        let gone = t.node(path(&t, "layer_1/etc/gone").unwrap()).unwrap();
        assert!(gone.meta.is_overlay_whiteout());
        assert_eq!(names(&t, path(&t, "layer_0/srv").unwrap()), ["old"]);
        let srv = t.node(path(&t, "layer_1/srv").unwrap()).unwrap();
        assert!(!t.xattrs(srv).is_empty());
    }

    #[test]
    fn side_by_side_finds_every_layer_past_ten() {
        let mut fs = MemFs::new();
        let mut layers = Vec::new();
        for i in (0..12).rev() {
            fs.add(format!("l{i}"), MemNode::dir())
                .add(format!("l{i}/f{i}"), MemNode::file(b"x"));
            layers.push(layer(&format!("l{i}")));
        }
        let t = Tree::side_by_side(&fs, layers).unwrap();
        for i in 0..12 {
            assert!(path(&t, &format!("layer_{i}/f{i}")).is_some(), "layer_{i}");
        }
    }

    #[test]
    fn aufs_whiteouts_are_files() {
        let mut fs = MemFs::new();
        fs.add("aufs/diff/low", MemNode::dir())
            .add("aufs/diff/low/a", MemNode::file(b"a"))
            .add("aufs/diff/low/d", MemNode::dir())
            .add("aufs/diff/low/d/x", MemNode::file(b"x"))
            .add("aufs/diff/up", MemNode::dir())
            .add("aufs/diff/up/.wh.a", MemNode::file(b""))
            .add("aufs/diff/up/.wh..wh.plnk", MemNode::dir())
            .add("aufs/diff/up/d", MemNode::dir())
            .add("aufs/diff/up/d/.wh..wh..opq", MemNode::file(b""))
            .add("aufs/diff/up/d/y", MemNode::file(b"y"));
        let t = Tree::merged(&fs, vec![layer("aufs/diff/up"), layer("aufs/diff/low")]).unwrap();
        assert_eq!(names(&t, 1), ["d"]);
        assert_eq!(names(&t, path(&t, "d").unwrap()), ["y"]);
    }

    #[test]
    fn entries_are_bounded() {
        let fs = stack();
        let err = Tree::merged_limited(&fs, vec![layer("up"), layer("low")], 4)
            .err()
            .unwrap();
        assert!(matches!(err, ViewError::TooManyEntries { limit: 4 }));
    }
}
