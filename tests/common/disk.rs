//! Helpers shared by the disk-image integration tests: fixture lookup,
//! loud skipping, host-tree extraction and tree comparison.

use docker_forensics::evidence::fs::{EvPath, FileKind, FileSystem};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared fixtures directory beside the repository, or `None` (after
/// saying so loudly) when it is absent.
pub fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.join("basic.disk.E01").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: fixtures not found at {} ***\n",
            dir.display()
        );
        None
    }
}

/// True when every tool is on PATH; otherwise says which is missing.
pub fn have_tools(tools: &[&str]) -> bool {
    for t in tools {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
            .unwrap_or(false);
        if !found {
            eprintln!(
                "\n*** SKIPPED: tool `{t}` not installed (see tests/disk_*.rs for the Debian packages) ***\n"
            );
            return false;
        }
    }
    true
}

/// Runs a command, panicking with its output when it fails.
pub fn run_tool(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut shown = format!("{cmd:?}");
    shown.truncate(400);
    assert!(
        out.status.success(),
        "{shown} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Extracts `NAME.host.tar.gz` into `dest` keeping owners, devices, xattrs.
pub fn extract_host(fixtures: &Path, name: &str, dest: &Path) {
    run_tool(
        Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpzf"])
            .arg(fixtures.join(format!("{name}.host.tar.gz")))
            .arg("-C")
            .arg(dest),
    );
}

/// Everything compared about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: FileKind,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Not for directories (their size is filesystem-specific).
    pub size: Option<u64>,
    /// Not for directories.
    pub nlink: Option<u64>,
    pub rdev: (u32, u32),
    pub link: Option<Vec<u8>>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub sha256: Option<String>,
}

/// Walks `root` of `fs` and records every entry below it.
pub fn snapshot(fs: &dyn FileSystem, root: &str) -> BTreeMap<Vec<u8>, Entry> {
    let mut out = BTreeMap::new();
    let root = EvPath::parse(root).unwrap();
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        let m = fs
            .metadata(&p)
            .unwrap_or_else(|e| panic!("{}: metadata: {e}", fs.describe()));
        let mut xattrs = fs
            .xattrs(&p)
            .unwrap_or_else(|e| panic!("{}: xattrs: {e}", fs.describe()));
        xattrs.retain(|(k, _)| !k.starts_with(b"security.selinux"));
        xattrs.sort();
        let link = (m.kind == FileKind::Symlink).then(|| fs.read_link(&p).unwrap());
        let sha256 = (m.kind == FileKind::File).then(|| {
            let mut h = Sha256::new();
            let mut r = fs.open(&p).unwrap_or_else(|e| panic!("open: {e}"));
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = r.read(&mut buf).unwrap_or_else(|e| panic!("read: {e}"));
                if n == 0 {
                    break;
                }
                total += n as u64;
                h.update(&buf[..n]);
            }
            assert_eq!(total, m.size, "{}: read length != size", p.display());
            hex::encode(h.finalize())
        });
        if m.kind == FileKind::Dir {
            for e in fs.read_dir(&p).unwrap_or_else(|e| panic!("read_dir: {e}")) {
                stack.push(p.child(&e.name).unwrap());
            }
        }
        let is_dir = m.kind == FileKind::Dir;
        out.insert(
            p.as_bytes().to_vec(),
            Entry {
                kind: m.kind,
                perm: m.perm,
                uid: m.uid,
                gid: m.gid,
                size: (!is_dir).then_some(m.size),
                nlink: (!is_dir).then_some(m.nlink),
                rdev: (m.rdev_major, m.rdev_minor),
                link,
                xattrs,
                sha256,
            },
        );
    }
    out
}

/// Asserts two snapshots are equal, showing the first differences.
pub fn assert_same_tree(
    expected: &BTreeMap<Vec<u8>, Entry>,
    got: &BTreeMap<Vec<u8>, Entry>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (k, v) in expected {
        match got.get(k) {
            None => diffs.push(format!("missing {}", String::from_utf8_lossy(k))),
            Some(g) if g != v => diffs.push(format!(
                "{}:\n  expected {v:?}\n  got      {g:?}",
                String::from_utf8_lossy(k)
            )),
            _ => {}
        }
    }
    for k in got.keys() {
        if !expected.contains_key(k) {
            diffs.push(format!("extra {}", String::from_utf8_lossy(k)));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences, first ones:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Checks the snapshot has the features the fixtures must keep.
pub fn assert_has_overlay_features(tree: &BTreeMap<Vec<u8>, Entry>) {
    assert!(
        tree.values()
            .any(|e| e.kind == FileKind::CharDevice && e.rdev == (0, 0)),
        "no whiteout device found"
    );
    assert!(
        tree.values().any(|e| e
            .xattrs
            .iter()
            .any(|(k, v)| k == b"trusted.overlay.opaque" && v == b"y")),
        "no opaque directory found"
    );
    assert!(
        tree.values().any(|e| e.kind == FileKind::Symlink),
        "no symlink found"
    );
    assert!(
        tree.values()
            .any(|e| e.nlink.is_some_and(|n| n > 1) && e.kind == FileKind::File),
        "no hard link found"
    );
}
