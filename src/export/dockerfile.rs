//! A Dockerfile reconstructed from an image config's `history`, in array
//! order (the build order; never sorted by time), with the config fields
//! the history does not show filled in at the end.
//!
//! History `created_by` forms (moby `builder/dockerfile/dispatchers.go`,
//! BuildKit `frontend/dockerfile/dockerfile2llb`):
//! - classic builder metadata steps: `/bin/sh -c #(nop)  CMD ["x"]`;
//! - classic `RUN`: `/bin/sh -c <command>`, with build args as
//!   `|2 A=1 B=2 /bin/sh -c <command>`;
//! - BuildKit: `RUN /bin/sh -c <command> # buildkit`, `COPY … # buildkit`,
//!   `CMD ["x"]` and the like verbatim;
//! - `docker import` and base layers: an empty `created_by`.

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
            instruction_of(by)
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

/// Turns one `created_by` into a Dockerfile instruction.
fn instruction_of(by: &str) -> String {
    let by = by
        .strip_suffix("# buildkit")
        .map(str::trim_end)
        .unwrap_or(by);
    if let Some(rest) = by.strip_prefix("/bin/sh -c #(nop)") {
        return nop_instruction(rest.trim());
    }
    // Classic builder with build args: "|N A=1 B=2 /bin/sh -c cmd".
    if let Some(rest) = by.strip_prefix('|')
        && let Some((_, tail)) = rest.split_once(' ')
        && let Some(pos) = tail.find("/bin/sh -c ")
    {
        let args = one_line(tail[..pos].trim());
        return format!(
            "# build args: {args}\nRUN {}",
            one_line(&tail[pos + "/bin/sh -c ".len()..])
        );
    }
    if let Some(cmd) = by.strip_prefix("/bin/sh -c ") {
        return format!("RUN {}", one_line(cmd));
    }
    if let Some(cmd) = by.strip_prefix("RUN /bin/sh -c ") {
        return format!("RUN {}", one_line(cmd));
    }
    let kw = by.split_whitespace().next().unwrap_or("");
    const KNOWN: &[&str] = &[
        "RUN",
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
        return one_line(by);
    }
    format!(
        "RUN {}    # recorded command, not a Dockerfile step",
        one_line(by)
    )
}

/// `#(nop)` steps of the classic builder: the instruction as written,
/// with Go-formatted lists (`["a" "b"]`) turned into JSON arrays.
fn nop_instruction(rest: &str) -> String {
    let (kw, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    let arg = arg.trim();
    match kw {
        "CMD" | "ENTRYPOINT" | "SHELL" | "VOLUME" if arg.starts_with('[') => match go_list(arg) {
            Some(items) => format!("{kw} {}", json(&items)),
            None => one_line(&format!("{kw} {arg}")),
        },
        // "COPY file:<hash> in /dest" → "COPY file:<hash> /dest".
        "COPY" | "ADD" => match arg.split_once(" in ") {
            Some((src, dst)) => one_line(&format!("{kw} {src} {}", dst.trim())),
            None => one_line(&format!("{kw} {arg}")),
        },
        _ => one_line(format!("{kw} {arg}").trim_end()),
    }
}

/// Parses `["a" "b c"]` (Go's `%q` of a string slice).
fn go_list(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.next() {
            None => return Some(items),
            Some('"') => {}
            Some(_) => return None,
        }
        let mut item = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => item.push('\n'),
                    't' => item.push('\t'),
                    c => item.push(c),
                },
                c => item.push(c),
            }
        }
        items.push(item);
    }
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
