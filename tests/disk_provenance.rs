//! Provenance: every volume says where it came from, layer by layer
//! (`Volume::spec`), for a directory, the basic EnCase fixture and an
//! LVM2 disk built here.
//!
//! Needs the fixtures; the LVM test also root, e2fsprogs, lvm2 and fdisk.

mod common;

use common::disk::*;
use docker_forensics::evidence::fs::EvPath;
use docker_forensics::evidence::provenance::SpecLayer;
use docker_forensics::evidence::{Evidence, OpenOptions};
use std::process::Command;

#[test]
fn directory_spec() {
    let d = tempfile::tempdir().unwrap();
    let ev = Evidence::open(d.path(), &OpenOptions::default()).unwrap();
    let v = &ev.volumes[0];
    assert!(v.is_directory());
    assert_eq!(v.label, "directory");
    let shown = d.path().display().to_string();
    assert_eq!(
        v.spec.layers(),
        [
            SpecLayer::Directory {
                path: shown.clone()
            },
            SpecLayer::FileSystem {
                kind: "host".into(),
                uuid: None,
                label: None
            }
        ]
    );
    assert_eq!(v.spec.to_string(), format!("{shown} (directory) → host"));
    let at = v.spec.at(&EvPath::parse("var/lib/docker").unwrap());
    assert_eq!(at.path, "/var/lib/docker");
    assert_eq!(
        at.to_string(),
        format!("{shown} (directory) → host → /var/lib/docker")
    );
}

#[test]
fn basic_e01_spec() {
    let Some(fx) = fixtures() else { return };
    let path = fx.join("basic.disk.E01");
    let ev = Evidence::open(&path, &OpenOptions::default()).unwrap();
    let v = &ev.volumes[0];
    assert!(!v.is_directory());
    let layers = v.spec.layers();
    assert_eq!(layers.len(), 3, "{:?}", v.spec);
    let shown = path.display().to_string();
    assert_eq!(
        layers[0],
        SpecLayer::DiskImage {
            path: shown.clone(),
            format: "ewf".into(),
            segments: vec![shown],
            backing: Vec::new(),
        }
    );
    let SpecLayer::Partition {
        scheme,
        number,
        mmls_slot,
        offset,
        size,
        ..
    } = &layers[1]
    else {
        panic!("{:?}", layers[1]);
    };
    assert_eq!((scheme.as_str(), *number), ("gpt", 1));
    assert_eq!(mmls_slot.as_deref(), Some("000"));
    assert!(*offset > 0 && *size > 0);
    assert!(
        matches!(&layers[2], SpecLayer::FileSystem { kind, uuid: Some(_), .. } if kind == "ext4"),
        "{:?}",
        layers[2]
    );
    assert_eq!(
        v.spec.to_string(),
        "basic.disk.E01 (ewf) → GPT partition 1 (mmls slot 000) @ 1048576 → ext4 \"rootfs\""
    );
    let json = serde_json::to_value(&v.spec).unwrap();
    assert_eq!(json[1]["type"], "partition");
    assert_eq!(json[1]["number"], 1);
}

#[test]
fn lvm_disk_spec() {
    let Some(fx) = fixtures() else { return };
    if !common::is_root() || !have_tools(&["mke2fs", "sfdisk", "pvcreate", "losetup"]) {
        common::skip("the LVM disk needs root, e2fsprogs, fdisk and lvm2");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().display();
    run_tool(
        Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(format!(
                "mke2fs -q -t ext4 -L evlabel -U 01234567-89ab-cdef-0123-456789abcdef {r}/e.img 8M; \
                 {} {r}/e.img {r}/lvm.raw",
                fx.join("make-lvm-disk.sh").display()
            )),
    );
    let path = d.path().join("lvm.raw");
    let ev = Evidence::open(&path, &OpenOptions::default()).unwrap();
    assert_eq!(ev.volumes.len(), 1, "{:?}", ev.notes);
    let v = &ev.volumes[0];
    assert_eq!(v.label, "lvm vg0/docker (ext4)");
    let shown = path.display().to_string();
    assert_eq!(
        v.spec.layers(),
        [
            SpecLayer::DiskImage {
                path: shown.clone(),
                format: "raw".into(),
                segments: vec![shown],
                backing: Vec::new(),
            },
            SpecLayer::Partition {
                scheme: "mbr".into(),
                number: 1,
                mmls_slot: Some("000:000".into()),
                offset: 2048 * 512,
                size: std::fs::metadata(&path).unwrap().len() - 2048 * 512,
                type_name: Some("Linux LVM (0x8e)".into()),
                name: None,
            },
            SpecLayer::LogicalVolume {
                vg: "vg0".into(),
                lv: "docker".into()
            },
            SpecLayer::FileSystem {
                kind: "ext4".into(),
                uuid: Some("01234567-89ab-cdef-0123-456789abcdef".into()),
                label: Some("evlabel".into()),
            },
        ]
    );
    assert_eq!(
        v.spec.to_string(),
        "lvm.raw (raw) → MBR partition 1 (mmls slot 000:000) @ 1048576 → LVM vg0/docker → ext4 \"evlabel\""
    );
}

/// `report.json`, `images --json` and `verify --json` carry the chain as a
/// structured object, the same as the volume's spec, ending at the store.
#[test]
fn reports_carry_the_chain() {
    let Some(fx) = fixtures() else { return };
    let e01 = fx.join("basic.disk.E01");
    let ev = Evidence::open(&e01, &OpenOptions::default()).unwrap();
    let want = serde_json::to_value(
        ev.volumes[0]
            .spec
            .at(&EvPath::parse("var/lib/docker").unwrap()),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = common::run([
        std::path::Path::new("extract"),
        std::path::Path::new("--all"),
        &e01,
        out.path(),
        std::path::Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stdout.lines().next().expect("an image directory");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(first).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["source"], want);
    assert_eq!(report["source"]["spec"][1]["type"], "partition");
    assert_eq!(report["source"]["path"], "/var/lib/docker");
    let r = common::run([
        std::path::Path::new("images"),
        &e01,
        std::path::Path::new("--json"),
    ]);
    let rows = common::json_list(&r.stdout, "images");
    assert!(rows.iter().all(|row| row["source"] == want));
}

/// `report.json` records how the tool was run, and the `--verify-image`
/// verdict with the stored and computed hashes.
#[test]
fn reports_record_the_run_and_the_media_verdict() {
    let Some(fx) = fixtures() else { return };
    let e01 = fx.join("basic.disk.E01");
    let out = tempfile::tempdir().unwrap();
    let r = common::run([
        std::path::Path::new("--verify-image"),
        std::path::Path::new("fixture/web:1.0"),
        &e01,
        out.path(),
        std::path::Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = std::path::PathBuf::from(r.stdout.lines().next().unwrap());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let run = &report["run"];
    assert!(
        run["command_line"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--verify-image")
    );
    assert!(run["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(run["started"].as_str().unwrap().ends_with('Z'));
    assert!(
        report["tool"]
            .as_str()
            .unwrap()
            .starts_with("docker-forensics ")
    );
    assert!(report["finished"].as_str().unwrap().ends_with('Z'));
    let m = &run["media_verification"];
    assert_eq!(m["md5_matches"], true);
    assert_eq!(m["verdict"], "verified");
    assert_eq!(m["md5"], m["stored_md5"]);
    let want = std::fs::read_to_string(fx.join("basic.disk.raw.sha256")).unwrap();
    assert_eq!(
        m["sha256"].as_str().unwrap(),
        format!("sha256:{}", want.split_whitespace().next().unwrap())
    );
}
