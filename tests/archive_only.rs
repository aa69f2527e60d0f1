//! `extract --archive-only`: each layer is written once, inside
//! `image.tar`, and nowhere else; the archive is the one a normal extract
//! writes, byte for byte, also when a layer no longer matches its diff_id
//! (the archive is then written from layer files that are removed after).

mod common;

use common::daemon::Daemon;
use common::*;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Each member of `image.tar` named in its `manifest.json`'s `Layers`,
/// as the sha256 of its bytes, in order.
fn archive_layer_sha256s(tar_path: &Path) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut members: HashMap<String, String> = HashMap::new();
    let mut manifest = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            entry.read_to_end(&mut manifest).unwrap();
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.insert(name, hex::encode(Sha256::digest(&bytes)));
    }
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| members[l.as_str().unwrap()].clone())
        .collect()
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn has_layer_dirs(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("layer_")
    })
}

#[test]
fn every_layer_is_written_once_inside_image_tar() {
    let Some(host) = host("basic") else { return };
    let full = tempfile::tempdir().unwrap();
    let only = tempfile::tempdir().unwrap();
    assert_eq!(extract_all(&host, full.path()).code, 0);
    let r = extract_all_with(&host, only.path(), &["--archive-only"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let expected = expected("basic");
    let images = expected["images"].as_array().unwrap();
    let mut checked = 0;
    for image in images {
        let id = image["id"].as_str().unwrap();
        let dir = image_dir(only.path(), id);
        assert!(!has_layer_dirs(&dir), "{}: no layer_<i>/", dir.display());
        assert!(sums_check(&dir), "{}: SHA256SUMS", dir.display());
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        assert!(!sums.contains("layer.tar"), "{sums}");
        let tar = dir.join("image.tar");
        // The same archive a normal extract writes, byte for byte.
        assert_eq!(
            sha256_file(&tar),
            sha256_file(&image_dir(full.path(), id).join("image.tar")),
            "{id}"
        );
        // Its layers are the engine's own `docker save` layers.
        let saved: Vec<String> = image["saved_layer_sha256"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s.as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_string()
            })
            .collect();
        assert_eq!(archive_layer_sha256s(&tar), saved, "{id}");
        let rep = report(&dir);
        assert_eq!(rep["archive_only"], true);
        assert_eq!(rep["verified"], true);
        // Only the archive and the small files count as written.
        let written = rep["totals"]["bytes_written"].as_u64().unwrap();
        assert_eq!(written, std::fs::metadata(&tar).unwrap().len(), "{id}");
        checked += 1;
    }
    assert_eq!(checked, images.len());
    // The normal extract says nothing of it.
    let any = std::fs::read_dir(full.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(report(&any.path()).get("archive_only").is_none());
}

#[test]
fn a_changed_layer_still_gives_the_archive_and_no_layer_files() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (_, web) = image_config_path(host, "basic", "fixture/web:1.0");
    let (diff_ids, bytes) = tamper_hello(host);
    let out = tempfile::tempdir().unwrap();
    let r = run([
        "extract".as_ref(),
        "-q".as_ref(),
        "--archive-only".as_ref(),
        "fixture/web:1.0".as_ref(),
        host.as_os_str(),
        out.path().as_os_str(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let dir = image_dir(out.path(), &web);
    assert!(
        !has_layer_dirs(&dir),
        "the layer files made for image.tar are gone"
    );
    assert!(sums_check(&dir));
    let rep = report(&dir);
    assert_eq!(rep["derived_config"], true);
    assert_eq!(rep["verified"], false);
    // Layer 3 is in the archive as rebuilt, under its new hash; the
    // others are as the engine wrote them.
    let in_archive = archive_layer_sha256s(&dir.join("image.tar"));
    let layers = rep["layers"].as_array().unwrap();
    for (i, l) in layers.iter().enumerate() {
        let sha = l["sha256"].as_str().unwrap().trim_start_matches("sha256:");
        assert_eq!(in_archive[i], sha, "layer {i}");
        assert_eq!(l["verified"], i != 3, "layer {i}");
        assert_eq!(
            in_archive[i] == diff_ids[i].trim_start_matches("sha256:"),
            i != 3
        );
    }
    // The file as found is still saved beside the archive.
    assert_eq!(
        std::fs::read(dir.join("findings/layer_3/srv/app/hello.txt")).unwrap(),
        bytes
    );

    // A fresh engine loads it under the derived config's id.
    let Some(d) = Daemon::start() else { return };
    d.load(&dir.join("image.tar"));
    assert_eq!(
        d.image_id("fixture/web:1.0"),
        rep["archive_image_id"].as_str().unwrap()
    );
    let (ok, printed) = d.docker(&["run", "--rm", "--network=none", "fixture/web:1.0"]);
    assert!(ok, "{printed}");
    assert_eq!(printed.trim().as_bytes(), bytes.trim_ascii());
}

/// On every store kind (containerd blobs kept verbatim, Podman's
/// tar-split, Docker 29's containerd image store), `--archive-only`
/// gives the same directories and the same `image.tar`s as a normal
/// extract, without the layer files.
#[test]
fn every_store_gives_the_same_archives() {
    for fixture in ["ctrd-basic", "podman-basic", "moby29", "podman5"] {
        let Some(host) = host(fixture) else { continue };
        let full = tempfile::tempdir().unwrap();
        let only = tempfile::tempdir().unwrap();
        let normal = extract_all(&host, full.path());
        let r = extract_all_with(&host, only.path(), &["--archive-only"]);
        assert_eq!(r.code, normal.code, "{fixture}: {}", r.stderr);
        let mut dirs = 0;
        for d in std::fs::read_dir(full.path()).unwrap() {
            let name = d.unwrap().file_name();
            let (a, b) = (full.path().join(&name), only.path().join(&name));
            if !a.join("image.tar").exists() {
                continue; // a container's directory
            }
            assert!(!has_layer_dirs(&b), "{fixture}: {}", b.display());
            assert!(sums_check(&b), "{fixture}: {}", b.display());
            assert_eq!(
                sha256_file(&a.join("image.tar")),
                sha256_file(&b.join("image.tar")),
                "{fixture}: {}",
                name.to_string_lossy()
            );
            dirs += 1;
        }
        assert!(dirs > 0, "{fixture}: no image written");
    }
}
