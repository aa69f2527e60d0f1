//! QCOW2 images made by the real `qemu-img` from the basic fixture's raw
//! disk: plain, deflate- and zstd-compressed, version 2 (compat=0.10), a
//! three-level backing chain, an internal snapshot; each must read as the
//! raw disk (its recorded SHA-256) and give the engine's images and
//! layers. Damaged images fail with one typed error, never a panic.
//!
//! Needs: the fixtures, `qemu-img` and `qemu-io` (Debian `qemu-utils`),
//! `ewfexport` (Debian `ewf-tools`).

mod common;

use common::vmdisk::*;
use docker_forensics::evidence::image::{self, DiskError, ImageError, ImageOptions};
use std::ffi::OsStr;
use std::path::Path;

fn opts() -> ImageOptions {
    ImageOptions::default()
}

#[test]
fn qcow2_variants_read_as_the_raw_disk() {
    let Some(w) = work() else { return };
    let want = raw_sha256();
    let plain = w.convert("qcow2", &[], "plain.qcow2");
    let deflate = w.convert("qcow2", &["-c"], "deflate.qcow2");
    let v2 = w.convert("qcow2", &["-o", "compat=0.10"], "v2.qcow2");
    let zstd = w.convert(
        "qcow2",
        &["-c", "-o", "compression_type=zstd"],
        "zstd.qcow2",
    );
    let small = w.convert("qcow2", &["-c", "-o", "cluster_size=4096"], "small.qcow2");
    for p in [&plain, &deflate, &v2, &zstd, &small] {
        let (format, sha) = media_sha256(p, &opts());
        assert_eq!(format, "qcow2");
        assert_eq!(sha, want, "{}", p.display());
        assert_allocation_agrees(p, &opts());
    }
    // The compressed images really are compressed (so the compressed
    // path was read), and qemu-img agrees on the virtual size.
    assert!(std::fs::metadata(&zstd).unwrap().len() < 2 << 20);
    let img = image::open(&zstd).unwrap();
    assert_eq!(img.media.size(), std::fs::metadata(&w.raw).unwrap().len());
    assert!(img.info[0].contains("compression zstd"), "{:?}", img.info);
    assert_same_as_engine(&zstd, &[]);
    assert_same_as_engine(&v2, &[]);
}

/// base.raw (one region wiped) ← mid.qcow2 (another region wiped; only
/// the clusters differing from base) ← top.qcow2 (the real disk; only the
/// clusters differing from mid): reading top needs all three.
#[test]
fn qcow2_backing_chain_is_followed_and_checked() {
    let Some(w) = work() else { return };
    let want = raw_sha256();
    let raw = std::fs::read(&w.raw).unwrap();
    let mut base = raw.clone();
    base[4 << 20..20 << 20].fill(0);
    let mut mid = raw.clone();
    mid[30 << 20..50 << 20].fill(0x5a);
    std::fs::write(w.path("base.raw"), &base).unwrap();
    std::fs::write(w.path("mid.raw"), &mid).unwrap();
    w.qemu_img(&[
        "convert",
        "-O",
        "qcow2",
        "-B",
        "base.raw",
        "-F",
        "raw",
        "mid.raw",
        "mid.qcow2",
    ]);
    w.qemu_img(&[
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-B",
        "mid.qcow2",
        "-F",
        "qcow2",
        "basic.raw",
        "top.qcow2",
    ]);
    std::fs::remove_file(w.path("mid.raw")).unwrap();
    let top = w.path("top.qcow2");
    // Each level holds only part of the disk.
    assert!(std::fs::metadata(&top).unwrap().len() < 4 << 20);

    let img = image::open(&top).unwrap();
    let names: Vec<_> = img
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["top.qcow2", "mid.qcow2", "base.raw"]);
    // The provenance names the chain.
    let ev = docker_forensics::evidence::Evidence::open(&top, &Default::default()).unwrap();
    let spec = &ev.volumes[0].spec;
    let docker_forensics::evidence::provenance::SpecLayer::DiskImage {
        backing, format, ..
    } = &spec.layers()[0]
    else {
        panic!("{spec:?}")
    };
    assert_eq!(format, "qcow2");
    assert_eq!(
        backing,
        &[
            format!("{} (qcow2)", w.path("mid.qcow2").display()),
            format!("{} (raw)", w.path("base.raw").display())
        ]
    );
    assert!(
        spec.to_string().starts_with(
            "top.qcow2 (qcow2, 3 files, backed by mid.qcow2 (qcow2), backed by base.raw (raw)) → GPT partition 1"
        ),
        "{spec}"
    );
    assert_eq!(media_sha256(&top, &opts()).1, want);
    assert_same_as_engine(&top, &[]);

    // Without its base the chain is an error naming the missing file.
    std::fs::rename(w.path("base.raw"), w.path("moved.raw")).unwrap();
    let e = image::open(&top).err().expect("missing backing file");
    assert!(
        matches!(
            &e,
            ImageError::Disk {
                source: DiskError::MissingParent { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("base.raw"), "{e}");
    let (code, stderr) = run_err(&[OsStr::new("images"), top.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("base.raw not found"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // --backing names each level in chain order.
    let given = ImageOptions {
        backing: vec![w.path("mid.qcow2"), w.path("moved.raw")],
        ..Default::default()
    };
    assert_eq!(media_sha256(&top, &given).1, want);
    let mid_arg = w.path("mid.qcow2");
    let moved = w.path("moved.raw");
    let r = common::run([
        OsStr::new("images"),
        top.as_os_str(),
        OsStr::new("--backing"),
        mid_arg.as_os_str(),
        OsStr::new("--backing"),
        moved.as_os_str(),
        OsStr::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn qcow2_absolute_backing_name_is_refused_unless_given() {
    let Some(w) = work() else { return };
    let base = w.path("base.raw");
    let mut raw = std::fs::read(&w.raw).unwrap();
    raw[10 << 20..12 << 20].fill(0xee);
    std::fs::write(&base, &raw).unwrap();
    let base_abs = base.to_str().unwrap().to_string();
    w.qemu_img(&[
        "convert",
        "-O",
        "qcow2",
        "-B",
        &base_abs,
        "-F",
        "raw",
        "basic.raw",
        "top.qcow2",
    ]);
    let top = w.path("top.qcow2");
    let e = image::open(&top).err().expect("absolute backing name");
    assert!(
        matches!(
            &e,
            ImageError::Disk {
                source: DiskError::ParentRefused { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("--backing"), "{e}");
    let given = ImageOptions {
        backing: vec![base.clone()],
        ..Default::default()
    };
    assert_eq!(media_sha256(&top, &given).1, raw_sha256());
}

#[test]
fn qcow2_internal_snapshot_is_listed_and_read() {
    let Some(w) = work() else { return };
    if !common::disk::have_tools(&["qemu-io"]) {
        common::skip("needs qemu-io (qemu-utils)");
        return;
    }
    let img = w.convert("qcow2", &[], "snap.qcow2");
    w.qemu_img(&["snapshot", "-c", "before-wipe", "snap.qcow2"]);
    common::disk::run_tool(
        std::process::Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "write -P 0xab 0 2M"])
            .arg(&img),
    );
    let want = raw_sha256();
    // The current state was overwritten (its partition table is gone) …
    assert_ne!(media_sha256(&img, &opts()).1, want);
    // … the snapshot still holds the disk as it was.
    let snap = ImageOptions {
        snapshot: Some("before-wipe".into()),
        ..Default::default()
    };
    assert_eq!(media_sha256(&img, &snap).1, want);
    let opened = image::open(&img).unwrap();
    assert!(
        opened.info.iter().any(|l| l.contains("name before-wipe")),
        "{:?}",
        opened.info
    );
    assert_same_as_engine(&img, &["--snapshot", "before-wipe"]);
    let e = image::open_with(
        &img,
        &ImageOptions {
            snapshot: Some("nope".into()),
            ..Default::default()
        },
    )
    .err()
    .expect("unknown snapshot");
    assert!(e.to_string().contains("before-wipe"), "{e}");
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The file offset of the first allocated L2 entry of a plain image.
fn first_l2_entry(path: &Path) -> u64 {
    let b = std::fs::read(path).unwrap();
    let l1 = be64(&b, 40) as usize;
    let l2 = (be64(&b, l1) & 0x00ff_ffff_ffff_fe00) as usize;
    (0..8192)
        .map(|i| l2 + i * 8)
        .find(|&at| be64(&b, at) != 0)
        .unwrap() as u64
}

fn read_all(path: &Path) -> Result<(), String> {
    let img = image::open(path).map_err(|e| format!("open: {e}"))?;
    image::verify_media(img.media.as_ref(), None, &|_| {})
        .map(drop)
        .map_err(|e| {
            let typed = DiskError::from_io(&e).is_some();
            format!("read (typed {typed}): {e}")
        })
}

#[test]
fn damaged_qcow2_fails_with_one_typed_error() {
    let Some(w) = work() else { return };
    let plain = w.convert("qcow2", &[], "plain.qcow2");

    // An L2 entry pointing past the end of the file.
    let bad = copy_as(&plain, "bad-l2.qcow2");
    let at = first_l2_entry(&bad);
    poke(&bad, at, &(0x8000_00ff_0000_0000u64).to_be_bytes());
    let e = read_all(&bad).unwrap_err();
    assert!(e.contains("typed true"), "{e}");
    assert!(
        e.contains("corrupt L2 entry") && e.contains("past the end"),
        "{e}"
    );
    let (code, stderr) = run_err(&[OsStr::new("images"), bad.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("qcow2: corrupt L2 entry"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // A compressed-cluster entry whose data is garbage.
    let deflate = w.convert("qcow2", &["-c"], "deflate.qcow2");
    let b = std::fs::read(&deflate).unwrap();
    let at = first_l2_entry(&deflate);
    let entry = be64(&b, at as usize);
    assert!(entry & (1 << 62) != 0, "entry {entry:#x} not compressed");
    let data = entry & ((1u64 << 54) - 1);
    poke(&deflate, data, &[0xff; 64]);
    let e = read_all(&deflate).unwrap_err();
    assert!(
        e.contains("typed true") && e.contains("compressed cluster"),
        "{e}"
    );

    // Truncations: inside the header, and inside the data.
    let len = std::fs::metadata(&plain).unwrap().len();
    for keep in [50, 100_000, len / 2] {
        let cut = copy_as(&plain, &format!("cut-{keep}.qcow2"));
        let f = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
        f.set_len(keep).unwrap();
        let e = read_all(&cut).unwrap_err();
        assert!(e.contains("qcow2"), "{keep}: {e}");
        assert!(
            e.contains("truncated") || e.contains("past the end"),
            "{keep}: {e}"
        );
    }

    // An L1 table claiming more entries than QEMU allows.
    let huge = copy_as(&plain, "huge-l1.qcow2");
    poke(&huge, 36, &u32::MAX.to_be_bytes());
    let e = read_all(&huge).unwrap_err();
    assert!(e.contains("L1 table"), "{e}");
}

/// Extended L2 entries (subclusters): a whole image, and an overlay on a
/// raw base with sub-cluster writes and zeroes (by `qemu-io`), read as
/// `qemu-img convert -O raw` reads it.
#[test]
fn qcow2_extended_l2_subclusters_match_qemu() {
    let Some(w) = work() else { return };
    if !common::disk::have_tools(&["qemu-io"]) {
        common::skip("needs qemu-io (qemu-utils)");
        return;
    }
    let whole = w.convert("qcow2", &["-o", "extended_l2=on"], "xl2.qcow2");
    assert_eq!(media_sha256(&whole, &opts()).1, raw_sha256());
    assert_allocation_agrees(&whole, &opts());
    w.qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "extended_l2=on,cluster_size=128k",
        "-b",
        "basic.raw",
        "-F",
        "raw",
        "over.qcow2",
    ]);
    let over = w.path("over.qcow2");
    common::disk::run_tool(
        std::process::Command::new("qemu-io")
            .args(["-f", "qcow2"])
            .args(["-c", "write -P 0x33 1M 3k"])
            .args(["-c", "write -z 2M 8k"])
            .args(["-c", "write -P 0x44 5000k 130k"])
            .arg(&over),
    );
    w.qemu_img(&["convert", "-O", "raw", "over.qcow2", "over.raw"]);
    let want = common::sha256_file(&w.path("over.raw"));
    assert_ne!(want, raw_sha256());
    assert_eq!(media_sha256(&over, &opts()).1, want);
    // Only the subclusters written are this file's (1M 3k: one of 4 KiB;
    // 5000k 130k: 33 of 4 KiB), the zeroed ones and the rest not.
    assert_allocation_agrees(&over, &opts());
}

/// `qemu-img info` and our reader agree on each image's virtual size.
#[test]
fn qcow2_virtual_size_agrees_with_qemu_img_info() {
    let Some(w) = work() else { return };
    for (name, o) in [("a.qcow2", "compat=0.10"), ("b.qcow2", "cluster_size=2M")] {
        let p = w.convert("qcow2", &["-o", o], name);
        let out = std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&p)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!(Some(img.media.size()), v["virtual-size"].as_u64(), "{name}");
    }
}
