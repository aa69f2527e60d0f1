//! sha256 digests as Docker and OCI write them, and a writer that hashes
//! what passes through it (so output is hashed while it is written, once).

use sha2::{Digest as _, Sha256};
use std::io::{self, Write};

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Lower-case hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hex part of `sha256:<hex>` (or the string itself without a prefix).
pub fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The first 12 characters of `id` (all of it when shorter), as
/// `docker images` shows an id; by characters, not bytes, since an id
/// read from the evidence need not be hex.
pub fn short_id(id: &str) -> &str {
    id.char_indices().nth(12).map_or(id, |(end, _)| &id[..end])
}

/// True for 64 lower-case hex characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Layer chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) =
/// sha256("ChainID(Ln-1) DiffID(Ln)") (OCI image-spec `config.md`,
/// "Layer ChainID").
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Passes writes through to `inner` and hashes them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the inner writer, the hex sha256 and the length.
    pub fn finish(mut self) -> io::Result<(W, String, u64)> {
        self.inner.flush()?;
        Ok((
            self.inner,
            hex::encode(self.hasher.finalize()),
            self.written,
        ))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found while writing the `podman_records` fuzz target (which now
    /// drives both): an image id from `images.json` with a multi-byte
    /// character across byte 12 made `Image::short_id`, and the
    /// candidates listed for an ambiguous short id, slice inside it.
    #[test]
    fn short_ids_count_characters() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id("0123456789aé123"), "0123456789aé");
        let image = crate::store::model::Image {
            id: "sha256:0123456789aé123".into(),
            ..Default::default()
        };
        assert_eq!(image.short_id(), "0123456789aé");
        assert_eq!(image.display_name(), "0123456789aé");
    }

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let d = vec!["sha256:aa".to_string(), "sha256:bb".to_string()];
        let c = chain_ids(&d);
        assert_eq!(c[0], "sha256:aa");
        assert_eq!(c[1], sha256_digest(b"sha256:aa sha256:bb"));
    }

    #[test]
    fn hashing_writer_hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (v, h, n) = w.finish().unwrap();
        assert_eq!(v, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
