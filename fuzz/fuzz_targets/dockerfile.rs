//! `export::dockerfile::reconstruct` over an image config: the bytes as
//! config JSON when they parse as one, else an image id, tags and a
//! config built from them field by field (the id and names come from
//! the store's records, as untrusted as the config). The Dockerfile written must be made only of lines the
//! config accounts for: comments, `FROM scratch`, and at most one
//! instruction per history entry, layer and config value; and no line may
//! hold a control or text-reordering character (which would let a value
//! start a line of its own, or hide one).
#![no_main]

use docker_forensics::escape;
use docker_forensics::export::dockerfile::reconstruct;
use docker_forensics::json;
use docker_forensics::store::model::{HealthCheck, History, ImageConfig, RootFs, RunConfig};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

/// Words that start a Dockerfile instruction.
const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

fuzz_target!(|data: &[u8]| {
    let (id, tags, config) = match json::parse::<ImageConfig>(data) {
        Ok(c) => (
            "sha256:00".to_string(),
            vec!["fixture/web:1.0".to_string()],
            c,
        ),
        Err(_) => {
            let u = &mut Unstructured::new(data);
            match (text(u), texts(u), build(u)) {
                (Ok(id), Ok(tags), Ok(c)) => (id, tags, c),
                _ => return,
            }
        }
    };
    let out = reconstruct(&id, &tags, &config);

    let mut instructions = 0usize;
    for line in out.lines() {
        assert!(
            matches!(escape::controls(line), std::borrow::Cow::Borrowed(_)),
            "a control character in a line: {line:?}"
        );
        let first = line.split_whitespace().next().unwrap_or("");
        if KEYWORDS.contains(&first) {
            instructions += 1;
        }
    }
    assert!(!out.contains('\r'), "a carriage return");
    assert!(
        instructions <= 1 + budget(&config),
        "{instructions} instruction lines for a config accounting for {}:\n{out}",
        budget(&config)
    );
});

/// How many instructions the config accounts for: one per history entry
/// and per layer, one per config value (each ENV, LABEL and ONBUILD
/// item, and one for each other field).
fn budget(c: &ImageConfig) -> usize {
    let mut n = c.history.len() + c.rootfs.diff_ids.len();
    if let Some(r) = &c.config {
        n += r.env.as_ref().map_or(0, Vec::len);
        n += r.labels.as_ref().map_or(0, BTreeMap::len);
        n += r.on_build.as_ref().map_or(0, Vec::len);
        n += [
            r.exposed_ports.is_some(),
            r.volumes.is_some(),
            r.working_dir.is_some(),
            r.user.is_some(),
            r.shell.is_some(),
            r.stop_signal.is_some(),
            r.healthcheck.is_some(),
            r.entrypoint.is_some(),
            r.cmd.is_some(),
        ]
        .into_iter()
        .filter(|&b| b)
        .count();
    }
    n
}

/// Short strings, often shaped like the builder's own.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    const PREFIXES: &[&str] = &[
        "",
        "/bin/sh -c ",
        "/bin/sh -c #(nop) ",
        "/bin/sh -c #(nop)  CMD [\"",
        "/bin/sh -c #(nop) COPY ",
        "RUN /bin/sh -c ",
        "|2 A=1 B=2 /bin/sh -c ",
        "COPY ",
        "ENV ",
    ];
    let prefix = u.choose(PREFIXES)?;
    let rest = String::arbitrary(u)?;
    let suffix = if u.arbitrary()? { " # buildkit" } else { "" };
    Ok(format!("{prefix}{rest}{suffix}"))
}

fn texts(u: &mut Unstructured<'_>) -> Result<Vec<String>> {
    let n = u.int_in_range(0..=4)?;
    (0..n).map(|_| text(u)).collect()
}

fn opt<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if u.arbitrary()? {
        Ok(Some(f(u)?))
    } else {
        Ok(None)
    }
}

fn keys(u: &mut Unstructured<'_>) -> Result<BTreeMap<String, serde_json::Value>> {
    Ok(texts(u)?
        .into_iter()
        .map(|k| (k, serde_json::json!({})))
        .collect())
}

fn build(u: &mut Unstructured<'_>) -> Result<ImageConfig> {
    let history = (0..u.int_in_range(0..=8)?)
        .map(|_| {
            Ok(History {
                created: opt(u, text)?,
                created_by: opt(u, text)?,
                author: opt(u, text)?,
                comment: opt(u, text)?,
                empty_layer: u.arbitrary()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let config = opt(u, |u| {
        Ok(RunConfig {
            user: opt(u, text)?,
            exposed_ports: opt(u, keys)?,
            env: opt(u, texts)?,
            entrypoint: opt(u, texts)?,
            cmd: opt(u, texts)?,
            volumes: opt(u, keys)?,
            working_dir: opt(u, text)?,
            labels: opt(u, |u| Ok(texts(u)?.into_iter().zip(texts(u)?).collect()))?,
            healthcheck: opt(u, |u| {
                Ok(HealthCheck {
                    test: opt(u, texts)?,
                    interval: u.arbitrary()?,
                    timeout: u.arbitrary()?,
                    start_period: u.arbitrary()?,
                    retries: u.arbitrary()?,
                })
            })?,
            stop_signal: opt(u, text)?,
            shell: opt(u, texts)?,
            on_build: opt(u, texts)?,
        })
    })?;
    Ok(ImageConfig {
        architecture: opt(u, text)?,
        os: opt(u, text)?,
        variant: None,
        created: opt(u, text)?,
        author: opt(u, text)?,
        config,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: texts(u)?,
        },
        history,
    })
}
