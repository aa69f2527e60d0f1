//! `containers`, `diff` and `export-container`.

use super::Outcome;
use super::args::{DiffArgs, ExportContainerArgs, Global, ListArgs};
use super::commands::{Opened, open};
use anyhow::{Result, bail};
use docker_forensics::export::container::{container_dir, export_container};
use docker_forensics::export::other_container::{export_other_container, other_container_dir};
use docker_forensics::layer::diff::changes;
use docker_forensics::store::StoreError;
use docker_forensics::store::docker::DataRoot;
use docker_forensics::store::model::Container;

pub fn list(g: &Global, a: &ListArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let mut rows = Vec::new();
    let mut outcome = Outcome::Verified;
    for root in &ctx.roots {
        for id in root.container_ids()? {
            match root.load_container(&id) {
                Ok(c) => rows.push((root.describe(), c)),
                Err(e) => {
                    eprintln!("docker-forensics: error: container {id}: {e}");
                    outcome = Outcome::Findings;
                }
            }
        }
    }
    for oc in ctx.catalog.other_containers() {
        if g.store.as_deref().is_some_and(|s| {
            oc.container.store != s && !oc.container.store.starts_with(&format!("{s}/"))
        }) {
            continue;
        }
        let mut c = oc.to_model();
        for p in &oc.container.problems {
            eprintln!("note: container {}: {p}", c.id);
        }
        c.log_path = oc.container.log.as_ref().map(|l| l.display());
        rows.push((oc.data_root.clone(), c));
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
        return Ok(outcome);
    }
    println!(
        "{:<14} {:<20} {:<24} {:<10} {:>4} {:<21} {:<21} COMMAND",
        "CONTAINER ID", "NAME", "IMAGE", "STATE", "EXIT", "CREATED", "FINISHED"
    );
    for (_, c) in &rows {
        let cmd: Vec<String> = c
            .path
            .iter()
            .cloned()
            .chain(c.args.iter().cloned())
            .collect();
        let short = |t: &Option<String>| {
            t.as_deref()
                .map(|t| t.get(..19).unwrap_or(t).to_string())
                .unwrap_or_else(|| "-".into())
        };
        println!(
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
    Ok(outcome)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Finds a container in any data root.
pub(super) fn find(ctx: &Opened, name: &str) -> Result<(DataRoot, Container)> {
    let mut hits = Vec::new();
    let mut last = None;
    for root in &ctx.roots {
        match root.resolve_container(name) {
            Ok(c) => hits.push((root.clone(), c)),
            Err(e @ StoreError::UnknownImage { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(last
            .map(anyhow::Error::from)
            .unwrap_or_else(|| anyhow::anyhow!("container {name}: no such container"))),
        _ => bail!("container {name}: found in several data roots; choose one with --docker-root"),
    }
}

pub fn diff(g: &Global, a: &DiffArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    if (g.store.as_deref().is_some_and(|s| s != "docker") || find(&ctx, &a.container).is_err())
        && let Some(list) = other_diff(&ctx, g, &a.container)?
    {
        print_changes(&list, a.json)?;
        return Ok(Outcome::Verified);
    }
    let (root, c) = find(&ctx, &a.container)?;
    let layers = root.container_layers(&c)?;
    let list = match &layers.upper {
        // A created container has an empty writable layer.
        Some(upper) if root.fs().exists(upper) => changes(root.fs(), upper, &layers.lowers)?,
        Some(upper) if c.state == "created" => {
            let _ = upper;
            Vec::new()
        }
        Some(upper) => bail!("container {}: writable layer {upper} is missing", c.name),
        None if c.state == "created" => Vec::new(),
        None => bail!(
            "container {}: the layer store has no record of its writable layer (layerdb/mounts/{}/mount-id)",
            c.name,
            c.id
        ),
    };
    print_changes(&list, a.json)?;
    Ok(Outcome::Verified)
}

fn print_changes(list: &[docker_forensics::layer::diff::Change], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(list)?);
    } else {
        for ch in list {
            println!("{ch}");
        }
    }
    Ok(())
}

/// `diff` of a containerd or containers/storage container, if one
/// matches (`None` when none does).
fn other_diff(
    ctx: &Opened,
    g: &Global,
    name: &str,
) -> Result<Option<Vec<docker_forensics::layer::diff::Change>>> {
    let all = ctx.catalog.other_containers();
    let in_store = |s: &str| {
        g.store
            .as_deref()
            .is_none_or(|w| s == w || s.starts_with(&format!("{w}/")))
    };
    let mut hits: Vec<_> = all
        .iter()
        .filter(|c| in_store(&c.container.store) && c.matches(name))
        .collect();
    if hits.is_empty() {
        hits = all
            .iter()
            .filter(|c| {
                in_store(&c.container.store) && name.len() >= 4 && c.container.id.starts_with(name)
            })
            .collect();
    }
    match hits.len() {
        0 => Ok(None),
        1 => {
            let oc = hits[0];
            let c = &oc.container;
            let Some(upper) = c.writable_dir.as_ref().filter(|d| oc.fs.exists(d)) else {
                if c.state.as_deref() == Some("created") {
                    return Ok(Some(Vec::new()));
                }
                bail!(
                    "container {name} ({}): its writable layer is missing{}",
                    c.store,
                    c.writable_dir
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            };
            // The store lists the image's layers lowest first.
            let lowers: Vec<_> = c.parent_dirs.iter().rev().cloned().collect();
            let mut list = changes(oc.fs, upper, &lowers)?;
            if c.store == "podman" {
                // `podman diff` leaves out what the runtime itself puts in
                // every container (libpod `diff.go`, `initInodes`).
                const RUNTIME_PATHS: &[&str] = &[
                    "/dev",
                    "/etc/hostname",
                    "/etc/hosts",
                    "/etc/resolv.conf",
                    "/proc",
                    "/run",
                    "/run/notify",
                    "/run/.containerenv",
                    "/run/secrets",
                    "/sys",
                    "/etc/mtab",
                ];
                list.retain(|ch| !RUNTIME_PATHS.contains(&ch.path.as_str()));
            }
            Ok(Some(list))
        }
        _ => bail!(
            "container {name}: ambiguous, it matches {}; choose with --store",
            hits.iter()
                .map(|h| format!("{} in {}", h.container.id, h.container.store))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn export(g: &Global, a: &ExportContainerArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    if (g.store.as_deref().is_some_and(|s| s != "docker") || find(&ctx, &a.container).is_err())
        && let Some(changes) = other_diff(&ctx, g, &a.container)?
    {
        let all = ctx.catalog.other_containers();
        let oc = all
            .iter()
            .find(|c| {
                c.matches(&a.container)
                    || (a.container.len() >= 4 && c.container.id.starts_with(&a.container))
            })
            .ok_or_else(|| anyhow::anyhow!("container {}: no such container", a.container))?;
        std::fs::create_dir_all(&a.output_dir).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot create output directory: {e}",
                a.output_dir.display()
            )
        })?;
        let opts = docker_forensics::export::ExportOptions {
            force: a.force,
            evidence: ctx.evidence.source.clone(),
            acquisition: ctx.evidence.acquisition.clone(),
            ..Default::default()
        };
        let report = export_other_container(&ctx.catalog, oc, &changes, &a.output_dir, &opts)?;
        println!("{}", other_container_dir(&a.output_dir, oc).display());
        if !g.quiet {
            for f in &report.findings {
                eprintln!("  {f}");
            }
        }
        return Ok(if report.verified {
            Outcome::Verified
        } else {
            Outcome::Findings
        });
    }
    let (root, c) = find(&ctx, &a.container)?;
    std::fs::create_dir_all(&a.output_dir).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot create output directory: {e}",
            a.output_dir.display()
        )
    })?;
    let report = export_container(&root, &c, &a.output_dir, a.force, &ctx.evidence.source)?;
    println!("{}", container_dir(&a.output_dir, &c).display());
    if !g.quiet {
        eprintln!(
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
            eprintln!("  {f}");
        }
    }
    Ok(if report.verified {
        Outcome::Verified
    } else {
        Outcome::Findings
    })
}
