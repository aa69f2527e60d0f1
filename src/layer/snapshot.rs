//! Does an unpacked snapshot still hold what its layer put there?
//!
//! Containers run from the unpacked snapshot, not from the blob: a file
//! changed in the snapshot matters even when the blob still hashes to its
//! digest. This module reads a layer's tar stream once, as it goes by,
//! and compares every entry with the snapshot directory the store made
//! from it, the way containerd's applier writes it (containerd
//! `pkg/archive/tar.go`, `applyNaive`/`createTarFile`, with the overlay
//! snapshotter's whiteout conversion `OverlayConvertWhiteout`):
//!
//! - a regular file has the entry's size and content (compared byte for
//!   byte; a difference is named by the sha256 of each side); every
//!   entry keeps its permission bits (`chmod`, not for symlinks or hard
//!   links) and owner (`lchown`);
//! - a symlink has the entry's target, a device its numbers, a hard link
//!   the inode of the name it links to;
//! - a whiteout `.wh.<name>` (OCI image-spec `layer.md`, "Whiteouts")
//!   became `<name>` as a 0/0 character device, and an opaque marker
//!   `<dir>/.wh..wh..opq` became the `trusted.overlay.opaque=y` attribute
//!   of `<dir>` (Linux `Documentation/filesystems/overlayfs.rst`,
//!   "whiteouts and opaque directories"; `user.overlay.opaque` where
//!   overlayfs runs with `userxattr`);
//! - extended attributes are the layer's (`SCHILY.xattr.*` PAX records);
//! - nothing in the snapshot is missing from the layer.
//!
//! What the applier changes by itself is not a difference: modification
//! times (directories' change as their entries are written), parent
//! directories created for entries whose parent the tar does not list,
//! the root directory (never applied), and the `trusted.overlay.*`
//! attributes (and `security.selinux`, which the host's policy sets). When a name comes twice in a tar, the last entry is what
//! was applied: findings about the earlier one are taken back.
//!
//! Memory does not grow with the layer's content: the tar is streamed and
//! files are compared in small blocks. The names seen are kept (to find
//! files the layer does not have) up to [`MAX_NAME_BYTES`]; past that,
//! that last search is skipped and a finding says so. Findings are capped
//! at [`super::MAX_LAYER_FINDINGS`].

use super::findings::Findings;
use super::tarstream::{Member, TarStream};
use crate::evidence::fs::{EvPath, FileKind, FileSystem, FsError, Metadata};
use crate::pipe::Chunk;
use crate::report::{Finding, FindingKind};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::mpsc::Receiver;

/// Bytes of entry names kept to search the snapshot for files the layer
/// does not have; a layer naming more is compared entry by entry only.
pub const MAX_NAME_BYTES: usize = 256 << 20;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Size of the blocks files are hashed in.
const BLOCK: usize = 64 << 10;

/// The unpacked snapshot of one layer.
#[derive(Clone, Copy)]
pub struct Snapshot<'a> {
    /// The filesystem the snapshot is on.
    pub fs: &'a dyn FileSystem,
    /// The directory holding the layer's own files (overlay upper dir).
    pub dir: &'a EvPath,
    /// The store's name for the snapshot (containerd's snapshot key).
    pub key: &'a str,
    /// The layer's diff_id, `sha256:<hex>`, to name it in findings.
    pub diff_id: &'a str,
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct SnapshotCheck {
    /// Differences ([`FindingKind::SnapshotChanged`]), capped per layer,
    /// and what could not be compared.
    pub findings: Vec<Finding>,
    /// Regular files whose content was compared.
    pub files_checked: u64,
    /// Tar entries compared.
    pub entries: u64,
}

/// Compares the layer tar read from `tar` with `snap`. Reads `tar` to its
/// end whatever happens, so that a writer feeding it is never blocked.
pub fn check_snapshot<R: Read>(snap: &Snapshot<'_>, tar: R) -> SnapshotCheck {
    check_limited(snap, tar, MAX_NAME_BYTES)
}

/// [`check_snapshot`], keeping at most `name_limit` bytes of names.
fn check_limited<R: Read>(snap: &Snapshot<'_>, tar: R, name_limit: usize) -> SnapshotCheck {
    let mut c = Checker {
        snap: *snap,
        findings: Findings::default(),
        seen: HashMap::new(),
        name_bytes: 0,
        name_limit,
        names_complete: true,
        files_checked: 0,
        entries: 0,
        bufs: (vec![0u8; BLOCK], vec![0u8; BLOCK]),
    };
    let mut stream = TarStream::new(tar);
    let read_whole = c.entries(&mut stream);
    // Whatever follows the end-of-archive block (or an unreadable entry)
    // still has to be taken from the stream.
    let mut rest = stream.into_inner();
    let _ = io::copy(&mut rest, &mut io::sink());
    if read_whole && c.names_complete {
        c.extras();
    } else if read_whole {
        c.findings.push(Finding::new(
            FindingKind::FindingsOmitted,
            None,
            format!(
                "the layer names more than {} bytes of paths: the snapshot {} was compared entry by entry but not searched for files the layer does not have",
                c.name_limit, c.snap.key
            ),
        ));
    }
    SnapshotCheck {
        findings: c.findings.into_vec(),
        files_checked: c.files_checked,
        entries: c.entries,
    }
}

/// [`check_snapshot`] over the chunks of a fan-out, until every sender
/// is gone.
pub(crate) fn check_chunks(snap: &Snapshot<'_>, rx: Receiver<Chunk>) -> SnapshotCheck {
    check_snapshot(
        snap,
        ChunkReader {
            rx,
            cur: None,
            pos: 0,
        },
    )
}

/// Reads the chunks a fan-out sends, in order.
struct ChunkReader {
    rx: Receiver<Chunk>,
    cur: Option<Chunk>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(c) = &self.cur {
                let data = c.data();
                if self.pos < data.len() {
                    let n = buf.len().min(data.len() - self.pos);
                    buf[..n].copy_from_slice(&data[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
            }
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = Some(c);
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
    }
}

struct Checker<'a> {
    snap: Snapshot<'a>,
    findings: Findings,
    /// Names in the layer → whether an entry names it (else it is only a
    /// parent of one).
    seen: HashMap<Vec<u8>, bool>,
    name_bytes: usize,
    name_limit: usize,
    /// Every name is in `seen`.
    names_complete: bool,
    files_checked: u64,
    entries: u64,
    /// Where file content is read, block by block: the layer's side and
    /// the snapshot's.
    bufs: (Vec<u8>, Vec<u8>),
}

impl Checker<'_> {
    /// Reads every entry; false if the tar could not be read to its end.
    fn entries<R: Read>(&mut self, stream: &mut TarStream<R>) -> bool {
        loop {
            let result = match stream.next_member() {
                Ok(None) => return true,
                Ok(Some(m)) => self.entry(&m, &mut stream.content()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.unreadable(e);
                return false;
            }
        }
    }

    fn unreadable(&mut self, e: io::Error) {
        self.findings.push(Finding::new(
            FindingKind::FileUnreadable,
            None,
            format!(
                "the layer tar could not be read past entry {}: {e}; the snapshot {} was compared only up to there",
                self.entries, self.snap.key
            ),
        ));
    }

    /// A difference at `rel`, named with the layer and the snapshot.
    fn changed(&mut self, rel: &EvPath, what: &str) {
        self.findings.push(Finding::new(
            FindingKind::SnapshotChanged,
            Some(rel.display()),
            format!(
                "{what} (layer {}, snapshot {} at {})",
                self.snap.diff_id,
                self.snap.key,
                self.snap.dir.display()
            ),
        ));
    }

    /// Remembers `rel` (and its parents) as named by the layer; true when
    /// an earlier entry named it already.
    fn remember(&mut self, rel: &EvPath, named: bool) -> bool {
        if !self.names_complete {
            return false;
        }
        let before = self.seen.get(rel.as_bytes()).copied();
        if before.is_none() && !self.budget(rel) {
            return false;
        }
        self.seen
            .insert(rel.as_bytes().to_vec(), named || before == Some(true));
        let mut parent = rel.parent();
        while !parent.is_root() && !self.seen.contains_key(parent.as_bytes()) {
            if !self.budget(&parent) {
                return false;
            }
            self.seen.insert(parent.as_bytes().to_vec(), false);
            parent = parent.parent();
        }
        named && before == Some(true)
    }

    /// Counts a new name against [`MAX_NAME_BYTES`] (with what a map entry
    /// costs besides); past it, names are no longer kept.
    fn budget(&mut self, rel: &EvPath) -> bool {
        self.name_bytes = self
            .name_bytes
            .saturating_add(rel.as_bytes().len().saturating_add(48));
        if self.name_bytes > self.name_limit {
            self.names_complete = false;
            self.seen = HashMap::new();
        }
        self.names_complete
    }

    fn entry(&mut self, m: &Member, data: &mut impl Read) -> io::Result<()> {
        self.entries += 1;
        // A name that climbs out is not checked; the root is never applied
        // (containerd: "resolved to root").
        let Some(rel) = EvPath::parse_strict(&m.name) else {
            return Ok(());
        };
        if rel.is_root() {
            return Ok(());
        }
        let base = rel.file_name().to_vec();
        if base == OPAQUE_MARKER {
            let dir = rel.parent();
            if !dir.is_root() {
                self.remember(&dir, false);
            }
            self.opaque(&dir);
            return Ok(());
        }
        if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX) {
            let Some(target) = rel.parent().child(name) else {
                return Ok(());
            };
            if self.remember(&target, true) {
                self.findings.retract(&target.display());
            }
            self.whiteout(&target);
            return Ok(());
        }
        if self.remember(&rel, true) {
            self.findings.retract(&rel.display());
        }
        self.compare(&rel, m, data)
    }

    fn opaque(&mut self, dir: &EvPath) {
        let full = self.snap.dir.join_path(dir);
        match self.snap.fs.xattrs(&full) {
            Ok(x) => {
                let opaque = x.iter().any(|(k, v)| {
                    (k == b"trusted.overlay.opaque" || k == b"user.overlay.opaque") && v == b"y"
                });
                if !opaque {
                    self.changed(
                        dir,
                        "the layer makes this directory opaque (.wh..wh..opq); in the snapshot it has no trusted.overlay.opaque=y, so lower layers show through",
                    );
                }
            }
            Err(e) if e.is_not_found() => self.changed(
                dir,
                "the layer makes this directory opaque (.wh..wh..opq); it is not in the snapshot",
            ),
            Err(e) => self.changed(dir, &format!("opaque directory unreadable: {e}")),
        }
    }

    fn whiteout(&mut self, target: &EvPath) {
        let full = self.snap.dir.join_path(target);
        match self.snap.fs.metadata(&full) {
            Ok(m) if m.is_overlay_whiteout() => {}
            Ok(m) => self.changed(
                target,
                &format!(
                    "the layer deletes this name (whiteout .wh.{}); in the snapshot it is {}, not the 0/0 character device overlayfs uses, so it shows in the container",
                    String::from_utf8_lossy(target.file_name()),
                    describe(&m)
                ),
            ),
            Err(e) if e.is_not_found() => self.changed(
                target,
                "the layer deletes this name (whiteout); the snapshot has no 0/0 character device for it, so the lower layers' file shows in the container",
            ),
            Err(e) => self.changed(target, &format!("whiteout unreadable: {e}")),
        }
    }

    fn compare(&mut self, rel: &EvPath, h: &Member, data: &mut impl Read) -> io::Result<()> {
        let full = self.snap.dir.join_path(rel);
        let meta = match self.snap.fs.metadata(&full) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => {
                self.changed(
                    rel,
                    &format!("{} in the layer, not in the snapshot", tar_kind(h.kind)),
                );
                return Ok(());
            }
            Err(e) => {
                self.changed(rel, &format!("unreadable in the snapshot: {e}"));
                return Ok(());
            }
        };
        let mut diffs: Vec<String> = Vec::new();
        let want = match h.kind {
            b'0' | b'7' | b'S' => FileKind::File,
            b'5' => FileKind::Dir,
            b'2' => FileKind::Symlink,
            b'3' => FileKind::CharDevice,
            b'4' => FileKind::BlockDevice,
            b'6' => FileKind::Fifo,
            b'1' => {
                self.hard_link(rel, &meta, h);
                return Ok(());
            }
            // Kinds the applier does not write.
            _ => return Ok(()),
        };
        if meta.kind != want {
            self.changed(
                rel,
                &format!(
                    "{} in the layer, {} in the snapshot",
                    tar_kind(h.kind),
                    describe(&meta)
                ),
            );
            return Ok(());
        }
        if want != FileKind::Symlink && h.mode & 0o7777 != meta.perm & 0o7777 {
            diffs.push(format!(
                "mode {:04o} in the layer, {:04o} in the snapshot",
                h.mode & 0o7777,
                meta.perm & 0o7777
            ));
        }
        if h.uid != u64::from(meta.uid) || h.gid != u64::from(meta.gid) {
            diffs.push(format!(
                "owner {}:{} in the layer, {}:{} in the snapshot",
                h.uid, h.gid, meta.uid, meta.gid
            ));
        }
        match want {
            FileKind::File if !h.sparse => {
                if let Some(d) = self.content(&full, &meta, h.size, data)? {
                    diffs.push(d);
                }
            }
            FileKind::Symlink => match self.snap.fs.read_link(&full) {
                Ok(t) if t == h.link => {}
                Ok(t) => diffs.push(format!(
                    "symlink to {:?} in the layer, to {:?} in the snapshot",
                    String::from_utf8_lossy(&h.link),
                    String::from_utf8_lossy(&t)
                )),
                Err(e) => diffs.push(format!("symlink unreadable: {e}")),
            },
            FileKind::CharDevice | FileKind::BlockDevice
                if h.dev != (meta.rdev_major, meta.rdev_minor) =>
            {
                diffs.push(format!(
                    "device {}:{} in the layer, {}:{} in the snapshot",
                    h.dev.0, h.dev.1, meta.rdev_major, meta.rdev_minor
                ));
            }
            _ => {}
        }
        if want != FileKind::Symlink {
            self.xattr_diffs(&full, h, &mut diffs);
        }
        if !diffs.is_empty() {
            self.changed(rel, &diffs.join("; "));
        }
        Ok(())
    }

    /// Extended attributes: every one the snapshot has must be the
    /// layer's (`SCHILY.xattr.*`), and the layer's must be there, except
    /// `security.*` and `trusted.*` ones, which containerd does not insist
    /// on where the kernel refuses them.
    fn xattr_diffs(&mut self, full: &EvPath, h: &Member, diffs: &mut Vec<String>) {
        let snap = match self.snap.fs.xattrs(full) {
            Ok(x) => x,
            Err(e) => {
                diffs.push(format!("extended attributes unreadable: {e}"));
                return;
            }
        };
        let lossy = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        for (k, v) in snap.iter().filter(|(k, _)| !host_xattr(k)) {
            match h.xattrs.iter().find(|(lk, _)| lk == k) {
                Some((_, lv)) if lv == v => {}
                Some(_) => diffs.push(format!(
                    "extended attribute {} differs from the layer's",
                    lossy(k)
                )),
                None => diffs.push(format!(
                    "extended attribute {} in the snapshot, not in the layer",
                    lossy(k)
                )),
            }
        }
        for (k, _) in &h.xattrs {
            let optional =
                host_xattr(k) || k.starts_with(b"security.") || k.starts_with(b"trusted.");
            if !optional && !snap.iter().any(|(sk, _)| sk == k) {
                diffs.push(format!(
                    "extended attribute {} of the layer is not in the snapshot",
                    lossy(k)
                ));
            }
        }
    }

    /// A hard link: the same inode as the name it links to. Mode and owner
    /// are those of that inode, checked with it.
    fn hard_link(&mut self, rel: &EvPath, meta: &Metadata, h: &Member) {
        let Some(target) = EvPath::parse_strict(&h.link) else {
            return;
        };
        let tfull = self.snap.dir.join_path(&target);
        match self.snap.fs.metadata(&tfull) {
            Ok(t) if t.ino == meta.ino && meta.kind != FileKind::Dir => {}
            Ok(_) => self.changed(
                rel,
                &format!(
                    "a hard link to {} in the layer; in the snapshot {}, not the same file",
                    target.display(),
                    describe(meta)
                ),
            ),
            Err(e) => self.changed(
                rel,
                &format!(
                    "a hard link to {} in the layer; that name is not readable in the snapshot: {e}",
                    target.display()
                ),
            ),
        }
    }

    /// Compares a regular file's content; the difference in words, if any.
    ///
    /// The two sides are compared byte for byte, block by block, as they
    /// are read: no hash is needed to find them equal (a sha256 of each
    /// side cost two hashes of every byte of the layer). Only a
    /// difference is described by the sha256 of each side, computed then
    /// ([`Checker::diverged`]).
    fn content(
        &mut self,
        full: &EvPath,
        meta: &Metadata,
        size: u64,
        data: &mut impl Read,
    ) -> io::Result<Option<String>> {
        // The layer's side is read in any case: it is the stream.
        let mut bufs = std::mem::take(&mut self.bufs);
        let result = self.compare_content(full, meta, size, data, &mut bufs);
        self.bufs = bufs;
        result
    }

    fn compare_content(
        &mut self,
        full: &EvPath,
        meta: &Metadata,
        size: u64,
        data: &mut impl Read,
        (lbuf, sbuf): &mut (Vec<u8>, Vec<u8>),
    ) -> io::Result<Option<String>> {
        if meta.size != size {
            let layer = hash(data, lbuf)?;
            return Ok(Some(format!(
                "{size} bytes in the layer (sha256:{}), {} in the snapshot",
                layer.0, meta.size
            )));
        }
        self.files_checked += 1;
        let mut snap = match self.snap.fs.open(full) {
            Ok(f) => f.take(size),
            Err(e) => {
                hash(data, lbuf)?;
                return Ok(Some(format!("content unreadable: {e}")));
            }
        };
        let mut at = 0u64;
        loop {
            let n = fill(data, lbuf)?;
            let m = match fill(&mut snap, sbuf) {
                Ok(m) => m,
                Err(e) => {
                    hash(data, lbuf)?;
                    return Ok(Some(format!("content unreadable: {e}")));
                }
            };
            if n != m || lbuf[..n] != sbuf[..m] {
                return self.diverged(full, size, at, (&lbuf[..n], data), (&sbuf[..m], &mut snap));
            }
            if n == 0 {
                break;
            }
            at += n as u64;
        }
        // Both sides ended together, equal all along.
        Ok((at != size)
            .then(|| format!("content unreadable: only {at} of its {size} bytes could be read")))
    }

    /// The difference of a file whose two sides were equal for their
    /// first `at` bytes and differ in the blocks `layer.0` and `snap.0`
    /// read next: each side's sha256 and the snapshot's length, in the
    /// words the comparison uses. The common first `at` bytes are read
    /// again from the snapshot (only a changed file is read twice).
    fn diverged(
        &mut self,
        full: &EvPath,
        size: u64,
        at: u64,
        layer: (&[u8], &mut impl Read),
        snap: (&[u8], &mut impl Read),
    ) -> io::Result<Option<String>> {
        let mut buf = vec![0u8; BLOCK];
        let prefix = match self.snap.fs.open(full) {
            Ok(f) => {
                let mut h = Sha256::new();
                match feed(&mut f.take(at), &mut h, &mut buf) {
                    Ok(got) if got == at => Ok(h),
                    Ok(got) => Err(format!(
                        "only {got} of its first {at} bytes could be read again"
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        // The layer's side is read to its end in any case.
        let mut layer_hash = prefix.clone().unwrap_or_default();
        layer_hash.update(layer.0);
        feed(layer.1, &mut layer_hash, &mut buf)?;
        let mut snap_hash = match prefix {
            Ok(h) => h,
            Err(e) => return Ok(Some(format!("content unreadable: {e}"))),
        };
        snap_hash.update(snap.0);
        // The snapshot's side is read on to its end (at most `size`).
        let n = match feed(snap.1, &mut snap_hash, &mut buf) {
            Ok(more) => at + snap.0.len() as u64 + more,
            Err(e) => return Ok(Some(format!("content unreadable: {e}"))),
        };
        let layer_hex = hex::encode(layer_hash.finalize());
        let snap_hex = hex::encode(snap_hash.finalize());
        Ok(if n == size && snap_hex == layer_hex {
            None
        } else if n == size {
            Some(format!(
                "content changed: sha256:{layer_hex} in the layer, sha256:{snap_hex} in the snapshot ({size} bytes)"
            ))
        } else {
            Some(format!(
                "content unreadable: only {n} of its {size} bytes could be read"
            ))
        })
    }

    /// Everything in the snapshot the layer does not name.
    fn extras(&mut self) {
        let mut stack = vec![EvPath::root()];
        while let Some(rel) = stack.pop() {
            let full = self.snap.dir.join_path(&rel);
            let list = match self.snap.fs.read_dir(&full) {
                Ok(l) => l,
                Err(e) => {
                    self.read_dir_failed(&rel, e);
                    continue;
                }
            };
            let mut list = list;
            list.sort_by(|a, b| a.name.cmp(&b.name));
            let mut dirs = Vec::new();
            for ent in list {
                let Some(child) = rel.child(&ent.name) else {
                    continue;
                };
                if self.seen.contains_key(child.as_bytes()) {
                    let dir = match ent.kind {
                        FileKind::Unknown => self
                            .snap
                            .fs
                            .metadata(&self.snap.dir.join_path(&child))
                            .is_ok_and(|m| m.is_dir()),
                        k => k == FileKind::Dir,
                    };
                    if dir {
                        dirs.push(child);
                    }
                    continue;
                }
                let what = match self.snap.fs.metadata(&self.snap.dir.join_path(&child)) {
                    Ok(m) => describe(&m),
                    Err(_) => "an entry".to_string(),
                };
                self.changed(
                    &child,
                    &format!(
                        "{what} in the snapshot that the layer does not have{}",
                        if ent.kind == FileKind::Dir {
                            " (with everything under it)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            // Depth first, in name order.
            stack.extend(dirs.into_iter().rev());
        }
    }

    fn read_dir_failed(&mut self, rel: &EvPath, e: FsError) {
        self.findings.push(Finding::new(
            FindingKind::FileUnreadable,
            Some(rel.display()),
            format!(
                "directory of snapshot {} unreadable, not searched for files the layer does not have: {e}",
                self.snap.key
            ),
        ));
    }
}

/// sha256 (hex) and length of everything `r` gives.
fn hash(r: &mut impl Read, buf: &mut [u8]) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut n = 0u64;
    loop {
        let got = match r.read(buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..got]);
        n += got as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Reads `r` to its end into `h`; the number of bytes.
fn feed(r: &mut impl Read, h: &mut Sha256, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let got = fill(r, buf)?;
        if got == 0 {
            return Ok(n);
        }
        h.update(&buf[..got]);
        n += got as u64;
    }
}

/// Fills `buf` from `r`; less only at the end of `r`.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Attributes overlayfs keeps for itself, or the host's security module
/// sets on every file: not the layer's.
fn host_xattr(k: &[u8]) -> bool {
    k.starts_with(b"trusted.overlay.")
        || k.starts_with(b"user.overlay.")
        || k == b"security.selinux"
}

fn tar_kind(kind: u8) -> &'static str {
    match kind {
        b'5' => "a directory",
        b'2' => "a symlink",
        b'1' => "a hard link",
        b'3' => "a character device",
        b'4' => "a block device",
        b'6' => "a FIFO",
        _ => "a regular file",
    }
}

fn describe(m: &Metadata) -> String {
    match m.kind {
        FileKind::File => format!("a regular file of {} bytes", m.size),
        FileKind::Dir => "a directory".into(),
        FileKind::Symlink => "a symlink".into(),
        FileKind::CharDevice if m.is_overlay_whiteout() => "a whiteout (0/0 device)".into(),
        FileKind::CharDevice => format!("a character device {}:{}", m.rdev_major, m.rdev_minor),
        FileKind::BlockDevice => format!("a block device {}:{}", m.rdev_major, m.rdev_minor),
        FileKind::Fifo => "a FIFO".into(),
        FileKind::Socket => "a socket".into(),
        FileKind::Unknown => "an object of unknown kind".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::path;
    use tar::{Builder, EntryType, Header};

    const KEY: &str = "k8s.io/7/sha256:abc";
    const DIFF_ID: &str = "sha256:0123";

    /// One tar entry: name, kind, mode, content or link target.
    fn add(b: &mut Builder<Vec<u8>>, name: &str, kind: EntryType, mode: u32, data: &[u8]) {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_mode(mode);
        if matches!(kind, EntryType::Symlink | EntryType::Link) {
            h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
            return;
        }
        if kind == EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    /// A layer with every kind of entry the applier writes.
    fn layer_tar(extra: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Builder::new(Vec::new());
        add(&mut b, "./", EntryType::Directory, 0o755, b"");
        add(&mut b, "etc/", EntryType::Directory, 0o755, b"");
        add(
            &mut b,
            "etc/passwd",
            EntryType::Regular,
            0o644,
            b"root:x:0:0\n",
        );
        add(&mut b, "bin/sh", EntryType::Symlink, 0o777, b"busybox");
        add(&mut b, "bin/busybox", EntryType::Regular, 0o4755, b"ELF");
        add(&mut b, "bin/ash", EntryType::Link, 0o755, b"bin/busybox");
        add(&mut b, "dev/null", EntryType::Char, 0o666, b"");
        add(&mut b, "var/.wh.old", EntryType::Regular, 0, b"");
        add(&mut b, "srv/.wh..wh..opq", EntryType::Regular, 0, b"");
        for (name, data) in extra {
            add(&mut b, name, EntryType::Regular, 0o644, data);
        }
        b.into_inner().unwrap()
    }

    /// The snapshot containerd makes of [`layer_tar`] (no extra).
    fn snapshot_fs() -> MemFs {
        let mut fs = MemFs::new();
        fs.add("s/etc/passwd", MemNode::file(b"root:x:0:0\n"))
            .add("s/bin/sh", MemNode::symlink(b"busybox"))
            .add("s/bin/busybox", MemNode::file(b"ELF").perm(0o4755))
            .hard_link("s/bin/busybox", "s/bin/ash")
            .add(
                "s/dev/null",
                MemNode::special(FileKind::CharDevice, 1, 3).perm(0o666),
            )
            .add("s/var/old", MemNode::whiteout())
            // An opaque directory; the applier also made `srv` itself.
            .add(
                "s/srv",
                MemNode::dir()
                    .mtime(5)
                    .xattr(b"trusted.overlay.opaque", b"y"),
            );
        fs
    }

    fn check(fs: &MemFs, tar: &[u8]) -> SnapshotCheck {
        let dir = path("s");
        let snap = Snapshot {
            fs,
            dir: &dir,
            key: KEY,
            diff_id: DIFF_ID,
        };
        check_snapshot(&snap, tar)
    }

    fn one(fs: &MemFs, tar: &[u8]) -> Finding {
        let c = check(fs, tar);
        assert_eq!(c.findings.len(), 1, "{:#?}", c.findings);
        let f = c.findings[0].clone();
        assert_eq!(f.kind, FindingKind::SnapshotChanged, "{f}");
        assert!(f.detail.contains(KEY) && f.detail.contains(DIFF_ID), "{f}");
        f
    }

    #[test]
    fn a_clean_snapshot_has_no_finding() {
        let c = check(&snapshot_fs(), &layer_tar(&[]));
        assert!(c.findings.is_empty(), "{:#?}", c.findings);
        assert_eq!(c.files_checked, 2);
        assert_eq!(c.entries, 9);
    }

    #[test]
    fn each_change_is_named_with_its_path() {
        let tar = layer_tar(&[]);
        let cases: [(&str, MemNode, &str, &str); 7] = [
            (
                "s/etc/passwd",
                MemNode::file(b"root:x:0:1\n"),
                "/etc/passwd",
                "content changed",
            ),
            (
                "s/etc/passwd",
                MemNode::file(b"r"),
                "/etc/passwd",
                "1 in the snapshot",
            ),
            (
                "s/bin/busybox",
                MemNode::file(b"ELF").perm(0o755),
                "/bin/busybox",
                "mode 4755 in the layer, 0755",
            ),
            (
                "s/bin/sh",
                MemNode::symlink(b"/tmp/evil"),
                "/bin/sh",
                "/tmp/evil",
            ),
            (
                "s/dev/null",
                MemNode::special(FileKind::CharDevice, 8, 0).perm(0o666),
                "/dev/null",
                "device 1:3 in the layer, 8:0",
            ),
            ("s/var/old", MemNode::file(b"back"), "/var/old", "whiteout"),
            ("s/srv", MemNode::dir(), "/srv", "opaque"),
        ];
        for (at, node, want_path, want) in cases {
            let mut fs = snapshot_fs();
            fs.add(at, node);
            if at == "s/bin/busybox" {
                // Replaced by a new inode: linked again.
                fs.hard_link(at, "s/bin/ash");
            }
            let f = one(&fs, &tar);
            assert_eq!(f.path.as_deref(), Some(want_path), "{f}");
            assert!(f.detail.contains(want), "{want}: {f}");
        }
        // Owner.
        let mut fs = snapshot_fs();
        fs.add(
            "s/etc/passwd",
            MemNode::file(b"root:x:0:0\n").owner(1000, 0),
        );
        assert!(
            one(&fs, &tar)
                .detail
                .contains("owner 0:0 in the layer, 1000:0")
        );
        // An attribute added (a capability on a binary).
        let mut fs = snapshot_fs();
        fs.add(
            "s/etc/passwd",
            MemNode::file(b"root:x:0:0\n").xattr(b"security.capability", b"\x01"),
        );
        assert!(one(&fs, &tar).detail.contains("security.capability"));
        // A hard link that is no longer one.
        let mut fs = snapshot_fs();
        fs.add("s/bin/ash", MemNode::file(b"ELF").perm(0o4755));
        assert_eq!(one(&fs, &tar).path.as_deref(), Some("/bin/ash"));
        // A file the layer does not have.
        let mut fs = snapshot_fs();
        fs.add("s/etc/cron.d/implant", MemNode::file(b"* * * * * x"));
        let f = one(&fs, &tar);
        assert_eq!(f.path.as_deref(), Some("/etc/cron.d"));
        assert!(f.detail.contains("does not have"), "{f}");
        // A file of the layer that is gone.
        let f = one(&snapshot_fs(), &layer_tar(&[("etc/hosts", b"127.0.0.1")]));
        assert_eq!(f.path.as_deref(), Some("/etc/hosts"));
        assert!(f.detail.contains("not in the snapshot"), "{f}");
    }

    /// A difference anywhere in a file of several blocks (compared byte
    /// for byte, hashed only then) is named with each side's own sha256.
    #[test]
    fn a_change_in_a_later_block_names_both_hashes() {
        let layer: Vec<u8> = (0..3 * BLOCK + 17).map(|i| (i % 251) as u8).collect();
        let hex = |b: &[u8]| hex::encode(Sha256::digest(b));
        for at in [0, BLOCK - 1, BLOCK, 2 * BLOCK + 5, 3 * BLOCK + 16] {
            let mut snap = layer.clone();
            snap[at] ^= 0x55;
            let tar = layer_tar(&[("big", &layer)]);
            let mut fs = snapshot_fs();
            fs.add("s/big", MemNode::file(&snap));
            let f = one(&fs, &tar);
            assert_eq!(f.path.as_deref(), Some("/big"), "{f}");
            let want = format!(
                "content changed: sha256:{} in the layer, sha256:{} in the snapshot ({} bytes)",
                hex(&layer),
                hex(&snap),
                layer.len()
            );
            assert!(f.detail.starts_with(&want), "at {at}: {f}");
        }
        // Equal: no finding, the file counted as checked.
        let mut fs = snapshot_fs();
        fs.add("s/big", MemNode::file(&layer));
        let c = check(&fs, &layer_tar(&[("big", &layer)]));
        assert!(c.findings.is_empty(), "{:#?}", c.findings);
        assert_eq!(c.files_checked, 3);
    }

    #[test]
    fn the_last_entry_of_a_name_is_what_counts() {
        let tar = layer_tar(&[("etc/passwd", b"second\n")]);
        let mut fs = snapshot_fs();
        fs.add("s/etc/passwd", MemNode::file(b"second\n"));
        let c = check(&fs, &tar);
        assert!(c.findings.is_empty(), "{:#?}", c.findings);
    }

    #[test]
    fn a_truncated_tar_is_read_to_its_end_and_said() {
        let tar = layer_tar(&[("big", &[7u8; 5000])]);
        let cut = &tar[..tar.len() - 3000];
        struct Counted<'a>(&'a [u8], usize);
        impl Read for Counted<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1 += n;
                Ok(n)
            }
        }
        let dir = path("s");
        let fs = snapshot_fs();
        let snap = Snapshot {
            fs: &fs,
            dir: &dir,
            key: KEY,
            diff_id: DIFF_ID,
        };
        let mut r = Counted(cut, 0);
        let c = check_snapshot(&snap, &mut r);
        assert_eq!(r.1, cut.len());
        let last = c.findings.last().unwrap();
        assert_eq!(last.kind, FindingKind::FileUnreadable, "{:#?}", c.findings);
    }

    #[test]
    fn damaged_tars_neither_panic_nor_stop_early() {
        let tar = layer_tar(&[("etc/motd", &[b'm'; 700])]);
        let fs = snapshot_fs();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let mut bad = tar.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % bad.len() as u64) as usize;
                bad[at] = (seed >> 32) as u8;
            }
            let mut r: &[u8] = &bad;
            let dir = path("s");
            let snap = Snapshot {
                fs: &fs,
                dir: &dir,
                key: KEY,
                diff_id: DIFF_ID,
            };
            check_snapshot(&snap, &mut r);
            assert!(r.is_empty(), "the whole stream is read");
        }
    }

    #[test]
    fn past_the_name_budget_entries_are_still_compared() {
        let mut fs = snapshot_fs();
        fs.add("s/extra", MemNode::file(b"not in the layer"))
            .add("s/etc/passwd", MemNode::file(b"changed\n"));
        let dir = path("s");
        let snap = Snapshot {
            fs: &fs,
            dir: &dir,
            key: KEY,
            diff_id: DIFF_ID,
        };
        let c = check_limited(&snap, &layer_tar(&[])[..], 100);
        let kinds: Vec<_> = c.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [FindingKind::SnapshotChanged, FindingKind::FindingsOmitted],
            "{:#?}",
            c.findings
        );
        assert_eq!(c.findings[0].path.as_deref(), Some("/etc/passwd"));
    }

    #[test]
    fn findings_are_capped() {
        let mut fs = snapshot_fs();
        for i in 0..(crate::layer::MAX_LAYER_FINDINGS + 20) {
            fs.add(format!("s/x/f{i:05}"), MemNode::file(b""));
        }
        // `x` is in the layer (as a directory), its files are not.
        let mut b = Builder::new(Vec::new());
        add(&mut b, "x/", EntryType::Directory, 0o755, b"");
        let c = check(&fs, &b.into_inner().unwrap());
        let n = crate::layer::MAX_LAYER_FINDINGS;
        assert_eq!(c.findings.len(), n + 1);
        assert_eq!(c.findings[n].kind, FindingKind::FindingsOmitted);
    }
}
