//! The FUSE adapter: the kernel's requests answered from a [`Tree`].
//! Lookups, attributes, directory listings, links and extended
//! attributes come from the inode table; file contents are read from the
//! evidence at the offset asked (the EWF reader caches its chunks).
//! Every request that would change anything gets `EROFS`, on top of the
//! mount itself being read-only (`ro`), and device nodes and set-id bits
//! have no effect (`nodev`, `nosuid`): a device node in the evidence is
//! shown, never opened on the examiner's machine. Nothing is cached on
//! disk.

use super::tree::{Ino, Node, Source, Tree};
use crate::evidence::fs::{FileKind, FileReader, Timestamp};
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow, WriteFlags,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the kernel may cache names and attributes: the tree never
/// changes while mounted.
const TTL: Duration = Duration::from_secs(3600);

/// Most bytes one read answers (the kernel asks for at most 128 KiB or
/// so; a bound all the same).
const MAX_READ: u32 = 1 << 20;

type Handle = Arc<Mutex<Box<dyn FileReader>>>;

/// A [`Tree`] served over FUSE.
pub struct ViewFs {
    tree: Tree<'static>,
    handles: Mutex<HashMap<u64, Handle>>,
    next: AtomicU64,
}

impl ViewFs {
    /// Serves `tree`.
    pub fn new(tree: Tree<'static>) -> ViewFs {
        ViewFs {
            tree,
            handles: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }

    fn node(&self, ino: INodeNo) -> Result<&Node, Errno> {
        self.tree.node(ino.0).ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: Ino, n: &Node) -> FileAttr {
        let m = &n.meta;
        // Directories' counts are the merged tree's (see `Tree`).
        let nlink = m.nlink.max(1);
        FileAttr {
            ino: INodeNo(ino),
            size: m.size,
            blocks: m.size.div_ceil(512),
            atime: time(m.atime),
            mtime: time(m.mtime),
            ctime: time(m.ctime),
            crtime: m.btime.map_or(UNIX_EPOCH, time),
            kind: kind(m.kind),
            perm: (m.perm & 0o7777) as u16,
            nlink: u32::try_from(nlink).unwrap_or(u32::MAX),
            uid: m.uid,
            gid: m.gid,
            rdev: rdev(m.rdev_major, m.rdev_minor),
            blksize: 4096,
            flags: 0,
        }
    }

    fn handle(&self, fh: FileHandle) -> Option<Handle> {
        self.handles.lock().ok()?.get(&fh.0).cloned()
    }
}

/// Linux `new_encode_dev`, the encoding FUSE's `rdev` carries.
fn rdev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

/// A recorded time; one out of the range the system can hold (a hostile
/// or corrupt inode) shows as the epoch.
fn time(t: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.nanos.min(999_999_999)));
    let secs = Duration::from_secs(t.secs.unsigned_abs());
    let at = if t.secs >= 0 {
        UNIX_EPOCH.checked_add(secs)
    } else {
        UNIX_EPOCH.checked_sub(secs)
    };
    at.and_then(|a| a.checked_add(nanos)).unwrap_or(UNIX_EPOCH)
}

fn kind(k: FileKind) -> FileType {
    match k {
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::CharDevice => FileType::CharDevice,
        FileKind::BlockDevice => FileType::BlockDevice,
        FileKind::Fifo => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::File | FileKind::Unknown => FileType::RegularFile,
    }
}

/// Answers an extended-attribute request: the size when `size` is 0,
/// else the bytes if they fit.
fn xattr_reply(reply: ReplyXattr, size: u32, data: &[u8]) {
    if size == 0 {
        reply.size(u32::try_from(data.len()).unwrap_or(u32::MAX));
    } else if data.len() > size as usize {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(data);
    }
}

impl fuser::Filesystem for ViewFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.tree.lookup(parent.0, name.as_bytes()) {
            Some(ino) => match self.tree.node(ino) {
                Some(n) => reply.entry(&TTL, &self.attr(ino, n), Generation(0)),
                None => reply.error(Errno::ENOENT),
            },
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node(ino) {
            Ok(n) => reply.attr(&TTL, &self.attr(ino.0, n)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino) {
            Ok(n) if n.kind() == FileKind::Symlink => match self.tree.read_link(n) {
                Some(t) => reply.data(&t),
                None => reply.error(Errno::EIO),
            },
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        let n = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match &n.source {
            Source::Bytes(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Source::Evidence { path, .. } if n.kind() == FileKind::File => {
                match self.tree.fs().open(path) {
                    Ok(r) => {
                        let fh = self.next.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut h) = self.handles.lock() {
                            h.insert(fh, Arc::new(Mutex::new(r)));
                        }
                        reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE)
                    }
                    Err(_) => reply.error(Errno::EIO),
                }
            }
            _ => reply.error(Errno::EACCES),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let n = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        // Never past the size recorded: the view shows what the inode says.
        let left = n.meta.size.saturating_sub(offset);
        let want = usize::try_from(u64::from(size.min(MAX_READ)).min(left)).unwrap_or(0);
        if let Source::Bytes(b) = &n.source {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
            let end = start.saturating_add(want).min(b.len());
            return reply.data(&b[start..end]);
        }
        let Some(h) = self.handle(fh) else {
            return reply.error(Errno::EBADF);
        };
        let Ok(r) = h.lock() else {
            return reply.error(Errno::EIO);
        };
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match r.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return reply.error(Errno::EIO),
            }
        }
        reply.data(&buf[..got]);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut h) = self.handles.lock() {
            h.remove(&fh.0);
        }
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        match self.node(ino) {
            Ok(n) if n.meta.is_dir() => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let n = match self.node(ino) {
            Ok(n) if n.meta.is_dir() => n,
            Ok(_) => return reply.error(Errno::ENOTDIR),
            Err(e) => return reply.error(e),
        };
        let dots = [
            (INodeNo(ino.0), FileType::Directory, OsStr::new(".")),
            (INodeNo(n.parent), FileType::Directory, OsStr::new("..")),
        ];
        // Offsets: 1 and 2 after the dots, then 3… after each child;
        // a listing resumed at `offset` starts there directly.
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let first_child = skip.saturating_sub(2);
        let children = n
            .children
            .get(first_child..)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(j, (name, c))| {
                let k = self
                    .tree
                    .node(*c)
                    .map_or(FileType::RegularFile, |c| kind(c.kind()));
                (
                    first_child + 2 + j,
                    (INodeNo(*c), k, OsStr::from_bytes(name)),
                )
            });
        for (i, (ino, k, name)) in dots.into_iter().enumerate().skip(skip).chain(children) {
            if reply.add(ino, i as u64 + 1, k, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let files = self.tree.len() as u64;
        reply.statfs(0, 0, 0, files, 0, 4096, 255, 4096);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let n = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self
            .tree
            .xattrs(n)
            .into_iter()
            .find(|(k, _)| k.as_slice() == name.as_bytes())
        {
            Some((_, v)) => xattr_reply(reply, size, &v),
            None => reply.error(Errno::ENODATA),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let n = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let mut list = Vec::new();
        for (k, _) in self.tree.xattrs(n) {
            list.extend_from_slice(&k);
            list.push(0);
        }
        xattr_reply(reply, size, &list);
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            return reply.error(Errno::EROFS);
        }
        match self.node(ino) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    // Everything below would change the tree: read-only.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }
}

/// Mount options: read-only, no device nodes, no set-id, no execution
/// (the tree is evidence, possibly malware), named for `mount` listings.
pub fn mount_config() -> fuser::Config {
    let mut c = fuser::Config::default();
    c.mount_options = vec![
        fuser::MountOption::RO,
        fuser::MountOption::NoDev,
        fuser::MountOption::NoSuid,
        fuser::MountOption::NoExec,
        fuser::MountOption::FSName("docker-forensics".into()),
        fuser::MountOption::Subtype("docker-forensics".into()),
    ];
    // Requests in parallel (the tree is shared read-only; each open file
    // has its own reader).
    c.n_threads = Some(
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::rdev;

    #[test]
    fn extreme_times_do_not_panic() {
        use super::{Timestamp, UNIX_EPOCH, time};
        let t = |secs, nanos| time(Timestamp { secs, nanos });
        for secs in [i64::MIN, i64::MIN + 1, -1, i64::MAX] {
            let _ = t(secs, u32::MAX);
        }
        assert_eq!(
            t(-1, 500_000_000),
            UNIX_EPOCH - std::time::Duration::from_millis(500)
        );
        assert_eq!(t(2, 0), UNIX_EPOCH + std::time::Duration::from_secs(2));
    }

    #[test]
    fn rdev_is_linux_new_encode_dev() {
        // makedev(1, 3) = /dev/null, makedev(259, 1): a major past 255.
        assert_eq!(rdev(1, 3), 0x103);
        assert_eq!(rdev(0, 0), 0);
        assert_eq!(rdev(259, 0x1234), 0x34 | (259 << 8) | (0x1200 << 12));
    }
}
