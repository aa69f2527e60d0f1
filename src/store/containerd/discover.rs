//! Finding containerd roots on a host filesystem: the `root` set in
//! `/etc/containerd/config.toml` (containerd `services/server/config`,
//! a top-level TOML key), the default `/var/lib/containerd`, Docker's own
//! containerd image store (`<data-root>/containerd/daemon`, moby
//! `daemon/daemon.go` with the containerd snapshotter), k3s and RKE2
//! (`/var/lib/rancher/{k3s,rke2}/agent/containerd`), microk8s
//! (`/var/snap/microk8s/common/var/lib/containerd`) and rootless
//! containerd (`~/.local/share/containerd`, nerdctl's rootlesskit setup).
//! A directory counts when it holds `io.containerd.metadata.v1.bolt/meta.db`,
//! or a bare `meta.db` (an acquisition that kept only the databases, as
//! examiners receive them: `meta.db` beside a snapshotter's `metadata.db`).

use super::meta::{FLAT_META_DB, META_DB};
use super::{ContainerdError, ContainerdRoot};
use crate::evidence::Evidence;
use crate::evidence::fs::{EvPath, FileKind, FileSystem};
use crate::store::place::discover_places;

impl ContainerdRoot {
    /// Every containerd root in the evidence (possibly none). `explicit`
    /// (a path relative to the evidence root) overrides detection and must
    /// be a root.
    pub fn discover(
        ev: &Evidence,
        explicit: Option<&str>,
    ) -> Result<Vec<ContainerdRoot>, ContainerdError> {
        let places = discover_places(ev, explicit, candidates, |fs, path| {
            if is_root(fs, path) {
                vec!["containerd".to_string()]
            } else {
                Vec::new()
            }
        })
        .map_err(|p| ContainerdError::NotARoot {
            path: p.unwrap_or_default(),
        })?;
        Ok(places.into_iter().map(ContainerdRoot).collect())
    }
}

fn is_root(fs: &dyn FileSystem, path: &EvPath) -> bool {
    [META_DB, FLAT_META_DB].into_iter().any(|m| {
        path.join(m)
            .is_some_and(|db| fs.metadata(&db).is_ok_and(|m| m.is_file()))
    })
}

/// Configured and conventional locations, most authoritative first.
fn candidates(fs: &dyn FileSystem) -> Vec<(EvPath, String)> {
    let p = |s: &str| EvPath::parse(s).unwrap_or_default();
    let mut out = vec![(
        EvPath::root(),
        "the evidence is itself a containerd root".to_string(),
    )];
    let config = p("etc/containerd/config.toml");
    if let Ok(bytes) = fs.read_small(&config, 1 << 20)
        && let Some(root) = toml_root(&String::from_utf8_lossy(&bytes))
        && let Some(path) = EvPath::parse(&root)
    {
        out.push((path, format!("{config} sets root = \"{root}\"")));
    }
    out.push((
        p("var/lib/containerd"),
        "default location /var/lib/containerd".into(),
    ));
    let mut docker_roots = vec![p("var/lib/docker")];
    if let Ok(bytes) = fs.read_small(&p("etc/docker/daemon.json"), 1 << 20)
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(dir) = v.get("data-root").and_then(|d| d.as_str())
        && let Some(path) = EvPath::parse(dir)
    {
        docker_roots.insert(0, path);
    }
    for d in docker_roots {
        if let Some(path) = d.join("containerd/daemon") {
            let reason = format!("Docker's containerd image store in {d}");
            out.push((path, reason));
        }
    }
    for (dir, why) in [
        ("var/lib/rancher/k3s/agent/containerd", "k3s"),
        ("var/lib/rancher/rke2/agent/containerd", "RKE2"),
        ("var/snap/microk8s/common/var/lib/containerd", "microk8s"),
        (
            "root/.local/share/containerd",
            "rootless containerd of root",
        ),
    ] {
        out.push((p(dir), format!("{why} location /{dir}")));
    }
    if let Ok(homes) = fs.read_dir(&p("home")) {
        for h in homes.into_iter().filter(|h| h.kind == FileKind::Dir) {
            if let Some(path) = p("home")
                .child(&h.name)
                .and_then(|d| d.join(".local/share/containerd"))
            {
                let user = String::from_utf8_lossy(&h.name).into_owned();
                out.push((path, format!("rootless containerd of user {user}")));
            }
        }
    }
    out
}

/// The top-level `root = "..."` of a containerd config (before any table).
fn toml_root(config: &str) -> Option<String> {
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            return None;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "root" {
            continue;
        }
        let value = value.split(" #").next().unwrap_or("").trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))?;
        return Some(unquoted.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_top_level_root() {
        let cfg = "version = 2\nroot = \"/srv/containerd\" # moved\nstate = \"/run/c\"\n[plugins]\nroot = \"/nope\"\n";
        assert_eq!(toml_root(cfg).as_deref(), Some("/srv/containerd"));
        assert_eq!(toml_root("[grpc]\nroot = \"/x\"\n"), None);
        assert_eq!(toml_root("root = '/lit'\n").as_deref(), Some("/lit"));
    }
}
