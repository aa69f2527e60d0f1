//! The `docker-forensics` command.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output
    // goes away (`docker-forensics images X | head`) instead of failing
    // on every later write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any
    // thread is started has no memory-safety implications.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::with_default_command(std::env::args_os().collect());
    let parsed = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors
            // to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    match cli::run(parsed) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(e) => {
            let code = if e.downcast_ref::<cli::UsageError>().is_some() {
                2
            } else {
                1
            };
            eprintln!(
                "docker-forensics: error: {}",
                docker_forensics::escape::visible(&one_line(&e))
            );
            ExitCode::from(code)
        }
    }
}

/// The error and its causes on one line, each cause said once: many
/// errors already quote their source in their own message.
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}
