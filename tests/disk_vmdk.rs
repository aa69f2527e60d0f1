//! VMDK images made by the real `qemu-img` from the basic fixture's raw
//! disk: monolithic sparse, split sparse (`twoGbMaxExtentSparse`),
//! monolithic flat, stream-optimized, the latter inside an OVA (a tar
//! made by `tar`), a flat disk split by hand into two extents of one
//! descriptor, and a delta link written by `qemu-io` over a parent. Each
//! must read as the raw disk (its recorded SHA-256); damaged ones fail
//! with one typed error.
//!
//! Needs: the fixtures, `qemu-img` and `qemu-io` (Debian `qemu-utils`),
//! `ewfexport` (Debian `ewf-tools`), `tar`.

mod common;

use common::disk::{have_tools, run_tool};
use common::vmdisk::*;
use docker_forensics::evidence::image::{self, DiskError, ImageOptions};
use std::ffi::OsStr;
use std::process::Command;

#[test]
fn vmdk_subformats_and_ova_read_as_the_raw_disk() {
    let Some(w) = work() else { return };
    let want = raw_sha256();
    let mut made = Vec::new();
    for sub in [
        "monolithicSparse",
        "twoGbMaxExtentSparse",
        "monolithicFlat",
        "streamOptimized",
    ] {
        let name = format!("{sub}.vmdk");
        made.push(w.convert("vmdk", &["-o", &format!("subformat={sub}")], &name));
    }
    for p in &made {
        let (format, sha) = media_sha256(p, &ImageOptions::default());
        assert_eq!(format, "vmdk");
        assert_eq!(sha, want, "{}", p.display());
        assert_allocation_agrees(p, &ImageOptions::default());
    }
    // Split sparse: the descriptor names its extent file.
    let split = image::open(&made[1]).unwrap();
    assert_eq!(split.files.len(), 2, "{:?}", split.files);
    assert_same_as_engine(&made[3], &[]);

    // An OVA: OVF descriptor first, then the stream-optimized disk.
    if have_tools(&["tar"]) {
        std::fs::write(w.path("disk.ovf"), b"<?xml version=\"1.0\"?><Envelope/>").unwrap();
        run_tool(
            Command::new("tar")
                .args(["cf", "vm.ova", "disk.ovf", "streamOptimized.vmdk"])
                .current_dir(w.dir.path()),
        );
        let ova = w.path("vm.ova");
        assert_eq!(
            media_sha256(&ova, &ImageOptions::default()),
            ("ova".to_string(), want.clone())
        );
        let opened = image::open(&ova).unwrap();
        assert!(
            opened.info[0].contains("member streamOptimized.vmdk"),
            "{:?}",
            opened.info
        );
        assert_same_as_engine(&ova, &[]);
    }
}

#[test]
fn vmdk_descriptor_with_several_extents() {
    let Some(w) = work() else { return };
    let raw = std::fs::read(&w.raw).unwrap();
    let sectors = raw.len() / 512;
    let first = 40_000usize;
    // Extent 2 lies at an offset inside its file (the descriptor says so).
    std::fs::write(w.path("a-flat.vmdk"), &raw[..first * 512]).unwrap();
    let mut b = vec![0u8; 8 * 512];
    b.extend_from_slice(&raw[first * 512..]);
    std::fs::write(w.path("b-flat.vmdk"), &b).unwrap();
    let desc = format!(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\
         RW {first} FLAT \"a-flat.vmdk\" 0\nRW {} FLAT \"b-flat.vmdk\" 8\nRW 2048 ZERO\n",
        sectors - first
    );
    std::fs::write(w.path("two.vmdk"), desc).unwrap();
    let mut with_zeros = raw.clone();
    with_zeros.extend(std::iter::repeat_n(0u8, 2048 * 512));
    use sha2::{Digest, Sha256};
    let want = hex::encode(Sha256::digest(&with_zeros));
    assert_eq!(
        media_sha256(&w.path("two.vmdk"), &ImageOptions::default()).1,
        want
    );

    // An extent outside the descriptor's directory is refused.
    std::fs::write(
        w.path("escape.vmdk"),
        "# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"../etc/passwd\" 0\n",
    )
    .unwrap();
    let e = image::open(&w.path("escape.vmdk")).err().expect("refused");
    assert!(
        e.to_string().contains("leaves the image's directory"),
        "{e}"
    );
    // An extent shorter than the descriptor says.
    std::fs::write(
        w.path("short.vmdk"),
        format!(
            "# Disk DescriptorFile\nRW {} FLAT \"a-flat.vmdk\" 0\n",
            first + 1
        ),
    )
    .unwrap();
    let e = image::open(&w.path("short.vmdk")).err().expect("short");
    assert!(e.to_string().contains("truncated: flat extent"), "{e}");
}

#[test]
fn vmdk_delta_link_reads_through_its_parent() {
    let Some(w) = work() else { return };
    if !have_tools(&["qemu-io"]) {
        common::skip("needs qemu-io (qemu-utils)");
        return;
    }
    let raw = std::fs::read(&w.raw).unwrap();
    let (from, len) = (4usize << 20, 16usize << 20);
    let mut wiped = raw.clone();
    wiped[from..from + len].fill(0);
    std::fs::write(w.path("wiped.raw"), &wiped).unwrap();
    std::fs::write(w.path("region.bin"), &raw[from..from + len]).unwrap();
    w.qemu_img(&["convert", "-O", "vmdk", "wiped.raw", "base.vmdk"]);
    w.qemu_img(&[
        "create",
        "-f",
        "vmdk",
        "-b",
        "base.vmdk",
        "-F",
        "vmdk",
        "delta.vmdk",
    ]);
    run_tool(
        Command::new("qemu-io")
            .args([
                "-f",
                "vmdk",
                "-c",
                &format!("write -s region.bin {from} {len}"),
            ])
            .arg("delta.vmdk")
            .current_dir(w.dir.path()),
    );
    let delta = w.path("delta.vmdk");
    assert!(std::fs::metadata(&delta).unwrap().len() < 20 << 20);
    assert_eq!(
        media_sha256(&delta, &ImageOptions::default()).1,
        raw_sha256()
    );
    assert_same_as_engine(&delta, &[]);
    std::fs::remove_file(w.path("base.vmdk")).unwrap();
    let e = image::open(&delta).err().expect("parent missing");
    assert!(
        e.to_string().contains("vmdk: parent base.vmdk not found"),
        "{e}"
    );
}

#[test]
fn damaged_vmdk_fails_with_one_typed_error() {
    let Some(w) = work() else { return };
    let sparse = w.convert("vmdk", &["-o", "subformat=monolithicSparse"], "s.vmdk");
    let b = std::fs::read(&sparse).unwrap();
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let gd = le64(56) as usize * 512;
    let gt = u32::from_le_bytes(b[gd..gd + 4].try_into().unwrap()) as usize * 512;
    let slot = (0..512)
        .find(|i| u32::from_le_bytes(b[gt + i * 4..gt + i * 4 + 4].try_into().unwrap()) > 1)
        .unwrap();
    let bad = copy_as(&sparse, "bad-gte.vmdk");
    poke(&bad, (gt + slot * 4) as u64, &0x7fff_fff0u32.to_le_bytes());
    let img = image::open(&bad).unwrap();
    let e = image::verify_media(img.media.as_ref(), None, &|_| {}).unwrap_err();
    let typed = DiskError::from_io(&e).expect("typed");
    assert!(matches!(typed, DiskError::Corrupt { .. }), "{typed}");
    assert!(e.to_string().contains("past the end"), "{e}");
    let (code, stderr) = run_err(&[OsStr::new("images"), bad.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // A stream-optimized file cut short: its footer is gone.
    let stream = w.convert("vmdk", &["-o", "subformat=streamOptimized"], "so.vmdk");
    let len = std::fs::metadata(&stream).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&stream)
        .unwrap();
    f.set_len(len / 2).unwrap();
    assert_fails_typed(&stream);

    // A garbled compressed grain.
    let stream = w.convert("vmdk", &["-o", "subformat=streamOptimized"], "so2.vmdk");
    poke(&stream, 512 * 128 + 12, &[0xff; 32]);
    assert_fails_typed(&stream);
}

/// Opening or reading `path` fails with a typed VMDK error.
fn assert_fails_typed(path: &std::path::Path) {
    match image::open(path).map(|img| image::verify_media(img.media.as_ref(), None, &|_| {})) {
        Ok(Err(e)) => {
            assert!(DiskError::from_io(&e).is_some(), "{e}");
            assert!(e.to_string().starts_with("vmdk: "), "{e}");
        }
        Ok(Ok(_)) => panic!("{} read without error", path.display()),
        Err(e) => assert!(e.to_string().contains(": vmdk: "), "{e}"),
    }
}
