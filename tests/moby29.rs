//! Docker 29's layout (containerd image store, namespace `moby`; BuildKit
//! images as an index with an attestation manifest) against what the
//! engine itself answered (`moby29.expected.json`): image ids as `docker
//! images` showed them, layers, the archive's graph, build provenance.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn expected_images() -> Vec<Value> {
    expected("moby29")["images"].as_array().unwrap().clone()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `docker.io/library/fxbase:1` → `fxbase:1`, as `docker images` shows it.
fn familiar(name: &str) -> String {
    let n = name.strip_prefix("docker.io/").unwrap_or(name);
    n.strip_prefix("library/").unwrap_or(n).to_string()
}

fn tar_members(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(archive).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

#[test]
fn images_shows_the_ids_docker_showed() {
    let Some(host) = host("moby29") else { return };
    // The host tree, and the same host as a partitioned EnCase image.
    let disk = fixtures_dir().join("moby29.disk.E01");
    for evidence in [host.as_path(), disk.as_path()] {
        images_of(evidence);
    }
}

fn images_of(evidence: &Path) {
    let r = run([Path::new("images"), Path::new("--json"), evidence]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    let images = expected_images();
    assert_eq!(rows.len(), images.len(), "{rows:#?}");
    for img in &images {
        let id = img["id"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r["image_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed in {rows:#?}"));
        assert_eq!(row["store"], "containerd/moby");
        assert_eq!(
            row["config_digest"].as_str().unwrap(),
            format!("sha256:{}", img["config_sha256"].as_str().unwrap())
        );
        let tags: BTreeSet<String> = strs(&row["tags"]).iter().map(|t| familiar(t)).collect();
        let want: BTreeSet<String> = strs(&img["tags"]).into_iter().collect();
        assert_eq!(tags, want, "{id}");
        assert_eq!(want.is_empty(), img["dangling"].as_bool().unwrap());
    }
}

#[test]
fn every_id_form_resolves_to_the_same_image() {
    let Some(host) = host("moby29") else { return };
    let out = tempfile::tempdir().unwrap();
    for img in expected_images() {
        let id = img["id"].as_str().unwrap();
        let config = format!("sha256:{}", img["config_sha256"].as_str().unwrap());
        let mut forms = vec![
            id.to_string(),
            id.trim_start_matches("sha256:")[..12].to_string(),
            config.clone(),
            config.trim_start_matches("sha256:")[..12].to_string(),
        ];
        forms.extend(strs(&img["tags"]));
        for form in forms {
            let r = run([
                Path::new("extract"),
                Path::new("--force"),
                Path::new("-q"),
                Path::new(&form),
                &host,
                out.path(),
            ]);
            assert_eq!(r.code, 0, "{form}: {}", r.stderr);
            assert_eq!(
                Path::new(r.stdout.trim()),
                image_dir(out.path(), id),
                "{form}"
            );
        }
    }
}

#[test]
fn extract_all_keeps_each_image_graph_and_identity() {
    let Some(host) = host("moby29") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        &host,
        out.path(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for img in expected_images() {
        let id = img["id"].as_str().unwrap();
        let dir = image_dir(out.path(), id);
        for (i, want) in strs(&img["saved_layer_uncompressed_sha256"])
            .iter()
            .enumerate()
        {
            assert_eq!(
                &sha256_file(&dir.join(format!("layer_{i}/layer.tar"))),
                want,
                "{id} layer {i}"
            );
        }
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["image_id"], id);
        assert_eq!(report["archive_image_id"], id);
        assert_eq!(report["verified"], true, "{id}: {}", report["findings"]);
        let config = format!("sha256:{}", img["config_sha256"].as_str().unwrap());
        assert_eq!(report["config_digest"], config.as_str());
        assert_eq!(report["archive_config_id"], config.as_str());

        // The archive holds the descriptor's blob, every blob Docker's own
        // `docker save` wrote, and index.json points at the descriptor.
        let members = tar_members(&dir.join("image.tar"));
        let names: BTreeSet<String> = members
            .iter()
            .map(|(n, _)| n.trim_end_matches('/').to_string())
            .collect();
        let desc = &img["descriptor"];
        let desc_hex = desc["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let (_, desc_blob) = members
            .iter()
            .find(|(n, _)| *n == format!("blobs/sha256/{desc_hex}"))
            .unwrap_or_else(|| panic!("{id}: descriptor blob missing from {names:?}"));
        assert_eq!(desc_blob.len() as u64, desc["size"].as_u64().unwrap());
        for m in strs(&img["save"]["members"]) {
            assert!(names.contains(m.trim_end_matches('/')), "{id}: {m} missing");
        }
        let index: Value =
            serde_json::from_slice(&members.iter().find(|(n, _)| n == "index.json").unwrap().1)
                .unwrap();
        for d in index["manifests"].as_array().unwrap() {
            assert_eq!(d["digest"], desc["digest"], "{id}");
            assert_eq!(d["mediaType"], desc["mediaType"], "{id}");
            assert_eq!(d["size"], desc["size"], "{id}");
        }
        // manifest.json still names the config and the layers.
        let manifest: Value = serde_json::from_slice(
            &members
                .iter()
                .find(|(n, _)| n == "manifest.json")
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(
            manifest[0]["Config"],
            format!("blobs/sha256/{}", img["config_sha256"].as_str().unwrap())
        );
        assert_eq!(
            manifest[0]["Layers"].as_array().unwrap().len(),
            strs(&img["diff_ids"]).len()
        );
    }
}

#[test]
fn buildkit_images_report_their_provenance() {
    let Some(host) = host("moby29") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        &host,
        out.path(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut with_provenance = 0;
    for img in expected_images() {
        let id = img["id"].as_str().unwrap();
        let dir = image_dir(out.path(), id);
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let attestations = img["save"]["attestations"].as_array().unwrap();
        let p = &report["provenance"];
        if attestations.is_empty() {
            assert!(p.is_null(), "{id}: {p}");
            continue;
        }
        with_provenance += 1;
        let att = &attestations[0];
        assert_eq!(p["attestation_manifest"], att["digest"], "{id}");
        assert_eq!(p["refers_to"], att["refers_to"], "{id}");
        assert_eq!(p["statement"], att["layers"][0]["digest"], "{id}");
        assert_eq!(p["predicate_type"], att["layers"][0]["predicateType"]);
        for key in [
            "builder_id",
            "frontend",
            "build_args",
            "materials",
            "source",
        ] {
            assert!(p.get(key).is_some(), "{id}: no {key} in {p}");
        }
        assert_eq!(p["frontend"], "dockerfile.v0", "{id}");
        // Every material (the base image) is an image Docker had, named by
        // the id Docker showed for it.
        let ids: Vec<String> = expected_images()
            .iter()
            .map(|i| {
                i["id"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:")
                    .to_string()
            })
            .collect();
        let materials = p["materials"].as_array().unwrap();
        assert!(!materials.is_empty(), "{id}");
        for m in materials {
            let hex = m["digest"]["sha256"].as_str().unwrap_or_default();
            assert!(ids.iter().any(|i| i == hex), "{id}: material {m}");
        }
        // BuildKit's default (mode=min) records no Dockerfile: none is
        // invented.
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        assert_eq!(
            dir.join("Dockerfile.recorded").exists(),
            !p["dockerfile"].is_null()
        );
        assert_eq!(
            sums.contains("Dockerfile.recorded"),
            !p["dockerfile"].is_null()
        );
    }
    let want = expected_images()
        .iter()
        .filter(|i| !i["save"]["attestations"].as_array().unwrap().is_empty())
        .count();
    assert!(want > 0);
    assert_eq!(with_provenance, want);
}

/// A writable copy of the fixture host whose `fixture/web` provenance
/// statement is replaced by `statement`; returns the host and the image.
fn with_statement(statement: &[u8]) -> Option<(tempfile::TempDir, Value)> {
    let host = host_copy("moby29")?;
    let web = expected_images()
        .into_iter()
        .find(|i| strs(&i["tags"]).contains(&"fixture/web:1.0".to_string()))
        .unwrap();
    let digest = web["save"]["attestations"][0]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = host.path().join(format!(
        "var/lib/containerd/io.containerd.content.v1.content/blobs/sha256/{digest}"
    ));
    assert!(blob.exists(), "{}", blob.display());
    std::fs::write(&blob, statement).unwrap();
    Some((host, web))
}

fn extract_web(host: &Path, out: &Path) -> (Run, Value, std::path::PathBuf) {
    let r = run([
        Path::new("extract"),
        Path::new("-q"),
        Path::new("fixture/web:1.0"),
        host,
        out,
    ]);
    let dir = std::path::PathBuf::from(r.stdout.trim());
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    (r, report, dir)
}

#[test]
fn a_recorded_dockerfile_is_written_beside_the_reconstructed_one() {
    use base64::Engine;
    let dockerfile = "FROM fxbase:1\nCOPY hello.txt /srv/app/hello.txt\n";
    // What BuildKit writes with mode=max (SLSA provenance v0.2).
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [],
        "predicate": {
            "builder": {"id": "https://ci.example.org/run/7"},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "materials": [{"uri": "pkg:docker/fxbase@1", "digest": {"sha256": "00"}}],
            "invocation": {
                "configSource": {"entryPoint": "Dockerfile"},
                "parameters": {"frontend": "dockerfile.v0", "args": {"build-arg:VERSION": "7"}}
            },
            "metadata": {"https://mobyproject.org/buildkit@v1#metadata": {
                "vcs": {"source": "https://git.example.org/web.git", "revision": "abc123"},
                "source": {"infos": [{"filename": "Dockerfile", "language": "Dockerfile",
                    "data": base64::engine::general_purpose::STANDARD.encode(dockerfile)}]}
            }}
        }
    });
    let Some((host, _)) = with_statement(&serde_json::to_vec(&statement).unwrap()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (r, report, dir) = extract_web(host.path(), out.path());
    // The statement no longer hashes to its digest: said, not fatal.
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "blob_mismatch"),
        "{}",
        report["findings"]
    );
    let p = &report["provenance"];
    assert_eq!(p["builder_id"], "https://ci.example.org/run/7");
    assert_eq!(p["build_args"]["build-arg:VERSION"], "7");
    assert_eq!(p["source"]["vcs"]["revision"], "abc123");
    let recorded = std::fs::read(dir.join("Dockerfile.recorded")).unwrap();
    assert_eq!(recorded, dockerfile.as_bytes());
    assert_eq!(
        p["dockerfile"]["sha256"],
        format!("sha256:{}", sha256_file(&dir.join("Dockerfile.recorded")))
    );
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(
        sums.lines().any(|l| l.ends_with("Dockerfile.recorded")
            && l.starts_with(&p["dockerfile"]["sha256"].as_str().unwrap()[7..])),
        "{sums}"
    );
    assert!(dir.join("Dockerfile").exists());
}

#[test]
fn hostile_statements_are_bounded() {
    // Over the 16 MiB bound: not read at all.
    let Some((host, _)) = with_statement(&vec![b'['; (16 << 20) + 1]) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (r, report, _) = extract_web(host.path(), out.path());
    assert_eq!(r.code, 3, "{}", r.stderr);
    let findings = report["findings"].to_string();
    assert!(findings.contains("bound"), "{findings}");
    assert!(
        !report["provenance"]["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Small but nested beyond any sense: refused before parsing.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let Some((host, _)) = with_statement(deep.as_bytes()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (r, report, _) = extract_web(host.path(), out.path());
    assert_eq!(r.code, 3, "{}", r.stderr);
    let problems = report["provenance"]["problems"].to_string();
    assert!(problems.contains("nested"), "{problems}");
}
