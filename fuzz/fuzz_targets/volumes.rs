//! Partition tables, LVM and filesystem probing: the bytes as a raw disk
//! image, opened as `Evidence::open` opens one, then a short walk of each
//! filesystem found.
#![no_main]

use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics_fuzz::{scratch_file, walk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("disk.raw", data);
    if let Ok(ev) = Evidence::open(&path, &OpenOptions::default()) {
        for v in &ev.volumes {
            walk(v.fs.as_ref(), 8);
        }
    }
    // choosing a partition takes another path through the tables
    let _ = Evidence::open(
        &path,
        &OpenOptions {
            partition: Some(docker_forensics::evidence::volume::PartitionChoice::Number(
                5,
            )),
            ..Default::default()
        },
    );
});
