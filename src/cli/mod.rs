//! The command line: parses arguments, runs a command, maps outcomes to
//! exit codes (0 verified, 1 failed, 2 usage, 3 integrity findings).

mod args;
mod commands;
mod containers;
mod progress;
mod timeline;

pub use args::{Cli, with_default_command};
pub use commands::run;

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
