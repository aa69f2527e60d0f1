//! Helpers shared by the fuzz targets: a bounded walk over a filesystem
//! and a per-process scratch file for parsers that open paths.

use docker_forensics::evidence::fs::{EvPath, FileKind, FileReader, FileSystem};
use docker_forensics::evidence::image::ReadAt;
use std::collections::VecDeque;
use std::io::Read;
use std::path::PathBuf;

/// Walks `fs` breadth-first from the root, touching at most `budget`
/// objects: metadata, xattrs, directory listings, link targets and up to
/// 64 KiB of each regular file (streamed, then once more at an offset).
/// Errors are expected and ignored; only panics, hangs and OOMs matter.
pub fn walk(fs: &dyn FileSystem, budget: usize) {
    let _ = fs.describe();
    let mut queue = VecDeque::from([EvPath::root()]);
    let mut seen = 0usize;
    let mut buf = vec![0u8; 16 << 10];
    while let Some(path) = queue.pop_front() {
        if seen >= budget {
            break;
        }
        seen += 1;
        let _ = fs.exists(&path);
        let _ = fs.xattrs(&path);
        let Ok(meta) = fs.metadata(&path) else {
            continue;
        };
        match meta.kind {
            FileKind::Dir => {
                if let Ok(entries) = fs.read_dir(&path) {
                    for e in entries.into_iter().take(budget) {
                        if let Some(child) = path.child(&e.name) {
                            queue.push_back(child);
                        }
                    }
                }
            }
            FileKind::Symlink => {
                let _ = fs.read_link(&path);
            }
            FileKind::File => {
                let _ = fs.read_small(&path, 4096);
                if let Ok(mut f) = fs.open(&path) {
                    let mut total = 0usize;
                    while total < 64 << 10 {
                        match f.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => total += n,
                        }
                    }
                    let _ = f.read_at(&mut buf, meta.size.saturating_sub(100));
                    let _ = f.read_at(&mut buf, meta.size / 2);
                }
            }
            _ => {}
        }
    }
    // lookups through names that are not there, or through files
    for p in ["no/such/path", "lost+found/x", "a/b/c/d/e/f/g"] {
        if let Some(p) = EvPath::parse(p) {
            let _ = fs.metadata(&p);
        }
    }
}

/// A scratch file named `name` in a directory private to this process,
/// holding `data`; overwritten on every call.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("df-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let p = dir.join(name);
    std::fs::write(&p, data).expect("scratch file");
    p
}

/// A file held in memory, as a [`FileReader`] (for parsers of files found
/// inside a filesystem, such as the bbolt reader).
pub struct MemFile {
    data: Vec<u8>,
    pos: u64,
}

impl MemFile {
    pub fn new(data: &[u8]) -> Self {
        MemFile {
            data: data.to_vec(),
            pos: 0,
        }
    }
}

impl FileReader for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|o| self.data.get(o..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

impl Read for MemFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = FileReader::read_at(self, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Opens `data` as a one-segment EWF image named `name` (`img.E01`,
/// `img.Ex01`: the name picks nothing, the content does), then reads its
/// acquisition record, some chunks and the end of the medium.
pub fn ewf_one_segment(name: &str, data: &[u8]) {
    use docker_forensics::evidence::image::EwfImage;
    let path = scratch_file(name, data);
    let Ok(img) = EwfImage::open(&path) else {
        return;
    };
    let _ = format!("{:?}", img.acquisition());
    read_spread(&img);
}

/// Reads `media` at its start, at ⅛…⅞ and at its end (errors ignored:
/// only a panic or a hang is a finding).
pub fn read_spread(media: &dyn ReadAt) {
    let size = media.size();
    let mut buf = vec![0u8; 64 << 10];
    let _ = media.read_exact_at(&mut buf[..size.min(64 << 10) as usize], 0);
    for k in 1..8u64 {
        let _ = media.read_at(&mut buf[..4096], size / 8 * k);
    }
    let _ = media.read_at(&mut buf, size.saturating_sub(100));
    let _ = media.read_at(&mut buf, size);
}
