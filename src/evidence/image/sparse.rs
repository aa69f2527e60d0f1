//! What the virtual-machine disk formats (QCOW2, VMDK, VHD, VHDX, VDI)
//! share: a typed error, bounded reads of the image file, a block-mapped
//! medium, decompression of one block into a buffer of known size, and
//! the resolution of a backing (parent) file by the name the image records.
//!
//! Written here rather than taken from a crate: the Rust crates for these
//! formats found (`qcow`, `vmdk`, `vhdx`) read only some variants, trust
//! the counts and offsets they read, or write; an image from a seized host
//! is hostile input, so every table entry here is bounded against the file
//! size before it is used and every failure is a [`DiskError`] naming the
//! structure and its offset.
//!
//! Backing files: the name an image records is evidence, so it is resolved
//! only inside the image's own directory (no absolute path, no `..`, no
//! symbolic link). Anything else must be given by the examiner
//! (`--backing PATH`), in chain order.

use super::ReadAt;
use super::ahead::ReadAhead;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Errors reading a virtual-machine disk image; each names the format, the
/// structure and where it is.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A structure runs past the end of its file.
    #[error("{format}: truncated: {what} needs bytes {start}..{end} of {file} ({size} bytes)")]
    Truncated {
        format: &'static str,
        what: String,
        file: String,
        start: u64,
        end: u64,
        size: u64,
    },
    /// A structure is damaged or implausible.
    #[error("{format}: corrupt {what} at offset {offset}: {detail}")]
    Corrupt {
        format: &'static str,
        what: String,
        offset: u64,
        detail: String,
    },
    /// A valid image using a feature this reader does not implement.
    #[error("{format}: unsupported: {detail}")]
    Unsupported {
        format: &'static str,
        detail: String,
    },
    /// The backing (parent) file the image needs does not exist.
    #[error("{format}: {role} {name} not found (looked for {looked})")]
    MissingParent {
        format: &'static str,
        role: &'static str,
        name: String,
        looked: String,
    },
    /// The recorded backing (parent) name is not resolved automatically.
    #[error("{format}: {role} recorded as {name} {why}; give it with --backing PATH")]
    ParentRefused {
        format: &'static str,
        role: &'static str,
        name: String,
        why: &'static str,
    },
    /// `--snapshot NAME` names no internal snapshot.
    #[error("{format}: no snapshot {name} (snapshots: {known})")]
    NoSnapshot {
        format: &'static str,
        name: String,
        known: String,
    },
    /// Reading a file failed.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

impl DiskError {
    /// A [`DiskError::Corrupt`].
    pub(crate) fn corrupt(
        format: &'static str,
        what: impl Into<String>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        DiskError::Corrupt {
            format,
            what: what.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// A [`DiskError::Unsupported`].
    pub(crate) fn unsupported(format: &'static str, detail: impl Into<String>) -> Self {
        DiskError::Unsupported {
            format,
            detail: detail.into(),
        }
    }

    /// The [`DiskError`] inside an I/O error from reading such a medium.
    pub fn from_io(e: &io::Error) -> Option<&DiskError> {
        e.get_ref()?.downcast_ref()
    }
}

/// A read error of the medium, carrying the [`DiskError`].
pub(crate) fn to_io(e: DiskError) -> io::Error {
    match e {
        DiskError::Io { source, file } => {
            io::Error::new(source.kind(), format!("{file}: {source}"))
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// Options for images that depend on other files or hold several states.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// Backing (parent) files given by the examiner, in chain order: the
    /// first is the top image's backing file, the second that file's, ….
    pub backing: Vec<PathBuf>,
    /// Read this internal snapshot (QCOW2) instead of the current state.
    pub snapshot: Option<String>,
}

/// Bound on one table loaded whole (a VMDK grain directory, a VHD BAT, a
/// VDI block map): 64 MiB maps hundreds of terabytes in every format; a
/// larger claim is corruption, not a disk.
pub(crate) const MAX_TABLE: u64 = 64 << 20;

/// A [`DiskError::Corrupt`] when a table of `bytes` exceeds [`MAX_TABLE`].
pub(crate) fn table_fits(
    format: &'static str,
    what: &str,
    offset: u64,
    bytes: u64,
) -> Result<(), DiskError> {
    if bytes > MAX_TABLE {
        return Err(DiskError::corrupt(
            format,
            what,
            offset,
            format!("{bytes} bytes (more than {MAX_TABLE})"),
        ));
    }
    Ok(())
}

/// Longest backing chain followed.
pub(crate) const MAX_CHAIN: usize = 32;

/// An image file (or a window of one, as a member of a tar archive), read
/// only inside its bounds.
#[derive(Clone)]
pub(crate) struct ImageFile {
    file: Arc<File>,
    pub path: PathBuf,
    /// Where the window starts in the file.
    base: u64,
    /// The window's length.
    pub size: u64,
    pub format: &'static str,
}

impl ImageFile {
    /// Opens `path` (a regular file) whole.
    pub fn open(path: &Path, format: &'static str) -> Result<Self, DiskError> {
        let io_err = |source| DiskError::Io {
            file: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(io_err(io::Error::other("not a regular file")));
        }
        Ok(ImageFile {
            file: Arc::new(file),
            path: path.to_path_buf(),
            base: 0,
            size: meta.len(),
            format,
        })
    }

    /// `len` bytes of this file from `start`, as a file of its own (for
    /// `format`); fails when the window does not lie inside.
    pub fn window(&self, start: u64, len: u64, format: &'static str) -> Result<Self, DiskError> {
        self.check(start, len, "window")?;
        Ok(ImageFile {
            file: self.file.clone(),
            path: self.path.clone(),
            base: self.base + start,
            size: len,
            format,
        })
    }

    /// The file's name, for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn check(&self, offset: u64, len: u64, what: &str) -> Result<(), DiskError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            end => Err(DiskError::Truncated {
                format: self.format,
                what: what.to_string(),
                file: self.name(),
                start: offset,
                end: end.unwrap_or(u64::MAX),
                size: self.size,
            }),
        }
    }

    /// Fills `buf` from `offset`, which must lie inside the file.
    pub fn read_exact(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), DiskError> {
        self.check(offset, buf.len() as u64, what)?;
        super::pread::read_exact_at(&self.file, buf, self.base + offset).map_err(|source| {
            DiskError::Io {
                file: format!("{} ({what} at {offset})", self.name()),
                source,
            }
        })
    }

    /// `len` bytes from `offset`; the range is checked against the file
    /// size before anything is allocated, so a claimed length never makes
    /// a buffer larger than the file.
    pub fn read_vec(&self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, DiskError> {
        self.check(offset, len, what)?;
        let mut buf = vec![0u8; len as usize];
        self.read_exact(&mut buf, offset, what)?;
        Ok(buf)
    }
}

/// A medium cut into blocks of one size, each found through a table.
pub(crate) trait Blocks: Send + Sync + 'static {
    /// Bytes per block (not zero).
    fn block_size(&self) -> u64;
    /// The virtual disk size.
    fn size(&self) -> u64;
    fn describe(&self) -> String;
    /// Fills `buf` from byte `within` of block `index`; the range never
    /// crosses the block's end nor the disk's.
    fn read_block(&self, index: u64, within: u64, buf: &mut [u8]) -> Result<(), DiskError>;
    /// Whether blocks may be stored compressed, and so worth decompressing
    /// ahead of a forward reader ([`Blocks::warm`]).
    fn compresses(&self) -> bool {
        false
    }
    /// Decompresses block `index` into the format's cache if it is stored
    /// compressed; a failure is left for the reader to meet and report.
    fn warm(&self, _index: u64) {}
    /// How many bytes of block `index` this file stores as data (see
    /// [`ReadAt::allocated`]); never more than the block size.
    fn data_bytes(&self, index: u64) -> Result<u64, DiskError>;
}

/// A [`Blocks`] as a [`ReadAt`] medium, decompressing ahead of forward
/// readers when the format compresses.
pub(crate) struct BlockDevice<B> {
    blocks: Arc<B>,
    ahead: ReadAhead,
}

impl<B: Blocks> BlockDevice<B> {
    pub fn new(blocks: B) -> Self {
        let ahead = ReadAhead::new(
            blocks.block_size(),
            blocks.size().div_ceil(blocks.block_size().max(1)),
        );
        BlockDevice {
            blocks: Arc::new(blocks),
            ahead,
        }
    }
}

impl<B: Blocks> ReadAt for BlockDevice<B> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let b = &self.blocks;
        let size = b.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = (size - offset).min(buf.len() as u64) as usize;
        let bs = b.block_size().max(1);
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let within = pos % bs;
            let take = (bs - within).min((n - done) as u64) as usize;
            if b.compresses() {
                self.ahead.follow(pos / bs, b, B::warm);
            }
            b.read_block(pos / bs, within, &mut buf[done..done + take])
                .map_err(to_io)?;
            done += take;
        }
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.blocks.size()
    }
    fn describe(&self) -> String {
        self.blocks.describe()
    }
    fn allocated(&self) -> Option<io::Result<u64>> {
        let b = &self.blocks;
        Some(data_in(b.size(), b.block_size(), |i| b.data_bytes(i)).map_err(to_io))
    }
}

/// The bytes stored as data in the first `len` bytes of a medium of
/// `block`-sized blocks, given each block's (a last block cut by `len`
/// counts only what lies before it).
pub(crate) fn data_in(
    len: u64,
    block: u64,
    data_bytes: impl Fn(u64) -> Result<u64, DiskError>,
) -> Result<u64, DiskError> {
    let block = block.max(1);
    let mut total = 0u64;
    for i in 0..len.div_ceil(block) {
        total += data_bytes(i)?.min(len - i * block);
    }
    Ok(total)
}

/// Fills `buf` from `offset` of the backing medium, or with zeros where
/// there is none (no backing file, or one smaller than the image).
pub(crate) fn read_backing(
    parent: Option<&Arc<dyn ReadAt>>,
    buf: &mut [u8],
    offset: u64,
) -> Result<(), DiskError> {
    let Some(p) = parent else {
        buf.fill(0);
        return Ok(());
    };
    let have = p.size().saturating_sub(offset).min(buf.len() as u64) as usize;
    let (from_parent, zeros) = buf.split_at_mut(have);
    if !from_parent.is_empty() {
        p.read_exact_at(from_parent, offset)
            .map_err(|source| DiskError::Io {
                file: p.describe(),
                source,
            })?;
    }
    zeros.fill(0);
    Ok(())
}

/// Decompressed blocks (or loaded tables) kept for reuse, bounded.
pub(crate) type Cache = crate::evidence::cache::Lru<u64, Vec<u8>>;

/// The compression of a block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Codec {
    /// Raw deflate (QCOW2).
    Deflate,
    /// Deflate in a zlib wrapper (VMDK).
    Zlib,
    /// Zstandard (QCOW2 v3 `compression_type` 1).
    Zstd,
}

/// Decompresses `input` into exactly `out_len` bytes; the stream may be
/// followed by padding, and never yields more than `out_len` bytes
/// whatever it claims.
pub(crate) fn decompress(codec: Codec, input: &[u8], out_len: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; out_len];
    let got = match codec {
        Codec::Deflate | Codec::Zlib => {
            // One inflater per thread and header kind, reset for each block:
            // a new one (and its 32 KiB window) per block costs as much as
            // inflating the block.
            thread_local! {
                static RAW: RefCell<flate2::Decompress> = RefCell::new(flate2::Decompress::new(false));
                static ZLIB: RefCell<flate2::Decompress> = RefCell::new(flate2::Decompress::new(true));
            }
            let zlib = matches!(codec, Codec::Zlib);
            let inflate = |d: &mut flate2::Decompress| {
                d.reset(zlib);
                d.decompress(input, &mut out, flate2::FlushDecompress::Finish)
                    .map_err(|e| format!("deflate: {e}"))?;
                Ok::<_, String>(d.total_out() as usize)
            };
            if zlib {
                ZLIB.with_borrow_mut(inflate)?
            } else {
                RAW.with_borrow_mut(inflate)?
            }
        }
        Codec::Zstd => {
            // One frame: the stored length is rounded up to a sector and
            // what follows the frame is not part of it (QEMU's
            // `qcow2_zstd_decompress` also stops at a full cluster).
            let zerr = |e: io::Error| format!("zstd: {e}");
            let mut dec = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(zerr)?
                .single_frame();
            fill(&mut dec, &mut out).map_err(zerr)?
        }
    };
    if got != out_len {
        return Err(format!("decompresses to {got} bytes, expected {out_len}"));
    }
    Ok(out)
}

/// Copies `buf.len()` bytes of a decompressed block from `within`.
pub(crate) fn copy_out(block: &[u8], within: u64, buf: &mut [u8]) -> Result<(), DiskError> {
    let from = usize::try_from(within).unwrap_or(usize::MAX);
    match from
        .checked_add(buf.len())
        .and_then(|end| block.get(from..end))
    {
        Some(b) => {
            buf.copy_from_slice(b);
            Ok(())
        }
        None => Err(DiskError::corrupt(
            "image",
            "decompressed block",
            within,
            format!("holds {} bytes", block.len()),
        )),
    }
}

fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// Where the backing (parent) file of `child` is: `explicit` when the
/// examiner gave one, else the `recorded` name inside the child's own
/// directory. A recorded name that is absolute, climbs out with `..`, is
/// a URL or a QEMU `json:` spec, or is a symbolic link, is refused.
pub(crate) fn resolve_parent(
    child: &Path,
    recorded: &str,
    explicit: Option<&Path>,
    format: &'static str,
    role: &'static str,
) -> Result<PathBuf, DiskError> {
    let shown = crate::escape::visible(recorded).into_owned();
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(DiskError::MissingParent {
                format,
                role,
                name: shown,
                looked: p.display().to_string(),
            });
        }
        return Ok(p.to_path_buf());
    }
    let refuse = |why| DiskError::ParentRefused {
        format,
        role,
        name: shown.clone(),
        why,
    };
    let name = recorded.replace('\\', "/");
    let name = name.trim_start_matches("./");
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') && !name.contains("://") {
        return Err(refuse("is an absolute path"));
    }
    if name.contains("://") || name.starts_with("json:") || name.contains('\0') {
        return Err(refuse("is not a file name"));
    }
    let rel = Path::new(name);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(refuse("leaves the image's directory"));
    }
    let dir = child.parent().unwrap_or(Path::new("."));
    let path = dir.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => Err(refuse("is a symbolic link")),
        Ok(m) if m.is_file() => Ok(path),
        _ => Err(DiskError::MissingParent {
            format,
            role,
            name: shown,
            looked: path.display().to_string(),
        }),
    }
}

/// Reads a UTF-16 string (little- or big-endian), stopping at a NUL.
pub(crate) fn utf16(b: &[u8], big_endian: bool) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            if big_endian {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_parent_names_stay_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let child = dir.path().join("top.qcow2");
        std::fs::write(dir.path().join("base.raw"), b"x").unwrap();
        let ok = |n: &str| resolve_parent(&child, n, None, "qcow2", "backing file");
        assert_eq!(ok("base.raw").unwrap(), dir.path().join("base.raw"));
        assert_eq!(ok("./base.raw").unwrap(), dir.path().join("base.raw"));
        assert_eq!(ok(".\\base.raw").unwrap(), dir.path().join("base.raw"));
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "C:\\x.vhd",
            "nbd://h/x",
            "json:{}",
            "",
        ] {
            assert!(
                matches!(ok(bad), Err(DiskError::ParentRefused { .. })),
                "{bad}"
            );
        }
        let e = ok("gone.raw").unwrap_err();
        assert!(matches!(e, DiskError::MissingParent { .. }), "{e}");
        assert!(e.to_string().contains("gone.raw"), "{e}");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("l")).unwrap();
        assert!(matches!(ok("l"), Err(DiskError::ParentRefused { .. })));
        let explicit = dir.path().join("base.raw");
        assert_eq!(
            resolve_parent(
                &child,
                "/abs/base",
                Some(&explicit),
                "qcow2",
                "backing file"
            )
            .unwrap(),
            explicit
        );
    }

    #[test]
    fn decompression_is_bounded_and_exact() {
        use std::io::Write;
        let data = vec![7u8; 4096];
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&data).unwrap();
        let mut c = z.finish().unwrap();
        c.extend_from_slice(&[0u8; 300]);
        assert_eq!(decompress(Codec::Deflate, &c, 4096).unwrap(), data);
        assert!(decompress(Codec::Deflate, &c, 8192).is_err());
        // Output full before the stream ends: the block is what was asked for.
        assert_eq!(decompress(Codec::Deflate, &c, 100).unwrap(), data[..100]);
        assert!(decompress(Codec::Zstd, &c, 4096).is_err());
        let mut zs = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(decompress(Codec::Zstd, &zs, 4096).unwrap(), data);
        // What follows the frame in its last sector is not read.
        zs.extend_from_slice(&[0xff; 300]);
        assert_eq!(decompress(Codec::Zstd, &zs, 4096).unwrap(), data);
        assert!(decompress(Codec::Zstd, &zs[..zs.len() - 310], 4096).is_err());
    }
}
