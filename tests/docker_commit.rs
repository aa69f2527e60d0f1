//! `export-container` against a real dockerd 20.10: a container that
//! adds, changes and deletes files and directories (a new directory, a
//! replaced one, a chmod, a chown, hard and symbolic links, a FIFO, a
//! device, a file with a capability and one with a user attribute, long
//! and non-ASCII names, deletions under an opaque directory) is stopped,
//! `docker commit`ed and `docker export`ed; then dockerd is stopped and
//! the tool reads its data root: `changes.tar` must hash to the diff_id
//! of the layer Docker's commit made, and `export.tar` (`--flat`) must be
//! byte for byte what `docker export` wrote. The data root sits in a
//! host-like tree whose `etc/passwd` and `etc/group` are this host's,
//! where dockerd looked user names up. Skipped loudly where no dockerd
//! can start (or, for overlay v1, where this kernel and dockerd refuse
//! the driver).

mod common;

use common::daemon::Daemon;
use common::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use tar::{Builder, EntryType, Header};

const T0: u64 = 1_500_000_000;
const APPLETS: &[&str] = &[
    "sh", "echo", "mkdir", "rm", "chmod", "ln", "touch", "chown", "mkfifo", "mknod", "cat",
];
const LONG_DIR: &str = "a-directory-with-a-rather-long-name-to-push-paths-past-one-hundred-bytes";

/// What the container does to the image's files.
fn script() -> String {
    format!(
        "set -e
echo new > /new.txt
mkdir -p /newdir/sub && echo x > /newdir/sub/f
echo changed >> /etc/passwd
rm /keep/gone1
rm -rf /olddir
rm -rf /repl && mkdir /repl && echo y > /repl/z
chmod 700 /chm
ln /new.txt /newlink
ln -s /etc/passwd /sym
touch /capfile /userx /hard1
rm /opq/c
chown 1234:1234 /newdir/sub/f
chown 1:1 /new.txt
mkfifo /fifo
mknod /nulldev c 1 3
mkdir -p /{LONG_DIR}/and-a-subdirectory
echo l > /{LONG_DIR}/and-a-subdirectory/file-{}
echo m > /{}
echo u > /caf\u{e9}
",
        "n".repeat(40),
        "z".repeat(110)
    )
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(T0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn dir(b: &mut Builder<Vec<u8>>, name: &str, mode: u32) {
    let mut h = header(EntryType::Directory, mode, 0);
    b.append_data(&mut h, name, std::io::empty()).unwrap();
}

fn file(b: &mut Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]) {
    let mut h = header(EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, name, data).unwrap();
}

fn link(b: &mut Builder<Vec<u8>>, kind: EntryType, name: &str, target: &str) {
    let mut h = header(kind, 0o777, 0);
    b.append_link(&mut h, name, target).unwrap();
}

/// The image: two layers, the second making `opq` opaque and deleting
/// `gone2`.
fn layers() -> Vec<Vec<u8>> {
    let mut b = Builder::new(Vec::new());
    for d in [
        "bin/",
        "etc/",
        "keep/",
        "olddir/",
        "olddir/sub/",
        "repl/",
        "opq/",
    ] {
        dir(&mut b, d, 0o755);
    }
    dir(&mut b, "tmp/", 0o1777);
    file(
        &mut b,
        "bin/busybox",
        0o755,
        &std::fs::read("/bin/busybox").unwrap(),
    );
    for a in APPLETS {
        link(&mut b, EntryType::Symlink, &format!("bin/{a}"), "busybox");
    }
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\n",
    );
    file(&mut b, "etc/group", 0o644, b"root:x:0:\ndaemon:x:1:\n");
    for f in [
        "keep/gone1",
        "keep/stay",
        "olddir/a",
        "olddir/sub/b",
        "repl/x",
        "opq/a",
        "opq/b",
        "chm",
        "gone2",
    ] {
        file(&mut b, f, 0o644, f.as_bytes());
    }
    // cap_net_raw, permitted and effective (VFS_CAP_REVISION_2).
    let mut cap = vec![0x01, 0, 0, 0x02, 0, 0x20, 0, 0];
    cap.extend_from_slice(&[0u8; 12]);
    b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
        .unwrap();
    file(&mut b, "capfile", 0o755, b"cap");
    b.append_pax_extensions([("SCHILY.xattr.user.test", &b"v"[..])])
        .unwrap();
    file(&mut b, "userx", 0o644, b"user");
    file(&mut b, "hard1", 0o644, b"hard");
    link(&mut b, EntryType::Link, "hard2", "hard1");
    let one = b.into_inner().unwrap();

    let mut b = Builder::new(Vec::new());
    dir(&mut b, "opq/", 0o755);
    file(&mut b, "opq/.wh..wh..opq", 0o644, b"");
    file(&mut b, "opq/c", 0o644, b"c");
    file(&mut b, ".wh.gone2", 0o644, b"");
    let two = b.into_inner().unwrap();
    vec![one, two]
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A `docker load` archive of the image, tagged `dfx/commit:1`.
fn image_archive(path: &Path) {
    let ls = layers();
    let diff_ids: Vec<String> = ls.iter().map(|l| format!("sha256:{}", sha(l))).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2017-07-14T02:40:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2017-07-14T02:40:00Z"}, {"created": "2017-07-14T02:40:00Z"}],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let mut b = Builder::new(Vec::new());
    let mut names = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        let name = format!("l{i}/layer.tar");
        file(&mut b, &name, 0o644, l);
        names.push(name);
    }
    file(&mut b, "config.json", 0o644, &config);
    let manifest = serde_json::json!([{
        "Config": "config.json", "RepoTags": ["dfx/commit:1"], "Layers": names,
    }]);
    file(
        &mut b,
        "manifest.json",
        0o644,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

/// The last layer of a `docker save` archive.
fn top_layer(saved: &[u8]) -> Vec<u8> {
    let mut files = std::collections::HashMap::new();
    let mut a = tar::Archive::new(saved);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        files.insert(name, v);
    }
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let last = m[0]["Layers"].as_array().unwrap().last().unwrap();
    files[last.as_str().unwrap()].clone()
}

/// Where two tars first differ, block by block, for the failure message.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let blk = at / 512 * 512;
    let show = |b: &[u8]| {
        let end = (blk + 512).min(b.len());
        String::from_utf8_lossy(&b[blk.min(end)..end])
            .replace('\0', "·")
            .to_string()
    };
    format!(
        "lengths {} vs {}; first difference at byte {at} (block at {blk}):\nours:   {}\ndocker: {}",
        ours.len(),
        theirs.len(),
        show(ours),
        show(theirs)
    )
}

/// The one `container_<id>` directory under `out`.
fn cdir_in(out: &Path) -> std::path::PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn docker_ok(d: &Daemon, args: &[&str]) -> String {
    let (ok, out) = d.docker(args);
    assert!(ok, "docker {args:?}: {out}\n{}", d.log());
    out
}

/// Sets the time of every `.wh.<name>` entry (not an opaque marker) to
/// zero, checksum mended; returns how many there were and their times.
fn zero_whiteout_times(tar: &mut [u8]) -> Vec<i64> {
    let mut times = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
        let h = tar[at..at + 512].to_vec();
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).to_string()
        };
        let name = field(0..100);
        let size = i64::from_str_radix(field(124..136).trim(), 8).unwrap_or(0);
        let base = name.rsplit('/').next().unwrap_or("");
        if h[156] == b'0' && base.starts_with(".wh.") && base != ".wh..wh..opq" {
            times.push(i64::from_str_radix(field(136..148).trim(), 8).unwrap());
            let b = &mut tar[at..at + 512];
            b[136..148].copy_from_slice(b"00000000000\0");
            b[148..156].fill(b' ');
            let sum: u32 = b.iter().map(|x| u32::from(*x)).sum();
            b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        }
        let data = if matches!(h[156], b'0' | b'x' | 0) {
            (size as usize).div_ceil(512) * 512
        } else {
            0
        };
        at += 512 + data;
    }
    times
}

/// What Docker did: its data root's host tree, `docker diff`, the
/// committed layer's diff_id and bytes, `docker export`'s file, the
/// server version, whether it used overlay2's naive diff.
struct Docker {
    host: std::path::PathBuf,
    diff: String,
    diff_id: String,
    docker_layer: Vec<u8>,
    exported: std::path::PathBuf,
    version: String,
    naive: bool,
}

/// A dockerd 20.10 of ours with `driver` does it; `None` where none can
/// start.
fn with_dockerd(driver: &str, work: &Path) -> Option<(Daemon, Docker)> {
    let mut d = Daemon::start_with(&["--storage-driver", driver], "host/var/lib/docker")?;
    let host = d.dir().join("host");
    std::fs::create_dir_all(host.join("etc")).unwrap();
    for f in ["passwd", "group"] {
        std::fs::copy(Path::new("/etc").join(f), host.join("etc").join(f)).unwrap();
    }
    // The package database that says which Docker this is.
    std::fs::create_dir_all(host.join("var/lib/dpkg")).unwrap();
    std::fs::copy("/var/lib/dpkg/status", host.join("var/lib/dpkg/status")).unwrap();
    let (_, version) = d.docker(&["version", "--format", "{{.Server.Version}}"]);
    let image = work.join("image.tar");
    image_archive(&image);
    d.load(&image);
    let s = script();
    docker_ok(
        &d,
        &[
            "run",
            "--name",
            "c1",
            "--network",
            "none",
            "dfx/commit:1",
            "/bin/sh",
            "-c",
            &s,
        ],
    );
    let diff = docker_ok(&d, &["diff", "c1"]);
    docker_ok(&d, &["commit", "c1", "dfx/committed:1"]);
    let layers = docker_ok(
        &d,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            "dfx/committed:1",
        ],
    );
    let saved = work.join("saved.tar");
    let exported = work.join("exported.tar");
    docker_ok(
        &d,
        &["save", "-o", saved.to_str().unwrap(), "dfx/committed:1"],
    );
    docker_ok(&d, &["export", "-o", exported.to_str().unwrap(), "c1"]);
    d.stop();
    // Where the kernel has overlayfs redirect_dir on, dockerd 20.10 uses
    // overlay2's naive diff, and says so; the examiner tells the tool.
    let naive = d.log().contains("Not using native diff for overlay2");
    if naive {
        eprintln!("dockerd uses overlay2's naive diff here (kernel redirect_dir)");
    }
    let docker = Docker {
        host,
        diff,
        diff_id: diff_id_of(&layers),
        docker_layer: top_layer(&std::fs::read(&saved).unwrap()),
        exported,
        version: version.trim().to_string(),
        naive,
    };
    Some((d, docker))
}

/// The top layer's diff_id, hex, from `{{json .RootFS.Layers}}`.
fn diff_id_of(layers: &str) -> String {
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    layers
        .last()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string()
}

/// Runs the whole comparison on a dockerd 20.10 with `driver`.
fn commit_and_export_match(driver: &str) {
    let work = tempfile::tempdir().unwrap();
    let Some((_daemon, docker)) = with_dockerd(driver, work.path()) else {
        return;
    };
    check(driver, &docker, work.path());
}

/// `export-container` on Docker's data root gives what Docker gave.
fn check(driver: &str, docker: &Docker, work: &Path) {
    let Docker {
        host,
        diff,
        diff_id,
        docker_layer,
        exported,
        version,
        naive,
    } = docker;
    let (naive, diff_id) = (*naive, diff_id.as_str());
    assert_eq!(sha(docker_layer), diff_id, "docker save's top layer");
    let out = work.join("out");
    let mut args = vec![
        "export-container".as_ref(),
        "c1".as_ref(),
        host.as_os_str(),
        out.as_os_str(),
        "--flat".as_ref(),
    ];
    if naive && driver == "overlay2" {
        args.push("--naive-diff".as_ref());
    }
    let r = run(args);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let cdir = cdir_in(&out);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cdir.join("report.json")).unwrap()).unwrap();
    let ours = std::fs::read(cdir.join("changes.tar")).unwrap();
    if std::env::var_os("DFX_KEEP").is_some() {
        let keep = Path::new("/tmp/dfx-commit-keep");
        let _ = std::fs::create_dir_all(keep);
        std::fs::write(keep.join("docker-layer.tar"), docker_layer).unwrap();
        std::fs::copy(exported, keep.join("docker-export.tar")).unwrap();
        std::fs::copy(cdir.join("changes.tar"), keep.join("changes.tar")).unwrap();
        std::fs::copy(cdir.join("export.tar"), keep.join("export.tar")).unwrap();
        eprintln!("docker diff:\n{diff}\nkept in {}", keep.display());
    }
    // Our diff is Docker's.
    let mut want: Vec<&str> = diff.lines().collect();
    want.sort();
    let mut got: Vec<String> = report["diff"]
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
    got.sort();
    assert_eq!(got, want, "docker diff");
    // Docker up to 20.10.26 looks user names up, later ones do not
    // (moby `FileInfoHeader`).
    let v: Vec<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse().unwrap())
        .collect();
    let names = report["changes_user_names"].as_str().unwrap();
    if (v[0], v[1], v[2]) < (20, 10, 27) {
        assert_eq!(names, "the evidence's /etc/passwd and /etc/group");
    } else {
        assert!(names.starts_with("none"), "{names}");
    }
    let how = report["changes_written_as"].as_str().unwrap();
    assert!(
        how.contains(version.trim()) && how.contains("dpkg"),
        "{how} (server {version})"
    );
    if driver == "overlay" || naive {
        // The naive diff stamps each deletion with the time of the
        // commit, which the data root does not keep: equal but for those.
        let (mut a, mut b) = (ours.clone(), docker_layer.clone());
        let ours_t = zero_whiteout_times(&mut a);
        let docker_t = zero_whiteout_times(&mut b);
        assert_eq!(ours_t.len(), 4, "{ours_t:?}");
        assert_eq!(docker_t.len(), 4, "{docker_t:?}");
        // Ours stand for the commit time with the container's finish time.
        let finished = report["container"]["finished"].as_str().unwrap();
        let finished = chrono::DateTime::parse_from_rfc3339(finished)
            .unwrap()
            .timestamp();
        assert!(ours_t.iter().all(|t| *t == finished), "{ours_t:?}");
        assert!(
            a == b,
            "changes.tar is not docker commit's layer (whiteout times aside): {}",
            first_difference(&a, &b)
        );
    } else {
        assert_eq!(
            sha(&ours),
            diff_id,
            "changes.tar is not docker commit's layer: {}",
            first_difference(&ours, docker_layer)
        );
        assert_eq!(
            report["changes_sha256"].as_str().unwrap(),
            format!("sha256:{diff_id}")
        );
    }
    let ours = std::fs::read(cdir.join("export.tar")).unwrap();
    let theirs = std::fs::read(exported).unwrap();
    assert!(
        ours == theirs,
        "export.tar is not docker export's: {}",
        first_difference(&ours, &theirs)
    );
    assert_eq!(
        report["export_sha256"].as_str().unwrap(),
        format!("sha256:{}", sha(&theirs))
    );
    // With the data root alone the host's user database is not there:
    // uid 0 is taken for root, uid 1 (`daemon` on this host) gets no name,
    // and the report says so.
    let out2 = work.join("out2");
    let r = run([
        "export-container".as_ref(),
        "c1".as_ref(),
        host.join("var/lib/docker").as_os_str(),
        out2.as_os_str(),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let report2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cdir_in(&out2).join("report.json")).unwrap())
            .unwrap();
    assert!(
        report2["changes_user_names"]
            .as_str()
            .unwrap()
            .starts_with("assumed"),
        "{}",
        report2["changes_user_names"]
    );
    // Docker 24 and later write no names and no file-type bits (moby
    // `FileInfoHeader`); told so, the tool follows.
    let out3 = work.join("out3");
    let r = run([
        "export-container".as_ref(),
        "c1".as_ref(),
        host.as_os_str(),
        out3.as_os_str(),
        "--docker-version".as_ref(),
        "24.0.7".as_ref(),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let t24 = std::fs::read(cdir_in(&out3).join("changes.tar")).unwrap();
    let mut a = tar::Archive::new(&t24[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mode().unwrap() & 0o170000, 0, "{:?}", e.path());
        assert_eq!(h.username_bytes(), Some(&b""[..]), "{:?}", e.path());
    }
    // The committed image loads and carries the same layer.
    if let Some(mut d2) = Daemon::start() {
        let said = d2.load(&cdir.join("committed.tar"));
        assert!(said.contains("Loaded image"), "{said}");
        d2.stop();
    }
}

#[test]
fn overlay2_commit_and_export_are_dockers() {
    commit_and_export_match("overlay2");
}

#[test]
fn overlay_v1_commit_and_export_are_dockers() {
    commit_and_export_match("overlay");
}

/// The same on dockerd 28.5 (Debian sid chroot, `tests/sid-dockerd.sh
/// commit`) with the overlay2 graph driver: Docker 24 and later write no
/// user names and no file-type bits; the evidence's dpkg database (the
/// chroot's) names the version.
#[test]
fn docker28_overlay2_commit_and_export_are_dockers() {
    if !is_root() {
        skip("the sid engine needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (host, work) = (t.path().join("host"), t.path().join("work"));
    std::fs::create_dir_all(&host).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    image_archive(&work.join("image.tar"));
    std::fs::write(work.join("script.sh"), script()).unwrap();
    let sh = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sid-dockerd.sh");
    let out = std::process::Command::new("bash")
        .arg(&sh)
        .arg("commit")
        .arg(&host)
        .arg(&work)
        .output()
        .expect("run sid-dockerd.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            skip(&format!(
                "no Debian sid chroot with dockerd 28.5 (run `tests/sid-dockerd.sh prepare`): the Docker 28 commit test did not run. {stderr}"
            ));
            return;
        }
        _ => panic!("sid-dockerd.sh commit: {stderr}"),
    }
    let read = |n: &str| std::fs::read_to_string(work.join(n)).unwrap();
    assert_eq!(read("driver.txt").trim(), "overlay2");
    let sidroot = std::env::var("SIDROOT").unwrap_or_else(|_| "/var/tmp/sidroot".into());
    std::fs::create_dir_all(host.join("var/lib/dpkg")).unwrap();
    std::fs::copy(
        Path::new(&sidroot).join("var/lib/dpkg/status"),
        host.join("var/lib/dpkg/status"),
    )
    .unwrap();
    let docker = Docker {
        host: host.clone(),
        diff: read("diff.txt"),
        diff_id: diff_id_of(&read("layers.json")),
        docker_layer: top_layer(&std::fs::read(work.join("saved.tar")).unwrap()),
        exported: work.join("exported.tar"),
        version: read("version.txt").trim().to_string(),
        naive: false,
    };
    check("overlay2", &docker, &work);
}
