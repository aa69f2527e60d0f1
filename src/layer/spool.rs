//! A layer's tar-split entries, parsed and checked once, kept in a compact
//! binary form until the layer is written: in memory up to
//! [`IN_MEMORY`], beyond that in an unlinked temporary file
//! ([`tempfile::SpooledTempFile`]), so a 100k-file layer (tens of MB of
//! tar-split JSON) costs little memory and no second gunzip and parse.
//!
//! Our own format, read back only by this module: per entry a tag byte,
//! then `S` len:u32 bytes (a segment) or `F` name-len:u32 name size:u64
//! crc-flag:u8 crc:u64 (a file), integers little-endian. File entries of
//! size 0 are not kept: replay writes nothing for them, and segments are
//! cut into pieces of at most 64 KiB.

use super::tarsplit::Entry;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use tempfile::SpooledTempFile;

/// Bytes kept in memory before the spool moves to a temporary file (an
/// exporter may hold the prepared layers of a whole image at once).
pub const IN_MEMORY: usize = 2 << 20;

/// Longest segment kept in one piece (replay holds up to a few hundred
/// entries ahead).
const SEGMENT_PIECE: usize = 64 << 10;

/// Entries being written.
pub(crate) struct SpoolWriter {
    out: BufWriter<SpooledTempFile>,
}

impl SpoolWriter {
    pub(crate) fn new() -> Self {
        SpoolWriter {
            out: BufWriter::with_capacity(64 << 10, SpooledTempFile::new(IN_MEMORY)),
        }
    }

    pub(crate) fn push(&mut self, entry: &Entry) -> io::Result<()> {
        match entry {
            // In pieces, so that what replay reads ahead stays small.
            Entry::Segment(b) => b.chunks(SEGMENT_PIECE).try_for_each(|piece| {
                self.out.write_all(b"S")?;
                self.out.write_all(&len32(piece.len())?.to_le_bytes())?;
                self.out.write_all(piece)
            }),
            Entry::File { size: 0, .. } => Ok(()),
            Entry::File { name, size, crc64 } => {
                self.out.write_all(b"F")?;
                self.out.write_all(&len32(name.len())?.to_le_bytes())?;
                self.out.write_all(name)?;
                self.out.write_all(&size.to_le_bytes())?;
                self.out.write_all(&[u8::from(crc64.is_some())])?;
                self.out.write_all(&crc64.unwrap_or(0).to_le_bytes())
            }
        }
    }

    pub(crate) fn finish(self) -> io::Result<Spool> {
        let mut file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Spool { file })
    }
}

fn len32(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other("spooled entry over 4 GiB"))
}

/// Entries ready to be read back, once.
pub struct Spool {
    file: SpooledTempFile,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("in_memory", &!self.file.is_rolled())
            .finish()
    }
}

impl Spool {
    /// True while the entries are held in memory.
    pub fn in_memory(&self) -> bool {
        !self.file.is_rolled()
    }

    pub(crate) fn into_entries(self) -> SpoolEntries {
        SpoolEntries {
            input: BufReader::with_capacity(64 << 10, self.file),
        }
    }
}

/// The spooled entries, in order.
pub(crate) struct SpoolEntries {
    input: BufReader<SpooledTempFile>,
}

impl SpoolEntries {
    fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        let mut tag = [0u8; 1];
        if self.input.read(&mut tag)? == 0 {
            return Ok(None);
        }
        match &tag {
            b"S" => Ok(Some(Entry::Segment(self.bytes()?))),
            b"F" => {
                let name = self.bytes()?;
                let size = u64::from_le_bytes(self.array()?);
                let [has_crc] = self.array()?;
                let crc = u64::from_le_bytes(self.array()?);
                Ok(Some(Entry::File {
                    name,
                    size,
                    crc64: (has_crc != 0).then_some(crc),
                }))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "tar-split spool damaged",
            )),
        }
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        self.input.read_exact(&mut a)?;
        Ok(a)
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let len = u32::from_le_bytes(self.array()?);
        let mut v = Vec::new();
        (&mut self.input).take(u64::from(len)).read_to_end(&mut v)?;
        if v.len() != len as usize {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(v)
    }
}

impl Iterator for SpoolEntries {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(entries: &[Entry]) -> (Vec<Entry>, bool) {
        let mut w = SpoolWriter::new();
        for e in entries {
            w.push(e).unwrap();
        }
        let spool = w.finish().unwrap();
        let mem = spool.in_memory();
        (spool.into_entries().map(Result::unwrap).collect(), mem)
    }

    #[test]
    fn entries_come_back_in_order_without_empty_files() {
        let entries = vec![
            Entry::Segment(vec![1; 512]),
            Entry::File {
                name: b"a\xffb".to_vec(),
                size: 7,
                crc64: Some(42),
            },
            Entry::File {
                name: b"empty".to_vec(),
                size: 0,
                crc64: None,
            },
            Entry::File {
                name: b"c".to_vec(),
                size: u64::MAX,
                crc64: None,
            },
            Entry::Segment(Vec::new()),
        ];
        let (back, mem) = roundtrip(&entries);
        assert!(mem);
        let mut want = entries.clone();
        want.remove(4);
        want.remove(2);
        assert_eq!(back, want);
    }

    #[test]
    fn large_spools_move_to_a_file() {
        let entries: Vec<Entry> = (0..(IN_MEMORY / 1000 + 10))
            .map(|i| Entry::Segment(vec![(i % 251) as u8; 1000]))
            .collect();
        let (back, mem) = roundtrip(&entries);
        assert!(!mem);
        assert_eq!(back, entries);
    }
}
