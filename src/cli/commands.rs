//! The commands themselves.

use super::Outcome;
use super::args::{Cli, Command, ExtractArgs, Global, ListArgs, VerifyArgs};
use super::progress::Bars;
use anyhow::{Context, Result, bail};
use docker_forensics::digest::hex_part;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::export::oci::{export_content, verify_content};
use docker_forensics::export::{ExportOptions, ProgressSink, export_image, verify_images};
use docker_forensics::report::ImageReport;
use docker_forensics::store::catalog::{Catalog, Found};
use docker_forensics::store::docker::DataRoot;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Set when `--verify-image` found the medium not matching its stored
/// hash: whatever the command did, that is an integrity finding (exit 3).
static MEDIA_MISMATCH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn run(cli: Cli) -> Result<Outcome> {
    let outcome = dispatch(&cli)?;
    Ok(
        if MEDIA_MISMATCH.load(std::sync::atomic::Ordering::Relaxed) {
            outcome.worst(Outcome::Findings)
        } else {
            outcome
        },
    )
}

fn dispatch(cli: &Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Extract(a) => extract(&cli.global, a),
        Command::Images(a) => images(&cli.global, a),
        Command::Verify(a) => verify(&cli.global, a),
        Command::Containers(a) => super::containers::list(&cli.global, a),
        Command::Diff(a) => super::containers::diff(&cli.global, a),
        Command::ExportContainer(a) => super::containers::export(&cli.global, a),
        Command::Timeline(a) => super::timeline::run(&cli.global, a),
    }
}

/// Opened evidence and its data roots.
pub(super) struct Opened {
    pub evidence: Evidence,
    /// Docker's own data roots (also in `catalog`).
    pub roots: Vec<DataRoot>,
    /// Every store: Docker, containerd, containers/storage.
    pub catalog: Catalog,
}

pub(super) fn open(g: &Global, path: &Path) -> Result<Opened> {
    let opts = OpenOptions {
        partition: g.partition,
    };
    let evidence = Evidence::open(path, &opts)?;
    if !g.quiet {
        if let Some(a) = &evidence.acquisition {
            eprintln!(
                "evidence: {} ({} segment(s), {} bytes); case {}, evidence {}, examiner {}, acquired {}",
                a.format,
                a.segments.len(),
                a.media_size,
                a.case_number.as_deref().unwrap_or("-"),
                a.evidence_number.as_deref().unwrap_or("-"),
                a.examiner.as_deref().unwrap_or("-"),
                a.acquisition_date_utc
                    .as_deref()
                    .or(a.acquisition_date.as_deref())
                    .unwrap_or("-"),
            );
        }
        for v in evidence.volumes.iter().filter(|v| v.label != "directory") {
            eprintln!("volume: {}", v.label);
        }
        for n in &evidence.notes {
            eprintln!("note: {n}");
        }
    }
    if g.verify_image {
        match evidence.verify_image()? {
            None => eprintln!(
                "--verify-image: {} is not a disk image; nothing to verify",
                evidence.source
            ),
            Some(v) => {
                let verdict = |m: Option<bool>| match m {
                    Some(true) => "matches the stored hash",
                    Some(false) => "DOES NOT match the stored hash",
                    None => "no stored hash",
                };
                eprintln!(
                    "media: {} bytes; MD5 {} ({}); SHA-1 {} ({}); SHA-256 {}",
                    v.size,
                    v.md5,
                    verdict(v.md5_matches),
                    v.sha1,
                    verdict(v.sha1_matches),
                    v.sha256
                );
                if v.md5_matches == Some(false) || v.sha1_matches == Some(false) {
                    MEDIA_MISMATCH.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }
    let catalog = Catalog::discover(&evidence, g.docker_root.as_deref())?;
    if !g.quiet {
        for line in catalog.describe() {
            eprintln!("{line}");
        }
        for p in &catalog.problems {
            eprintln!("note: {p}");
        }
    }
    let roots = catalog.docker.clone();
    Ok(Opened {
        evidence,
        roots,
        catalog,
    })
}

pub(super) fn bars(g: &Global) -> Option<Arc<Bars>> {
    (!g.quiet && std::io::stderr().is_terminal()).then(|| Arc::new(Bars::new()))
}

fn extract(g: &Global, a: &ExtractArgs) -> Result<Outcome> {
    let n = a.args.len();
    let (wanted, evidence, out) = match (a.all, n) {
        (true, 2) => (Vec::new(), &a.args[0], &a.args[1]),
        (true, _) => bail!("extract --all takes EVIDENCE OUTPUT_DIR and no image names"),
        (false, n) if n >= 3 => (a.args[..n - 2].to_vec(), &a.args[n - 2], &a.args[n - 1]),
        (false, _) => {
            bail!("extract needs IMAGE... EVIDENCE OUTPUT_DIR (or --all EVIDENCE OUTPUT_DIR)")
        }
    };
    let ctx = open(g, Path::new(evidence))?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create output directory", out.display()))?;

    let mut jobs: Vec<Found<'_>> = Vec::new();
    let mut outcome = Outcome::Verified;
    if a.all {
        for root in ctx
            .roots
            .iter()
            .filter(|_| g.store.as_deref().is_none_or(|s| s == "docker"))
        {
            let refs = root.references()?;
            for id in root.image_ids()? {
                match root.load_image(&id, &refs) {
                    Ok(img) => jobs.push(Found::Docker(root, img)),
                    Err(e) => {
                        eprintln!("docker-forensics: error: {e}");
                        outcome = Outcome::Failed;
                    }
                }
            }
        }
        for row in ctx
            .catalog
            .images()?
            .into_iter()
            .filter(|r| r.store != "docker")
        {
            if g.store
                .as_deref()
                .is_some_and(|s| row.store != s && !row.store.starts_with(&format!("{s}/")))
            {
                continue;
            }
            match ctx.catalog.resolve(&row.id, Some(&row.store)) {
                Ok(found) => jobs.push(found),
                Err(e) => {
                    eprintln!("docker-forensics: error: {} in {}: {e}", row.id, row.store);
                    outcome = Outcome::Failed;
                }
            }
        }
    } else {
        for name in &wanted {
            match ctx.catalog.resolve(name, g.store.as_deref()) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    eprintln!("docker-forensics: error: {e:#}");
                    outcome = Outcome::Failed;
                }
            }
        }
    }
    let bars = bars(g);
    let opts = ExportOptions {
        force: a.force,
        rebuild: a.rebuild,
        progress: bars.clone().map(|b| b as Arc<dyn ProgressSink>),
        evidence: ctx.evidence.source.clone(),
        acquisition: ctx.evidence.acquisition.clone(),
    };
    for job in &jobs {
        let result = match job {
            Found::Docker(root, image) => export_image(root, image, &out, &opts),
            Found::Other {
                store,
                data_root,
                fs,
                content,
            } => export_content(*fs, store, data_root, content, &out, &opts),
        };
        if let Some(b) = &bars {
            b.clear();
        }
        match result {
            Ok(report) => {
                let hex = hex_part(&report.image_id);
                println!(
                    "{}",
                    out.join(format!("image_{}", &hex[..12.min(hex.len())]))
                        .display()
                );
                summarise(g, &report);
                outcome = outcome.worst(if report.verified {
                    Outcome::Verified
                } else {
                    Outcome::Findings
                });
            }
            Err(e) => {
                eprintln!("docker-forensics: error: {e}");
                outcome = Outcome::Failed;
            }
        }
    }
    if jobs.is_empty() && outcome == Outcome::Verified {
        bail!("no images found in {}", ctx.evidence.source);
    }
    Ok(outcome)
}

fn summarise(g: &Global, r: &ImageReport) {
    if g.quiet {
        return;
    }
    let name = r
        .tags
        .first()
        .cloned()
        .unwrap_or_else(|| "<untagged>".into());
    eprintln!(
        "{} {}: {} layer(s), {} verified, {} rebuilt, {} finding(s){}",
        &hex_part(&r.image_id)[..12],
        name,
        r.totals.layers,
        r.totals.layers_verified,
        r.totals.layers_rebuilt,
        r.totals.findings,
        if r.derived_config {
            format!("; archive carries derived image id {}", r.archive_image_id)
        } else {
            String::new()
        }
    );
    let shown = if g.verbose { usize::MAX } else { 10 };
    let all: Vec<_> = r.all_findings().collect();
    for (layer, f) in all.iter().take(shown) {
        match layer {
            Some(i) => eprintln!("  layer {i}: {f}"),
            None => eprintln!("  {f}"),
        }
    }
    if all.len() > shown {
        eprintln!("  … {} more in report.json", all.len() - shown);
    }
}

fn images(g: &Global, a: &ListArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let rows: Vec<_> = ctx
        .catalog
        .images()?
        .into_iter()
        .filter(|r| {
            g.store
                .as_deref()
                .is_none_or(|s| r.store == s || r.store.starts_with(&format!("{s}/")))
        })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        // Where rows come from more than one place, say which.
        let places: std::collections::BTreeSet<(&str, &str)> = rows
            .iter()
            .map(|r| (r.store.as_str(), r.data_root.as_str()))
            .collect();
        let many_roots = places
            .iter()
            .map(|p| p.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        let many_stores = rows.iter().any(|r| r.store != "docker");
        let store_col = |store: &str, root: &str| {
            let mut s = String::new();
            if many_stores {
                s.push_str(&format!("{store:<18} "));
            }
            if many_roots {
                s.push_str(&format!("{root:<32} "));
            }
            s
        };
        println!(
            "{}{:<14} {:<40} {:<21} {:>6} {:>10}  KIND",
            store_col("STORE", "DATA ROOT"),
            "IMAGE ID",
            "TAGS",
            "CREATED",
            "LAYERS",
            "SIZE",
        );
        for r in &rows {
            let tags = if r.tags.is_empty() {
                "<none>".to_string()
            } else {
                r.tags.join(",")
            };
            let kind = match (&r.kind, r.unpacked) {
                (Some(k), _) => serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                (None, Some(true)) => "unpacked".into(),
                (None, Some(false)) => "content-only".into(),
                (None, None) => String::new(),
            };
            let hex = hex_part(&r.id);
            println!(
                "{}{:<14} {:<40} {:<21} {:>6} {:>10}  {}{}",
                store_col(&r.store, &r.data_root),
                &hex[..12.min(hex.len())],
                tags,
                r.created
                    .as_deref()
                    .map(|c| c.get(..19).unwrap_or(c))
                    .unwrap_or("-"),
                r.layers,
                r.size.map(human).unwrap_or_else(|| "-".into()),
                kind,
                r.error
                    .as_deref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let bad = rows.iter().any(|r| r.error.is_some() || !r.config_verified);
    Ok(if bad {
        Outcome::Findings
    } else {
        Outcome::Verified
    })
}

fn verify(g: &Global, a: &VerifyArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let bars = bars(g);
    let opts = ExportOptions {
        rebuild: a.rebuild,
        progress: bars.clone().map(|b| b as Arc<dyn ProgressSink>),
        evidence: ctx.evidence.source.clone(),
        acquisition: ctx.evidence.acquisition.clone(),
        ..Default::default()
    };
    let mut all = Vec::new();
    let in_store = |s: &str| {
        g.store
            .as_deref()
            .is_none_or(|w| s == w || s.starts_with(&format!("{w}/")))
    };
    if in_store("docker") {
        for root in &ctx.roots {
            all.extend(verify_images(root, &opts)?);
        }
    }
    for row in ctx
        .catalog
        .images()?
        .into_iter()
        .filter(|r| r.store != "docker" && in_store(&r.store))
    {
        match ctx.catalog.resolve(&row.id, Some(&row.store)) {
            Ok(Found::Other {
                fs,
                data_root,
                content,
                store,
            }) => {
                let mut v = verify_content(fs, &format!("{store} {data_root}"), &content);
                v.data_root = format!("{store} {data_root}");
                all.push(v);
            }
            Ok(Found::Docker(..)) => {}
            Err(e) => all.push(docker_forensics::export::VerifiedImage {
                data_root: format!("{} {}", row.store, row.data_root),
                image_id: row.id.clone(),
                tags: row.tags.clone(),
                config_verified: false,
                layers: Vec::new(),
                findings: Vec::new(),
                error: Some(e.to_string()),
                verified: false,
            }),
        }
    }
    if let Some(b) = &bars {
        b.clear();
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for v in &all {
            let name = v
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| "<untagged>".into());
            let status = if v.verified { "OK  " } else { "FAIL" };
            println!(
                "{status} {} {name} ({} layers)",
                &hex_part(&v.image_id)[..12],
                v.layers.len()
            );
            if let Some(e) = &v.error {
                println!("     {e}");
            }
            for f in &v.findings {
                println!("     {f}");
            }
            for l in &v.layers {
                for f in &l.findings {
                    println!(
                        "     layer {} ({}): {f}",
                        l.index,
                        &hex_part(&l.diff_id)[..12]
                    );
                }
            }
        }
    }
    let failed = all.iter().any(|v| v.error.is_some());
    let findings = all.iter().any(|v| !v.verified);
    Ok(if failed {
        Outcome::Failed
    } else if findings {
        Outcome::Findings
    } else {
        Outcome::Verified
    })
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}
