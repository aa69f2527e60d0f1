//! Image stores found on evidence filesystems. Each store module only
//! fills the store-neutral [`model`] through the [`Store`] trait:
//!
//! - [`docker`]: Docker Engine's own graph-driver store (overlay2, ...);
//! - [`containerd`]: containerd roots, every namespace;
//! - [`podman`]: containers/storage (Podman, CRI-O) and libpod's state.
//!
//! What they share sits beside them: the bbolt reader ([`bolt`]), blob
//! decompression ([`blob`]), image references ([`reference`]). The
//! [`catalog`] holds every store of one piece of evidence and resolves
//! names across them. No store module imports another's internals.

pub mod blob;
pub mod bolt;
pub mod catalog;
pub mod containerd;
pub mod docker;
pub mod model;
pub mod podman;
pub mod reference;

use crate::evidence::Volume;
use crate::evidence::fs::{EvPath, FileSystem, FsError};
use model::{Container, Image, ImageRow};

/// Errors reading an image store; each says what and where. They name
/// no command-line flag: the command line adds its own hints.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: corrupt JSON: {detail}")]
    CorruptJson { path: String, detail: String },
    #[error(
        "no Docker data root (nor containerd or Podman store) found in {evidence} (looked at {looked})"
    )]
    NoDataRoot { evidence: String, looked: String },
    #[error("{path}: not a Docker data root (no image/<driver>/imagedb inside)")]
    NotADataRoot { path: String },
    #[error("{reference}: invalid image reference: {detail}")]
    InvalidReference { reference: String, detail: String },
    #[error("{reference}: no such image{}", candidates_hint("images", .candidates))]
    UnknownImage {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("{reference}: ambiguous, it matches {}", .candidates.join(", "))]
    AmbiguousImage {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("container {reference}: no such container{}", candidates_hint("containers", .candidates))]
    UnknownContainer {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("container {reference}: ambiguous, it matches {}", .candidates.join(", "))]
    AmbiguousContainer {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("container {container}: {detail}")]
    BadContainer { container: String, detail: String },
    #[error("image {image}: layer {index} ({diff_id}): {detail}")]
    LayerMissing {
        image: String,
        index: usize,
        diff_id: String,
        detail: String,
    },
    #[error("image {image}: {detail}")]
    BadImage { image: String, detail: String },
    /// A store that was found but cannot be read.
    #[error("{place}: {detail}")]
    Unreadable { place: String, detail: String },
}

fn candidates_hint(what: &str, c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; {what} here: {}", c.join(", "))
    }
}

/// Where a store is in the evidence and why it was taken as one.
#[derive(Debug, Clone)]
pub struct StorePlace {
    pub volume: Volume,
    /// Its directory, relative to the volume's root.
    pub path: EvPath,
    /// What it holds: the graph driver (`overlay2`), `containerd`.
    pub what: String,
    pub reason: String,
}

impl StorePlace {
    /// Human-readable place: the volume when the evidence is a disk
    /// image, the path, and what it holds.
    pub fn describe(&self) -> String {
        if self.volume.label == "directory" {
            format!("{} ({})", self.path, self.what)
        } else {
            format!("{}:{} ({})", self.volume.label, self.path, self.what)
        }
    }
}

/// One image store, as every command sees it.
pub trait Store {
    /// The store family: `docker`, `containerd` or `podman`. Images and
    /// containers carry a finer label (`containerd/<namespace>`).
    fn kind(&self) -> &'static str;
    /// Where it is.
    fn place(&self) -> StorePlace;
    /// The filesystem it is on.
    fn fs(&self) -> &dyn FileSystem;
    /// Every image, one row each.
    fn images(&self) -> Result<Vec<ImageRow>, StoreError>;
    /// Every image as (store label, id), for `--all` and `verify`.
    fn image_ids(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// One image by store label and id, with its layers located.
    fn image(&self, label: &str, id: &str) -> Result<Image, StoreError>;
    /// The images a name, id or id prefix names, in the parts of the
    /// store whose label `wanted` accepts; empty when none.
    fn resolve(&self, name: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Image>, StoreError>;
    /// Names to suggest when a name resolves nowhere.
    fn names(&self) -> Vec<String>;
    /// Every container; one that cannot be read is an error naming it.
    fn containers(&self) -> Vec<Result<Container, StoreError>>;
}
