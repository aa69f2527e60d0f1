//! Bad evidence must give a clear error naming what and where, never a
//! panic, a hang or silently wrong bytes.
//!
//! Needs the fixtures, root, and the Debian packages e2fsprogs (mke2fs,
//! debugfs), xfsprogs (mkfs.xfs, xfs_db), ewf-tools (ewfacquire).

mod common;

use common::disk::*;
use docker_forensics::evidence::fs::xfs::{CorruptKind as XfsCorrupt, XfsError};
use docker_forensics::evidence::fs::{EvPath, FsError, XfsFs};
use docker_forensics::evidence::image::ImageError;
use docker_forensics::evidence::image::RawImage;
use docker_forensics::evidence::image::ewf::{ChunkFault, CorruptKind, EwfError};
use docker_forensics::evidence::{Evidence, EvidenceError, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

fn open_error(p: &Path) -> EvidenceError {
    match Evidence::open(p, &OpenOptions::default()) {
        Ok(ev) => panic!("{} opened: {:?} {:?}", p.display(), ev.volumes, ev.notes),
        Err(e) => {
            eprintln!("error (as expected): {e}");
            e
        }
    }
}

fn open_err(p: &Path) -> String {
    open_error(p).to_string()
}

/// The EWF error of an EWF segment that failed to open.
fn ewf_open_error(e: &EvidenceError) -> &EwfError {
    match e {
        EvidenceError::Image(ImageError::Ewf { source, .. }) => source,
        e => panic!("not an EWF error: {e:?}"),
    }
}

/// The first [`EwfError`] in the chain of `e`, looking inside I/O errors.
fn find_ewf_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a EwfError> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(ewf) = e.downcast_ref::<EwfError>() {
            return Some(ewf);
        }
        if let Some(ewf) = e
            .downcast_ref::<std::io::Error>()
            .and_then(EwfError::from_io)
        {
            return Some(ewf);
        }
        cur = e.source();
    }
    None
}

/// The XFS error of opening the bare XFS image `p` directly.
fn xfs_open_error(p: &Path) -> XfsError {
    let dev = std::sync::Arc::new(RawImage::open(p).unwrap());
    match XfsFs::open(dev, "x.img") {
        Ok(_) => panic!("{} opened", p.display()),
        Err(FsError::Xfs { source, .. }) => *source,
        Err(e) => panic!("not an XFS error: {e:?}"),
    }
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

fn random(n: usize) -> Vec<u8> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

#[test]
fn ewf_missing_segment() {
    if !have_tools(&["ewfacquire"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().display();
    std::fs::write(d.path().join("src.raw"), random(6 << 20)).unwrap();
    sh(&format!(
        "ewfacquire -u -q -c deflate:fast -S 1MiB -t {r}/img {r}/src.raw >/dev/null; rm {r}/img.E02"
    ));
    let err = open_error(&d.path().join("img.E01"));
    assert!(
        matches!(ewf_open_error(&err), EwfError::MissingSegment { previous } if previous.ends_with("img.E01")),
        "{err:?}"
    );
    let e = err.to_string();
    assert!(e.contains("img.E02") && e.contains("missing"), "{e}");
}

#[test]
fn ewf_truncated() {
    let Some(fx) = fixtures() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cut.E01");
    let data = std::fs::read(fx.join("basic.disk.E01")).unwrap();
    for cut in [100, 800_000, data.len() - 50] {
        std::fs::write(&p, &data[..cut]).unwrap();
        let err = open_error(&p);
        assert!(
            matches!(ewf_open_error(&err), EwfError::Truncated(_)),
            "cut at {cut}: {err:?}"
        );
        let e = err.to_string();
        assert!(
            e.contains("cut.E01") && e.contains("truncated"),
            "cut at {cut}: {e}"
        );
    }
    // too short even for the signature: read as raw, still a clear error
    std::fs::write(&p, &data[..5]).unwrap();
    let e = open_err(&p);
    assert!(e.contains("cut.E01") && e.contains("past the end"), "{e}");
}

#[test]
fn ewf_corrupt_chunk_is_an_error() {
    let Some(fx) = fixtures() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.E01");
    let mut data = std::fs::read(fx.join("basic.disk.E01")).unwrap();
    // inside the sectors section (chunk data): flip some bytes
    for b in &mut data[700_000..700_016] {
        *b ^= 0x5a;
    }
    std::fs::write(&p, &data).unwrap();
    let err = match Evidence::open(&p, &OpenOptions::default()) {
        Err(e) => e,
        Ok(ev) => ev.verify_image(&|_, _| {}).unwrap_err(),
    };
    let e = err.to_string();
    eprintln!("error (as expected): {e}");
    assert!(
        matches!(
            find_ewf_error(&err).and_then(EwfError::corrupt_kind),
            Some(CorruptKind::Chunk {
                fault: ChunkFault::Zlib { .. }
                    | ChunkFault::ZlibIncomplete { .. }
                    | ChunkFault::Adler32 { .. }
                    | ChunkFault::Checksum { .. },
                ..
            })
        ),
        "{err:?}"
    );
    assert!(e.contains("EWF chunk") && e.contains("media offset"), "{e}");
}

#[test]
fn garbage_or_missing_partition_table() {
    let d = tempfile::tempdir().unwrap();
    // a table whose only partition runs far past the end of the disk
    let p = d.path().join("garbage.raw");
    let mut disk = vec![0u8; 4 << 20];
    disk[446 + 4] = 0x83;
    disk[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    disk[446 + 12..446 + 16].copy_from_slice(&10_000_000u32.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xaa;
    std::fs::write(&p, &disk).unwrap();
    let e = open_err(&p);
    assert!(
        e.contains("partition 1") && e.contains("past the end"),
        "{e}"
    );
    // a bad GPT behind a protective MBR
    disk[446 + 4] = 0xee;
    disk[512..520].copy_from_slice(b"EFI PART");
    std::fs::write(&p, &disk).unwrap();
    let e = open_err(&p);
    assert!(e.contains("GPT"), "{e}");
    // nothing at all
    let p = d.path().join("zeros.raw");
    std::fs::write(&p, vec![0u8; 1 << 20]).unwrap();
    let e = open_err(&p);
    assert!(e.contains("no known filesystem signature"), "{e}");
    // random bytes, tiny file
    let p = d.path().join("tiny.raw");
    std::fs::write(&p, random(100)).unwrap();
    let e = open_err(&p);
    assert!(e.contains("tiny.raw"), "{e}");
}

#[test]
fn unsupported_filesystem_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("ntfs.raw");
    let mut disk = vec![0u8; 1 << 20];
    disk[3..11].copy_from_slice(b"NTFS    ");
    disk[510] = 0x55;
    disk[511] = 0xaa;
    std::fs::write(&p, &disk).unwrap();
    let e = open_err(&p);
    assert!(
        e.contains("disk: unsupported filesystem (NTFS signature)"),
        "{e}"
    );
}

#[test]
fn corrupt_superblocks() {
    if !have_tools(&["mke2fs", "mkfs.xfs"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().display();
    sh(&format!(
        "mke2fs -q -t ext4 -b 4096 {r}/e.img 16M; truncate -s 300M {r}/x.img; mkfs.xfs -q -f {r}/x.img"
    ));
    // ext4: blocks count changed (the superblock checksum no longer matches)
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("e.img"))
        .unwrap();
    f.write_all_at(&[0xff, 0xff], 1024 + 4).unwrap();
    let e = open_err(&d.path().join("e.img"));
    assert!(e.contains("ext4") && e.contains("superblock"), "{e}");
    // XFS: AG count changed
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("x.img"))
        .unwrap();
    f.write_all_at(&[0x7f], 88).unwrap();
    let e = open_err(&d.path().join("x.img"));
    assert!(e.contains("xfs") && e.contains("superblock"), "{e}");
    let xe = xfs_open_error(&d.path().join("x.img"));
    assert!(
        matches!(xe.corrupt_kind(), Some(XfsCorrupt::SuperblockCrc)),
        "{xe:?}"
    );
    // XFS truncated: the superblock says more than the device holds
    sh(&format!(
        "mkfs.xfs -q -f {r}/x.img; truncate -s 200M {r}/x.img"
    ));
    let e = open_err(&d.path().join("x.img"));
    assert!(e.contains("device only"), "{e}");
    let xe = xfs_open_error(&d.path().join("x.img"));
    assert!(
        matches!(
            xe.corrupt_kind(),
            Some(XfsCorrupt::DeviceTooSmall { fs_bytes, device_bytes })
                if *fs_bytes == 300 << 20 && *device_bytes == 200 << 20
        ),
        "{xe:?}"
    );
}

#[test]
fn xfs_extent_past_end_and_ext4_directory_loop() {
    if !have_tools(&["mkfs.xfs", "xfs_db", "mke2fs", "debugfs"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().display();
    std::fs::write(d.path().join("payload"), random(100_000)).unwrap();
    std::fs::write(
        d.path().join("proto"),
        format!("/dev/null\n0 0\nd--755 0 0\nfile ---644 0 0 {r}/payload\n$\n"),
    )
    .unwrap();
    sh(&format!(
        "truncate -s 300M {r}/x.img; mkfs.xfs -q -f -p {r}/proto {r}/x.img; \
         xfs_db -x -c 'path /file' -c 'write u3.bmx[0].startblock 40000000' {r}/x.img >/dev/null"
    ));
    let ev = Evidence::open(&d.path().join("x.img"), &OpenOptions::default()).unwrap();
    let fs_err = ev.volumes[0]
        .fs
        .open(&EvPath::parse("file").unwrap())
        .err()
        .unwrap();
    assert!(
        matches!(
            &fs_err,
            FsError::Xfs { path, source }
                if path == "/file"
                && matches!(
                    source.corrupt_kind(),
                    Some(XfsCorrupt::ExtentPastEnd { fs_block: 40_000_000, .. })
                )
        ),
        "{fs_err:?}"
    );
    let err = fs_err.to_string();
    assert!(
        err.contains("inode") && err.contains("past the end"),
        "{err}"
    );

    std::fs::create_dir_all(d.path().join("tree/d1/d2")).unwrap();
    sh(&format!(
        "mke2fs -q -t ext4 -b 4096 -d {r}/tree {r}/e.img 16M; debugfs -w -R 'ln /d1 /d1/d2/back' {r}/e.img 2>/dev/null"
    ));
    let ev = Evidence::open(&d.path().join("e.img"), &OpenOptions::default()).unwrap();
    let fs = ev.volumes[0].fs.as_ref();
    assert!(
        fs.metadata(&EvPath::parse("d1/d2/back").unwrap())
            .unwrap()
            .is_dir()
    );
    let err = fs
        .metadata(&EvPath::parse("d1/d2/back/d2").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("directory loop"), "{err}");
}

/// A directory loop inside an image layer on an ext4 disk is named by
/// `timeline` (as a warning, exit 3), not silently left out, and the
/// rest of the layer is still listed.
#[test]
fn timeline_names_a_directory_loop_in_a_layer() {
    if !have_tools(&["mke2fs", "debugfs"]) {
        return;
    }
    let Some(host) = common::host("basic") else {
        return;
    };
    // a layer directory holding a subdirectory, to link back to its root
    let overlay = host.join("var/lib/docker/overlay2");
    let mut layers: Vec<_> = std::fs::read_dir(&overlay)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("diff/etc").is_dir())
        .collect();
    layers.sort();
    let layer = layers.first().expect("a layer with /etc");
    let diff = format!(
        "/var/lib/docker/overlay2/{}/diff",
        layer.file_name().unwrap().to_str().unwrap()
    );
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("loop.img");
    sh(&format!(
        "mke2fs -q -t ext4 -b 4096 -d {} {} 256M; debugfs -w -R 'ln {diff} {diff}/etc/back' {} 2>/dev/null",
        host.display(),
        img.display(),
        img.display()
    ));
    let out = common::run(["timeline".as_ref(), img.as_os_str()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let warned: Vec<_> = out
        .stderr
        .lines()
        .filter(|l| l.contains("directory loop"))
        .collect();
    assert!(!warned.is_empty(), "{}", out.stderr);
    assert!(warned.iter().all(|l| l.contains("/etc/back")), "{warned:?}");
    // the layer's other files are still on the timeline
    assert!(
        out.stdout.contains("/etc/"),
        "{}",
        &out.stdout[..500.min(out.stdout.len())]
    );
}
