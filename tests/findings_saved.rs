//! A file changed on disk after its layer was written is saved, as found,
//! beside the original layer: `findings/layer_<i>/<path>`, in SHA256SUMS.

mod common;

use common::*;
use std::path::{Path, PathBuf};

#[test]
fn changed_file_is_saved_as_found() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (_, web) = image_config_path(host, "basic", "fixture/web:1.0");
    // Layer 3 holds srv/app/hello.txt (as tests/bad_input.rs uses it).
    let (_, bytes) = tamper_hello(host);

    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("fixture/web:1.0"),
        host,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let dir = image_dir(out.path(), &web);
    let saved: PathBuf = dir.join("findings/layer_3/srv/app/hello.txt");
    assert_eq!(std::fs::read(&saved).unwrap(), bytes, "the file as found");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("  findings/layer_3/srv/app/hello.txt\n"),
        "{sums}"
    );
    assert!(sums_check(&dir));
}
