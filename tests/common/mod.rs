//! Shared helpers for the integration tests: the real fixtures written by
//! real engines (`../shared/fixtures` beside the repository, or the copy of
//! the basic sample in `samples/`), unpacked once per build, and a way to
//! run the binary.
#![allow(dead_code)]

pub mod daemon;
pub mod disk;
pub mod vmdisk;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the fixtures are: `../shared/fixtures`, else `samples/`.
pub fn fixtures_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../shared/fixtures");
    if shared.join("basic.expected.json").exists() {
        return shared;
    }
    manifest.join("samples")
}

/// Skips a test loudly, or fails it under CI with the shared fixtures
/// present, where every prerequisite must be there.
pub fn skip(why: &str) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if std::env::var_os("CI").is_some() && shared.exists() {
        panic!("prerequisite missing under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// A scratch directory for what a test binary builds once and keeps in a
/// static. A static is never dropped, so a `TempDir` there would be left in
/// /tmp by every run: this one is under the target's tmp dir, named by
/// `prefix` and the process id, and what earlier runs left (their process
/// gone) is removed first.
pub fn static_scratch(prefix: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|pid| !Path::new("/proc").join(pid).exists());
            if stale {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("{prefix}.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The expected answers the engine itself gave for fixture `name`.
pub fn expected(name: &str) -> serde_json::Value {
    let p = fixtures_dir().join(format!("{name}.expected.json"));
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).expect("expected.json parses")
}

/// The host tree of fixture `name`, unpacked once (as root, with xattrs
/// and device nodes, as the fixture README says). `None` (after a loud
/// skip message) where that is impossible.
pub fn host(name: &str) -> Option<PathBuf> {
    static LOCK: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _guard = LOCK
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let archive = fixtures_dir().join(format!("{name}.host.tar.gz"));
    if !archive.exists() {
        skip(&format!("{} not found", archive.display()));
        return None;
    }
    if !is_root() {
        skip("unpacking the fixture needs root (overlay whiteout devices, trusted.* xattrs)");
        return None;
    }
    let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fixture-{name}"));
    if dest.join(".complete").exists() {
        return Some(dest);
    }
    // Unpack beside, then rename: several test binaries may race here.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fixture-{name}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("create fixture dir");
    let st = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpzf"])
        .arg(&archive)
        .arg("-C")
        .arg(&tmp)
        .status()
        .expect("run tar");
    assert!(st.success(), "unpacking {}", archive.display());
    std::fs::write(tmp.join(".complete"), b"").expect("marker");
    if std::fs::rename(&tmp, &dest).is_err() {
        // Another process won the race.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Some(dest)
}

/// A private, writable copy of a fixture host, for tampering.
pub fn host_copy(name: &str) -> Option<tempfile::TempDir> {
    let src = host(name)?;
    let dir = tempfile::tempdir().expect("tempdir");
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(st.success());
    Some(dir)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `docker-forensics` with `args`.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_docker-forensics"))
        .args(args)
        .output()
        .expect("run docker-forensics");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// The `image_<12 hex>` directory of an image id under `out`.
pub fn image_dir(out: &Path, id: &str) -> PathBuf {
    let hex = id.trim_start_matches("sha256:");
    out.join(format!("image_{}", &hex[..12]))
}

/// The data root of an unpacked fixture host.
pub fn docker_root(host: &Path) -> PathBuf {
    host.join("var/lib/docker")
}

/// The config file of fixture image `tag` in a Docker host tree, and its id.
pub fn image_config_path(host: &Path, fixture: &str, tag: &str) -> (PathBuf, String) {
    let id = expected(fixture)["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["tags"][0] == tag)
        .unwrap_or_else(|| panic!("{tag} in {fixture}"))["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = docker_root(host).join(format!(
        "image/overlay2/imagedb/content/sha256/{}",
        id.trim_start_matches("sha256:")
    ));
    (path, id)
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// `extract --all EVIDENCE OUT -q`.
pub fn extract_all(evidence: &Path, out: &Path) -> Run {
    extract_all_with(evidence, out, &[])
}

/// `extract --all EVIDENCE OUT -q` and the options in `extra`.
pub fn extract_all_with(evidence: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        Path::new("extract"),
        Path::new("--all"),
        evidence,
        out,
        Path::new("-q"),
    ];
    args.extend(extra.iter().map(Path::new));
    run(args)
}

/// The id of container `name` in fixture `fixture`, as the engine gave it.
pub fn container_id(fixture: &str, name: &str) -> String {
    expected(fixture)["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {fixture}"))["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// True when `sha256sum -c SHA256SUMS` passes in `dir`.
pub fn sums_check(dir: &Path) -> bool {
    Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(dir)
        .status()
        .expect("sha256sum")
        .success()
}

/// The list a `--json` document holds under `key` (`images`,
/// `containers`, `changes`), after checking the document's schema.
pub fn json_list(stdout: &str, key: &str) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not a JSON document ({e}): {stdout}"));
    assert_eq!(doc["schema"], "docker-forensics/1", "{stdout}");
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key:?} in {stdout}"))
        .clone()
}

/// The `rootfs.diff_ids` of the image config at `cfg`.
pub fn config_diff_ids(cfg: &Path) -> Vec<String> {
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg).unwrap()).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

/// Flips a bit of `srv/app/hello.txt` in the layer directory of
/// fixture/web:1.0's layer 3 of a Docker host tree (a copy), as a file
/// changed on disk after the layer was written. Returns the image's
/// diff_ids and the file's bytes as they now are.
pub fn tamper_hello(host: &Path) -> (Vec<String>, Vec<u8>) {
    let (cfg, _) = image_config_path(host, "basic", "fixture/web:1.0");
    let diff_ids = config_diff_ids(&cfg);
    let chain = docker_forensics::digest::chain_ids(&diff_ids)[3].clone();
    let entry = docker_root(host).join(format!(
        "image/overlay2/layerdb/sha256/{}",
        chain.trim_start_matches("sha256:")
    ));
    let cache = std::fs::read_to_string(entry.join("cache-id")).unwrap();
    let hello = docker_root(host).join(format!("overlay2/{}/diff/srv/app/hello.txt", cache.trim()));
    let mut bytes = std::fs::read(&hello).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&hello, &bytes).unwrap();
    (diff_ids, bytes)
}
