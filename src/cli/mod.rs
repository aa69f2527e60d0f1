//! The command line: parses arguments, runs a command, maps outcomes to
//! exit codes (0 verified, 1 failed, 2 usage, 3 integrity findings).

/// Prints one line to stdout with every control character from the
/// evidence shown as an escape (see `docker_forensics::escape`): a
/// suspect's names never reach the terminal raw, nor forge a line.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::cli::out::line(&docker_forensics::escape::visible(&format!($($t)*)))
    };
}

/// The same on stderr.
macro_rules! tell {
    ($($t:tt)*) => {
        eprintln!("{}", docker_forensics::escape::visible(&format!($($t)*)))
    };
}

mod args;
mod containers;
mod context;
mod document;
mod images;
#[cfg(target_os = "linux")]
mod mount;
pub mod out;
mod progress;
mod report;
mod timeline;

pub use args::{Cli, with_default_command};

use args::Command;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let g = &cli.global;
    if let Some(file) = &g.output {
        out::to_file(file, &cli.command.evidence())?;
    }
    let outcome = match &cli.command {
        Command::Extract(a) => images::extract(g, a),
        Command::Images(a) => images::images(g, a),
        Command::Verify(a) => images::verify(g, a),
        Command::Containers(a) => containers::list(g, a),
        Command::Diff(a) => containers::diff(g, a),
        Command::ExportContainer(a) => containers::export(g, a),
        Command::Timeline(a) => timeline::run(g, a),
        Command::Report(a) => report::run(g, a),
        #[cfg(target_os = "linux")]
        Command::Mount(a) => mount::run(g, a),
        #[cfg(not(target_os = "linux"))]
        Command::Mount(_) => Err(UsageError(
            "mount needs Linux's FUSE; on this OS use extract or export-container".into(),
        )
        .into()),
    };
    out::finish();
    // Interrupted: the signal thread removes what is unfinished and ends
    // the process with 130; the run's own end must not come first.
    while docker_forensics::export::is_stopping() {
        std::thread::park();
    }
    outcome
}

/// A command line that names the wrong things (exit 2, as clap's own
/// usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit statuses, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Verified = 0,
    Findings = 3,
    Failed = 1,
}

impl Outcome {
    /// The worse of two outcomes (a failure outranks findings).
    pub fn worst(self, other: Outcome) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Verified => 0,
            Outcome::Findings => 1,
            Outcome::Failed => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}
