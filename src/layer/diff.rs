//! What a container changed: the container's filesystem (its writable
//! layer over the layers below) compared with its image's (the layers
//! below alone), with the rules of `docker diff` when the daemon compares
//! the two trees (moby `pkg/archive/changes.go`, `ChangesDirs` and
//! `statDifferent`; it is also what `podman diff` and containerd's differ
//! report):
//! - a path that is new is `A` (and so is everything under a new
//!   directory);
//! - a path that exists in both is `C` when its type, permissions, owner,
//!   device number or `security.capability` differ, or, for a
//!   non-directory, its size or mtime (directories' sizes and mtimes are
//!   not a measure of change);
//! - a directory with any change below it is `C` too;
//! - a path the image had and the container does not is `D`: an overlay
//!   whiteout (0/0 character device), or an entry of the image's directory
//!   hidden by an opaque directory (`trusted.overlay.opaque=y`).
//!
//! aufs containers follow the rules of the daemon's aufs driver instead
//! ([`aufs_changes`]).
//!
//! Only paths in the writable layer can differ, so only it is walked; the
//! image's view of a path is looked up through the lower layers, topmost
//! first, honouring their whiteouts and opaque directories. Nothing is
//! followed: lookups never pass through a symlink. The list is sorted by
//! path (the daemon's own order is that of Go map iteration).

use super::content::is_opaque;
use crate::evidence::fs::{EvPath, FileKind, FileSystem, FsError, Metadata, Timestamp};
use serde::Serialize;
use std::collections::BTreeSet;

/// One change, as `docker diff` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// Absolute path inside the container (`/tmp/x`).
    pub path: String,
    /// `A`, `C` or `D`.
    pub kind: char,
    /// The path is (or, for `D`, was) a directory.
    pub is_dir: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.path)
    }
}

/// Changes of `upper` over `lowers` (topmost lower first).
pub fn changes(
    fs: &dyn FileSystem,
    upper: &EvPath,
    lowers: &[EvPath],
) -> Result<Vec<Change>, FsError> {
    let view = LowerView { fs, lowers };
    let mut out = Vec::new();
    walk(fs, upper, &view, &EvPath::root(), &mut out)?;
    out.sort();
    Ok(out)
}

/// The image's filesystem: the lower layers merged as overlayfs would.
struct LowerView<'a> {
    fs: &'a dyn FileSystem,
    lowers: &'a [EvPath],
}

impl LowerView<'_> {
    /// Metadata (and the layer it was found in) of `rel` in the image.
    fn lookup(&self, rel: &EvPath) -> Option<(usize, Metadata)> {
        'layers: for (i, layer) in self.lowers.iter().enumerate() {
            // An ancestor whited out or opaque in this layer hides `rel`
            // in every layer below; a non-directory ancestor hides it too.
            let mut prefix = EvPath::root();
            for comp in rel.parent().components() {
                prefix = prefix.child(comp)?;
                match self.fs.metadata(&layer.join_path(&prefix)) {
                    Ok(m) if m.is_dir() => {
                        if is_opaque(self.fs, &layer.join_path(&prefix)) {
                            // Below an opaque dir only this layer counts.
                            return self
                                .here(layer, rel)
                                .filter(|m| !m.is_overlay_whiteout())
                                .map(|m| (i, m));
                        }
                    }
                    Ok(_) => return None,
                    Err(_) => continue 'layers,
                }
            }
            if let Some(m) = self.here(layer, rel) {
                return (!m.is_overlay_whiteout()).then_some((i, m));
            }
        }
        None
    }

    fn here(&self, layer: &EvPath, rel: &EvPath) -> Option<Metadata> {
        self.fs.metadata(&layer.join_path(rel)).ok()
    }

    /// Names in the image's directory `rel`.
    fn children(&self, rel: &EvPath) -> BTreeSet<Vec<u8>> {
        let mut names = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for layer in self.lowers {
            let dir = layer.join_path(rel);
            let Ok(entries) = self.fs.read_dir(&dir) else {
                continue;
            };
            for e in entries {
                if hidden.contains(&e.name) || names.contains(&e.name) {
                    continue;
                }
                let whiteout = e.kind == FileKind::CharDevice
                    && dir
                        .child(&e.name)
                        .and_then(|p| self.fs.metadata(&p).ok())
                        .is_some_and(|m| m.is_overlay_whiteout());
                if whiteout {
                    hidden.insert(e.name);
                } else {
                    names.insert(e.name);
                }
            }
            if is_opaque(self.fs, &dir) {
                break;
            }
        }
        names
    }
}

/// Walks the upper directory `rel`; returns whether anything changed.
fn walk(
    fs: &dyn FileSystem,
    upper: &EvPath,
    view: &LowerView<'_>,
    rel: &EvPath,
    out: &mut Vec<Change>,
) -> Result<bool, FsError> {
    let dir = upper.join_path(rel);
    let entries = fs.read_dir(&dir)?;
    let mut changed = false;
    let mut present = BTreeSet::new();
    for e in &entries {
        let Some(child) = rel.child(&e.name) else {
            continue;
        };
        let meta = fs.metadata(&upper.join_path(&child))?;
        let below = view.lookup(&child).map(|(_, m)| m);
        if meta.is_overlay_whiteout() {
            if let Some(old) = &below {
                out.push(change('D', &child, old.is_dir()));
                changed = true;
            }
            continue;
        }
        present.insert(e.name.clone());
        match below {
            None => {
                out.push(change('A', &child, meta.is_dir()));
                changed = true;
                if meta.is_dir() {
                    walk(fs, upper, view, &child, out)?;
                }
            }
            Some(old) => {
                let differs = stat_different(&old, &meta)
                    || capability(fs, &upper.join_path(&child)) != old_capability(view, &child);
                let inner = meta.is_dir() && walk(fs, upper, view, &child, out)?;
                if differs || inner {
                    out.push(change('C', &child, meta.is_dir()));
                    changed = true;
                }
            }
        }
    }
    // An opaque directory hides everything the image had in it.
    if !rel.is_root() && is_opaque(fs, &dir) && view.lookup(rel).is_some() {
        for name in view.children(rel) {
            if !present.contains(&name)
                && let Some(child) = rel.child(&name)
            {
                let was_dir = view.lookup(&child).is_some_and(|(_, m)| m.is_dir());
                out.push(change('D', &child, was_dir));
                changed = true;
            }
        }
    }
    Ok(changed)
}

fn change(kind: char, rel: &EvPath, is_dir: bool) -> Change {
    Change {
        kind,
        path: rel.display(),
        is_dir,
    }
}

/// moby `statDifferent` (Linux): type and permissions, owner, device;
/// size and mtime only for non-directories.
fn stat_different(old: &Metadata, new: &Metadata) -> bool {
    old.kind != new.kind
        || old.perm != new.perm
        || old.uid != new.uid
        || old.gid != new.gid
        || (old.rdev_major, old.rdev_minor) != (new.rdev_major, new.rdev_minor)
        || (!new.is_dir() && (!same_time(old.mtime, new.mtime) || old.size != new.size))
}

/// Go's `sameFsTime`: equal, or equal seconds where one side has no
/// sub-second part (filesystems that do not keep nanoseconds).
fn same_time(a: Timestamp, b: Timestamp) -> bool {
    a == b || (a.secs == b.secs && (a.nanos == 0 || b.nanos == 0))
}

fn capability(fs: &dyn FileSystem, path: &EvPath) -> Option<Vec<u8>> {
    fs.xattrs(path)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == b"security.capability")
        .map(|(_, v)| v)
}

fn old_capability(view: &LowerView<'_>, rel: &EvPath) -> Option<Vec<u8>> {
    let (i, _) = view.lookup(rel)?;
    capability(view.fs, &view.lowers[i].join_path(rel))
}

/// Changes of an aufs writable layer `upper` over `lowers`, as moby
/// 20.10's aufs driver lists them (`pkg/archive/changes.go`, `Changes`
/// with `aufsDeletedFile` and `aufsMetadataSkip`), walking the writable
/// layer alone:
/// - the branch's `.wh..wh.*` bookkeeping at its top is skipped (what it
///   holds is not: moby walks into it);
/// - a `.wh.<name>` file is `D <name>`;
/// - any other path is `C` when some lower layer has it (whatever their
///   whiteouts say), else `A`; a directory some lower layer has with the
///   same size, mode and mtime is no change;
/// - the directory of an `A` or `D` is `C` unless already listed (or it
///   is `/`).
///
/// moby's "has it" follows symlinks (`os.Stat`); here a lower path is
/// looked at as it is, never followed.
pub fn aufs_changes(
    fs: &dyn FileSystem,
    upper: &EvPath,
    lowers: &[EvPath],
) -> Result<Vec<Change>, FsError> {
    let mut out = Vec::new();
    let mut changed_dirs = BTreeSet::new();
    aufs_walk(
        fs,
        upper,
        lowers,
        &EvPath::root(),
        &mut out,
        &mut changed_dirs,
    )?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn aufs_walk(
    fs: &dyn FileSystem,
    upper: &EvPath,
    lowers: &[EvPath],
    rel: &EvPath,
    out: &mut Vec<Change>,
    changed_dirs: &mut BTreeSet<EvPath>,
) -> Result<(), FsError> {
    let mut entries = fs.read_dir(&upper.join_path(rel))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let Some(child) = rel.child(&e.name) else {
            continue;
        };
        let meta = fs.metadata(&upper.join_path(&child))?;
        let walk_in = |out: &mut Vec<Change>, dirs: &mut BTreeSet<EvPath>| {
            if meta.is_dir() {
                aufs_walk(fs, upper, lowers, &child, out, dirs)
            } else {
                Ok(())
            }
        };
        if rel.is_root() && e.name.starts_with(b".wh..wh.") {
            walk_in(out, changed_dirs)?;
            continue;
        }
        let below = lowers
            .iter()
            .find_map(|l| fs.metadata(&l.join_path(&child)).ok());
        let (kind, path, is_dir) = if let Some(name) = e.name.strip_prefix(b".wh.") {
            let Some(gone) = rel.child(name) else {
                continue;
            };
            let was_dir = lowers
                .iter()
                .find_map(|l| fs.metadata(&l.join_path(&gone)).ok())
                .is_some_and(|m| m.is_dir());
            ('D', gone, was_dir)
        } else {
            match &below {
                None => ('A', child.clone(), meta.is_dir()),
                Some(old) => {
                    let same_dir = old.is_dir()
                        && meta.is_dir()
                        && old.size == meta.size
                        && old.perm == meta.perm
                        && same_time(old.mtime, meta.mtime);
                    if same_dir {
                        walk_in(out, changed_dirs)?;
                        continue;
                    }
                    ('C', child.clone(), meta.is_dir())
                }
            }
        };
        if meta.is_dir() {
            changed_dirs.insert(child.clone());
        }
        if kind != 'C' {
            let parent = path.parent();
            if !parent.is_root() && changed_dirs.insert(parent.clone()) {
                out.push(change('C', &parent, true));
            }
        }
        out.push(change(kind, &path, is_dir));
        walk_in(out, changed_dirs)?;
    }
    Ok(())
}

/// Why a container's changes cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerDiffError {
    /// Reading the writable layer or a lower layer failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The store names a writable layer that is not in the evidence (and
    /// the container is not merely `created`).
    #[error("container {container}: writable layer {path} is missing")]
    WritableLayerMissing {
        /// The container's name.
        container: String,
        /// The writable layer's directory, in the evidence.
        path: String,
    },
    /// The store has no record of the container's writable layer (and the
    /// container is not merely `created`).
    #[error("container {container}: {detail}")]
    Unresolved {
        /// The container's name.
        container: String,
        /// Why the writable layer is unknown.
        detail: String,
    },
}

/// The changes of a container, as its engine's `diff` lists them: its
/// writable layer over the layers below, without what the engine's own
/// `diff` leaves out (Podman's runtime paths). A created container that
/// never got a writable layer has none.
pub fn container_changes(
    fs: &dyn FileSystem,
    c: &crate::store::model::Container,
) -> Result<Vec<Change>, ContainerDiffError> {
    let layers = &c.layers;
    match &layers.upper {
        Some(upper) if fs.exists(upper) => {
            let mut list = if c.store == "docker" && c.driver.as_deref() == Some("aufs") {
                aufs_changes(fs, upper, &layers.lowers)?
            } else {
                changes(fs, upper, &layers.lowers)?
            };
            list.retain(|ch| !layers.runtime_paths.contains(&ch.path.as_str()));
            Ok(list)
        }
        _ if c.state == "created" => Ok(Vec::new()),
        Some(upper) => Err(ContainerDiffError::WritableLayerMissing {
            container: c.name.clone(),
            path: upper.display(),
        }),
        None => Err(ContainerDiffError::Unresolved {
            container: c.name.clone(),
            detail: layers
                .unresolved
                .clone()
                .unwrap_or_else(|| "its writable layer is unknown".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::path;

    fn listed(v: Vec<Change>) -> Vec<String> {
        v.iter().map(Change::to_string).collect()
    }

    /// moby's aufs `Changes`: bookkeeping skipped, `.wh.` files are
    /// deletions, anything a lower branch has is `C` (an unchanged
    /// directory excepted), parents of `A`/`D` are `C`.
    #[test]
    fn aufs_rules() {
        let mut fs = MemFs::new();
        fs.add("lo/etc/passwd", MemNode::file(b"root"))
            .add("lo/same", MemNode::dir().mtime(5))
            .add("lo/same/f", MemNode::file(b"f"))
            .add("lo/old", MemNode::dir())
            .add("lo/var/x", MemNode::file(b"x"))
            .add("up/.wh..wh.aufs", MemNode::file(b""))
            .add("up/.wh..wh.plnk", MemNode::dir())
            .add("up/.wh..wh.orph", MemNode::dir())
            .add("up/etc/passwd", MemNode::file(b"root"))
            .add("up/same", MemNode::dir().mtime(5))
            .add("up/same/new", MemNode::file(b"n"))
            .add("up/.wh.old", MemNode::file(b""))
            .add("up/var/.wh.x", MemNode::file(b""))
            .add("up/tmp/a", MemNode::file(b"a"));
        let got = aufs_changes(&fs, &path("up"), &[path("lo")]).unwrap();
        assert_eq!(
            listed(got),
            // `/etc` is as it was and a `C` below does not list it.
            [
                "C /etc/passwd",
                "D /old",
                "C /same",
                "A /same/new",
                "A /tmp",
                "A /tmp/a",
                "C /var",
                "D /var/x",
            ]
        );
    }
}
