//! A container's filesystem as its union mount shows it: the writable
//! layer over the layers below, topmost first, each path taken from the
//! topmost layer that has it; a whiteout hides the path in the layers
//! below, an opaque directory hides what the layers below had in it, a
//! non-directory hides a directory of the same name below (Linux
//! `Documentation/filesystems/overlayfs.rst`; aufs: `.wh.<name>` files,
//! `.wh..wh..opq`, and the branch's `.wh..wh.*` bookkeeping, never shown).
//! Nothing is followed: a symlink is a leaf.

use super::content::is_opaque;
use crate::evidence::fs::{EvPath, FileSystem, Metadata};
use std::collections::BTreeSet;

/// How the layers mark what they delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// 0/0 character devices, `trusted.overlay.opaque=y` (overlay,
    /// overlay2, containerd's overlayfs).
    Overlay,
    /// `.wh.<name>` files, `.wh..wh..opq` (aufs).
    Aufs,
}

pub(crate) const WH_PREFIX: &[u8] = b".wh.";
pub(crate) const WH_OPAQUE: &[u8] = b".wh..wh..opq";

/// One path of the merged view.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Where its metadata and content are, in the evidence.
    pub path: EvPath,
    pub meta: Metadata,
    /// For a directory, the layers' directories that make it up, topmost
    /// first.
    pub dirs: Vec<EvPath>,
}

/// The union of `layers` (topmost first).
pub(crate) struct Merged<'a> {
    pub fs: &'a dyn FileSystem,
    pub layers: &'a [EvPath],
    pub style: Whiteouts,
}

impl Merged<'_> {
    /// The root: every layer's root that is a directory.
    pub(crate) fn root(&self) -> Option<Node> {
        let dirs: Vec<EvPath> = self
            .layers
            .iter()
            .filter(|l| self.fs.metadata(l).is_ok_and(|m| m.is_dir()))
            .cloned()
            .collect();
        let first = dirs.first()?;
        Some(Node {
            path: first.clone(),
            meta: self.fs.metadata(first).ok()?,
            dirs,
        })
    }

    /// The path `rel` of the view.
    pub(crate) fn lookup(&self, rel: &EvPath) -> Option<Node> {
        let mut node = self.root()?;
        for name in rel.components() {
            node = self.child(&node.dirs, name)?;
        }
        Some(node)
    }

    /// What the directory `dir` holds, sorted by name.
    pub(crate) fn children(&self, dir: &Node) -> Vec<(Vec<u8>, Node)> {
        let mut names = BTreeSet::new();
        for d in &dir.dirs {
            let Ok(entries) = self.fs.read_dir(d) else {
                continue;
            };
            for e in entries {
                if self.style == Whiteouts::Aufs && e.name.starts_with(WH_PREFIX) {
                    continue;
                }
                names.insert(e.name);
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.child(&dir.dirs, &n).map(|c| (n, c)))
            .collect()
    }

    /// `name` in the directory made of `dirs`.
    fn child(&self, dirs: &[EvPath], name: &[u8]) -> Option<Node> {
        if self.style == Whiteouts::Aufs && name.starts_with(WH_PREFIX) {
            return None;
        }
        let mut found: Option<Node> = None;
        for d in dirs {
            if self.style == Whiteouts::Aufs {
                let mut wh = WH_PREFIX.to_vec();
                wh.extend_from_slice(name);
                if d.child(&wh).is_some_and(|p| self.fs.metadata(&p).is_ok()) {
                    break;
                }
            }
            let p = d.child(name)?;
            let Ok(m) = self.fs.metadata(&p) else {
                continue;
            };
            if self.style == Whiteouts::Overlay && m.is_overlay_whiteout() {
                break;
            }
            let is_dir = m.is_dir();
            match &mut found {
                None => {
                    found = Some(Node {
                        path: p.clone(),
                        meta: m,
                        dirs: if is_dir { vec![p.clone()] } else { Vec::new() },
                    });
                }
                Some(top) if is_dir => top.dirs.push(p.clone()),
                Some(_) => break,
            }
            if !is_dir || self.opaque(&p) {
                break;
            }
        }
        found
    }

    fn opaque(&self, dir: &EvPath) -> bool {
        match self.style {
            Whiteouts::Overlay => is_opaque(self.fs, dir),
            Whiteouts::Aufs => dir
                .child(WH_OPAQUE)
                .is_some_and(|p| self.fs.metadata(&p).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::path;

    fn names(m: &Merged<'_>, rel: &str) -> Vec<String> {
        let n = m.lookup(&path(rel)).unwrap();
        m.children(&n)
            .into_iter()
            .map(|(n, _)| String::from_utf8(n).unwrap())
            .collect()
    }

    #[test]
    fn overlay_union() {
        let mut fs = MemFs::new();
        fs.add("lo/d/a", MemNode::file(b"a"))
            .add("lo/d/b", MemNode::file(b"b"))
            .add("lo/o/x", MemNode::file(b"x"))
            .add("lo/f", MemNode::file(b"lower"))
            .add("lo/gone", MemNode::file(b"g"))
            .add("up/d/c", MemNode::file(b"c"))
            .add("up/d/a", MemNode::whiteout())
            .add("up/gone", MemNode::whiteout())
            .add("up/f", MemNode::file(b"upper"))
            .add(
                "up/o",
                MemNode::dir().xattr(b"trusted.overlay.opaque", b"y"),
            )
            .add("up/o/y", MemNode::file(b"y"));
        let layers = [path("up"), path("lo")];
        let m = Merged {
            fs: &fs,
            layers: &layers,
            style: Whiteouts::Overlay,
        };
        assert_eq!(names(&m, ""), ["d", "f", "o"]);
        assert_eq!(names(&m, "d"), ["b", "c"]);
        assert_eq!(names(&m, "o"), ["y"]);
        assert_eq!(m.lookup(&path("f")).unwrap().path, path("up/f"));
        assert_eq!(m.lookup(&path("d/b")).unwrap().path, path("lo/d/b"));
        assert!(m.lookup(&path("gone")).is_none());
    }

    #[test]
    fn aufs_union_hides_its_bookkeeping() {
        let mut fs = MemFs::new();
        fs.add("lo/d/a", MemNode::file(b"a"))
            .add("lo/d/b", MemNode::file(b"b"))
            .add("lo/.wh..wh.aufs", MemNode::file(b""))
            .add("up/d/.wh.a", MemNode::file(b""))
            .add("up/.wh..wh.plnk/x", MemNode::file(b""))
            .add("up/n/.wh..wh..opq", MemNode::file(b""))
            .add("lo/n/old", MemNode::file(b""));
        let layers = [path("up"), path("lo")];
        let m = Merged {
            fs: &fs,
            layers: &layers,
            style: Whiteouts::Aufs,
        };
        assert_eq!(names(&m, ""), ["d", "n"]);
        assert_eq!(names(&m, "d"), ["b"]);
        assert!(names(&m, "n").is_empty());
    }
}
