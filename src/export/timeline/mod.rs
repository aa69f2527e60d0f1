//! `timeline`: every file of every image layer and container writable
//! layer, with its mode, owner, size and times, attributed to its layer,
//! image tags and container names; plus the Docker events that can be
//! dated (image and build-step creation from configs, container created /
//! started / finished, first and last log lines).
//!
//! Two formats: The Sleuth Kit's body file (TSK 3: `MD5|name|inode|
//! mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`, which `mactime
//! -b` sorts and renders), streamed as the layers are walked; and CSV, one
//! row per distinct timestamp of an object (its `macb` letters combined,
//! as mactime does), sorted by time with a bounded-memory external sort.

mod sort;

use super::logs::render_as;
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileKind, FileSystem, Metadata, Timestamp};
use crate::store::catalog::{Catalog, StoreFilter};
use crate::store::model::Container;
use crate::store::{Store, StoreError};
use sort::ExternalSort;
use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TSK 3 body file, for `mactime -b`; unsorted, streamed.
    Bodyfile,
    /// CSV, one row per distinct timestamp of an object, sorted by time.
    Csv,
}

/// What to include (everything when both are `None`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this image's layers (a name, tag or id prefix, resolved as
    /// [`Catalog::resolve`] does); an unknown name is an error.
    pub image: Option<String>,
    /// Only this container (a name or id prefix, as
    /// [`Catalog::find_container`] finds it).
    pub container: Option<String>,
    /// Only stores with this label or label prefix (`--store`).
    pub store: Option<String>,
}

/// Errors writing a timeline.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// A filter names no image or container (or an ambiguous one), or a
    /// store cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output (or the CSV sort's temporary files) failed.
    #[error("writing the timeline: {0}")]
    Output(#[from] io::Error),
}

/// Counts of what was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Files, directories and links listed (once per layer they are in).
    pub files: u64,
    /// Dated events from the engine's records (image and build-step
    /// creation, container created/started/finished, log lines).
    pub events: u64,
    /// Image layers walked.
    pub layers: u64,
    /// Containers listed (with their writable layer, where present).
    pub containers: u64,
    /// What could not be put on the timeline, one line each (an image
    /// that cannot be read, a writable layer that cannot be found): never
    /// a silent omission.
    pub problems: Vec<String>,
}

/// One object or event on the timeline.
struct Row<'a> {
    /// `[image fixture/web:1.0 layer 3]`-style attribution.
    label: &'a str,
    path: String,
    meta: Option<&'a Metadata>,
    link: Option<String>,
    deleted: bool,
    /// For events: when and what.
    event: Option<(Timestamp, String)>,
}

/// Writes the timeline of every store in `catalog` to `out`.
pub fn write_timeline(
    catalog: &Catalog,
    filter: &Filter,
    format: Format,
    out: impl Write,
) -> Result<Summary, TimelineError> {
    // Resolve the filters first: a name that names nothing is an error.
    let all = StoreFilter(filter.store.as_deref());
    let wanted_image = match &filter.image {
        Some(name) => {
            let f = catalog.resolve(name, all)?;
            Some((f.store.place().describe(), f.image.id))
        }
        None => None,
    };
    let wanted_container = match &filter.container {
        Some(name) => {
            let f = catalog.find_container(name, all)?;
            Some((f.store.place().describe(), f.container.id))
        }
        None => None,
    };
    let mut sink = match format {
        Format::Bodyfile => Sink::Body(io::BufWriter::new(out)),
        Format::Csv => Sink::Csv(ExternalSort::new()?, io::BufWriter::new(out)),
    };
    let mut summary = Summary::default();
    // Containers as the catalog sees them: with the layers another store
    // keeps (Docker with the containerd image store) linked in.
    let containers = catalog.containers(all);
    for store in catalog.stores() {
        let place = store.place().describe();
        let only = |wanted: &Option<(String, String)>| {
            wanted
                .as_ref()
                .map(|(p, id)| (p == &place).then(|| id.clone()))
        };
        let store_filter = StoreScope {
            image: only(&wanted_image),
            container: only(&wanted_container),
        };
        let own: Vec<&Container> = containers
            .iter()
            .filter(|(s, _)| std::ptr::addr_eq(*s, store))
            .filter_map(|(_, c)| c.as_ref().ok())
            .collect();
        timeline_of_store(store, &own, &store_filter, all, &mut sink, &mut summary)?;
    }
    sink.finish()?;
    Ok(summary)
}

/// Within one store: `None` takes everything, `Some(None)` nothing,
/// `Some(Some(id))` that one.
struct StoreScope {
    image: Option<Option<String>>,
    container: Option<Option<String>>,
}

/// How rows of a store are labelled: Docker's bare, others with their
/// store label (`containerd/k8s.io image web:2`).
fn label_prefix(store_label: &str) -> String {
    if store_label == "docker" {
        String::new()
    } else {
        format!("{store_label} ")
    }
}

fn timeline_of_store(
    store: &dyn Store,
    containers: &[&Container],
    scope: &StoreScope,
    stores: StoreFilter<'_>,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> Result<(), TimelineError> {
    let fs = store.fs();
    // Images and which layers (by chain id) each holds.
    struct Owned {
        label: String,
        diff: String,
        index: usize,
        dir: Option<EvPath>,
        owners: Vec<String>,
    }
    if scope.container.is_none() && scope.image != Some(None) {
        let mut layer_owners: BTreeMap<String, Owned> = BTreeMap::new();
        for (label, id) in store.image_ids()? {
            if !stores.accepts(&label) {
                continue;
            }
            if let Some(Some(w)) = &scope.image
                && *w != id
            {
                continue;
            }
            let img = match store.image(&label, &id) {
                Ok(img) => img,
                Err(e) => {
                    summary
                        .problems
                        .push(format!("image {id} in {label}: not on the timeline: {e}"));
                    continue;
                }
            };
            let name = img.display_name();
            let prefix = label_prefix(&img.store);
            image_events(&img, &format!("{prefix}image {name}"), sink, summary)?;
            for l in &img.layers {
                let entry = layer_owners
                    .entry(l.chain_id.clone())
                    .or_insert_with(|| Owned {
                        label: prefix.clone(),
                        diff: hex_part(&l.diff_id).to_string(),
                        index: l.index,
                        dir: l.unpacked.as_ref().map(|u| u.dir.clone()),
                        owners: Vec::new(),
                    });
                entry.owners.push(name.clone());
            }
        }
        for o in layer_owners.values() {
            let label = format!(
                "{}image {} layer {} {}",
                o.label,
                owners_label(&o.owners),
                o.index,
                &o.diff[..12.min(o.diff.len())]
            );
            match &o.dir {
                Some(dir) if fs.exists(dir) => {
                    walk_fs(fs, dir, &label, sink, summary)?;
                    summary.layers += 1;
                }
                Some(dir) => summary
                    .problems
                    .push(format!("{label}: its directory {dir} is missing")),
                // Content-only layers (a blob, never unpacked) have no files.
                None => {}
            }
        }
    }
    if scope.image.is_none() && scope.container != Some(None) {
        for &c in containers {
            if !stores.accepts(&c.store) {
                continue;
            }
            if let Some(Some(w)) = &scope.container
                && *w != c.id
            {
                continue;
            }
            let label = format!("{}container {}", label_prefix(&c.store), c.name);
            container_events(fs, c, &label, sink, summary)?;
            match &c.layers.upper {
                Some(upper) if fs.exists(upper) => walk_fs(fs, upper, &label, sink, summary)?,
                _ if c.state == "created" => {}
                Some(upper) => summary.problems.push(format!(
                    "{label}: its writable layer {upper} is missing; its files are not on the timeline"
                )),
                None => summary.problems.push(format!(
                    "{label}: its writable layer cannot be found ({}); its files are not on the timeline",
                    c.layers.unresolved.as_deref().unwrap_or("no record of it")
                )),
            }
            summary.containers += 1;
        }
    }
    Ok(())
}

/// Tagged owners by name, untagged ones counted.
fn owners_label(owners: &[String]) -> String {
    let tagged: Vec<&String> = owners
        .iter()
        .filter(|o| o.contains(':') || o.contains('@'))
        .collect();
    let untagged = owners.len() - tagged.len();
    let mut s = tagged
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    if untagged > 0 {
        if s.is_empty() {
            s = owners[0].clone();
            if untagged > 1 {
                s.push_str(&format!(" (+{} untagged)", untagged - 1));
            }
        } else {
            s.push_str(&format!(" (+{untagged} untagged)"));
        }
    }
    s
}

fn parse_time(t: &str) -> Option<Timestamp> {
    let dt = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(Timestamp {
        secs: dt.timestamp(),
        nanos: dt.timestamp_subsec_nanos(),
    })
}

fn event(
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
    label: &str,
    when: Option<&str>,
    what: String,
) -> io::Result<()> {
    if let Some(t) = when.and_then(parse_time).filter(|t| t.secs > 0) {
        summary.events += 1;
        sink.row(&Row {
            label,
            path: what.clone(),
            meta: None,
            link: None,
            deleted: false,
            event: Some((t, what)),
        })?;
    }
    Ok(())
}

fn image_events(
    img: &crate::store::model::Image,
    label: &str,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    event(
        sink,
        summary,
        label,
        img.config.created.as_deref(),
        format!("image {} created", img.id),
    )?;
    for (i, h) in img.config.history.iter().enumerate() {
        let what = h
            .created_by
            .clone()
            .filter(|b| !b.is_empty())
            .or_else(|| h.comment.clone())
            .unwrap_or_default();
        event(
            sink,
            summary,
            label,
            h.created.as_deref(),
            format!("build step {}: {what}", i + 1),
        )?;
    }
    Ok(())
}

fn container_events(
    fs: &dyn FileSystem,
    c: &Container,
    label: &str,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    event(
        sink,
        summary,
        label,
        c.created.as_deref(),
        format!(
            "container {} created from {}",
            c.id,
            c.image_ref.clone().unwrap_or_else(|| c.image_id.clone())
        ),
    )?;
    event(
        sink,
        summary,
        label,
        c.started.as_deref(),
        format!("container {} started", c.id),
    )?;
    event(
        sink,
        summary,
        label,
        c.finished.as_deref(),
        format!(
            "container {} finished (exit code {})",
            c.id,
            c.exit_code.unwrap_or_default()
        ),
    )?;
    if let Some(log) = &c.log
        && let Ok(f) = fs.open(&log.path)
        && let Ok(s) = render_as(log.format, BufReader::new(f), io::sink())
    {
        event(
            sink,
            summary,
            label,
            s.first_time.as_deref(),
            format!("container {} first log line", c.id),
        )?;
        event(
            sink,
            summary,
            label,
            s.last_time.as_deref(),
            format!("container {} last log line ({} lines)", c.id, s.lines),
        )?;
    }
    Ok(())
}

/// Every object under `dir`, depth first, names sorted.
fn walk_fs(
    fs: &dyn crate::evidence::fs::FileSystem,
    dir: &EvPath,
    label: &str,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let mut stack = vec![EvPath::root()];
    while let Some(rel) = stack.pop() {
        let Ok(mut entries) = fs.read_dir(&dir.join_path(&rel)) else {
            continue;
        };
        entries.sort_by(|a, b| b.name.cmp(&a.name));
        for e in entries {
            let Some(child) = rel.child(&e.name) else {
                continue;
            };
            let full = dir.join_path(&child);
            let Ok(meta) = fs.metadata(&full) else {
                continue;
            };
            let link = (meta.kind == FileKind::Symlink)
                .then(|| {
                    fs.read_link(&full)
                        .ok()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                })
                .flatten();
            summary.files += 1;
            sink.row(&Row {
                label,
                path: child.display(),
                meta: Some(&meta),
                link,
                deleted: meta.is_overlay_whiteout(),
                event: None,
            })?;
            if meta.is_dir() {
                stack.push(child);
            }
        }
    }
    Ok(())
}

enum Sink<W: Write> {
    Body(io::BufWriter<W>),
    Csv(ExternalSort, io::BufWriter<W>),
}

impl<W: Write> Sink<W> {
    fn row(&mut self, r: &Row<'_>) -> io::Result<()> {
        match self {
            Sink::Body(w) => writeln!(w, "{}", bodyfile_line(r)),
            Sink::Csv(sorter, _) => {
                for (t, macb) in csv_times(r) {
                    sorter.push(sort_key(t), csv_line(r, t, &macb))?;
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Body(mut w) => w.flush(),
            Sink::Csv(sorter, mut w) => {
                writeln!(w, "time,macb,source,path,size,mode,uid,gid,inode,detail")?;
                sorter.finish(&mut w)?;
                w.flush()
            }
        }
    }
}

/// Escapes control characters and `|` for line-based formats.
/// A name from the evidence on one body-file or CSV line: controls and
/// reordering characters escaped ([`crate::escape::visible`]), and the
/// body file's field separator too.
fn clean(s: &str) -> String {
    crate::escape::visible(s).replace('|', "\\x7c")
}

fn mode_string(m: &Metadata, deleted: bool) -> String {
    let t = if deleted {
        '-'
    } else {
        match m.kind {
            FileKind::File => 'r',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::CharDevice => 'c',
            FileKind::BlockDevice => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
            FileKind::Unknown => '-',
        }
    };
    let p = m.perm;
    let bit = |mask: u32, c: char| if p & mask != 0 { c } else { '-' };
    let special = |x: u32, s: u32, lower: char, upper: char| match (p & x != 0, p & s != 0) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    format!(
        "{t}/{t}{}{}{}{}{}{}{}{}{}",
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't', 'T'),
    )
}

fn name_of(r: &Row<'_>) -> String {
    let mut name = format!("[{}] {}", r.label, r.path);
    if let Some(l) = &r.link {
        name.push_str(" -> ");
        name.push_str(l);
    }
    if r.deleted {
        name.push_str(" (deleted)");
    }
    clean(&name)
}

fn bodyfile_line(r: &Row<'_>) -> String {
    match (r.meta, &r.event) {
        (Some(m), _) => format!(
            "0|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            name_of(r),
            m.ino,
            mode_string(m, r.deleted),
            m.uid,
            m.gid,
            m.size,
            m.atime.secs,
            m.mtime.secs,
            m.ctime.secs,
            m.btime.map_or(0, |b| b.secs)
        ),
        (None, Some((t, _))) => format!("0|{}|0|-/----------|0|0|0|0|{}|0|0", name_of(r), t.secs),
        (None, None) => String::new(),
    }
}

/// The distinct timestamps of a row with their `macb` letters.
fn csv_times(r: &Row<'_>) -> Vec<(Timestamp, String)> {
    if let Some((t, _)) = &r.event {
        return vec![(*t, "m...".into())];
    }
    let Some(m) = r.meta else { return Vec::new() };
    let times = [Some(m.mtime), Some(m.atime), Some(m.ctime), m.btime];
    let mut out: Vec<(Timestamp, String)> = Vec::new();
    for t in times.iter().flatten() {
        if out.iter().any(|(x, _)| x == t) {
            continue;
        }
        let letters: String = ['m', 'a', 'c', 'b']
            .iter()
            .zip(times.iter())
            .map(|(l, x)| if x.as_ref() == Some(t) { *l } else { '.' })
            .collect();
        out.push((*t, letters));
    }
    out
}

fn sort_key(t: Timestamp) -> u128 {
    (((t.secs as i128) + (1i128 << 62)) as u128) << 32 | u128::from(t.nanos)
}

fn csv_field(s: &str) -> String {
    let s = clean(s);
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_line(r: &Row<'_>, t: Timestamp, macb: &str) -> String {
    let when = chrono::DateTime::from_timestamp(t.secs, t.nanos)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| t.secs.to_string());
    let source = csv_field(r.label);
    match (r.meta, &r.event) {
        (Some(m), _) => {
            let mut path = r.path.clone();
            if let Some(l) = &r.link {
                path.push_str(" -> ");
                path.push_str(l);
            }
            format!(
                "{when},{macb},{source},{},{},{},{},{},{},{}",
                csv_field(&path),
                m.size,
                mode_string(m, r.deleted),
                m.uid,
                m.gid,
                m.ino,
                if r.deleted { "deleted (whiteout)" } else { "" }
            )
        }
        (None, Some((_, what))) => format!("{when},{macb},{source},,,,,,,{}", csv_field(what)),
        (None, None) => String::new(),
    }
}
