//! `containers`, `diff` and `export-container`.

use super::Outcome;
use super::args::{DiffArgs, ExportContainerArgs, Global, ListArgs};
use super::context::{check_output, clean_up_on_interrupt, hint, open};
use anyhow::Result;
use docker_forensics::export::{container_dir, export_container};
use docker_forensics::layer::diff::container_changes;

pub fn list(g: &Global, a: &ListArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let mut rows = Vec::new();
    let mut outcome = Outcome::Verified;
    for (store, c) in ctx.catalog.containers(ctx.filter()) {
        match c {
            Ok(c) => {
                for p in &c.problems {
                    tell!("note: container {}: {p}", c.id);
                }
                rows.push((store.place().describe(), c));
            }
            Err(e) => {
                tell!("docker-forensics: error: {e}");
                outcome = Outcome::Findings;
            }
        }
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(root, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("data_root".into(), root.clone().into());
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ctx.outcome(outcome));
    }
    say!(
        "{:<14} {:<20} {:<24} {:<10} {:>4} {:<21} {:<21} COMMAND",
        "CONTAINER ID",
        "NAME",
        "IMAGE",
        "STATE",
        "EXIT",
        "CREATED",
        "FINISHED"
    );
    for (_, c) in &rows {
        let cmd: Vec<String> = c
            .path
            .iter()
            .cloned()
            .chain(c.args.iter().cloned())
            .collect();
        // In UTC to the second, whatever offset the engine wrote.
        let short = |t: &Option<String>| {
            t.as_deref().map_or("-".into(), |t| {
                docker_forensics::time::to_seconds(t).into_owned()
            })
        };
        say!(
            "{:<14} {:<20} {:<24} {:<10} {:>4} {:<21} {:<21} {}",
            c.id.get(..12).unwrap_or(&c.id),
            c.name,
            c.image_ref
                .clone()
                .unwrap_or_else(|| c.image_id.chars().take(19).collect()),
            c.state,
            c.exit_code.map(|e| e.to_string()).unwrap_or_default(),
            short(&c.created),
            short(&c.finished),
            truncate(&cmd.join(" "), 60)
        );
    }
    Ok(ctx.outcome(outcome))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub fn diff(g: &Global, a: &DiffArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let found = ctx
        .catalog
        .find_container(&a.container, ctx.filter())
        .map_err(hint)?;
    let list = container_changes(found.store.fs(), &found.container)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for ch in &list {
            say!("{ch}");
        }
    }
    Ok(ctx.outcome(Outcome::Verified))
}

pub fn export(g: &Global, a: &ExportContainerArgs) -> Result<Outcome> {
    check_output(&a.evidence, &a.output_dir)?;
    let ctx = open(g, &a.evidence)?;
    let found = ctx
        .catalog
        .find_container(&a.container, ctx.filter())
        .map_err(hint)?;
    std::fs::create_dir_all(&a.output_dir).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot create output directory: {e}",
            a.output_dir.display()
        )
    })?;
    clean_up_on_interrupt(&a.output_dir);
    let mut opts = ctx.export_options(None);
    opts.force = a.force;
    opts.flat = a.flat;
    opts.naive_diff = a.naive_diff;
    opts.docker_version = a.docker_version.clone();
    let report = export_container(&ctx.catalog, &found, &a.output_dir, &opts)?;
    let c = &found.container;
    say!("{}", container_dir(&a.output_dir, c).display());
    if !g.quiet {
        tell!(
            "{} {}: {} change(s); committed image {}; {} log line(s); {} finding(s)",
            c.id.get(..12).unwrap_or(&c.id),
            c.name,
            report.diff.len(),
            report.committed_image_id.as_deref().unwrap_or("-"),
            report.log.as_ref().map_or(0, |l| l.lines),
            report.findings.len()
                + report
                    .image_layers
                    .iter()
                    .map(|l| l.findings.len())
                    .sum::<usize>()
        );
        for f in &report.findings {
            tell!("  {f}");
        }
    }
    Ok(ctx.outcome(if report.verified {
        Outcome::Verified
    } else {
        Outcome::Findings
    }))
}
