//! Where results go: stdout, or the file `--output` names (so that a shell
//! that re-encodes what it redirects — Windows PowerShell 5.1 writes UTF-16
//! — never touches them). Results are UTF-8 on every OS. A reader that goes
//! away (`| head`) ends the run quietly, as a Unix tool ends on SIGPIPE,
//! on every OS.

use anyhow::{Context, Result};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static OUT: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

/// Sends results to `file` (created; an existing file is refused, as is
/// one inside the evidence) instead of stdout.
pub fn to_file(file: &Path, evidence: &Path) -> Result<()> {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    docker_forensics::export::check_output_outside(evidence, dir)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .with_context(|| {
            format!(
                "{}: cannot create the --output file (it must not exist yet)",
                file.display()
            )
        })?;
    let _ = OUT.set(Mutex::new(Box::new(io::BufWriter::new(f))));
    Ok(())
}

fn with_out(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    let r = match OUT.get() {
        Some(m) => match m.lock() {
            Ok(mut w) => f(&mut **w),
            Err(_) => Err(io::Error::other("output lock poisoned")),
        },
        None => f(&mut io::stdout().lock()),
    };
    if let Err(e) = r {
        gone(&e);
    }
}

/// Ends the process when the reader of stdout has gone; says any other
/// write error once and ends with status 1.
fn gone(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("docker-forensics: error: writing the results: {e}");
    std::process::exit(1);
}

/// Writes one line of results.
pub fn line(text: &str) {
    with_out(|w| {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    });
}

/// A writer into the results, for commands that stream them (timeline).
pub struct Results;

impl Write for Results {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut n = 0;
        with_out(|w| {
            n = w.write(buf)?;
            Ok(())
        });
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        with_out(|w| w.flush());
        Ok(())
    }
}

/// Flushes what is buffered (the `--output` file) before the process ends.
pub fn finish() {
    with_out(|w| w.flush());
}
