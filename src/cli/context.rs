//! What every command starts with: the evidence opened, its stores found,
//! the media-hash verdict, and progress bars. Commands import this; it
//! imports no command.

use super::Outcome;
use super::args::Global;
use super::progress::Bars;
use anyhow::Result;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::export::{ExportOptions, ProgressSink};
use docker_forensics::store::catalog::{Catalog, StoreFilter};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

/// Opened evidence and its stores.
pub struct Opened {
    pub evidence: Evidence,
    /// Every store: Docker, containerd, containers/storage.
    pub catalog: Catalog,
    /// `--verify-image` found the medium not matching its stored hash:
    /// whatever the command did, that is an integrity finding (exit 3).
    media_mismatch: bool,
    store: Option<String>,
    run: docker_forensics::export::RunRecord,
    started: std::time::Instant,
    quiet: bool,
}

impl Opened {
    /// Ends the command with its one summary line on stderr (unless
    /// `--quiet`): what it did, then how long it took.
    pub fn summary(&self, what: std::fmt::Arguments<'_>) {
        if !self.quiet {
            tell!(
                "summary: {what}, in {:.1} s",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// The stores `--store` selects.
    pub fn filter(&self) -> StoreFilter<'_> {
        StoreFilter(self.store.as_deref())
    }

    /// The command's outcome, made worse by a media mismatch.
    pub fn outcome(&self, o: Outcome) -> Outcome {
        if self.media_mismatch {
            o.worst(Outcome::Findings)
        } else {
            o
        }
    }

    /// How and where this run was made (for provenance records).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // used by `mount`
    pub fn run_record(&self) -> &docker_forensics::export::RunRecord {
        &self.run
    }

    /// Export options for this evidence.
    pub fn export_options(&self, bars: Option<&Arc<Bars>>) -> ExportOptions {
        ExportOptions {
            progress: bars.cloned().map(|b| b as Arc<dyn ProgressSink>),
            evidence: self.evidence.source.clone(),
            acquisition: self.evidence.acquisition.clone(),
            run: Some(self.run.clone()),
            ..Default::default()
        }
    }
}

/// Opens the evidence at `path` and finds its stores, saying on stderr
/// what was found (unless `--quiet`).
pub fn open(g: &Global, path: &Path) -> Result<Opened> {
    let started = std::time::Instant::now();
    let opts = OpenOptions {
        partition: g.partition.clone(),
        backing: g.backing.clone(),
        snapshot: g.snapshot.clone(),
    };
    let evidence = Evidence::open(path, &opts)?;
    if !g.quiet {
        if let Some(a) = &evidence.acquisition {
            tell!(
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
        for line in &evidence.image_info {
            tell!("image: {}", line);
        }
        for v in evidence.volumes.iter().filter(|v| !v.is_directory()) {
            tell!("volume: {} ({})", v.label, v.spec);
        }
        for n in &evidence.notes {
            tell!("note: {n}");
        }
    }
    let mut media_mismatch = false;
    let mut run = docker_forensics::export::RunRecord {
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        host: host_name(),
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        media_verification: None,
    };
    if g.verify_image {
        let bar = super::progress::media_bar(g.quiet);
        let hashed = evidence.verify_image(&|size, done| {
            if let Some(b) = &bar {
                b.set_length(size);
                b.set_position(done);
            }
        });
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        match hashed? {
            None => tell!(
                "--verify-image: {} is not a disk image; nothing to verify",
                evidence.source
            ),
            Some(v) => {
                let verdict = |m: Option<bool>| match m {
                    Some(true) => "matches the stored hash",
                    Some(false) => "DOES NOT match the stored hash",
                    None => "no stored hash",
                };
                tell!(
                    "media: {} bytes; MD5 {} ({}); SHA-1 {} ({}); SHA-256 {}",
                    v.size,
                    v.md5,
                    verdict(v.md5_matches),
                    v.sha1,
                    verdict(v.sha1_matches),
                    v.sha256
                );
                if let Some(n) = v.allocated {
                    tell!(
                        "media: {n} bytes of it stored as data in the image file (not zeros, not a backing file's)"
                    );
                }
                media_mismatch = v.md5_matches == Some(false) || v.sha1_matches == Some(false);
                run.media_verification = Some(v);
            }
        }
    }
    let docker_root = g.docker_root.as_deref().map(evidence_path);
    let catalog = Catalog::discover(&evidence, docker_root.as_deref()).map_err(hint)?;
    if !g.quiet {
        for line in catalog.describe() {
            tell!("{line}");
        }
        for p in &catalog.problems {
            tell!("note: {p}");
        }
    }
    if let Some(wanted) = &g.store {
        let labels = catalog.labels();
        let filter = StoreFilter(Some(wanted));
        if !labels.iter().any(|l| filter.accepts(l)) {
            return Err(super::UsageError(format!(
                "--store {wanted}: no such store in this evidence; stores here: {}",
                labels.into_iter().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    Ok(Opened {
        evidence,
        catalog,
        media_mismatch,
        store: g.store.clone(),
        run,
        started,
        quiet: g.quiet,
    })
}

/// The library names no flags; the command line says which one helps.
pub fn hint(e: docker_forensics::store::StoreError) -> anyhow::Error {
    use docker_forensics::store::StoreError;
    match &e {
        StoreError::NoDataRoot { .. } => anyhow::anyhow!("{e}; name one with --docker-root"),
        StoreError::AmbiguousImage { .. } | StoreError::AmbiguousContainer { .. } => {
            anyhow::anyhow!("{e}; choose one with --store (or --docker-root)")
        }
        _ => e.into(),
    }
}

/// Progress bars, when stderr is a terminal and not `--quiet`.
pub fn bars(g: &Global) -> Option<Arc<Bars>> {
    (!g.quiet && std::io::stderr().is_terminal()).then(|| Arc::new(Bars::new()))
}

/// Refuses an output directory inside the evidence tree (symlinks
/// resolved), before anything is created: the evidence is never written.
pub fn check_output(evidence: &Path, out: &Path) -> Result<()> {
    Ok(docker_forensics::export::check_output_outside(
        evidence, out,
    )?)
}

/// On SIGINT or SIGTERM while writing into `out`: remove what this run
/// was still writing there (only its own `.partial-<pid>` directories),
/// say so, and exit with 130. What was finished stays, complete.
pub fn clean_up_on_interrupt(out: &Path) {
    remove_stale_partials(out);
    #[cfg(unix)]
    remove_partials_on_signal(out);
}

/// Where signals are caught (Unix): the thread that removes this run's
/// partial directories on SIGINT/SIGTERM. Elsewhere a run stopped by
/// Ctrl-C leaves `.partial-` directories, which the next run removes.
#[cfg(unix)]
fn remove_partials_on_signal(out: &Path) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let out = out.to_path_buf();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let mine = format!(
                "{}{}",
                docker_forensics::export::PARTIAL,
                std::process::id()
            );
            // No directory is started or renamed into place from now on;
            // what writers still have in hand is removed until none is
            // left (a writer may add a file while one is being removed).
            docker_forensics::export::stop_new_outputs();
            let mut removed = 0;
            let mut clean_scans = 0;
            for _ in 0..100 {
                let mut left = 0;
                if let Ok(entries) = std::fs::read_dir(&out) {
                    for e in entries.flatten() {
                        if e.file_name().to_string_lossy().ends_with(&mine) {
                            if std::fs::remove_dir_all(e.path()).is_ok() {
                                removed += 1;
                            } else {
                                left += 1;
                            }
                        }
                    }
                }
                // Two scans in a row with nothing left: a writer that
                // was past its check when the flag was set has shown up.
                clean_scans = if left == 0 { clean_scans + 1 } else { 0 };
                if clean_scans >= 2 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            tell!(
                "docker-forensics: interrupted (signal {sig}); removed {removed} unfinished output director{}; the directories listed above are complete",
                if removed == 1 { "y" } else { "ies" }
            );
            std::process::exit(130);
        }
    });
}

/// Removes the unfinished directories a killed run left in `out`
/// (`.<name>.partial-<pid>` of a process that no longer runs).
fn remove_stale_partials(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, pid)) = name.rsplit_once(docker_forensics::export::PARTIAL) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if name.starts_with('.') && !alive && std::fs::remove_dir_all(e.path()).is_ok() {
            tell!("removed {name}, left unfinished by an earlier run");
        }
    }
}

/// The examiner's machine, for the report.
#[cfg(unix)]
fn host_name() -> Option<String> {
    rustix::system::uname()
        .nodename()
        .to_str()
        .ok()
        .map(String::from)
}

/// The examiner's machine, for the report.
#[cfg(not(unix))]
fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// A path inside the evidence as an examiner on any OS may type it:
/// `/var/lib/docker`, `\var\lib\docker` or `C:\var\lib\docker` (the
/// evidence is a Linux filesystem: a backslash there is taken as a
/// separator only when the path has no `/`, a drive letter is dropped).
pub fn evidence_path(typed: &str) -> String {
    if typed.contains('/') || !typed.contains('\\') {
        return typed.to_string();
    }
    let bytes = typed.as_bytes();
    let rest = if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        &typed[2..]
    } else {
        typed
    };
    rest.replace('\\', "/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_spellings_of_an_evidence_path() {
        use super::evidence_path as p;
        assert_eq!(p("/var/lib/docker"), "/var/lib/docker");
        assert_eq!(p("\\var\\lib\\docker"), "/var/lib/docker");
        assert_eq!(p("C:\\var\\lib\\docker"), "/var/lib/docker");
        assert_eq!(p("srv\\docker"), "srv/docker");
        assert_eq!(p("odd\\name/x"), "odd\\name/x");
    }
}
