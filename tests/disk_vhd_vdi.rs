//! VHD, VHDX and VDI images made by the real `qemu-img` from the basic
//! fixture's raw disk (VHD fixed and dynamic with `force_size=on`, so the
//! virtual size stays the raw size; VHDX; VDI dynamic and fixed), and a
//! Docker-Desktop-shaped data disk (a bare ext4 whose root holds
//! `docker/`, as `ext4.vhdx`). Each must read as the raw disk (its
//! recorded SHA-256) and give the engine's images and layers; damaged
//! ones fail with one typed error.
//!
//! Needs: the fixtures, `qemu-img` (Debian `qemu-utils`), `ewfexport`
//! (Debian `ewf-tools`), `mke2fs` (e2fsprogs), root and `tar` for the
//! Docker Desktop disk.

mod common;

use common::vmdisk::*;
use docker_forensics::evidence::image::{self, DiskError, ImageOptions};
use std::ffi::OsStr;
use std::path::Path;

#[test]
fn vhd_vhdx_vdi_read_as_the_raw_disk() {
    let Some(w) = work() else { return };
    let want = raw_sha256();
    let made = [
        (
            "vhd",
            w.convert("vpc", &["-o", "subformat=dynamic,force_size=on"], "dyn.vhd"),
        ),
        (
            "vhd",
            w.convert("vpc", &["-o", "subformat=fixed,force_size=on"], "fixed.vhd"),
        ),
        ("vhdx", w.convert("vhdx", &[], "disk.vhdx")),
        (
            "vhdx",
            w.convert("vhdx", &["-o", "block_size=1M"], "small.vhdx"),
        ),
        ("vdi", w.convert("vdi", &[], "dyn.vdi")),
        ("vdi", w.convert("vdi", &["-o", "static=on"], "fixed.vdi")),
    ];
    for (format, p) in &made {
        let (got_format, sha) = media_sha256(p, &ImageOptions::default());
        assert_eq!(&got_format, format, "{}", p.display());
        assert_eq!(sha, want, "{}", p.display());
    }
    for i in [0, 2, 4] {
        assert_same_as_engine(&made[i].1, &[]);
    }
}

fn fails_typed(path: &Path, needle: &str) {
    match image::open(path).map(|img| image::verify_media(img.media.as_ref(), None)) {
        Ok(Err(e)) => {
            assert!(DiskError::from_io(&e).is_some(), "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
        Ok(Ok(_)) => panic!("{} read without error", path.display()),
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
    }
    let (code, stderr) = run_err(&[OsStr::new("images"), path.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

fn crc32c(b: &[u8]) -> u32 {
    let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    d.update(b);
    d.finalize() as u32
}

#[test]
fn damaged_vhd_vhdx_vdi_fail_with_one_typed_error() {
    let Some(w) = work() else { return };
    // VHD: a BAT entry pointing past the end.
    let vhd = w.convert("vpc", &["-o", "subformat=dynamic,force_size=on"], "dyn.vhd");
    let b = std::fs::read(&vhd).unwrap();
    let dyn_at = u64::from_be_bytes(b[16..24].try_into().unwrap()) as usize;
    let bat = u64::from_be_bytes(b[dyn_at + 16..dyn_at + 24].try_into().unwrap());
    poke(&vhd, bat, &0x7fff_0000u32.to_be_bytes());
    fails_typed(&vhd, "vhd: corrupt block allocation table entry 0");

    // VHDX: a BAT entry (fully present) pointing past the end.
    let vhdx = w.convert("vhdx", &[], "disk.vhdx");
    let b = std::fs::read(&vhdx).unwrap();
    let bat_guid = [
        0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a,
        0x08,
    ];
    let rt = 192 << 10;
    let e = (0..8)
        .map(|i| rt + 16 + i * 32)
        .find(|&e| b[e..e + 16] == bat_guid)
        .expect("BAT region");
    let bat = u64::from_le_bytes(b[e + 16..e + 24].try_into().unwrap());
    let first = (0..64)
        .map(|i| bat + i * 8)
        .find(|&at| b[at as usize] & 7 == 6)
        .expect("a present block");
    poke(&vhdx, first, &((1u64 << 40) | 6).to_le_bytes());
    fails_typed(&vhdx, "vhdx: corrupt BAT entry");

    // VHDX with a dirty log: refused, saying why.
    let dirty = w.convert("vhdx", &[], "dirty.vhdx");
    for at in [64usize << 10, 128 << 10] {
        let mut h = std::fs::read(&dirty).unwrap()[at..at + 4096].to_vec();
        h[48..64].copy_from_slice(&[0x11; 16]);
        h[4..8].fill(0);
        let c = crc32c(&h);
        h[4..8].copy_from_slice(&c.to_le_bytes());
        poke(&dirty, at as u64, &h);
    }
    fails_typed(&dirty, "does not replay it");

    // VDI: a block map entry past the end.
    let vdi = w.convert("vdi", &[], "dyn.vdi");
    let b = std::fs::read(&vdi).unwrap();
    let map = u32::from_le_bytes(b[340..344].try_into().unwrap()) as u64;
    poke(&vdi, map, &0x00ff_0000u32.to_le_bytes());
    fails_typed(&vdi, "vdi: corrupt block map entry 0");

    // A dynamic VHD cut short: blocks past the end.
    let cut = w.convert("vpc", &["-o", "subformat=dynamic,force_size=on"], "cut.vhd");
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    fails_typed(&cut, "past the end");
}

/// Docker Desktop's data disk: a bare ext4 (no partition table) whose
/// root is the VM's /var/lib, so the data root is `docker/`.
#[test]
fn docker_desktop_data_disk_is_read() {
    let Some(w) = work() else { return };
    if !common::is_root() || !common::disk::have_tools(&["mke2fs", "tar"]) {
        common::skip("building the Docker Desktop disk needs root, tar and mke2fs");
        return;
    }
    let Some(host) = common::host("basic") else {
        common::skip("basic host tree not available");
        return;
    };
    let img = w.path("data.img");
    common::disk::run_tool(
        std::process::Command::new("mke2fs")
            .args(["-q", "-t", "ext4", "-b", "4096", "-d"])
            .arg(host.join("var/lib"))
            .arg(&img)
            .arg("96M"),
    );
    w.qemu_img(&["convert", "-O", "vhdx", "data.img", "ext4.vhdx"]);
    std::fs::remove_file(&img).unwrap();
    let vhdx = w.path("ext4.vhdx");
    let r = common::run([OsStr::new("images"), vhdx.as_os_str(), OsStr::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Docker Desktop"), "{}", r.stderr);
    assert_same_as_engine(&vhdx, &[]);
}
