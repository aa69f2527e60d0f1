//! A Dockerfile reconstructed from an image config's `history`, in array
//! order (the build order; never sorted by time), with the config fields
//! the history does not show filled in at the end.
//!
//! History `created_by` forms, as written by moby's classic builder
//! (`builder/dockerfile/dispatchers.go`, `internals.go`) and by BuildKit's
//! Dockerfile frontend (`frontend/dockerfile/dockerfile2llb/convert.go`),
//! checked against images built by a real dockerd 20.10:
//! - classic metadata steps: `<shell> #(nop)  <INSTRUCTION> <args>`, where
//!   `<shell>` is the shell in effect (`/bin/sh -c` by default, `cmd /S /C`
//!   on Windows, whatever the last `SHELL` set otherwise; a `SHELL` step
//!   itself already carries its new shell). `CMD`, `ENTRYPOINT` and
//!   `HEALTHCHECK` are Go `%q` dumps (`CMD ["a" "b"]`,
//!   `HEALTHCHECK &{["CMD-SHELL" "x"] "30s" "3s" "0s" '\x02'}`, with a
//!   fifth duration, start interval, from moby 25 on); `SHELL` and `VOLUME`
//!   are `%v` dumps (`SHELL [/bin/sh -e -c]`, `VOLUME [/data]`); `COPY` and
//!   `ADD` are `COPY file:<hash> in <dest> `;
//! - classic `RUN`: `<shell> <command>`, with build args in use as
//!   `|2 A=1 B=2 <shell> <command>`; an exec-form `RUN` records its
//!   arguments joined by spaces, with no shell;
//! - BuildKit: the instruction first, `# buildkit` after the steps that
//!   made a layer: `RUN |2 A=1 B=2 /bin/sh -c <command> # buildkit`,
//!   `COPY --from=build /a /b # buildkit`, `ADD … # buildkit`, and the same
//!   Go dumps as the classic builder for `CMD`, `SHELL`, `VOLUME`,
//!   `HEALTHCHECK`, with `EXPOSE map[53/udp:{} 8080/tcp:{}]`. BuildKit
//!   records neither `RUN --mount=…` flags nor `ONBUILD` steps (the
//!   latter are filled in from the config at the end); flags that are
//!   recorded are kept;
//! - `docker import` and base layers: an empty `created_by`.
//!
//! Every text from the evidence goes through [`one_line`], so no history
//! entry can end its line and start an instruction of its own.

use crate::store::model::{ImageConfig, RunConfig};
use std::fmt::Write as _;

/// Renders the Dockerfile for `config` (id and tags for the header).
pub fn reconstruct(id: &str, tags: &[String], config: &ImageConfig) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Reconstructed by docker-forensics {} from the config of image {}",
        env!("CARGO_PKG_VERSION"),
        one_line(id)
    );
    if !tags.is_empty() {
        let _ = writeln!(out, "# Tags: {}", one_line(&tags.join(", ")));
    }
    out.push_str(
        "# This is a reconstruction from the image's build history, not the original file:\n\
         # COPY/ADD sources, build arguments' defaults and comments are not recorded in an image.\n\
         # Each step is annotated with its creation time and the layer it produced (diff_id).\n\n",
    );
    let diff_ids = &config.rootfs.diff_ids;
    let mut layer = 0usize;
    let mut seen: Vec<String> = Vec::new();
    let run_config = config.config.as_ref();
    let mut shells = Walk::new(
        config.os.as_deref(),
        run_config.and_then(|c| c.shell.as_ref()),
    )
    .with_keys(run_config);
    out.push_str("FROM scratch\n");
    for (i, h) in config.history.iter().enumerate() {
        let created = one_line(h.created.as_deref().unwrap_or("unknown time"));
        let layer_note = if h.empty_layer {
            "no layer".to_string()
        } else {
            let note = match diff_ids.get(layer) {
                Some(d) => format!("layer {layer} {}", one_line(d)),
                None => format!("layer {layer} (not in rootfs.diff_ids)"),
            };
            layer += 1;
            note
        };
        let _ = writeln!(out, "\n# step {}: created {created}; {layer_note}", i + 1);
        if let Some(c) = h.comment.as_deref().filter(|c| !c.is_empty()) {
            let _ = writeln!(out, "# comment: {}", one_line(c));
        }
        let by = h.created_by.as_deref().unwrap_or("").trim();
        let instruction = if by.is_empty() {
            if h.empty_layer {
                "# (no instruction recorded)".to_string()
            } else {
                format!(
                    "ADD layer_{layer}/layer.tar /    # base or imported layer (docker import / FROM): the layer as exported here",
                    layer = layer.saturating_sub(1)
                )
            }
        } else {
            instruction(by, &mut shells)
        };
        if let Some(kw) = instruction.split_whitespace().next() {
            seen.push(kw.to_ascii_uppercase());
        }
        out.push_str(&instruction);
        out.push('\n');
    }
    if layer < diff_ids.len() {
        let _ = writeln!(
            out,
            "\n# {} layer(s) without a history entry:",
            diff_ids.len() - layer
        );
        for (i, d) in diff_ids.iter().enumerate().skip(layer) {
            let _ = writeln!(
                out,
                "# layer {i} {}\nADD layer_{i}/layer.tar /",
                one_line(d)
            );
        }
    }
    let missing = missing_from_history(config.config.as_ref(), &seen);
    if !missing.is_empty() {
        out.push_str("\n# Set in the image config but not shown by its history:\n");
        for m in missing {
            out.push_str(&m);
            out.push('\n');
        }
    }
    out
}

/// What walking the history in order knows: the shells its lines may
/// carry, and the names its `ENV` and `LABEL` pairs start with.
#[derive(Debug, Clone)]
struct Walk {
    /// The shell in effect (the last `SHELL`, else the platform default).
    current: String,
    /// Every shell seen so far, and the defaults: a `#(nop)` prefix from
    /// one of them is still a metadata step (a base image's history may
    /// have been cut, or a step committed with another shell).
    known: Vec<String>,
    /// The `ENV` and `LABEL` names the config holds: where a recorded
    /// `ENV A=x y B=z` (values unquoted) has its pairs' boundaries.
    keys: Vec<String>,
}

impl Walk {
    /// The default shell of `os` in effect, before any `SHELL`.
    fn new(os: Option<&str>, config_shell: Option<&Vec<String>>) -> Walk {
        let windows = os.is_some_and(|o| o.eq_ignore_ascii_case("windows"));
        let current = if windows { "cmd /S /C" } else { "/bin/sh -c" }.to_string();
        let mut known = vec!["/bin/sh -c".to_string(), "cmd /S /C".to_string()];
        if let Some(s) = config_shell.filter(|s| !s.is_empty()) {
            known.push(s.join(" "));
        }
        Walk {
            current,
            known,
            keys: Vec::new(),
        }
    }

    /// With the `ENV` and `LABEL` names of `config`.
    fn with_keys(mut self, config: Option<&RunConfig>) -> Walk {
        if let Some(c) = config {
            let env = c.env.iter().flatten();
            self.keys
                .extend(env.map(|e| e.split('=').next().unwrap_or(e).to_string()));
            self.keys
                .extend(c.labels.iter().flat_map(|l| l.keys().cloned()));
            self.keys.retain(|k| !k.is_empty());
        }
        self
    }

    fn set(&mut self, shell: &[String]) {
        let joined = shell.join(" ");
        if !self.known.contains(&joined) {
            self.known.push(joined.clone());
        }
        self.current = joined;
    }

    /// The shells to try, the one in effect first.
    fn candidates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.current.as_str())
            .chain(self.known.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
    }
}

/// Turns one `created_by` into a Dockerfile instruction, with the
/// default shell in effect.
#[cfg(test)]
fn instruction_of(by: &str) -> String {
    instruction(by, &mut Walk::new(None, None))
}

/// Turns one `created_by` into a Dockerfile instruction; a `SHELL` step
/// changes `shells` for the lines after it.
fn instruction(by: &str, shells: &mut Walk) -> String {
    let by = by.trim();
    let by = by
        .strip_suffix("# buildkit")
        .map(str::trim_end)
        .unwrap_or(by);
    // Classic builder metadata step: "<shell> #(nop) <INSTRUCTION> …".
    if let Some(pos) = by.find("#(nop)") {
        let prefix = by[..pos].trim_end();
        let rest = by[pos + "#(nop)".len()..].trim();
        let is_shell = shells.candidates().any(|s| s == prefix)
            || shell_of(rest).is_some_and(|s| s.join(" ") == prefix);
        if is_shell {
            return metadata(rest, shells, true);
        }
    }
    // BuildKit: "RUN [--flag…] [|N A=1 …] <shell> <command>".
    if let Some(rest) = by.strip_prefix("RUN ") {
        let mut flags = Vec::new();
        let mut body = rest.trim_start();
        while body.starts_with("--") {
            let (flag, tail) = body.split_once(' ').unwrap_or((body, ""));
            flags.push(flag);
            body = tail.trim_start();
        }
        let flags: String = flags.iter().map(|f| format!("{} ", one_line(f))).collect();
        return run(body, &flags, shells).unwrap_or_else(|| {
            format!(
                "RUN {flags}{}    # exec form: arguments as recorded",
                one_line(body)
            )
        });
    }
    // Classic RUN: "[|N A=1 …] <shell> <command>".
    if let Some(r) = run(by, "", shells) {
        return r;
    }
    let kw = by.split_whitespace().next().unwrap_or("");
    const KNOWN: &[&str] = &[
        "COPY",
        "ADD",
        "ENV",
        "LABEL",
        "EXPOSE",
        "VOLUME",
        "USER",
        "WORKDIR",
        "CMD",
        "ENTRYPOINT",
        "SHELL",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "ONBUILD",
        "ARG",
        "MAINTAINER",
    ];
    if KNOWN.contains(&kw) {
        return metadata(by, shells, false);
    }
    format!(
        "RUN {}    # recorded command, not a Dockerfile step",
        one_line(by)
    )
}

/// A `RUN` body, `[|N A=1 B=2 ]<shell> <command>`: `RUN <command>`, the
/// build args in use as a comment line above. `None` when no known shell
/// is found (an exec-form `RUN`).
fn run(body: &str, flags: &str, shells: &Walk) -> Option<String> {
    let (args, tail) = match body.strip_prefix('|') {
        Some(rest) => {
            let (_, after_count) = rest.split_once(' ')?;
            // Build args' values may hold spaces: the shell marks their end.
            let padded = format!(" {after_count}");
            let (at, _) = shells
                .candidates()
                .filter_map(|s| padded.find(&format!(" {s} ")).map(|p| (p, s.len())))
                .min_by_key(|&(p, len)| (p, std::cmp::Reverse(len)))?;
            (Some(after_count[..at].trim()), &after_count[at..])
        }
        None => (None, body),
    };
    let cmd = shells
        .candidates()
        .filter_map(|s| tail.strip_prefix(s)?.strip_prefix(' '))
        .next()?;
    let mut out = String::new();
    if let Some(a) = args.filter(|a| !a.is_empty()) {
        let _ = writeln!(out, "# build args: {}", one_line(a));
    }
    let _ = write!(out, "RUN {flags}{}", one_line(cmd));
    Some(out)
}

/// The shell a `SHELL …` step sets, in either Go form.
fn shell_of(rest: &str) -> Option<Vec<String>> {
    let arg = rest.strip_prefix("SHELL")?.trim();
    go_list(arg).or_else(|| go_plain_list(arg))
}

/// A metadata step, `<INSTRUCTION> <args>`, as the instruction written:
/// Go dumps (`["a" "b"]`, `[/a /b]`, `map[80/tcp:{}]`, the healthcheck
/// struct) turned back into Dockerfile syntax. `classic` for the classic
/// builder's `COPY <hash> in <dest>`.
fn metadata(rest: &str, shells: &mut Walk, classic: bool) -> String {
    let (kw, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    let arg = arg.trim();
    let json = |items: &[String]| json(items);
    let verbatim = || one_line(format!("{kw} {arg}").trim_end());
    match kw {
        "SHELL" => match go_list(arg).or_else(|| go_plain_list(arg)) {
            Some(items) if !items.is_empty() => {
                shells.set(&items);
                format!("SHELL {}", json(&items))
            }
            _ => verbatim(),
        },
        "CMD" | "ENTRYPOINT" => match go_list(arg) {
            Some(items) => format!("{kw} {}", json(&items)),
            None => verbatim(),
        },
        "VOLUME" => match go_list(arg).or_else(|| go_plain_list(arg)) {
            Some(items) => format!("VOLUME {}", json(&items)),
            None => verbatim(),
        },
        "EXPOSE" => match arg.strip_prefix("map[").and_then(|m| m.strip_suffix(']')) {
            Some(m) => {
                let ports: Vec<&str> = m
                    .split_whitespace()
                    .map(|p| p.strip_suffix(":{}").unwrap_or(p))
                    .collect();
                format!("EXPOSE {}", one_line(&ports.join(" ")))
            }
            None => verbatim(),
        },
        "HEALTHCHECK" => healthcheck(arg).unwrap_or_else(verbatim),
        "ENV" | "LABEL" => match pairs(arg, &shells.keys) {
            Some(p) => format!("{kw} {p}"),
            None => verbatim(),
        },
        // "COPY file:<hash> in /dest" → "COPY file:<hash> /dest".
        "COPY" | "ADD" if classic => match arg.split_once(" in ") {
            Some((src, dst)) => format!("{kw} {} {}", one_line(src), one_line(dst.trim())),
            None => verbatim(),
        },
        _ => verbatim(),
    }
}

/// `A=x y B=z`, as recorded for `ENV` and `LABEL` (values unquoted), as
/// `A="x y" B=z`: a pair starts where one of `keys` (the names the config
/// holds) does. `None` when the text does not start with one of them.
fn pairs(body: &str, keys: &[String]) -> Option<String> {
    let starts_pair = |s: &str| {
        keys.iter().any(|k| {
            s.strip_prefix(k.as_str())
                .is_some_and(|r| r.starts_with('='))
        })
    };
    if !starts_pair(body) {
        return None;
    }
    let mut bounds = vec![0];
    bounds.extend(
        body.match_indices(' ')
            .map(|(i, _)| i + 1)
            .filter(|&i| starts_pair(&body[i..])),
    );
    bounds.push(body.len() + 1);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let (k, v) = body[w[0]..w[1] - 1].split_once('=')?;
        out.push(format!("{}={}", quote(k), quote(v)));
    }
    Some(one_line(&out.join(" ")))
}

/// The Go `%q` dump of a healthcheck config,
/// `&{["CMD-SHELL" "x"] "30s" "3s" "0s" ["0s"] '\x02'}` (test, interval,
/// timeout, start period, start interval from moby 25 on, retries), as
/// `HEALTHCHECK --interval=30s … CMD x`.
fn healthcheck(arg: &str) -> Option<String> {
    if arg == "NONE" {
        return Some("HEALTHCHECK NONE".into());
    }
    let inner = arg.strip_prefix('&').unwrap_or(arg);
    let inner = inner.strip_prefix('{')?.strip_suffix('}')?.trim();
    let close = list_end(inner)?;
    let test = go_list(&inner[..close])?;
    let mut fields = Vec::new();
    let mut rest = inner[close..].trim_start();
    while rest.starts_with('"') {
        let (d, tail) = go_quoted(rest)?;
        fields.push(d);
        rest = tail.trim_start();
    }
    let retries = go_rune(rest.trim())?;
    let names: &[&str] = match fields.len() {
        3 => &["interval", "timeout", "start-period"],
        4 => &["interval", "timeout", "start-period", "start-interval"],
        _ => return None,
    };
    let mut opts = String::new();
    for (name, d) in names.iter().zip(&fields) {
        if !is_zero_duration(d) {
            let _ = write!(opts, "--{name}={} ", one_line(d));
        }
    }
    if retries > 0 {
        let _ = write!(opts, "--retries={retries} ");
    }
    let json = |items: &[String]| json(items);
    Some(match test.first().map(String::as_str) {
        Some("NONE") => "HEALTHCHECK NONE".into(),
        Some("CMD-SHELL") => format!("HEALTHCHECK {opts}CMD {}", one_line(&test[1..].join(" "))),
        Some("CMD") => format!("HEALTHCHECK {opts}CMD {}", json(&test[1..])),
        // An empty test inherits the base image's; only options were set.
        _ => format!(
            "HEALTHCHECK {opts}CMD {}    # test as recorded",
            json(&test)
        ),
    })
}

fn is_zero_duration(d: &str) -> bool {
    d.trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .chars()
        .all(|c| c == '0' || c == '.')
        && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

/// The byte just after the `]` closing the Go list `s` starts with.
fn list_end(s: &str) -> Option<usize> {
    let mut rest = s.strip_prefix('[')?;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            return Some(s.len() - after.len());
        }
        rest = go_quoted(rest)?.1;
    }
}

/// One Go-quoted string at the start of `s`, and what follows it.
fn go_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let body = &s[1..];
    let mut out = String::new();
    loop {
        let (i, c) = chars.next()?;
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => out.push(go_escape(&mut chars.by_ref().map(|(_, c)| c))?),
            c => out.push(c),
        }
    }
}

/// The character of a Go escape, the backslash already read.
fn go_escape(chars: &mut impl Iterator<Item = char>) -> Option<char> {
    let hex = |chars: &mut dyn Iterator<Item = char>, n: usize| -> Option<char> {
        let digits: String = chars.take(n).collect();
        (digits.len() == n)
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
            .and_then(char::from_u32)
    };
    Some(match chars.next()? {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'v' => '\u{b}',
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        c => c,
    })
}

/// A Go `%q` rune (`'\x02'`, `'A'`, `'\u00ff'`): the number it stands for.
fn go_rune(s: &str) -> Option<u32> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars();
    let c = match chars.next()? {
        '\\' => go_escape(&mut chars)?,
        c => c,
    };
    chars.next().is_none().then_some(c as u32)
}

/// Parses `["a" "b c"]` (Go's `%q` of a string slice).
fn go_list(s: &str) -> Option<Vec<String>> {
    let mut rest = s.strip_prefix('[')?;
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest == "]" {
            return Some(items);
        }
        let (item, tail) = go_quoted(rest)?;
        items.push(item);
        rest = tail;
    }
}

/// Parses `[/bin/sh -e -c]` (Go's `%v` of a string slice; items holding
/// a space cannot be told apart and come out split).
fn go_plain_list(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split_whitespace().map(str::to_string).collect())
}

/// Instructions for config fields no history step set.
fn missing_from_history(cfg: Option<&RunConfig>, seen: &[String]) -> Vec<String> {
    let Some(c) = cfg else { return Vec::new() };
    let has = |kw: &str| seen.iter().any(|s| s == kw);
    let mut out = Vec::new();
    if let Some(env) = c.env.as_ref().filter(|e| !e.is_empty() && !has("ENV")) {
        for e in env {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            out.push(format!("ENV {}={}", one_line(k), quote(v)));
        }
    }
    if let Some(l) = c.labels.as_ref().filter(|l| !l.is_empty() && !has("LABEL")) {
        for (k, v) in l {
            out.push(format!("LABEL {}={}", quote(k), quote(v)));
        }
    }
    if let Some(p) = c
        .exposed_ports
        .as_ref()
        .filter(|p| !p.is_empty() && !has("EXPOSE"))
    {
        out.push(format!(
            "EXPOSE {}",
            one_line(&p.keys().cloned().collect::<Vec<_>>().join(" "))
        ));
    }
    if let Some(v) = c
        .volumes
        .as_ref()
        .filter(|v| !v.is_empty() && !has("VOLUME"))
    {
        out.push(format!("VOLUME {}", json(&v.keys().collect::<Vec<_>>())));
    }
    if let Some(w) = c
        .working_dir
        .as_ref()
        .filter(|w| !w.is_empty() && !has("WORKDIR"))
    {
        out.push(format!("WORKDIR {}", one_line(w)));
    }
    if let Some(u) = c.user.as_ref().filter(|u| !u.is_empty() && !has("USER")) {
        out.push(format!("USER {}", one_line(u)));
    }
    if let Some(s) = c.shell.as_ref().filter(|s| !s.is_empty() && !has("SHELL")) {
        out.push(format!("SHELL {}", json(s)));
    }
    if let Some(s) = c
        .stop_signal
        .as_ref()
        .filter(|s| !s.is_empty() && !has("STOPSIGNAL"))
    {
        out.push(format!("STOPSIGNAL {}", one_line(s)));
    }
    if let Some(h) = c.healthcheck.as_ref().filter(|_| !has("HEALTHCHECK"))
        && let Some(test) = h.test.as_ref().filter(|t| !t.is_empty())
    {
        let dur = |ns: Option<i64>, flag: &str| {
            ns.filter(|n| *n > 0)
                .map(|n| format!("--{flag}={}s ", n / 1_000_000_000))
                .unwrap_or_default()
        };
        let opts = format!(
            "{}{}{}{}",
            dur(h.interval, "interval"),
            dur(h.timeout, "timeout"),
            dur(h.start_period, "start-period"),
            h.retries
                .filter(|r| *r > 0)
                .map(|r| format!("--retries={r} "))
                .unwrap_or_default()
        );
        match test[0].as_str() {
            "NONE" => out.push("HEALTHCHECK NONE".into()),
            "CMD-SHELL" => out.push(format!(
                "HEALTHCHECK {opts}CMD {}",
                one_line(&test[1..].join(" "))
            )),
            _ => out.push(format!("HEALTHCHECK {opts}CMD {}", json(&test[1..]))),
        }
    }
    if let Some(o) = c.on_build.as_ref().filter(|_| !has("ONBUILD")) {
        for t in o {
            out.push(format!("ONBUILD {}", one_line(t)));
        }
    }
    if let Some(e) = c
        .entrypoint
        .as_ref()
        .filter(|e| !e.is_empty() && !has("ENTRYPOINT"))
    {
        out.push(format!("ENTRYPOINT {}", json(e)));
    }
    if let Some(cmd) = c.cmd.as_ref().filter(|e| !e.is_empty() && !has("CMD")) {
        out.push(format!("CMD {}", json(cmd)));
    }
    out
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:,@".contains(c))
    {
        s.to_string()
    } else {
        json(s)
    }
}

/// `value` as JSON on one line: serde_json escapes the C0 controls, and
/// [`crate::escape::json_controls`] the other characters that could act
/// on a terminal or hide text.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    crate::escape::json_controls(&text).into_owned()
}

/// Text from the image config on one line of the Dockerfile: a newline
/// or any other control character in it is shown as an escape, so that
/// no history entry, comment or config value can end its line and start
/// an instruction of its own (see [`crate::escape`]); a trailing
/// backslash, which would continue the line into ours, is shown as
/// `\x5c`. Other backslashes mean something in a shell command and stay.
fn one_line(s: &str) -> String {
    let mut line = crate::escape::controls(s).into_owned();
    if line.ends_with('\\') {
        line.pop();
        line.push_str("\\x5c");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_and_buildkit_forms() {
        assert_eq!(
            instruction_of("/bin/sh -c #(nop)  CMD [\"/usr-tool\"]"),
            "CMD [\"/usr-tool\"]"
        );
        assert_eq!(
            instruction_of("/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/sh\" \"-c\"]"),
            "ENTRYPOINT [\"/bin/sh\",\"-c\"]"
        );
        assert_eq!(
            instruction_of("/bin/sh -c #(nop) COPY file:aad in /srv/app/hello.txt "),
            "COPY file:aad /srv/app/hello.txt"
        );
        assert_eq!(instruction_of("/bin/sh -c echo hi"), "RUN echo hi");
        assert_eq!(
            instruction_of("RUN /bin/sh -c apk add x # buildkit"),
            "RUN apk add x"
        );
        assert_eq!(instruction_of("COPY a /b # buildkit"), "COPY a /b");
        assert_eq!(
            instruction_of("|1 V=2 /bin/sh -c make"),
            "# build args: V=2\nRUN make"
        );
        assert_eq!(
            instruction_of("/bin/sh -c #(nop) WORKDIR /srv/app"),
            "WORKDIR /srv/app"
        );
    }

    /// Each line in order through one walk, as `reconstruct` does.
    fn walk(lines: &[&str]) -> Vec<String> {
        let mut shells = Walk::new(None, None);
        lines.iter().map(|l| instruction(l, &mut shells)).collect()
    }

    #[test]
    fn classic_shell_change_is_followed() {
        // As dockerd 20.10's classic builder wrote them.
        let got = walk(&[
            "|2 A=1 B=2 /bin/sh -c echo \"$A $B\" > /tmp/args",
            "/bin/sh -e -c #(nop)  SHELL [/bin/sh -e -c]",
            "/bin/sh -e -c #(nop)  VOLUME [/data]",
            "|2 A=1 B=2 /bin/sh -e -c echo shell-changed > /tmp/s",
            "/bin/sh -e -c echo no-args",
            "/bin/sh -e -c #(nop)  CMD [\"/bin/sh\" \"-e\" \"-c\" \"echo hi\"]",
        ]);
        assert_eq!(
            got,
            [
                "# build args: A=1 B=2\nRUN echo \"$A $B\" > /tmp/args",
                "SHELL [\"/bin/sh\",\"-e\",\"-c\"]",
                "VOLUME [\"/data\"]",
                "# build args: A=1 B=2\nRUN echo shell-changed > /tmp/s",
                "RUN echo no-args",
                "CMD [\"/bin/sh\",\"-e\",\"-c\",\"echo hi\"]",
            ]
        );
    }

    #[test]
    fn bash_windows_and_powershell_shells() {
        let got = walk(&[
            "/bin/bash -o pipefail -c #(nop)  SHELL [/bin/bash -o pipefail -c]",
            "/bin/bash -o pipefail -c curl x | sh",
            "|1 V=a b /bin/bash -o pipefail -c make",
            "/bin/bash -o pipefail -c #(nop)  USER app",
        ]);
        assert_eq!(
            got,
            [
                "SHELL [\"/bin/bash\",\"-o\",\"pipefail\",\"-c\"]",
                "RUN curl x | sh",
                "# build args: V=a b\nRUN make",
                "USER app",
            ]
        );
        let mut shells = Walk::new(Some("windows"), None);
        let mut step = |l: &str| instruction(l, &mut shells);
        assert_eq!(step("cmd /S /C #(nop)  WORKDIR C:\\app"), "WORKDIR C:\\app");
        assert_eq!(step("cmd /S /C dir C:\\"), "RUN dir C:\\x5c");
        assert_eq!(
            step("powershell -Command #(nop)  SHELL [powershell -Command]"),
            "SHELL [\"powershell\",\"-Command\"]"
        );
        assert_eq!(
            step("powershell -Command $ErrorActionPreference = 'Stop'; iwr x"),
            "RUN $ErrorActionPreference = 'Stop'; iwr x"
        );
        assert_eq!(step("powershell -Command #(nop)  EXPOSE 80"), "EXPOSE 80");
    }

    #[test]
    fn env_and_label_pairs_from_the_config_names() {
        let mut shells = Walk::new(None, None);
        shells.keys = ["org.example.k", "other", "MSG", "PATH"]
            .map(String::from)
            .to_vec();
        let mut step = |l: &str| instruction(l, &mut shells);
        assert_eq!(
            step("/bin/sh -c #(nop)  LABEL org.example.k=v w other=x"),
            "LABEL org.example.k=\"v w\" other=x"
        );
        assert_eq!(
            step("ENV MSG=hello world PATH=/bin"),
            "ENV MSG=\"hello world\" PATH=/bin"
        );
        // A name the config does not hold: as recorded.
        assert_eq!(step("ENV GONE=a b"), "ENV GONE=a b");
        assert_eq!(step("ENV MSG=a\nENV PATH=x"), "ENV MSG=\"a\\nENV\" PATH=x");
    }

    #[test]
    fn healthcheck_struct_dumps() {
        assert_eq!(
            instruction_of(
                "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"echo ok || exit 1\"] \"30s\" \"3s\" \"0s\" '\\x02'}"
            ),
            "HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD echo ok || exit 1"
        );
        // BuildKit, with moby 25's start interval and a printable rune.
        assert_eq!(
            instruction_of(
                "HEALTHCHECK &{[\"CMD\" \"/bin/check\" \"-q\"] \"1m0s\" \"0s\" \"5s\" \"2s\" 'A'}"
            ),
            "HEALTHCHECK --interval=1m0s --start-period=5s --start-interval=2s --retries=65 CMD [\"/bin/check\",\"-q\"]"
        );
        assert_eq!(
            instruction_of(
                "/bin/sh -c #(nop)  HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}"
            ),
            "HEALTHCHECK NONE"
        );
        // Not the struct: kept as recorded, on one line.
        assert_eq!(
            instruction_of("HEALTHCHECK &{[\"CMD\" \"x\"] garbage\n"),
            "HEALTHCHECK &{[\"CMD\" \"x\"] garbage"
        );
        assert_eq!(go_rune("'\\u00ff'"), Some(255));
        assert_eq!(go_rune("'\\''"), Some(39));
    }

    #[test]
    fn buildkit_forms() {
        let got = walk(&[
            "COPY rootfs/ / # buildkit",
            "ARG A=1",
            "ENV GREETING=hello PATH=/bin",
            "RUN |2 A=1 B=2 /bin/sh -c echo \"$A $B\" > /tmp/args # buildkit",
            "SHELL [/bin/sh -e -c]",
            "RUN |2 A=1 B=2 /bin/sh -e -c echo x # buildkit",
            "RUN --mount=type=cache,target=/c --network=none /bin/sh -e -c make # buildkit",
            "RUN /bin/echo exec # buildkit",
            "EXPOSE map[53/udp:{} 8080/tcp:{}]",
            "COPY --from=build /out /usr/local/bin/ # buildkit",
            "ADD https://example.com/a.tgz /a # buildkit",
            "LABEL org.example.k=v w other=x",
            "WORKDIR /srv",
            "STOPSIGNAL SIGUSR1",
            "ENTRYPOINT [\"/bin/sh\" \"-c\"]",
        ]);
        assert_eq!(
            got,
            [
                "COPY rootfs/ /",
                "ARG A=1",
                "ENV GREETING=hello PATH=/bin",
                "# build args: A=1 B=2\nRUN echo \"$A $B\" > /tmp/args",
                "SHELL [\"/bin/sh\",\"-e\",\"-c\"]",
                "# build args: A=1 B=2\nRUN echo x",
                "RUN --mount=type=cache,target=/c --network=none make",
                "RUN /bin/echo exec    # exec form: arguments as recorded",
                "EXPOSE 53/udp 8080/tcp",
                "COPY --from=build /out /usr/local/bin/",
                "ADD https://example.com/a.tgz /a",
                "LABEL org.example.k=v w other=x",
                "WORKDIR /srv",
                "STOPSIGNAL SIGUSR1",
                "ENTRYPOINT [\"/bin/sh\",\"-c\"]",
            ]
        );
    }

    #[test]
    fn classic_metadata_forms() {
        for (by, want) in [
            ("/bin/sh -c #(nop)  ARG B", "ARG B"),
            ("/bin/sh -c #(nop)  ARG A=1", "ARG A=1"),
            ("/bin/sh -c #(nop)  ENV A=1 B=2", "ENV A=1 B=2"),
            ("/bin/sh -c #(nop)  LABEL a=b", "LABEL a=b"),
            (
                "/bin/sh -c #(nop)  EXPOSE 53/udp 8080",
                "EXPOSE 53/udp 8080",
            ),
            ("/bin/sh -c #(nop)  EXPOSE map[80/tcp:{}]", "EXPOSE 80/tcp"),
            ("/bin/sh -c #(nop) WORKDIR /srv", "WORKDIR /srv"),
            ("/bin/sh -c #(nop)  USER 1000:1000", "USER 1000:1000"),
            (
                "/bin/sh -c #(nop)  ONBUILD RUN echo child",
                "ONBUILD RUN echo child",
            ),
            (
                "/bin/sh -c #(nop)  STOPSIGNAL SIGUSR1",
                "STOPSIGNAL SIGUSR1",
            ),
            (
                "/bin/sh -c #(nop)  MAINTAINER someone",
                "MAINTAINER someone",
            ),
            (
                "/bin/sh -c #(nop)  VOLUME [/a /b]",
                "VOLUME [\"/a\",\"/b\"]",
            ),
            ("/bin/sh -c #(nop) ADD file:abc in / ", "ADD file:abc /"),
            // Exec-form classic RUN: no shell recorded.
            (
                "/bin/echo hi",
                "RUN /bin/echo hi    # recorded command, not a Dockerfile step",
            ),
            // "#(nop)" inside a command is not a metadata step.
            ("/bin/sh -c echo '#(nop) CMD x'", "RUN echo '#(nop) CMD x'"),
        ] {
            assert_eq!(instruction_of(by), want, "{by}");
        }
    }

    #[test]
    fn hostile_text_stays_on_its_line() {
        for by in [
            "/bin/sh -c #(nop)  VOLUME [/a\nRUN evil]",
            "/bin/sh -c #(nop)  CMD [\"a\\nRUN evil\" \"\u{202e}\"]",
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"x\\nRUN evil\"] \"1s\" \"0s\" \"0s\" '\\x00'}",
            "/bin/sh -c #(nop)  SHELL [\"/bin/sh\\nRUN\" \"-c\"]",
            "/bin/sh -c #(nop) COPY file:a\nRUN in /b\\",
            "EXPOSE map[80/tcp:{}\nRUN evil]",
            "RUN --mount=x\nRUN /bin/sh -c y",
            "|1 A=\n /bin/sh -c x\\",
            "/bin/sh -c #(nop)  CMD\nRUN evil\\",
            "/bin/sh -c #(nop) \u{1b}[2J\nRUN evil",
        ] {
            let got = instruction_of(by);
            let lines: Vec<&str> = got.lines().collect();
            assert!(
                lines.last().is_some_and(|l| !l.ends_with('\\'))
                    && lines.iter().all(|l| !l.chars().any(char::is_control))
                    && !got.contains('\u{202e}')
                    && lines.iter().filter(|l| !l.starts_with('#')).count() == 1,
                "{by:?} -> {got:?}"
            );
        }
    }

    /// Found by the `dockerfile` fuzz target: the image id, a `#(nop)` step whose list
    /// did not parse, a `COPY`, an instruction word, and the config's
    /// ENV names, ports and exec-form arrays were written as recorded, so
    /// a newline in them started an instruction of its own, and DEL, C1
    /// controls and bidi overrides reached the file raw.
    #[test]
    fn hostile_values_stay_on_their_line() {
        use crate::store::model::History;
        let step = |by: &str| History {
            created_by: Some(by.into()),
            empty_layer: true,
            ..Default::default()
        };
        let config = ImageConfig {
            history: vec![
                step("/bin/sh -c #(nop)  CMD [\"a\0\nUSER root"),
                step("/bin/sh -c #(nop) COPY a in /b\nRUN evil"),
                step("/bin/sh -c #(nop) ADD x\nRUN evil"),
                step("/bin/sh -c #(nop) LABEL\nRUN evil"),
                step("/bin/sh -c #(nop)  ENTRYPOINT [\"\u{202e}x\u{7f}\"]"),
            ],
            config: Some(RunConfig {
                env: Some(vec!["A\nRUN evil=1".into(), "B=\u{85}".into()]),
                exposed_ports: Some([("80\nRUN evil".to_string(), serde_json::json!({}))].into()),
                labels: Some([("k".to_string(), "\u{202e}v".to_string())].into()),
                volumes: Some([("/v\u{7f}".to_string(), serde_json::json!({}))].into()),
                shell: Some(vec!["sh\u{9b}".into()]),
                user: Some("u".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        // The id comes from the store's records too (Podman's images.json).
        let out = reconstruct("sha256:00\nRUN evil", &[], &config);
        assert!(out.contains("of image sha256:00\\nRUN evil\n"), "{out}");
        for line in out.lines() {
            assert!(
                matches!(crate::escape::controls(line), std::borrow::Cow::Borrowed(_)),
                "{line:?}"
            );
            assert!(
                !line.starts_with("RUN evil") && !line.starts_with("USER root"),
                "{line:?}"
            );
        }
        assert!(out.contains("COPY a /b\\nRUN evil\n"), "{out}");
        assert!(out.contains("ENTRYPOINT [\"\\u202ex\\u007f\"]\n"), "{out}");
        assert!(out.contains("ENV A\\nRUN evil=1\n"), "{out}");
        assert!(out.contains("ENV B=\"\\u0085\"\n"), "{out}");
        assert!(out.contains("LABEL k=\"\\u202ev\"\n"), "{out}");
        assert!(out.contains("SHELL [\"sh\\u009b\"]\n"), "{out}");
        assert!(out.contains("USER u\n"), "{out}");
    }
}
