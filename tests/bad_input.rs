//! Every bad input gets one clear line and a non-zero exit, never a
//! panic; integrity problems give exit 3 and a report naming the file.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const WEB: &str = "fixture/web:1.0";

fn web_id() -> String {
    expected("basic")["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"][0] == WEB)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The layerdb entry of layer `i` of fixture/web:1.0 in a host copy.
fn layerdb(host: &Path, i: usize) -> PathBuf {
    let img = &expected("basic")["images"];
    let web = img
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["tags"][0] == WEB)
        .unwrap();
    let diff_ids: Vec<String> = web["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let chain = docker_forensics::digest::chain_ids(&diff_ids)[i].clone();
    docker_root(host)
        .join("image/overlay2/layerdb/sha256")
        .join(chain.trim_start_matches("sha256:"))
}

fn diff_dir(host: &Path, i: usize) -> PathBuf {
    let cache = std::fs::read_to_string(layerdb(host, i).join("cache-id")).unwrap();
    docker_root(host)
        .join("overlay2")
        .join(cache.trim())
        .join("diff")
}

fn extract(host: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = vec!["extract".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend([WEB.as_ref(), host.as_os_str(), out.as_os_str()]);
    run(args)
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(image_dir(out, &web_id()).join("report.json")).unwrap())
        .unwrap()
}

/// One line on stderr, no panic, no backtrace.
fn assert_clear_error(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "stderr: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let err: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(err.len(), 1, "one error line: {}", r.stderr);
    assert!(err[0].contains(needle), "{needle:?} in {:?}", err[0]);
}

#[test]
fn missing_evidence_path() {
    let out = tempfile::tempdir().unwrap();
    let r = run(["images", "/nonexistent/evidence"]);
    assert_clear_error(&r, 1, "/nonexistent/evidence");
    let r = run([WEB, "/nonexistent/evidence", out.path().to_str().unwrap()]);
    assert_clear_error(&r, 1, "/nonexistent/evidence");
}

#[test]
fn no_data_root_and_bad_docker_root() {
    let empty = tempfile::tempdir().unwrap();
    let r = run([Path::new("images"), empty.path()]);
    assert_clear_error(&r, 1, "no Docker data root");
    let Some(host) = host("basic") else { return };
    let r = run([
        Path::new("images"),
        &host,
        Path::new("--docker-root"),
        Path::new("etc"),
    ]);
    assert_clear_error(&r, 1, "not a Docker data root");
    // The data root itself is accepted as evidence, and --docker-root works.
    let r = run([Path::new("images"), &docker_root(&host)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        Path::new("images"),
        &host,
        Path::new("--docker-root"),
        Path::new("/var/lib/docker"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("--docker-root"), "{}", r.stderr);
}

#[test]
fn file_where_a_directory_is_expected() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), b"not evidence").unwrap();
    let r = run([Path::new("images"), f.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&f.path().display().to_string()),
        "{}",
        r.stderr
    );
    let Some(host) = host_copy("basic") else {
        return;
    };
    // The reference store replaced by a directory.
    let repos = docker_root(host.path()).join("image/overlay2/repositories.json");
    std::fs::remove_file(&repos).unwrap();
    std::fs::create_dir(&repos).unwrap();
    let r = run([Path::new("images"), host.path()]);
    assert_clear_error(&r, 1, "repositories.json");
}

#[test]
fn unknown_and_ambiguous_names() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    let r = run([Path::new("fixture/web:9"), &host, out.path()]);
    assert_clear_error(&r, 1, "fixture/web:9: no such image");
    assert!(
        r.stderr.contains("fixture/tool:2"),
        "lists candidates: {}",
        r.stderr
    );
    // Several ids start with "f" in the fixture.
    let ids: Vec<String> = expected("basic")["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap()[7..].to_string())
        .collect();
    let prefix = (b'0'..=b'f')
        .map(|c| (c as char).to_string())
        .find(|p| ids.iter().filter(|i| i.starts_with(p.as_str())).count() > 1)
        .unwrap();
    let r = run([Path::new(&prefix), &host, out.path()]);
    assert_clear_error(&r, 1, "ambiguous");
    for id in ids.iter().filter(|i| i.starts_with(prefix.as_str())) {
        assert!(
            r.stderr.contains(&id[..12]),
            "candidate {id} listed: {}",
            r.stderr
        );
    }
    let r = run([Path::new("Not:A:Ref!"), &host, out.path()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn usage_errors_exit_2() {
    let r = run(["extract", "--all"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(["images"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(["verify", "a", "--no-such-flag"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn output_refused_unless_force_and_unwritable_output() {
    let Some(host) = host("basic") else { return };
    let out = tempfile::tempdir().unwrap();
    assert_eq!(extract(&host, out.path(), &["-q"]).code, 0);
    // A rerun keeps a complete directory (its SHA256SUMS checks) ...
    assert_eq!(extract(&host, out.path(), &["-q"]).code, 0);
    // ... and refuses one that is not, unless forced.
    std::fs::remove_file(image_dir(out.path(), &web_id()).join("SHA256SUMS")).unwrap();
    let r = extract(&host, out.path(), &["-q"]);
    assert_clear_error(&r, 1, "--force");
    assert_eq!(extract(&host, out.path(), &["-q", "--force"]).code, 0);
    let file = out.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let r = extract(&host, &file, &["-q"]);
    assert_clear_error(&r, 1, "a-file");
}

#[test]
fn corrupt_config_json_and_config_hash_mismatch() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let cfg = docker_root(host.path())
        .join("image/overlay2/imagedb/content/sha256")
        .join(web_id().trim_start_matches("sha256:"));
    let orig = std::fs::read(&cfg).unwrap();
    // Still valid JSON, one byte changed: the config is not its name.
    let text = String::from_utf8(orig.clone())
        .unwrap()
        .replacen("amd64", "amd65", 1);
    std::fs::write(&cfg, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract(host.path(), out.path(), &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let rep = report(out.path());
    assert_eq!(rep["config_verified"], false);
    assert_eq!(rep["findings"][0]["kind"], "config_hash_mismatch");
    // Truncated JSON: a clear error naming the file.
    std::fs::write(&cfg, &orig[..orig.len() / 2]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract(host.path(), out.path(), &[]);
    assert_clear_error(&r, 1, "corrupt JSON");
    assert!(
        r.stderr.contains(web_id().trim_start_matches("sha256:")),
        "{}",
        r.stderr
    );
    // `images` still lists it, with the error.
    let r = run([Path::new("images"), host.path()]);
    assert_eq!(r.code, 3);
    assert!(r.stdout.contains("ERROR"), "{}", r.stdout);
}

#[test]
fn missing_layer_pieces_name_layer_and_path() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    let out = tempfile::tempdir().unwrap();
    // cache-id gone
    std::fs::remove_file(layerdb(h, 2).join("cache-id")).unwrap();
    let r = extract(h, out.path(), &[]);
    assert_clear_error(&r, 1, "layer 2");
    assert!(r.stderr.contains("no cache-id"), "{}", r.stderr);
    // diff dir gone
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    std::fs::remove_dir_all(diff_dir(h, 3)).unwrap();
    let r = extract(h, out.path(), &[]);
    assert_clear_error(&r, 1, "layer 3");
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
    // layerdb entry gone
    std::fs::remove_dir_all(layerdb(h, 1)).unwrap();
    let r = extract(h, out.path(), &[]);
    assert_clear_error(&r, 1, "no layerdb entry");
}

#[test]
fn tampered_file_and_missing_file_are_named_with_exit_3() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    // layer 3 holds srv/app/hello.txt (chmod 4755 rewrote it there).
    let hello = diff_dir(h, 3).join("srv/app/hello.txt");
    let mut bytes = std::fs::read(&hello).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&hello, &bytes).unwrap();
    // layer 5's 300 kB file of zeros goes missing.
    std::fs::remove_file(diff_dir(h, 5).join("srv/app/zeros")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract(h, out.path(), &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("layer 3: srv/app/hello.txt"),
        "{}",
        r.stderr
    );
    let rep = report(out.path());
    let l3 = &rep["layers"][3];
    assert_eq!(l3["verified"], false);
    assert!(
        l3["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "content_changed" && f["path"] == "srv/app/hello.txt")
    );
    let l5 = &rep["layers"][5];
    assert!(
        l5["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "file_missing" && f["path"] == "srv/app/zeros")
    );
    assert_eq!(rep["derived_config"], true);
    // The untouched layers still verify; verify says the same.
    assert_eq!(rep["layers"][4]["verified"], true);
    let r = run([Path::new("verify"), h, Path::new("-q")]);
    assert_eq!(r.code, 3);
    assert!(
        r.stdout.contains("srv/app/hello.txt") && r.stdout.contains("FAIL"),
        "{}",
        r.stdout
    );
}

#[test]
fn missing_or_corrupt_tar_split_rebuilds_the_layer() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    std::fs::remove_file(layerdb(h, 4).join("tar-split.json.gz")).unwrap();
    let ts5 = layerdb(h, 5).join("tar-split.json.gz");
    let bytes = std::fs::read(&ts5).unwrap();
    std::fs::write(&ts5, &bytes[..bytes.len() / 2]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract(h, out.path(), &["-q"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let rep = report(out.path());
    assert_eq!(rep["layers"][4]["method"], "rebuilt");
    assert_eq!(rep["layers"][4]["findings"][0]["kind"], "tar_split_missing");
    assert_eq!(rep["layers"][5]["method"], "rebuilt");
    assert_eq!(rep["layers"][5]["findings"][0]["kind"], "tar_split_corrupt");
    assert_ne!(rep["archive_image_id"], rep["image_id"]);
    // The rebuilt layer 4 carries the whiteout and the opaque directory.
    let dir = image_dir(out.path(), &web_id());
    let names: Vec<String> =
        tar::Archive::new(std::fs::File::open(dir.join("layer_4/layer.tar")).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
    assert!(
        names.contains(&"srv/app/data/.wh.token".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"srv/app/cache/.wh..wh..opq".to_string()),
        "{names:?}"
    );
    // The derived config names the rebuilt layers' hashes.
    let cfg_name = format!(
        "blobs/sha256/{}",
        rep["archive_image_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest[0]["Config"], cfg_name);
}

#[test]
fn symlink_inside_a_layer_is_never_followed() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    // Replace srv/app in layer 3 with a link to a directory outside the
    // evidence that holds a hello.txt of the same size.
    let outside = tempfile::tempdir().unwrap();
    let hello = diff_dir(h, 3).join("srv/app/hello.txt");
    let size = std::fs::metadata(&hello).unwrap().len() as usize;
    std::fs::write(outside.path().join("hello.txt"), "X".repeat(size)).unwrap();
    let app = diff_dir(h, 3).join("srv/app");
    std::fs::rename(&app, diff_dir(h, 3).join("srv/app.moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), &app).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract(h, out.path(), &["-q"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let rep = report(out.path());
    let f = rep["layers"][3]["findings"].as_array().unwrap();
    assert!(
        f.iter()
            .any(|f| f["kind"] == "unsafe_path" && f["path"] == "srv/app/hello.txt"),
        "{f:?}"
    );
    let layer = std::fs::read(image_dir(out.path(), &web_id()).join("layer_3/layer.tar")).unwrap();
    assert!(
        !layer.windows(size).any(|w| w.iter().all(|b| *b == b'X')),
        "outside content read"
    );
}

#[test]
fn one_broken_image_does_not_stop_the_others() {
    let Some(host) = host_copy("basic") else {
        return;
    };
    let h = host.path();
    let cfg = docker_root(h)
        .join("image/overlay2/imagedb/content/sha256")
        .join(web_id().trim_start_matches("sha256:"));
    std::fs::write(&cfg, b"{not json").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        Path::new("-q"),
        h,
        out.path(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("corrupt JSON"), "{}", r.stderr);
    let written = std::fs::read_dir(out.path()).unwrap().count();
    assert_eq!(
        written,
        expected("basic")["images"].as_array().unwrap().len() - 1
    );
}
