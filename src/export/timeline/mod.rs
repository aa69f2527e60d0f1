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

use super::logs::summarise;
use crate::digest::hex_part;
use crate::evidence::fs::{EvPath, FileKind, Metadata, Timestamp};
use crate::store::StoreError;
use crate::store::catalog::{Catalog, Found};
use crate::store::docker::DataRoot;
use crate::store::model::Container;
use sort::ExternalSort;
use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Bodyfile,
    Csv,
}

/// What to include (everything when both are `None`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub image: Option<String>,
    pub container: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the timeline: {0}")]
    Output(#[from] io::Error),
}

/// Counts of what was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: u64,
    pub events: u64,
    pub layers: u64,
    pub containers: u64,
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

/// Writes the timeline of `roots` to `out`.
pub fn write_timeline(
    catalog: &Catalog,
    filter: &Filter,
    format: Format,
    out: impl Write,
) -> Result<Summary, TimelineError> {
    let mut sink = match format {
        Format::Bodyfile => Sink::Body(io::BufWriter::new(out)),
        Format::Csv => Sink::Csv(ExternalSort::new()?, io::BufWriter::new(out)),
    };
    let mut summary = Summary::default();
    for root in &catalog.docker {
        timeline_of_root(root, filter, &mut sink, &mut summary)?;
    }
    timeline_of_others(catalog, filter, &mut sink, &mut summary)?;
    sink.finish()?;
    Ok(summary)
}

fn timeline_of_root(
    root: &DataRoot,
    filter: &Filter,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> Result<(), TimelineError> {
    let refs = root.references()?;
    let wanted_image = match &filter.image {
        Some(name) => Some(root.resolve_id(name)?),
        None => None,
    };
    let wanted_container = match &filter.container {
        Some(name) => Some(root.resolve_container(name)?.id),
        None => None,
    };
    // Images and which layers (by chain id) each holds.
    let mut layer_owners: BTreeMap<String, (String, usize, Vec<String>)> = BTreeMap::new();
    if wanted_container.is_none() {
        for id in root.image_ids()? {
            if wanted_image.as_ref().is_some_and(|w| *w != id) {
                continue;
            }
            let Ok(img) = root.load_image(&id, &refs) else {
                continue;
            };
            let name = img
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| hex_part(&id)[..12].to_string());
            image_events(&img, &name, sink, summary)?;
            let Ok(locs) = root.locate_layers(&img) else {
                continue;
            };
            for l in locs {
                let entry = layer_owners
                    .entry(l.chain_id.clone())
                    .or_insert_with(|| (hex_part(&l.diff_id).to_string(), l.index, Vec::new()));
                entry.2.push(name.clone());
            }
        }
        for (chain, (diff, index, owners)) in &layer_owners {
            let label = format!(
                "image {} layer {index} {}",
                owners_label(owners),
                &diff[..12]
            );
            if let Some(dir) = layer_dir(root, chain) {
                walk(root, &dir, &label, sink, summary)?;
                summary.layers += 1;
            }
        }
    }
    if wanted_image.is_none() {
        for id in root.container_ids()? {
            if wanted_container.as_ref().is_some_and(|w| *w != id) {
                continue;
            }
            let Ok(c) = root.load_container(&id) else {
                continue;
            };
            container_events(root, &c, sink, summary)?;
            if let Ok(layers) = root.container_layers(&c)
                && let Some(upper) = layers.upper.filter(|u| root.fs().exists(u))
            {
                walk(
                    root,
                    &upper,
                    &format!("container {}", c.name),
                    sink,
                    summary,
                )?;
            }
            summary.containers += 1;
        }
    }
    Ok(())
}

/// containerd and containers/storage: unpacked layers of every image,
/// writable layers of every container, and their dated events.
fn timeline_of_others(
    catalog: &Catalog,
    filter: &Filter,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> Result<(), TimelineError> {
    let mut seen_dirs = std::collections::HashSet::new();
    if filter.container.is_none() {
        for row in catalog
            .images()?
            .into_iter()
            .filter(|r| r.store != "docker")
        {
            let Ok(Found::Other {
                fs, content, store, ..
            }) = catalog.resolve(&row.id, Some(&row.store))
            else {
                continue;
            };
            if let Some(want) = &filter.image
                && !(content.names.iter().any(|n| n == want)
                    || hex_part(&content.id).starts_with(hex_part(want)))
            {
                continue;
            }
            let name = content
                .names
                .iter()
                .find(|n| !n.starts_with("sha256:"))
                .cloned()
                .unwrap_or_else(|| hex_part(&content.id)[..12].to_string());
            let label = format!("{store} image {name}");
            event(
                sink,
                summary,
                &label,
                content.config.created.as_deref(),
                format!("image {} created", content.id),
            )?;
            for l in &content.layers {
                let Some(u) = &l.unpacked else { continue };
                if !seen_dirs.insert((store.clone(), u.dir.clone())) {
                    continue;
                }
                let label = format!(
                    "{store} image {name} layer {} {}",
                    l.index,
                    &hex_part(&l.diff_id)[..12]
                );
                walk_fs(fs, &u.dir, &label, sink, summary)?;
                summary.layers += 1;
            }
        }
    }
    if filter.image.is_none() {
        for oc in catalog.other_containers() {
            let c = &oc.container;
            let name = c.name.clone().unwrap_or_else(|| c.id.clone());
            if let Some(want) = &filter.container
                && !(oc.matches(want) || (want.len() >= 4 && c.id.starts_with(want.as_str())))
            {
                continue;
            }
            let label = format!("{} container {name}", c.store);
            event(
                sink,
                summary,
                &label,
                c.created.as_deref(),
                format!(
                    "container {} created from {}",
                    c.id,
                    c.image.clone().unwrap_or_default()
                ),
            )?;
            if let Some(dir) = c.writable_dir.as_ref().filter(|d| oc.fs.exists(d)) {
                walk_fs(oc.fs, dir, &label, sink, summary)?;
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

fn layer_dir(root: &DataRoot, chain: &str) -> Option<EvPath> {
    let entry = root.path.join(format!(
        "image/{}/layerdb/sha256/{}/cache-id",
        root.driver,
        hex_part(chain)
    ))?;
    let cache = root.fs().read_small(&entry, 4096).ok()?;
    root.driver_dir(String::from_utf8_lossy(&cache).trim())
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
    name: &str,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let label = format!("image {name}");
    event(
        sink,
        summary,
        &label,
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
            &label,
            h.created.as_deref(),
            format!("build step {}: {what}", i + 1),
        )?;
    }
    Ok(())
}

fn container_events(
    root: &DataRoot,
    c: &Container,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    let label = format!("container {}", c.name);
    event(
        sink,
        summary,
        &label,
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
        &label,
        c.started.as_deref(),
        format!("container {} started", c.id),
    )?;
    event(
        sink,
        summary,
        &label,
        c.finished.as_deref(),
        format!(
            "container {} finished (exit code {})",
            c.id,
            c.exit_code.unwrap_or_default()
        ),
    )?;
    let log = root.container_file(&c.id, &format!("{}-json.log", c.id));
    if let Ok(f) = root.fs().open(&log)
        && let Ok(s) = summarise(BufReader::new(f))
    {
        event(
            sink,
            summary,
            &label,
            s.first_time.as_deref(),
            format!("container {} first log line", c.id),
        )?;
        event(
            sink,
            summary,
            &label,
            s.last_time.as_deref(),
            format!("container {} last log line ({} lines)", c.id, s.lines),
        )?;
    }
    Ok(())
}

/// Every object under `dir`, depth first, names sorted.
fn walk(
    root: &DataRoot,
    dir: &EvPath,
    label: &str,
    sink: &mut Sink<impl Write>,
    summary: &mut Summary,
) -> io::Result<()> {
    walk_fs(root.fs(), dir, label, sink, summary)
}

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
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\x7c"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
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
