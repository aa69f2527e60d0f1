//! Paths inside the evidence: relative, `/`-separated, raw bytes.

use std::fmt;

/// A normalised path relative to a filesystem root inside the evidence.
///
/// It never contains empty, `.` or `..` components and never starts with
/// `/`; the empty path is the root itself. Construct with [`EvPath::parse`]
/// (which refuses anything that would climb out) or [`EvPath::join`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EvPath(Vec<u8>);

impl EvPath {
    /// The root of the filesystem.
    pub fn root() -> Self {
        EvPath(Vec::new())
    }

    /// Parses a path, dropping leading `/`, empty and `.` components.
    /// Returns `None` when a `..` component would climb out of the root
    /// (a `..` is resolved lexically only while it stays inside).
    pub fn parse(raw: impl AsRef<[u8]>) -> Option<Self> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for comp in raw.as_ref().split(|b| *b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    parts.pop()?;
                }
                c => parts.push(c),
            }
        }
        Some(EvPath(parts.join(&b'/')))
    }

    /// Like [`EvPath::parse`] but refuses any `..` at all, for names that
    /// come from evidence and must not be resolved lexically.
    pub fn parse_strict(raw: impl AsRef<[u8]>) -> Option<Self> {
        if raw.as_ref().split(|b| *b == b'/').any(|c| c == b"..") {
            return None;
        }
        Self::parse(raw)
    }

    /// Appends a relative path (parsed strictly; `None` if it has `..`).
    pub fn join(&self, rel: impl AsRef<[u8]>) -> Option<Self> {
        let rel = Self::parse_strict(rel)?;
        Some(self.join_path(&rel))
    }

    /// Appends an already-normalised path.
    pub fn join_path(&self, rel: &EvPath) -> Self {
        if self.0.is_empty() {
            return rel.clone();
        }
        if rel.0.is_empty() {
            return self.clone();
        }
        let mut v = Vec::with_capacity(self.0.len() + 1 + rel.0.len());
        v.extend_from_slice(&self.0);
        v.push(b'/');
        v.extend_from_slice(&rel.0);
        EvPath(v)
    }

    /// Appends one name (which must not contain `/` or be `.`/`..`).
    pub fn child(&self, name: &[u8]) -> Option<Self> {
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return None;
        }
        Some(self.join_path(&EvPath(name.to_vec())))
    }

    /// True for the filesystem's root (no components).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as stored, components joined by `/`, without a leading one.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Components from the root down.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|b| *b == b'/').filter(|c| !c.is_empty())
    }

    /// The last component (empty for the root).
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|b| *b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The parent directory (the root is its own parent).
    pub fn parent(&self) -> EvPath {
        match self.0.iter().rposition(|b| *b == b'/') {
            Some(i) => EvPath(self.0[..i].to_vec()),
            None => EvPath::root(),
        }
    }

    /// Lossy, human-readable form with a leading `/`.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for EvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvPath({:?})", self.display())
    }
}

impl fmt::Display for EvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_refuses_escape() {
        assert_eq!(
            EvPath::parse("/var//lib/./docker/").unwrap().as_bytes(),
            b"var/lib/docker"
        );
        assert_eq!(EvPath::parse("a/b/../c").unwrap().as_bytes(), b"a/c");
        assert!(EvPath::parse("../etc").is_none());
        assert!(EvPath::parse("a/../../etc").is_none());
        assert!(EvPath::parse_strict("a/b/../c").is_none());
        assert!(EvPath::parse("").unwrap().is_root());
    }

    #[test]
    fn child_refuses_separators_and_dots() {
        let p = EvPath::parse("a").unwrap();
        assert!(p.child(b"b/c").is_none());
        assert!(p.child(b"..").is_none());
        assert_eq!(p.child(b"b").unwrap().as_bytes(), b"a/b");
        assert_eq!(EvPath::root().child(b"x").unwrap().as_bytes(), b"x");
        assert_eq!(p.child(b"b").unwrap().parent(), p);
        assert_eq!(p.child(b"b").unwrap().file_name(), b"b");
    }
}
