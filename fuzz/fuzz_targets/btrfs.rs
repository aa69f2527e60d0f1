//! btrfs: the bytes as blocks of a 16 MiB device (zeros elsewhere):
//! records of a little-endian u16 block number (of 4 KiB, modulo the
//! device) and the block's 4096 bytes, so that a seed holds only the few
//! blocks a small filesystem uses (superblock at 64 KiB, chunks spread
//! over megabytes). Then mounted and walked like `xfs`.
#![no_main]

use docker_forensics::evidence::fs::BtrfsFs;
use docker_forensics::evidence::image::MemImage;
use docker_forensics_fuzz::walk;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

const BLOCK: usize = 4096;
const BLOCKS: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut dev = vec![0u8; BLOCK * BLOCKS];
    for rec in data.chunks(2 + BLOCK) {
        let [lo, hi, body @ ..] = rec else { break };
        let at = usize::from(u16::from_le_bytes([*lo, *hi])) % BLOCKS * BLOCK;
        dev[at..at + body.len()].copy_from_slice(body);
    }
    let dev = Arc::new(MemImage::new(dev, "fuzz"));
    if let Ok(fs) = BtrfsFs::open(dev, "fuzz") {
        walk(&fs, 64);
    }
});
