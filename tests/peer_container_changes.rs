//! Container changes on data roots other people captured (Google's
//! docker-explorer test data, `../shared/peer-real/data/docker-explorer`):
//! an overlay (v1) root of 2018, an aufs root of 2017 and an overlay2 root
//! of 2020. For every
//! container: `changes.tar` holds neither the init layer's files nor aufs
//! bookkeeping, and `diff` lists what Docker's rules give, derived here
//! from the writable layer and the layers below it with plain `std::fs`:
//! - overlay v1 and overlay2 (the daemon's naive diff, moby
//!   `ChangesDirs`): a path of the container's upper directory is `A` when
//!   neither the init layer nor the image's layers have it, `C` when its type,
//!   permissions, owner or (non-directory) size or mtime differ from the
//!   topmost of those, and a directory with a change below it is `C`;
//! - aufs (moby `archive.Changes`): `.wh..wh.*` at the top skipped, a
//!   `.wh.<name>` file is `D`, a path some lower branch has is `C` (a
//!   directory only if its size, mode or mtime differ), else `A`, the
//!   directory of an `A`/`D` is `C`.
//!
//! `export.tar` (`--flat`) holds the init layer's files and the image's,
//! and no whiteout or aufs bookkeeping name.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const INIT_FILES: &[&str] = &[
    ".dockerenv",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/mtab",
    "dev/console",
];

fn unpack(name: &str) -> Option<tempfile::TempDir> {
    let tgz = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/peer-real/data/docker-explorer")
        .join(name);
    if !tgz.exists() {
        skip(&format!("{} is absent", tgz.display()));
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "unpacking {}", tgz.display());
    Some(dir)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn lstat(p: &Path) -> Option<std::fs::Metadata> {
    std::fs::symlink_metadata(p).ok()
}

/// Every path under `dir`, relative, sorted, directories before their
/// contents.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    let mut names: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        out.push(r.clone());
        if lstat(&dir.join(&r)).is_some_and(|m| m.is_dir()) {
            walk(dir, &r, out);
        }
    }
}

/// moby `ChangesDirs` over the overlay v1 layers (see the module doc).
fn naive_diff(upper: &Path, lowers: &[PathBuf]) -> BTreeSet<String> {
    let mut paths = Vec::new();
    walk(upper, "", &mut paths);
    let mut out = BTreeSet::new();
    for p in &paths {
        let new = lstat(&upper.join(p)).unwrap();
        let old = lowers.iter().find_map(|l| lstat(&l.join(p)));
        let changed = match &old {
            None => Some('A'),
            Some(o) => {
                let differs = o.mode() != new.mode()
                    || o.uid() != new.uid()
                    || o.gid() != new.gid()
                    || o.rdev() != new.rdev()
                    || (!new.is_dir() && (o.size() != new.size() || !same_time(o, &new)));
                differs.then_some('C')
            }
        };
        if let Some(k) = changed {
            out.insert(format!("{k} /{p}"));
            // Its directories changed with it.
            let mut up = p.as_str();
            while let Some((parent, _)) = up.rsplit_once('/') {
                if !out.contains(&format!("A /{parent}")) {
                    out.insert(format!("C /{parent}"));
                }
                up = parent;
            }
        }
    }
    out
}

/// Go's `sameFsTime`: equal, or equal seconds where one side has no
/// sub-second part.
fn same_time(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.mtime() == b.mtime()
        && (a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0)
}

/// moby `archive.Changes` over the aufs branches (see the module doc).
fn aufs_diff(upper: &Path, lowers: &[PathBuf]) -> BTreeSet<String> {
    let mut paths = Vec::new();
    walk(upper, "", &mut paths);
    let mut out = BTreeSet::new();
    for p in &paths {
        let name = p.rsplit('/').next().unwrap();
        if !p.contains('/') && name.starts_with(".wh..wh.") {
            continue;
        }
        let new = lstat(&upper.join(p)).unwrap();
        let parent = p.rsplit_once('/').map(|(d, _)| d.to_string());
        let (kind, path) = if let Some(gone) = name.strip_prefix(".wh.") {
            let dir = parent.clone().map(|d| format!("{d}/")).unwrap_or_default();
            ('D', format!("{dir}{gone}"))
        } else {
            match lowers.iter().find_map(|l| lstat(&l.join(p))) {
                None => ('A', p.clone()),
                Some(o)
                    if o.is_dir()
                        && new.is_dir()
                        && o.size() == new.size()
                        && o.mode() == new.mode()
                        && same_time(&o, &new) =>
                {
                    continue;
                }
                Some(_) => ('C', p.clone()),
            }
        };
        if kind != 'C'
            && let Some(d) = &parent
        {
            out.insert(format!("C /{d}"));
        }
        out.insert(format!("{kind} /{path}"));
    }
    out
}

/// Entry names of a tar.
fn entries(tar_path: &Path) -> Vec<String> {
    let f = std::fs::File::open(tar_path).unwrap();
    tar::Archive::new(f)
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            String::from_utf8_lossy(&e.path_bytes()).into_owned()
        })
        .collect()
}

/// Exports every container of the data root `root` (driver `driver`)
/// and checks it; `derive` gives the expected diff from the container's
/// upper directory and lower layers.
fn check_root(
    evidence: &Path,
    root: &Path,
    driver: &str,
    layers_of: impl Fn(&str) -> (PathBuf, Vec<PathBuf>),
    derive: fn(&Path, &[PathBuf]) -> BTreeSet<String>,
) {
    let out = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut changed = 0;
    let mut ids: Vec<String> = std::fs::read_dir(root.join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    for id in &ids {
        let mount = read(
            &root
                .join("image")
                .join(driver)
                .join("layerdb/mounts")
                .join(id)
                .join("mount-id"),
        );
        let (upper, lowers) = layers_of(&mount);
        let r = run([
            "export-container".as_ref(),
            id.as_ref(),
            evidence.as_os_str(),
            out.path().as_os_str(),
            "--flat".as_ref(),
        ]);
        assert!(r.code == 0 || r.code == 3, "{id}: {}", r.stderr);
        let dir = out.path().join(format!("container_{}", &id[..12]));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let got: BTreeSet<String> = report["diff"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v["kind"].as_str().unwrap(),
                    v["path"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(got, derive(&upper, &lowers), "{driver} container {id}");
        let tar = dir.join("changes.tar");
        if !tar.exists() {
            continue;
        }
        // The whole filesystem: the init layer's files in, no whiteout or
        // bookkeeping names.
        let flat = entries(&dir.join("export.tar"));
        assert!(flat.iter().any(|n| n == ".dockerenv"), "{id}: {flat:?}");
        assert!(flat.iter().any(|n| n == "bin/busybox"), "{id}: {flat:?}");
        for n in &flat {
            let base = n.trim_end_matches('/').rsplit('/').next().unwrap();
            assert!(!base.starts_with(".wh."), "{id}: {n} in export.tar");
        }
        let names = entries(&tar);
        for n in &names {
            let bare = n.trim_end_matches('/');
            assert!(
                !INIT_FILES.contains(&bare),
                "{id}: init layer file {n} in changes.tar"
            );
            assert!(
                !bare.split('/').next().unwrap().starts_with(".wh..wh."),
                "{id}: aufs bookkeeping {n} in changes.tar"
            );
        }
        // changes.tar is the diff: each A and C path, a .wh. for each D.
        let mut want: Vec<String> = got
            .iter()
            .map(|c| {
                let (k, p) = c.split_at(2);
                let p = &p[1..];
                if k == "D " {
                    match p.rsplit_once('/') {
                        Some((d, b)) => format!("{d}/.wh.{b}"),
                        None => format!(".wh.{p}"),
                    }
                } else if lstat(&upper.join(p)).is_some_and(|m| m.is_dir()) {
                    format!("{p}/")
                } else {
                    p.to_string()
                }
            })
            .collect();
        let mut names_sorted = names.clone();
        names_sorted.sort();
        want.sort();
        if driver == "overlay" {
            assert_eq!(names_sorted, want, "{id}: changes.tar entries");
        } else {
            // aufs and overlay2 tar the writable layer as it is: every
            // path but aufs bookkeeping.
            let mut all = Vec::new();
            walk(&upper, "", &mut all);
            let mut branch: Vec<String> = all
                .into_iter()
                .filter(|p| !p.split('/').next().unwrap().starts_with(".wh..wh."))
                .map(|p| {
                    if lstat(&upper.join(&p)).is_some_and(|m| m.is_dir()) {
                        format!("{p}/")
                    } else {
                        p
                    }
                })
                .collect();
            branch.sort();
            assert_eq!(names_sorted, branch, "{id}: changes.tar entries");
        }
        checked += 1;
        changed += usize::from(!got.is_empty());
    }
    eprintln!("{driver}: {checked} containers checked, {changed} with changes");
    assert!(checked >= 3, "{driver}: only {checked} containers exported");
}

#[test]
fn overlay_v1_changes_leave_the_init_layer_out() {
    let Some(t) = unpack("overlay.v2.tgz") else {
        return;
    };
    let root = t.path().join("docker");
    let ov = root.join("overlay");
    check_root(
        t.path(),
        &root,
        "overlay",
        |mount| {
            let image = read(&ov.join(mount).join("lower-id"));
            (
                ov.join(mount).join("upper"),
                vec![
                    ov.join(format!("{mount}-init")).join("upper"),
                    ov.join(image).join("root"),
                ],
            )
        },
        naive_diff,
    );
}

#[test]
fn aufs_changes_leave_the_bookkeeping_out() {
    let Some(t) = unpack("aufs.v2.tgz") else {
        return;
    };
    let root = t.path().join("docker");
    let au = root.join("aufs");
    check_root(
        t.path(),
        &root,
        "aufs",
        |mount| {
            let lowers = read(&au.join("layers").join(mount))
                .lines()
                .map(|l| au.join("diff").join(l.trim()))
                .collect();
            (au.join("diff").join(mount), lowers)
        },
        aufs_diff,
    );
}

#[test]
fn overlay2_changes_leave_the_init_layer_out() {
    let Some(t) = unpack("vols.v2.tgz") else {
        return;
    };
    let root = t.path().join("docker");
    let o2 = root.join("overlay2");
    check_root(
        t.path(),
        &root,
        "overlay2",
        |mount| {
            // `lower` names the layers below as links in `l/`, topmost
            // first: the init layer, then the image's.
            let lowers = read(&o2.join(mount).join("lower"))
                .split(':')
                .map(|l| {
                    let link = o2.join(l);
                    let target = std::fs::read_link(&link).unwrap();
                    link.parent().unwrap().join(target)
                })
                .collect();
            (o2.join(mount).join("diff"), lowers)
        },
        naive_diff,
    );
}
