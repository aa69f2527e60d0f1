//! Disks built at test time with the real tools from one small tree (the
//! basic fixture's `var/lib/docker` plus extras: a 300-entry directory, a
//! 255-byte name, short and long symlinks, a hard link, many xattrs, a
//! sparse fragmented file, a large file), then read back without mounting
//! and compared entry by entry with the source tree.
//!
//! Needs root and the Debian packages: e2fsprogs, xfsprogs, lvm2, fdisk
//! (sfdisk), ewf-tools (ewfacquire), attr (setfattr), coreutils, mount.
//! Skips loudly when one is missing.

mod common;

use common::disk::*;
use common::{is_root, skip};
use docker_forensics::evidence::fs::{EvPath, FileSystem, HostDir};
use docker_forensics::evidence::image::ImageFormat;
use docker_forensics::evidence::{Evidence, OpenOptions};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const TOOLS: &[&str] = &[
    "tar",
    "mke2fs",
    "mkfs.xfs",
    "sfdisk",
    "ewfacquire",
    "setfattr",
    "losetup",
    "mount",
    "umount",
    "pvcreate",
    "split",
];

/// The built images, shared by every test of this binary.
pub struct Built {
    pub root: PathBuf,
    pub src: PathBuf,
    pub expected: Vec<(String, BTreeMap<Vec<u8>, Entry>)>,
}

fn sh(script: &str) {
    run_tool(
        Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script),
    );
}

fn make_source(fx: &Path, src: &Path) {
    let host = src.parent().unwrap().join("host");
    std::fs::create_dir_all(&host).unwrap();
    extract_host(fx, "basic", &host);
    std::fs::create_dir_all(src).unwrap();
    sh(&format!(
        "mv {}/var/lib/docker {}/docker",
        host.display(),
        src.display()
    ));
    let x = src.join("extras");
    std::fs::create_dir_all(x.join("big_dir")).unwrap();
    for i in 0..320 {
        std::fs::write(
            x.join(format!("big_dir/entry-with-a-longish-name-{i:04}")),
            format!("{i}\n"),
        )
        .unwrap();
    }
    std::fs::write(x.join("a".repeat(255)), b"long name\n").unwrap();
    std::os::unix::fs::symlink("short", x.join("short_link")).unwrap();
    std::os::unix::fs::symlink("t/".repeat(150), x.join("long_link")).unwrap();
    std::fs::write(x.join("linked"), b"hard link\n").unwrap();
    std::fs::hard_link(x.join("linked"), x.join("linked2")).unwrap();
    // many xattrs, one large: attribute leaf blocks and a remote value
    std::fs::write(x.join("attrs"), b"x").unwrap();
    let mut script = String::new();
    for i in 0..20 {
        script.push_str(&format!(
            "setfattr -n user.attr{i:02} -v value-number-{i} {}/attrs\n",
            x.display()
        ));
    }
    script.push_str(&format!(
        "setfattr -n trusted.big -v 0x{} {}/attrs\n",
        "ab".repeat(2600),
        x.display()
    ));
    script.push_str(&format!(
        "setfattr -n trusted.overlay.opaque -v y {}/big_dir\n",
        x.display()
    ));
    sh(&script);
    // a large file of incompressible bytes, and a sparse fragmented one
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut data = vec![0u8; 3 << 20];
    for b in data.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    std::fs::write(x.join("big"), &data).unwrap();
    let mut f = std::fs::File::create(x.join("fragmented")).unwrap();
    for i in 0..200u64 {
        use std::os::unix::fs::FileExt;
        f.write_all_at(&data[..4096], i * 8192 + 4096).unwrap();
    }
    f.set_len(200 * 8192 + 100).unwrap();
    f.flush().unwrap();
    sh(&format!(
        "chmod 4755 {0}/big; chown 1234:5678 {0}/linked; mknod {0}/wh c 0 0; mkfifo {0}/fifo",
        x.display()
    ));
}

fn xfs_image(src: &Path, img: &Path, mnt: &Path) {
    sh(&format!(
        "truncate -s 300M {img}; mkfs.xfs -q -f {img}; mkdir -p {mnt}; mount -o loop {img} {mnt}; \
         trap 'umount {mnt}' EXIT; cp -a {src}/. {mnt}/",
        img = img.display(),
        mnt = mnt.display(),
        src = src.display()
    ));
}

fn built() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(|| {
        let fx = fixtures()?;
        if !is_root() || !have_tools(TOOLS) {
            skip("the disk tests need root and the disk tools");
            return None;
        }
        let root = common::static_scratch("disk-build");
        let src = root.join("src");
        make_source(&fx, &src);
        let r = root.display();
        // ext4 image with the tree (mke2fs -d, no mount), then disks around it
        sh(&format!("mke2fs -q -t ext4 -b 4096 -d {r}/src {r}/ext4.img 64M"));
        xfs_image(&src, &root.join("xfs.img"), &root.join("mnt"));
        sh(&format!(
            "truncate -s 70M {r}/gpt.raw; printf 'label: gpt\\nstart=2048, size=131072, type=L\\n' | sfdisk -q {r}/gpt.raw; \
             dd if={r}/ext4.img of={r}/gpt.raw bs=1M seek=1 conv=notrunc status=none"
        ));
        // MBR: partition 1 looks like NTFS, the XFS is logical partition 5
        sh(&format!(
            "truncate -s 320M {r}/mbr.raw; printf 'label: dos\\nstart=2048, size=8192, type=7\\nstart=10240, type=5\\nstart=12288, size=614400, type=83\\n' | sfdisk -q {r}/mbr.raw; \
             printf '\\xebR\\x90NTFS    ' | dd of={r}/mbr.raw bs=1 seek=$((2048*512)) conv=notrunc status=none; \
             dd if={r}/xfs.img of={r}/mbr.raw bs=512 seek=12288 conv=notrunc status=none"
        ));
        let lvm = fx.join("make-lvm-disk.sh");
        sh(&format!("{} {r}/ext4.img {r}/lvm.raw", lvm.display()));
        sh(&format!("split -b 10M -d -a 3 --numeric-suffixes=1 {r}/gpt.raw {r}/split.raw."));
        sh(&format!(
            "ewfacquire -u -q -c deflate:fast -S 1MiB -C case-42 -D 'built disk' -e tester -E ev-7 -N 'test notes' -t {r}/seg {r}/gpt.raw >/dev/null"
        ));
        let host = HostDir::open(&src).unwrap();
        let expected = ["docker", "extras"].iter().map(|d| (d.to_string(), snapshot(&host, d))).collect();
        Some(Built {
            root,
            src,
            expected,
        })
    })
    .as_ref()
}

/// Removes `disk-build.<pid>` directories of test processes that are gone.
fn check_same(b: &Built, fs: &dyn FileSystem, what: &str) {
    for (d, exp) in &b.expected {
        let got = snapshot(fs, d);
        assert_same_tree(exp, &got, &format!("{what}: {d}"));
        if d == "docker" {
            assert_has_overlay_features(&got);
        }
    }
}

fn open(b: &Built, name: &str) -> Evidence {
    Evidence::open(&b.root.join(name), &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn ext4_on_gpt() {
    let Some(b) = built() else { return };
    let ev = open(b, "gpt.raw");
    assert_eq!(ev.format, Some(ImageFormat::Raw));
    assert_eq!(ev.volumes.len(), 1);
    assert_eq!(ev.volumes[0].label, "partition 1 (ext4)");
    check_same(b, ev.volumes[0].fs.as_ref(), "ext4 on GPT");
}

#[test]
fn xfs_logical_partition_on_mbr() {
    let Some(b) = built() else { return };
    let ev = open(b, "mbr.raw");
    assert_eq!(ev.volumes.len(), 1, "{:?}", ev.notes);
    assert_eq!(ev.volumes[0].label, "partition 5 (xfs)");
    assert!(
        ev.notes
            .iter()
            .any(|n| n == "partition 1: unsupported filesystem (NTFS signature)"),
        "{:?}",
        ev.notes
    );
    check_same(b, ev.volumes[0].fs.as_ref(), "XFS in logical partition");
    // picking the partition
    let only = Evidence::open(
        &b.root.join("mbr.raw"),
        &OpenOptions {
            partition: Some(docker_forensics::evidence::volume::PartitionChoice::Number(
                5,
            )),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(only.volumes.len(), 1);
    let err = Evidence::open(
        &b.root.join("mbr.raw"),
        &OpenOptions {
            partition: Some(docker_forensics::evidence::volume::PartitionChoice::Number(
                1,
            )),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("partition 1: unsupported filesystem (NTFS signature)"),
        "{err}"
    );
}

#[test]
fn xfs_bare_large_dir_btree_file() {
    let Some(b) = built() else { return };
    let ev = open(b, "xfs.img");
    assert_eq!(ev.volumes[0].label, "disk (xfs)");
    let fs = ev.volumes[0].fs.as_ref();
    check_same(b, fs, "bare XFS");
    let big_dir = fs
        .read_dir(&EvPath::parse("extras/big_dir").unwrap())
        .unwrap();
    assert_eq!(big_dir.len(), 320);
    // the formats this test means to cover, as xfs_db reports them
    let ino = |p: &str| fs.metadata(&EvPath::parse(p).unwrap()).unwrap().ino;
    for (path, want) in [
        ("extras/big_dir", "format = 2"),
        ("extras/fragmented", "format = 3"),
    ] {
        let out = Command::new("xfs_db")
            .args([
                "-r",
                "-c",
                &format!("inode {}", ino(path)),
                "-c",
                "print core.format",
            ])
            .arg(b.root.join("xfs.img"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(want), "{path}: {text}");
    }
}

#[test]
fn ext4_bare_and_in_lvm() {
    let Some(b) = built() else { return };
    let ev = open(b, "ext4.img");
    assert_eq!(ev.volumes[0].label, "disk (ext4)");
    check_same(b, ev.volumes[0].fs.as_ref(), "bare ext4");
    let ev = open(b, "lvm.raw");
    assert_eq!(ev.volumes.len(), 1, "{:?}", ev.notes);
    assert_eq!(ev.volumes[0].label, "lvm vg0/docker (ext4)");
    check_same(b, ev.volumes[0].fs.as_ref(), "ext4 in LVM2");
}

#[test]
fn split_raw() {
    let Some(b) = built() else { return };
    let ev = open(b, "split.raw.001");
    assert_eq!(ev.format, Some(ImageFormat::SplitRaw));
    check_same(b, ev.volumes[0].fs.as_ref(), "split raw");
}

#[test]
fn multi_segment_e01() {
    let Some(b) = built() else { return };
    assert!(
        b.root.join("seg.E03").exists(),
        "ewfacquire wrote fewer than 3 segments"
    );
    let ev = open(b, "seg.E01");
    assert_eq!(ev.format, Some(ImageFormat::Ewf));
    let acq = ev.acquisition.clone().unwrap();
    assert!(acq.segments.len() >= 3);
    assert_eq!(acq.case_number.as_deref(), Some("case-42"));
    assert_eq!(acq.examiner.as_deref(), Some("tester"));
    check_same(b, ev.volumes[0].fs.as_ref(), "multi-segment E01");
    let v = ev.verify_image(&|_, _| {}).unwrap().unwrap();
    assert!(v.verified(), "{v:?}");
    let raw = std::fs::read(b.root.join("gpt.raw")).unwrap();
    use sha2::Digest;
    assert_eq!(v.sha256, hex::encode(sha2::Sha256::digest(&raw)));

    // lower-case extensions are found too
    let low = b.root.join("low");
    std::fs::create_dir_all(&low).unwrap();
    for (i, seg) in acq.segments.iter().enumerate() {
        std::fs::copy(seg, low.join(format!("seg.e{:02}", i + 1))).unwrap();
    }
    let ev = Evidence::open(&low.join("seg.e01"), &OpenOptions::default()).unwrap();
    assert_eq!(ev.acquisition.unwrap().segments.len(), acq.segments.len());
    let _ = &b.src;
}
