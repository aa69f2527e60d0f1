//! What reading a store can fail with.

use crate::evidence::fs::FsError;

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
