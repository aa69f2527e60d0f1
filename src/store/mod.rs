//! Image stores found on evidence filesystems, over a shared [`model`].

pub mod blob;
pub mod bolt;
pub mod catalog;
pub mod containerd;
pub mod docker;
pub mod model;
pub mod podman;
pub mod reference;

use crate::evidence::fs::FsError;

/// Errors reading an image store; each says what and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: corrupt JSON: {detail}")]
    CorruptJson { path: String, detail: String },
    #[error(
        "no Docker data root found in {evidence} (looked at {looked}); name one with --docker-root"
    )]
    NoDataRoot { evidence: String, looked: String },
    #[error("{path}: not a Docker data root (no image/<driver>/imagedb inside)")]
    NotADataRoot { path: String },
    #[error("{reference}: invalid image reference: {detail}")]
    InvalidReference { reference: String, detail: String },
    #[error("{reference}: no such image{}", candidates_hint(.candidates))]
    UnknownImage {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("{reference}: ambiguous, it matches {}", .candidates.join(", "))]
    AmbiguousImage {
        reference: String,
        candidates: Vec<String>,
    },
    #[error("image {image}: layer {index} ({diff_id}): {detail}")]
    LayerMissing {
        image: String,
        index: usize,
        diff_id: String,
        detail: String,
    },
    #[error("image {image}: {detail}")]
    BadImage { image: String, detail: String },
}

/// Where a store is, for messages and reports: its path, prefixed by the
/// volume when the evidence is a disk image, with what it holds.
pub(crate) fn describe_place(
    volume: &crate::evidence::Volume,
    path: &crate::evidence::fs::EvPath,
    what: &str,
) -> String {
    if volume.label == "directory" {
        format!("{path} ({what})")
    } else {
        format!("{}:{path} ({what})", volume.label)
    }
}

fn candidates_hint(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; images here: {}", c.join(", "))
    }
}
