//! Image references as Docker normalises them
//! (github.com/distribution/reference `normalize.go`): `busybox` means
//! `docker.io/library/busybox:latest`; a first component with a `.` or
//! `:`, or `localhost`, is a registry host.

/// A parsed reference: normalised repository name, tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Fully qualified name (`docker.io/library/busybox`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `name[:tag][@digest]`. Returns `None` for anything that is
    /// not a valid reference (upper case, empty parts, bad characters).
    pub fn parse(s: &str) -> Option<Reference> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (alg, hex) = d.split_once(':')?;
                if alg.is_empty() || hex.is_empty() {
                    return None;
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' separates the tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && (t.is_empty()
                || t.len() > 128
                || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)))
        {
            return None;
        }
        if name.is_empty() {
            return None;
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let domain = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            parts.remove(0).to_string()
        } else {
            "docker.io".to_string()
        };
        let path_ok = parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
        if !path_ok {
            return None;
        }
        if domain == "docker.io" && parts.len() == 1 {
            parts.insert(0, "library");
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Some(Reference {
            name: format!("{domain}/{}", parts.join("/")),
            tag,
            digest,
        })
    }

    /// The short form Docker shows (`busybox`, `fixture/web`).
    pub fn familiar_name(&self) -> &str {
        self.name
            .strip_prefix("docker.io/library/")
            .or_else(|| self.name.strip_prefix("docker.io/"))
            .unwrap_or(&self.name)
    }

    /// `familiar_name:tag` or `familiar_name@digest`.
    pub fn familiar(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.familiar_name()),
            (None, Some(d)) => format!("{}@{d}", self.familiar_name()),
            (None, None) => self.familiar_name().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.name, "docker.io/library/busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("docker.io/library/busybox:1").unwrap();
        assert_eq!(r.familiar(), "busybox:1");
        let r = Reference::parse("fixture/web:1.0").unwrap();
        assert_eq!(r.name, "docker.io/fixture/web");
        let r = Reference::parse("localhost:5000/a/b").unwrap();
        assert_eq!(r.name, "localhost:5000/a/b");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse("quay.io/x@sha256:abcd").unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some("sha256:abcd"));
        assert!(Reference::parse("Upper/case").is_none());
        assert!(Reference::parse("a:").is_none());
        assert!(Reference::parse("").is_none());
    }
}
