//! A read-only view of an image's or a container's filesystem, as the
//! engine's overlay mount shows it, read straight from the evidence: the
//! `mount` command. Above [`crate::layer`] (it reuses its overlay
//! opaque-directory test) and beside [`crate::export`]:
//! - [`stack`]: which layer directories make up the view;
//! - [`tree`]: the inode table of the merged tree (or of every layer side
//!   by side), built once, bounded;
//! - [`fuse`]: the FUSE adapter (`fuser`), every change refused with
//!   `EROFS`.

#[cfg(target_os = "linux")]
pub mod fuse;
pub mod stack;
pub mod tree;

pub use stack::{StackError, container_stack, image_stack};
pub use tree::{Ino, MAX_ENTRIES, MAX_PATH_BYTES, Node, Source, Tree, ViewError, ViewLayer};
