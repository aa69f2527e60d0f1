//! tar-split JSON lines: every entry read until the end or the first error.
#![no_main]

use docker_forensics::layer::tarsplit::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for entry in Reader::new(data).take(100_000) {
        if entry.is_err() {
            break;
        }
    }
});
