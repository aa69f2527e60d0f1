//! Every JSON document the tool writes follows one schema
//! (`docker-forensics/1`, documented in the README): an object whose first
//! member is `schema`, the same names for the same things (`image_id`,
//! `container_id`, `store`, `data_root: {volume, path, driver, reason}`),
//! every sha256 as `sha256:<hex>`, every time RFC 3339 UTC with `Z`, and
//! diff entries as objects. Checked on the documents of every command, for
//! Docker, containerd and Podman evidence.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Members holding a sha256 digest.
const DIGESTS: &[&str] = &[
    "sha256",
    "diff_id",
    "chain_id",
    "config_digest",
    "image_id",
    "archive_image_id",
    "archive_config_id",
    "changes_sha256",
    "export_sha256",
    "committed_image_id",
    "manifest_digest",
];

/// Members holding an instant.
const TIMES: &[&str] = &[
    "created",
    "started",
    "finished",
    "first_time",
    "last_time",
    "acquisition_date_utc",
];

/// Checks the raw text starts with `{"schema": "docker-forensics/1"`
/// and returns the parsed document.
fn document(text: &str, what: &str) -> Value {
    let compact: String = text.split_whitespace().collect();
    assert!(
        compact.starts_with("{\"schema\":\"docker-forensics/1\""),
        "{what}: schema is not the first member: {}",
        &text[..text.len().min(200)]
    );
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Walks a document and checks every member against the rules; returns
/// how many digests, times and data roots it checked.
fn check(v: &Value, path: &str, seen: &mut [usize; 3]) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{path}.{k}");
                assert_ne!(
                    k, "id",
                    "{here}: a bare `id` (say image_id or container_id)"
                );
                if let Some(s) = x.as_str()
                    && DIGESTS.contains(&k.as_str())
                    && !s.is_empty()
                {
                    assert!(
                        s.starts_with("sha256:") && s.len() == 71,
                        "{here}: {s:?} is not sha256:<64 hex>"
                    );
                    seen[0] += 1;
                }
                if let Some(s) = x.as_str()
                    && TIMES.contains(&k.as_str())
                {
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
                        "{here}: {s:?} is not RFC 3339 UTC"
                    );
                    seen[1] += 1;
                }
                if k == "data_root" {
                    for f in ["volume", "path", "driver", "reason"] {
                        assert!(x[f].is_string(), "{here}: no {f} in {x}");
                    }
                    seen[2] += 1;
                }
                if k == "diff" || k == "changes" {
                    for c in x.as_array().expect("a list of changes") {
                        assert!(
                            ["A", "C", "D"].contains(&c["kind"].as_str().unwrap_or("")),
                            "{here}: {c}"
                        );
                        assert!(c["path"].as_str().is_some_and(|p| p.starts_with('/')));
                    }
                }
                check(x, &here, seen);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check(x, &format!("{path}[{i}]"), seen);
            }
        }
        _ => {}
    }
}

fn listing(args: &[&Path], key: &str) -> Value {
    let r = run(args);
    assert!(r.code == 0 || r.code == 3, "{args:?}: {}", r.stderr);
    let doc = document(&r.stdout, &format!("{args:?}"));
    assert!(doc[key].is_array(), "{args:?}: no list {key}");
    assert!(
        doc["tool"]
            .as_str()
            .unwrap()
            .starts_with("docker-forensics "),
        "{doc}"
    );
    assert_eq!(doc["evidence"], args.last().unwrap().to_str().unwrap());
    doc
}

fn evidence(name: &str) -> Option<PathBuf> {
    let p = fixtures_dir().join(format!("{name}.disk.E01"));
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} not found", p.display()));
        None
    }
}

#[test]
fn every_listing_follows_the_schema() {
    let mut seen = [0usize; 3];
    for name in ["basic", "ctrd-basic", "podman5", "moby29"] {
        let Some(e01) = evidence(name) else { continue };
        let flag = Path::new("--json");
        for (cmd, key) in [
            ("images", "images"),
            ("verify", "images"),
            ("containers", "containers"),
        ] {
            let doc = listing(&[Path::new(cmd), flag, &e01], key);
            assert_eq!(doc["command"], cmd);
            check(&doc, &format!("{name} {cmd}"), &mut seen);
            if cmd == "containers" {
                for c in doc["containers"].as_array().unwrap() {
                    let id = c["container_id"].as_str().unwrap();
                    let d = listing(&[Path::new("diff"), flag, Path::new(id), &e01], "changes");
                    assert_eq!(d["container_id"], id);
                    assert_eq!(d["store"], c["store"]);
                    check(&d, &format!("{name} diff {id}"), &mut seen);
                }
            }
        }
    }
    assert!(seen.iter().all(|n| *n > 0), "nothing checked: {seen:?}");
}

#[test]
fn reports_follow_the_schema() {
    let Some(e01) = evidence("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        &e01,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        &e01,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut seen = [0usize; 3];
    let mut reports = 0;
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let p = entry.unwrap().path().join("report.json");
        let text = std::fs::read_to_string(&p).unwrap();
        let doc = document(&text, &p.display().to_string());
        check(&doc, &p.display().to_string(), &mut seen);
        assert!(doc["data_root"]["driver"] == "overlay2", "{}", p.display());
        if let Some(diff) = doc["diff"].as_array() {
            // The container's diff, as objects, equals what Docker said.
            let mut got: Vec<String> = diff
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["kind"].as_str().unwrap(),
                        c["path"].as_str().unwrap()
                    )
                })
                .collect();
            got.sort();
            let want = expected("basic")["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "evil-web")
                .unwrap()["diff"]
                .clone();
            let want: Vec<String> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want);
        }
        reports += 1;
    }
    assert_eq!(reports, 16, "15 images and one container");
    assert!(seen.iter().all(|n| *n > 0), "nothing checked: {seen:?}");
}
