//! Virtual-machine disk formats (QCOW2, VMDK, OVA, VHD, VHDX, VDI): the
//! bytes as one image file, detected by content and opened as the
//! evidence would be, then read at 0, ⅛…⅞ and the end, and (up to 1 GiB
//! of virtual disk: the count walks every block) its allocation counted
//! from the block tables, as `--verify-image` does. A backing file
//! the bytes name is looked for next to the scratch file (and usually
//! missing: an error, never a panic).
#![no_main]

use docker_forensics::evidence::image::{self, ImageOptions};
use docker_forensics_fuzz::{read_spread, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("disk.img", data);
    let Ok(img) = image::open_with(&path, &ImageOptions::default()) else {
        return;
    };
    let _ = img.info.join("\n");
    let media = img.media;
    read_spread(media.as_ref());
    let size = media.size();
    if size <= 1 << 30 {
        if let Some(Ok(n)) = media.allocated() {
            assert!(n <= size, "{n} bytes allocated of {size}");
        }
    }
});
