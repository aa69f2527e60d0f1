//! What the case report says, gathered once from the library (the
//! catalog's images and containers, `verify_images`, each container's
//! diff, the evidence's provenance) and then rendered by [`super::html`]
//! and [`super::case_uco`]. Nothing here is escaped: every string is as
//! the evidence has it; the writers escape for their format.

use crate::evidence::Evidence;
use crate::evidence::image::{Acquisition, MediaVerification};
use crate::export::dockerfile::reconstruct;
use crate::export::{ExportOptions, RunRecord, VerifiedImage, verify_images};
use crate::layer::diff::{Change, container_changes};
use crate::report::Method;
use crate::store::DataRootRef;
use crate::store::catalog::{Catalog, StoreFilter};
use crate::store::model::Container;
use std::collections::BTreeMap;

/// Environment variable names that look like secrets (matched as
/// upper-case substrings of the name).
const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "KEY",
    "CREDENTIAL",
    "AUTH",
];

/// Host paths whose mount into a container gives it the host (as
/// container-escape write-ups list them).
const SENSITIVE_HOST_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/root",
    "/proc",
    "/sys",
    "/dev",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run",
    "/run",
    "/var/lib/docker",
    "/home",
    "/boot",
];

/// The whole report.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// `docker-forensics`.
    pub tool_name: String,
    /// The crate's version.
    pub tool_version: String,
    /// The run: command line, host, start, media verification.
    pub run: RunRecord,
    /// When the report was finished (RFC 3339 UTC).
    pub finished: String,
    /// The evidence and where the stores are in it.
    pub evidence: EvidenceChain,
    /// What needs attention first: integrity findings, then risky
    /// container settings.
    pub integrity: Vec<IntegrityFinding>,
    /// Risky container settings, one per concern.
    pub concerns: Vec<Concern>,
    /// Every image, as verified.
    pub images: Vec<ImageEntry>,
    /// Every distinct layer (by diff_id, else chain id), lowest first
    /// as first seen, with the images that use it.
    pub layers: Vec<LayerEntry>,
    /// Every container with its diff.
    pub containers: Vec<ContainerEntry>,
    /// Dated events, sorted by time.
    pub events: Vec<Event>,
    /// What could not be read, one line each.
    pub problems: Vec<String>,
}

/// The evidence, from the files given to the data roots used.
#[derive(Debug, Clone)]
pub struct EvidenceChain {
    /// The path as given.
    pub source: String,
    /// `ewf`, `raw`, `qcow2`…, or `None` for a directory.
    pub format: Option<String>,
    /// The files the evidence is made of, with their sizes on the
    /// examiner's machine.
    pub files: Vec<(String, Option<u64>)>,
    /// What the acquisition tool recorded (EWF).
    pub acquisition: Option<Acquisition>,
    /// `--verify-image`: hashes computed and compared.
    pub media: Option<MediaVerification>,
    /// What a VM disk format recorded, one line each.
    pub image_info: Vec<String>,
    /// Each volume: its label and its chain (file → partition → LV →
    /// filesystem).
    pub volumes: Vec<(String, String)>,
    /// Each store used: volume, path, driver and why it was taken.
    pub data_roots: Vec<DataRootRef>,
    /// What was seen in the evidence but not used.
    pub notes: Vec<String>,
}

/// One tampered (or unreadable) piece of an image.
#[derive(Debug, Clone)]
pub struct IntegrityFinding {
    /// The images it concerns: each by its tags, else its short id
    /// (several, for a layer they share).
    pub image: String,
    /// The image id.
    pub image_id: String,
    /// The layer index, for a layer finding.
    pub layer: Option<usize>,
    /// The layer's diff_id.
    pub diff_id: Option<String>,
    /// `content_changed`, `size_changed`…
    pub kind: String,
    /// The path inside the layer, if any.
    pub path: Option<String>,
    /// Expected vs found, in words.
    pub detail: String,
    /// Where this run saved the file as found, relative to the output
    /// directory (`image_<id>/findings/layer_<i>/<path>`), when it wrote
    /// the image.
    pub saved: Option<String>,
}

/// A container setting that deserves a look.
#[derive(Debug, Clone)]
pub struct Concern {
    /// The container's name.
    pub container: String,
    /// Its id.
    pub container_id: String,
    /// `privileged`, `root`, `capabilities`, `host mount`, `secret env`.
    pub what: &'static str,
    /// The detail (the variable's name, the mount).
    pub detail: String,
}

/// One image.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// `sha256:<hex>`.
    pub id: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// The store's label.
    pub store: String,
    /// When the config says it was created.
    pub created: Option<String>,
    /// Sum of its layers' tar sizes as checked.
    pub size: u64,
    /// The config hashes to the id.
    pub config_verified: bool,
    /// Everything verified.
    pub verified: bool,
    /// Its layers as checked, lowest first.
    pub layers: Vec<ImageLayer>,
    /// The reconstructed Dockerfile.
    pub dockerfile: Option<String>,
    /// Why it could not be read, if so.
    pub error: Option<String>,
    /// Its directory under the output (`image_<12 hex>`), when this run
    /// wrote it.
    pub dir: Option<String>,
}

/// One layer of one image.
#[derive(Debug, Clone)]
pub struct ImageLayer {
    /// 0 is the lowest.
    pub index: usize,
    /// `sha256:<hex>` the config expects.
    pub diff_id: String,
    /// Its ChainID.
    pub chain_id: String,
    /// The tar's sha256 as produced (hex).
    pub sha256: String,
    /// The tar's length.
    pub size: u64,
    /// `tar-split`, `rebuilt`, `blob`.
    pub method: &'static str,
    /// sha256 equals diff_id.
    pub verified: bool,
    /// How many findings it has.
    pub findings: usize,
}

/// A distinct layer and the images on it.
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// diff_id (or chain id).
    pub key: String,
    /// Size of its tar.
    pub size: u64,
    /// Verified.
    pub verified: bool,
    /// Indexes into [`CaseReport::images`].
    pub images: Vec<usize>,
}

/// One container.
#[derive(Debug, Clone)]
pub struct ContainerEntry {
    /// As the engine recorded it.
    pub container: Container,
    /// Its changes, or why they cannot be listed.
    pub diff: Result<Vec<Change>, String>,
}

/// A dated event.
#[derive(Debug, Clone)]
pub struct Event {
    /// RFC 3339 UTC to the second.
    pub when: String,
    /// Seconds since the epoch (for the chart).
    pub epoch: i64,
    /// `image_created`, `build_step`, `container_created`…
    pub kind: &'static str,
    /// The image or container.
    pub subject: String,
    /// In words.
    pub what: String,
}

impl CaseReport {
    /// Integrity findings plus concerns: what the summary leads with.
    pub fn attention(&self) -> usize {
        self.integrity.len() + self.concerns.len()
    }
}

/// Gathers the report: verifies every image `filter` accepts (as
/// `verify`), lists every container with its diff, and dates what can be
/// dated.
pub fn build(
    evidence: &Evidence,
    catalog: &Catalog,
    filter: StoreFilter<'_>,
    run: &RunRecord,
    opts: &ExportOptions,
) -> CaseReport {
    let mut problems: Vec<String> = Vec::new();
    let mut found = Vec::new();
    match catalog.all_images(filter) {
        Ok(all) => {
            for job in all {
                match job {
                    Ok(f) => found.push(f),
                    Err((what, e)) => problems.push(format!("image {what}: {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("images: {e}")),
    }
    let verified = verify_images(&found, opts);
    let checked: Vec<Checked<'_>> = found
        .iter()
        .zip(verified)
        .map(|(f, v)| Checked {
            image: &f.image,
            verified: v,
            dir: None,
        })
        .collect();
    assemble(evidence, catalog, filter, run, &checked, problems)
}

/// An image as a run checked it: the image, its verdict and, when it was
/// written, its directory under the output (`image_<12 hex>`).
pub struct Checked<'a> {
    /// The image as the store has it.
    pub image: &'a crate::store::model::Image,
    /// What verifying (or writing) it found.
    pub verified: VerifiedImage,
    /// Its directory under the output directory, when written.
    pub dir: Option<String>,
}

/// The verdict an `extract` run reached on an image, as `verify` gives it.
pub fn verdict_of(r: &crate::export::ImageReport) -> VerifiedImage {
    VerifiedImage {
        store: r.store.clone(),
        data_root: Some(r.data_root.clone()),
        source: Some(r.source.clone()),
        image_id: r.image_id.clone(),
        tags: r.tags.clone(),
        config_verified: r.config_verified,
        layers: r.layers.clone(),
        findings: r.findings.clone(),
        error: None,
        verified: r.verified,
    }
}

/// The report from images already checked (by `verify_images`, or by the
/// `extract` run that wrote them: nothing is read again for them), with
/// every container `filter` accepts and its diff. `problems` are what the
/// caller could not read.
pub fn assemble(
    evidence: &Evidence,
    catalog: &Catalog,
    filter: StoreFilter<'_>,
    run: &RunRecord,
    checked: &[Checked<'_>],
    mut problems: Vec<String>,
) -> CaseReport {
    problems.splice(0..0, catalog.problems.iter().cloned());
    let mut images = Vec::new();
    let mut integrity = Vec::new();
    let mut events = Vec::new();
    for Checked {
        image: img,
        verified: v,
        dir,
    } in checked
    {
        let tags = img.tags();
        let name = if tags.is_empty() {
            crate::digest::short_id(crate::digest::hex_part(&img.id)).to_string()
        } else {
            tags.join(", ")
        };
        let first = integrity.len();
        collect_findings(&name, v, &mut integrity);
        if let Some(d) = dir {
            for f in integrity.iter_mut().skip(first) {
                f.saved = saved_name(d, f);
            }
        }
        if let Some(t) = &img.config.created {
            push_event(&mut events, t, "image_created", &name, "image created");
        }
        for h in &img.config.history {
            if let Some(t) = &h.created {
                let step = h.created_by.clone().unwrap_or_default();
                push_event(&mut events, t, "build_step", &name, &step);
            }
        }
        images.push(ImageEntry {
            id: img.id.clone(),
            tags: tags.clone(),
            store: img.store.clone(),
            created: img.config.created.clone(),
            size: v.layers.iter().map(|l| l.size).sum(),
            config_verified: v.config_verified,
            verified: v.verified,
            layers: v
                .layers
                .iter()
                .map(|l| ImageLayer {
                    index: l.index,
                    diff_id: l.diff_id.clone(),
                    chain_id: l.chain_id.clone(),
                    sha256: l.sha256.clone(),
                    size: l.size,
                    method: match l.method {
                        Method::TarSplit => "tar-split",
                        Method::Rebuilt => "rebuilt",
                        Method::Blob => "blob",
                    },
                    verified: l.verified,
                    findings: l.findings.len(),
                })
                .collect(),
            dockerfile: Some(reconstruct(&img.id, &tags, &img.config)),
            error: v.error.clone(),
            dir: dir.clone(),
        });
    }
    // Tagged images first, by tag; then the untagged by id.
    images.sort_by(|a, b| {
        (a.tags.is_empty(), a.tags.first(), &a.id).cmp(&(b.tags.is_empty(), b.tags.first(), &b.id))
    });
    // The same layer is one finding, however many images share it: the
    // finding names them all.
    let mut merged: Vec<IntegrityFinding> = Vec::new();
    for f in integrity {
        match merged.iter_mut().find(|m| {
            f.diff_id.is_some()
                && m.diff_id == f.diff_id
                && m.kind == f.kind
                && m.path == f.path
                && m.detail == f.detail
        }) {
            Some(m) => {
                if !m.image.split(", ").any(|n| n == f.image) {
                    m.image = format!("{}, {}", m.image, f.image);
                }
            }
            None => merged.push(f),
        }
    }
    let integrity = merged;
    let layers = layer_sharing(&images);

    let mut containers = Vec::new();
    let mut concerns = Vec::new();
    for (store, c) in catalog.containers(filter) {
        match c {
            Ok(c) => {
                concerns.extend(container_concerns(&c));
                container_events(&c, &mut events);
                log_events(store.fs(), &c, &mut events);
                let diff = container_changes(store.fs(), &c).map_err(|e| e.to_string());
                if let Ok(list) = &diff {
                    change_events(store.fs(), &c, list, &mut events);
                }
                containers.push(ContainerEntry { container: c, diff });
            }
            Err(e) => problems.push(format!("container: {e}")),
        }
    }
    events.sort_by(|a, b| (a.epoch, a.kind).cmp(&(b.epoch, b.kind)));
    let events = merge_shared_steps(events);

    CaseReport {
        tool_name: "docker-forensics".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run: run.clone(),
        finished: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        evidence: evidence_chain(evidence, catalog, run),
        integrity,
        concerns,
        images,
        layers,
        containers,
        events,
        problems,
    }
}

fn collect_findings(name: &str, v: &VerifiedImage, out: &mut Vec<IntegrityFinding>) {
    let kind = |k: &crate::report::FindingKind| {
        serde_json::to_value(k)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    for f in &v.findings {
        out.push(IntegrityFinding {
            image: name.to_string(),
            image_id: v.image_id.clone(),
            layer: None,
            diff_id: None,
            kind: kind(&f.kind),
            path: f.path.clone(),
            detail: f.detail.clone(),
            saved: None,
        });
    }
    if let Some(e) = &v.error {
        out.push(IntegrityFinding {
            image: name.to_string(),
            image_id: v.image_id.clone(),
            layer: None,
            diff_id: None,
            kind: "unreadable".into(),
            path: None,
            detail: e.clone(),
            saved: None,
        });
    }
    for l in &v.layers {
        for f in &l.findings {
            out.push(IntegrityFinding {
                image: name.to_string(),
                image_id: v.image_id.clone(),
                layer: Some(l.index),
                diff_id: Some(if l.diff_id.is_empty() {
                    l.chain_id.clone()
                } else {
                    l.diff_id.clone()
                }),
                kind: kind(&f.kind),
                path: f.path.clone(),
                detail: f.detail.clone(),
                saved: None,
            });
        }
    }
}

/// Where `extract` saves a changed file as found: each component of its
/// path made one portable name, as `export::image` does.
fn saved_name(dir: &str, f: &IntegrityFinding) -> Option<String> {
    if f.kind != "content_changed" && f.kind != "size_changed" {
        return None;
    }
    let shown: Vec<String> = f
        .path
        .as_deref()?
        .split('/')
        .filter(|c| !c.is_empty())
        .map(crate::escape::file_name)
        .collect();
    Some(format!(
        "{dir}/findings/layer_{}/{}",
        f.layer?,
        shown.join("/")
    ))
}

/// Which images sit on which layers.
fn layer_sharing(images: &[ImageEntry]) -> Vec<LayerEntry> {
    let mut order: Vec<LayerEntry> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for (i, img) in images.iter().enumerate() {
        for l in &img.layers {
            let key = if l.diff_id.is_empty() {
                l.chain_id.clone()
            } else {
                l.diff_id.clone()
            };
            let n = *at.entry(key.clone()).or_insert_with(|| {
                order.push(LayerEntry {
                    key,
                    size: l.size,
                    verified: l.verified,
                    images: Vec::new(),
                });
                order.len() - 1
            });
            if let Some(e) = order.get_mut(n) {
                e.verified &= l.verified;
                if !e.images.contains(&i) {
                    e.images.push(i);
                }
            }
        }
    }
    order
}

/// Whether an environment variable's name looks like it holds a secret.
pub fn secret_looking(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| up.contains(w))
}

fn container_concerns(c: &Container) -> Vec<Concern> {
    let mut out = Vec::new();
    let mut add = |what: &'static str, detail: String| {
        out.push(Concern {
            container: c.name.clone(),
            container_id: c.id.clone(),
            what,
            detail,
        })
    };
    if c.privileged == Some(true) {
        add("privileged", "ran with --privileged".into());
    }
    let user = c.user.as_deref().unwrap_or("");
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name == "0" || name == "root" {
        add(
            "root",
            if user.is_empty() {
                "no user set: runs as root".into()
            } else {
                format!("user {user}")
            },
        );
    }
    if !c.cap_add.is_empty() {
        add("capabilities", format!("added {}", c.cap_add.join(", ")));
    }
    for m in &c.mounts {
        if m.kind == "bind"
            && let Some(src) = &m.source
        {
            let sensitive = SENSITIVE_HOST_PATHS
                .iter()
                .any(|p| src.trim_end_matches('/') == p.trim_end_matches('/') || src == "/");
            add(
                "host mount",
                format!(
                    "{src} → {} ({}){}",
                    m.destination,
                    if m.read_write { "rw" } else { "ro" },
                    if sensitive {
                        ", a host system path"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    for e in &c.env {
        let name = e.split('=').next().unwrap_or(e);
        if secret_looking(name) {
            add("secret env", format!("{name} is set"));
        }
    }
    out
}

fn container_events(c: &Container, events: &mut Vec<Event>) {
    let subject = if c.name.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.name.clone()
    };
    for (t, kind, what) in [
        (&c.created, "container_created", "container created"),
        (&c.started, "container_started", "container started"),
        (&c.finished, "container_finished", "container finished"),
    ] {
        if let Some(t) = t {
            push_event(events, t, kind, &subject, what);
        }
    }
}

/// A base image's build steps are in every image built on it: each step
/// (same time, same command) is one event, naming the first image and
/// how many others share it.
fn merge_shared_steps(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    let mut shared: BTreeMap<(i64, &'static str, String), (usize, usize)> = BTreeMap::new();
    for e in events {
        if e.kind == "build_step" || e.kind == "image_created" {
            let key = (e.epoch, e.kind, e.what.clone());
            if let Some((at, n)) = shared.get_mut(&key) {
                *n += 1;
                let others = *n;
                if let Some(first) = out.get_mut(*at) {
                    let base = first
                        .subject
                        .split(" (+")
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    first.subject = format!("{base} (+{others} other image(s))");
                }
                continue;
            }
            shared.insert(key, (out.len(), 0));
        }
        out.push(e);
    }
    out
}

/// At most this many file changes of one container are put on the
/// timeline (the diff tree lists them all).
const CHANGE_EVENTS_PER_CONTAINER: usize = 2000;

/// Each changed file of a container's writable layer (not directories:
/// every change below one makes it `C`) at its modification time as the
/// writable layer has it (for a deletion, the time of its whiteout).
fn change_events(
    fs: &dyn crate::evidence::fs::FileSystem,
    c: &Container,
    list: &[Change],
    events: &mut Vec<Event>,
) {
    let Some(upper) = &c.layers.upper else {
        return;
    };
    let subject = if c.name.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.name.clone()
    };
    for ch in list
        .iter()
        .filter(|ch| !ch.is_dir)
        .take(CHANGE_EVENTS_PER_CONTAINER)
    {
        let Some(path) = upper.join(ch.path.trim_start_matches('/')) else {
            continue;
        };
        let Ok(m) = fs.metadata(&path) else {
            continue;
        };
        let Some(t) = chrono::DateTime::from_timestamp(m.mtime.secs, m.mtime.nanos) else {
            continue;
        };
        let what = format!("{} {}", ch.kind, ch.path);
        push_event(
            events,
            &t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "file_changed",
            &subject,
            &what,
        );
    }
}

/// The first and last line of a container's log (the json-file or
/// k8s-file log read through, nothing kept).
fn log_events(fs: &dyn crate::evidence::fs::FileSystem, c: &Container, events: &mut Vec<Event>) {
    let Some(log) = &c.log else {
        return;
    };
    let Ok(f) = fs.open(&log.path) else {
        return;
    };
    let Ok(s) =
        crate::export::logs::render_as(log.format, std::io::BufReader::new(f), std::io::sink())
    else {
        return;
    };
    let subject = if c.name.is_empty() {
        c.id.chars().take(12).collect()
    } else {
        c.name.clone()
    };
    if let Some(t) = &s.first_time {
        push_event(events, t, "first_log_line", &subject, "first log line");
    }
    if let Some(t) = &s.last_time {
        let what = format!("last log line ({} line(s))", s.lines);
        push_event(events, t, "last_log_line", &subject, &what);
    }
}

fn push_event(events: &mut Vec<Event>, when: &str, kind: &'static str, subject: &str, what: &str) {
    // Docker writes 0001-01-01 for "never".
    let Some(t) = crate::time::parse(when) else {
        return;
    };
    if t.timestamp() <= 0 {
        return;
    }
    events.push(Event {
        when: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        epoch: t.timestamp(),
        kind,
        subject: subject.to_string(),
        what: what.to_string(),
    });
}

fn evidence_chain(ev: &Evidence, catalog: &Catalog, run: &RunRecord) -> EvidenceChain {
    let mut files: Vec<String> = Vec::new();
    if let Some(a) = &ev.acquisition {
        files.extend(a.segments.iter().cloned());
    }
    for v in &ev.volumes {
        if let Some(crate::evidence::provenance::SpecLayer::DiskImage { segments, .. }) =
            v.spec.layers().first()
        {
            for s in segments {
                if !files.contains(s) {
                    files.push(s.clone());
                }
            }
        }
    }
    if files.is_empty() {
        files.push(ev.source.clone());
    }
    let files = files
        .into_iter()
        .map(|f| {
            let size = std::fs::metadata(&f)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            (f, size)
        })
        .collect();
    EvidenceChain {
        source: ev.source.clone(),
        format: ev.format.map(|f| f.name().to_string()),
        files,
        acquisition: ev.acquisition.clone(),
        media: run.media_verification.clone(),
        image_info: ev.image_info.clone(),
        volumes: ev
            .volumes
            .iter()
            .map(|v| (v.label.clone(), v.spec.to_string()))
            .collect(),
        data_roots: catalog.stores().map(|s| s.place().data_root()).collect(),
        notes: ev.notes.clone(),
    }
}
