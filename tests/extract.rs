//! `images`, `extract` and `verify` against the real dockerd fixtures:
//! every layer we write must hash to what `docker save` wrote.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn images_of(expected: &Value) -> &Vec<Value> {
    expected["images"].as_array().expect("images")
}

/// Every image of `fixture` extracted with `--all`: each layer tar equals
/// the one `docker save` wrote, each SHA256SUMS checks, exit status 0.
fn extract_all_matches_docker_save(fixture: &str) {
    let Some(host) = host(fixture) else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run(["extract", "--all", "-q"]
        .iter()
        .map(|s| s.as_ref())
        .chain([host.as_os_str(), out.path().as_os_str()]));
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let exp = expected(fixture);
    for img in images_of(&exp) {
        let id = img["id"].as_str().unwrap();
        let dir = image_dir(out.path(), id);
        assert!(
            r.stdout.contains(&dir.display().to_string()),
            "{id} listed on stdout"
        );
        for (i, want) in img["saved_layer_sha256"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let got = sha256_file(&dir.join(format!("layer_{i}/layer.tar")));
            assert_eq!(got, want.as_str().unwrap(), "{fixture} {id} layer {i}");
        }
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["verified"], true, "{id}");
        assert_eq!(report["image_id"], id);
        assert_eq!(report["archive_image_id"], id);
        assert_eq!(report["schema"], "docker-forensics/1");
        assert_eq!(report["data_root"]["path"], "/var/lib/docker");
        assert_eq!(report["data_root"]["driver"], "overlay2");
        check_sums(&dir);
    }
}

/// Every line of SHA256SUMS holds, and it lists every file written.
fn check_sums(dir: &Path) {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut listed = 0;
    for line in sums.lines() {
        let (sha, name) = line.split_once("  ").expect("sha256sum format");
        assert_eq!(sha256_file(&dir.join(name)), sha, "{name}");
        listed += 1;
    }
    let files = walk_files(dir).len();
    assert_eq!(listed + 1, files, "SHA256SUMS lists every other file");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn basic_every_layer_equals_docker_save() {
    extract_all_matches_docker_save("basic");
}

#[test]
fn peer_every_tar_dialect_equals_docker_save() {
    extract_all_matches_docker_save("peer");
}

#[test]
fn images_lists_every_image_with_its_tags() {
    let Some(host) = host("basic") else { return };
    let r = run([Path::new("images"), &host, Path::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    let exp = expected("basic");
    assert_eq!(rows.len(), images_of(&exp).len());
    for img in images_of(&exp) {
        let row = rows
            .iter()
            .find(|r| r["image_id"] == img["id"])
            .expect("image listed");
        assert_eq!(row["tags"], img["tags"], "{}", img["id"]);
        assert_eq!(
            row["layers"].as_u64().unwrap() as usize,
            img["diff_ids"].as_array().unwrap().len()
        );
        assert_eq!(row["store"], "docker");
        let kind = row["kind"].as_str().unwrap();
        assert_eq!(
            kind == "tagged",
            !img["tags"].as_array().unwrap().is_empty()
        );
    }
    // The table form shows the tags too.
    let r = run([Path::new("images"), &host]);
    assert!(
        r.stdout.contains("fixture/web:1.0,fixture/web:latest"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("default location"),
        "says which root and why: {}",
        r.stderr
    );
}

#[test]
fn verify_checks_every_layer() {
    let Some(host) = host("basic") else { return };
    let r = run([
        Path::new("verify"),
        &host,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = common::json_list(&r.stdout, "images");
    assert_eq!(v.len(), images_of(&expected("basic")).len());
    for img in &v {
        assert_eq!(img["verified"], true);
        for l in img["layers"].as_array().unwrap() {
            assert_eq!(
                l["sha256"].as_str().unwrap(),
                l["diff_id"].as_str().unwrap(),
                "every sha256 is sha256:<hex>"
            );
        }
    }
}

#[test]
fn names_resolve_as_docker_resolves_them() {
    let Some(host) = host("basic") else { return };
    let exp = expected("basic");
    let web = images_of(&exp)
        .iter()
        .find(|i| i["tags"][0] == "fixture/web:1.0")
        .unwrap();
    let id = web["id"].as_str().unwrap();
    let hex = id.trim_start_matches("sha256:");
    let base = images_of(&exp)
        .iter()
        .find(|i| i["tags"][0] == "fxbase:1")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    for (name, want) in [
        (hex[..12].to_string(), id),
        (hex.to_string(), id),
        (id.to_string(), id),
        ("fixture/web".to_string(), id),
        ("docker.io/fixture/web:1.0".to_string(), id),
        ("docker.io/library/fxbase:1".to_string(), base),
        (format!("fixture/web@{id}"), id),
    ] {
        let out = tempfile::tempdir().unwrap();
        let r = run([Path::new(&name), &host, out.path(), Path::new("-q")]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(
            image_dir(out.path(), want).join("image.tar").exists(),
            "{name}"
        );
    }
}

#[test]
fn archive_holds_oci_layout_and_docker_manifest() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("fixture/web:1.0"),
        &host,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let exp = expected("basic");
    let web = images_of(&exp)
        .iter()
        .find(|i| i["tags"][0] == "fixture/web:1.0")
        .unwrap();
    let dir = image_dir(out.path(), web["id"].as_str().unwrap());
    let mut ar = tar::Archive::new(std::fs::File::open(dir.join("image.tar")).unwrap());
    let mut names = Vec::new();
    let mut manifest = Value::Null;
    let mut index = Value::Null;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            manifest = serde_json::from_reader(&mut e).unwrap();
        } else if name == "index.json" {
            index = serde_json::from_reader(&mut e).unwrap();
        }
        names.push(name);
    }
    for must in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.iter().any(|n| n == must), "{must} in {names:?}");
    }
    let cfg_hex = web["id"].as_str().unwrap().trim_start_matches("sha256:");
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{cfg_hex}"));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["fixture/web:1.0", "fixture/web:latest"])
    );
    let layers: Vec<String> = web["saved_layer_sha256"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("blobs/sha256/{}", s.as_str().unwrap()))
        .collect();
    assert_eq!(manifest[0]["Layers"], serde_json::json!(layers));
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/fixture/web:1.0"
    );
    // The original config bytes are kept unchanged.
    assert_eq!(sha256_file(&dir.join("image_metadata.json")), cfg_hex);
}

#[test]
fn dockerfile_follows_history_in_order_and_fills_config() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("fixture/tool:2"),
        &host,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let exp = expected("basic");
    let tool = images_of(&exp)
        .iter()
        .find(|i| i["tags"][0] == "fixture/tool:2")
        .unwrap();
    let df = std::fs::read_to_string(
        image_dir(out.path(), tool["id"].as_str().unwrap()).join("Dockerfile"),
    )
    .unwrap();
    assert!(df.starts_with("# Reconstructed"), "{df}");
    // `docker history` lists newest first; the Dockerfile is oldest first.
    let mut pos = 0;
    for by in tool["history_created_by"].as_array().unwrap().iter().rev() {
        let by = by.as_str().unwrap();
        let key = if let Some(cmd) = by.strip_prefix("/bin/sh -c #(nop) ") {
            cmd.split_whitespace().next().unwrap().to_string()
        } else if let Some(cmd) = by.strip_prefix("/bin/sh -c ") {
            format!("RUN {}", cmd.lines().next().unwrap())
        } else {
            continue;
        };
        let at = df[pos..]
            .find(&key)
            .unwrap_or_else(|| panic!("{key} after byte {pos} in\n{df}"));
        pos += at + key.len();
    }
    assert!(df.contains("ENTRYPOINT [\"/bin/sh\",\"-c\"]"), "{df}");
    for (i, d) in tool["diff_ids"].as_array().unwrap().iter().enumerate() {
        assert!(
            df.contains(&format!("layer {i} {}", d.as_str().unwrap())),
            "layer {i} annotated"
        );
    }
    // fxbase:1 has a CMD only in its config (docker import -c).
    let out = tempfile::tempdir().unwrap();
    run([Path::new("fxbase:1"), &host, out.path(), Path::new("-q")]);
    let base = images_of(&exp)
        .iter()
        .find(|i| i["tags"][0] == "fxbase:1")
        .unwrap();
    let df = std::fs::read_to_string(
        image_dir(out.path(), base["id"].as_str().unwrap()).join("Dockerfile"),
    )
    .unwrap();
    assert!(
        df.contains("FROM scratch") && df.contains("CMD [\"/bin/sh\"]"),
        "{df}"
    );
}
