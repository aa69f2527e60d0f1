//! Builds a new layer tar from an unpacked layer directory, for layers
//! whose tar-split metadata is gone or unreadable.
//!
//! The result is what Docker's `pkg/archive` (`TarWithOptions` with the
//! overlay whiteout converter) would produce for the same directory: POSIX
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
