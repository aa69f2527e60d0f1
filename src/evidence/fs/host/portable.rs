//! macOS, Windows and other systems: the evidence directory read with the
//! standard library. Every path is walked from the root one component at
//! a time and each component is checked (`symlink_metadata`, which never
//! follows a link) before it is entered, so neither a symlink nor `..`
//! inside the evidence leads outside it; only regular files are opened.
//! Without a descriptor-anchored walk a component could be swapped
//! between the check and the use: the evidence is expected to be a copy
//! at rest, not a live system.

use super::super::{
    DirEntry, EvPath, FileKind, FileReader, FileSystem, FsError, Metadata, Timestamp,
};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A host directory used as a read-only evidence filesystem.
#[derive(Debug)]
pub struct HostDir {
    root_path: PathBuf,
}

impl HostDir {
    /// Opens `path` (which the examiner named, so it may itself be reached
    /// through symlinks) as the root of the view.
    pub fn open(path: &Path) -> Result<Self, FsError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| io_err(&shown, e))?;
        if !meta.is_dir() {
            return Err(FsError::NotADirectory { path: shown });
        }
        Ok(HostDir {
            root_path: path.to_path_buf(),
        })
    }

    /// The host path of the root.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// The host path of `path`, every directory on the way checked to be
    /// a directory and no symlink.
    fn host_path(&self, path: &EvPath) -> Result<PathBuf, FsError> {
        let mut cur = self.root_path.clone();
        let comps: Vec<&[u8]> = path.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let Some(name) = os_name(comp) else {
                return Err(FsError::NotFound {
                    path: path.display(),
                });
            };
            cur.push(name);
            if i + 1 < comps.len() {
                let m = std::fs::symlink_metadata(&cur).map_err(|e| io_err(&path.display(), e))?;
                if m.file_type().is_symlink() {
                    return Err(FsError::SymlinkInPath {
                        path: path.display(),
                    });
                }
                if !m.is_dir() {
                    return Err(FsError::NotFound {
                        path: path.display(),
                    });
                }
            }
        }
        Ok(cur)
    }
}

/// A name from the evidence as a name on this OS; `None` where it cannot
/// be one (not UTF-8 on Windows, a separator inside it).
fn os_name(comp: &[u8]) -> Option<PathBuf> {
    if comp.contains(&b'/') || (cfg!(windows) && comp.contains(&b'\\')) {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(comp)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(comp).ok().map(PathBuf::from)
    }
}

/// A host name as the bytes the evidence model uses.
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().into_owned().into_bytes()
    }
}

fn io_err(path: &str, e: std::io::Error) -> FsError {
    let path = path.to_string();
    match e.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound { path },
        std::io::ErrorKind::PermissionDenied => FsError::PermissionDenied { path },
        _ => FsError::Io { path, source: e },
    }
}

fn kind_of(t: std::fs::FileType) -> FileKind {
    if t.is_symlink() {
        return FileKind::Symlink;
    }
    if t.is_dir() {
        return FileKind::Dir;
    }
    if t.is_file() {
        return FileKind::File;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return FileKind::CharDevice;
        }
        if t.is_block_device() {
            return FileKind::BlockDevice;
        }
        if t.is_fifo() {
            return FileKind::Fifo;
        }
        if t.is_socket() {
            return FileKind::Socket;
        }
    }
    FileKind::Unknown
}

fn stamp(t: std::io::Result<std::time::SystemTime>) -> Option<Timestamp> {
    let t = t.ok()?;
    Some(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        },
        Err(e) => {
            let d = e.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => Timestamp { secs, nanos: 0 },
                n => Timestamp {
                    secs: secs - 1,
                    nanos: 1_000_000_000 - n,
                },
            }
        }
    })
}

fn metadata_of(m: &std::fs::Metadata) -> Metadata {
    let kind = kind_of(m.file_type());
    let zero = Timestamp { secs: 0, nanos: 0 };
    let mtime = stamp(m.modified()).unwrap_or(zero);
    let atime = stamp(m.accessed()).unwrap_or(mtime);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let rdev = m.rdev();
        Metadata {
            kind,
            perm: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            size: m.len(),
            nlink: m.nlink(),
            ino: m.ino(),
            // BSD and macOS `dev_t`: 8 bits of major, 24 of minor.
            rdev_major: ((rdev >> 24) & 0xff) as u32,
            rdev_minor: (rdev & 0xff_ffff) as u32,
            mtime,
            atime,
            ctime: Timestamp {
                secs: m.ctime(),
                nanos: u32::try_from(m.ctime_nsec()).unwrap_or(0),
            },
            btime: stamp(m.created()),
        }
    }
    #[cfg(not(unix))]
    {
        // Windows keeps no owners or modes a Linux layer could use: what
        // a copy there shows, not what the host had.
        let perm = match (kind, m.permissions().readonly()) {
            (FileKind::Dir, _) => 0o755,
            (_, true) => 0o444,
            (_, false) => 0o644,
        };
        Metadata {
            kind,
            perm,
            uid: 0,
            gid: 0,
            size: m.len(),
            nlink: 1,
            ino: 0,
            rdev_major: 0,
            rdev_minor: 0,
            mtime,
            atime,
            ctime: mtime,
            btime: stamp(m.created()),
        }
    }
}

struct HostFile(File);

impl Read for HostFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl FileReader for HostFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        crate::evidence::image::pread::read_at(&self.0, buf, offset)
    }
}

impl FileSystem for HostDir {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        let p = self.host_path(path)?;
        let m = std::fs::symlink_metadata(&p).map_err(|e| io_err(&path.display(), e))?;
        Ok(metadata_of(&m))
    }

    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        let p = self.host_path(path)?;
        let m = std::fs::symlink_metadata(&p).map_err(|e| io_err(&path.display(), e))?;
        if m.file_type().is_symlink() {
            return Err(FsError::SymlinkInPath {
                path: path.display(),
            });
        }
        if !m.is_dir() {
            return Err(FsError::NotADirectory {
                path: path.display(),
            });
        }
        let mut out = Vec::new();
        for e in std::fs::read_dir(&p).map_err(|e| io_err(&path.display(), e))? {
            let e = e.map_err(|e| io_err(&path.display(), e))?;
            let kind = e.file_type().map(kind_of).unwrap_or(FileKind::Unknown);
            out.push(DirEntry {
                name: name_bytes(&e.file_name()),
                kind,
            });
        }
        Ok(out)
    }

    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        let p = self.host_path(path)?;
        let m = std::fs::symlink_metadata(&p).map_err(|e| io_err(&path.display(), e))?;
        let kind = kind_of(m.file_type());
        if kind != FileKind::File {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind,
            });
        }
        let f = File::open(&p).map_err(|e| io_err(&path.display(), e))?;
        // The object could have been swapped between the check and open.
        let now = f.metadata().map_err(|e| io_err(&path.display(), e))?;
        if !now.is_file() {
            return Err(FsError::NotAFile {
                path: path.display(),
                kind: kind_of(now.file_type()),
            });
        }
        Ok(Box::new(HostFile(f)))
    }

    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        let p = self.host_path(path)?;
        let t = std::fs::read_link(&p).map_err(|e| io_err(&path.display(), e))?;
        Ok(name_bytes(t.as_os_str()))
    }

    fn xattrs(&self, _path: &EvPath) -> Result<Vec<(Vec<u8>, Vec<u8>)>, FsError> {
        // Not read on this OS (see the module notes of `host`).
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root_path.display())
    }
}
