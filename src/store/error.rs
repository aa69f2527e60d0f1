//! What reading a store can fail with.

use crate::evidence::fs::FsError;

/// Errors reading an image store; each says what and where. They name
/// no command-line flag: the command line adds its own hints.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading a file or directory of the evidence failed: missing,
    /// unreadable, or a corrupt filesystem structure.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A JSON record of the engine's (`repositories.json`, an image
    /// config, `config.v2.json`, `hostconfig.json`) does not parse.
    #[error("{path}: corrupt JSON: {detail}")]
    CorruptJson {
        /// The record's path in the evidence (for a container's image
        /// config: the image id).
        path: String,
        /// The parser's message.
        detail: String,
    },
    #[error(
        "no Docker data root (nor containerd or Podman store) found in {evidence} (looked at {looked})"
    )]
    /// No store of any kind was found anywhere in the evidence.
    NoDataRoot {
        /// The evidence as opened (its path).
        evidence: String,
        /// The places that were searched, for the message.
        looked: String,
    },
    #[error(
        "{path}: not a Docker data root (no image/<driver>/imagedb, containers/<id>/config.v2.json nor pre-1.10 graph/<id>/json inside)"
    )]
    /// The directory named as the Docker data root is not one (or is
    /// not a valid path).
    NotADataRoot {
        /// The directory as named.
        path: String,
    },
    #[error("{reference}: invalid image reference: {detail}")]
    /// An image name is neither an id, an id prefix nor a well-formed
    /// `name[:tag][@digest]`.
    InvalidReference {
        /// The name as given.
        reference: String,
        /// What is wrong with it.
        detail: String,
    },
    #[error("{reference}: no such image{}", candidates_hint("images", .candidates))]
    /// No image in the stores looked at matches the name.
    UnknownImage {
        /// The name as given.
        reference: String,
        /// Names that do exist, as a hint (may be empty).
        candidates: Vec<String>,
    },
    #[error("{reference}: ambiguous, it matches {}", .candidates.join(", "))]
    /// The name (an id prefix, or a name present in several stores)
    /// matches more than one image.
    AmbiguousImage {
        /// The name as given.
        reference: String,
        /// The images it matches (id prefixes, or `<short id> in <store>`).
        candidates: Vec<String>,
    },
    #[error("container {reference}: no such container{}", candidates_hint("containers", .candidates))]
    /// No container matches the name or id prefix.
    UnknownContainer {
        /// The name or id as given.
        reference: String,
        /// Container names that do exist, as a hint (at most 20).
        candidates: Vec<String>,
    },
    #[error("container {reference}: ambiguous, it matches {}", .candidates.join(", "))]
    /// The name or id prefix matches more than one container.
    AmbiguousContainer {
        /// The name or id as given.
        reference: String,
        /// The containers it matches.
        candidates: Vec<String>,
    },
    #[error("container {container}: {detail}")]
    /// A container's records exist but cannot be loaded.
    BadContainer {
        /// The container's id.
        container: String,
        /// Why it could not be loaded.
        detail: String,
    },
    #[error("image {image}: layer {index} ({diff_id}): {detail}")]
    /// A layer of an image (or of a container's image) cannot be found
    /// in the store: no layer directory, tar-split or blob for it.
    LayerMissing {
        /// The image id, `sha256:<hex>`.
        image: String,
        /// Position of the layer in `rootfs.diff_ids`, 0-based.
        index: usize,
        /// The layer's diff_id (or chain id), `sha256:<hex>`.
        diff_id: String,
        /// What was looked for and not found.
        detail: String,
    },
    #[error("image {image}: {detail}")]
    /// An image's records are inconsistent: no layers in its config,
    /// an id that is not one, a layer chain that loops.
    BadImage {
        /// The image id.
        image: String,
        /// What is wrong.
        detail: String,
    },
    /// A container's snapshot cannot be turned into directories: not in
    /// the containerd root, no such snapshotter, a broken parent chain.
    #[error("snapshot {key} ({snapshotter}, namespace {namespace}): {detail}")]
    Snapshot {
        /// The snapshot key (for a Docker container: its id).
        key: String,
        /// The snapshotter (`overlayfs`).
        snapshotter: String,
        /// The containerd namespace (`moby`).
        namespace: String,
        /// What is missing or wrong, and where.
        detail: String,
    },
    /// A store that was found but cannot be read.
    #[error("{place}: {detail}")]
    Unreadable {
        /// Where the store is (volume and path), or the evidence.
        place: String,
        /// Why it cannot be read.
        detail: String,
    },
}

fn candidates_hint(what: &str, c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; {what} here: {}", c.join(", "))
    }
}
