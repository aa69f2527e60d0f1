//! `timeline`.

use super::Outcome;
use super::args::{Global, TimelineArgs};
use anyhow::{Result, bail};

pub fn run(_g: &Global, _a: &TimelineArgs) -> Result<Outcome> {
    bail!("timeline is not implemented yet")
}
