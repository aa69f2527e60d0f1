//! Container logs, rendered as `time stream message` lines; lines that do
//! not parse are counted and skipped.
//!
//! - Docker's `json-file` (moby `daemon/logger/jsonfilelog`): one JSON
//!   object per line, `{"log": "...", "stream": "stdout", "time": "RFC
//!   3339 with nanoseconds"}`;
//! - CRI and Podman's "k8s-file" (kubernetes `pkg/kubelet/kuberuntime/
//!   logs`): `<RFC 3339 time> <stream> <P|F> <message>`, partial (`P`)
//!   lines joined with what follows.

use serde::Deserialize;
use std::io::{self, BufRead, Write};

/// Longest line accepted; longer ones are counted as broken.
const LINE_LIMIT: usize = 16 << 20;

#[derive(Deserialize)]
struct Line {
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
}

/// What was read from a log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogSummary {
    pub lines: u64,
    pub broken_lines: u64,
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub first_time: Option<String>,
    #[serde(serialize_with = "crate::time::serialize_utc")]
    pub last_time: Option<String>,
}

/// Renders a json-file log from `input` to `out`.
pub fn render(input: impl BufRead, mut out: impl Write) -> io::Result<LogSummary> {
    let mut s = LogSummary::default();
    for_each(
        input,
        |time, stream, msg| {
            writeln!(out, "{time} {stream} {msg}")?;
            Ok(())
        },
        &mut s,
    )?;
    out.flush()?;
    Ok(s)
}

/// Reads a log only for its summary (line counts, first and last times).
pub fn summarise(input: impl BufRead) -> io::Result<LogSummary> {
    let mut s = LogSummary::default();
    for_each(input, |_, _, _| Ok(()), &mut s)?;
    Ok(s)
}

fn for_each(
    mut input: impl BufRead,
    mut each: impl FnMut(&str, &str, &str) -> io::Result<()>,
    s: &mut LogSummary,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = io::Read::take(&mut input, LINE_LIMIT as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.len() > LINE_LIMIT {
            s.broken_lines += 1;
            // Skip the rest of the over-long line.
            while !buf.ends_with(b"\n") {
                buf.clear();
                if io::Read::take(&mut input, LINE_LIMIT as u64).read_until(b'\n', &mut buf)? == 0 {
                    break;
                }
            }
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&buf) {
            Ok(l) => {
                s.lines += 1;
                if s.first_time.is_none() {
                    s.first_time = Some(l.time.clone());
                }
                s.last_time = Some(l.time.clone());
                each(
                    &l.time,
                    &l.stream,
                    l.log.strip_suffix('\n').unwrap_or(&l.log),
                )?;
            }
            Err(_) => s.broken_lines += 1,
        }
    }
    Ok(())
}

/// Renders a log of `format`.
pub fn render_as(
    format: crate::store::model::LogFormat,
    input: impl BufRead,
    out: impl Write,
) -> io::Result<LogSummary> {
    match format {
        crate::store::model::LogFormat::JsonFile => render(input, out),
        crate::store::model::LogFormat::K8sFile => render_k8s_file(input, out),
    }
}

/// Renders a k8s-file log: `time stream P|F message`; `P` lines are
/// parts of one longer line and are joined with what follows.
pub fn render_k8s_file(input: impl BufRead, mut out: impl Write) -> io::Result<LogSummary> {
    let mut s = LogSummary::default();
    let mut partial = String::new();
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(_) => {
                s.broken_lines += 1;
                continue;
            }
        };
        let mut parts = line.splitn(4, ' ');
        let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            s.broken_lines += 1;
            continue;
        };
        if chrono::DateTime::parse_from_rfc3339(time).is_err() || !matches!(tag, "P" | "F") {
            s.broken_lines += 1;
            continue;
        }
        partial.push_str(parts.next().unwrap_or(""));
        if tag == "P" {
            continue;
        }
        s.lines += 1;
        s.first_time.get_or_insert_with(|| time.to_string());
        s.last_time = Some(time.to_string());
        writeln!(out, "{time} {stream} {partial}")?;
        partial.clear();
    }
    out.flush()?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lines_and_counts_broken_ones() {
        let log = b"{\"log\":\"started\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.1Z\"}\n{\"log\":\"tru\n{\"log\":\"done\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:01Z\"}\n";
        let mut out = Vec::new();
        let s = render(&log[..], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-01-01T00:00:00.1Z stdout started\n2026-01-01T00:00:01Z stderr done\n"
        );
        assert_eq!((s.lines, s.broken_lines), (2, 1));
        assert_eq!(s.last_time.as_deref(), Some("2026-01-01T00:00:01Z"));
    }
}
