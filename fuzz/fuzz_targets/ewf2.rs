//! EWF2 (EnCase 7 .Ex01): the bytes as a one-segment image, opened, then the
//! acquisition record, some chunks and the end of the medium read.
#![no_main]

use docker_forensics::evidence::image::{EwfImage, ReadAt};
use docker_forensics_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("img.Ex01", data);
    let Ok(img) = EwfImage::open(&path) else {
        return;
    };
    let _ = format!("{:?}", img.acquisition());
    let size = img.size();
    let mut buf = vec![0u8; 64 << 10];
    let _ = img.read_exact_at(&mut buf[..size.min(64 << 10) as usize], 0);
    for k in 1..8u64 {
        let _ = img.read_at(&mut buf[..4096], size / 8 * k);
    }
    let _ = img.read_at(&mut buf, size.saturating_sub(100));
    let _ = img.read_at(&mut buf, size);
});
