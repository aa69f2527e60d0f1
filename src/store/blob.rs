//! Layer blobs → uncompressed tar streams, streamed (never whole in
//! memory), and their digests.
//!
//! Media types (OCI image-spec `media-types.md`, `layer.md`; Docker image
//! manifest v2.2): `…layer.v1.tar`, `…tar+gzip`, `…tar+zstd`,
//! `application/vnd.docker.image.rootfs.diff.tar.gzip` and the
//! `foreign`/`nondistributable` variants. Gzip blobs may have several
//! members (RFC 1952; Go's `compress/gzip` reads them all); zstd blobs
//! several frames, skippable ones included (RFC 8878 §3.1; zstd:chunked
//! layers use them), decoded by libzstd (the `zstd` crate), which skips
//! skippable frames itself.

use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileSystem, FsError};
use flate2::read::MultiGzDecoder;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{self, BufReader, Read};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type; `None` for a type that is not a layer.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        let mt = media_type.trim();
        let layer = mt.starts_with("application/vnd.oci.image.layer.")
            || mt.starts_with("application/vnd.docker.image.rootfs.");
        if !layer {
            return None;
        }
        if mt.ends_with("+gzip") || mt.ends_with(".gzip") {
            Some(Compression::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with("diff.tar") {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// From the first bytes of a blob (magic numbers).
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [m, 0x2a, 0x4d, 0x18, ..] if m & 0xf0 == 0x50 => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Wraps `reader` so that it yields the uncompressed bytes.
pub fn decompressed<'a, R: Read + Send + 'a>(
    reader: R,
    compression: Compression,
) -> Box<dyn Read + Send + 'a> {
    match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(MultiGzDecoder::new(BufReader::new(reader))),
        Compression::Zstd => Box::new(ZstdReader::new(reader)),
    }
}

/// Largest zstd window a layer may claim: 2^27 bytes, libzstd's own
/// default limit and what `zstd --long` writes at most; a larger claim is
/// refused rather than allocated.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// A multi-frame zstd decoder; a decoder that cannot be made (no memory)
/// or is refused its window limit is reported at the first read. Errors
/// of the blob's own reads come out as they were (a damaged disk image
/// stays a disk error), the decoder's as `zstd: …`.
enum ZstdReader<'a, R: Read> {
    Ready(zstd::stream::read::Decoder<'a, BufReader<KeepError<R>>>),
    Failed(Option<io::Error>),
}

/// A reader that keeps its first error for [`ZstdReader`] to return, as
/// the decoder replaces it with its own.
struct KeepError<R> {
    inner: R,
    failed: Option<io::Error>,
}

impl<R: Read> Read for KeepError<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let kind = e.kind();
            if kind != io::ErrorKind::Interrupted {
                self.failed.get_or_insert(e);
            }
            io::Error::from(kind)
        })
    }
}

impl<'a, R: Read> ZstdReader<'a, R> {
    fn new(reader: R) -> Self {
        let src = BufReader::with_capacity(
            256 << 10,
            KeepError {
                inner: reader,
                failed: None,
            },
        );
        let made = zstd::stream::read::Decoder::with_buffer(src).and_then(|mut d| {
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Ok(d)
        });
        match made {
            Ok(d) => ZstdReader::Ready(d),
            Err(e) => ZstdReader::Failed(Some(zstd_err(e))),
        }
    }
}

fn zstd_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: Read> Read for ZstdReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ZstdReader::Ready(d) => {
                d.read(buf)
                    .map_err(|e| match d.get_mut().get_mut().failed.take() {
                        Some(source) => source,
                        None => zstd_err(e),
                    })
            }
            ZstdReader::Failed(e) => Err(e.take().unwrap_or_else(|| zstd_err("no decoder"))),
        }
    }
}

/// What hashing a blob found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobDigests {
    /// `sha256:<hex>` of the blob as stored.
    pub blob: String,
    pub blob_size: u64,
    /// `sha256:<hex>` of the uncompressed stream (the diff_id of a layer).
    pub uncompressed: String,
    pub uncompressed_size: u64,
}

/// Errors reading or decompressing a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Counts and hashes what is read through it.
struct Tee<R> {
    inner: R,
    hash: Sha256,
    len: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Reads the blob at `path` once, hashing it as stored and uncompressed.
/// `compression` `None` means "sniff the magic number".
pub fn digest_blob(
    fs: &dyn FileSystem,
    path: &EvPath,
    compression: Option<Compression>,
) -> Result<BlobDigests, BlobError> {
    let read_err = |source| BlobError::Read {
        path: path.display(),
        source,
    };
    let compression = match compression {
        Some(c) => c,
        None => {
            let mut head = [0u8; 4];
            let n = fs.open(path)?.read_at(&mut head, 0).map_err(read_err)?;
            Compression::sniff(&head[..n])
        }
    };
    let file = fs.open(path)?;
    let mut tee = Tee {
        inner: file,
        hash: Sha256::new(),
        len: 0,
    };
    let mut out = Sha256::new();
    let mut out_len = 0u64;
    {
        let mut dec = decompressed(&mut tee, compression);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = dec.read(&mut buf).map_err(read_err)?;
            if n == 0 {
                break;
            }
            out.update(&buf[..n]);
            out_len += n as u64;
        }
    }
    // A compressed stream may end before the file does: hash the rest.
    io::copy(&mut tee, &mut io::sink()).map_err(read_err)?;
    Ok(BlobDigests {
        blob: format!("sha256:{}", hex::encode(tee.hash.finalize())),
        blob_size: tee.len,
        uncompressed: format!("sha256:{}", hex::encode(out.finalize())),
        uncompressed_size: out_len,
    })
}

/// True when `digest` (`sha256:<hex>`) names the same bytes as `other`.
pub fn same_digest(digest: &str, other: &str) -> bool {
    hex_part(digest).eq_ignore_ascii_case(hex_part(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(c: Compression, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        decompressed(data, c).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn media_types() {
        use Compression::*;
        let f = Compression::from_media_type;
        assert_eq!(f("application/vnd.oci.image.layer.v1.tar"), Some(None));
        assert_eq!(f("application/vnd.oci.image.layer.v1.tar+gzip"), Some(Gzip));
        assert_eq!(f("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Zstd));
        assert_eq!(
            f("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(
            f("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(f("application/vnd.oci.image.config.v1+json"), Option::None);
    }

    #[test]
    fn multi_member_gzip_and_multi_frame_zstd() {
        use flate2::{Compression as Level, write::GzEncoder};
        use std::io::Write;
        let mut gz = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut e = GzEncoder::new(Vec::new(), Level::default());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        assert_eq!(Compression::sniff(&gz), Compression::Gzip);
        assert_eq!(unpack(Compression::Gzip, &gz), b"hello world");

        let mut zs = zstd::encode_all(&b"hello "[..], 1).unwrap();
        // A skippable frame between the two (as zstd:chunked writes).
        zs.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        zs.extend(zstd::encode_all(&b"world"[..], 1).unwrap());
        assert_eq!(Compression::sniff(&zs), Compression::Zstd);
        assert_eq!(unpack(Compression::Zstd, &zs), b"hello world");

        let mut bad = Vec::new();
        let r = decompressed(&zs[..zs.len() - 3], Compression::Zstd).read_to_end(&mut bad);
        assert!(r.is_err());

        // A read error of the evidence under the decoder comes out as it
        // was; the decoder's own errors are named zstd.
        let failing = (&zs[..8]).chain(Failing);
        let e = decompressed(failing, Compression::Zstd)
            .read_to_end(&mut bad)
            .unwrap_err();
        assert_eq!(e.to_string(), "sector 7 unreadable");
        let e = decompressed(&b"\x28\xb5\x2f\xfd\xff\xff\xff\xff"[..], Compression::Zstd)
            .read_to_end(&mut bad)
            .unwrap_err();
        assert!(e.to_string().starts_with("zstd: "), "{e}");
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("sector 7 unreadable"))
        }
    }
}
