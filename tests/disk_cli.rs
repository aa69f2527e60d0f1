//! The command line on the disk image itself: the same answers as on the
//! mounted tree, without mounting anything.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn e01() -> PathBuf {
    fixtures_dir().join("basic.disk.E01")
}

#[test]
fn images_and_extract_from_the_e01_match_docker() {
    let exp = expected("basic");
    let r = run([
        Path::new("images"),
        &e01(),
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    let mut got: Vec<(String, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["image_id"].as_str().unwrap().to_string(),
                r["tags"].clone(),
            )
        })
        .collect();
    let mut want: Vec<(String, Value)> = exp["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i["tags"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| {
        r["data_root"]["volume"] == "partition 1 (ext4)"
            && r["data_root"]["path"] == "/var/lib/docker"
            && r["data_root"]["driver"] == "overlay2"
    }));

    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        &e01(),
        out.path(),
    ]);
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
                want.as_str().unwrap()
            );
        }
        let rep: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(rep["schema"], "docker-forensics/1");
        assert_eq!(rep["data_root"]["volume"], "partition 1 (ext4)");
        assert_eq!(rep["acquisition"]["case_number"], "case-fixture");
    }
}

#[test]
fn verify_containers_and_diff_from_the_e01() {
    let r = run([Path::new("verify"), &e01(), Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK")).count(),
        expected("basic")["images"].as_array().unwrap().len()
    );
    let r = run([
        Path::new("diff"),
        Path::new("evil-web"),
        &e01(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    let exp = expected("basic");
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
    assert_eq!(got, want);
}

#[test]
fn verify_image_checks_the_stored_hash() {
    let r = run([Path::new("images"), &e01(), Path::new("--verify-image")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("MD5") && r.stderr.contains("matches the stored hash"),
        "{}",
        r.stderr
    );
    let raw_sha = std::fs::read_to_string(fixtures_dir().join("basic.disk.raw.sha256")).unwrap();
    assert!(
        r.stderr.contains(raw_sha.trim()),
        "media sha256 shown: {}",
        r.stderr
    );
    // A directory is no disk image: said, not an error.
    if let Some(host) = host("basic") {
        let r = run([Path::new("images"), &host, Path::new("--verify-image")]);
        assert_eq!(r.code, 0);
        assert!(r.stderr.contains("not a disk image"), "{}", r.stderr);
    }
}

#[test]
fn partition_choice_and_bad_partition() {
    let r = run([
        Path::new("images"),
        &e01(),
        Path::new("--partition"),
        Path::new("1"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        Path::new("images"),
        &e01(),
        Path::new("--partition"),
        Path::new("7"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(
        r.stderr.lines().filter(|l| l.contains("error")).count(),
        1,
        "{}",
        r.stderr
    );
}

/// `--partition` takes a partition as The Sleuth Kit's `mmls` prints it
/// (Slot column, or the Start sector) as well as fdisk's number; an
/// unknown one lists those there are, once. Checked against what `mmls`
/// itself prints for the E01.
#[test]
fn partitions_are_named_as_mmls_prints_them() {
    if !common::disk::have_tools(&["mmls"]) {
        return;
    }
    let out = std::process::Command::new("mmls")
        .arg(e01())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // `004:  000       0000002048   0000151518   0000149471   rootfs`
    let (slot, start) = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5 && f[1].bytes().all(|b| b.is_ascii_digit() || b == b':'))
                .then(|| (f[1].to_string(), f[2].trim_start_matches('0').to_string()))
        })
        .next()
        .unwrap_or_else(|| panic!("no allocated partition in mmls output:\n{text}"));
    let images = |part: &str| {
        run([
            Path::new("images"),
            &e01(),
            Path::new("--partition"),
            Path::new(part),
            Path::new("-q"),
        ])
    };
    let by_number = images("1");
    assert_eq!(by_number.code, 0, "{}", by_number.stderr);
    for form in [slot.clone(), format!("@{start}")] {
        let r = images(&form);
        assert_eq!(r.code, 0, "{form}: {}", r.stderr);
        assert_eq!(r.stdout, by_number.stdout, "{form}");
    }
    // A slot or sector that is no partition: one error line that names
    // the partition there is, as mmls shows it.
    for bad in ["005", "@2047", "9"] {
        let r = images(bad);
        assert_eq!(r.code, 1, "{bad}: {}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{bad}: {}", r.stderr);
        assert!(
            lines[0].contains(&format!("mmls slot {slot}"))
                && lines[0].contains(&format!("sector {start}")),
            "{bad}: {}",
            r.stderr
        );
    }
    // Not a partition name at all: a usage error.
    assert_eq!(images("0x1").code, 2);
}
