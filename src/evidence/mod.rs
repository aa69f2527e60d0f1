//! Evidence sources: what the examiner points the tool at.
//!
//! A path is either a directory (a mounted or extracted host filesystem, or
//! a data root itself) or a disk image file. Either way the result is one or
//! more read-only [`fs::FileSystem`] views, each with where in the evidence
//! it was found: a short label for reports and a typed
//! [`provenance::PathSpec`] (image → partition → logical volume →
//! filesystem).
//!
//! A disk image is opened in three steps: the container ([`image`]: EWF,
//! split raw, raw, or a VM disk: QCOW2, VMDK, VHD, VHDX, VDI), the volumes on it ([`volume`]: GPT, MBR, LVM2 or a
//! bare filesystem), and a probe of each volume for a filesystem this
//! crate reads (ext2/3/4 with [`fs::Ext4Fs`], XFS with [`fs::XfsFs`],
//! btrfs with [`fs::BtrfsFs`]).

#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod bytes;
pub(crate) mod cache;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod fs;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod image;
mod path;
pub mod provenance;
#[doc(hidden)] // Internals, public for the integration tests and fuzz targets only.
pub mod volume;

use fs::{BtrfsFs, Ext4Fs, FileSystem, FsError, HostDir, XfsFs};
use image::{Acquisition, ImageFormat, MediaVerification, ReadAt};
use provenance::{PathSpec, SpecLayer};
use std::path::Path;
use std::sync::Arc;
use volume::probe::Signature;
use volume::{Region, VolumeError};

/// One filesystem found in the evidence.
#[derive(Clone)]
pub struct Volume {
    /// Where it was found, for reports ("directory", "partition 1 (ext4)").
    pub label: String,
    /// Where it was found, layer by layer (see [`provenance`]).
    pub spec: PathSpec,
    /// The filesystem, read-only.
    pub fs: Arc<dyn FileSystem>,
}

impl Volume {
    /// True for a directory of the examiner's machine (rather than a
    /// filesystem read out of a disk image).
    pub fn is_directory(&self) -> bool {
        self.spec.is_directory()
    }
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("label", &self.label)
            .field("spec", &self.spec.to_string())
            .field("fs", &self.fs.describe())
            .finish()
    }
}

/// Options that change how evidence is opened.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Only use this partition (as `fdisk` numbers it, by its `mmls`
    /// slot, or by its start sector: [`volume::PartitionChoice`]).
    pub partition: Option<volume::PartitionChoice>,
    /// Backing (parent) files of a VM disk image, in chain order, instead
    /// of the names the images record (see [`image::ImageOptions`]).
    pub backing: Vec<std::path::PathBuf>,
    /// The internal snapshot of a QCOW2 image to read (name or id).
    pub snapshot: Option<String>,
}

/// Opened evidence: the source path and the filesystems inside it.
#[derive(Debug)]
pub struct Evidence {
    /// The evidence path as given, for reports.
    pub source: String,
    /// Every filesystem that could be opened: one for a directory, one
    /// per readable partition or logical volume for a disk image.
    pub volumes: Vec<Volume>,
    /// The container format, for a disk image.
    pub format: Option<ImageFormat>,
    /// What the acquisition tool recorded (EWF images only).
    pub acquisition: Option<Acquisition>,
    /// What a VM disk image format recorded, one line each (virtual
    /// size, backing chain, internal snapshots).
    pub image_info: Vec<String>,
    /// What was found in the image but could not be used, one line each
    /// ("partition 2: unsupported filesystem (NTFS signature)").
    pub notes: Vec<String>,
    media: Option<Media>,
}

/// The medium of a disk image (kept to verify its hashes).
#[derive(Clone)]
struct Media(Arc<dyn ReadAt>);

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

/// Errors opening or verifying evidence.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The evidence path does not exist.
    #[error("{path}: evidence path does not exist")]
    Missing {
        /// The path as given.
        path: String,
    },
    /// The evidence path exists but its metadata cannot be read
    /// (permissions, I/O error).
    #[error("{path}: cannot read evidence: {source}")]
    Unreadable {
        /// The path as given.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A disk image holds no filesystem this crate reads.
    #[error("{path}: {detail}")]
    Unsupported {
        /// The path as given.
        path: String,
        /// What was found instead (layout, unsupported filesystems).
        detail: String,
    },
    /// Opening the directory, or a filesystem in the image, failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The disk image container (EWF, split raw, raw) cannot be opened.
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// The partition table or LVM metadata of a disk image cannot be
    /// read, or the requested partition does not exist.
    #[error("{path}: {source}")]
    Volume {
        /// The path as given.
        path: String,
        /// What is wrong with the volume layout.
        #[source]
        source: VolumeError,
    },
    /// Reading the medium failed while hashing it ([`Evidence::verify_image`]).
    #[error("{path}: reading the image: {source}")]
    Media {
        /// The path as given.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
}

impl Evidence {
    /// Opens a directory or disk image as evidence.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, EvidenceError> {
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
            let spec = PathSpec(vec![
                SpecLayer::Directory {
                    path: shown.clone(),
                },
                SpecLayer::file_system("host", None, None),
            ]);
            return Ok(Evidence {
                source: shown,
                volumes: vec![Volume {
                    label: "directory".into(),
                    spec,
                    fs: Arc::new(fs),
                }],
                format: None,
                acquisition: None,
                image_info: Vec::new(),
                notes: fs::host_limits().map(String::from).into_iter().collect(),
                media: None,
            });
        }
        Self::open_image(path, opts)
    }

    /// Opens a disk image file: container, volumes, filesystems.
    fn open_image(path: &Path, opts: &OpenOptions) -> Result<Self, EvidenceError> {
        let shown = path.display().to_string();
        let img = image::open_with(
            path,
            &image::ImageOptions {
                backing: opts.backing.clone(),
                snapshot: opts.snapshot.clone(),
            },
        )?;
        let (layout, regions) =
            volume::partitions(&img.media, opts.partition.as_ref()).map_err(|source| {
                EvidenceError::Volume {
                    path: shown.clone(),
                    source,
                }
            })?;
        let image = PathSpec(vec![SpecLayer::DiskImage {
            path: shown.clone(),
            format: img.format.name().to_string(),
            segments: img.files.iter().map(|f| f.display().to_string()).collect(),
            backing: img
                .chain
                .iter()
                .map(|(p, f)| format!("{} ({})", p.display(), f.name()))
                .collect(),
        }]);
        let mut found = Found {
            image: &shown,
            spec: &image,
            volumes: Vec::new(),
            notes: Vec::new(),
        };
        for region in regions {
            found.probe(region);
        }
        let Found { volumes, notes, .. } = found;
        if volumes.is_empty() {
            let detail = if notes.is_empty() {
                format!("no filesystem found ({layout:?} layout, no partitions)")
            } else {
                format!("no readable filesystem: {}", notes.join("; "))
            };
            return Err(EvidenceError::Unsupported {
                path: shown,
                detail,
            });
        }
        Ok(Evidence {
            source: shown,
            volumes,
            format: Some(img.format),
            acquisition: img.acquisition,
            image_info: img.info,
            notes,
            media: Some(Media(img.media)),
        })
    }

    /// For a disk image: hashes the whole medium (MD5, SHA-1, SHA-256) and
    /// compares with the hashes the acquisition tool stored. `None` for a
    /// directory.
    /// `progress` is told the medium's size and the bytes hashed so far.
    pub fn verify_image(
        &self,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Option<MediaVerification>, EvidenceError> {
        let Some(Media(media)) = &self.media else {
            return Ok(None);
        };
        let size = media.size();
        image::verify_media(media.as_ref(), self.acquisition.as_ref(), &|done| {
            progress(size, done)
        })
        .map(Some)
        .map_err(|source| EvidenceError::Media {
            path: self.source.clone(),
            source,
        })
    }
}

/// What the probes of an image's regions found.
struct Found<'a> {
    /// The image, for messages.
    image: &'a str,
    /// The image's layer.
    spec: &'a PathSpec,
    volumes: Vec<Volume>,
    notes: Vec<String>,
}

impl Found<'_> {
    /// Probes one region: a filesystem becomes a volume, an LVM PV is
    /// opened and its logical volumes probed, anything else becomes a note.
    fn probe(&mut self, region: Region) {
        let where_ = format!("{} of {}", region.label, self.image);
        let mut spec = self.spec.clone();
        spec.0.extend(region.layers.iter().cloned());
        match volume::probe::identify(region.dev.as_ref()) {
            Some(Signature::Ext) => match Ext4Fs::open(region.dev.clone(), &where_) {
                Ok(fs) => self.volumes.push(Volume {
                    label: format!("{} (ext4)", region.label),
                    spec: spec.with(fs.spec_layer()),
                    fs: Arc::new(fs),
                }),
                Err(e) => self.notes.push(format!("{}: ext4: {e}", region.label)),
            },
            Some(Signature::Xfs) => match XfsFs::open(region.dev.clone(), &where_) {
                Ok(fs) => self.volumes.push(Volume {
                    label: format!("{} (xfs)", region.label),
                    spec: spec.with(fs.spec_layer()),
                    fs: Arc::new(fs),
                }),
                Err(e) => self.notes.push(format!("{}: xfs: {e}", region.label)),
            },
            Some(Signature::Btrfs) => match BtrfsFs::open(region.dev.clone(), &where_) {
                Ok(fs) => {
                    let top = fs.top_level();
                    self.volumes.push(Volume {
                        label: format!("{} (btrfs)", region.label),
                        spec: spec.with(fs.spec_layer()),
                        fs: Arc::new(fs),
                    });
                    if let Some(top) = top {
                        self.volumes.push(Volume {
                            label: format!("{} (btrfs top level)", region.label),
                            spec: spec.with(top.spec_layer()),
                            fs: Arc::new(top),
                        });
                    }
                }
                Err(e) => self.notes.push(format!("{}: btrfs: {e}", region.label)),
            },
            Some(Signature::LvmPv)
                if !region
                    .layers
                    .iter()
                    .any(|l| matches!(l, SpecLayer::LogicalVolume { .. })) =>
            {
                match volume::lvm::logical_volumes(&region) {
                    Ok(lvs) => {
                        if lvs.is_empty() {
                            self.notes.push(format!(
                                "{}: LVM2 physical volume without logical volumes",
                                region.label
                            ));
                        }
                        for lv in lvs {
                            match lv {
                                Ok(r) => self.probe(r),
                                Err(n) => self.notes.push(n.to_string()),
                            }
                        }
                    }
                    Err(e) => self.notes.push(format!("{}: {e}", region.label)),
                }
            }
            Some(sig) => self.notes.push(format!(
                "{}: unsupported filesystem ({} signature)",
                region.label,
                sig.name()
            )),
            None => self
                .notes
                .push(format!("{}: no known filesystem signature", region.label)),
        }
    }
}
