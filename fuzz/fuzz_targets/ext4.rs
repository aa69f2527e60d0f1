//! ext2/3/4: the bytes as the start of a 16 MiB device (zeros after),
//! mounted, then a bounded walk of the tree.
#![no_main]

use docker_forensics::evidence::fs::Ext4Fs;
use docker_forensics::evidence::image::MemImage;
use docker_forensics_fuzz::walk;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let dev = Arc::new(MemImage::zero_extended(data.to_vec(), 16 << 20, "fuzz"));
    if let Ok(fs) = Ext4Fs::open(dev, "fuzz") {
        walk(&fs, 64);
    }
});
