//! Helpers for the VM disk format tests: the basic fixture's raw disk
//! (exported from `basic.disk.E01` by `ewfexport`) in a temporary
//! directory, converted by the real `qemu-img`; the whole medium read
//! through our reader; and the command line's answers compared with the
//! engine's (`basic.expected.json`), not with our own output.
//!
//! Debian packages: `qemu-utils` (qemu-img, qemu-io), `ewf-tools`
//! (ewfexport).

use super::disk::{have_tools, run_tool};
use super::{expected, fixtures_dir, image_dir, run, sha256_file, skip};
use docker_forensics::evidence::image::{self, ImageOptions};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary directory (under /tmp, removed on drop) holding
/// `basic.raw`.
pub struct Work {
    pub dir: tempfile::TempDir,
    pub raw: PathBuf,
}

impl Work {
    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `qemu-img ARGS` in the directory.
    pub fn qemu_img(&self, args: &[&str]) {
        run_tool(
            Command::new("qemu-img")
                .args(args)
                .current_dir(self.dir.path()),
        );
    }

    /// `qemu-img convert -O FORMAT [OPTS] basic.raw NAME`, returning the
    /// path of NAME.
    pub fn convert(&self, format: &str, opts: &[&str], name: &str) -> PathBuf {
        let mut args = vec!["convert", "-O", format];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["basic.raw", name]);
        self.qemu_img(&args);
        self.path(name)
    }
}

/// The raw disk of the basic fixture in a fresh temporary directory, or
/// `None` (after a loud skip) when the fixture or the tools are missing.
pub fn work() -> Option<Work> {
    let e01 = fixtures_dir().join("basic.disk.E01");
    if !e01.is_file() {
        skip("basic.disk.E01 fixture not found");
        return None;
    }
    if !have_tools(&["qemu-img", "ewfexport"]) {
        skip("needs qemu-img (qemu-utils) and ewfexport (ewf-tools)");
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("df-vmdisk-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let target = dir.path().join("basic");
    run_tool(
        Command::new("ewfexport")
            .args(["-q", "-f", "raw", "-u", "-t"])
            .arg(&target)
            .arg(&e01),
    );
    let raw = dir.path().join("basic.raw");
    assert_eq!(sha256_file(&raw), raw_sha256(), "ewfexport output");
    Some(Work { dir, raw })
}

/// The SHA-256 of the basic fixture's raw disk, as recorded when it was
/// made (`basic.disk.raw.sha256`).
pub fn raw_sha256() -> String {
    std::fs::read_to_string(fixtures_dir().join("basic.disk.raw.sha256"))
        .expect("basic.disk.raw.sha256")
        .split_whitespace()
        .next()
        .expect("hash")
        .to_string()
}

/// Opens `path` through our image layer and hashes the whole virtual
/// disk (SHA-256 only: the debug build is slow at three digests); also
/// returns the format name.
pub fn media_sha256(path: &Path, opts: &ImageOptions) -> (String, String) {
    use sha2::{Digest, Sha256};
    let img = image::open_with(path, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let size = img.media.size();
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(buf.len() as u64) as usize;
        img.media
            .read_exact_at(&mut buf[..n], off)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        h.update(&buf[..n]);
        off += n as u64;
    }
    (img.format.name().to_string(), hex::encode(h.finalize()))
}

/// The image rows of `images --json`.
fn rows(stdout: &str) -> Vec<Value> {
    super::json_list(stdout, "images")
}

fn id_of(row: &Value) -> String {
    row.get("image_id")
        .and_then(Value::as_str)
        .expect("image id")
        .to_string()
}

/// `images` and `extract --all` on `evidence` (with `extra` options)
/// give the engine's image ids and tags and its saved layers, byte for
/// byte, and `diff` of each container the engine's `docker diff`.
pub fn assert_same_as_engine(evidence: &Path, extra: &[&str]) {
    assert_same_diffs_as_engine(evidence, extra);
    let exp = expected("basic");
    let mut args: Vec<&std::ffi::OsStr> = vec![OsStr::new("images"), evidence.as_os_str()];
    args.extend(["--json", "-q"].iter().map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    let r = run(&args);
    assert_eq!(r.code, 0, "images {}: {}", evidence.display(), r.stderr);
    let mut got: Vec<(String, Value)> = rows(&r.stdout)
        .iter()
        .map(|r| (id_of(r), r["tags"].clone()))
        .collect();
    let mut want: Vec<(String, Value)> = exp["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| (i["id"].as_str().expect("id").to_string(), i["tags"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want, "images from {}", evidence.display());

    let out = tempfile::Builder::new()
        .prefix("df-vmdisk-out-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        OsStr::new("extract"),
        OsStr::new("--all"),
        OsStr::new("-q"),
        evidence.as_os_str(),
        out.path().as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let r = run(&args);
    assert_eq!(r.code, 0, "extract {}: {}", evidence.display(), r.stderr);
    let mut layers = 0;
    for img in exp["images"].as_array().expect("images") {
        let dir = image_dir(out.path(), img["id"].as_str().expect("id"));
        for (i, want) in img["saved_layer_sha256"]
            .as_array()
            .expect("layers")
            .iter()
            .enumerate()
        {
            assert_eq!(
                sha256_file(&dir.join(format!("layer_{i}/layer.tar"))),
                want.as_str().expect("sha"),
                "{} layer {i} from {}",
                img["id"],
                evidence.display()
            );
            layers += 1;
        }
    }
    assert!(layers > 15, "only {layers} layers compared");
}

/// `diff NAME` on `evidence` prints, for every container of the basic
/// fixture, what `docker diff` printed on the seized host.
fn assert_same_diffs_as_engine(evidence: &Path, extra: &[&str]) {
    let exp = expected("basic");
    let containers = exp["containers"].as_array().expect("containers");
    assert!(!containers.is_empty());
    for c in containers {
        let name = c["name"].as_str().expect("name");
        let mut args: Vec<&std::ffi::OsStr> =
            vec![OsStr::new("diff"), OsStr::new(name), evidence.as_os_str()];
        args.push(OsStr::new("-q"));
        args.extend(extra.iter().map(OsStr::new));
        let r = run(&args);
        assert_eq!(
            r.code,
            0,
            "diff {name} {}: {}",
            evidence.display(),
            r.stderr
        );
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort_unstable();
        let mut want: Vec<&str> = c["diff"]
            .as_array()
            .expect("diff")
            .iter()
            .map(|v| v.as_str().expect("line"))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want, "diff {name} from {}", evidence.display());
    }
}

/// Overwrites `len` bytes at `offset` of `path` with `byte`.
pub fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for poke");
    f.write_all_at(bytes, offset).expect("poke");
}

/// Runs `docker-forensics ARGS` and returns (exit code, stderr).
pub fn run_err(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let r = run(args);
    (r.code, r.stderr)
}

/// A copy of `src` named `name` in the same directory.
pub fn copy_as(src: &Path, name: &str) -> PathBuf {
    let dst = src.with_file_name(name);
    std::fs::copy(src, &dst).expect("copy");
    dst
}

/// The bytes of the virtual disk `qemu-img map` says `path` itself stores
/// as data (ranges with `"data": true` at depth 0).
pub fn qemu_data_bytes(path: &Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["map", "--output=json"])
        .arg(path)
        .output()
        .expect("qemu-img map runs");
    assert!(out.status.success(), "qemu-img map {}", path.display());
    let ranges: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("qemu-img map JSON");
    ranges
        .iter()
        .filter(|r| r["data"] == true && r["depth"] == 0)
        .map(|r| r["length"].as_u64().expect("length"))
        .sum()
}

/// What `--verify-image` reports as stored in the image file equals what
/// `qemu-img map` counts, and is neither nothing nor everything.
pub fn assert_allocation_agrees(path: &Path, opts: &ImageOptions) {
    let img = image::open_with(path, opts).expect("opens");
    let v = image::verify_media(img.media.as_ref(), None, &|_| {}).expect("reads");
    let ours = v.allocated.expect("a VM disk reports its allocation");
    assert_eq!(
        ours,
        qemu_data_bytes(path),
        "allocation of {}",
        path.display()
    );
    assert!(ours > 0 && ours <= v.size, "{ours} of {}", v.size);
}
