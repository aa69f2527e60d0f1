//! btrfs filesystems built at test time with the real tools from the
//! basic fixture's host tree (plus a few extras), read back without
//! mounting and compared entry by entry with the source tree:
//! - `rootdir.img`: `mkfs.btrfs --rootdir` (no mount; whiteouts and
//!   `trusted.overlay.*` survive it);
//! - `comp.img`: an empty btrfs mounted with `compress-force=zstd`, one
//!   directory forced to zlib and one to LZO with `btrfs property set`, filled with
//!   `cp -a`, plus a subvolume, a snapshot of it and a preallocated file;
//! - `gpt.raw`: `comp.img` in partition 1 of a GPT disk.
//!
//! Then Docker's `btrfs` graph driver: a real dockerd with
//! `--storage-driver btrfs` on a loop-mounted btrfs loads one image
//! (each layer a subvolume snapshot of its parent); read back from the
//! image file, its layers replay byte-identically from tar-split.
//!
//! Then the command line on them (same image ids and saved layer digests
//! as the engine gave), and damaged copies (superblock, tree node,
//! truncation) giving one-line typed errors.
//!
//! Needs root and the Debian packages btrfs-progs (mkfs.btrfs, btrfs),
//! fdisk (sfdisk), attr (setfattr), util-linux (mount, fallocate); the
//! graph driver test also docker.io (a dockerd built with btrfs support).

mod common;

use common::disk::*;
use common::{expected, image_dir, is_root, run, sha256_file, skip};
use docker_forensics::evidence::fs::btrfs::{BtrfsError, CorruptKind};
use docker_forensics::evidence::fs::{BtrfsFs, EvPath, FileSystem, FsError, HostDir};
use docker_forensics::evidence::image::RawImage;
use docker_forensics::evidence::provenance::SpecLayer;
use docker_forensics::evidence::{Evidence, OpenOptions};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

const TOOLS: &[&str] = &[
    "tar",
    "mkfs.btrfs",
    "btrfs",
    "sfdisk",
    "setfattr",
    "mount",
    "umount",
    "fallocate",
];

struct Built {
    root: PathBuf,
    expected: Vec<(String, BTreeMap<Vec<u8>, Entry>)>,
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

fn sh_out(script: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The basic host tree plus extras: compressible text files (one under
/// `zlib/`), a sparse file, a hard link, a device node, an opaque dir.
fn make_source(fx: &Path, src: &Path) {
    std::fs::create_dir_all(src).unwrap();
    extract_host(fx, "basic", src);
    let x = src.join("extras");
    std::fs::create_dir_all(x.join("zlib")).unwrap();
    std::fs::create_dir_all(x.join("lzo")).unwrap();
    let text: String = (0..40_000)
        .map(|i| format!("line {i} of a compressible file\n"))
        .collect();
    std::fs::write(x.join("text"), &text).unwrap();
    std::fs::write(x.join("zlib/text"), text.replace("line", "row")).unwrap();
    std::fs::write(x.join("lzo/text"), text.replace("line", "entry")).unwrap();
    std::fs::write(x.join("lzo/small"), "short lzo text ".repeat(40)).unwrap();
    std::fs::write(x.join("small"), b"inline data\n").unwrap();
    std::fs::hard_link(x.join("small"), x.join("small.hard")).unwrap();
    let f = std::fs::File::create(x.join("sparse")).unwrap();
    for i in 0..20u64 {
        f.write_all_at(&text.as_bytes()[..4096], i * 65536 + 8192)
            .unwrap();
    }
    f.set_len(20 * 65536 + 77).unwrap();
    std::os::unix::fs::symlink("../some/where", x.join("link")).unwrap();
    sh(&format!(
        "mknod {0}/null c 1 3; mknod {0}/blk b 8 17; mknod {0}/wh c 0 0; mkfifo {0}/fifo; \
         setfattr -n trusted.overlay.opaque -v y {0}/zlib; setfattr -n user.note -v hello {0}/text",
        x.display()
    ));
}

fn built() -> Option<&'static Built> {
    static B: OnceLock<Option<Built>> = OnceLock::new();
    B.get_or_init(|| {
        let fx = fixtures()?;
        if !is_root() || !have_tools(TOOLS) {
            skip("the btrfs tests need root and btrfs-progs, fdisk, attr, util-linux");
            return None;
        }
        let root = common::static_scratch("disk-btrfs");
        let src = root.join("src");
        make_source(&fx, &src);
        let r = root.display();
        sh(&format!(
            "truncate -s 128M {r}/rootdir.img; mkfs.btrfs -q --rootdir {r}/src {r}/rootdir.img"
        ));
        sh(&format!(
            "truncate -s 128M {r}/comp.img; mkfs.btrfs -q -L evidence {r}/comp.img; mkdir -p {r}/mnt; \
             mount -o loop,compress-force=zstd {r}/comp.img {r}/mnt; trap 'umount {r}/mnt' EXIT; \
             mkdir -p {r}/mnt/extras/zlib; btrfs property set {r}/mnt/extras/zlib compression zlib; \
             mkdir -p {r}/mnt/extras/lzo; btrfs property set {r}/mnt/extras/lzo compression lzo; \
             cp -a {r}/src/. {r}/mnt/; \
             btrfs -q subvolume create {r}/mnt/subvol; echo 'in the subvolume' > {r}/mnt/subvol/file; \
             mkdir {r}/mnt/subvol/dir; cp {r}/src/extras/text {r}/mnt/subvol/dir/text; \
             btrfs -q subvolume snapshot {r}/mnt/subvol {r}/mnt/snap; echo 'changed in the snapshot' > {r}/mnt/snap/file; \
             mkdir {r}/mnt/only; fallocate -l 256K {r}/mnt/only/prealloc; \
             fallocate -l 256K {r}/mnt/only/partly; printf 'written' | dd of={r}/mnt/only/partly bs=1 seek=70000 conv=notrunc status=none; \
             sync"
        ));
        sh(&format!(
            "truncate -s 130M {r}/gpt.raw; printf 'label: gpt\\nstart=2048, size=262144, type=L\\n' | sfdisk -q {r}/gpt.raw; \
             dd if={r}/comp.img of={r}/gpt.raw bs=1M seek=1 conv=notrunc,sparse status=none"
        ));
        let host = HostDir::open(&src).unwrap();
        let expected = ["var", "extras"]
            .iter()
            .map(|d| (d.to_string(), snapshot(&host, d)))
            .collect();
        sh(&format!("rm -rf {r}/src"));
        Some(Built {
            root,
            expected,
        })
    })
    .as_ref()
}

fn open(b: &Built, name: &str) -> Evidence {
    Evidence::open(&b.root.join(name), &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The tree read through our reader equals the source, `btrfs.*`
/// properties (the zlib directory's) aside. Without `rdev_kept` device
/// numbers are not compared: `mkfs.btrfs --rootdir` of btrfs-progs 6.2
/// records `rdev 0` for every device node (`dump-tree` shows it), so
/// they are checked on the `cp -a` image only; it leaves the creation
/// time (otime) 0 too.
fn check_same(b: &Built, fs: &dyn FileSystem, what: &str, rdev_kept: bool) {
    for (d, exp) in &b.expected {
        let mut got = snapshot(fs, d);
        let mut exp = exp.clone();
        for e in got.values_mut() {
            e.xattrs.retain(|(k, _)| !k.starts_with(b"btrfs."));
        }
        if !rdev_kept {
            for e in exp.values_mut().chain(got.values_mut()) {
                e.rdev = (0, 0);
            }
        }
        let exp = &exp;
        assert_same_tree(exp, &got, &format!("{what}: {d}"));
        if d == "var" {
            assert_has_overlay_features(&got);
        }
    }
    let m = fs.metadata(&EvPath::parse("extras/null").unwrap()).unwrap();
    if rdev_kept {
        assert_eq!((m.rdev_major, m.rdev_minor), (1, 3), "{what}");
    }
    let a = fs
        .metadata(&EvPath::parse("extras/small").unwrap())
        .unwrap();
    let h = fs
        .metadata(&EvPath::parse("extras/small.hard").unwrap())
        .unwrap();
    assert_eq!((a.ino, a.nlink), (h.ino, 2), "{what}: hard link");
    if rdev_kept {
        assert!(
            a.btime.is_some_and(|t| t.secs > 1_600_000_000),
            "{what}: otime"
        );
    } else {
        // mkfs --rootdir leaves otime 0: not recorded
        assert_eq!(a.btime, None, "{what}: otime");
    }
}

fn read_all(fs: &dyn FileSystem, p: &str) -> Vec<u8> {
    let mut v = Vec::new();
    fs.open(&EvPath::parse(p).unwrap())
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .read_to_end(&mut v)
        .unwrap();
    v
}

#[test]
fn mkfs_rootdir_image_equals_the_source_tree() {
    let Some(b) = built() else { return };
    let ev = open(b, "rootdir.img");
    assert_eq!(ev.volumes.len(), 1, "{:?}", ev.notes);
    let v = &ev.volumes[0];
    assert_eq!(v.label, "disk (btrfs)");
    assert!(
        matches!(v.spec.file_system(), Some(SpecLayer::FileSystem { kind, .. }) if kind == "btrfs")
    );
    check_same(b, v.fs.as_ref(), "mkfs --rootdir", false);
    let dump = sh_out(&format!(
        "btrfs inspect-internal dump-tree -t 5 {}/rootdir.img | grep -c 'mode 20644.* rdev 0'",
        b.root.display()
    ));
    assert_eq!(
        dump.trim(),
        "2",
        "mkfs --rootdir now keeps rdev: compare it"
    );
}

#[test]
fn compressed_image_with_subvolumes_equals_the_source_tree() {
    let Some(b) = built() else { return };
    let img = b.root.join("comp.img");
    // the kernel really wrote zstd (3) and zlib (1) compressed extents
    let dump = sh_out(&format!(
        "btrfs inspect-internal dump-tree -t 5 {} | grep -o 'compression [0-9]' | sort | uniq -c",
        img.display()
    ));
    assert!(dump.contains("compression 3"), "no zstd extents: {dump}");
    assert!(dump.contains("compression 1"), "no zlib extents: {dump}");
    assert!(dump.contains("compression 2"), "no lzo extents: {dump}");
    eprintln!("extents by compression in tree 5:\n{dump}");
    let ev = open(b, "comp.img");
    assert_eq!(ev.volumes.len(), 1, "{:?}", ev.notes);
    let fs = ev.volumes[0].fs.as_ref();
    assert!(fs.describe().contains("\"evidence\""), "{}", fs.describe());
    check_same(b, fs, "compress-force=zstd + zlib, cp -a", true);
    // subvolume and snapshot, reached by path
    assert_eq!(read_all(fs, "subvol/file"), b"in the subvolume\n");
    assert_eq!(read_all(fs, "snap/file"), b"changed in the snapshot\n");
    let text = &b.expected[1].1[&b"extras/text".to_vec()];
    for p in ["subvol/dir/text", "snap/dir/text"] {
        let got = read_all(fs, p);
        use sha2::Digest;
        assert_eq!(
            Some(hex::encode(sha2::Sha256::digest(&got))),
            text.sha256,
            "{p}"
        );
    }
    let s = fs.metadata(&EvPath::parse("subvol/file").unwrap()).unwrap();
    let t = fs.metadata(&EvPath::parse("snap/file").unwrap()).unwrap();
    assert_ne!(s.ino, t.ino, "inode numbers stay unique across subvolumes");
    // preallocated space reads as zeros
    assert_eq!(read_all(fs, "only/prealloc"), vec![0u8; 256 << 10]);
    let partly = read_all(fs, "only/partly");
    assert_eq!(partly.len(), 256 << 10);
    assert_eq!(&partly[70000..70007], b"written");
    assert!(
        partly[..70000]
            .iter()
            .chain(&partly[70007..])
            .all(|&c| c == 0)
    );
}

fn check_cli(evidence: &Path, volume: &str) {
    let exp = expected("basic");
    let r = run([
        Path::new("images"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    let mut got: Vec<String> = rows
        .iter()
        .map(|r| r["image_id"].as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = exp["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(
        rows.iter().all(|r| r["data_root"]["volume"] == volume),
        "{}",
        r.stdout
    );
    let out = tempfile::tempdir().unwrap();
    let r = common::extract_all(evidence, out.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    for img in exp["images"].as_array().unwrap() {
        let dir = image_dir(out.path(), img["id"].as_str().unwrap());
        for (i, want) in img["saved_layer_sha256"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            assert_eq!(
                sha256_file(&dir.join(format!("layer_{i}/layer.tar"))),
                want.as_str().unwrap(),
                "{}: layer {i}",
                img["id"]
            );
        }
    }
}

#[test]
fn images_extract_verify_diff_from_btrfs_raw_and_gpt() {
    let Some(b) = built() else { return };
    check_cli(&b.root.join("comp.img"), "disk (btrfs)");
    check_cli(&b.root.join("gpt.raw"), "partition 1 (btrfs)");
    let img = b.root.join("comp.img");
    let exp = expected("basic");
    let r = run([Path::new("verify"), &img, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK")).count(),
        exp["images"].as_array().unwrap().len()
    );
    let r = run([
        Path::new("diff"),
        Path::new("evil-web"),
        &img,
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    let evil = exp["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "evil-web")
        .unwrap();
    let want: Vec<&str> = evil["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, want, "diff evil-web on btrfs");
}

/// A host booted from a snapshot (openSUSE's snapper) has a default
/// subvolume other than the top level; its `/var` lives in a sibling
/// subvolume reachable only from the top level, which is then a second
/// volume, where the Docker data root is found.
#[test]
fn default_subvolume_is_the_root_and_the_top_level_a_second_volume() {
    let Some(b) = built() else { return };
    let img = b.root.join("default.img");
    let mnt = b.root.join("defmnt");
    sh(&format!(
        "cp --sparse=always {0}/comp.img {1}; mkdir -p {2}; mount -o loop {1} {2}; trap 'umount {2}' EXIT; \
         btrfs subvolume set-default {2}/subvol",
        b.root.display(),
        img.display(),
        mnt.display()
    ));
    let ev = open(b, "default.img");
    let labels: Vec<&str> = ev.volumes.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["disk (btrfs)", "disk (btrfs top level)"]);
    assert_eq!(
        read_all(ev.volumes[0].fs.as_ref(), "file"),
        b"in the subvolume\n"
    );
    assert!(!ev.volumes[0].fs.exists(&EvPath::parse("var").unwrap()));
    assert_eq!(
        read_all(ev.volumes[1].fs.as_ref(), "subvol/file"),
        b"in the subvolume\n"
    );
    let r = run([
        Path::new("images"),
        &img,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    assert_eq!(
        rows.len(),
        expected("basic")["images"].as_array().unwrap().len()
    );
    assert!(
        rows.iter()
            .all(|r| r["data_root"]["volume"] == "disk (btrfs top level)"),
        "{}",
        r.stdout
    );
    std::fs::remove_file(&img).unwrap();
}

/// Unmounts a mount point when dropped (also when a test panics).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn docker_btrfs_graph_driver_layers_replay_identically() {
    let Some(b) = built() else { return };
    let exp = expected("basic");
    let img = exp["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"][0] == "fixture/tool:2")
        .unwrap();
    let id = img["id"].as_str().unwrap();
    let want: Vec<&str> = img["saved_layer_sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // the image's archive, as rebuilt from the btrfs image above
    let arch = b.root.join("arch");
    let r = run([
        Path::new("extract"),
        Path::new("-q"),
        Path::new("fixture/tool:2"),
        &b.root.join("comp.img"),
        &arch,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dk = b.root.join("docker-btrfs.img");
    let mnt = b.root.join("dkmnt");
    sh(&format!(
        "truncate -s 160M {0}; mkfs.btrfs -q {0}; mkdir -p {1}; mount -o loop {0} {1}",
        dk.display(),
        mnt.display()
    ));
    {
        let _m = Mounted(mnt.clone());
        let root = mnt.join("docker");
        let Some(mut d) = common::daemon::Daemon::start_with(
            &["--storage-driver", "btrfs"],
            root.to_str().unwrap(),
        ) else {
            skip("no dockerd: Docker's btrfs graph driver was not tested");
            return;
        };
        d.load(&image_dir(&arch, id).join("image.tar"));
        d.stop();
        let subvols = std::fs::read_dir(root.join("btrfs/subvolumes"))
            .unwrap()
            .count();
        assert_eq!(subvols, want.len(), "one subvolume per layer");
    }
    let r = run([
        Path::new("images"),
        &dk,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    assert_eq!(rows[0]["image_id"], id);
    assert_eq!(rows[0]["data_root"]["driver"], "btrfs", "{}", r.stdout);
    let out = b.root.join("from-driver");
    let r = run([
        Path::new("extract"),
        Path::new("-q"),
        Path::new(id),
        &dk,
        &out,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (i, w) in want.iter().enumerate() {
        assert_eq!(
            &sha256_file(&image_dir(&out, id).join(format!("layer_{i}/layer.tar"))),
            w,
            "layer {i}"
        );
    }
    // without tar-split a subvolume is the whole tree, not the layer's
    // changes: not rebuilt byte-exactly, and said so (exit 3)
    let r = run([
        Path::new("extract"),
        Path::new("-q"),
        Path::new("--rebuild"),
        Path::new(id),
        &dk,
        &b.root.join("rebuilt"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    sh(&format!(
        "rm -rf {} {} {} {}",
        dk.display(),
        arch.display(),
        out.display(),
        b.root.join("rebuilt").display()
    ));
}

/// A sparse copy of `rootdir.img` to damage.
fn damaged(b: &Built, name: &str) -> PathBuf {
    let p = b.root.join(name);
    sh(&format!(
        "cp --sparse=always {} {}",
        b.root.join("rootdir.img").display(),
        p.display()
    ));
    p
}

fn poke(p: &Path, at: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], at).unwrap();
}

fn btrfs_err(p: &Path) -> BtrfsError {
    let dev = Arc::new(RawImage::open(p).unwrap());
    match BtrfsFs::open(dev, "test") {
        Ok(_) => panic!("{} opened", p.display()),
        Err(FsError::Btrfs { source, .. }) => {
            eprintln!("error (as expected): {source}");
            *source
        }
        Err(e) => panic!("not a btrfs error: {e}"),
    }
}

fn cli_fails_in_one_line(p: &Path, needle: &str) {
    let r = run([Path::new("images"), p]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in {}", r.stderr));
    eprintln!("{line}");
}

#[test]
fn bad_superblock_node_and_truncation_are_typed_errors() {
    let Some(b) = built() else { return };
    // primary superblock damaged: the mirror at 64 MiB is used
    let p = damaged(b, "bad-sb.img");
    poke(&p, (64 << 10) + 0x100);
    let dev = Arc::new(RawImage::open(&p).unwrap());
    let fs = BtrfsFs::open(dev, "test").unwrap();
    assert_eq!(fs.superblock_offset(), 64 << 20);
    assert!(snapshot(&fs, "var").len() > 100);
    // and the mirror too: no valid copy
    poke(&p, (64 << 20) + 0x100);
    let e = btrfs_err(&p);
    assert!(
        matches!(e.corrupt_kind(), Some(CorruptKind::NoSuperblock { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    cli_fails_in_one_line(&p, "superblock");

    // a tree node damaged: the FS tree root. Metadata is DUP: with one
    // copy damaged the other is read (as the kernel does); with both, the
    // error names the node's logical address.
    let p = damaged(b, "bad-node.img");
    let dev = Arc::new(RawImage::open(&p).unwrap());
    let (logical, copies) = {
        let fs = BtrfsFs::open(dev, "test").unwrap();
        let l = fs.tree_root(5).unwrap();
        (l, fs.physical_of(l))
    };
    assert_eq!(copies.len(), 2, "DUP metadata expected");
    poke(&p, copies[0] + 300);
    let dev = Arc::new(RawImage::open(&p).unwrap());
    let fs = BtrfsFs::open(dev, "test").unwrap();
    assert!(snapshot(&fs, "var").len() > 100);
    poke(&p, copies[1] + 300);
    let e = btrfs_err(&p);
    assert_eq!(
        e.corrupt_kind(),
        Some(&CorruptKind::NodeChecksum { logical }),
        "{e}"
    );
    cli_fails_in_one_line(
        &p,
        &format!("tree node at logical {logical}: checksum mismatch"),
    );

    // truncated
    let p = damaged(b, "short.img");
    sh(&format!("truncate -s 70M {}", p.display()));
    let e = btrfs_err(&p);
    assert!(
        matches!(e.corrupt_kind(), Some(CorruptKind::DeviceTooSmall { .. })),
        "{e}"
    );
    cli_fails_in_one_line(&p, "truncated image");
    for n in ["bad-sb.img", "bad-node.img", "short.img"] {
        std::fs::remove_file(b.root.join(n)).unwrap();
    }
}
