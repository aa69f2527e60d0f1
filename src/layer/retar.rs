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

use super::replay::Counting;
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
        builder: Builder::new(Counting {
            inner: out,
            written: 0,
        }),
        links: HashMap::new(),
        findings: Vec::new(),
        files: 0,
        progress,
    };
    w.dir_contents(&EvPath::root())
        .map_err(RetarError::Output)?;
    w.builder.finish().map_err(RetarError::Output)?;
    let findings = w.findings;
    let files_checked = w.files;
    let mut counted = w.builder.into_inner().map_err(RetarError::Output)?;
    counted.flush().map_err(RetarError::Output)?;
    let Counting {
        inner: out,
        written: size,
    } = counted;
    let sha256 = String::new();
    Ok((
        out,
        Written {
            sha256,
            size,
            files_checked,
            findings,
        },
    ))
}

struct Walker<'a, W: Write> {
    layer: LayerDir<'a>,
    builder: Builder<Counting<W>>,
    /// inode → first name written, for hard links.
    links: HashMap<u64, Vec<u8>>,
    findings: Vec<Finding>,
    files: u64,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<W: Write> Walker<'_, W> {
    fn note(&mut self, kind: FindingKind, rel: &EvPath, detail: impl Into<String>) {
        self.findings
            .push(Finding::new(kind, Some(rel.display()), detail));
    }

    fn dir_contents(&mut self, rel: &EvPath) -> io::Result<()> {
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

    fn entry(&mut self, rel: &EvPath) -> io::Result<()> {
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
            return self.write_header(&wh, &m, EntryType::Regular, 0, None, &[], io::empty());
        }
        let xattrs = self.kept_xattrs(&full, rel, &meta);
        match meta.kind {
            FileKind::Dir => {
                let mut dname = name.clone();
                dname.push(b'/');
                let opaque = self.is_opaque(&full);
                self.write_header(
                    &dname,
                    &meta,
                    EntryType::Directory,
                    0,
                    None,
                    &xattrs,
                    io::empty(),
                )?;
                if opaque {
                    let mut marker = dname;
                    marker.extend_from_slice(OPAQUE_MARKER);
                    let mut m = meta.clone();
                    m.perm &= 0o777;
                    self.write_header(&marker, &m, EntryType::Regular, 0, None, &[], io::empty())?;
                }
                self.dir_contents(rel)
            }
            FileKind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&meta.ino).cloned() {
                        return self.write_header(
                            &name,
                            &meta,
                            EntryType::Link,
                            0,
                            Some(&first),
                            &xattrs,
                            io::empty(),
                        );
                    }
                    self.links.insert(meta.ino, name.clone());
                }
                match self.layer.fs.open(&full) {
                    Ok(file) => {
                        self.files += 1;
                        let progress = self.progress;
                        let data = Progress {
                            inner: file.take(meta.size),
                            progress,
                        }
                        .chain(io::repeat(0))
                        .take(meta.size);
                        self.write_header(
                            &name,
                            &meta,
                            EntryType::Regular,
                            meta.size,
                            None,
                            &xattrs,
                            data,
                        )
                    }
                    Err(e) => {
                        self.note(
                            FindingKind::FileUnreadable,
                            rel,
                            format!("{e}; written empty"),
                        );
                        self.write_header(
                            &name,
                            &meta,
                            EntryType::Regular,
                            0,
                            None,
                            &xattrs,
                            io::empty(),
                        )
                    }
                }
            }
            FileKind::Symlink => match self.layer.fs.read_link(&full) {
                Ok(target) => self.write_header(
                    &name,
                    &meta,
                    EntryType::Symlink,
                    0,
                    Some(&target),
                    &xattrs,
                    io::empty(),
                ),
                Err(e) => {
                    self.note(
                        FindingKind::FileUnreadable,
                        rel,
                        format!("link unreadable: {e}"),
                    );
                    Ok(())
                }
            },
            FileKind::CharDevice => {
                self.write_header(&name, &meta, EntryType::Char, 0, None, &xattrs, io::empty())
            }
            FileKind::BlockDevice => self.write_header(
                &name,
                &meta,
                EntryType::Block,
                0,
                None,
                &xattrs,
                io::empty(),
            ),
            FileKind::Fifo => {
                self.write_header(&name, &meta, EntryType::Fifo, 0, None, &xattrs, io::empty())
            }
            // Docker's archiver skips sockets too (pkg/archive addTarFile).
            FileKind::Socket | FileKind::Unknown => Ok(()),
        }
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

    fn is_opaque(&self, full: &EvPath) -> bool {
        self.layer.fs.xattrs(full).is_ok_and(|x| {
            x.iter().any(|(k, v)| {
                (k == b"trusted.overlay.opaque" || k == b"user.overlay.opaque") && v == b"y"
            })
        })
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

struct Progress<'a, R> {
    inner: R,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A read error ends the file early; the zero padding that follows
        // keeps the stream well-formed.
        let n = self.inner.read(buf).unwrap_or(0);
        (self.progress)(n as u64);
        Ok(n)
    }
}
