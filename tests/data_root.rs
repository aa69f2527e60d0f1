//! Finding the data root the way dockerd would, and saying which and why.

mod common;

use common::*;
use std::path::Path;

fn move_root(host: &Path, to: &str) {
    let dest = host.join(to);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::rename(docker_root(host), &dest).unwrap();
}

fn images_stderr(host: &Path) -> (i32, String, String) {
    let r = run([Path::new("images"), host]);
    (r.code, r.stdout, r.stderr)
}

#[test]
fn daemon_json_data_root() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    move_root(host.path(), "srv/docker-data");
    std::fs::write(
        host.path().join("etc/docker/daemon.json"),
        br#"{"data-root": "/srv/docker-data"}"#,
    )
    .unwrap();
    let (code, out, err) = images_stderr(host.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("/srv/docker-data") && err.contains("daemon.json"),
        "{err}"
    );
    assert!(out.contains("fixture/tool:2"));
}

#[test]
fn systemd_drop_in_data_root() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    move_root(host.path(), "data/dk");
    let d = host.path().join("etc/systemd/system/docker.service.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --data-root=/data/dk\n",
    )
    .unwrap();
    let (code, _, err) = images_stderr(host.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("/data/dk") && err.contains("override.conf"),
        "{err}"
    );
}

#[test]
fn rootless_and_scanned_roots() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    move_root(host.path(), "home/alice/.local/share/docker");
    let (code, _, err) = images_stderr(host.path());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rootless Docker of user alice"), "{err}");

    let Some(host) = host_copy("basic") else {
        return;
    };
    move_root(host.path(), "opt/odd/place");
    let (code, _, err) = images_stderr(host.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("/opt/odd/place") && err.contains("scanning"),
        "{err}"
    );
}

#[test]
fn several_roots_are_all_listed_and_ambiguity_asks_for_docker_root() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    std::fs::create_dir_all(host.path().join("root/.local/share")).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(docker_root(host.path()))
        .arg(host.path().join("root/.local/share/docker"))
        .status();
    assert!(st.unwrap().success());
    let (code, out, err) = images_stderr(host.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("DATA ROOT"), "{out}");
    assert!(out.contains("/root/.local/share/docker"), "{out}");
    assert_eq!(out.matches("fixture/tool:2").count(), 2, "{out}");
    let o = tempfile::tempdir().unwrap();
    let r = run([Path::new("fixture/tool:2"), host.path(), o.path()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--docker-root"), "{}", r.stderr);
    let r = run([
        Path::new("fixture/tool:2"),
        host.path(),
        o.path(),
        Path::new("--docker-root"),
        Path::new("root/.local/share/docker"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::PathBuf::from(r.stdout.trim()).join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rep["data_root"]["path"], "/root/.local/share/docker");
    assert_eq!(rep["data_root"]["driver"], "overlay2");
}
