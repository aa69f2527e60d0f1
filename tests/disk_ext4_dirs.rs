//! The ext4 reader's directory lookups on an image built at test time by
//! `mke2fs -d`: a directory too large for the reader's per-directory index
//! (over 1 MiB, searched by the crate instead) still finds every name, a
//! small one is found through its index, and a directory block whose
//! CRC-32C no longer matches fails the lookup with a corrupt-structure
//! error naming the path, whether or not the directory was indexed.
//!
//! Needs the Debian package e2fsprogs (mke2fs, debugfs); skips loudly
//! without it.

mod common;

use common::disk::{have_tools, run_tool};
use common::skip;
use docker_forensics::evidence::fs::{EvPath, FsError};
use docker_forensics::evidence::{Evidence, OpenOptions};
use std::os::unix::fs::FileExt;
use std::process::Command;

const BIG: usize = 6000;

fn name(i: usize) -> String {
    format!("{i:05}-{}", "n".repeat(190))
}

#[test]
fn ext4_large_small_and_corrupt_directories() {
    if !have_tools(&["mke2fs", "debugfs"]) {
        skip("needs mke2fs and debugfs (e2fsprogs)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for d in ["big", "small", "bad"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for i in 0..BIG {
        std::fs::write(src.join("big").join(name(i)), b"").unwrap();
    }
    for f in ["a", "b", "c"] {
        std::fs::write(src.join("small").join(f), f).unwrap();
        std::fs::write(src.join("bad").join(f), f).unwrap();
    }
    let img = tmp.path().join("ext4.img");
    run_tool(
        Command::new("mke2fs")
            .args([
                "-q",
                "-t",
                "ext4",
                "-b",
                "4096",
                "-N",
                "8192",
                "-O",
                "metadata_csum",
                "-d",
            ])
            .arg(&src)
            .arg(&img)
            .arg("64M"),
    );
    // the block of bad/ on the device: a name byte changed after mke2fs
    // wrote its checksum
    let out = Command::new("debugfs")
        .args(["-R", "bmap /bad 0"])
        .arg(&img)
        .output()
        .unwrap();
    let block: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    // ".": 12 bytes, "..": 12 bytes, then the third entry's 8-byte header
    let at = block * 4096 + 32;
    let mut byte = [0u8];
    f.read_exact_at(&mut byte, at).unwrap();
    f.write_all_at(&[byte[0] ^ 0x20], at).unwrap();
    drop(f);

    let ev = Evidence::open(&img, &OpenOptions::default()).unwrap();
    let fs = ev.volumes[0].fs.as_ref();
    let p = |s: &str| EvPath::parse(s.as_bytes()).unwrap();
    let big = fs.metadata(&p("big")).unwrap();
    assert!(
        big.size > 1 << 20,
        "big/ must exceed the index bound: {}",
        big.size
    );
    assert_eq!(fs.read_dir(&p("big")).unwrap().len(), BIG);
    for i in [0, 1, BIG / 2, BIG - 1] {
        let m = fs.metadata(&p(&format!("big/{}", name(i)))).unwrap();
        assert!(m.is_file() && m.size == 0);
    }
    assert!(
        fs.metadata(&p(&format!("big/{}", name(BIG))))
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(fs.read_small(&p("small/b"), 10).unwrap(), b"b");
    assert!(fs.metadata(&p("small/d")).unwrap_err().is_not_found());
    // twice: the second lookup meets whatever the first one cached
    for _ in 0..2 {
        let e = fs.metadata(&p("bad/b")).unwrap_err();
        assert!(matches!(e, FsError::Corrupt { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("bad/b") && text.contains("checksum"),
            "{text}"
        );
    }
}
