//! EWF2 (EnCase 7 .Ex01): the bytes as a one-segment image, opened, then the
//! acquisition record, some chunks and the end of the medium read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| docker_forensics_fuzz::ewf_one_segment("img.Ex01", data));
