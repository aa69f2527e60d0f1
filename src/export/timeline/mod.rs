//! `timeline`: every file of every image layer and container writable
//! layer, with its mode, owner, size and times, attributed to its layer,
//! image tags and container names; plus the Docker events that can be
//! dated (image and build-step creation from configs, container created /
//! started / finished, first and last log lines).
//!
//! Three formats: The Sleuth Kit's body file (TSK 3: `MD5|name|inode|
//! mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`, which `mactime
//! -b` sorts and renders), streamed as the layers are walked; CSV, one row
//! per distinct timestamp of an object (its `macb` letters combined, as
//! mactime does); and JSON lines as Timesketch imports them (`message`,
//! `datetime`, `timestamp_desc`, `timestamp` in microseconds, plus the
//! object's attribution and metadata), one line per distinct timestamp
//! too. CSV and JSON lines are sorted by time with a bounded-memory
//! external sort; their times are RFC 3339 in UTC (`Z`), to the
//! nanosecond.

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
    /// JSON lines in the form Timesketch imports, one line per distinct
    /// timestamp of an object, sorted by time.
    Jsonl,
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
    /// The same attribution, field by field.
    whose: &'a Whose,
    path: String,
    meta: Option<&'a Metadata>,
    link: Option<String>,
    deleted: bool,
    /// For events: when, what and which kind.
    event: Option<Event>,
}

/// Which store, image(s) and container a row belongs to.
#[derive(Debug)]
struct Whose {
    /// The store's label (`docker`, `containerd/k8s.io`, `podman`).
    store: String,
    /// The image (a layer's images, as in its label; a container's image
    /// reference).
    image: Option<String>,
    /// The container's name.
    container: Option<String>,
}

/// A dated event from the engine's records.
struct Event {
    when: Timestamp,
    what: String,
    kind: EventKind,
}

/// The kinds of dated events.
#[derive(Debug, Clone, Copy)]
enum EventKind {
    ImageCreated,
    BuildStep,
    ContainerCreated,
    ContainerStarted,
    ContainerFinished,
    FirstLogLine,
    LastLogLine,
}

impl EventKind {
    /// The `event` field of a JSON line.
    fn key(self) -> &'static str {
        match self {
            EventKind::ImageCreated => "image_created",
            EventKind::BuildStep => "build_step",
            EventKind::ContainerCreated => "container_created",
            EventKind::ContainerStarted => "container_started",
            EventKind::ContainerFinished => "container_finished",
            EventKind::FirstLogLine => "first_log_line",
            EventKind::LastLogLine => "last_log_line",
        }
    }

    /// Its `timestamp_desc`, in Timesketch's (and plaso's) style.
    fn description(self) -> &'static str {
        match self {
            EventKind::ImageCreated => "Image Created",
            EventKind::BuildStep => "Build Step Created",
            EventKind::ContainerCreated => "Container Created",
            EventKind::ContainerStarted => "Container Started",
            EventKind::ContainerFinished => "Container Finished",
            EventKind::FirstLogLine => "First Log Line",
            EventKind::LastLogLine => "Last Log Line",
        }
    }
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
        Format::Jsonl => Sink::Jsonl(ExternalSort::new()?, io::BufWriter::new(out)),
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
        store: String,
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
            let whose = Whose {
                store: img.store.clone(),
                image: Some(name.clone()),
                container: None,
            };
            image_events(
                &img,
                &format!("{prefix}image {name}"),
                &whose,
                sink,
                summary,
            )?;
            for l in &img.layers {
                let entry = layer_owners
                    .entry(l.chain_id.clone())
                    .or_insert_with(|| Owned {
                        label: prefix.clone(),
                        store: img.store.clone(),
                        diff: hex_part(&l.diff_id).to_string(),
                        index: l.index,
                        dir: l.unpacked.as_ref().map(|u| u.dir.clone()),
                        owners: Vec::new(),
                    });
                entry.owners.push(name.clone());
            }
        }
        for o in layer_owners.values() {
            let owners = owners_label(&o.owners);
            let label = format!(
                "{}image {owners} layer {} {}",
                o.label,
                o.index,
                o.diff.chars().take(12).collect::<String>()
            );
            let whose = Whose {
                store: o.store.clone(),
                image: Some(owners),
                container: None,
            };
            match &o.dir {
                Some(dir) if fs.exists(dir) => {
                    walk_fs(fs, dir, &label, &whose, sink, summary)?;
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
            let whose = Whose {
                store: c.store.clone(),
                image: c
                    .image_ref
                    .clone()
                    .or_else(|| Some(c.image_id.clone()).filter(|i| !i.is_empty())),
                container: Some(c.name.clone()),
            };
            container_events(fs, c, &label, &whose, sink, summary)?;
            match &c.layers.upper {
                Some(upper) if fs.exists(upper) => {
                    walk_fs(fs, upper, &label, &whose, sink, summary)?
                }
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
    let dt = crate::time::parse(t)?;
    Some(Timestamp {
        secs: dt.timestamp(),
        nanos: dt.timestamp_subsec_nanos(),
    })
}

/// Where an event goes: its sink, the counts and its attribution.
struct EventOut<'s, 'w, W: Write> {
    sink: &'s mut Sink<W>,
    summary: &'s mut Summary,
    label: &'w str,
    whose: &'w Whose,
}

impl<W: Write> EventOut<'_, '_, W> {
    /// An event at a recorded time, if it has one (Go's zero time and the
    /// epoch are none).
    fn event(&mut self, when: Option<&str>, kind: EventKind, what: String) -> io::Result<()> {
        let Some(t) = when.and_then(parse_time).filter(|t| t.secs > 0) else {
            return Ok(());
        };
        self.summary.events += 1;
        self.sink.row(&Row {
            label: self.label,
            whose: self.whose,
            path: what.clone(),
            meta: None,
            link: None,
            deleted: false,
            event: Some(Event {
                when: t,
                what,
                kind,
            }),
        })
    }
}

fn image_events(
    img: &crate::store::model::Image,
    label: &str,
    whose: &Whose,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let mut out = EventOut {
        sink,
        summary,
        label,
        whose,
    };
    out.event(
        img.config.created.as_deref(),
        EventKind::ImageCreated,
        format!("image {} created", img.id),
    )?;
    for (i, h) in img.config.history.iter().enumerate() {
        let what = h
            .created_by
            .clone()
            .filter(|b| !b.is_empty())
            .or_else(|| h.comment.clone())
            .unwrap_or_default();
        out.event(
            h.created.as_deref(),
            EventKind::BuildStep,
            format!("build step {}: {what}", i + 1),
        )?;
    }
    Ok(())
}

fn container_events(
    fs: &dyn FileSystem,
    c: &Container,
    label: &str,
    whose: &Whose,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let mut out = EventOut {
        sink,
        summary,
        label,
        whose,
    };
    out.event(
        c.created.as_deref(),
        EventKind::ContainerCreated,
        format!(
            "container {} created from {}",
            c.id,
            c.image_ref.clone().unwrap_or_else(|| c.image_id.clone())
        ),
    )?;
    out.event(
        c.started.as_deref(),
        EventKind::ContainerStarted,
        format!("container {} started", c.id),
    )?;
    out.event(
        c.finished.as_deref(),
        EventKind::ContainerFinished,
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
        out.event(
            s.first_time.as_deref(),
            EventKind::FirstLogLine,
            format!("container {} first log line", c.id),
        )?;
        out.event(
            s.last_time.as_deref(),
            EventKind::LastLogLine,
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
    whose: &Whose,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let mut stack = vec![EvPath::root()];
    // What could not be read is named (a damaged directory, a directory
    // loop), but only so many times per walk: the evidence may be made
    // of nothing else.
    let mut unread = 0u64;
    let mut note = |summary: &mut Summary, e: crate::evidence::fs::FsError| {
        unread += 1;
        if unread <= MAX_WALK_PROBLEMS {
            summary.problems.push(format!("{label}: {e}; not listed"));
        }
    };
    while let Some(rel) = stack.pop() {
        let mut entries = match fs.read_dir(&dir.join_path(&rel)) {
            Ok(entries) => entries,
            Err(e) => {
                note(summary, e);
                continue;
            }
        };
        entries.sort_by(|a, b| b.name.cmp(&a.name));
        for e in entries {
            let Some(child) = rel.child(&e.name) else {
                continue;
            };
            let full = dir.join_path(&child);
            let meta = match fs.metadata(&full) {
                Ok(meta) => meta,
                Err(e) => {
                    note(summary, e);
                    continue;
                }
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
                whose,
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
    if unread > MAX_WALK_PROBLEMS {
        summary.problems.push(format!(
            "{label}: {} more objects could not be read; not listed",
            unread - MAX_WALK_PROBLEMS
        ));
    }
    Ok(())
}

/// Unreadable objects named one by one in one layer's walk.
const MAX_WALK_PROBLEMS: u64 = 20;

enum Sink<W: Write> {
    Body(io::BufWriter<W>),
    Csv(ExternalSort, io::BufWriter<W>),
    Jsonl(ExternalSort, io::BufWriter<W>),
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
            Sink::Jsonl(sorter, _) => {
                for (t, macb) in csv_times(r) {
                    sorter.push(sort_key(t), json_line(r, t, &macb)?)?;
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
            Sink::Jsonl(sorter, mut w) => {
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

/// `[label] path -> target (deleted)`, as found (unescaped).
fn raw_name_of(r: &Row<'_>) -> String {
    let mut name = format!("[{}] {}", r.label, r.path);
    if let Some(l) = &r.link {
        name.push_str(" -> ");
        name.push_str(l);
    }
    if r.deleted {
        name.push_str(" (deleted)");
    }
    name
}

fn name_of(r: &Row<'_>) -> String {
    clean(&raw_name_of(r))
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
        (None, Some(e)) => format!(
            "0|{}|0|-/----------|0|0|0|0|{}|0|0",
            name_of(r),
            e.when.secs
        ),
        (None, None) => String::new(),
    }
}

/// The distinct timestamps of a row with their `macb` letters.
fn csv_times(r: &Row<'_>) -> Vec<(Timestamp, String)> {
    if let Some(e) = &r.event {
        return vec![(e.when, "m...".into())];
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
    let when = datetime(t);
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
        (None, Some(e)) => format!("{when},{macb},{source},,,,,,,{}", csv_field(&e.what)),
        (None, None) => String::new(),
    }
}

/// RFC 3339 in UTC to the nanosecond; the bare seconds for a time no date
/// can show (damaged evidence), so that the row is still there.
fn datetime(t: Timestamp) -> String {
    crate::time::rfc3339_nanos(t.secs, t.nanos).unwrap_or_else(|| t.secs.to_string())
}

/// What each `macb` letter's time is, in Timesketch's (and plaso's) words.
const MACB_DESCRIPTIONS: [&str; 4] = [
    "Content Modification Time",
    "Last Access Time",
    "Metadata Modification Time",
    "Creation Time",
];

/// One line of the JSON-lines timeline: Timesketch's three required
/// fields and `timestamp`, then ours. Fields that do not apply to a row
/// are left out.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    message: String,
    datetime: String,
    timestamp_desc: String,
    /// Microseconds since the epoch.
    timestamp: i128,
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    store: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    macb: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
}

/// The JSON line of row `r` at its time `t` (`macb` the letters of the
/// times that equal it). Names keep their exact text; the line's raw
/// bytes carry no control character ([`crate::escape::json_line`]).
fn json_line(r: &Row<'_>, t: Timestamp, macb: &str) -> io::Result<String> {
    let mut line = JsonLine {
        message: String::new(),
        datetime: datetime(t),
        timestamp_desc: String::new(),
        timestamp: i128::from(t.secs) * 1_000_000 + i128::from(t.nanos / 1_000),
        label: r.label,
        path: None,
        store: &r.whose.store,
        image: r.whose.image.as_deref(),
        container: r.whose.container.as_deref(),
        inode: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        link: None,
        deleted: None,
        macb: None,
        event: None,
    };
    match (r.meta, &r.event) {
        (Some(m), _) => {
            line.message = raw_name_of(r);
            line.timestamp_desc = macb
                .chars()
                .zip(MACB_DESCRIPTIONS)
                .filter(|(c, _)| *c != '.')
                .map(|(_, d)| d)
                .collect::<Vec<_>>()
                .join("; ");
            line.path = Some(&r.path);
            line.inode = Some(m.ino);
            line.mode = Some(mode_string(m, r.deleted));
            line.uid = Some(m.uid);
            line.gid = Some(m.gid);
            line.size = Some(m.size);
            line.link = r.link.as_deref();
            line.deleted = Some(r.deleted);
            line.macb = Some(macb);
        }
        (None, Some(e)) => {
            line.message = format!("[{}] {}", r.label, e.what);
            line.timestamp_desc = e.kind.description().to_string();
            line.event = Some(e.kind.key());
        }
        (None, None) => return Ok(String::new()),
    }
    crate::escape::json_line(&line).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whose() -> Whose {
        Whose {
            store: "podman".into(),
            image: Some("app:7".into()),
            container: Some("web".into()),
        }
    }

    #[test]
    fn an_event_with_an_offset_is_written_in_utc() {
        let whose = whose();
        let when = parse_time("2026-11-26T15:32:21.5+01:00").unwrap();
        let row = Row {
            label: "podman container web",
            whose: &whose,
            path: "container c1 started".into(),
            meta: None,
            link: None,
            deleted: false,
            event: Some(Event {
                when,
                what: "container c1 started".into(),
                kind: EventKind::ContainerStarted,
            }),
        };
        let times = csv_times(&row);
        assert_eq!(times.len(), 1);
        let (t, macb) = &times[0];
        assert!(csv_line(&row, *t, macb).starts_with("2026-11-26T14:32:21.500000000Z,m...,"));
        let v: serde_json::Value =
            serde_json::from_str(&json_line(&row, *t, macb).unwrap()).unwrap();
        assert_eq!(v["datetime"], "2026-11-26T14:32:21.500000000Z");
        assert_eq!(v["timestamp"], 1_795_703_541_500_000i64);
        assert_eq!(v["timestamp_desc"], "Container Started");
        assert_eq!(v["message"], "[podman container web] container c1 started");
        assert_eq!(v["event"], "container_started");
        assert_eq!(v["store"], "podman");
        assert_eq!(v["container"], "web");
        assert!(v.get("path").is_none() && v.get("inode").is_none());
    }

    #[test]
    fn a_file_has_one_line_per_distinct_time_described_as_timesketch_does() {
        let whose = whose();
        let at = |secs| Timestamp { secs, nanos: 7 };
        let meta = Metadata {
            kind: FileKind::Symlink,
            perm: 0o777,
            uid: 1,
            gid: 2,
            size: 3,
            nlink: 1,
            ino: 42,
            rdev_major: 0,
            rdev_minor: 0,
            mtime: at(100),
            atime: at(200),
            ctime: at(100),
            btime: Some(at(50)),
        };
        let row = Row {
            label: "container web",
            whose: &whose,
            path: "/tmp/x".into(),
            meta: Some(&meta),
            link: Some("/etc/passwd".into()),
            deleted: false,
            event: None,
        };
        let lines: Vec<serde_json::Value> = csv_times(&row)
            .iter()
            .map(|(t, macb)| serde_json::from_str(&json_line(&row, *t, macb).unwrap()).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0]["timestamp_desc"],
            "Content Modification Time; Metadata Modification Time"
        );
        assert_eq!(lines[0]["macb"], "m.c.");
        assert_eq!(lines[0]["timestamp"], 100_000_000i64);
        assert_eq!(lines[1]["timestamp_desc"], "Last Access Time");
        assert_eq!(lines[2]["timestamp_desc"], "Creation Time");
        assert_eq!(lines[2]["datetime"], "1970-01-01T00:00:50.000000007Z");
        let l = &lines[0];
        assert_eq!(l["message"], "[container web] /tmp/x -> /etc/passwd");
        assert_eq!(l["path"], "/tmp/x");
        assert_eq!(l["link"], "/etc/passwd");
        assert_eq!(l["mode"], "l/lrwxrwxrwx");
        assert_eq!(
            (&l["inode"], &l["uid"], &l["gid"], &l["size"]),
            (&42.into(), &1.into(), &2.into(), &3.into())
        );
        assert_eq!(l["deleted"], false);
        assert!(l.get("event").is_none());
    }
}
