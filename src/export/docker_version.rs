//! Which Docker engine wrote a data root's layers, as far as the
//! evidence tells: the byte form of `docker commit` and `docker export`
//! changed twice (moby `pkg/archive` `FileInfoHeader`): up to 20.10.26
//! user and group names are looked up; from 20.10.27 (and in 23) none are;
//! from 24 on the mode also loses its file-type bits. The version is the
//! examiner's (`--docker-version`), else the installed package's in the
//! evidence's dpkg database (`docker-ce`, `docker.io`, `moby-engine`,
//! `docker-engine`), else 20.10 is assumed.

use crate::evidence::fs::{EvPath, FileSystem};

/// How Docker's archiver writes headers, and why we think so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerForm {
    /// `Uname`/`Gname` looked up by id.
    pub lookups: bool,
    /// File-type bits in the mode.
    pub type_bits: bool,
    /// Which version, and where it came from.
    pub said: String,
}

/// dpkg's status file larger than this is not read.
const STATUS_LIMIT: u64 = 64 << 20;
const PACKAGES: &[&str] = &["docker-ce", "docker.io", "moby-engine", "docker-engine"];

/// The form for `given` (the examiner's version) or what the evidence
/// says.
pub fn docker_form(fs: &dyn FileSystem, given: Option<&str>) -> DockerForm {
    if let Some(v) = given
        && let Some(n) = numbers(v)
    {
        return form(n, format!("Docker {v} (as given)"));
    }
    if let Some((raw, n)) = dpkg_version(fs) {
        return form(
            n,
            format!("Docker {raw} (the evidence's /var/lib/dpkg/status)"),
        );
    }
    let mut f = form((20, 10, 0), String::new());
    f.said = "Docker 20.10 (assumed: the evidence names no version)".into();
    f
}

fn form(v: (u32, u32, u32), said: String) -> DockerForm {
    DockerForm {
        lookups: v < (20, 10, 27),
        type_bits: v < (24, 0, 0),
        said,
    }
}

/// `major.minor.patch` at the start of a version (after a dpkg epoch).
pub fn numbers(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// The version of an installed Docker package in the dpkg database.
fn dpkg_version(fs: &dyn FileSystem) -> Option<(String, (u32, u32, u32))> {
    let p = EvPath::parse("var/lib/dpkg/status")?;
    let text = fs.read_small(&p, STATUS_LIMIT).ok()?;
    let text = String::from_utf8_lossy(&text);
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        if installed && field("Package").is_some_and(|p| PACKAGES.contains(&p)) {
            let raw = field("Version")?;
            return Some((raw.to_string(), numbers(raw)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_forms() {
        assert_eq!(numbers("20.10.24+dfsg1-1+b3"), Some((20, 10, 24)));
        assert_eq!(numbers("5:24.0.7-1~ubuntu.22.04~jammy"), Some((24, 0, 7)));
        assert_eq!(numbers("18.09.1~3-0~ubuntu"), Some((18, 9, 1)));
        let f = |v| form(numbers(v).unwrap(), String::new());
        assert!(f("20.10.24").lookups && f("20.10.24").type_bits);
        assert!(!f("20.10.27").lookups && f("20.10.27").type_bits);
        assert!(!f("23.0.6").lookups && f("23.0.6").type_bits);
        assert!(!f("24.0.7").lookups && !f("24.0.7").type_bits);
        assert!(f("19.03.15").lookups);
    }

    #[test]
    fn dpkg_status_names_the_installed_package() {
        use crate::evidence::fs::{MemFs, MemNode};
        let mut fs = MemFs::new();
        fs.add(
            "var/lib/dpkg/status",
            MemNode::file(
                b"Package: docker-ce\nStatus: deinstall ok config-files\nVersion: 5:19.03.1\n\nPackage: docker.io\nStatus: install ok installed\nVersion: 24.0.5-0ubuntu1\n",
            ),
        );
        let f = docker_form(&fs, None);
        assert!(!f.type_bits, "{f:?}");
        assert!(f.said.contains("24.0.5-0ubuntu1"), "{}", f.said);
        assert!(docker_form(&fs, Some("20.10.24")).type_bits);
        assert!(docker_form(&MemFs::new(), None).said.contains("assumed"));
    }
}
