//! Builds a new layer tar from an unpacked layer directory, for layers
//! whose tar-split metadata is gone or unreadable.
//!
//! The result follows Docker's `pkg/archive` (`TarWithOptions` with the
//! overlay whiteout converter) in content, not in every header byte (a
//! Docker container's own layer is written byte for byte by
//! [`super::dockertar`]): POSIX
//! tar with PAX records for long or non-ASCII names and xattrs, hard links
//! by inode, names sorted bytewise (so the output is deterministic), and
//! overlayfs whiteouts converted to the AUFS-style markers image layers
//! use (OCI image-spec `layer.md`, "Whiteouts"): a 0/0 character device
//! becomes `.wh.<name>`, an opaque directory (`trusted.overlay.opaque=y`
//! or `user.overlay.opaque=y`) gets a `<dir>/.wh..wh..opq` entry.
//! `trusted.overlay.*` attributes are overlayfs bookkeeping and dropped.
//! The stream cannot hash to the original diff_id; the caller says so.
//!
//! With a size limit (the store's recorded size of the layer), the files'
//! content is never written past it: the file that would cross it ends
//! the layer (a `size_implausible` finding) and the tar is closed there.

use super::content::{Content, Counting, Length, is_opaque};
use super::findings::Findings;
use super::replay::{LayerDir, Written};
use crate::evidence::fs::{EvPath, FileKind, FsError, Metadata};
use crate::report::{Finding, FindingKind};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use tar::{Builder, EntryType, Header};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum RetarError {
    #[error("layer directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: FsError,
    },
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

/// Writes a tar of everything under `layer.dir` to `out`.
pub fn retar<W: Write>(
    layer: LayerDir<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(W, Written), RetarError> {
    retar_limited(layer, out, progress, None)
}

/// [`retar`], writing at most `size_limit` bytes of file content (see the
/// module documentation).
pub fn retar_limited<W: Write>(
    layer: LayerDir<'_>,
    out: W,
    progress: &(dyn Fn(u64) + Sync),
    size_limit: Option<u64>,
) -> Result<(W, Written), RetarError> {
    let root_meta = layer
        .fs
        .metadata(layer.dir)
        .map_err(|source| RetarError::Dir {
            path: layer.dir.display(),
            source,
        })?;
    if !root_meta.is_dir() {
        return Err(RetarError::Dir {
            path: layer.dir.display(),
            source: FsError::NotADirectory {
                path: layer.dir.display(),
            },
        });
    }
    let mut w = Walker {
        layer,
        builder: Builder::new(Counting::new(out)),
        links: HashMap::new(),
        findings: Findings::default(),
        files: 0,
        progress,
        room: size_limit,
    };
    match w.dir_contents(&EvPath::root()) {
        Ok(()) | Err(Stop::Limit) => {}
        Err(Stop::Output(e)) => return Err(RetarError::Output(e)),
    }
    w.builder.finish().map_err(RetarError::Output)?;
    let (findings, files_checked) = (w.findings.into_vec(), w.files);
    w.builder
        .into_inner()
        .and_then(|c| c.finish(files_checked, findings))
        .map_err(RetarError::Output)
}

/// Why the walk ended early.
enum Stop {
    Output(io::Error),
    /// The size limit was reached; the tar is closed as it is.
    Limit,
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Output(e)
    }
}

struct Walker<'a, W: Write> {
    layer: LayerDir<'a>,
    builder: Builder<Counting<W>>,
    /// inode → first name written, for hard links.
    links: HashMap<u64, Vec<u8>>,
    findings: Findings,
    files: u64,
    progress: &'a (dyn Fn(u64) + Sync),
    /// File content that may still be written, when limited.
    room: Option<u64>,
}

impl<W: Write> Walker<'_, W> {
    fn note(&mut self, kind: FindingKind, rel: &EvPath, detail: impl Into<String>) {
        self.findings
            .push(Finding::new(kind, Some(rel.display()), detail));
    }

    fn dir_contents(&mut self, rel: &EvPath) -> Result<(), Stop> {
        let full = self.layer.dir.join_path(rel);
        let mut entries = match self.layer.fs.read_dir(&full) {
            Ok(e) => e,
            Err(e) => {
                self.note(
                    FindingKind::FileUnreadable,
                    rel,
                    format!("directory unreadable: {e}"),
                );
                return Ok(());
            }
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for ent in entries {
            let Some(child) = rel.child(&ent.name) else {
                continue;
            };
            self.entry(&child)?;
        }
        Ok(())
    }

    fn entry(&mut self, rel: &EvPath) -> Result<(), Stop> {
        let full = self.layer.dir.join_path(rel);
        let meta = match self.layer.fs.metadata(&full) {
            Ok(m) => m,
            Err(e) => {
                self.note(FindingKind::FileUnreadable, rel, e.to_string());
                return Ok(());
            }
        };
        let name = rel.as_bytes().to_vec();
        if meta.is_overlay_whiteout() {
            let mut wh = rel.parent().as_bytes().to_vec();
            if !wh.is_empty() {
                wh.push(b'/');
            }
            wh.extend_from_slice(WHITEOUT_PREFIX);
            wh.extend_from_slice(rel.file_name());
            let mut m = meta.clone();
            m.perm = 0;
            return self.header_only(&wh, &m, EntryType::Regular, None, &[]);
        }
        let xattrs = self.kept_xattrs(&full, rel, &meta);
        match meta.kind {
            FileKind::Dir => {
                let mut dname = name.clone();
                dname.push(b'/');
                let opaque = is_opaque(self.layer.fs, &full);
                self.header_only(&dname, &meta, EntryType::Directory, None, &xattrs)?;
                if opaque {
                    let mut marker = dname;
                    marker.extend_from_slice(OPAQUE_MARKER);
                    let mut m = meta.clone();
                    m.perm &= 0o777;
                    self.header_only(&marker, &m, EntryType::Regular, None, &[])?;
                }
                self.dir_contents(rel)
            }
            FileKind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&meta.ino).cloned() {
                        return self.header_only(
                            &name,
                            &meta,
                            EntryType::Link,
                            Some(&first),
                            &xattrs,
                        );
                    }
                    self.links.insert(meta.ino, name.clone());
                }
                self.file(rel, &full, &name, &meta, &xattrs)
            }
            FileKind::Symlink => match self.layer.fs.read_link(&full) {
                Ok(target) => {
                    self.header_only(&name, &meta, EntryType::Symlink, Some(&target), &xattrs)
                }
                Err(e) => {
                    self.note(
                        FindingKind::FileUnreadable,
                        rel,
                        format!("link unreadable: {e}"),
                    );
                    Ok(())
                }
            },
            FileKind::CharDevice => self.header_only(&name, &meta, EntryType::Char, None, &xattrs),
            FileKind::BlockDevice => {
                self.header_only(&name, &meta, EntryType::Block, None, &xattrs)
            }
            FileKind::Fifo => self.header_only(&name, &meta, EntryType::Fifo, None, &xattrs),
            // Docker's archiver skips sockets too (pkg/archive addTarFile).
            FileKind::Socket | FileKind::Unknown => Ok(()),
        }
    }

    /// An entry without content.
    fn header_only(
        &mut self,
        name: &[u8],
        meta: &Metadata,
        kind: EntryType,
        link: Option<&[u8]>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), Stop> {
        Ok(self.write_header(name, meta, kind, 0, link, xattrs, io::empty())?)
    }

    /// A regular file with its content, read to its recorded size.
    fn file(
        &mut self,
        rel: &EvPath,
        full: &EvPath,
        name: &[u8],
        meta: &Metadata,
        xattrs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), Stop> {
        if let Some(room) = &mut self.room {
            if meta.size > *room {
                self.note(
                    FindingKind::SizeImplausible,
                    rel,
                    format!(
                        "file of {} bytes would take the layer's content past its recorded size; the layer ends before it",
                        meta.size
                    ),
                );
                return Err(Stop::Limit);
            }
            *room -= meta.size;
        }
        let file = match self.layer.fs.open(full) {
            Ok(file) => file,
            Err(e) => {
                self.note(
                    FindingKind::FileUnreadable,
                    rel,
                    format!("{e}; written empty"),
                );
                return self.header_only(name, meta, EntryType::Regular, None, xattrs);
            }
        };
        self.files += 1;
        let mut data = Content::new(file, meta.size, self.progress);
        self.write_header(
            name,
            meta,
            EntryType::Regular,
            meta.size,
            None,
            xattrs,
            &mut data,
        )?;
        if let Length::Short(n) = data.length() {
            self.note(
                FindingKind::FileUnreadable,
                rel,
                format!(
                    "only {n} of its {} bytes could be read; the rest written as zeros",
                    meta.size
                ),
            );
        }
        Ok(())
    }

    fn kept_xattrs(
        &mut self,
        full: &EvPath,
        rel: &EvPath,
        meta: &Metadata,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        if meta.kind == FileKind::Symlink {
            return Vec::new();
        }
        match self.layer.fs.xattrs(full) {
            Ok(x) => x
                .into_iter()
                .filter(|(k, _)| {
                    !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay.")
                })
                .collect(),
            Err(e) => {
                self.note(
                    FindingKind::FileUnreadable,
                    rel,
                    format!("xattrs unreadable: {e}"),
                );
                Vec::new()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_header(
        &mut self,
        name: &[u8],
        meta: &Metadata,
        kind: EntryType,
        size: u64,
        link: Option<&[u8]>,
        xattrs: &[(Vec<u8>, Vec<u8>)],
        data: impl Read,
    ) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let needs_pax = |s: &[u8]| s.len() > 100 || !s.is_ascii();
        if needs_pax(name) {
            pax.push(("path".into(), name.to_vec()));
        }
        if let Some(l) = link.filter(|l| needs_pax(l)) {
            pax.push(("linkpath".into(), l.to_vec()));
        }
        for (k, v) in xattrs {
            pax.push((
                format!("SCHILY.xattr.{}", String::from_utf8_lossy(k)),
                v.clone(),
            ));
        }
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let mut h = Header::new_ustar();
        {
            let u = h
                .as_ustar_mut()
                .ok_or_else(|| io::Error::other("ustar header"))?;
            copy_trunc(&mut u.name, name);
            if let Some(l) = link {
                copy_trunc(&mut u.linkname, l);
            }
        }
        h.set_entry_type(kind);
        h.set_mode(meta.perm);
        h.set_uid(u64::from(meta.uid));
        h.set_gid(u64::from(meta.gid));
        h.set_mtime(u64::try_from(meta.mtime.secs).unwrap_or(0));
        h.set_size(size);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(meta.rdev_major)?;
            h.set_device_minor(meta.rdev_minor)?;
        }
        h.set_cksum();
        self.builder.append(&h, data)
    }
}

fn copy_trunc(dst: &mut [u8], src: &[u8]) {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::{MemFs, MemNode};
    use crate::layer::testutil::path;

    /// One entry of a tar as read back with the `tar` crate.
    #[derive(Debug, PartialEq)]
    struct Read {
        name: String,
        kind: EntryType,
        mode: u32,
        link: Option<String>,
        dev: Option<(u32, u32)>,
        data: Vec<u8>,
        xattrs: Vec<(String, Vec<u8>)>,
    }

    fn read_back(tar_bytes: &[u8]) -> Vec<Read> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let xattrs = e
                    .pax_extensions()
                    .unwrap()
                    .map(|x| {
                        x.map(|x| x.unwrap())
                            .filter(|x| x.key().unwrap().starts_with("SCHILY.xattr."))
                            .map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                let kind = h.entry_type();
                Read {
                    name: e.path().unwrap().display().to_string(),
                    kind,
                    mode: h.mode().unwrap(),
                    link: e.link_name().unwrap().map(|l| l.display().to_string()),
                    dev: matches!(kind, EntryType::Char | EntryType::Block).then(|| {
                        (
                            h.device_major().unwrap().unwrap(),
                            h.device_minor().unwrap().unwrap(),
                        )
                    }),
                    data,
                    xattrs,
                }
            })
            .collect()
    }

    fn rebuild(fs: &MemFs, limit: Option<u64>) -> (Vec<u8>, Written) {
        let dir = path("l");
        retar_limited(LayerDir { fs, dir: &dir }, Vec::new(), &|_| {}, limit).unwrap()
    }

    fn names(entries: &[Read]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn overlay_layer_becomes_an_image_layer() {
        let mut fs = MemFs::new();
        let long = format!("l/{}", "n".repeat(120));
        fs.add("l/z", MemNode::file(b"last"))
            .add("l/gone", MemNode::whiteout())
            .add("l/d/x", MemNode::whiteout())
            .add(
                "l/o",
                MemNode::dir()
                    .perm(0o700)
                    .xattr(b"trusted.overlay.opaque", b"y")
                    .xattr(b"user.keep", b"1"),
            )
            .add("l/o/kept", MemNode::file(b"k"))
            .add("l/h1", MemNode::file(b"same"))
            .hard_link("l/h1", "l/h2")
            .add("l/s", MemNode::symlink(b"../target"))
            .add("l/dev/null", MemNode::special(FileKind::CharDevice, 1, 3))
            .add("l/dev/sda", MemNode::special(FileKind::BlockDevice, 8, 0))
            .add("l/dev/fifo", MemNode::special(FileKind::Fifo, 0, 0))
            .add("l/dev/sock", MemNode::special(FileKind::Socket, 0, 0))
            .add(
                "l/cap",
                MemNode::file(b"bin").xattr(b"security.capability", b"\x01\x02"),
            )
            .add(&long, MemNode::file(b"long"));
        let (out, written) = rebuild(&fs, None);
        assert_eq!(written.size, out.len() as u64);
        assert!(written.findings.is_empty(), "{:?}", written.findings);
        assert_eq!(written.files_checked, 5);
        let e = read_back(&out);
        let long_name = &long[2..];
        assert_eq!(
            names(&e),
            [
                "cap",
                "d/",
                "d/.wh.x",
                "dev/",
                "dev/fifo",
                "dev/null",
                "dev/sda",
                ".wh.gone",
                "h1",
                "h2",
                long_name,
                "o/",
                "o/.wh..wh..opq",
                "o/kept",
                "s",
                "z"
            ]
        );
        let by = |n: &str| e.iter().find(|x| x.name == n).unwrap();
        // Whiteouts: empty regular files named .wh.<name>, mode 0.
        assert_eq!(
            (by(".wh.gone").kind, by(".wh.gone").mode),
            (EntryType::Regular, 0)
        );
        assert_eq!(by("d/.wh.x").data, b"");
        // Opaque directory: its marker, and no overlay attribute left.
        assert_eq!(by("o/").mode, 0o700);
        assert_eq!(
            by("o/").xattrs,
            [("SCHILY.xattr.user.keep".into(), b"1".to_vec())]
        );
        assert_eq!(by("o/.wh..wh..opq").kind, EntryType::Regular);
        // A hard link to the first name; a symlink with its target.
        assert_eq!(by("h1").data, b"same");
        assert_eq!(
            (by("h2").kind, by("h2").link.as_deref()),
            (EntryType::Link, Some("h1"))
        );
        assert_eq!(
            (by("s").kind, by("s").link.as_deref()),
            (EntryType::Symlink, Some("../target"))
        );
        // Devices keep their numbers; sockets are skipped.
        assert_eq!(
            (by("dev/null").kind, by("dev/null").dev),
            (EntryType::Char, Some((1, 3)))
        );
        assert_eq!(
            (by("dev/sda").kind, by("dev/sda").dev),
            (EntryType::Block, Some((8, 0)))
        );
        assert_eq!(by("dev/fifo").kind, EntryType::Fifo);
        // Attributes as PAX records; a long name whole.
        assert_eq!(
            by("cap").xattrs,
            [(
                "SCHILY.xattr.security.capability".into(),
                b"\x01\x02".to_vec()
            )]
        );
        assert_eq!(by(long_name).data, b"long");
        assert_eq!(by("z").data, b"last");
    }

    #[test]
    fn short_file_is_padded_and_named() {
        let mut fs = MemFs::new();
        fs.add("l/f", MemNode::file(b"abc").claimed_size(6));
        let (out, written) = rebuild(&fs, None);
        let e = read_back(&out);
        assert_eq!(e[0].data, b"abc\0\0\0");
        assert_eq!(written.findings.len(), 1);
        assert_eq!(written.findings[0].kind, FindingKind::FileUnreadable);
        assert_eq!(written.findings[0].path.as_deref(), Some("/f"));
    }

    #[test]
    fn content_past_the_size_limit_ends_the_layer() {
        let mut fs = MemFs::new();
        fs.add("l/a", MemNode::file(b"12345"))
            .add("l/b", MemNode::file(b"x").claimed_size(1 << 40))
            .add("l/c", MemNode::file(b"never"));
        let (out, written) = rebuild(&fs, Some(10));
        assert!(out.len() < 4096, "{} bytes", out.len());
        assert_eq!(names(&read_back(&out)), ["a"]);
        assert_eq!(written.findings.len(), 1);
        assert_eq!(written.findings[0].kind, FindingKind::SizeImplausible);
        assert_eq!(written.findings[0].path.as_deref(), Some("/b"));
        // Without a limit the same layer is written whole.
        let mut fs = MemFs::new();
        fs.add("l/a", MemNode::file(b"12345"))
            .add("l/c", MemNode::file(b"never"));
        assert_eq!(names(&read_back(&rebuild(&fs, Some(10)).0)), ["a", "c"]);
    }

    #[test]
    fn findings_are_capped() {
        let mut fs = MemFs::new();
        for i in 0..(crate::layer::MAX_LAYER_FINDINGS + 50) {
            fs.add(format!("l/f{i:05}"), MemNode::file(b"").claimed_size(1));
        }
        let (_, written) = rebuild(&fs, None);
        assert_eq!(written.findings.len(), crate::layer::MAX_LAYER_FINDINGS + 1);
        let last = written.findings.last().unwrap();
        assert_eq!(last.kind, FindingKind::FindingsOmitted);
        assert!(last.detail.starts_with("50 more"), "{last}");
    }
}
