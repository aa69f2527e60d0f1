//! Raw images: one file (`dd`, `.raw`, `.img`, …) or a raw image split
//! into pieces named `NAME.001`, `NAME.002`, … (as `split -d`, FTK Imager
//! and `dcfldd split=` write them), concatenated in numeric order.

use super::{ImageError, ReadAt};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

struct Piece {
    file: File,
    path: PathBuf,
    start: u64,
    len: u64,
}

/// A raw image made of one or more files.
pub struct RawImage {
    pieces: Vec<Piece>,
    size: u64,
}

/// True when `path` ends in `.001` (or `.000`), the first piece of a split image.
pub fn is_first_split(path: &Path) -> bool {
    split_base(path).is_some()
}

/// For `disk.001` returns (`disk.`, 1, 3): the prefix, first number and width.
fn split_base(path: &Path) -> Option<(String, u32, usize)> {
    let name = path.to_str()?;
    let (stem, num) = name.rsplit_once('.')?;
    if num.len() < 3 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let first: u32 = num.parse().ok()?;
    (first <= 1).then(|| (format!("{stem}."), first, num.len()))
}

impl RawImage {
    /// Opens `path`; a name ending in `.001` also takes `.002`, `.003`, …
    /// for as long as they exist.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let mut paths = vec![path.to_path_buf()];
        if let Some((prefix, first, width)) = split_base(path) {
            for n in first + 1.. {
                let next = PathBuf::from(format!("{prefix}{n:0width$}"));
                if !next.exists() {
                    break;
                }
                paths.push(next);
            }
        }
        let mut pieces = Vec::with_capacity(paths.len());
        let mut start = 0u64;
        for p in paths {
            let file = File::open(&p).map_err(|e| ImageError::io(&p, e))?;
            let meta = file.metadata().map_err(|e| ImageError::io(&p, e))?;
            if !meta.is_file() {
                return Err(ImageError::NotAFile {
                    path: p.display().to_string(),
                });
            }
            let len = meta.len();
            pieces.push(Piece {
                file,
                path: p,
                start,
                len,
            });
            start += len;
        }
        Ok(RawImage {
            pieces,
            size: start,
        })
    }

    /// The files of the image, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.pieces.iter().map(|p| p.path.clone()).collect()
    }
}

impl ReadAt for RawImage {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let idx = self.pieces.partition_point(|p| p.start <= offset) - 1;
        let p = &self.pieces[idx];
        let within = offset - p.start;
        let n = (p.len - within).min(buf.len() as u64) as usize;
        super::pread::read_at(&p.file, &mut buf[..n], within).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{}: offset {within}: {e}", p.path.display()),
            )
        })
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        match self.pieces.as_slice() {
            [one] => one.path.display().to_string(),
            [first, ..] => format!(
                "{} (+{} pieces)",
                first.path.display(),
                self.pieces.len() - 1
            ),
            [] => "empty image".into(),
        }
    }
}
