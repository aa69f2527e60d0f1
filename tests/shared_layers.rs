//! `extract --all` writes each distinct layer once: the layer tars of
//! images that share a layer are hard links to one file, counted once.

mod common;

use common::*;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;

#[test]
fn shared_layers_are_written_once_and_hard_linked() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = extract_all(&host, out.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut by_inode: HashMap<u64, Vec<String>> = HashMap::new();
    let mut diff_ids = BTreeSet::new();
    let mut tars = 0;
    let mut written = 0u64;
    for dir in std::fs::read_dir(out.path()).unwrap() {
        let dir = dir.unwrap().path();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["verified"], true);
        written += report["totals"]["bytes_written"].as_u64().unwrap();
        for l in report["layers"].as_array().unwrap() {
            let file = dir.join(format!("layer_{}/layer.tar", l["index"]));
            let meta = std::fs::metadata(&file).unwrap();
            by_inode
                .entry(meta.ino())
                .or_default()
                .push(l["diff_id"].as_str().unwrap().to_string());
            diff_ids.insert(l["diff_id"].as_str().unwrap().to_string());
            tars += 1;
            if let Some(first) = l["same_as"].as_str() {
                let first = std::fs::metadata(out.path().join(first)).unwrap();
                assert_eq!(first.ino(), meta.ino(), "a hard link of {first:?}");
            }
        }
        // Every file still checks, links included.
        assert!(sums_check(&dir));
    }
    assert!(tars > diff_ids.len(), "the fixture shares layers");
    assert_eq!(
        by_inode.len(),
        diff_ids.len(),
        "one file per distinct layer"
    );
    for ids in by_inode.values() {
        assert!(ids.iter().all(|d| d == &ids[0]), "one layer per file");
    }
    // Each distinct layer's bytes are counted once in the totals.
    let archives: u64 = std::fs::read_dir(out.path())
        .unwrap()
        .map(|d| {
            std::fs::metadata(d.unwrap().path().join("image.tar"))
                .unwrap()
                .len()
        })
        .sum();
    let layer_bytes: u64 = {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        for dir in std::fs::read_dir(out.path()).unwrap() {
            for e in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("layer_")
                {
                    let m = std::fs::metadata(p.join("layer.tar")).unwrap();
                    if seen.insert(m.ino()) {
                        total += m.len();
                    }
                }
            }
        }
        total
    };
    assert_eq!(written, archives + layer_bytes);
}

#[test]
fn tagged_limits_all_to_tagged_and_used_images() {
    let Some(host) = host("basic") else { return };
    let exp = expected("basic");
    let images = exp["images"].as_array().unwrap();
    let used: Vec<&str> = exp["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    let want = images
        .iter()
        .filter(|i| {
            !i["tags"].as_array().unwrap().is_empty() || used.contains(&i["id"].as_str().unwrap())
        })
        .count();
    assert!(want < images.len(), "the fixture has untagged images");
    let out = tempfile::tempdir().unwrap();
    let r = run([
        std::path::Path::new("extract"),
        std::path::Path::new("--all"),
        std::path::Path::new("--tagged"),
        &host,
        out.path(),
        std::path::Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), want, "{}", r.stdout);
}

/// A changed file in a layer several images share is said once by
/// `verify`, with the images it affects; each further image points back.
#[test]
fn a_finding_on_a_shared_layer_is_said_once() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    // The lowest layer of fixture/web:1.0, which its build parents share.
    let (cfg, _) = image_config_path(host, "basic", "fixture/web:1.0");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg).unwrap()).unwrap();
    let first = config["rootfs"]["diff_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let entry = docker_root(host).join(format!(
        "image/overlay2/layerdb/sha256/{}",
        first.trim_start_matches("sha256:")
    ));
    let cache = std::fs::read_to_string(entry.join("cache-id")).unwrap();
    let diff = docker_root(host).join(format!("overlay2/{}/diff", cache.trim()));
    // Change the first regular file found, keeping its size.
    let victim = files_under(&diff)
        .into_iter()
        .find(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            m.is_file() && m.len() > 0
        })
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let rel = victim.strip_prefix(&diff).unwrap().display().to_string();

    let r = run([std::path::Path::new("verify"), host]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let said: Vec<&str> = r.stdout.lines().filter(|l| l.contains(&rel)).collect();
    assert_eq!(said.len(), 1, "said once: {}", r.stdout);
    assert!(r.stdout.contains("shared by"), "{}", r.stdout);
    assert!(r.stdout.contains("said above"), "{}", r.stdout);
    assert!(
        r.stderr.lines().any(|l| l.starts_with("summary: ")),
        "{}",
        r.stderr
    );
}
