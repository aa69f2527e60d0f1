//! Evidence container formats: the bytes of the seized medium, whatever
//! file format the acquisition tool wrote them in.
//!
//! Every format is read through [`ReadAt`] (positioned reads, shareable
//! between threads), so partition tables, LVM and filesystems above never
//! know whether the medium was a raw `dd` image, a split raw image
//! (`disk.001`, `disk.002`, …), an EnCase 6 image (`.E01`, `.E02`, …) or
//! an EnCase 7 EWF2 image (`.Ex01`, `.Ex02`, …).
//!
//! The format is detected by content (the EWF and EWF2 signatures, see [`ewf`]; the
//! virtual-machine disk formats [`qcow2`], [`vmdk`], [`vhd`], [`vhdx`],
//! [`vdi`] by their magic numbers, never by extension), then by name
//! (`.001` starts a split raw image); anything else is raw. A VM disk's
//! backing (parent) file is opened the same way, so a chain may mix
//! formats (a QCOW2 overlay on a raw base).

mod ahead;
pub mod ewf;
pub mod mem;
pub mod pread;
pub mod qcow2;
pub mod raw;
pub mod slice;
pub mod sparse;
pub mod vdi;
pub mod vhd;
pub mod vhdx;
mod vm;
pub mod vmdk;

pub use ewf::{Acquisition, EwfError, EwfImage};
pub use mem::MemImage;
pub use raw::RawImage;
pub use slice::{Concat, Slice};
pub use sparse::{DiskError, ImageOptions};

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Random access to a device or an image of one, read-only.
pub trait ReadAt: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// The size in bytes.
    fn size(&self) -> u64;
    /// A short description for messages ("disk.E01", "partition 1").
    fn describe(&self) -> String;
    /// For a virtual-machine disk image: the bytes of the virtual disk
    /// its own file stores as data (not zero blocks, not what a backing
    /// file holds), as `qemu-img map` counts them. Reads every block
    /// table; `None` for media without block tables.
    fn allocated(&self) -> Option<io::Result<u64>> {
        None
    }

    /// Fills `buf` from `offset`, or fails naming the offset when the
    /// device ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at offset {offset} goes past the end of {} ({} bytes)",
                        buf.len(),
                        self.describe(),
                        self.size()
                    ),
                ));
            }
            done += n;
        }
        Ok(())
    }
}

/// The container format of an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// Expert Witness Format v1 (EnCase 6), possibly in several segments.
    Ewf,
    /// Expert Witness Compression Format 2 (EnCase 7 `.Ex01`), possibly in
    /// several segments.
    Ewf2,
    /// A raw image split into numbered pieces (`.001`, `.002`, …).
    SplitRaw,
    /// A plain raw image.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// VMware virtual disk (sparse, split, flat or stream-optimized).
    Vmdk,
    /// An OVF package (tar) holding a VMDK, read through the archive.
    Ova,
    /// Virtual PC / Hyper-V VHD (fixed, dynamic, differencing).
    Vhd,
    /// Hyper-V VHDX.
    Vhdx,
    /// VirtualBox disk image.
    Vdi,
}

impl ImageFormat {
    /// The name used in JSON output and provenance: `ewf`, `ewf2`, `split_raw`,
    /// `raw`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Ewf => "ewf",
            ImageFormat::Ewf2 => "ewf2",
            ImageFormat::SplitRaw => "split_raw",
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Vmdk => "vmdk",
            ImageFormat::Ova => "ova",
            ImageFormat::Vhd => "vhd",
            ImageFormat::Vhdx => "vhdx",
            ImageFormat::Vdi => "vdi",
        }
    }
}

/// Errors while opening an image; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// Not a regular file (a raw image piece must be one).
    #[error("{path}: not a regular file")]
    NotAFile { path: String },
    /// An EWF segment file (`path`) is missing, truncated or corrupt.
    #[error("{path}: {source}")]
    Ewf {
        path: String,
        #[source]
        source: ewf::EwfError,
    },
    /// A virtual-machine disk image (`path`), or a file it needs, is
    /// missing, truncated, corrupt or of an unsupported variant.
    #[error("{path}: {source}")]
    Disk {
        path: String,
        #[source]
        source: DiskError,
    },
    /// The backing chain is longer than this reader follows (a loop?).
    #[error("{path}: backing chain longer than {max} images")]
    ChainTooLong { path: String, max: usize },
}

impl ImageError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        ImageError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn disk(path: &Path, source: DiskError) -> Self {
        ImageError::Disk {
            path: path.display().to_string(),
            source,
        }
    }
}

/// An opened image: the medium and, for EWF, the acquisition record.
pub struct OpenedImage {
    pub format: ImageFormat,
    pub media: Arc<dyn ReadAt>,
    pub acquisition: Option<Acquisition>,
    /// Every file the image is made of, in order (for a VM disk: its
    /// extents, then its backing chain).
    pub files: Vec<PathBuf>,
    /// What the format recorded that is worth reporting, one line each
    /// (virtual size, backing chain, internal snapshots).
    pub info: Vec<String>,
    /// A VM disk's backing (parent) images, nearest first: the first file
    /// of each and its format.
    pub chain: Vec<(PathBuf, ImageFormat)>,
}

/// Opens an image file, detecting its format.
pub fn open(path: &Path) -> Result<OpenedImage, ImageError> {
    open_with(path, &ImageOptions::default())
}

/// Opens an image file, detecting its format, with backing files and the
/// snapshot to read as `opts` says.
pub fn open_with(path: &Path, opts: &ImageOptions) -> Result<OpenedImage, ImageError> {
    open_chain(path, opts, 0)
}

/// Opens `path` as image `depth` of a backing chain (0 = the evidence).
fn open_chain(path: &Path, opts: &ImageOptions, depth: usize) -> Result<OpenedImage, ImageError> {
    if depth > sparse::MAX_CHAIN {
        return Err(ImageError::ChainTooLong {
            path: path.display().to_string(),
            max: sparse::MAX_CHAIN,
        });
    }
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(path).map_err(|e| ImageError::io(path, e))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| ImageError::io(path, e))?;
    let head = &head[..n];
    let v2 = head.starts_with(&ewf::SIGNATURE_V2);
    if head.starts_with(&ewf::SIGNATURE) || v2 {
        let img = EwfImage::open(path)?;
        return Ok(OpenedImage {
            format: if v2 {
                ImageFormat::Ewf2
            } else {
                ImageFormat::Ewf
            },
            acquisition: Some(img.acquisition().clone()),
            files: img.files(),
            media: Arc::new(img),
            info: Vec::new(),
            chain: Vec::new(),
        });
    }
    if let Some(opened) = vm::open(path, head, opts, depth)? {
        return Ok(opened);
    }
    let raw = RawImage::open(path)?;
    Ok(OpenedImage {
        format: if raw.files().len() > 1 || raw::is_first_split(path) {
            ImageFormat::SplitRaw
        } else {
            ImageFormat::Raw
        },
        files: raw.files(),
        acquisition: None,
        media: Arc::new(raw),
        info: Vec::new(),
        chain: Vec::new(),
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// Digests of the whole medium, and how they compare to the ones the
/// acquisition tool stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MediaVerification {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    /// Hex; JSON says `sha256:<hex>` like every sha256.
    #[serde(serialize_with = "crate::schema::sha256")]
    pub sha256: String,
    pub stored_md5: Option<String>,
    pub stored_sha1: Option<String>,
    /// `None` when no MD5 was stored.
    pub md5_matches: Option<bool>,
    pub sha1_matches: Option<bool>,
    /// `verified` (a stored hash exists and none disagrees), `mismatch`
    /// (a stored hash disagrees) or `no_stored_hash`.
    pub verdict: MediaVerdict,
    /// A virtual-machine disk image: the bytes of the virtual disk its
    /// own file stores as data ([`ReadAt::allocated`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated: Option<u64>,
}

/// The verdict of `--verify-image`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaVerdict {
    /// At least one stored hash, and every stored hash matches.
    Verified,
    /// A stored hash does not match the medium.
    Mismatch,
    /// The acquisition stored no hash to compare with.
    NoStoredHash,
}

impl MediaVerification {
    /// True when at least one stored hash exists and none disagrees.
    pub fn verified(&self) -> bool {
        self.verdict == MediaVerdict::Verified
    }
}

/// Reads the whole medium once, in order, and hashes it (MD5, SHA-1,
/// SHA-256); compares with the stored hashes of `acquisition` if given.
/// `progress` is told the bytes hashed so far, after every MiB.
pub fn verify_media(
    media: &dyn ReadAt,
    acquisition: Option<&Acquisition>,
    progress: &dyn Fn(u64),
) -> io::Result<MediaVerification> {
    use md5::Digest as _;
    use std::sync::mpsc::sync_channel;
    let size = media.size();
    // The medium is read once, in order (as the EWF reader inflates ahead
    // of forward reads); each digest runs on its own thread, so hashing
    // costs the slowest digest's time, not the three added.
    let (md5, sha1, sha256) = std::thread::scope(|scope| -> io::Result<_> {
        let (t1, r1) = sync_channel::<Arc<Vec<u8>>>(4);
        let (t2, r2) = sync_channel::<Arc<Vec<u8>>>(4);
        let (t3, r3) = sync_channel::<Arc<Vec<u8>>>(4);
        let h1 = scope.spawn(move || {
            let mut d = md5::Md5::new();
            r1.iter().for_each(|b| d.update(&b[..]));
            hex::encode(d.finalize())
        });
        let h2 = scope.spawn(move || {
            let mut d = sha1::Sha1::new();
            r2.iter().for_each(|b| d.update(&b[..]));
            hex::encode(d.finalize())
        });
        let h3 = scope.spawn(move || {
            let mut d = sha2::Sha256::new();
            r3.iter().for_each(|b| d.update(&b[..]));
            hex::encode(d.finalize())
        });
        let mut off = 0u64;
        while off < size {
            let want = (size - off).min(1 << 20) as usize;
            let mut buf = vec![0u8; want];
            media.read_exact_at(&mut buf, off)?;
            let buf = Arc::new(buf);
            for t in [&t1, &t2, &t3] {
                t.send(buf.clone())
                    .map_err(|_| io::Error::other("a digest thread ended early"))?;
            }
            off += want as u64;
            progress(off);
        }
        drop((t1, t2, t3));
        let join = |h: std::thread::ScopedJoinHandle<'_, String>| {
            h.join()
                .map_err(|_| io::Error::other("a digest thread panicked"))
        };
        Ok((join(h1)?, join(h2)?, join(h3)?))
    })?;
    let allocated = media.allocated().transpose()?;
    let stored_md5 = acquisition.and_then(|a| a.md5.clone());
    let stored_sha1 = acquisition.and_then(|a| a.sha1.clone());
    let md5_matches = stored_md5.as_ref().map(|s| s.eq_ignore_ascii_case(&md5));
    let sha1_matches = stored_sha1.as_ref().map(|s| s.eq_ignore_ascii_case(&sha1));
    let checks = [md5_matches, sha1_matches];
    let verdict = if checks.contains(&Some(false)) {
        MediaVerdict::Mismatch
    } else if checks.iter().any(Option::is_some) {
        MediaVerdict::Verified
    } else {
        MediaVerdict::NoStoredHash
    };
    Ok(MediaVerification {
        size,
        md5_matches,
        sha1_matches,
        verdict,
        md5,
        sha1,
        sha256,
        stored_md5,
        stored_sha1,
        allocated,
    })
}
