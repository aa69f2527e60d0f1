//! The real-engine check for Docker 29 hosts: every image of the moby29
//! fixture, extracted, is `docker load`ed by
//!
//! - a fresh dockerd 28.5 with the containerd image store (what Docker 29
//!   runs by default), from the Debian sid chroot `tests/sid-dockerd.sh`
//!   drives (`../shared/fixtures/sidroot-lib.sh`), on fresh, empty data
//!   roots for each archive: it must report the id `docker images` showed
//!   on the seized host (the index or manifest digest);
//! - a fresh dockerd 20.10 of the host's (Docker's own image store): it
//!   must report the config digest.
//!
//! Without the chroot (`.ci/run` prepares it) or a dockerd, the test says
//! so loudly ([`common::skip`]; a failure under CI).

mod common;

use common::daemon::Daemon;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One image of the fixture: id Docker showed, config digest, tags, its
/// extracted `image.tar`.
type Extracted = (String, String, Vec<String>, PathBuf);

/// Each image of the fixture, extracted into `out`.
fn extracted(out: &Path) -> Option<Vec<Extracted>> {
    let host = host("moby29")?;
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        &host,
        out,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    Some(
        expected("moby29")["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let id = i["id"].as_str().unwrap().to_string();
                let config = format!("sha256:{}", i["config_sha256"].as_str().unwrap());
                let tags = i["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                let tar = image_dir(out, &id).join("image.tar");
                (id, config, tags, tar)
            })
            .collect(),
    )
}

/// What `tests/sid-dockerd.sh load` printed for one archive: (id, name)
/// per image loaded; `None` (after a loud skip) without the chroot.
fn sid_load(archive: &Path) -> Option<Vec<(String, String)>> {
    if !is_root() {
        skip("the sid engine needs root");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sid-dockerd.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("load")
        .arg(archive)
        .output()
        .expect("run sid-dockerd.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            skip(&format!(
                "no Debian sid chroot with dockerd 28.5 (run `tests/sid-dockerd.sh prepare`, as .ci/run does): the Docker 29 load test did not run. {stderr}"
            ));
            return None;
        }
        _ => panic!("sid-dockerd.sh load {}: {stderr}", archive.display()),
    }
    eprintln!("{}", stderr.trim());
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (_, id, name) = (f.next()?, f.next()?, f.next()?);
                Some((id.to_string(), name.to_string()))
            })
            .collect(),
    )
}

#[test]
fn docker29_loads_our_archives_with_the_ids_docker_showed() {
    let out = tempfile::tempdir().unwrap();
    let Some(images) = extracted(out.path()) else {
        return;
    };
    for (id, _, tags, tar) in &images {
        let Some(loaded) = sid_load(tar) else { return };
        assert!(!loaded.is_empty(), "{id}: nothing loaded");
        for (got, _) in &loaded {
            assert_eq!(got, id, "{}", tar.display());
        }
        let mut names: Vec<&str> = loaded
            .iter()
            .map(|(_, n)| n.as_str())
            .filter(|n| *n != "-")
            .collect();
        names.sort();
        let mut want: Vec<&str> = tags.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(names, want, "{id}");
    }
}

#[test]
fn docker20_loads_our_archives_with_the_config_digest() {
    let out = tempfile::tempdir().unwrap();
    let Some(images) = extracted(out.path()) else {
        return;
    };
    for (id, config, tags, tar) in &images {
        // A fresh engine per image, so every layer is read from our archive.
        let Some(d) = Daemon::start() else { return };
        let said = d.load(tar);
        let mut ids = Vec::new();
        for line in said.lines() {
            if let Some(name) = line.strip_prefix("Loaded image: ") {
                ids.push(d.image_id(name.trim()));
            } else if let Some(got) = line.strip_prefix("Loaded image ID: ") {
                ids.push(got.trim().to_string());
            }
        }
        assert!(!ids.is_empty(), "{id}: {said}");
        for got in &ids {
            assert_eq!(got, config, "{id}: {said}");
        }
        for t in tags {
            assert_eq!(&d.image_id(t), config, "{t}");
        }
    }
}
