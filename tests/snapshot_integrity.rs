//! Containers run from the unpacked snapshot, not from the blob: a
//! snapshot changed on a host whose blobs are intact must not verify
//! clean. Real containerd hosts (`ctrd-basic`, containerd 1.6; `moby29`,
//! containerd 2.1 under Docker's containerd image store), copied before
//! anything is changed.

mod common;

use common::*;
use docker_forensics::{Catalog, Evidence, OpenOptions, StoreFilter};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One layer's unpacked snapshot as the store found it.
#[derive(Debug, Clone)]
struct Snap {
    image_id: String,
    diff_id: String,
    key: String,
    /// The snapshot directory on the test's host tree.
    dir: PathBuf,
}

/// The snapshots of `image` (a name) in `store`, lowest layer first.
fn snapshots(host: &Path, store: &str, image: &str) -> Vec<Snap> {
    let ev = Evidence::open(host, &OpenOptions::default()).expect("open evidence");
    let catalog = Catalog::discover(&ev, None).expect("discover");
    let found = catalog
        .resolve(image, StoreFilter(Some(store)))
        .unwrap_or_else(|e| panic!("{image}: {e}"));
    found
        .image
        .layers
        .iter()
        .map(|l| {
            let u = l.unpacked.as_ref().expect("layer is unpacked");
            assert!(l.blob.as_ref().is_some_and(|b| b.present), "blob present");
            Snap {
                image_id: found.image.id.clone(),
                diff_id: l.diff_id.clone(),
                key: u.key.clone(),
                dir: host.join(String::from_utf8_lossy(u.dir.as_bytes()).as_ref()),
            }
        })
        .collect()
}

/// The first layer of `image` whose snapshot holds a regular file (and
/// that file's path inside the snapshot, with a leading `/`).
fn layer_with_file(snaps: &[Snap]) -> (Snap, String) {
    for s in snaps {
        if let Some(f) = first_file(&s.dir, &s.dir) {
            return (s.clone(), f);
        }
    }
    panic!("no snapshot holds a regular file: {snaps:?}");
}

fn first_file(root: &Path, dir: &Path) -> Option<String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().ok()?;
        let p = e.path();
        if ft.is_file() && std::fs::metadata(&p).ok()?.len() > 0 {
            let rel = p.strip_prefix(root).ok()?;
            return Some(format!("/{}", rel.display()));
        }
        if ft.is_dir()
            && let Some(f) = first_file(root, &p)
        {
            return Some(f);
        }
    }
    None
}

fn verify(host: &Path) -> (i32, Vec<Value>) {
    let r = run([
        "verify".as_ref(),
        "--json".as_ref(),
        "-q".as_ref(),
        host.as_os_str(),
    ]);
    let list = common::json_list(&r.stdout, "images");
    (r.code, list)
}

/// Every `snapshot_changed` finding of every layer: (image, layer, finding).
fn snapshot_findings(images: &[Value]) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for img in images {
        for l in img["layers"].as_array().unwrap() {
            for f in l["findings"].as_array().unwrap() {
                if f["kind"] == "snapshot_changed" {
                    out.push((
                        img["image_id"].as_str().unwrap().to_string(),
                        l.clone(),
                        f.clone(),
                    ));
                }
            }
        }
    }
    out
}

/// Verify exits 3 and names `path` in the layer `snap`, whose blob still
/// verifies; nothing else is reported as changed.
fn assert_named(host: &Path, snap: &Snap, path: &str, what: &str) {
    let (code, images) = verify(host);
    assert_eq!(code, 3, "{what}: exit status");
    let found = snapshot_findings(&images);
    assert!(!found.is_empty(), "{what}: no snapshot_changed finding");
    for (image, layer, f) in &found {
        assert_eq!(f["path"], path, "{what}: {f}");
        let detail = f["detail"].as_str().unwrap();
        assert!(detail.contains(&snap.diff_id), "{what}: {detail}");
        assert!(detail.contains(&snap.key), "{what}: {detail}");
        assert_eq!(layer["diff_id"], snap.diff_id.as_str(), "{what}");
        // The blob is intact: the layer tar still hashes to its diff_id.
        assert_eq!(layer["verified"], true, "{what}: {image} {layer}");
        assert!(
            layer["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["kind"] == "snapshot_changed"),
            "{what}: {layer}"
        );
    }
    let img = images
        .iter()
        .find(|i| i["image_id"] == snap.image_id.as_str())
        .unwrap();
    assert_eq!(img["verified"], false, "{what}");
}

fn assert_clean(fixture: &str) {
    let Some(host) = host(fixture) else { return };
    let (code, images) = verify(&host);
    assert!(!images.is_empty());
    assert_eq!(snapshot_findings(&images), [], "{fixture}");
    assert_eq!(code, 0, "{fixture}: {images:#?}");
    // The snapshots were compared, not skipped.
    let checked: u64 = images
        .iter()
        .flat_map(|i| i["layers"].as_array().unwrap())
        .map(|l| l["files_checked"].as_u64().unwrap())
        .sum();
    assert!(checked > 0, "{fixture}: no snapshot file compared");
}

#[test]
fn clean_ctrd_basic_snapshots_have_no_finding() {
    assert_clean("ctrd-basic");
}

#[test]
fn clean_moby29_snapshots_have_no_finding() {
    assert_clean("moby29");
}

/// The changes a test makes to a copy of a fixture, one at a time.
fn tamper(fixture: &str, store: &str, image: &str) {
    for what in ["content", "delete", "chmod", "add"] {
        let Some(copy) = host_copy(fixture) else {
            return;
        };
        let host = copy.path();
        let snaps = snapshots(host, store, image);
        let (snap, file) = layer_with_file(&snaps);
        let on_disk = snap.dir.join(file.trim_start_matches('/'));
        let path = match what {
            "content" => {
                let mut data = std::fs::read(&on_disk).unwrap();
                data[0] ^= 0x20;
                std::fs::write(&on_disk, data).unwrap();
                file.clone()
            }
            "delete" => {
                std::fs::remove_file(&on_disk).unwrap();
                file.clone()
            }
            "chmod" => {
                std::fs::set_permissions(&on_disk, std::fs::Permissions::from_mode(0o4777))
                    .unwrap();
                file.clone()
            }
            _ => {
                let dir = on_disk.parent().unwrap();
                std::fs::write(dir.join("implant.sh"), b"#!/bin/sh\n").unwrap();
                let parent = Path::new(&file).parent().unwrap().join("implant.sh");
                parent.display().to_string()
            }
        };
        assert_named(host, &snap, &path, &format!("{fixture} {what} {path}"));
    }
}

#[test]
fn changed_ctrd_basic_snapshot_is_named() {
    tamper(
        "ctrd-basic",
        "containerd/k8s.io",
        "registry.example.com/shop/web:2",
    );
}

#[test]
fn changed_moby29_snapshot_is_named() {
    tamper("moby29", "containerd/moby", "docker.io/fixture/web:1.0");
}

/// A whiteout the layer makes, removed from the snapshot: the deleted file
/// of the lower layer shows again in the container.
#[test]
fn removed_whiteout_is_named() {
    let Some(copy) = host_copy("moby29") else {
        return;
    };
    let host = copy.path();
    let snaps = snapshots(host, "containerd/moby", "docker.io/fixture/web:1.0");
    let mut done = None;
    for s in &snaps {
        let out = std::process::Command::new("find")
            .arg(&s.dir)
            .args(["-type", "c", "-print", "-quit"])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !line.is_empty() {
            let p = PathBuf::from(line);
            std::fs::remove_file(&p).unwrap();
            let rel = format!("/{}", p.strip_prefix(&s.dir).unwrap().display());
            done = Some((s.clone(), rel));
            break;
        }
    }
    let (snap, rel) = done.expect("a whiteout in some snapshot of fixture/web");
    assert_named(host, &snap, &rel, "removed whiteout");
}

/// `extract` of the changed image says so in `report.json`.
#[test]
fn extract_reports_a_changed_snapshot() {
    let Some(copy) = host_copy("ctrd-basic") else {
        return;
    };
    let host = copy.path();
    let image = "registry.example.com/shop/web:2";
    let snaps = snapshots(host, "containerd/k8s.io", image);
    let (snap, file) = layer_with_file(&snaps);
    let on_disk = snap.dir.join(file.trim_start_matches('/'));
    std::fs::write(&on_disk, b"changed after the pull\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        "extract".as_ref(),
        "-q".as_ref(),
        "--store".as_ref(),
        "containerd/k8s.io".as_ref(),
        image.as_ref(),
        host.as_os_str(),
        out.path().as_os_str(),
    ]);
    assert_eq!(r.code, 3, "stderr: {}", r.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(image_dir(out.path(), &snap.image_id).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["verified"], false);
    let layer = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["diff_id"] == snap.diff_id.as_str())
        .unwrap();
    assert_eq!(layer["verified"], true, "the blob is intact");
    let f = layer["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "snapshot_changed")
        .unwrap_or_else(|| panic!("{layer:#}"));
    assert_eq!(f["path"], file.as_str());
    assert!(f["detail"].as_str().unwrap().contains(&snap.key), "{f}");
}
