//! Finding containers/storage graph roots: `graphroot` in the `[storage]`
//! table of `/etc/containers/storage.conf` (or the distribution default
//! `/usr/share/containers/storage.conf`; containers/storage
//! `docs/containers-storage.conf.5.md`), the default
//! `/var/lib/containers/storage`, and rootless stores
//! (`~/.local/share/containers/storage`, or `graphroot` in
//! `~/.config/containers/storage.conf`). A directory counts for each
//! `<driver>-images/images.json` it holds.

use super::{PodmanError, PodmanRoot};
use crate::evidence::Evidence;
use crate::evidence::fs::{EvPath, FileKind, FileSystem};
use crate::store::place::discover_places;

impl PodmanRoot {
    /// Every graph root in the evidence (possibly none). `explicit` (a
    /// path relative to the evidence root) overrides detection and must be
    /// a graph root.
    pub fn discover(ev: &Evidence, explicit: Option<&str>) -> Result<Vec<PodmanRoot>, PodmanError> {
        let places = discover_places(ev, explicit, candidates, drivers_at).map_err(|p| {
            PodmanError::NotARoot {
                path: p.unwrap_or_default(),
            }
        })?;
        Ok(places.into_iter().map(PodmanRoot::new).collect())
    }
}

/// Drivers with an `images.json` under `path`.
fn drivers_at(fs: &dyn FileSystem, path: &EvPath) -> Vec<String> {
    let Ok(entries) = fs.read_dir(path) else {
        return Vec::new();
    };
    let mut drivers: Vec<String> = entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Dir)
        .filter_map(|e| {
            let driver = e.name.strip_suffix(b"-images")?;
            let json = path.child(&e.name)?.child(b"images.json")?;
            (!driver.is_empty() && fs.metadata(&json).is_ok_and(|m| m.is_file()))
                .then(|| String::from_utf8_lossy(driver).into_owned())
        })
        .collect();
    drivers.sort();
    drivers
}

/// Configured and conventional locations, most authoritative first.
fn candidates(fs: &dyn FileSystem) -> Vec<(EvPath, String)> {
    let p = |s: &str| EvPath::parse(s).unwrap_or_default();
    let mut out = vec![(
        EvPath::root(),
        "the evidence is itself a graph root".to_string(),
    )];
    for conf in [
        "etc/containers/storage.conf",
        "usr/share/containers/storage.conf",
    ] {
        if let Some(root) = conf_graphroot(fs, &p(conf)) {
            out.push(root);
        }
    }
    out.push((
        p("var/lib/containers/storage"),
        "default location /var/lib/containers/storage".into(),
    ));
    let mut homes = vec![(p("root"), "root".to_string())];
    if let Ok(entries) = fs.read_dir(&p("home")) {
        for h in entries.into_iter().filter(|h| h.kind == FileKind::Dir) {
            if let Some(home) = p("home").child(&h.name) {
                homes.push((home, String::from_utf8_lossy(&h.name).into_owned()));
            }
        }
    }
    for (home, user) in homes {
        if let Some(conf) = home.join(".config/containers/storage.conf")
            && let Some(root) = conf_graphroot(fs, &conf)
        {
            out.push(root);
        }
        if let Some(path) = home.join(".local/share/containers/storage") {
            out.push((path, format!("rootless store of user {user}")));
        }
    }
    out
}

fn conf_graphroot(fs: &dyn FileSystem, conf: &EvPath) -> Option<(EvPath, String)> {
    let bytes = fs.read_small(conf, 1 << 20).ok()?;
    let root = graphroot(&String::from_utf8_lossy(&bytes))?;
    let path = EvPath::parse(&root)?;
    Some((path, format!("{conf} sets graphroot = \"{root}\"")))
}

/// `graphroot` in the `[storage]` table of a storage.conf.
fn graphroot(conf: &str) -> Option<String> {
    let mut table = String::new();
    for line in conf.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('[') {
            table = t.trim_end_matches(']').trim().to_string();
            continue;
        }
        if table != "storage" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "graphroot" {
            continue;
        }
        let value = value.split(" #").next().unwrap_or("").trim();
        return value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .map(str::to_string);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_graphroot_of_storage_table() {
        let conf = "[storage]\ndriver = \"overlay\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/srv/containers\"\n[storage.options]\ngraphroot = \"/no\"\n";
        assert_eq!(graphroot(conf).as_deref(), Some("/srv/containers"));
        assert_eq!(graphroot("[other]\ngraphroot = \"/x\"\n"), None);
    }
}
