//! Names chosen by a suspect never reach the examiner's terminal raw and
//! never forge a line: escape sequences and newlines in a container name,
//! in file names of its writable layer, and in an image's history, on a
//! tampered copy of the basic fixture.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// No control byte but the line ends, no C1 control.
fn assert_clean(what: &str, text: &str) {
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n') || ('\u{80}'..='\u{9f}').contains(&c);
        assert!(!bad, "{what}: raw control {c:?} at {i} in {text:?}");
    }
}

fn evil_web(host: &Path) -> (String, PathBuf) {
    let want = container_id("basic", "evil-web");
    let root = docker_root(host);
    let mount = std::fs::read_to_string(
        root.join(format!("image/overlay2/layerdb/mounts/{want}/mount-id")),
    )
    .unwrap();
    let upper = root.join(format!("overlay2/{}/diff", mount.trim()));
    (want, upper)
}

#[test]
fn container_and_file_names_are_escaped_everywhere() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (id, upper) = evil_web(host);
    // A name that clears the screen, retitles the terminal and tries to
    // start a line of its own.
    let cfg = docker_root(host).join(format!("containers/{id}/config.v2.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["Name"] = "/evil\u{1b}[2J\u{1b}]0;pwned\u{7}\nA /forged-by-name".into();
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    // Files whose names do the same.
    std::fs::write(upper.join("x\u{1b}[2Jy"), b"1").unwrap();
    // A directory `a<newline>A ` holding `forged-by-file`: raw, its path
    // would print as a second diff line `A /forged-by-file`.
    std::fs::create_dir(upper.join("a\nA ")).unwrap();
    std::fs::write(upper.join("a\nA ").join("forged-by-file"), b"2").unwrap();
    std::fs::write(upper.join("rtl\u{202e}txt.sh"), b"3").unwrap();

    let r = run([Path::new("containers"), host]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("containers", &r.stdout);
    assert_clean("containers stderr", &r.stderr);
    assert!(r.stdout.contains("evil\\x1b[2J"), "{}", r.stdout);

    let r = run([Path::new("diff"), Path::new(&id), host]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("diff", &r.stdout);
    for line in r.stdout.lines() {
        assert!(
            line.len() > 2 && "ACD".contains(&line[..1]) && line[1..].starts_with(" /"),
            "{line:?}"
        );
        assert!(!line.starts_with("A /forged"), "forged line {line:?}");
    }
    assert!(
        r.stdout.contains("A /a\\nA /forged-by-file"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("A /rtl\\u{202e}txt.sh"), "{}", r.stdout);

    let r = run([
        Path::new("timeline"),
        host,
        Path::new("--container"),
        Path::new(&id),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("timeline", &r.stdout);
    for line in r.stdout.lines() {
        assert_eq!(line.matches('|').count(), 10, "{line:?}");
    }

    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("export-container"),
        Path::new(&id),
        host,
        out.path(),
    ]);
    assert_clean("export-container", &r.stdout);
    assert_clean("export-container stderr", &r.stderr);
    // Every SHA256SUMS line is one file of ours.
    let dir = PathBuf::from(r.stdout.trim());
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let name = line.split_once("  ").unwrap().1;
        assert!(dir.join(name).exists(), "{line:?}");
    }
}

/// JSON lines keep a hostile name's exact text, one object a line, yet
/// the file's raw bytes carry no control or reordering character (they
/// are `\uXXXX` escapes), so `less` or `grep` over it is safe.
#[test]
fn jsonl_timeline_keeps_names_exact_and_its_bytes_clean() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (id, upper) = evil_web(host);
    let cfg = docker_root(host).join(format!("containers/{id}/config.v2.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    let name = "evil\u{1b}[2J\u{9b}\nforged\u{202e}";
    v["Name"] = format!("/{name}").into();
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    let file = "x\u{1b}]0;pwned\u{7}\nA \u{2028}rtl\u{202e}txt.sh";
    std::fs::write(upper.join(file), b"1").unwrap();

    let r = run([
        Path::new("timeline"),
        host,
        Path::new("--container"),
        Path::new(&id),
        Path::new("--format"),
        Path::new("jsonl"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("timeline jsonl", &r.stdout);
    assert!(!r.stdout.contains(['\u{202e}', '\u{2028}']), "{}", r.stdout);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.iter().all(|l| l["container"] == name), "{}", r.stdout);
    let path = format!("/{file}");
    assert!(
        lines.iter().any(|l| l["path"] == path.as_str()),
        "{}",
        r.stdout
    );
}

#[test]
fn history_cannot_add_dockerfile_instructions() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (cfg, web) = image_config_path(host, "basic", "fixture/web:1.0");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    let history = v["history"].as_array_mut().unwrap();
    history[0]["comment"] = "innocent \\\nRUN injected-by-comment".into();
    history[1]["created_by"] = "/bin/sh -c echo hi\nRUN injected-by-created-by".into();
    history[1]["author"] = "\u{1b}[2J".into();
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();

    let out = tempfile::tempdir().unwrap();
    let r = run([Path::new("fixture/web:1.0"), host, out.path()]);
    // The config no longer hashes to its id: an integrity finding.
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_clean("extract stderr", &r.stderr);
    let df = std::fs::read_to_string(image_dir(out.path(), &web).join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = df
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(
        instructions
            .iter()
            .all(|l| !l.trim_start().starts_with("RUN injected")),
        "{df}"
    );
    assert!(df.contains("RUN injected-by-comment") || df.contains("injected-by-comment"));
    assert_clean("Dockerfile", &df);
}

#[test]
fn output_inside_the_evidence_is_refused_before_anything_is_written() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let count = || walk_count(host);
    let before = count();
    for out in [host.join("out"), host.join("var/lib/docker/new/deeper")] {
        let r = run([Path::new("extract"), Path::new("--all"), host, &out]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("inside the evidence"), "{}", r.stderr);
        let r = run([
            Path::new("export-container"),
            Path::new("evil-web"),
            host,
            &out,
        ]);
        assert_eq!(r.code, 1, "{}", r.stderr);
    }
    // Through a symlink outside that points into the evidence, too.
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ev");
    std::os::unix::fs::symlink(host, &link).unwrap();
    let r = run([
        Path::new("extract"),
        Path::new("--all"),
        host,
        &link.join("out"),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(count(), before, "nothing was created in the evidence");
}

fn walk_count(p: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            n += 1;
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    n
}

/// Volume names from the evidence become portable file names inside OUT:
/// a Windows path (`..\..\x`), a device name (`CON`), a stream separator
/// (`a:b`) and names equal but for case (`Data`, `data`) each get their
/// own file, the same on every OS, and the report maps each back to the
/// name the engine recorded.
#[test]
fn volume_names_become_portable_distinct_files() {
    let Some(copy) = host_copy("basic") else {
        return;
    };
    let host = copy.path();
    let (id, _) = evil_web(host);
    let root = docker_root(host);
    let cfg = root.join(format!("containers/{id}/config.v2.json"));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    let names = ["..\\..\\x", "CON", "a:b", "Data", "data"];
    let mut points = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let data = root.join("volumes").join(name).join("_data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join(format!("file_{i}")), format!("volume {i}")).unwrap();
        points.insert(
            format!("/v{i}"),
            serde_json::json!({
                "Source": data.to_str().unwrap(),
                "Destination": format!("/v{i}"),
                "RW": true,
                "Name": name,
                "Driver": "local",
                "Type": "volume",
            }),
        );
    }
    v["MountPoints"] = Value::Object(points);
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();

    let out = tempfile::tempdir().unwrap();
    let r = run([
        Path::new("export-container"),
        Path::new("evil-web"),
        host,
        out.path(),
        Path::new("-q"),
    ]);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let dir = PathBuf::from(r.stdout.trim());
    assert!(dir.starts_with(out.path()));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let vols = report["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), names.len(), "{report}");
    let mut folded = std::collections::BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let v = vols
            .iter()
            .find(|v| v["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not in the report: {vols:?}"));
        let file = v["file"].as_str().unwrap();
        let base = file.strip_prefix("volumes/").unwrap();
        assert!(
            base.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-%~".contains(&b)),
            "{base}"
        );
        let stem = base.split('.').next().unwrap().to_ascii_uppercase();
        assert!(
            !["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str()),
            "{base}"
        );
        assert!(
            folded.insert(base.to_lowercase()),
            "{base} twice ignoring case"
        );
        // The file is the volume: its tar holds the volume's file.
        let mut tar = tar::Archive::new(std::fs::File::open(dir.join(file)).unwrap());
        let has = tar.entries().unwrap().any(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .contains(&format!("file_{i}"))
        });
        assert!(has, "{file} does not hold file_{i}");
    }
    // Nothing was written outside OUT.
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        1,
        "one container directory"
    );
}
