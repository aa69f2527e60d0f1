//! Layer blobs: the first byte picks how the rest is read (sniffed, or
//! declared plain, gzip or zstd), as `store::blob` reads containerd's
//! content store. The decompressed stream is read through a cap; only
//! when it ended below the cap is the blob hashed whole (`digest_blob`),
//! which must then agree with what was read.
#![no_main]

use docker_forensics::evidence::fs::{EvPath, MemFs, MemNode};
use docker_forensics::store::blob::{Compression, decompressed, digest_blob};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

/// Decompressed bytes read at most per input.
const CAP: u64 = 8 << 20;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let declared = match mode % 4 {
        0 => None,
        1 => Some(Compression::None),
        2 => Some(Compression::Gzip),
        _ => Some(Compression::Zstd),
    };
    let compression = declared.unwrap_or_else(|| Compression::sniff(data));
    if let Ok(mt) = std::str::from_utf8(data)
        && mt.len() < 256
    {
        let _ = Compression::from_media_type(mt);
    }

    // Streamed through a cap: never more than CAP bytes, whatever the
    // blob claims.
    let mut reader = decompressed(data, compression).take(CAP + 1);
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    let ended = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Some(true),
            Ok(n) => {
                assert!(n <= buf.len());
                total += n as u64;
            }
            Err(_) => break Some(false),
        }
        if total > CAP {
            break None;
        }
    };
    if compression == Compression::None {
        assert_eq!(total, data.len() as u64, "a plain blob is itself");
    }
    // Hash the whole blob only when the stream is known to end below
    // the cap (a decompression bomb is bounded by time, not memory).
    let Some(clean) = ended else { return };
    let mut fs = MemFs::new();
    fs.add("blob", MemNode::file(data));
    let Some(path) = EvPath::parse("blob") else {
        return;
    };
    match digest_blob(&fs, &path, declared) {
        Ok(d) => {
            assert!(clean, "digest_blob read a stream that fails");
            assert_eq!(d.blob_size, data.len() as u64);
            assert_eq!(d.uncompressed_size, total);
        }
        Err(_) => assert!(!clean, "digest_blob failed on a stream that reads"),
    }
});
