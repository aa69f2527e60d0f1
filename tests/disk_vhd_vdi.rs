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
    // Not compared with qemu-img map: the fixed VHD (QEMU maps the holes
    // of the sparse host file under it) and VHDX (QEMU's vhdx driver
    // reports every block as data).
    for i in [0, 4, 5] {
        assert_allocation_agrees(&made[i].1, &ImageOptions::default());
    }
}

fn fails_typed(path: &Path, needle: &str) {
    match image::open(path).map(|img| image::verify_media(img.media.as_ref(), None, &|_| {})) {
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
    // named as Docker Desktop for Windows names it
    w.qemu_img(&["convert", "-O", "vhdx", "data.img", "docker_data.vhdx"]);
    std::fs::remove_file(&img).unwrap();
    let vhdx = w.path("docker_data.vhdx");
    let r = common::run([OsStr::new("images"), vhdx.as_os_str(), OsStr::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let images = common::json_list(&r.stdout, "images");
    assert!(!images.is_empty());
    for i in &images {
        let reason = i["data_root"]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("Docker Desktop for Windows (WSL 2) data disk docker_data.vhdx"),
            "{reason}"
        );
        assert_eq!(i["data_root"]["path"], "/docker");
    }
    assert_same_as_engine(&vhdx, &[]);
}

/// One's-complement byte sum of a VHD structure with its checksum field
/// (at `at`) taken as zero.
fn vhd_sum(b: &[u8], at: usize) -> u32 {
    let s: u32 = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(at..at + 4).contains(i))
        .map(|(_, x)| u32::from(*x))
        .fold(0, u32::wrapping_add);
    !s
}

/// A differencing VHD: qemu-img cannot write one, so a dynamic VHD made
/// by `qemu-img` is turned into one (disk type 4, the parent's name,
/// sector bitmaps marking only a changed region, checksums redone); its
/// parent is a dynamic VHD of the real disk. Reading the child must give
/// the real disk with that region changed; without the parent, an error
/// naming it.
#[test]
fn vhd_differencing_reads_changed_sectors_from_the_child_only() {
    let Some(w) = work() else { return };
    let raw = std::fs::read(&w.raw).unwrap();
    let (from, to) = ((5usize << 20) + 3 * 512, (9usize << 20) + 5 * 512);
    let mut changed = raw.clone();
    changed[from..to].fill(0x77);
    // The child's blocks also hold garbage outside the region: its sector
    // bitmaps say those sectors are the parent's.
    let mut child_src = changed.clone();
    child_src[4 << 20..from].fill(0xee);
    child_src[to..12 << 20].fill(0xee);
    std::fs::write(w.path("changed.raw"), &child_src).unwrap();
    w.convert(
        "vpc",
        &["-o", "subformat=dynamic,force_size=on"],
        "parent.vhd",
    );
    w.qemu_img(&[
        "convert",
        "-O",
        "vpc",
        "-o",
        "subformat=dynamic,force_size=on",
        "changed.raw",
        "child.vhd",
    ]);
    let child = w.path("child.vhd");
    let mut b = std::fs::read(&child).unwrap();
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let dyn_at = u64::from_be_bytes(b[16..24].try_into().unwrap()) as usize;
    let bat = u64::from_be_bytes(b[dyn_at + 16..dyn_at + 24].try_into().unwrap()) as usize;
    let entries = be32(&b, dyn_at + 28) as usize;
    let block = be32(&b, dyn_at + 32) as usize;
    // Sector bitmaps: only the changed sectors are the child's.
    for i in 0..entries {
        let e = be32(&b, bat + i * 4);
        if e == u32::MAX {
            continue;
        }
        let bm = e as usize * 512;
        for s in 0..block / 512 {
            let pos = i * block + s * 512;
            let mine = pos + 512 > from && pos < to;
            let byte = &mut b[bm + s / 8];
            if mine {
                *byte |= 0x80 >> (s % 8);
            } else {
                *byte &= !(0x80 >> (s % 8));
            }
        }
    }
    // The parent's name (UTF-16BE) and disk type 4, checksums redone.
    let name: Vec<u8> = "parent.vhd"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    b[dyn_at + 64..dyn_at + 64 + name.len()].copy_from_slice(&name);
    let sum = vhd_sum(&b[dyn_at..dyn_at + 1024], 36);
    b[dyn_at + 36..dyn_at + 40].copy_from_slice(&sum.to_be_bytes());
    let len = b.len();
    for at in [0, len - 512] {
        b[at + 60..at + 64].copy_from_slice(&4u32.to_be_bytes());
        let sum = vhd_sum(&b[at..at + 512], 64);
        b[at + 64..at + 68].copy_from_slice(&sum.to_be_bytes());
    }
    std::fs::write(&child, &b).unwrap();
    std::fs::remove_file(w.path("changed.raw")).unwrap();

    use sha2::{Digest, Sha256};
    let want = hex::encode(Sha256::digest(&changed));
    assert_eq!(media_sha256(&child, &ImageOptions::default()).1, want);
    let img = image::open(&child).unwrap();
    assert!(
        img.info[0].starts_with("vhd differencing"),
        "{:?}",
        img.info
    );
    assert_eq!(img.files.len(), 2);

    std::fs::remove_file(w.path("parent.vhd")).unwrap();
    let e = image::open(&child).err().expect("parent missing");
    assert!(
        e.to_string().contains("vhd: parent parent.vhd not found"),
        "{e}"
    );
}

/// The on-disk (mixed-endian) bytes of a GUID.
fn guid_bytes(text: &str) -> Vec<u8> {
    let h: Vec<u8> = hex::decode(text.replace('-', "")).unwrap();
    let mut b = Vec::with_capacity(16);
    b.extend(h[0..4].iter().rev());
    b.extend(h[4..6].iter().rev());
    b.extend(h[6..8].iter().rev());
    b.extend(&h[8..16]);
    b
}

/// A differencing VHDX: qemu-img cannot write one, so a VHDX made by
/// `qemu-img` is turned into one by hand after [MS-VHDX]: the has-parent
/// flag, a parent locator (`relative_path`), payload blocks partially
/// present (with a sector bitmap marking only a changed region) or not
/// present (the parent's). Its blocks hold garbage outside the region.
#[test]
fn vhdx_differencing_reads_changed_sectors_from_the_child_only() {
    let Some(w) = work() else { return };
    let raw = std::fs::read(&w.raw).unwrap();
    let (from, to) = ((9usize << 20) + 7 * 512, (19usize << 20) + 3 * 512);
    let mut changed = raw.clone();
    changed[from..to].fill(0x77);
    let mut child_src = changed.clone();
    child_src[8 << 20..from].fill(0xee);
    child_src[to..24 << 20].fill(0xee);
    std::fs::write(w.path("changed.raw"), &child_src).unwrap();
    w.convert("vhdx", &[], "parent.vhdx");
    w.qemu_img(&["convert", "-O", "vhdx", "changed.raw", "child.vhdx"]);
    std::fs::remove_file(w.path("changed.raw")).unwrap();
    let child = w.path("child.vhdx");
    let mut b = std::fs::read(&child).unwrap();
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    // Regions.
    let rt = 192 << 10;
    let region = |g: &str| {
        let want = guid_bytes(g);
        (0..le32(&b, rt + 8) as usize)
            .map(|i| rt + 16 + i * 32)
            .find(|&e| b[e..e + 16] == want[..])
            .map(|e| le64(&b, e + 16) as usize)
            .unwrap()
    };
    let bat = region("2DC27766-F623-4200-9D64-115E9BFD4A08");
    let meta = region("8B7CA206-4790-4B9A-B8FE-575F050F886E");
    // Metadata: the has-parent flag, and a parent locator item.
    let count = u16::from_le_bytes([b[meta + 10], b[meta + 11]]) as usize;
    let fp = guid_bytes("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
    let fp_entry = (0..count)
        .map(|i| meta + 32 + i * 32)
        .find(|&e| b[e..e + 16] == fp[..])
        .unwrap();
    let fp_data = meta + le32(&b, fp_entry + 16) as usize;
    let block = le32(&b, fp_data) as usize;
    b[fp_data + 4] |= 2;
    let loc_off = 128usize << 10;
    let mut loc = guid_bytes("B04AEFB7-D19E-4A81-B789-25B8E9445913");
    loc.extend([0, 0, 1, 0]);
    let key: Vec<u8> = "relative_path"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let value: Vec<u8> = ".\\parent.vhdx"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let key_at = 32u32;
    let value_at = key_at + key.len() as u32;
    loc.extend(key_at.to_le_bytes());
    loc.extend(value_at.to_le_bytes());
    loc.extend((key.len() as u16).to_le_bytes());
    loc.extend((value.len() as u16).to_le_bytes());
    loc.resize(32, 0);
    loc.extend(&key);
    loc.extend(&value);
    b[meta + loc_off..meta + loc_off + loc.len()].copy_from_slice(&loc);
    let e = meta + 32 + count * 32;
    b[e..e + 16].copy_from_slice(&guid_bytes("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"));
    b[e + 16..e + 20].copy_from_slice(&(loc_off as u32).to_le_bytes());
    b[e + 20..e + 24].copy_from_slice(&(loc.len() as u32).to_le_bytes());
    b[e + 24..e + 28].copy_from_slice(&6u32.to_le_bytes());
    b[meta + 10..meta + 12].copy_from_slice(&((count + 1) as u16).to_le_bytes());
    // The sector bitmap block, appended on a 1 MiB boundary.
    b.resize(b.len().div_ceil(1 << 20) << 20, 0);
    let bitmap_at = b.len();
    b.resize(bitmap_at + (1 << 20), 0);
    let chunk_ratio = (1usize << 23) * 512 / block;
    let payload = raw.len().div_ceil(block);
    assert!(payload < chunk_ratio);
    for i in 0..payload {
        let at = bat + i * 8;
        let entry = le64(&b, at);
        let (start, end) = (i * block, (i + 1) * block);
        let state = if entry & 7 == 6 && start < to && end > from {
            7
        } else {
            0
        };
        let new = if state == 7 { (entry & !7) | 7 } else { 0 };
        b[at..at + 8].copy_from_slice(&new.to_le_bytes());
    }
    for s in from / 512..to.div_ceil(512) {
        b[bitmap_at + s / 8] |= 1 << (s % 8);
    }
    let sb = bat + chunk_ratio * 8;
    b[sb..sb + 8].copy_from_slice(&(bitmap_at as u64 | 6).to_le_bytes());
    std::fs::write(&child, &b).unwrap();

    use sha2::{Digest, Sha256};
    let want = hex::encode(Sha256::digest(&changed));
    assert_eq!(media_sha256(&child, &ImageOptions::default()).1, want);
    let img = image::open(&child).unwrap();
    assert!(
        img.info[0].starts_with("vhdx differencing"),
        "{:?}",
        img.info
    );
    assert_eq!(img.files.len(), 2);
    std::fs::remove_file(w.path("parent.vhdx")).unwrap();
    let e = image::open(&child).err().expect("parent missing");
    assert!(e.to_string().contains("parent.vhdx not found"), "{e}");
}

/// A GCP image export (`disk.raw` in a `.tar.gz`, made here by `tar`):
/// gzip has no random access, so it is refused with what to do, not
/// taken for a raw disk.
#[test]
fn gcp_tar_gz_export_is_refused_with_a_reason() {
    let Some(w) = work() else { return };
    if !common::disk::have_tools(&["tar"]) {
        common::skip("needs tar");
        return;
    }
    std::fs::rename(&w.raw, w.path("disk.raw")).unwrap();
    common::disk::run_tool(
        std::process::Command::new("tar")
            .args(["czf", "export.tar.gz", "disk.raw"])
            .current_dir(w.dir.path()),
    );
    let gz = w.path("export.tar.gz");
    let (code, stderr) = run_err(&[OsStr::new("images"), gz.as_os_str()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("first member disk.raw"), "{stderr}");
    assert!(stderr.contains("unpack it first"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
