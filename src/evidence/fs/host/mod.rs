//! A directory on the examiner's machine (a mounted evidence filesystem,
//! or an extracted copy of one) seen through [`super::FileSystem`].
//!
//! On Linux ([`linux`]) every lookup is anchored at a descriptor of the
//! root and refuses symlinks in the kernel (`openat2`); elsewhere
//! ([`portable`]) the same rules are checked component by component with
//! the standard library. A copy on macOS or Windows cannot hold what
//! overlay layers need (whiteout devices, `trusted.*` attributes, names
//! invalid there): the evidence notes say so.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::HostDir;

// Built on Linux too, for its tests against the Linux reader.
#[cfg(any(not(target_os = "linux"), test))]
mod portable;
#[cfg(not(target_os = "linux"))]
pub use portable::HostDir;

/// What a directory on this OS cannot hold of a Linux container host, for
/// the evidence notes; `None` on Linux, which keeps everything.
pub fn limits_of_this_os() -> Option<&'static str> {
    if cfg!(target_os = "linux") {
        None
    } else {
        Some(
            "a directory on this OS cannot hold what a Linux host keeps: overlay whiteouts (0/0 character devices), trusted.* and security.* attributes, owners, and names invalid here; layers rebuilt from such a copy may differ from the originals (read the disk image instead where you can)",
        )
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::super::{EvPath, FileSystem, FsError};

    /// The portable reader sees a tree as the Linux one does (but for
    /// xattrs, which it does not read) and refuses the same symlinks.
    #[test]
    fn portable_reader_agrees_with_the_linux_one() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        std::fs::write(r.join("a/b/f"), b"hello").unwrap();
        std::fs::hard_link(r.join("a/b/f"), r.join("a/g")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("a/out")).unwrap();
        std::os::unix::fs::symlink("b", r.join("a/inner")).unwrap();
        let linux = super::linux::HostDir::open(r).unwrap();
        let portable = super::portable::HostDir::open(r).unwrap();
        let p = |s: &str| EvPath::parse(s).unwrap();
        for path in ["/", "/a", "/a/b", "/a/b/f", "/a/g", "/a/out", "/a/inner"] {
            let (l, q) = (
                linux.metadata(&p(path)).unwrap(),
                portable.metadata(&p(path)).unwrap(),
            );
            assert_eq!(
                (
                    l.kind, l.perm, l.uid, l.gid, l.size, l.nlink, l.ino, l.mtime
                ),
                (
                    q.kind, q.perm, q.uid, q.gid, q.size, q.nlink, q.ino, q.mtime
                ),
                "{path}"
            );
        }
        let mut a = linux.read_dir(&p("/a")).unwrap();
        let mut b = portable.read_dir(&p("/a")).unwrap();
        a.sort_by(|x, y| x.name.cmp(&y.name));
        b.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(a, b);
        assert_eq!(portable.read_link(&p("/a/out")).unwrap(), b"/etc");
        let mut s = String::new();
        std::io::Read::read_to_string(&mut portable.open(&p("/a/b/f")).unwrap(), &mut s).unwrap();
        assert_eq!(s, "hello");
        for fs in [&linux as &dyn FileSystem, &portable] {
            assert!(matches!(
                fs.read_dir(&p("/a/out/ssl")),
                Err(FsError::SymlinkInPath { .. })
            ));
            assert!(matches!(
                fs.open(&p("/a/inner/f")),
                Err(FsError::SymlinkInPath { .. })
            ));
            assert!(fs.open(&p("/a/out")).is_err());
        }
    }
}
