//! Every Docker generation examiners meet, on data roots other people
//! captured (`../shared/peer-real/data/`, provenance in its PROVENANCE.md):
//! pre-1.10 aufs (`graph/`), aufs 2017, overlay 2018, overlay2 2018 with a
//! leftover empty `image/overlay/`, overlay2 2020 with volumes; and a
//! containerd acquisition of only its databases. What is expected is read
//! from the files of each tarball here, independently of the tool.

mod common;

use common::{json_list, run, skip};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/peer-real/data`, beside the fixtures.
fn peer_data() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-real/data");
    if d.join("docker-explorer/aufs.v2.tgz").exists() {
        Some(d)
    } else {
        skip("../shared/peer-real/data is absent: peer-captured data roots not tested");
        None
    }
}

/// Container counts PROVENANCE.md gives (vols.v2: none given).
const DATASETS: [(&str, Option<usize>); 5] = [
    ("aufs.v1", Some(3)),
    ("aufs.v2", Some(7)),
    ("overlay.v2", Some(6)),
    ("overlay2.v2", Some(5)),
    ("vols.v2", None),
];

/// One docker-explorer tarball unpacked into a fresh directory; the
/// directory and the data root inside it (the one with `containers/`).
fn unpack(name: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let data = peer_data()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(data.join(format!("docker-explorer/{name}.tgz")))
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(st.success(), "unpacking {name}");
    let root = find_data_root(dir.path()).unwrap_or_else(|| panic!("no data root in {name}"));
    Some((dir, root))
}

fn find_data_root(dir: &Path) -> Option<PathBuf> {
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        if d.join("containers").is_dir() {
            return Some(d);
        }
        if depth < 3 {
            for e in std::fs::read_dir(&d).ok()?.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    None
}

/// Container ids as the tarball's files give them: directories of
/// `containers/` holding `config.v2.json` (or, before 1.10, `config.json`).
fn container_ids_on_disk(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("containers"))
        .expect("containers/")
        .flatten()
        .filter(|e| {
            e.path().join("config.v2.json").is_file() || e.path().join("config.json").is_file()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn config_of(root: &Path, id: &str) -> Value {
    let dir = root.join("containers").join(id);
    let p = if dir.join("config.v2.json").is_file() {
        dir.join("config.v2.json")
    } else {
        dir.join("config.json")
    };
    serde_json::from_slice(&std::fs::read(&p).expect("config")).expect("config parses")
}

/// The array a listing command printed: a bare array, or the one under
/// `key` (the schema'd shape).
fn containers_json(evidence: &Path) -> Vec<Value> {
    let r = run([
        "containers".as_ref(),
        "--json".as_ref(),
        "-q".as_ref(),
        evidence.as_os_str(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    json_list(&r.stdout, "containers")
}

#[test]
fn each_container_is_listed_once() {
    for (name, count) in DATASETS {
        let Some((dir, root)) = unpack(name) else {
            return;
        };
        let on_disk = container_ids_on_disk(&root);
        if let Some(n) = count {
            assert_eq!(on_disk.len(), n, "{name}: PROVENANCE.md's count");
        }
        let listed: Vec<String> = containers_json(dir.path())
            .iter()
            .map(|c| c["container_id"].as_str().expect("id").to_string())
            .collect();
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(
            listed.len(),
            unique.len(),
            "{name}: listed twice: {listed:?}"
        );
        assert_eq!(unique, on_disk, "{name}");
        // One data root, said once.
        let r = run(["containers".as_ref(), dir.path().as_os_str()]);
        let said = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("docker data root:"))
            .count();
        assert_eq!(said, 1, "{name}: {}", r.stderr);
    }
}

/// What the writable layer of a container holds, as `docker diff` would
/// name it: `A`/`C` for an entry, `D` for a whiteout; aufs's own
/// metadata (`.wh..wh.*`) is not the container's, nor (overlay v1,
/// whose driver copies the parent's upper directory into the child's)
/// what is there unchanged from the init layer `init`.
fn expected_changes(upper: &Path, init: Option<&Path>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![upper.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("upper").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".wh..wh.") {
                continue;
            }
            let rel = e.path().strip_prefix(upper).unwrap().to_path_buf();
            let parent = rel.parent().map(|p| p.to_string_lossy().into_owned());
            let in_dir = |n: &str| match parent.as_deref() {
                Some("") | None => format!("/{n}"),
                Some(p) => format!("/{p}/{n}"),
            };
            if let Some(gone) = name.strip_prefix(".wh.") {
                out.push((in_dir(gone), true));
                continue;
            }
            let ft = e.file_type().expect("type");
            if let Some(init) = init {
                let twin = init.join(&rel);
                let same = if ft.is_symlink() {
                    std::fs::read_link(&twin).ok() == std::fs::read_link(e.path()).ok()
                } else if ft.is_file() {
                    std::fs::read(&twin).ok() == std::fs::read(e.path()).ok()
                } else {
                    twin.exists()
                };
                if same && (twin.exists() || twin.is_symlink()) {
                    if ft.is_dir() {
                        stack.push(e.path());
                    }
                    continue;
                }
            }
            if ft.is_dir() {
                stack.push(e.path());
            } else if !ft.is_char_device() {
                out.push((in_dir(&name), false));
            }
        }
    }
    out
}

use std::os::unix::fs::FileTypeExt;

/// The writable directory of a container, from the files: the layer
/// store's `mount-id` (or, before 1.10, the container id) under its
/// driver's directory; for overlay v1 also its init layer's upper.
fn upper_dir(root: &Path, id: &str) -> Option<(PathBuf, Option<PathBuf>)> {
    let cfg = config_of(root, id);
    let driver = cfg["Driver"].as_str()?;
    let mount =
        std::fs::read_to_string(root.join(format!("image/{driver}/layerdb/mounts/{id}/mount-id")))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| id.to_string());
    let p = match driver {
        "aufs" => root.join(format!("aufs/diff/{mount}")),
        "overlay" => root.join(format!("overlay/{mount}/upper")),
        "overlay2" => root.join(format!("overlay2/{mount}/diff")),
        _ => return None,
    };
    let init = (driver == "overlay")
        .then(|| {
            std::fs::read_to_string(root.join(format!("image/overlay/layerdb/mounts/{id}/init-id")))
                .ok()
        })
        .flatten()
        .map(|i| root.join(format!("overlay/{}/upper", i.trim())));
    p.is_dir().then_some((p, init))
}

#[test]
fn diff_works_for_every_container_of_every_root() {
    for (name, _) in DATASETS {
        let Some((dir, root)) = unpack(name) else {
            return;
        };
        for id in container_ids_on_disk(&root) {
            let r = run([
                "diff".as_ref(),
                "-q".as_ref(),
                id.as_ref(),
                dir.path().as_os_str(),
            ]);
            assert_eq!(r.code, 0, "{name} {id}: {}", r.stderr);
            let lines: BTreeSet<&str> = r.stdout.lines().collect();
            for l in &lines {
                assert!(
                    !l.contains(".wh..wh."),
                    "{name} {id}: aufs metadata in diff: {l}"
                );
            }
            let Some((upper, init)) = upper_dir(&root, &id) else {
                continue;
            };
            for (path, deleted) in expected_changes(&upper, init.as_deref()) {
                if deleted {
                    assert!(
                        lines.contains(format!("D {path}").as_str()),
                        "{name} {id}: D {path} in {lines:?}"
                    );
                } else {
                    assert!(
                        lines.contains(format!("A {path}").as_str())
                            || lines.contains(format!("C {path}").as_str()),
                        "{name} {id}: {path} in {lines:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn pre_1_10_root_lists_its_images_and_containers() {
    let Some((dir, root)) = unpack("aufs.v1") else {
        return;
    };
    // From the files: every graph/<id>/json, the tags of repositories-aufs.
    let graph: BTreeSet<String> = std::fs::read_dir(root.join("graph"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!graph.is_empty());
    let repos: Value =
        serde_json::from_slice(&std::fs::read(root.join("repositories-aufs")).unwrap()).unwrap();
    let mut tagged: Vec<(String, String)> = Vec::new();
    for (repo, tags) in repos["Repositories"].as_object().unwrap() {
        for (tag, id) in tags.as_object().unwrap() {
            tagged.push((format!("{repo}:{tag}"), id.as_str().unwrap().to_string()));
        }
    }
    assert!(!tagged.is_empty());
    let chain_len = |id: &str| {
        let mut n = 0;
        let mut cur = Some(id.to_string());
        while let Some(c) = cur {
            n += 1;
            let j: Value = serde_json::from_slice(
                &std::fs::read(root.join(format!("graph/{c}/json"))).unwrap(),
            )
            .unwrap();
            cur = j["parent"].as_str().map(String::from);
        }
        n
    };

    let rel = root.strip_prefix(dir.path()).unwrap();
    for args in [
        vec![],
        vec!["--docker-root".to_string(), rel.display().to_string()],
    ] {
        let mut a: Vec<std::ffi::OsString> = vec!["images".into(), "--json".into(), "-q".into()];
        a.extend(args.iter().map(Into::into));
        a.push(dir.path().into());
        let r = run(&a);
        // Listed, with exit 3: a v1 config is nothing content-addressed.
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        let rows = json_list(&r.stdout, "images");
        let ids: Vec<String> = rows
            .iter()
            .map(|i| {
                let id = i["image_id"].as_str().unwrap();
                id.trim_start_matches("sha256:").to_string()
            })
            .collect();
        assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), graph);
        assert_eq!(ids.len(), graph.len(), "each image once");
        for (tag, id) in &tagged {
            let row = rows
                .iter()
                .find(|i| i["image_id"].as_str().unwrap().ends_with(id.as_str()))
                .unwrap();
            assert!(
                row["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == tag.as_str()),
                "{row}"
            );
            assert_eq!(row["layers"].as_u64(), Some(chain_len(id) as u64), "{row}");
        }
    }

    // Containers, from config.json, with the image the files name.
    let on_disk = container_ids_on_disk(&root);
    assert_eq!(on_disk.len(), 3);
    let listed = containers_json(dir.path());
    assert_eq!(listed.len(), 3);
    for c in &listed {
        let id = c["container_id"].as_str().unwrap();
        let cfg = config_of(&root, id);
        assert!(root.join(format!("containers/{id}/config.json")).is_file());
        assert_eq!(
            c["name"],
            cfg["Name"].as_str().unwrap().trim_start_matches('/')
        );
        assert_eq!(c["image_id"], cfg["Image"]);
        let running = cfg["State"]["Running"].as_bool().unwrap();
        assert_eq!(c["state"] == "running", running, "{c}");
    }

    // extract: an archive with a clear word that the id is new.
    let out = tempfile::tempdir().unwrap();
    let (tag, id) = &tagged[0];
    let r = run([
        "extract".as_ref(),
        tag.as_ref(),
        dir.path().as_os_str(),
        out.path().as_os_str(),
    ]);
    assert_eq!(r.code, 3, "findings, not failure: {}", r.stderr);
    assert!(r.stderr.contains("pre-1.10"), "{}", r.stderr);
    let img = out.path().join(format!("image_{}", &id[..12]));
    assert!(img.join("image.tar").is_file());
    let report: Value =
        serde_json::from_slice(&std::fs::read(img.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["layers"].as_array().unwrap().len(), chain_len(id));
    // The archive's id is the sha256 of the config it carries, not the v1 id.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(img.join("manifest.json")).unwrap()).unwrap();
    let cfg = manifest[0]["Config"].as_str().unwrap();
    let archive_id = report["archive_image_id"].as_str().unwrap();
    assert!(
        cfg.ends_with(archive_id.trim_start_matches("sha256:")),
        "{cfg} {archive_id}"
    );
    assert!(!archive_id.contains(id.as_str()));
    assert!(common::sums_check(&img));
}

#[test]
fn recorded_paths_are_shown_beside_where_they_were_found() {
    let Some((dir, root)) = unpack("aufs.v2") else {
        return;
    };
    let listed = containers_json(dir.path());
    assert_eq!(listed.len(), 7);
    let rel = root.strip_prefix(dir.path()).unwrap().to_path_buf();
    let mut logs = 0;
    for c in &listed {
        let id = c["container_id"].as_str().unwrap();
        let cfg = config_of(&root, id);
        assert_eq!(c["recorded_data_root"], "/tmp/docker", "{c}");
        let shown = c["recorded_paths"].as_array().unwrap();
        for key in ["LogPath", "ResolvConfPath", "HostnamePath", "HostsPath"] {
            let recorded = cfg[key].as_str().unwrap_or_default();
            let entry = shown.iter().find(|p| p["what"] == key);
            if recorded.is_empty() {
                assert!(entry.is_none(), "{key} of {id}: {c}");
                continue;
            }
            // Recorded under /tmp/docker, found under the data root here.
            let entry = entry.unwrap_or_else(|| panic!("{key} of {id}: {c}"));
            assert_eq!(entry["recorded"], recorded);
            let tail = recorded.strip_prefix("/tmp/docker/").unwrap();
            let here = root.join(tail);
            match entry["found"].as_str() {
                Some(f) => {
                    assert!(here.exists());
                    assert_eq!(
                        f.trim_start_matches('/'),
                        format!("{}/{tail}", rel.display())
                    );
                }
                None => assert!(!here.exists(), "{key} of {id} is there: {c}"),
            }
            logs += usize::from(key == "LogPath");
        }
    }
    assert!(logs > 0);
    let r = run(["containers".as_ref(), dir.path().as_os_str()]);
    assert!(r.stderr.contains("/tmp/docker"), "{}", r.stderr);

    // The container report says the same.
    let id = &listed[0]["container_id"].as_str().unwrap().to_string();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        "export-container".as_ref(),
        "-q".as_ref(),
        id.as_ref(),
        dir.path().as_os_str(),
        out.path().as_os_str(),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let report: Value = serde_json::from_slice(
        &std::fs::read(
            out.path()
                .join(format!("container_{}/report.json", &id[..12])),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(report["container"]["recorded_data_root"], "/tmp/docker");
    assert!(
        report["container"]["recorded_paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["what"] == "LogPath"
                && p["recorded"].as_str().unwrap().starts_with("/tmp/docker/"))
    );

    // A bind mount source is shown as recorded, and as absent.
    let Some((dir, root)) = unpack("vols.v2") else {
        return;
    };
    let mut binds = 0;
    for c in containers_json(dir.path()) {
        let id = c["container_id"].as_str().unwrap();
        for (dest, m) in config_of(&root, id)["MountPoints"].as_object().unwrap() {
            let src = m["Source"].as_str().unwrap_or_default();
            if src.is_empty() {
                continue;
            }
            binds += 1;
            let p = c["recorded_paths"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["what"] == format!("MountPoints[{dest}].Source").as_str())
                .unwrap_or_else(|| panic!("{c}"));
            assert_eq!(p["recorded"], src);
            assert_eq!(
                p["found"].is_null(),
                !dir.path().join(src.trim_start_matches('/')).exists()
            );
        }
    }
    assert!(binds > 0);
}

#[test]
fn a_leftover_driver_directory_is_not_a_second_data_root() {
    let Some((dir, root)) = unpack("overlay2.v2") else {
        return;
    };
    // The files: an empty image/overlay/ beside image/overlay2/.
    assert_eq!(
        std::fs::read_dir(root.join("image/overlay/imagedb/content/sha256"))
            .unwrap()
            .count(),
        0
    );
    let images = std::fs::read_dir(root.join("image/overlay2/imagedb/content/sha256"))
        .unwrap()
        .count();
    let r = run([
        "images".as_ref(),
        "--json".as_ref(),
        "-q".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_list(&r.stdout, "images").len(), images);
    let id = container_ids_on_disk(&root).into_iter().next().unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        "export-container".as_ref(),
        "-q".as_ref(),
        id.as_ref(),
        dir.path().as_os_str(),
        out.path().as_os_str(),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let r = run([
        "timeline".as_ref(),
        "-q".as_ref(),
        "--container".as_ref(),
        id.as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    assert!(r.stdout.lines().count() > 1, "{}", r.stdout);
    assert!(!r.stderr.contains("several data roots"), "{}", r.stderr);
}

/// The dfirlabs databases, as published (a bare `meta.db` beside the
/// overlayfs snapshotter's `metadata.db`).
fn dfirlabs() -> Option<PathBuf> {
    let d = peer_data()?.join("container-explorer/dfirlabs");
    d.join("meta.db").is_file().then_some(d)
}

#[test]
fn a_databases_only_containerd_acquisition_says_what_is_missing() {
    let Some(db) = dfirlabs() else {
        return;
    };
    let meta = std::fs::read(db.join("meta.db")).unwrap();
    let r = run([
        "images".as_ref(),
        "--json".as_ref(),
        "-q".as_ref(),
        db.as_os_str(),
    ]);
    // Listed, with exit 3: the images cannot be read.
    assert_eq!(r.code, 3, "{}", r.stderr);
    let rows = json_list(&r.stdout, "images");
    let mut seen = BTreeSet::new();
    for row in &rows {
        let store = row["store"].as_str().unwrap().to_string();
        let tag = row["tags"][0].as_str().unwrap().to_string();
        seen.insert((store, tag));
        // The id is unknown: the manifest/index digest is not shown as it.
        assert_eq!(row["image_id"].as_str(), Some(""), "{row}");
        assert_eq!(row["layers_known"], false, "{row}");
        let target = row["target_digest"].as_str().unwrap();
        // The database itself records that digest.
        assert!(
            meta.windows(target.len()).any(|w| w == target.as_bytes()),
            "{target} not in meta.db"
        );
        assert!(
            row["error"]
                .as_str()
                .unwrap()
                .contains("is not in the content store")
        );
    }
    let want: BTreeSet<(String, String)> = [
        ("containerd/default", "docker.io/library/nginx:latest"),
        ("containerd/dfirlabs", "docker.io/library/redis:latest"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);

    let cs = containers_json(&db);
    let got: BTreeSet<(String, String)> = cs
        .iter()
        .map(|c| {
            (
                c["store"].as_str().unwrap().to_string(),
                c["container_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("containerd/default", "nginx-specimen"),
        ("containerd/dfirlabs", "redis-specimen"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    for c in &cs {
        assert!(
            c["created"].as_str().unwrap().starts_with("2021-12-21"),
            "{c}"
        );
        let key = c["snapshot_key"].as_str().unwrap();
        assert!(meta.windows(key.len()).any(|w| w == key.as_bytes()));
    }

    // verify and extract say which blob is gone, not "no such image".
    let r = run(["verify".as_ref(), "-q".as_ref(), db.as_os_str()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("no such image"), "{all}");
    for row in &rows {
        let t = row["target_digest"].as_str().unwrap();
        assert!(
            all.contains(&format!("blob {t} is not in the content store")),
            "{all}"
        );
    }
    for name in ["nginx:latest", "docker.io/library/redis:latest"] {
        let out = tempfile::tempdir().unwrap();
        let r = run([
            "extract".as_ref(),
            "-q".as_ref(),
            name.as_ref(),
            db.as_os_str(),
            out.path().as_os_str(),
        ]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("no such image"), "{}", r.stderr);
        assert!(
            r.stderr.contains("is not in the content store"),
            "{}",
            r.stderr
        );
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }
}

/// The pre-1.10 image's archive loads in a real dockerd, under the id of
/// the config it carries (the sha256 the report names), not the v1 id;
/// and it runs.
#[test]
fn a_pre_1_10_image_loads_under_a_new_id() {
    let Some((dir, root)) = unpack("aufs.v1") else {
        return;
    };
    let repos: Value =
        serde_json::from_slice(&std::fs::read(root.join("repositories-aufs")).unwrap()).unwrap();
    let (repo, tags) = repos["Repositories"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let (tag, v1) = tags.as_object().unwrap().iter().next().unwrap();
    let name = format!("{repo}:{tag}");
    let v1 = v1.as_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run([
        "extract".as_ref(),
        "-q".as_ref(),
        name.as_ref(),
        dir.path().as_os_str(),
        out.path().as_os_str(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let img = out.path().join(format!("image_{}", &v1[..12]));
    let report: Value =
        serde_json::from_slice(&std::fs::read(img.join("report.json")).unwrap()).unwrap();
    let Some(d) = common::daemon::Daemon::start() else {
        return;
    };
    d.load(&img.join("image.tar"));
    let id = d.image_id(&name);
    assert_eq!(id, report["archive_image_id"].as_str().unwrap());
    assert!(!id.contains(v1));
    let (ok, said) = d.docker(&["run", "--rm", "--network=none", &name, "echo", "ran"]);
    assert!(ok, "{said}");
    assert_eq!(said.trim(), "ran");
}
