//! `report`: the case report (`report.html`, `case.jsonld`).

use super::Outcome;
use super::args::{Global, ReportArgs};
use super::context::{bars, check_output, open};
use anyhow::{Context, Result};
use docker_forensics::export::case_report;

pub fn run(g: &Global, a: &ReportArgs) -> Result<Outcome> {
    check_output(&a.evidence, &a.output_dir)?;
    let ctx = open(g, &a.evidence)?;
    let bars = bars(g);
    let mut opts = ctx.export_options(bars.as_ref());
    opts.rebuild = a.rebuild;
    let run = opts
        .run
        .clone()
        .unwrap_or_else(|| docker_forensics::export::RunRecord {
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            host: None,
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            media_verification: None,
        });
    let report = case_report::build(&ctx.evidence, &ctx.catalog, ctx.filter(), &run, &opts);
    if let Some(b) = &bars {
        b.clear();
    }
    std::fs::create_dir_all(&a.output_dir)
        .with_context(|| format!("{}: cannot create output directory", a.output_dir.display()))?;
    let files = case_report::write(&report, &a.output_dir)?;
    say!("{}", files.html.display());
    say!("{}", files.case.display());
    for p in &report.problems {
        tell!("docker-forensics: warning: {p}");
    }
    if !g.quiet {
        for f in &report.integrity {
            tell!(
                "  finding: {} layer {}: {}{}",
                f.image,
                f.layer.map_or_else(|| "-".into(), |l| l.to_string()),
                f.path
                    .as_deref()
                    .map_or_else(String::new, |p| format!("{p}: ")),
                f.detail
            );
        }
    }
    ctx.summary(format_args!(
        "{} image(s), {} container(s), {} integrity finding(s), {} container concern(s), {} event(s)",
        report.images.len(),
        report.containers.len(),
        report.integrity.len(),
        report.concerns.len(),
        report.events.len()
    ));
    Ok(
        ctx.outcome(if !report.problems.is_empty() && report.images.is_empty() {
            Outcome::Failed
        } else if report.integrity.is_empty() {
            Outcome::Verified
        } else {
            Outcome::Findings
        }),
    )
}
