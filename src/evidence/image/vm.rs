//! Detection of the virtual-machine disk formats by content, and the
//! opening of their backing (parent) chains.
//!
//! Magic numbers: QCOW2 `QFI\xfb` at 0; VMDK `KDMV` at 0 (a sparse
//! extent) or a text descriptor starting `# Disk DescriptorFile`; VHDX
//! `vhdxfile` at 0; VHD `conectix` at 0 (dynamic, the footer's copy) or in
//! the last 512 bytes (fixed); VDI `0xbeda107f` (little-endian) at 64.
//! An `.ova` (a tar holding a VMDK) is detected by its `ustar` header.

use super::qcow2::{self, Qcow2};
use super::sparse::{BlockDevice, DiskError, ImageFile, ImageOptions, resolve_parent};
use super::vdi::{self, Vdi};
use super::vhd::Vhd;
use super::vhdx::{self, Vhdx};
use super::vmdk::{self, Vmdk};
use super::{ImageError, ImageFormat, OpenedImage, RawImage, ReadAt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The VM disk format of a file, from its first bytes (and its last 512
/// for a fixed VHD).
fn detect(
    path: &Path,
    head: &[u8],
) -> Result<Option<(ImageFormat, Option<vmdk::Kind>)>, ImageError> {
    if head.starts_with(&qcow2::MAGIC) {
        return Ok(Some((ImageFormat::Qcow2, None)));
    }
    if head.starts_with(&vmdk::SPARSE_MAGIC) {
        return Ok(Some((ImageFormat::Vmdk, Some(vmdk::Kind::Sparse))));
    }
    if head.starts_with(vmdk::DESCRIPTOR) {
        return Ok(Some((ImageFormat::Vmdk, Some(vmdk::Kind::Descriptor))));
    }
    if head.starts_with(vhdx::SIGNATURE) {
        return Ok(Some((ImageFormat::Vhdx, None)));
    }
    if vdi::detect(head) {
        return Ok(Some((ImageFormat::Vdi, None)));
    }
    if head.starts_with(super::vhd::COOKIE) || tail_is_vhd(path)? {
        return Ok(Some((ImageFormat::Vhd, None)));
    }
    if head.get(257..262) == Some(b"ustar") {
        // A tar: an OVA when a member is a VMDK (checked on opening).
        let name = head.get(..100).unwrap_or_default();
        let end = name.iter().position(|c| *c == 0).unwrap_or(name.len());
        let lower = String::from_utf8_lossy(&name[..end]).to_ascii_lowercase();
        if lower.ends_with(".ovf") || lower.ends_with(".vmdk") || lower.ends_with(".mf") {
            return Ok(Some((ImageFormat::Vmdk, Some(vmdk::Kind::Ova))));
        }
    }
    Ok(None)
}

/// Formats recognised but not read: a clear refusal rather than "no
/// filesystem found" on a file taken for raw.
fn refuse_known(path: &Path, head: &[u8]) -> Result<(), ImageError> {
    let refuse = |format: &'static str, detail: &str| {
        Err(ImageError::disk(
            path,
            DiskError::unsupported(format, detail),
        ))
    };
    if head.starts_with(b"COWD") {
        return refuse("vmdk", "VMware ESX sparse (COWD) extent");
    }
    if head.starts_with(b"<<< Sun VirtualBox") && !vdi::detect(head) {
        return refuse("vdi", "VDI pre-header without the VDI signature");
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        // A gzip stream: a cloud export (GCP: disk.raw in a .tar.gz)?
        use std::io::Read;
        let mut first = [0u8; 512];
        let f = std::fs::File::open(path).map_err(|e| ImageError::io(path, e))?;
        let mut gz = flate2::read::GzDecoder::new(f);
        let mut n = 0;
        while n < first.len() {
            match gz.read(&mut first[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        if n == 512 && first.get(257..262) == Some(b"ustar") {
            let end = first[..100].iter().position(|c| *c == 0).unwrap_or(100);
            let name = String::from_utf8_lossy(&first[..end]).into_owned();
            return refuse(
                "tar.gz",
                &format!(
                    "a gzip-compressed tar (first member {}; a GCP image export holds disk.raw): \
                     gzip allows no random access, unpack it first (tar -xzf) and give the disk file",
                    crate::escape::visible(&name)
                ),
            );
        }
        return refuse(
            "gzip",
            "a gzip-compressed file: gzip allows no random access, decompress it first",
        );
    }
    Ok(())
}

/// True when the last 512 bytes of `path` are a VHD footer (a fixed VHD).
fn tail_is_vhd(path: &Path) -> Result<bool, ImageError> {
    let f = std::fs::File::open(path).map_err(|e| ImageError::io(path, e))?;
    let len = f.metadata().map_err(|e| ImageError::io(path, e))?.len();
    if len < 1024 {
        return Ok(false);
    }
    let mut cookie = [0u8; 8];
    super::pread::read_exact_at(&f, &mut cookie, len - 512).map_err(|e| ImageError::io(path, e))?;
    Ok(&cookie == super::vhd::COOKIE)
}

/// Opens `path` when it is a VM disk format; `None` otherwise.
pub(super) fn open(
    path: &Path,
    head: &[u8],
    opts: &ImageOptions,
    depth: usize,
) -> Result<Option<OpenedImage>, ImageError> {
    let disk = |e| ImageError::disk(path, e);
    refuse_known(path, head)?;
    let Some((format, kind)) = detect(path, head)? else {
        if depth == 0 && opts.snapshot.is_some() {
            return Err(disk(DiskError::unsupported(
                "image",
                "--snapshot applies to QCOW2 images only",
            )));
        }
        return Ok(None);
    };
    if depth == 0 && opts.snapshot.is_some() && format != ImageFormat::Qcow2 {
        return Err(disk(DiskError::unsupported(
            format.name(),
            "--snapshot applies to QCOW2 images only",
        )));
    }
    let snapshot = if depth == 0 {
        opts.snapshot.as_deref()
    } else {
        None
    };
    let mut files = vec![path.to_path_buf()];
    let mut links = Vec::new();
    let opened = match format {
        ImageFormat::Qcow2 => {
            let file = ImageFile::open(path, "qcow2").map_err(disk)?;
            let mut q = Qcow2::open(file, snapshot).map_err(disk)?;
            let mut info = q.info();
            if let Some(name) = q.backing_name().map(str::to_string) {
                let raw = q.backing_format().is_some_and(|f| f == "raw");
                let parent = open_parent(path, &name, opts, depth, "qcow2", "backing file", raw)?;
                q.set_parent(parent.media.clone());
                chain(&mut files, &mut info, &mut links, parent);
            }
            finish(format, Arc::new(BlockDevice::new(q)), files, info, links)
        }
        ImageFormat::Vmdk => {
            let kind = kind.unwrap_or(vmdk::Kind::Sparse);
            let mut v = Vmdk::open(path, kind).map_err(disk)?;
            files = v.files();
            let mut info = v.info();
            if let Some(name) = v.parent_name().map(str::to_string) {
                let parent = open_parent(path, &name, opts, depth, "vmdk", "parent", false)?;
                v.set_parent(parent.media.clone());
                chain(&mut files, &mut info, &mut links, parent);
            }
            let format = match kind {
                vmdk::Kind::Ova => ImageFormat::Ova,
                _ => format,
            };
            finish(format, Arc::new(v), files, info, links)
        }
        ImageFormat::Vhd => {
            let mut v = Vhd::open(ImageFile::open(path, "vhd").map_err(disk)?).map_err(disk)?;
            let mut info = v.info();
            if !v.parent_names().is_empty() {
                let names = v.parent_names().to_vec();
                let parent = open_parent_any(path, &names, opts, depth, "vhd")?;
                v.set_parent(parent.media.clone());
                chain(&mut files, &mut info, &mut links, parent);
            }
            finish(format, Arc::new(BlockDevice::new(v)), files, info, links)
        }
        ImageFormat::Vhdx => {
            let mut v = Vhdx::open(ImageFile::open(path, "vhdx").map_err(disk)?).map_err(disk)?;
            let mut info = v.info();
            if !v.parent_names().is_empty() {
                let names = v.parent_names().to_vec();
                let parent = open_parent_any(path, &names, opts, depth, "vhdx")?;
                v.set_parent(parent.media.clone());
                chain(&mut files, &mut info, &mut links, parent);
            }
            finish(format, Arc::new(BlockDevice::new(v)), files, info, links)
        }
        ImageFormat::Vdi => {
            let mut v = Vdi::open(ImageFile::open(path, "vdi").map_err(disk)?).map_err(disk)?;
            let mut info = v.info();
            if v.needs_parent() {
                let Some(given) = opts.backing.get(depth) else {
                    return Err(disk(DiskError::unsupported(
                        "vdi",
                        "a differencing VDI names its parent by UUID only; give the parent with --backing PATH",
                    )));
                };
                let parent = super::open_chain(given, opts, depth + 1)?;
                v.set_parent(parent.media.clone());
                chain(&mut files, &mut info, &mut links, parent);
            }
            finish(format, Arc::new(BlockDevice::new(v)), files, info, links)
        }
        _ => return Ok(None),
    };
    Ok(Some(opened))
}

fn finish(
    format: ImageFormat,
    media: Arc<dyn ReadAt>,
    files: Vec<PathBuf>,
    info: Vec<String>,
    chain: Vec<(PathBuf, ImageFormat)>,
) -> OpenedImage {
    OpenedImage {
        format,
        media,
        acquisition: None,
        files,
        info,
        chain,
    }
}

/// Adds the parent's files and facts after the child's.
fn chain(
    files: &mut Vec<PathBuf>,
    info: &mut Vec<String>,
    links: &mut Vec<(PathBuf, ImageFormat)>,
    parent: OpenedImage,
) {
    if let Some(first) = parent.files.first() {
        info.push(format!(
            "backing file read: {} ({})",
            crate::escape::visible(&first.display().to_string()),
            parent.format.name()
        ));
        links.push((first.clone(), parent.format));
    }
    links.extend(parent.chain);
    files.extend(parent.files);
    info.extend(parent.info);
}

/// Opens the parent of a VHD/VHDX: the first recorded name that resolves
/// (relative locator, then the bare name); the first failure otherwise.
fn open_parent_any(
    child: &Path,
    names: &[String],
    opts: &ImageOptions,
    depth: usize,
    format: &'static str,
) -> Result<OpenedImage, ImageError> {
    let mut first_err = None;
    for n in names {
        let explicit = opts.backing.get(depth).map(PathBuf::as_path);
        match resolve_parent(child, n, explicit, format, "parent") {
            Ok(p) => return super::open_chain(&p, opts, depth + 1),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(ImageError::disk(
        child,
        first_err.unwrap_or_else(|| DiskError::unsupported(format, "no parent name")),
    ))
}

/// Opens the backing (parent) file recorded as `recorded` in `child`:
/// the examiner's `--backing` for this depth, else the name next to the
/// child. `raw` opens it as raw whatever its content (the child recorded
/// its format as raw).
fn open_parent(
    child: &Path,
    recorded: &str,
    opts: &ImageOptions,
    depth: usize,
    format: &'static str,
    role: &'static str,
    raw: bool,
) -> Result<OpenedImage, ImageError> {
    let explicit = opts.backing.get(depth).map(PathBuf::as_path);
    let path = resolve_parent(child, recorded, explicit, format, role)
        .map_err(|e| ImageError::disk(child, e))?;
    if raw {
        let r = RawImage::open(&path)?;
        return Ok(OpenedImage {
            format: ImageFormat::Raw,
            files: r.files(),
            media: Arc::new(r),
            acquisition: None,
            info: Vec::new(),
            chain: Vec::new(),
        });
    }
    super::open_chain(&path, opts, depth + 1)
}
