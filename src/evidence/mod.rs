//! Evidence sources: what the examiner points the tool at.
//!
//! A path is either a directory (a mounted or extracted host filesystem, or
//! a data root itself) or a disk image file. Either way the result is one or
//! more read-only [`fs::FileSystem`] views, each labelled with where in the
//! evidence it was found.

pub mod fs;

use fs::{FileSystem, FsError, HostDir};
use std::path::Path;
use std::sync::Arc;

/// One filesystem found in the evidence.
#[derive(Clone)]
pub struct Volume {
    /// Where it was found, for reports ("directory", "partition 1 (ext4)").
    pub label: String,
    pub fs: Arc<dyn FileSystem>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("label", &self.label)
            .field("fs", &self.fs.describe())
            .finish()
    }
}

/// Options that change how evidence is opened.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Only use this partition (1-based, as `mmls`/`fdisk` number them).
    pub partition: Option<u32>,
}

/// Opened evidence: the source path and the filesystems inside it.
#[derive(Debug)]
pub struct Evidence {
    pub source: String,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("{path}: evidence path does not exist")]
    Missing { path: String },
    #[error("{path}: cannot read evidence: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Unsupported { path: String, detail: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Evidence {
    /// Opens a directory or disk image as evidence.
    pub fn open(path: &Path, _opts: &OpenOptions) -> Result<Self, EvidenceError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EvidenceError::Missing {
                path: shown.clone(),
            },
            _ => EvidenceError::Unreadable {
                path: shown.clone(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            let fs = HostDir::open(path)?;
            return Ok(Evidence {
                source: shown,
                volumes: vec![Volume {
                    label: "directory".into(),
                    fs: Arc::new(fs),
                }],
            });
        }
        Err(EvidenceError::Unsupported {
            path: shown,
            detail: "not a directory; disk images are not supported by this build".into(),
        })
    }
}
