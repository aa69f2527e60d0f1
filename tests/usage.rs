//! The command line never surprises: a mistyped subcommand is a usage
//! error (exit 2, with clap's suggestion) and creates nothing; the short
//! form `IMAGE EVIDENCE OUT` applies only to exactly three words; a wrong
//! argument count is a usage error; an image that resolves nowhere leaves
//! no output directory behind.

mod common;

use common::*;
use std::path::Path;

#[test]
fn typos_and_wrong_counts_are_usage_errors_that_create_nothing() {
    let Some(host) = host("basic") else { return };
    let cwd = tempfile::tempdir().unwrap();
    let in_cwd = |args: &[&Path]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_docker-forensics"))
            .args(args)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // `imagse EVIDENCE --json`: not an extract.
    let (code, err) = in_cwd(&[Path::new("imagse"), &host, Path::new("--json")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("images"), "suggests the subcommand: {err}");
    // `extrct IMAGE EVIDENCE OUT`: four words, not the short form.
    let (code, err) = in_cwd(&[
        Path::new("extrct"),
        Path::new("fixture/web"),
        &host,
        Path::new("t1"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("extract"), "{err}");
    // `extract --all` with an image name, and extract with too few words.
    let (code, err) = in_cwd(&[
        Path::new("extract"),
        Path::new("--all"),
        Path::new("fixture/web:1.0"),
        &host,
        Path::new("t2"),
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = in_cwd(&[Path::new("extract"), &host, Path::new("t3")]);
    assert_eq!(code, 2, "{err}");
    // Evidence and image swapped: the image does not resolve, nothing is
    // created (neither `./fixture/web:1.0/` nor the output).
    let (code, err) = in_cwd(&[
        Path::new("extract"),
        Path::new("fixture/web:9"),
        &host,
        Path::new("t4"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing created"
    );
    // The short form still works.
    let (code, err) = in_cwd(&[
        Path::new("fixture/web:1.0"),
        &host,
        Path::new("t5"),
        Path::new("-q"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(cwd.path().join("t5").is_dir());
}

#[test]
fn unknown_store_is_refused_with_the_stores_found() {
    let Some(host) = host("ctrd-basic") else {
        return;
    };
    let r = run([
        Path::new("images"),
        &host,
        Path::new("--store"),
        Path::new("dockr"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("containerd/k8s.io"), "{}", r.stderr);
    let r = run([
        Path::new("images"),
        &host,
        Path::new("--store"),
        Path::new("containerd"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        Path::new("containers"),
        &host,
        Path::new("--store"),
        Path::new("containerd/moby"),
        Path::new("--json"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "containers");
    assert!(rows.iter().all(|c| c["store"] == "containerd/moby"));
}

#[test]
fn every_help_names_its_arguments_with_examples_and_exit_codes() {
    for cmd in [
        "extract",
        "images",
        "verify",
        "containers",
        "diff",
        "export-container",
        "timeline",
    ] {
        let r = run([cmd, "-h"]);
        assert_eq!(r.code, 0, "{cmd}: {}", r.stderr);
        assert!(r.stdout.contains("Examples:"), "{cmd}: {}", r.stdout);
        assert!(
            r.stdout.matches("docker-forensics ").count() >= 3,
            "{cmd}: two examples"
        );
        assert!(r.stdout.contains("Exit status: 0"), "{cmd}: {}", r.stdout);
        assert!(!r.stdout.contains("<ARGS>"), "{cmd}: {}", r.stdout);
    }
    let r = run(["extract", "-h"]);
    assert!(
        r.stdout.contains("<IMAGE>... <EVIDENCE> <OUTPUT_DIR>"),
        "{}",
        r.stdout
    );
}
