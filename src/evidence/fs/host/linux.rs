//! Linux: lookups anchored at the evidence root's descriptor with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux 5.6+; a
//! component-by-component `O_NOFOLLOW` walk elsewhere), so neither a symlink
//! nor `..` inside the evidence can lead outside it. Objects are `statx`ed
//! before they are opened: device nodes and FIFOs are never opened, and
//! files are opened `O_NOATIME` where allowed so reading leaves no trace.
//!
//! The descriptors of the directories looked up last are kept (a few, in
//! `DIR_CACHE`): a layer is read in tar order, directory by directory, so
//! its files are opened relative to their directory's descriptor rather
//! than by resolving the whole path from the root again for each one (a
//! layer of a million small files spent most of its time in those walks).

use super::super::{
    DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata, Timestamp,
};
use crate::evidence::cache::Lru;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A host directory used as a read-only evidence filesystem.
#[derive(Debug)]
pub struct HostDir {
    root: OwnedFd,
    root_path: PathBuf,
    dirs: Lru<Vec<u8>, OwnedFd>,
}

/// Directories opened last (`O_PATH`, reached safely from the root).
/// Only successful lookups are kept, and only a few: the memory and
/// descriptors held stay bounded whatever the evidence holds.
const DIR_CACHE: usize = 16;

impl HostDir {
    /// Opens `path` (which the examiner named, so it may itself be reached
    /// through symlinks) as the root of the view.
    pub fn open(path: &Path) -> Result<Self, FsError> {
        let shown = path.display().to_string();
        let root = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => FsError::NotFound {
                path: shown.clone(),
            },
            Errno::NOTDIR => FsError::NotADirectory {
                path: shown.clone(),
            },
            Errno::ACCESS | Errno::PERM => FsError::PermissionDenied {
                path: shown.clone(),
            },
            e => FsError::Io {
                path: shown.clone(),
                source: e.into(),
            },
        })?;
        Ok(HostDir {
            root,
            root_path: path.to_path_buf(),
            dirs: Lru::new(DIR_CACHE),
        })
    }

    /// The host path of the root.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    fn err(path: &EvPath, e: Errno) -> FsError {
        let path = path.display();
        match e {
            Errno::NOENT => FsError::NotFound { path },
            Errno::NOTDIR => FsError::NotADirectory { path },
            Errno::LOOP | Errno::XDEV => FsError::SymlinkInPath { path },
            Errno::ACCESS | Errno::PERM => FsError::PermissionDenied { path },
            e => FsError::Io {
                path,
                source: e.into(),
            },
        }
    }

    /// The directory at `dir` as `O_PATH`, from the cache or opened.
    fn dir_fd(&self, dir: &EvPath) -> Result<Arc<OwnedFd>, FsError> {
        self.dirs
            .get(dir.as_bytes().to_vec(), || self.open_dir_path(dir))
    }

    /// Opens the directory at `dir` (relative to the root) as `O_PATH`,
    /// refusing symlinks anywhere on the way.
    fn open_dir_path(&self, dir: &EvPath) -> Result<OwnedFd, FsError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if dir.is_root() {
            return rustix::fs::openat(&self.root, ".", flags, Mode::empty())
                .map_err(|e| Self::err(dir, e));
        }
        let rel = OsStr::from_bytes(dir.as_bytes());
        match rustix::fs::openat2(
            &self.root,
            rel,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::NOSYS) => self.walk(dir),
            r => r.map_err(|e| Self::err(dir, e)),
        }
    }

    /// Fallback for kernels without `openat2`: one component at a time,
    /// each checked with `statx` before it is entered.
    fn walk(&self, dir: &EvPath) -> Result<OwnedFd, FsError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let mut cur = rustix::fs::openat(&self.root, ".", flags, Mode::empty())
            .map_err(|e| Self::err(dir, e))?;
        for comp in dir.components() {
            let name = OsStr::from_bytes(comp);
            let st = rustix::fs::statx(&cur, name, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::TYPE)
                .map_err(|e| Self::err(dir, e))?;
            let kind = FileKind::from_mode(u32::from(st.stx_mode));
            if kind == FileKind::Symlink {
                return Err(FsError::SymlinkInPath {
                    path: dir.display(),
                });
            }
            if kind != FileKind::Dir {
                return Err(FsError::NotADirectory {
                    path: dir.display(),
                });
            }
            cur = rustix::fs::openat(&cur, name, flags, Mode::empty())
                .map_err(|e| Self::err(dir, e))?;
        }
        Ok(cur)
    }

    fn stat_at(&self, parent: &OwnedFd, name: &[u8], path: &EvPath) -> Result<Metadata, FsError> {
        let (name, flags): (&OsStr, AtFlags) = if name.is_empty() {
            (OsStr::new(""), AtFlags::EMPTY_PATH)
        } else {
            (OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
        };
        let st = rustix::fs::statx(
            parent,
            name,
            flags,
            StatxFlags::BASIC_STATS | StatxFlags::BTIME,
        )
        .map_err(|e| Self::err(path, e))?;
        let ts = |t: rustix::fs::StatxTimestamp| Timestamp {
            secs: t.tv_sec,
            nanos: t.tv_nsec,
        };
        let mode = u32::from(st.stx_mode);
        Ok(Metadata {
            kind: FileKind::from_mode(mode),
            perm: mode & 0o7777,
            uid: st.stx_uid,
            gid: st.stx_gid,
            size: st.stx_size,
            nlink: u64::from(st.stx_nlink),
            ino: st.stx_ino,
            rdev_major: st.stx_rdev_major,
            rdev_minor: st.stx_rdev_minor,
            mtime: ts(st.stx_mtime),
            atime: ts(st.stx_atime),
            ctime: ts(st.stx_ctime),
            btime: (st.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| ts(st.stx_btime)),
        })
    }

    /// The parent directory descriptor and the last name of `path`
    /// (the root itself gives the root descriptor and an empty name).
    fn locate(&self, path: &EvPath) -> Result<(Arc<OwnedFd>, Vec<u8>), FsError> {
        if path.is_root() {
            return Ok((self.dir_fd(path)?, Vec::new()));
        }
        let parent = self.dir_fd(&path.parent()).map_err(|e| match e {
            // A non-directory on the way means the object is not there.
            FsError::NotADirectory { .. } => FsError::NotFound {
                path: path.display(),
            },
            e => e,
        })?;
        Ok((parent, path.file_name().to_vec()))
    }

    /// Opens the object itself (regular file or directory) for reading.
    fn open_object(&self, path: &EvPath, want: FileKind) -> Result<(OwnedFd, Metadata), FsError> {
        let (parent, name) = self.locate(path)?;
        let meta = self.stat_at(&parent, &name, path)?;
        if meta.kind != want {
            return Err(match (want, meta.kind) {
                (FileKind::Dir, FileKind::Symlink) => FsError::SymlinkInPath {
                    path: path.display(),
                },
                (FileKind::Dir, _) => FsError::NotADirectory {
                    path: path.display(),
                },
                (_, kind) => FsError::NotAFile {
                    path: path.display(),
                    kind,
                },
            });
        }
        let name_os: &OsStr = if name.is_empty() {
            OsStr::new(".")
        } else {
            OsStr::from_bytes(&name)
        };
        let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        if want == FileKind::Dir {
            flags |= OFlags::DIRECTORY;
        }
        let fd = match rustix::fs::openat(&parent, name_os, flags | OFlags::NOATIME, Mode::empty())
        {
            Err(Errno::PERM) => rustix::fs::openat(&parent, name_os, flags, Mode::empty()),
            r => r,
        }
        .map_err(|e| Self::err(path, e))?;
        // The object could have been swapped between statx and open.
        let st = rustix::fs::fstat(&fd).map_err(|e| Self::err(path, e))?;
        if FileKind::from_mode(st.st_mode) != want {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: FileKind::from_mode(st.st_mode),
            });
        }
        let meta = Metadata {
            size: u64::try_from(st.st_size).unwrap_or(0),
            ..meta
        };
        Ok((fd, meta))
    }
}

/// An open regular file and its size when it was opened.
struct HostFile(File, u64);

impl Read for HostFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl FileReader for HostFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }

    fn stored_len(&self) -> Option<u64> {
        Some(self.1)
    }

    fn will_need(&self, len: u64) {
        // Only a hint: the kernel starts reading in the background.
        let _ = rustix::fs::fadvise(
            &self.0,
            0,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::WillNeed,
        );
    }
}

impl FileSystem for HostDir {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        let (parent, name) = self.locate(path)?;
        self.stat_at(&parent, &name, path)
    }

    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        let (fd, _) = self.open_object(path, FileKind::Dir)?;
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(|e| Self::err(path, e))?;
        let mut out = Vec::new();
        while let Some(ent) = dir.read() {
            let ent = ent.map_err(|e| Self::err(path, e))?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            use rustix::fs::FileType as T;
            let kind = match ent.file_type() {
                T::RegularFile => FileKind::File,
                T::Directory => FileKind::Dir,
                T::Symlink => FileKind::Symlink,
                T::CharacterDevice => FileKind::CharDevice,
                T::BlockDevice => FileKind::BlockDevice,
                T::Fifo => FileKind::Fifo,
                T::Socket => FileKind::Socket,
                _ => self
                    .stat_at(&fd, name, path)
                    .map(|m| m.kind)
                    .unwrap_or(FileKind::Unknown),
            };
            out.push(DirEntry {
                name: name.to_vec(),
                kind,
            });
        }
        Ok(out)
    }

    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        let (fd, meta) = self.open_object(path, FileKind::File)?;
        // Descriptors were opened non-blocking only to be safe against
        // FIFOs; regular files ignore the flag.
        Ok(Box::new(HostFile(File::from(fd), meta.size)))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let (parent, name) = self.locate(path)?;
        let target = rustix::fs::readlinkat(&parent, OsStr::from_bytes(&name), Vec::new())
            .map_err(|e| Self::err(path, e))?;
        Ok(target.into_bytes())
    }

    fn xattrs(&self, path: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> {
        // `l*xattr` through the parent's /proc/self/fd entry reads the
        // object itself (never a link target) for every kind of inode,
        // without opening it.
        let (parent, name) = self.locate(path)?;
        let mut proc_path = format!("/proc/self/fd/{}/", parent.as_fd().as_raw_fd()).into_bytes();
        if name.is_empty() {
            proc_path.pop();
        } else {
            proc_path.extend_from_slice(&name);
        }
        let p = Path::new(OsStr::from_bytes(&proc_path));
        let mut names = vec![0u8; 4096];
        let n = loop {
            match rustix::fs::llistxattr(p, &mut names) {
                Ok(n) => break n,
                Err(Errno::RANGE) => names.resize(names.len() * 4, 0),
                Err(Errno::NOTSUP) => return Ok(Vec::new()),
                Err(e) => return Err(Self::err(path, e)),
            }
        };
        let mut out = Vec::new();
        for key in names[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
            let key_os = OsStr::from_bytes(key);
            let mut val = vec![0u8; 256];
            let len = loop {
                match rustix::fs::lgetxattr(p, key_os, &mut val) {
                    Ok(len) => break len,
                    Err(Errno::RANGE) => val.resize(val.len() * 16, 0),
                    Err(Errno::NODATA) => break usize::MAX,
                    Err(e) => return Err(Self::err(path, e)),
                }
            };
            if len != usize::MAX {
                val.truncate(len);
                out.push((key.to_vec(), val));
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root_path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files are opened relative to cached directories, and the cache
    /// neither grows past its bound nor lets a symlink be crossed.
    #[test]
    fn cached_directories_stay_bounded_and_safe() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for i in 0..40 {
            std::fs::create_dir_all(r.join(format!("d{i}/sub"))).unwrap();
            std::fs::write(r.join(format!("d{i}/sub/f")), format!("file {i}")).unwrap();
        }
        std::os::unix::fs::symlink("d0", r.join("link")).unwrap();
        let fs = HostDir::open(r).unwrap();
        let p = |s: &str| EvPath::parse(s).unwrap();
        for round in 0..2 {
            for i in 0..40 {
                let mut f = fs.open(&p(&format!("d{i}/sub/f"))).unwrap();
                let mut s = String::new();
                f.read_to_string(&mut s).unwrap();
                assert_eq!(s, format!("file {i}"), "round {round}");
                assert_eq!(f.stored_len(), Some(s.len() as u64));
                assert!(matches!(
                    fs.open(&p("link/sub/f")),
                    Err(FsError::SymlinkInPath { .. })
                ));
            }
        }
        let cached = fs.dirs.kept();
        assert!(cached <= DIR_CACHE, "{cached} directories cached");
        assert!(matches!(
            fs.open(&p("d1/sub/missing")),
            Err(FsError::NotFound { .. })
        ));
    }
}
