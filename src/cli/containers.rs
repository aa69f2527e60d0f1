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
    let mut unreadable = 0usize;
    for (store, c) in ctx.catalog.containers(ctx.filter()) {
        match c {
            Ok(c) => {
                for p in &c.problems {
                    tell!("note: container {}: {p}", c.id);
                }
                rows.push((store.place().data_root(), c));
            }
            Err(e) => {
                tell!("docker-forensics: error: {e}");
                outcome = Outcome::Findings;
                unreadable += 1;
            }
        }
    }
    let stores: std::collections::BTreeSet<&str> =
        rows.iter().map(|(_, c)| c.store.as_str()).collect();
    let summary = || {
        ctx.summary(format_args!(
            "{} container(s) in {} store(s), {} unreadable",
            rows.len(),
            stores.len(),
            unreadable
        ))
    };
    if a.json {
        let mut list = Vec::new();
        for (root, c) in &rows {
            let mut v = serde_json::to_value(c)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("data_root".into(), serde_json::to_value(root)?);
            }
            list.push(v);
        }
        super::document::print(
            "containers",
            &a.evidence,
            vec![("containers", serde_json::Value::Array(list))],
        )?;
        summary();
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
        let cmd = c.command_line();
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
    // Where the host kept its data root, when that is not where the
    // evidence has it (a root in /tmp, a disk mounted elsewhere).
    let mut said: Vec<(&docker_forensics::store::DataRootRef, &String)> = Vec::new();
    for (root, c) in &rows {
        if let Some(r) = &c.recorded_data_root
            && !said.iter().any(|(a, b)| *a == root && *b == r)
        {
            if root.path.trim_start_matches('/') != r.trim_start_matches('/') {
                tell!("note: data root {root}: its containers recorded it as {r} on the host");
            }
            said.push((root, r));
        }
    }
    summary();
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
    let count = |k: char| list.iter().filter(|c| c.kind == k).count();
    ctx.summary(format_args!(
        "{} change(s): {} added, {} changed, {} deleted",
        list.len(),
        count('A'),
        count('C'),
        count('D')
    ));
    if a.json {
        super::document::print(
            "diff",
            &a.evidence,
            vec![
                ("container_id", found.container.id.clone().into()),
                ("store", found.container.store.clone().into()),
                (
                    "data_root",
                    serde_json::to_value(found.store.place().data_root())?,
                ),
                ("changes", serde_json::to_value(&list)?),
            ],
        )?;
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
    let written: u64 = std::fs::read_dir(container_dir(&a.output_dir, c))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    ctx.summary(format_args!(
        "1 container exported, {} change(s), {} image layer(s) of which {} verified, {} finding(s), {} written",
        report.diff.len(),
        report.image_layers.len(),
        report.image_layers.iter().filter(|l| l.verified).count(),
        report.findings.len()
            + report
                .image_layers
                .iter()
                .map(|l| l.findings.len())
                .sum::<usize>(),
        super::images::human(written)
    ));
    Ok(ctx.outcome(if report.verified {
        Outcome::Verified
    } else {
        Outcome::Findings
    }))
}
