//! Evidence prepared to hurt the examiner's tools: a data root the
//! examiner may not read, a container log that is a FIFO, an image config
//! nested absurdly deep. Each is named for what it is, and the rest of
//! the evidence is still read.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the binary as `nobody` (the permission test must not be root,
/// whom no permission stops).
fn run_as_nobody(args: &[&Path]) -> Run {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_docker-forensics"))
        .args(args)
        .output()
        .expect("run setpriv");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn unreadable_data_root_is_a_permission_problem() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let chmod = |p: &Path, mode: &str| {
        assert!(
            Command::new("chmod")
                .arg(mode)
                .arg(p)
                .status()
                .unwrap()
                .success()
        );
    };
    // The tree is readable down to /var/lib, but not the data root.
    for p in [host.to_path_buf(), host.join("var"), host.join("var/lib")] {
        chmod(&p, "755");
    }
    chmod(&host.join("var/lib/docker"), "700");
    let r = run_as_nobody(&[Path::new("images"), host]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(err.len(), 1, "{}", r.stderr);
    assert!(err[0].contains("permission denied"), "{}", err[0]);
    assert!(err[0].contains("/var/lib/docker"), "{}", err[0]);
    assert!(!r.stderr.contains("no Docker data root"), "{}", r.stderr);
    // Each cause is said once.
    let parts: Vec<&str> = err[0].split(": ").collect();
    assert!(parts.windows(2).all(|w| w[0] != w[1]), "{}", err[0]);
}

fn evil_web_dir(host: &Path) -> (String, PathBuf) {
    let id = container_id("basic", "evil-web");
    let dir = docker_root(host).join(format!("containers/{id}"));
    (id, dir)
}

#[test]
fn fifo_log_is_skipped_and_named() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (id, dir) = evil_web_dir(host);
    let log = dir.join(format!("{id}-json.log"));
    std::fs::remove_file(&log).unwrap();
    assert!(Command::new("mkfifo").arg(&log).status().unwrap().success());
    let out = tempfile::tempdir().unwrap();
    // Would block forever if the FIFO were opened for reading.
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        host,
        out.path(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let named = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"].as_str().is_some_and(|p| p.ends_with("-json.log")));
    assert!(named, "{}", report["findings"]);
    assert!(
        dir.join("committed.tar").exists(),
        "the rest was still exported"
    );
}

#[test]
fn absurdly_deep_config_is_named_never_nulled() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (cfg, _) = image_config_path(host, "basic", "fixture/web:1.0");
    // A label nested 100,000 arrays deep, spliced into the config text.
    let text = String::from_utf8(std::fs::read(&cfg).unwrap()).unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = text.replacen("{", &format!("{{\"deep\":{deep},"), 1);
    std::fs::write(&cfg, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("fixture/web:1.0"),
        host,
        out.path(),
        Path::new("-q"),
    ]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("deep") || r.stderr.contains("recursion"),
        "{}",
        r.stderr
    );
    // Whatever was written, no archive carries a `null` config.
    for e in files_under(out.path()) {
        if e.ends_with("manifest.json") {
            let m: Value = serde_json::from_slice(&std::fs::read(&e).unwrap()).unwrap();
            assert!(!m.is_null());
        }
    }
}

/// Starts `extract --all` on the basic host, waits for its first finished
/// image, then sends `signal`; returns the exit status and the output dir.
fn interrupted(signal: &str) -> Option<(Option<i32>, tempfile::TempDir)> {
    use std::io::BufRead;
    let host = host("basic")?;
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker-forensics"))
        .args([Path::new("extract"), Path::new("--all"), &host, out.path()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first image").unwrap();
    // Stop it at once so that it is mid-run when the signal arrives.
    let kill = |sig: &str| {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    };
    kill("STOP");
    assert!(Path::new(&first).join("SHA256SUMS").exists());
    kill(signal);
    kill("CONT");
    let status = child.wait().unwrap();
    Some((status.code(), out))
}

#[test]
fn sigint_leaves_only_complete_results() {
    let Some((code, out)) = interrupted("INT") else {
        return;
    };
    assert_eq!(code, Some(130));
    for e in std::fs::read_dir(out.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "partial output left: {name}");
        // Every directory left is complete: its sums check.
        assert!(sums_check(&p), "{name} incomplete");
    }
}

#[test]
fn sigkill_leaves_nothing_that_looks_complete() {
    let Some((code, out)) = interrupted("KILL") else {
        return;
    };
    assert_eq!(code, None);
    for e in std::fs::read_dir(out.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("image_") {
            assert!(
                p.join("SHA256SUMS").exists(),
                "{name} looks complete but is not"
            );
        } else {
            assert!(name.contains(".partial-"), "{name}");
        }
    }
}

/// A gzip layer blob replaced by a gzip bomb (64 MiB of zeros in about
/// 300 KiB) that does not match its digest is inflated no further than 64
/// times its size, by `verify` and by `extract`, and named.
#[test]
fn decompression_bomb_is_stopped_and_named() {
    let Some(copy) = host_copy("moby29") else {
        return;
    };
    let host = copy.path();
    // The first gzip layer any stored manifest names.
    let blobs = host.join("var/lib/containerd/io.containerd.content.v1.content/blobs/sha256");
    let mut layer = None;
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        if std::fs::metadata(&p).unwrap().len() > 65536 {
            continue;
        }
        let Ok(m) = serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap()) else {
            continue;
        };
        if let Some(l) = m["layers"].as_array().and_then(|ls| {
            ls.iter()
                .find(|l| l["mediaType"].as_str().is_some_and(|t| t.ends_with("gzip")))
        }) {
            layer = Some(l["digest"].as_str().unwrap().to_string());
            break;
        }
    }
    let digest = layer.expect("a gzip layer in moby29");
    let blob = blobs.join(digest.trim_start_matches("sha256:"));
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 67108864 /dev/zero | gzip -1 > '{}'",
            blob.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let bomb = std::fs::metadata(&blob).unwrap().len();
    let cap = (bomb * 64).max(1 << 20);
    assert!(cap < 64 << 20, "the bomb inflates past the cap");

    let r = run([
        Path::new("verify"),
        host,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v = common::json_list(&r.stdout, "images");
    let named = v
        .iter()
        .flat_map(|i| i["layers"].as_array().unwrap().iter())
        .flat_map(|l| l["findings"].as_array().unwrap().iter())
        .any(|f| f["kind"] == "size_implausible");
    assert!(named, "{}", r.stdout);

    let out = tempfile::tempdir().unwrap();
    let r = extract_all(host, out.path());
    assert_eq!(r.code, 3, "{}", r.stderr);
    for e in files_under(out.path()) {
        let len = std::fs::metadata(&e).unwrap().len();
        assert!(len <= cap + (4 << 20), "{}: {len} bytes", e.display());
    }
}

/// Rewrites the first file of a layer's tar-split (and the tar header
/// before it) to claim `claim` bytes; returns the layerdb entry changed.
fn claim_huge_file(host: &Path, claim: u64) -> PathBuf {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use std::io::{Read, Write};
    let layerdb = docker_root(host).join("image/overlay2/layerdb/sha256");
    for e in std::fs::read_dir(&layerdb).unwrap() {
        let entry = e.unwrap().path();
        let ts = entry.join("tar-split.json.gz");
        let Ok(gz) = std::fs::read(&ts) else { continue };
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let mut lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let Some(i) = (1..lines.len()).find(|&i| {
            lines[i]["type"] == 1
                && lines[i]["size"].as_u64().is_some_and(|s| s > 0)
                && lines[i - 1]["type"] == 2
        }) else {
            continue;
        };
        let mut seg = STANDARD
            .decode(lines[i - 1]["payload"].as_str().unwrap())
            .unwrap();
        let h = seg.len() - 512;
        // Size as base-256, as GNU tar writes sizes past 8 GiB.
        let field = &mut seg[h + 124..h + 136];
        field.fill(0);
        field[0] = 0x80;
        field[4..12].copy_from_slice(&claim.to_be_bytes());
        seg[h + 148..h + 156].copy_from_slice(b"        ");
        let sum: u32 = seg[h..h + 512].iter().map(|&b| u32::from(b)).sum();
        seg[h + 148..h + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        lines[i - 1]["payload"] = STANDARD.encode(&seg).into();
        lines[i]["size"] = claim.into();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for l in &lines {
            writeln!(enc, "{l}").unwrap();
        }
        std::fs::write(&ts, enc.finish().unwrap()).unwrap();
        return entry;
    }
    panic!("no tar-split with a file");
}

/// Every file under `dir` is small.
fn assert_small_outputs(dir: &Path) {
    for e in files_under(dir) {
        let len = std::fs::metadata(&e).unwrap().len();
        assert!(len < 256 << 20, "{}: {len} bytes", e.display());
    }
}

#[test]
fn a_one_terabyte_claim_is_never_padded() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let entry = claim_huge_file(host, 1 << 40);
    // With the layer's recorded size: the claim is implausible, the layer
    // is rebuilt from its files.
    let out = tempfile::tempdir().unwrap();
    let r = extract_all(host, out.path());
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_small_outputs(out.path());
    let reports: Vec<Value> = files_under(out.path())
        .into_iter()
        .filter(|p| p.ends_with("report.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert!(
        reports.iter().any(
            |r| r["layers"].as_array().unwrap().iter().any(|l| l["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["kind"] == "size_implausible"))
        ),
        "size_implausible named"
    );
    // Without it: more than the output can hold is refused, by name.
    std::fs::remove_file(entry.join("size")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = extract_all(host, out.path());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bytes free"), "{}", r.stderr);
    assert_small_outputs(out.path());
    // The other images were still written.
    assert!(r.stdout.lines().count() > 0);
}

/// A container whose writable layer cannot be resolved is named on the
/// timeline's stderr (exit 3), never silently left out.
#[test]
fn timeline_names_what_it_cannot_place() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let id = container_id("basic", "evil-web");
    std::fs::remove_file(
        docker_root(host).join(format!("image/overlay2/layerdb/mounts/{id}/mount-id")),
    )
    .unwrap();
    let r = run([Path::new("timeline"), host, Path::new("-q")]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains("evil-web")),
        "{}",
        r.stderr
    );
    // The images' files are still there.
    assert!(r.stdout.lines().count() > 10);
}

/// A tar-split of ten million file entries (no tar headers between them,
/// as a hostile one can be): bounded in time, memory and report size.
#[test]
fn ten_million_tar_split_entries_stay_bounded() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (cfg, web) = image_config_path(host, "basic", "fixture/web:1.0");
    let diff_ids = config_diff_ids(&cfg);
    let top = docker_forensics::digest::chain_ids(&diff_ids)
        .pop()
        .unwrap();
    let ts = docker_root(host).join(format!(
        "image/overlay2/layerdb/sha256/{}/tar-split.json.gz",
        top.trim_start_matches("sha256:")
    ));
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "python3 -c 'import sys\nw=sys.stdout.write\nfor i in range(10000000): w(\"{{\\\"type\\\":1,\\\"name\\\":\\\"f%d\\\",\\\"size\\\":0,\\\"position\\\":%d}}\\n\" % (i, i))' | gzip -1 > '{}'",
            ts.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::metadata(&ts).unwrap().len() > 10 << 20);

    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let (code, max_rss_kib) = run_measured(&[
        Path::new("fixture/web:1.0"),
        host,
        out.path(),
        Path::new("-q"),
    ]);
    let took = started.elapsed();
    assert_eq!(code, 3);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(max_rss_kib < 64 * 1024, "max RSS {max_rss_kib} KiB");
    let report = image_dir(out.path(), &web).join("report.json");
    let len = std::fs::metadata(&report).unwrap().len();
    assert!(len < 10 << 20, "report.json {len} bytes");
    let rep: Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    let kinds: Vec<&str> = rep["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["findings"].as_array().unwrap().iter())
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"tar_split_corrupt"), "{kinds:?}");
}

/// Runs the binary under GNU time and returns its exit code and its own
/// peak memory in KiB. (Not `wait4` from here: a child spawned with
/// `vfork`, as std does, is charged the test process's own peak.)
fn run_measured(args: &[&Path]) -> (i32, i64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let st = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_docker-forensics"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("GNU time (Debian package `time`)");
    let text = std::fs::read_to_string(report.path()).unwrap();
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time said {text:?}"));
    (st.code().unwrap_or(-1), kib)
}

/// An authentic highly compressed layer (64 MiB of zeros in a gzip blob
/// of about 65 KiB whose digest matches), imported by the real `ctr` into
/// a containerd root of the test's own: past the ratio, its digest
/// vouches for it, and it is written whole and verified, not cut.
#[test]
fn authentic_highly_compressed_layer_is_not_cut() {
    use sha2::{Digest, Sha256};
    if !is_root()
        || Command::new("containerd")
            .arg("--version")
            .output()
            .is_err()
    {
        skip("needs root and containerd (Debian's containerd package)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let sh = |script: &str| {
        let st = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(w)
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
    };
    sh(
        "mkdir -p d oci/blobs/sha256 && head -c 67108864 /dev/zero > d/zeros && tar -C d -cf layer.tar zeros && gzip -1 -c layer.tar > layer.tar.gz",
    );
    let sha = |p: &Path| hex::encode(Sha256::digest(std::fs::read(p).unwrap()));
    let diff_id = sha(&w.join("layer.tar"));
    let gz = std::fs::read(w.join("layer.tar.gz")).unwrap();
    let blob = hex::encode(Sha256::digest(&gz));
    let put = |bytes: &[u8]| {
        let d = hex::encode(Sha256::digest(bytes));
        std::fs::write(w.join(format!("oci/blobs/sha256/{d}")), bytes).unwrap();
        (d, bytes.len())
    };
    put(&gz);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "zeros"}],
    });
    let (config_d, config_n) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_d}"), "size": config_n},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{blob}"), "size": gz.len()}],
    });
    let (man_d, man_n) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{man_d}"), "size": man_n,
                       "annotations": {"io.containerd.image.name": "docker.io/library/zeros:1",
                                       "org.opencontainers.image.ref.name": "1"}}],
    });
    std::fs::write(
        w.join("oci/index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        w.join("oci/oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    sh("tar -C oci -cf image.oci.tar oci-layout index.json blobs");
    // A containerd of the test's own: its own root, state and socket.
    let mut daemon = Command::new("containerd")
        .args([
            "--root",
            "root",
            "--state",
            "state",
            "--address",
            "ctr.sock",
        ])
        .current_dir(w)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .args(["--address", "ctr.sock", "-n", "k8s.io"])
            .args(args)
            .current_dir(w)
            .output()
            .unwrap()
    };
    let mut up = false;
    for _ in 0..100 {
        if ctr(&["version"]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let imported = up
        && ctr(&["images", "import", "--no-unpack", "image.oci.tar"])
            .status
            .success();
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    if !imported {
        skip("the test's containerd did not start or import");
        return;
    }
    let root = w.join("root");
    let r = run([Path::new("verify"), &root, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let out = w.join("out");
    let r = extract_all(&root, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let layer = files_under(&out)
        .into_iter()
        .find(|p| p.ends_with("layer_0/layer.tar"))
        .expect("layer written");
    assert_eq!(sha(&layer), diff_id, "the whole layer, byte for byte");
}

/// A run killed mid `--all`, then run again into the same output: what
/// the first run finished is kept (checked, not rewritten), the rest is
/// written, and everything checks.
#[test]
fn a_killed_run_resumes() {
    let Some((_, out)) = interrupted("KILL") else {
        return;
    };
    let host = host("basic").unwrap();
    let before: Vec<(PathBuf, std::time::SystemTime)> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("SHA256SUMS").exists())
        .map(|p| {
            let t = std::fs::metadata(p.join("SHA256SUMS"))
                .unwrap()
                .modified()
                .unwrap();
            (p, t)
        })
        .collect();
    assert!(!before.is_empty());
    let r = extract_all(&host, out.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (p, t) in &before {
        let now = std::fs::metadata(p.join("SHA256SUMS"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(*t, now, "{} was not rewritten", p.display());
    }
    let done: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The killed run's unfinished directories are gone too.
    assert!(
        done.iter()
            .all(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.')),
        "{done:?}"
    );
    assert_eq!(
        done.len(),
        expected("basic")["images"].as_array().unwrap().len()
    );
    for p in done {
        assert!(sums_check(&p), "{}", p.display());
    }
}

/// Writes `mib` MiB of extra tags for image `id` into the host's
/// `repositories.json`; returns how many were added.
fn grow_tag_store(host: &Path, id: &str, mib: u64) -> usize {
    let path = docker_root(host).join("image/overlay2/repositories.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let tags = doc["Repositories"]
        .as_object_mut()
        .unwrap()
        .entry("fixture/many")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
        .unwrap();
    let (mut n, mut bytes) = (0usize, 0u64);
    while bytes < mib << 20 {
        let k = format!("fixture/many:t{n:07}");
        bytes += (k.len() + id.len() + 6) as u64;
        tags.insert(k, Value::String(id.to_string()));
        n += 1;
    }
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    n
}

/// A tag store (`repositories.json`) just under its bound is read once
/// (not once per image) in bounded memory, every tag listed; one past the
/// bound is refused with one line naming the file.
#[test]
fn a_huge_tag_store_is_bounded_and_named() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (_, web) = image_config_path(host, "basic", "fixture/web:1.0");
    let added = grow_tag_store(host, &web, 7);
    assert!(added > 50_000, "{added}");
    for cmd in ["images", "verify"] {
        let (code, max_rss_kib) = run_measured(&[Path::new(cmd), host, Path::new("-q")]);
        assert_eq!(code, 0, "{cmd}");
        assert!(max_rss_kib < 64 * 1024, "{cmd}: max RSS {max_rss_kib} KiB");
    }
    let r = run(["images".as_ref(), host.as_os_str(), "--json".as_ref()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let images = json_list(&r.stdout, "images");
    let tags = images
        .iter()
        .find(|i| i["image_id"] == web.as_str())
        .and_then(|i| i["tags"].as_array())
        .map(|t| t.len())
        .unwrap_or(0);
    assert!(tags > added, "{tags} tags for web, {added} added");

    grow_tag_store(host, &web, 9);
    let r = run(["images".as_ref(), host.as_os_str()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let errors: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        errors[0].contains("repositories.json") && errors[0].contains("more than the 8388608"),
        "{}",
        r.stderr
    );
}
