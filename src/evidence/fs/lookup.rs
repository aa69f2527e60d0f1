//! Path resolution shared by the filesystems read from images (ext4, XFS):
//! one component at a time from the root inode, never following a
//! symbolic link, refusing a directory met twice on the way down (a
//! directory hard link or corrupt entry that loops back to an ancestor).

use super::{EvPath, FileKind, FsError};

/// Paths deeper than this are refused (a bound on the ancestor list).
const MAX_DEPTH: usize = 4096;

/// What [`resolve`] needs of a filesystem's inodes.
pub(super) trait Tree {
    /// One inode, as the filesystem caches or reads it.
    type Node;
    /// The root directory.
    fn root(&self, path: &EvPath) -> Result<Self::Node, FsError>;
    /// The entry `name` of the directory `dir` (`FsError::NotFound` when
    /// absent).
    fn child(&self, path: &EvPath, dir: &Self::Node, name: &[u8]) -> Result<Self::Node, FsError>;
    fn ino(node: &Self::Node) -> u64;
    fn kind(node: &Self::Node) -> FileKind;
}

/// The inode at `path` in `tree`. A directory may be reached twice (its
/// own metadata is fine), but descending through one already on the way
/// down is [`FsError::DirectoryLoop`].
pub(super) fn resolve<T: Tree>(tree: &T, path: &EvPath) -> Result<T::Node, FsError> {
    let mut cur = tree.root(path)?;
    let mut ancestors: Vec<u64> = Vec::new();
    for name in path.components() {
        match T::kind(&cur) {
            FileKind::Dir => {}
            FileKind::Symlink => {
                return Err(FsError::SymlinkInPath {
                    path: path.display(),
                });
            }
            _ => {
                return Err(FsError::NotADirectory {
                    path: path.display(),
                });
            }
        }
        let ino = T::ino(&cur);
        if ancestors.contains(&ino) {
            return Err(FsError::DirectoryLoop {
                path: path.display(),
                ino,
                parent: ancestors.last().copied().unwrap_or(ino),
            });
        }
        if ancestors.len() >= MAX_DEPTH {
            return Err(FsError::Corrupt {
                path: path.display(),
                detail: "path too deep".into(),
            });
        }
        ancestors.push(ino);
        cur = tree.child(path, &cur, name)?;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inodes 1 (root dir) → "a" dir 2 → "b" symlink 3, "up" dir 1 (a
    /// loop back to the root), "f" file 4.
    struct Toy;

    impl Tree for Toy {
        type Node = (u64, FileKind);
        fn root(&self, _: &EvPath) -> Result<Self::Node, FsError> {
            Ok((1, FileKind::Dir))
        }
        fn child(
            &self,
            path: &EvPath,
            dir: &Self::Node,
            name: &[u8],
        ) -> Result<Self::Node, FsError> {
            Ok(match (dir.0, name) {
                (1, b"a") => (2, FileKind::Dir),
                (2, b"b") => (3, FileKind::Symlink),
                (2, b"up") => (1, FileKind::Dir),
                (2, b"f") => (4, FileKind::File),
                _ => {
                    return Err(FsError::NotFound {
                        path: path.display(),
                    });
                }
            })
        }
        fn ino(node: &Self::Node) -> u64 {
            node.0
        }
        fn kind(node: &Self::Node) -> FileKind {
            node.1
        }
    }

    fn go(p: &str) -> Result<(u64, FileKind), FsError> {
        resolve(&Toy, &EvPath::parse(p).unwrap())
    }

    #[test]
    fn walks_refuses_links_files_and_loops() {
        assert_eq!(go("").unwrap().0, 1);
        assert_eq!(go("a/f").unwrap().0, 4);
        assert_eq!(go("a/b").unwrap().1, FileKind::Symlink);
        assert!(matches!(go("a/b/x"), Err(FsError::SymlinkInPath { .. })));
        assert!(matches!(go("a/f/x"), Err(FsError::NotADirectory { .. })));
        assert!(matches!(go("a/nope"), Err(FsError::NotFound { .. })));
        assert_eq!(go("a/up").unwrap(), (1, FileKind::Dir));
        assert!(matches!(
            go("a/up/a"),
            Err(FsError::DirectoryLoop {
                ino: 1,
                parent: 2,
                ..
            })
        ));
    }
}
