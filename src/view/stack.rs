//! Which layer directories make up a view: an image's unpacked layers
//! (all, or up to one build step), or a container's writable layer over
//! its image's (as the engine's overlay mount stacks them: the writable
//! layer, the init layer if any, then the image's from the top down).
//!
//! Only unpacked layers can be shown: a layer kept only as a blob (a
//! compressed tar in containerd's content store) would need its tar
//! indexed, and gzip is not seekable; this version says so.

use super::tree::ViewLayer;
use crate::store::model::{Container, Image};

/// Why a stack of layers cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// `--layer N` past the image's last layer.
    #[error("image {image}: layer {wanted} asked for, but it has {count} layer(s) (0 to {last})", last = count.saturating_sub(1))]
    LayerOutOfRange {
        /// The image's short id.
        image: String,
        /// The index asked for.
        wanted: usize,
        /// How many layers it has.
        count: usize,
    },
    /// The image has no layer.
    #[error("image {image}: it has no layer to show")]
    NoLayers {
        /// The image's short id.
        image: String,
    },
    /// A layer is kept only as a blob.
    #[error(
        "image {image}: layer {index} ({diff_id}) is kept only as a blob, not unpacked; mounting blob-only layers is not supported in this version (extract the image instead)"
    )]
    BlobOnly {
        /// The image's short id.
        image: String,
        /// The layer's index (0 is the lowest).
        index: usize,
        /// Its diff_id.
        diff_id: String,
    },
    /// The container's writable layer is unknown.
    #[error("container {container}: {detail}")]
    Unresolved {
        /// The container's name.
        container: String,
        /// Why.
        detail: String,
    },
}

/// The layers of `image`, topmost first, up to layer `up_to` (0 is the
/// lowest) or all.
pub fn image_stack(image: &Image, up_to: Option<usize>) -> Result<Vec<ViewLayer>, StackError> {
    let count = image.layers.len();
    let id = image.short_id().to_string();
    if count == 0 {
        return Err(StackError::NoLayers { image: id });
    }
    let last = match up_to {
        Some(n) if n >= count => {
            return Err(StackError::LayerOutOfRange {
                image: id,
                wanted: n,
                count,
            });
        }
        Some(n) => n,
        None => count - 1,
    };
    let mut out = Vec::new();
    for l in image.layers.iter().take(last + 1).rev() {
        let Some(u) = &l.unpacked else {
            return Err(StackError::BlobOnly {
                image: id,
                index: l.index,
                diff_id: l.diff_id.clone(),
            });
        };
        out.push(ViewLayer::new(
            u.dir.clone(),
            format!("layer {} {}", l.index, l.diff_id),
        ));
    }
    Ok(out)
}

/// The layers of container `c`, topmost first: its writable layer, then
/// the layers below it. A `created` container whose writable layer is
/// not there yet shows its image's layers alone.
pub fn container_stack(
    fs: &dyn crate::evidence::fs::FileSystem,
    c: &Container,
) -> Result<Vec<ViewLayer>, StackError> {
    let layers = &c.layers;
    let mut out = Vec::new();
    match &layers.upper {
        Some(upper) if fs.exists(upper) => {
            out.push(ViewLayer::new(upper.clone(), "writable layer"));
        }
        _ if c.state == "created" => {}
        Some(upper) => {
            return Err(StackError::Unresolved {
                container: c.name.clone(),
                detail: format!("writable layer {upper} is missing"),
            });
        }
        None => {
            return Err(StackError::Unresolved {
                container: c.name.clone(),
                detail: layers
                    .unresolved
                    .clone()
                    .unwrap_or_else(|| "its writable layer is unknown".into()),
            });
        }
    }
    let n = layers.lowers.len();
    for (i, l) in layers.lowers.iter().enumerate() {
        out.push(ViewLayer::new(
            l.clone(),
            format!("lower layer {} of {n}", i + 1),
        ));
    }
    if out.is_empty() {
        return Err(StackError::Unresolved {
            container: c.name.clone(),
            detail: "no layer recorded".into(),
        });
    }
    Ok(out)
}
