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
            let mut list = changes(fs, upper, &layers.lowers)?;
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
