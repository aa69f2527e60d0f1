//! Finding Docker data roots on a host filesystem, in the order dockerd
//! itself would pick them: explicit configuration first
//! (`/etc/docker/daemon.json` `data-root`, or the old `graph`; `--data-root`
//! / `-g` on the `ExecStart` line of the systemd unit or a drop-in), then
//! the default `/var/lib/docker`, the snap package's and rootless
//! locations, and finally a bounded scan for `image/<driver>/imagedb`.
//! A directory is a data root when it holds `image/<driver>/imagedb` or,
//! whatever its image store, `containers/<id>/config.v2.json` (Docker
//! with the containerd image store keeps no `image/` directory), or the
//! pre-1.10 `graph/<id>/json` with `repositories-<driver>`.

use super::{CONTAINERD_IMAGES, DataRoot, Layout};
use crate::evidence::fs::{EvPath, FileKind, FileSystem};
use crate::evidence::{Evidence, Volume};
use crate::store::StoreError;

/// Which Docker Desktop data disk a volume is, when it looks like one: a
/// filesystem with no partition table around it, from a disk image file
/// named as Docker Desktop names its data disk (Docker's documentation:
/// `docker_data.vhdx`, `ext4.vhdx` in `%LOCALAPPDATA%\Docker\wsl\` on
/// Windows; `Docker.raw`, once `Docker.qcow2`, in
/// `~/Library/Containers/com.docker.docker/Data/vms/0/data/` on macOS).
fn desktop_disk(vol: &Volume) -> Option<String> {
    use crate::evidence::provenance::SpecLayer;
    let layers = &vol.spec.0;
    if layers.iter().any(|l| {
        matches!(
            l,
            SpecLayer::Partition { .. } | SpecLayer::LogicalVolume { .. }
        )
    }) {
        return None;
    }
    let file = layers.iter().find_map(|l| match l {
        SpecLayer::DiskImage { path, .. } => Some(path.as_str()),
        _ => None,
    })?;
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let which = match name.to_ascii_lowercase().as_str() {
        "docker_data.vhdx" => "Docker Desktop for Windows (WSL 2) data disk docker_data.vhdx",
        "ext4.vhdx" => "Docker Desktop for Windows (WSL 2) disk ext4.vhdx",
        "docker.raw" => "Docker Desktop for Mac data disk Docker.raw",
        "docker.qcow2" => "Docker Desktop for Mac data disk Docker.qcow2 (before 4.x)",
        _ => "a bare filesystem whose root holds docker/, as on a Docker Desktop data disk",
    };
    Some(format!(
        "{which}: the filesystem root is the VM's /var/lib (image file {file})"
    ))
}

/// How deep and how wide the last-resort scan goes.
const SCAN_DEPTH: usize = 6;
const SCAN_DIRS: usize = 20_000;

impl DataRoot {
    /// Every data root in the evidence. `explicit` (a path relative to the
    /// evidence root, from `--docker-root`) overrides detection.
    pub fn discover(ev: &Evidence, explicit: Option<&str>) -> Result<Vec<DataRoot>, StoreError> {
        let mut found = Vec::new();
        let mut looked = Vec::new();
        for vol in &ev.volumes {
            if let Some(p) = explicit {
                let path = EvPath::parse(p).ok_or_else(|| StoreError::NotADataRoot {
                    path: p.to_string(),
                })?;
                let roots = roots_at(vol, &path, "named with --docker-root");
                if roots.is_empty() && ev.volumes.len() == 1 {
                    return Err(StoreError::NotADataRoot {
                        path: path.display(),
                    });
                }
                found.extend(roots);
                continue;
            }
            for (path, reason) in candidates(&*vol.fs) {
                looked.push(path.display());
                if found
                    .iter()
                    .any(|r: &DataRoot| r.path == path && r.volume.label == vol.label)
                {
                    continue;
                }
                let reason = match path.display().as_str() {
                    "/docker" => desktop_disk(vol).unwrap_or(reason),
                    _ => reason,
                };
                found.extend(roots_at(vol, &path, &reason));
            }
            if !found.iter().any(|r| r.volume.label == vol.label) {
                for path in scan(&*vol.fs) {
                    found.extend(roots_at(vol, &path, "found by scanning the filesystem"));
                }
            }
        }
        if found.is_empty() {
            if let Some(p) = explicit {
                return Err(StoreError::NotADataRoot {
                    path: p.to_string(),
                });
            }
            looked.dedup();
            if let Some(denied) = permission_denied(ev, &looked) {
                return Err(denied.into());
            }
            return Err(StoreError::NoDataRoot {
                evidence: ev.source.clone(),
                looked: format!("{} and a scan", looked.join(", ")),
            });
        }
        Ok(found)
    }
}

/// A place that was looked at but could not be read for want of
/// permission: the examiner must hear that, not "no data root".
fn permission_denied(ev: &Evidence, looked: &[String]) -> Option<crate::evidence::fs::FsError> {
    use crate::evidence::fs::FsError;
    for vol in &ev.volumes {
        for p in looked {
            let Some(path) = EvPath::parse(p) else {
                continue;
            };
            for dir in [Some(path.clone()), path.child(b"image")]
                .into_iter()
                .flatten()
            {
                if let Err(e @ FsError::PermissionDenied { .. }) = vol.fs.read_dir(&dir) {
                    return Some(e);
                }
            }
        }
    }
    None
}

/// The data root at `path`, if it is one: one [`DataRoot`] per graph
/// driver *in use* there. A host that changed storage driver keeps the
/// old `image/<driver>/` (often empty) beside the new one; that is still
/// one data root. The drivers in use are those whose image database
/// holds images or that a container's `config.v2.json` names as its
/// `Driver`; in an empty data root, every driver with an image database. One with
/// the containerd image store when it has containers but no image store
/// of its own; one of the pre-1.10 `graph/` layout when it has that.
fn roots_at(vol: &Volume, path: &EvPath, reason: &str) -> Vec<DataRoot> {
    let fs = &*vol.fs;
    let all = drivers_at(fs, path);
    let named = container_drivers(fs, path);
    let mut drivers: Vec<String> = all
        .iter()
        .filter(|d| has_images(fs, path, d) || named.contains(*d))
        .cloned()
        .collect();
    if drivers.is_empty() {
        drivers = all;
    }
    let mut layout = Layout::ImageDb;
    if drivers.is_empty() {
        if let Some(d) = super::legacy::graph_driver(fs, path) {
            drivers.push(d);
            layout = Layout::Graph;
        } else if has_containers(fs, path) {
            drivers.push(CONTAINERD_IMAGES.to_string());
        }
    }
    let peers = drivers.clone();
    drivers
        .into_iter()
        .map(|driver| DataRoot {
            volume: vol.clone(),
            path: path.clone(),
            driver,
            reason: reason.to_string(),
            layout,
            peers: peers.clone(),
            references: Default::default(),
        })
        .collect()
}

/// Whether `image/<driver>/imagedb/content/sha256/` holds any entry.
fn has_images(fs: &dyn FileSystem, path: &EvPath, driver: &str) -> bool {
    path.join(format!("image/{driver}/imagedb/content/sha256"))
        .and_then(|d| fs.read_dir(&d).ok())
        .is_some_and(|e| e.iter().any(|e| e.kind == FileKind::File))
}

/// The graph drivers the containers under `path/containers/` name
/// (`Driver` of `config.v2.json`), each once.
fn container_drivers(fs: &dyn FileSystem, path: &EvPath) -> Vec<String> {
    let Some(dir) = path.child(b"containers") else {
        return Vec::new();
    };
    let Ok(entries) = fs.read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for e in entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .take(CONTAINER_PROBE)
    {
        let Some(cfg) = dir.child(&e.name).and_then(|d| d.child(b"config.v2.json")) else {
            continue;
        };
        let Ok(bytes) = fs.read_small(&cfg, 16 << 20) else {
            continue;
        };
        if let Some(d) = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("Driver")?.as_str().map(String::from))
            && !out.contains(&d)
        {
            out.push(d);
        }
    }
    out
}

/// Graph drivers with an image database under `path/image/`.
fn drivers_at(fs: &dyn FileSystem, path: &EvPath) -> Vec<String> {
    let Some(image) = path.child(b"image") else {
        return Vec::new();
    };
    let Ok(entries) = fs.read_dir(&image) else {
        return Vec::new();
    };
    let mut drivers: Vec<String> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .filter_map(|e| {
            let d = image.child(&e.name)?.child(b"imagedb")?;
            fs.metadata(&d)
                .is_ok_and(|m| m.is_dir())
                .then(|| String::from_utf8_lossy(&e.name).into_owned())
        })
        .collect();
    drivers.sort();
    drivers
}

/// How many entries of `containers/` are looked at for a
/// `config.v2.json`.
const CONTAINER_PROBE: usize = 1000;

/// Whether `path/containers/<id>/config.v2.json` exists for some id.
fn has_containers(fs: &dyn FileSystem, path: &EvPath) -> bool {
    let Some(dir) = path.child(b"containers") else {
        return false;
    };
    let Ok(entries) = fs.read_dir(&dir) else {
        return false;
    };
    entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .take(CONTAINER_PROBE)
        .filter(|e| std::str::from_utf8(&e.name).is_ok_and(crate::digest::is_sha256_hex))
        .any(|e| {
            dir.child(&e.name)
                .and_then(|d| d.child(b"config.v2.json"))
                .is_some_and(|c| fs.metadata(&c).is_ok_and(|m| m.is_file()))
        })
}

/// Configured and conventional locations, most authoritative first.
fn candidates(fs: &dyn FileSystem) -> Vec<(EvPath, String)> {
    let mut out = vec![(
        EvPath::root(),
        "the evidence is itself a data root".to_string(),
    )];
    let p = |s: &str| EvPath::parse(s).unwrap_or_default();
    if let Ok(bytes) = fs.read_small(&p("etc/docker/daemon.json"), 1 << 20)
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        for key in ["data-root", "graph"] {
            if let Some(dir) = v.get(key).and_then(|d| d.as_str())
                && let Some(path) = EvPath::parse(dir)
            {
                out.push((
                    path,
                    format!("/etc/docker/daemon.json sets \"{key}\": \"{dir}\""),
                ));
            }
        }
    }
    for unit in systemd_units(fs) {
        if let Ok(bytes) = fs.read_small(&unit, 1 << 20) {
            for dir in data_root_flags(&String::from_utf8_lossy(&bytes)) {
                if let Some(path) = EvPath::parse(&dir) {
                    out.push((path, format!("{unit} starts dockerd with data root {dir}")));
                }
            }
        }
    }
    out.push((
        p("var/lib/docker"),
        "default location /var/lib/docker".into(),
    ));
    // Docker Desktop keeps the VM's /var/lib on a bare ext4 data disk
    // (`docker_data.vhdx` / `ext4.vhdx` on Windows, `Docker.raw` on macOS).
    out.push((
        p("docker"),
        "Docker Desktop data disk layout (the filesystem root is the VM's /var/lib)".into(),
    ));
    out.push((
        p("var/snap/docker/common/var-lib-docker"),
        "snap package location".into(),
    ));
    out.push((
        p("root/.local/share/docker"),
        "rootless Docker of root".into(),
    ));
    if let Ok(homes) = fs.read_dir(&p("home")) {
        for h in homes.into_iter().filter(|h| h.kind == FileKind::Dir) {
            if let Some(path) = p("home")
                .child(&h.name)
                .and_then(|d| d.join(".local/share/docker"))
            {
                let reason = format!(
                    "rootless Docker of user {}",
                    String::from_utf8_lossy(&h.name)
                );
                out.push((path, reason));
            }
        }
    }
    out
}

/// Unit files and drop-ins that may carry dockerd's command line.
fn systemd_units(fs: &dyn FileSystem) -> Vec<EvPath> {
    let mut units = Vec::new();
    for base in [
        "etc/systemd/system",
        "lib/systemd/system",
        "usr/lib/systemd/system",
    ] {
        let Some(dir) = EvPath::parse(base) else {
            continue;
        };
        if let Some(u) = dir.child(b"docker.service")
            && fs.metadata(&u).is_ok_and(|m| m.is_file())
        {
            units.push(u);
        }
        if let Some(d) = dir.child(b"docker.service.d")
            && let Ok(entries) = fs.read_dir(&d)
        {
            let mut confs: Vec<EvPath> = entries
                .into_iter()
                .filter(|e| e.name.ends_with(b".conf") && e.kind == FileKind::File)
                .filter_map(|e| d.child(&e.name))
                .collect();
            confs.sort();
            units.extend(confs);
        }
    }
    units
}

/// Data-root arguments on `ExecStart` lines: `--data-root X`,
/// `--data-root=X`, `-g X`, `--graph X`, `--graph=X`.
fn data_root_flags(unit: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in unit.lines() {
        let line = line.trim();
        let Some(cmd) = line.strip_prefix("ExecStart=") else {
            continue;
        };
        let words: Vec<&str> = cmd.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let w = w.trim_matches(|c| c == '"' || c == '\'');
            for flag in ["--data-root", "--graph"] {
                if let Some(v) = w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                    out.push(v.to_string());
                }
            }
            if matches!(w, "--data-root" | "--graph" | "-g")
                && let Some(v) = words.get(i + 1)
            {
                out.push(v.trim_matches(|c| c == '"' || c == '\'').to_string());
            }
        }
    }
    out
}

/// Breadth-first scan for directories holding `image/<driver>/imagedb`.
fn scan(fs: &dyn FileSystem) -> Vec<EvPath> {
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([(EvPath::root(), 0usize)]);
    let mut visited = 0;
    while let Some((dir, depth)) = queue.pop_front() {
        visited += 1;
        if visited > SCAN_DIRS {
            break;
        }
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        let has = |name: &[u8]| {
            entries
                .iter()
                .any(|e| e.name == name && e.kind == FileKind::Dir)
        };
        if (has(b"image") && !drivers_at(fs, &dir).is_empty())
            || (has(b"containers") && has_containers(fs, &dir))
            || (has(b"graph") && super::legacy::graph_driver(fs, &dir).is_some())
        {
            found.push(dir);
            continue;
        }
        if depth >= SCAN_DEPTH {
            continue;
        }
        for e in entries.into_iter().filter(|e| e.kind == FileKind::Dir) {
            // Pseudo and volatile trees never hold a data root.
            if dir.is_root() && [&b"proc"[..], b"sys", b"dev", b"run"].contains(&e.name.as_slice())
            {
                continue;
            }
            if let Some(c) = dir.child(&e.name) {
                queue.push_back((c, depth + 1));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use std::sync::Arc;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn volume(fs: MemFs) -> Volume {
        Volume {
            label: "directory".into(),
            spec: Default::default(),
            fs: Arc::new(fs),
        }
    }

    fn drivers(fs: MemFs) -> Vec<(String, Layout, Vec<String>)> {
        roots_at(&volume(fs), &EvPath::parse("docker").unwrap(), "test")
            .into_iter()
            .map(|r| (r.driver, r.layout, r.peers))
            .collect()
    }

    fn container(fs: &mut MemFs, id: &str, driver: &str) {
        let cfg = format!("{{\"ID\":\"{id}\",\"Driver\":\"{driver}\"}}");
        fs.add(
            format!("docker/containers/{id}/config.v2.json"),
            MemNode::file(cfg.as_bytes()),
        );
    }

    #[test]
    fn a_leftover_empty_driver_is_not_a_second_root() {
        let mut fs = MemFs::new();
        fs.add(
            "docker/image/overlay/imagedb/content/sha256",
            MemNode::dir(),
        )
        .add(
            format!("docker/image/overlay2/imagedb/content/sha256/{A}"),
            MemNode::file(b"{}"),
        );
        container(&mut fs, B, "overlay2");
        let got = drivers(fs);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "overlay2");
        assert_eq!(got[0].2, vec!["overlay2".to_string()]);
    }

    #[test]
    fn a_driver_a_container_names_is_in_use_even_without_images() {
        let mut fs = MemFs::new();
        fs.add(
            "docker/image/overlay/imagedb/content/sha256",
            MemNode::dir(),
        )
        .add(
            format!("docker/image/overlay2/imagedb/content/sha256/{A}"),
            MemNode::file(b"{}"),
        );
        container(&mut fs, B, "overlay");
        let got: Vec<String> = drivers(fs).into_iter().map(|d| d.0).collect();
        assert_eq!(got, vec!["overlay".to_string(), "overlay2".to_string()]);
    }

    #[test]
    fn an_empty_root_keeps_its_drivers() {
        let mut fs = MemFs::new();
        fs.add("docker/image/vfs/imagedb/content/sha256", MemNode::dir());
        let got: Vec<String> = drivers(fs).into_iter().map(|d| d.0).collect();
        assert_eq!(got, vec!["vfs".to_string()]);
    }

    #[test]
    fn a_pre_1_10_root_is_one_of_the_graph_layout() {
        let mut fs = MemFs::new();
        fs.add(format!("docker/graph/{A}/json"), MemNode::file(b"{}"))
            .add("docker/repositories-aufs", MemNode::file(b"{}"))
            .add("docker/aufs/diff", MemNode::dir());
        let got = drivers(fs);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "aufs");
        assert_eq!(got[0].1, Layout::Graph);
        // Nothing of the kind: no root.
        let mut fs = MemFs::new();
        fs.add("docker/graph/notes.txt", MemNode::file(b"x"));
        assert!(drivers(fs).is_empty());
    }

    #[test]
    fn reads_data_root_flags_from_units() {
        let unit = "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --data-root=/srv/docker\nExecStart=/usr/bin/dockerd -g /old/graph\n";
        assert_eq!(data_root_flags(unit), vec!["/srv/docker", "/old/graph"]);
        assert!(data_root_flags("ExecStart=/usr/bin/dockerd -H fd://").is_empty());
    }
}
