//! `extract`, `images` and `verify`.

use super::args::{ExtractArgs, Global, ListArgs, VerifyArgs};
use super::context::{bars, check_output, clean_up_on_interrupt, hint, open};
use super::{Outcome, UsageError};
use anyhow::{Context, Result, bail};
use docker_forensics::digest::hex_part;
use docker_forensics::export::ImageReport;
use docker_forensics::export::{VerifiedImage, export_image, image_dir, verify_images};
use docker_forensics::store::catalog::Found;
use std::path::{Path, PathBuf};

pub fn extract(g: &Global, a: &ExtractArgs) -> Result<Outcome> {
    let n = a.args.len();
    let (wanted, evidence, out) = match (a.all, n) {
        (true, 2) => (Vec::new(), &a.args[0], &a.args[1]),
        (true, _) => {
            return Err(UsageError(
                "extract --all takes EVIDENCE OUTPUT_DIR and no image names".into(),
            )
            .into());
        }
        (false, n) if n >= 3 => (a.args[..n - 2].to_vec(), &a.args[n - 2], &a.args[n - 1]),
        (false, _) => {
            return Err(UsageError(
                "extract needs IMAGE... EVIDENCE OUTPUT_DIR (or --all EVIDENCE OUTPUT_DIR)".into(),
            )
            .into());
        }
    };
    let out = PathBuf::from(out);
    check_output(Path::new(evidence), &out)?;
    let ctx = open(g, Path::new(evidence))?;

    let mut jobs: Vec<Found<'_>> = Vec::new();
    let mut outcome = Outcome::Verified;
    if a.all {
        // Images containers were made from, for --tagged only (reading
        // every container is not free).
        let in_use: std::collections::BTreeSet<String> = if a.tagged {
            ctx.catalog
                .containers(ctx.filter())
                .into_iter()
                .filter_map(|(_, c)| c.ok().map(|c| c.image_id))
                .collect()
        } else {
            Default::default()
        };
        for job in ctx.catalog.all_images(ctx.filter())? {
            match job {
                Ok(found)
                    if a.tagged
                        && found.image.tags().is_empty()
                        && ![&found.image.id, &found.image.config_digest]
                            .into_iter()
                            .chain(&found.image.digests)
                            .any(|d| in_use.contains(d)) => {}
                Ok(found) => jobs.push(found),
                Err((what, e)) => {
                    tell!("docker-forensics: error: {what}: {e}");
                    outcome = Outcome::Failed;
                }
            }
        }
    } else {
        for name in &wanted {
            match ctx.catalog.resolve(name, ctx.filter()) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    tell!("docker-forensics: error: {:#}", hint(e));
                    outcome = Outcome::Failed;
                }
            }
        }
    }
    // Only now, with something to write, is the output created.
    if !jobs.is_empty() {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("{}: cannot create output directory", out.display()))?;
        clean_up_on_interrupt(&out);
    }
    let bars = bars(g);
    let mut opts = ctx.export_options(bars.as_ref());
    opts.force = a.force;
    opts.rebuild = a.rebuild;
    opts.archive_only = a.archive_only;
    // Layers several images share are written once, then hard-linked.
    opts.written = Some(Default::default());
    let mut done = Done::default();
    let mut distinct = std::collections::HashSet::new();
    // For --report: each image's verdict and directory, as written.
    let mut checked: Vec<docker_forensics::export::case_report::model::Checked<'_>> = Vec::new();
    let mut not_read: Vec<String> = Vec::new();
    for job in &jobs {
        let result = export_image(job.store, &job.image, &out, &opts);
        if let Some(b) = &bars {
            b.clear();
        }
        match result {
            Ok(report) => {
                say!("{}", image_dir(&out, &job.image).display());
                summarise(g, &report);
                if a.report {
                    checked.push(docker_forensics::export::case_report::model::Checked {
                        image: &job.image,
                        verified: docker_forensics::export::case_report::model::verdict_of(&report),
                        dir: dir_name(&out, &job.image),
                    });
                }
                done.images += 1;
                for l in &report.layers {
                    // The same bytes as a layer of an earlier image (a
                    // hard link to it, or, with --archive-only, in its
                    // image.tar): counted once.
                    if distinct.insert(l.sha256.clone()) {
                        done.layers += 1;
                        done.verified += usize::from(l.verified);
                        done.rebuilt +=
                            usize::from(l.method == docker_forensics::report::Method::Rebuilt);
                    }
                }
                done.findings += report.totals.findings;
                done.bytes += report.totals.bytes_written;
                outcome = outcome.worst(if report.verified {
                    Outcome::Verified
                } else {
                    Outcome::Findings
                });
            }
            // An earlier run finished it (its SHA256SUMS checks): keep it.
            Err(docker_forensics::export::ExportError::Complete { path }) => {
                say!("{path}");
                if !g.quiet {
                    tell!("{path}: already complete (its SHA256SUMS checks); kept");
                }
                done.kept += 1;
                let verified = std::fs::read(Path::new(&path).join("report.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|r| r["verified"] == true);
                outcome = outcome.worst(if verified {
                    Outcome::Verified
                } else {
                    Outcome::Findings
                });
                not_read.push(format!(
                    "image {}: kept from an earlier run, not checked again (its report.json says verified: {verified})",
                    job.image.id
                ));
            }
            Err(e) => {
                tell!("docker-forensics: error: {e}");
                not_read.push(format!("image {}: {e}", job.image.id));
                done.failed += 1;
                outcome = Outcome::Failed;
            }
        }
    }
    if !jobs.is_empty() {
        ctx.summary(format_args!(
            "{} image(s) written, {} kept from an earlier run, {} failed; {} distinct layer(s) written, {} verified, {} rebuilt; {} finding(s); {} written",
            done.images,
            done.kept,
            done.failed,
            done.layers,
            done.verified,
            done.rebuilt,
            done.findings,
            human(done.bytes),
        ));
    }
    if jobs.is_empty() && outcome == Outcome::Verified {
        bail!("no images found in {}", ctx.evidence.source);
    }
    if a.report {
        let run = opts.run.clone().unwrap_or_default();
        let mut r = docker_forensics::export::case_report::model::assemble(
            &ctx.evidence,
            &ctx.catalog,
            ctx.filter(),
            &run,
            &checked,
            not_read,
        );
        // A changed file is linked only where it was saved.
        for f in &mut r.integrity {
            f.saved = f.saved.take().filter(|s| out.join(s).is_file());
        }
        std::fs::create_dir_all(&out)
            .with_context(|| format!("{}: cannot create output directory", out.display()))?;
        let files = docker_forensics::export::case_report::write(&r, &out)?;
        say!("{}", files.html.display());
        say!("{}", files.case.display());
    }
    Ok(ctx.outcome(outcome))
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
    tell!(
        "{} {}: {} layer(s), {} verified, {} rebuilt, {} finding(s){}",
        short(&r.image_id),
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
            Some(i) => tell!("  layer {i}: {f}"),
            None => tell!("  {f}"),
        }
    }
    if all.len() > shown {
        tell!("  … {} more in report.json", all.len() - shown);
    }
}

pub fn images(g: &Global, a: &ListArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let rows = ctx.catalog.images(ctx.filter())?;
    if a.json {
        super::document::print(
            "images",
            &a.evidence,
            vec![("images", serde_json::to_value(&rows)?)],
        )?;
    } else {
        // Where rows come from more than one place, say which.
        let places: std::collections::BTreeSet<(&str, &docker_forensics::store::DataRootRef)> =
            rows.iter()
                .map(|r| (r.store.as_str(), &r.data_root))
                .collect();
        let many_roots = places
            .iter()
            .map(|p| p.1)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        let many_stores = rows.iter().any(|r| r.store != "docker");
        let store_col = |store: &str, root: &dyn std::fmt::Display| {
            let mut s = String::new();
            if many_stores {
                s.push_str(&format!("{store:<18} "));
            }
            if many_roots {
                s.push_str(&format!("{:<32} ", root.to_string()));
            }
            s
        };
        say!(
            "{}{:<14} {:<40} {:<21} {:>6} {:>10}  KIND",
            store_col("STORE", &"DATA ROOT"),
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
                (None, Some(false)) if !r.layers_known => "unknown".into(),
                (None, Some(false)) => "content-only".into(),
                (None, None) => String::new(),
            };
            let hex = hex_part(&r.id);
            say!(
                "{}{:<14} {:<40} {:<21} {:>6} {:>10}  {}{}",
                store_col(&r.store, &r.data_root),
                if hex.is_empty() {
                    "<unknown>".to_string()
                } else {
                    short(hex)
                },
                tags,
                r.created
                    .as_deref()
                    .map_or("-".into(), docker_forensics::time::to_seconds),
                if r.layers_known {
                    r.layers.to_string()
                } else {
                    "?".into()
                },
                r.size.map(human).unwrap_or_else(|| "-".into()),
                kind,
                r.error
                    .as_deref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let stores: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.store.as_str()).collect();
    ctx.summary(format_args!(
        "{} image(s) in {} store(s), {} unreadable",
        rows.len(),
        stores.len(),
        rows.iter().filter(|r| r.error.is_some()).count()
    ));
    let bad = rows.iter().any(|r| r.error.is_some() || !r.config_verified);
    Ok(ctx.outcome(if bad {
        Outcome::Findings
    } else {
        Outcome::Verified
    }))
}

pub fn verify(g: &Global, a: &VerifyArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let bars = bars(g);
    let mut opts = ctx.export_options(bars.as_ref());
    opts.rebuild = a.rebuild;
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for job in ctx.catalog.all_images(ctx.filter())? {
        match job {
            Ok(f) => found.push(f),
            Err((what, e)) => failed.push((what, e)),
        }
    }
    let mut all = verify_images(&found, &opts);
    for (what, e) in failed {
        let (id, store) = what.split_once(" in ").unwrap_or((what.as_str(), ""));
        // An image known only by name (its id unknown: a containerd
        // record whose target is not in the content store).
        let (id, name) = if id.starts_with("sha256:") {
            (id, None)
        } else {
            ("", Some(id.to_string()))
        };
        let mut v = VerifiedImage::failed(store, None, id, e.to_string());
        v.tags.extend(name);
        all.push(v);
    }
    if let Some(b) = &bars {
        b.clear();
    }
    let layers: std::collections::BTreeMap<&str, bool> = all
        .iter()
        .flat_map(|v| v.layers.iter().map(|l| (layer_key(l), l.verified)))
        .collect();
    let findings_n: usize = all.iter().map(|v| v.findings.len()).sum::<usize>()
        + all
            .iter()
            .flat_map(|v| &v.layers)
            .map(|l| (layer_key(l), l.findings.len()))
            .collect::<std::collections::BTreeMap<_, _>>()
            .values()
            .sum::<usize>();
    if a.json {
        super::document::print(
            "verify",
            &a.evidence,
            vec![
                ("images", serde_json::to_value(&all)?),
                (
                    "summary",
                    serde_json::json!({
                        "images": all.len(),
                        "distinct_layers": layers.len(),
                        "layers_verified": layers.values().filter(|v| **v).count(),
                        "findings": findings_n,
                    }),
                ),
            ],
        )?;
    } else {
        // A layer several images share is checked once: its findings are
        // said once, at the first image, with the images it affects.
        let mut sharing: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for v in &all {
            for l in &v.layers {
                sharing.entry(layer_key(l)).or_default().push(
                    v.tags
                        .first()
                        .cloned()
                        .unwrap_or_else(|| short(&v.image_id)),
                );
            }
        }
        let mut said = std::collections::BTreeSet::new();
        for v in &all {
            let name = v
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| "<untagged>".into());
            let status = if v.verified { "OK  " } else { "FAIL" };
            let id = if v.image_id.is_empty() {
                "<id unknown>".to_string()
            } else {
                short(&v.image_id)
            };
            if v.error.is_some() && v.layers.is_empty() {
                say!("{status} {id} {name} (not read)");
            } else {
                say!(
                    "{status} {id} {name} ({} layer{})",
                    v.layers.len(),
                    if v.layers.len() == 1 { "" } else { "s" }
                );
            }
            if let Some(e) = &v.error {
                say!("     {e}");
            }
            for f in &v.findings {
                say!("     {f}");
            }
            for l in v.layers.iter().filter(|l| !l.findings.is_empty()) {
                if !said.insert(layer_key(l)) {
                    say!(
                        "     layer {} ({}): {} finding(s), said above",
                        l.index,
                        short(layer_key(l)),
                        l.findings.len()
                    );
                    continue;
                }
                let users = &sharing[layer_key(l)];
                if users.len() > 1 {
                    say!(
                        "     layer {} ({}), shared by {}:",
                        l.index,
                        short(layer_key(l)),
                        users.join(", ")
                    );
                }
                for f in &l.findings {
                    say!("     layer {} ({}): {f}", l.index, short(layer_key(l)));
                }
            }
        }
    }
    ctx.summary(format_args!(
        "{} image(s), {} distinct layer(s) of which {} verified, {} finding(s)",
        all.len(),
        layers.len(),
        layers.values().filter(|v| **v).count(),
        findings_n,
    ));
    let failed = all.iter().any(|v| v.error.is_some());
    let findings = all.iter().any(|v| !v.verified);
    Ok(ctx.outcome(if failed {
        Outcome::Failed
    } else if findings {
        Outcome::Findings
    } else {
        Outcome::Verified
    }))
}

pub(super) fn human(n: u64) -> String {
    docker_forensics::export::decimal_size(n, "")
}

/// An image's directory name under `out`, as `image_dir` gives it.
fn dir_name(out: &Path, image: &docker_forensics::store::model::Image) -> Option<String> {
    image_dir(out, image)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// The first 12 hex characters of a digest, as `docker images` shows.
fn short(digest: &str) -> String {
    hex_part(digest).chars().take(12).collect()
}

/// What an `extract` run did, for its closing line.
#[derive(Default)]
struct Done {
    images: usize,
    kept: usize,
    failed: usize,
    layers: usize,
    verified: usize,
    rebuilt: usize,
    findings: usize,
    bytes: u64,
}

/// What names a layer in `verify`'s text: its diff_id, else (a pre-1.10
/// layer, which has none) its chain id, the v1 id.
fn layer_key(l: &docker_forensics::report::LayerReport) -> &str {
    if l.diff_id.is_empty() {
        &l.chain_id
    } else {
        &l.diff_id
    }
}
