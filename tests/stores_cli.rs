//! containerd and containers/storage (Podman) through the command line,
//! against what containerd's and Podman's own tools answered.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn ctrd_images() -> Vec<(String, Value)> {
    let exp = expected("ctrd-basic");
    let mut v = Vec::new();
    for (ns, body) in exp["namespaces"].as_object().unwrap() {
        for img in body["images"].as_array().unwrap() {
            v.push((ns.clone(), img.clone()));
        }
    }
    v
}

fn check_ctrd(evidence: &Path) {
    let r = run([
        Path::new("images"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    for (ns, img) in ctrd_images() {
        let name = img["name"].as_str().unwrap();
        if name.starts_with("sha256:") {
            continue; // CRI's id-as-name: the id itself
        }
        let row = rows
            .iter()
            .find(|r| {
                r["store"] == format!("containerd/{ns}")
                    && r["tags"].as_array().unwrap().iter().any(|t| t == name)
            })
            .unwrap_or_else(|| panic!("{ns} {name} listed in {rows:?}"));
        assert_eq!(row["image_id"], img["config_digest"]);
        assert_eq!(row["unpacked"], img["unpacked"]);
    }
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        evidence,
        out.path(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (_, img) in ctrd_images() {
        let dir = image_dir(out.path(), img["config_digest"].as_str().unwrap());
        for (i, d) in img["diff_ids"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                sha256_file(&dir.join(format!("layer_{i}/layer.tar"))),
                d.as_str().unwrap().trim_start_matches("sha256:")
            );
        }
        let names: Vec<String> =
            tar::Archive::new(std::fs::File::open(dir.join("image.tar")).unwrap())
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect();
        for d in img["layer_digests"]
            .as_array()
            .unwrap()
            .iter()
            .chain([&img["manifest_digest"]])
        {
            let want = format!(
                "blobs/sha256/{}",
                d.as_str().unwrap().trim_start_matches("sha256:")
            );
            assert!(names.contains(&want), "{want} in {names:?}");
        }
    }
    // The pod container's changes: exactly the files containerd's differ lists.
    let r = run([
        Path::new("diff"),
        Path::new("web-0"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let changes = common::json_list(&r.stdout, "changes");
    let mut got: Vec<String> = changes
        .iter()
        .filter(|c| c["is_dir"] == false)
        .map(|c| {
            let p = c["path"].as_str().unwrap().trim_start_matches('/');
            if c["kind"] == "D" {
                let (dir, base) = p.rsplit_once('/').unwrap_or(("", p));
                if dir.is_empty() {
                    format!(".wh.{base}")
                } else {
                    format!("{dir}/.wh.{base}")
                }
            } else {
                p.to_string()
            }
        })
        .collect();
    got.sort();
    let exp = expected("ctrd-basic");
    let web0 = exp["namespaces"]["k8s.io"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "web-0")
        .unwrap();
    let want: Vec<String> = web0["changed_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    let r = run([
        Path::new("containers"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    let rows = common::json_list(&r.stdout, "containers");
    let c = rows
        .iter()
        .find(|c| c["container_id"] == "web-0")
        .expect("web-0 listed");
    assert_eq!(c["store"], "containerd/k8s.io");
    assert_eq!(c["labels"]["io.kubernetes.pod.name"], "web-0");
}

fn check_podman(evidence: &Path) {
    let exp = expected("podman-basic");
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        evidence,
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
        assert_eq!(rep["layers"][0]["method"], "tar-split");
    }
    for c in exp["containers"].as_array().unwrap() {
        let r = run([
            Path::new("diff"),
            Path::new(c["name"].as_str().unwrap()),
            evidence,
            Path::new("-q"),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort();
        let want: Vec<&str> = c["diff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{}", c["name"]);
    }
    let r = run([
        Path::new("containers"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    let rows = common::json_list(&r.stdout, "containers");
    for c in exp["containers"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| r["container_id"] == c["id"])
            .expect("listed");
        assert_eq!(row["store"], "podman");
        assert_eq!(row["name"], c["name"]);
        assert_eq!(row["state"], c["status"]);
    }
}

#[test]
fn containerd_store_from_the_host_tree() {
    let Some(host) = host("ctrd-basic") else {
        return;
    };
    check_ctrd(&host);
}

#[test]
fn containerd_store_from_the_e01() {
    let e01 = fixtures_dir().join("ctrd-basic.disk.E01");
    if !e01.exists() {
        return skip("ctrd-basic.disk.E01 not found");
    }
    check_ctrd(&e01);
}

#[test]
fn podman_store_from_the_host_tree() {
    let Some(host) = host("podman-basic") else {
        return;
    };
    check_podman(&host);
}

#[test]
fn podman_store_from_the_e01() {
    let e01 = fixtures_dir().join("podman-basic.disk.E01");
    if !e01.exists() {
        return skip("podman-basic.disk.E01 not found");
    }
    check_podman(&e01);
}

/// ctrd-basic's web:2 as containerd recorded it (k8s.io namespace).
fn web2() -> Value {
    expected("ctrd-basic")["namespaces"]["k8s.io"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "registry.example.com/shop/web:2")
        .unwrap()
        .clone()
}

fn web2_layer_blob(host: &Path, index: usize) -> PathBuf {
    let d = web2()["layer_digests"][index]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    host.join("var/lib/containerd/io.containerd.content.v1.content/blobs/sha256")
        .join(d)
}

#[test]
fn a_garbage_collected_blob_is_rebuilt_from_its_snapshot() {
    let Some(host) = host_copy("ctrd-basic") else {
        return;
    };
    std::fs::remove_file(web2_layer_blob(host.path(), 3)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("registry.example.com/shop/web:2"),
        host.path(),
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    let rep: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["layers"][3]["method"], "rebuilt");
    assert_eq!(rep["layers"][3]["findings"][0]["kind"], "blob_mismatch");
    assert_eq!(rep["layers"][2]["method"], "blob");
    assert_eq!(rep["derived_config"], true);
    // The rebuilt layer carries the opaque directory and whiteout markers.
    let r = run([Path::new("verify"), host.path(), Path::new("-q")]);
    assert_eq!(r.code, 3, "{}", r.stdout);
}

/// Where the content of the first non-empty regular file of a tar starts.
fn first_content_offset(tar: &[u8]) -> u64 {
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        if e.header().entry_type().is_file() && e.size() > 0 {
            return e.raw_file_position();
        }
    }
    panic!("no regular file with content in the layer");
}

/// The uncompressed layer blobs of ctrd-basic's web:2 are the layer tars
/// themselves, hashed once for both checks: a blob altered on the host
/// (one byte of a file's content; bytes appended after the tar's end)
/// must still fail its digest check AND its diff_id check, in `verify`
/// and in `extract`'s report.
#[test]
fn an_altered_uncompressed_blob_fails_both_checks() {
    for how in ["flip", "append"] {
        let Some(host) = host_copy("ctrd-basic") else {
            return;
        };
        let web = web2();
        // Uncompressed: the blob's digest is the diff_id.
        assert_eq!(web["layer_digests"][2], web["diff_ids"][2]);
        let blob = web2_layer_blob(host.path(), 2);
        let mut bytes = std::fs::read(&blob).unwrap();
        match how {
            "flip" => {
                let at = usize::try_from(first_content_offset(&bytes)).unwrap();
                bytes[at] ^= 0x01;
            }
            _ => bytes.extend_from_slice(&[0u8; 1024]),
        }
        std::fs::write(&blob, &bytes).unwrap();
        let diff_id = web["diff_ids"][2].as_str().unwrap();
        let kinds = |layer: &Value| -> Vec<String> {
            layer["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["kind"].as_str().unwrap().to_string())
                .collect()
        };
        let check = |layer: &Value, what: &str| {
            let k = kinds(layer);
            assert!(
                k.iter().any(|k| k == "blob_mismatch"),
                "{how} {what}: {layer:#}"
            );
            assert!(
                k.iter().any(|k| k == "diff_id_mismatch"),
                "{how} {what}: {layer:#}"
            );
            assert_eq!(layer["verified"], false, "{how} {what}");
        };
        // verify
        let r = run([
            Path::new("verify"),
            Path::new("--json"),
            Path::new("-q"),
            host.path(),
        ]);
        assert_eq!(r.code, 3, "{how}: {}", r.stderr);
        let images = common::json_list(&r.stdout, "images");
        let mut seen = 0;
        for img in &images {
            for l in img["layers"].as_array().unwrap() {
                if l["diff_id"] == diff_id && l["method"] == "blob" {
                    check(l, "verify");
                    seen += 1;
                }
            }
        }
        assert!(
            seen > 0,
            "{how}: layer {diff_id} not verified from its blob"
        );
        // extract
        let out = tempfile::tempdir().unwrap();
        let r = run([
            Path::new("extract"),
            Path::new("-q"),
            Path::new("--store"),
            Path::new("containerd/k8s.io"),
            Path::new("registry.example.com/shop/web:2"),
            host.path(),
            out.path(),
        ]);
        assert_eq!(r.code, 3, "{how}: {}", r.stderr);
        let dir = image_dir(out.path(), web["config_digest"].as_str().unwrap());
        let rep: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let layer = &rep["layers"][2];
        assert_eq!(layer["diff_id"], diff_id);
        assert_eq!(layer["method"], "blob");
        check(layer, "extract");
        assert_eq!(rep["verified"], false, "{how}");
    }
}

#[test]
fn bad_store_files_are_clear_errors() {
    let Some(host) = host_copy("ctrd-basic") else {
        return;
    };
    let meta = host
        .path()
        .join("var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db");
    let bytes = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &bytes[..bytes.len() / 3]).unwrap();
    let r = run([Path::new("images"), host.path()]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.contains("meta.db"), "{}", r.stderr);

    let Some(host) = host_copy("podman-basic") else {
        return;
    };
    let images = host
        .path()
        .join("var/lib/containers/storage/overlay-images/images.json");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
    let r = run([Path::new("images"), host.path()]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.contains("images.json"), "{}", r.stderr);
}

#[test]
fn export_container_and_timeline_cover_containerd_and_podman() {
    let Some(podman) = host("podman-basic") else {
        return;
    };
    let Some(ctrd) = host("ctrd-basic") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("export-container"),
        Path::new("builder-run"),
        &podman,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    let logs = std::fs::read_to_string(dir.join("logs.txt")).unwrap();
    assert!(logs.contains(" stdout "), "{logs}");
    let rep: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert!(rep["committed_image_id"].is_string());
    let names: Vec<String> =
        tar::Archive::new(std::fs::File::open(dir.join("changes.tar")).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
    assert!(
        names.contains(&"tmp/rev.sh".to_string())
            && names.contains(&"etc/app/.wh.app.env".to_string()),
        "{names:?}"
    );
    for line in std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
    {
        let (sha, name) = line.split_once("  ").unwrap();
        assert_eq!(sha256_file(&dir.join(name)), sha, "{name}");
    }
    let r = run([
        Path::new("export-container"),
        Path::new("web-0"),
        &ctrd,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        PathBuf::from(r.stdout.trim())
            .join("committed.tar")
            .exists()
    );

    let r = run([Path::new("timeline"), &ctrd, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("/tmp/miner.sh"))
        .expect("miner.sh listed");
    assert!(line.contains("containerd/k8s.io container web-0"), "{line}");
    let r = run([
        Path::new("timeline"),
        &podman,
        Path::new("--container"),
        Path::new("builder-run"),
        Path::new("-q"),
    ]);
    assert!(
        r.stdout.lines().any(|l| l.contains("/tmp/rev.sh")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.lines().all(|l| l.contains("builder-run")),
        "{}",
        r.stdout
    );
}
