//! `timeline`.

use super::Outcome;
use super::args::{Global, TimelineArgs, TimelineFormat};
use super::context::{hint, open};
use anyhow::Result;
use docker_forensics::export::timeline::{Filter, Format, TimelineError, write_timeline};

pub fn run(g: &Global, a: &TimelineArgs) -> Result<Outcome> {
    let ctx = open(g, &a.evidence)?;
    let filter = Filter {
        image: a.image.clone(),
        container: a.container.clone(),
        store: g.store.clone(),
    };
    let format = match a.format {
        TimelineFormat::Bodyfile => Format::Bodyfile,
        TimelineFormat::Csv => Format::Csv,
        TimelineFormat::Jsonl => Format::Jsonl,
    };
    let s = match write_timeline(&ctx.catalog, &filter, format, super::out::Results) {
        Ok(s) => s,
        // The reader (`| head`) has seen enough.
        Err(TimelineError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            return Ok(Outcome::Verified);
        }
        Err(TimelineError::Store(e)) => return Err(hint(e)),
        Err(e) => return Err(e.into()),
    };
    for p in &s.problems {
        tell!("docker-forensics: warning: {p}");
    }
    ctx.summary(format_args!(
        "{} file(s) in {} layer(s) and {} container(s), {} event(s), {} warning(s)",
        s.files,
        s.layers,
        s.containers,
        s.events,
        s.problems.len()
    ));
    Ok(ctx.outcome(if s.problems.is_empty() {
        Outcome::Verified
    } else {
        Outcome::Findings
    }))
}
