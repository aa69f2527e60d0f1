//! An in-memory medium: bytes already in memory as a [`ReadAt`], for
//! tests and fuzzing of the parsers above (partition tables, LVM,
//! filesystems) without writing a file first.

use super::ReadAt;
use std::io;

/// `data` followed by zeros up to `size` bytes, read-only.
///
/// The zero tail lets a test or fuzz input hold only the start of a larger
/// filesystem (its metadata) while the device is as large as the
/// superblock says.
pub struct MemImage {
    data: Vec<u8>,
    size: u64,
    label: String,
}

impl MemImage {
    /// A medium of exactly the bytes of `data`.
    pub fn new(data: Vec<u8>, label: impl Into<String>) -> Self {
        let size = data.len() as u64;
        Self::zero_extended(data, size, label)
    }

    /// A medium of `size` bytes: `data` (cut to `size`), then zeros.
    pub fn zero_extended(mut data: Vec<u8>, size: u64, label: impl Into<String>) -> Self {
        if data.len() as u64 > size {
            data.truncate(size as usize);
        }
        MemImage {
            data,
            size,
            label: label.into(),
        }
    }
}

impl ReadAt for MemImage {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let n = (self.size - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..n];
        let from_data = usize::try_from(offset)
            .ok()
            .and_then(|o| self.data.get(o..))
            .unwrap_or_default();
        let k = from_data.len().min(n);
        buf[..k].copy_from_slice(&from_data[..k]);
        buf[k..].fill(0);
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn describe(&self) -> String {
        self.label.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_data_then_zeros_then_eof() {
        let m = MemImage::zero_extended(b"abc".to_vec(), 6, "mem");
        let mut b = [9u8; 8];
        assert_eq!(m.read_at(&mut b, 1).unwrap(), 5);
        assert_eq!(&b[..5], b"bc\0\0\0");
        assert_eq!(m.read_at(&mut b, 6).unwrap(), 0);
        assert_eq!(m.read_at(&mut b, u64::MAX).unwrap(), 0);
        assert_eq!(MemImage::new(b"xy".to_vec(), "m").size(), 2);
    }
}
