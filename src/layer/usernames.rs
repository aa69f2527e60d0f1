//! User and group names for tar headers. Go's `tar.FileInfoHeader` fills
//! `Uname`/`Gname` by looking the ids up in the user database of the
//! process that writes the tar (`os/user`: `/etc/passwd`, `/etc/group`):
//! the daemon host's for `docker commit`, the container's own for
//! `docker export` (which tars from inside a chroot of its filesystem).
//! An id the database does not name gets no name.

use std::collections::HashMap;

/// Names by id, first entry of an id winning (as `getpwuid` and Go's
/// parser find them).
#[derive(Debug, Clone, Default)]
pub struct UserNames {
    users: HashMap<u32, Vec<u8>>,
    groups: HashMap<u32, Vec<u8>>,
    /// Where the names came from, for the report.
    pub source: String,
}

/// Lines read at most, and the longest name kept: the files come from
/// evidence.
const MAX_LINES: usize = 100_000;
const MAX_NAME: usize = 256;

impl UserNames {
    /// From the text of a `passwd` and a `group` file.
    pub fn parse(passwd: &[u8], group: &[u8], source: impl Into<String>) -> Self {
        UserNames {
            users: table(passwd),
            groups: table(group),
            source: source.into(),
        }
    }

    /// What a stock Linux host names for sure: id 0 is `root`, user and
    /// group; nothing else.
    pub fn assumed() -> Self {
        let root = || HashMap::from([(0, b"root".to_vec())]);
        UserNames {
            users: root(),
            groups: root(),
            source: "assumed (uid 0 and gid 0 named root, no other names)".into(),
        }
    }

    /// No names at all (Docker from 20.10.27 and 23 on looks none up).
    pub fn none(why: impl Into<String>) -> Self {
        UserNames {
            source: why.into(),
            ..Default::default()
        }
    }

    /// The user name of `uid`, empty when the database has none.
    pub fn user(&self, uid: u32) -> &[u8] {
        self.users.get(&uid).map_or(&[], Vec::as_slice)
    }

    /// The group name of `gid`, empty when the database has none.
    pub fn group(&self, gid: u32) -> &[u8] {
        self.groups.get(&gid).map_or(&[], Vec::as_slice)
    }
}

/// `name:password:id:...` lines; comments and NIS `+`/`-` lines skipped.
fn table(text: &[u8]) -> HashMap<u32, Vec<u8>> {
    let mut t = HashMap::new();
    for line in text.split(|b| *b == b'\n').take(MAX_LINES) {
        if matches!(line.first(), None | Some(b'#' | b'+' | b'-')) {
            continue;
        }
        let mut f = line.split(|b| *b == b':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(id) = std::str::from_utf8(id)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !name.is_empty() && name.len() <= MAX_NAME {
            t.entry(id).or_insert_with(|| name.to_vec());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entry_of_an_id_wins() {
        let n = UserNames::parse(
            b"# c\nroot:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n+nis\nweb:x:33:33::/:/x\nbad:x:y:1\n",
            b"root:x:0:\nwww:x:33:web\n",
            "t",
        );
        assert_eq!(n.user(0), b"root");
        assert_eq!(n.user(33), b"web");
        assert_eq!(n.group(33), b"www");
        assert_eq!(n.user(1), b"");
        assert_eq!(UserNames::assumed().group(0), b"root");
        assert_eq!(UserNames::assumed().user(1000), b"");
    }
}
