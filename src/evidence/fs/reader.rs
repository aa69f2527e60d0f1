//! File reading shared by the filesystems read from images (ext4, XFS):
//! a file mapped by extents (runs of blocks at a device offset; holes and
//! unwritten extents read as zeros), and the stream position every
//! [`FileReader`] keeps over its positioned reads.

use super::FileReader;
use crate::evidence::image::ReadAt;
use std::io;

/// A run of file blocks stored together on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    /// First file block.
    pub file_block: u64,
    /// Length in blocks (more than 0).
    pub len: u64,
    /// Byte offset of the first block on the device.
    pub dev_offset: u64,
    /// Allocated but never written (reads as zeros).
    pub unwritten: bool,
}

/// A file (or fork) mapped by runs.
///
/// The runs must be sorted by file block, not overlap, and their file
/// and device byte ranges must fit in a `u64` and lie inside the device:
/// the filesystem checks this before it builds the map.
pub(super) struct Mapped<'a> {
    pub dev: &'a dyn ReadAt,
    pub runs: &'a [Run],
    pub block_size: u64,
    /// Bytes past this read as end of file.
    pub size: u64,
}

impl Mapped<'_> {
    /// Reads at file byte `offset`, up to the end of the run or hole it
    /// falls in; returns the bytes filled (0 at the end).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.block_size;
        let want = (self.size - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..want];
        let block = offset / bs;
        let idx = self.runs.partition_point(|r| r.file_block + r.len <= block);
        match self.runs.get(idx) {
            Some(r) if r.file_block <= block => {
                let within = offset - r.file_block * bs;
                let n = (r.len * bs - within).min(want as u64) as usize;
                if r.unwritten {
                    buf[..n].fill(0);
                } else {
                    self.dev
                        .read_exact_at(&mut buf[..n], r.dev_offset + within)?;
                }
                Ok(n)
            }
            // a hole up to the next run (or the end)
            next => {
                let hole_end = next.map_or(self.size, |r| r.file_block * bs);
                let n = (hole_end - offset).min(want as u64) as usize;
                buf[..n].fill(0);
                Ok(n)
            }
        }
    }
}

/// Positioned reads of a regular file.
pub(super) trait ReadFileAt: Send {
    fn read_file_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// A [`FileReader`] over positioned reads: `Read` moves a position.
pub(super) struct Streamed<F> {
    file: F,
    pos: u64,
}

impl<F: ReadFileAt> Streamed<F> {
    pub fn new(file: F) -> Self {
        Streamed { file, pos: 0 }
    }
}

impl<F: ReadFileAt> FileReader for Streamed<F> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_file_at(buf, offset)
    }
}

impl<F: ReadFileAt> io::Read for Streamed<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_file_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::image::MemImage;
    use std::io::Read;

    #[test]
    fn runs_holes_and_unwritten_read_back() {
        let dev = MemImage::new((0..=255u8).cycle().take(4096).collect(), "dev");
        // blocks of 16: file block 0 at device 32, a hole, block 2
        // unwritten, block 3 at device 64; 60 bytes in all
        let runs = [
            Run {
                file_block: 0,
                len: 1,
                dev_offset: 32,
                unwritten: false,
            },
            Run {
                file_block: 2,
                len: 1,
                dev_offset: 0,
                unwritten: true,
            },
            Run {
                file_block: 3,
                len: 1,
                dev_offset: 64,
                unwritten: false,
            },
        ];
        let m = Mapped {
            dev: &dev,
            runs: &runs,
            block_size: 16,
            size: 60,
        };
        struct F<'a>(Mapped<'a>);
        impl ReadFileAt for F<'_> {
            fn read_file_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
                self.0.read_at(buf, offset)
            }
        }
        let mut got = Vec::new();
        Streamed::new(F(m)).read_to_end(&mut got).unwrap();
        let mut want: Vec<u8> = (32..48).collect();
        want.extend([0; 32]);
        want.extend(64..76);
        assert_eq!(got, want);
    }
}
