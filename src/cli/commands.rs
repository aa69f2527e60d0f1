//! The commands themselves.

use super::Outcome;
use super::args::{Cli, Command, ExtractArgs, Global, ListArgs, VerifyArgs};
use super::progress::Bars;
use anyhow::{Context, Result, bail};
use docker_forensics::digest::hex_part;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::export::{ExportOptions, ProgressSink, export_image, verify_images};
use docker_forensics::report::ImageReport;
use docker_forensics::store::StoreError;
use docker_forensics::store::docker::DataRoot;
use docker_forensics::store::model::Image;
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
    pub roots: Vec<DataRoot>,
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
    let roots = DataRoot::discover(&evidence, g.docker_root.as_deref())?;
    if !g.quiet {
        for r in &roots {
            eprintln!("data root: {} — {}", r.describe(), r.reason);
        }
    }
    Ok(Opened { evidence, roots })
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

    let mut jobs: Vec<(DataRoot, Image)> = Vec::new();
    let mut outcome = Outcome::Verified;
    if a.all {
        for root in &ctx.roots {
            let refs = root.references()?;
            for id in root.image_ids()? {
                match root.load_image(&id, &refs) {
                    Ok(img) => jobs.push((root.clone(), img)),
                    Err(e) => {
                        eprintln!("docker-forensics: error: {e}");
                        outcome = Outcome::Failed;
                    }
                }
            }
        }
    } else {
        for name in &wanted {
            match resolve(&ctx.roots, name) {
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
    for (root, image) in &jobs {
        let result = export_image(root, image, &out, &opts);
        if let Some(b) = &bars {
            b.clear();
        }
        match result {
            Ok(report) => {
                let dir = docker_forensics::export::image_dir(&out, image);
                println!("{}", dir.display());
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

/// Resolves a name across every data root; ambiguity between roots asks
/// for --docker-root.
pub(super) fn resolve(roots: &[DataRoot], name: &str) -> Result<(DataRoot, Image)> {
    let mut hits = Vec::new();
    let mut last_err = None;
    for root in roots {
        match root.resolve(name) {
            Ok(img) => hits.push((root.clone(), img)),
            Err(e @ (StoreError::UnknownImage { .. } | StoreError::InvalidReference { .. })) => {
                last_err = Some(e)
            }
            Err(e) => return Err(e.into()),
        }
    }
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(last_err
            .map(anyhow::Error::from)
            .unwrap_or_else(|| anyhow::anyhow!("{name}: no such image"))),
        _ => bail!(
            "{name}: found in several data roots ({}); choose one with --docker-root",
            hits.iter()
                .map(|(r, _)| r.describe())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
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
    let mut rows = Vec::new();
    for root in &ctx.roots {
        for img in root.list_images()? {
            rows.push((root.describe(), img));
        }
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(root, img)| {
                let mut v = serde_json::to_value(img).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("store".into(), "docker".into());
                    o.insert("data_root".into(), root.clone().into());
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let many = ctx.roots.len() > 1;
        println!(
            "{}{:<14} {:<40} {:<21} {:>6} {:>10}  KIND",
            if many {
                format!("{:<32} ", "DATA ROOT")
            } else {
                String::new()
            },
            "IMAGE ID",
            "TAGS",
            "CREATED",
            "LAYERS",
            "SIZE",
        );
        for (root, i) in &rows {
            let tags = if i.tags.is_empty() {
                "<none>".to_string()
            } else {
                i.tags.join(",")
            };
            println!(
                "{}{:<14} {:<40} {:<21} {:>6} {:>10}  {}{}",
                if many {
                    format!("{root:<32} ")
                } else {
                    String::new()
                },
                &hex_part(&i.id)[..12],
                tags,
                i.created
                    .as_deref()
                    .map(|c| c.get(..19).unwrap_or(c))
                    .unwrap_or("-"),
                i.layers,
                i.size.map(human).unwrap_or_else(|| "-".into()),
                serde_json::to_value(i.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                i.error
                    .as_deref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let bad = rows
        .iter()
        .any(|(_, i)| i.error.is_some() || !i.config_verified);
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
    for root in &ctx.roots {
        all.extend(verify_images(root, &opts)?);
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
