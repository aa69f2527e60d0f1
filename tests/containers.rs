//! `containers`, `diff`, `export-container` and `timeline` against the
//! real dockerd fixture and its oracle (`docker inspect`, `docker diff`).

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn expected_container(name: &str) -> Value {
    expected("basic")["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

#[test]
fn containers_lists_both_with_state_and_env() {
    let Some(host) = host("basic") else { return };
    let r = run([Path::new("containers"), &host, Path::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "containers");
    assert_eq!(
        rows.len(),
        expected("basic")["containers"].as_array().unwrap().len()
    );
    for name in ["evil-web", "idle"] {
        let want = expected_container(name);
        let got = rows.iter().find(|c| c["name"] == name).expect(name);
        assert_eq!(got["container_id"], want["id"]);
        assert_eq!(got["image_id"], want["image"]);
        assert_eq!(got["state"], want["status"]);
        assert_eq!(got["exit_code"], want["exit_code"]);
        if !want["env"].is_null() {
            assert_eq!(got["env"], want["env"]);
        }
    }
    let evil = rows.iter().find(|c| c["name"] == "evil-web").unwrap();
    assert!(
        evil["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("SECRET_TOKEN="))
    );
    assert_eq!(evil["image_ref"], "fixture/web:1.0");
    assert_eq!(evil["network_mode"], "none");
    assert!(evil["started"].is_string() && evil["finished"].is_string());
    let table = run([Path::new("containers"), &host]);
    assert!(
        table.stdout.contains("evil-web") && table.stdout.contains("created"),
        "{}",
        table.stdout
    );
}

#[test]
fn diff_equals_docker_diff() {
    let Some(host) = host("basic") else { return };
    let evil = expected_container("evil-web");
    for name in [
        "evil-web",
        "/evil-web",
        &expected_container("evil-web")["id"].as_str().unwrap()[..10],
    ] {
        let r = run([Path::new("diff"), Path::new(name), &host, Path::new("-q")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort();
        let want: Vec<&str> = evil["diff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    // A created container has an empty diff, not an error.
    let r = run([Path::new("diff"), Path::new("idle"), &host]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
}

#[test]
fn export_container_writes_changes_logs_and_committed_image() {
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
    let id = expected_container("evil-web")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = out.path().join(format!("container_{}", &id[..12]));
    assert_eq!(r.stdout.trim(), dir.display().to_string());
    let logs = std::fs::read_to_string(dir.join("logs.txt")).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines.len() as u64,
        expected_container("evil-web")["log_lines"]
            .as_u64()
            .unwrap()
    );
    assert!(
        lines[0].ends_with(" stdout started") && lines[0].starts_with("2026-"),
        "{logs}"
    );
    assert!(lines[1].ends_with(" stdout done"), "{logs}");
    let names: Vec<String> =
        tar::Archive::new(std::fs::File::open(dir.join("changes.tar")).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
    assert!(names.contains(&"tmp/dropper.sh".to_string()), "{names:?}");
    assert!(
        names.contains(&"srv/app/.wh.hello.txt".to_string()),
        "{names:?}"
    );
    for f in [
        "config.v2.json",
        "hostconfig.json",
        "committed.tar",
        "report.json",
        "SHA256SUMS",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let (sha, name) = line.split_once("  ").unwrap();
        assert_eq!(sha256_file(&dir.join(name)), sha, "{name}");
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(
        report["changes_sha256"].as_str().unwrap(),
        format!("sha256:{}", sha256_file(&dir.join("changes.tar")))
    );
    // The config as found, byte for byte.
    let cfg = docker_root(&host).join(format!("containers/{id}/config.v2.json"));
    assert_eq!(
        std::fs::read(cfg).unwrap(),
        std::fs::read(dir.join("config.v2.json")).unwrap()
    );
}

#[test]
fn timeline_bodyfile_is_read_by_mactime_and_csv_is_sorted() {
    let Some(host) = host("basic") else { return };
    let r = run([Path::new("timeline"), &host, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dropper = r
        .stdout
        .lines()
        .find(|l| l.contains("/tmp/dropper.sh"))
        .expect("dropper.sh listed");
    assert!(dropper.contains("evil-web"), "{dropper}");
    assert_eq!(dropper.split('|').count(), 11, "TSK 3 body file: {dropper}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("container ") && l.contains(" started")),
        "events present"
    );
    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), &r.stdout).unwrap();
    match std::process::Command::new("mactime")
        .arg("-b")
        .arg(body.path())
        .arg("-d")
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("[container evil-web] /tmp/dropper.sh")
            );
        }
        Err(_) => skip("mactime (sleuthkit) not installed"),
    }
    let r = run([
        Path::new("timeline"),
        &host,
        Path::new("--format"),
        Path::new("csv"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time,macb,source,path,size,mode,uid,gid,inode,detail"
    );
    let times: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert!(times.len() > 100);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by time");
    // Filters.
    let r = run([
        Path::new("timeline"),
        &host,
        Path::new("--container"),
        Path::new("evil-web"),
        Path::new("-q"),
    ]);
    assert!(
        r.stdout.lines().all(|l| l.contains("container evil-web")),
        "{}",
        r.stdout
    );
    let r = run([
        Path::new("timeline"),
        &host,
        Path::new("--image"),
        Path::new("fxbase:1"),
        Path::new("-q"),
    ]);
    assert!(!r.stdout.contains("evil-web") && r.stdout.contains("/bin/busybox"));
}

#[test]
fn bad_container_inputs() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    let r = run([Path::new("diff"), Path::new("nosuch"), h]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no such") && r.stderr.contains("evil-web"),
        "lists candidates: {}",
        r.stderr
    );
    // Two ids sharing a prefix are ambiguous.
    let idle = expected_container("idle")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let twin = format!("{}0", &idle[..63]);
    let cdir = docker_root(h).join("containers");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(cdir.join(&idle))
        .arg(cdir.join(&twin))
        .status()
        .unwrap();
    assert!(st.success());
    let r = run([Path::new("diff"), Path::new(&idle[..8]), h]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("ambiguous"), "{}", r.stderr);
    std::fs::remove_dir_all(cdir.join(&twin)).unwrap();

    // Broken log lines are counted and skipped, the rest still rendered.
    let evil = expected_container("evil-web")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let log = cdir.join(&evil).join(format!("{evil}-json.log"));
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"log\":\"trunc\n");
    std::fs::write(&log, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        h,
        out.path(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("1 log line(s) could not be parsed"),
        "{}",
        r.stderr
    );
    let logs = std::fs::read_to_string(
        out.path()
            .join(format!("container_{}/logs.txt", &evil[..12])),
    )
    .unwrap();
    assert_eq!(logs.lines().count(), 2);

    // Writable layer gone: diff fails clearly.
    let mount = docker_root(h).join(format!("image/overlay2/layerdb/mounts/{evil}/mount-id"));
    let mount_id = std::fs::read_to_string(&mount).unwrap();
    let upper = docker_root(h)
        .join("overlay2")
        .join(mount_id.trim())
        .join("diff");
    std::fs::rename(&upper, upper.with_extension("gone")).unwrap();
    let r = run([Path::new("diff"), Path::new("evil-web"), h]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("writable layer") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(&mount).unwrap();
    let r = run([Path::new("diff"), Path::new("evil-web"), h]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("mount-id"), "{}", r.stderr);

    // Corrupt config.v2.json: a clear error for that container; the list goes on.
    std::fs::write(cdir.join(&evil).join("config.v2.json"), b"{\"State\":").unwrap();
    let r = run([Path::new("diff"), Path::new("evil-web"), h]);
    assert_eq!(r.code, 1);
    let r = run([Path::new("containers"), h]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("corrupt JSON") && r.stdout.contains("idle"),
        "{} {}",
        r.stderr,
        r.stdout
    );
}
