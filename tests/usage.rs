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
        "report",
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

/// Every command ends with one `summary:` line on stderr that counts
/// what it did; `--quiet` leaves it out.
#[test]
fn every_command_ends_with_one_summary_line() {
    let e01 = fixtures_dir().join("basic.disk.E01");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("o");
    let rep = out.path().join("r");
    let cases: Vec<(Vec<&Path>, &str)> = vec![
        (vec![Path::new("images"), &e01], "15 image(s) in 1 store(s)"),
        (
            vec![Path::new("containers"), &e01],
            "2 container(s) in 1 store(s)",
        ),
        (
            vec![Path::new("diff"), Path::new("evil-web"), &e01],
            "change(s)",
        ),
        (vec![Path::new("timeline"), &e01], "event(s)"),
        (vec![Path::new("verify"), &e01], "15 image(s)"),
        (
            vec![Path::new("extract"), Path::new("fixture/web:1.0"), &e01, &o],
            "1 image(s) written",
        ),
        (
            vec![
                Path::new("export-container"),
                Path::new("evil-web"),
                &e01,
                &o,
            ],
            "1 container exported",
        ),
        (
            vec![Path::new("report"), &e01, &rep],
            "15 image(s), 2 container(s), 0 integrity finding(s)",
        ),
    ];
    for (args, counts) in cases {
        let r = run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let summaries: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("summary: "))
            .collect();
        assert_eq!(summaries.len(), 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().last(), Some(summaries[0]), "{args:?}");
        assert!(summaries[0].contains(counts), "{args:?}: {}", summaries[0]);
        assert!(summaries[0].ends_with(" s"), "{}", summaries[0]);
        if args[0] == Path::new("images") || args[0] == Path::new("diff") {
            let mut quiet = args.clone();
            quiet.push(Path::new("-q"));
            let r = run(&quiet);
            assert!(!r.stderr.contains("summary:"), "{}", r.stderr);
        }
    }
    // The diff's counts are Docker's: evil-web's diff as the engine gave it.
    let want = expected("basic")["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "evil-web")
        .unwrap()["diff"]
        .as_array()
        .unwrap()
        .len();
    let r = run([Path::new("diff"), Path::new("evil-web"), &e01]);
    assert!(
        r.stderr.contains(&format!("summary: {want} change(s)")),
        "{}",
        r.stderr
    );
}

/// `--output FILE` puts exactly what stdout would carry into a new file
/// (never one that exists, never inside the evidence), for every command
/// that prints results.
#[test]
fn output_file_holds_the_results() {
    let e01 = fixtures_dir().join("basic.disk.E01");
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [
        vec!["images", "--json"],
        vec!["containers"],
        vec!["diff", "evil-web"],
        vec!["timeline", "--format", "csv"],
        vec!["verify"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut plain: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        plain.push(e01.as_os_str());
        let want = run(&plain);
        let file = dir.path().join(format!("out{i}.txt"));
        let mut to_file = plain.clone();
        to_file.push("--output".as_ref());
        to_file.push(file.as_os_str());
        let got = run(&to_file);
        assert_eq!(got.code, want.code, "{args:?}: {}", got.stderr);
        assert_eq!(got.stdout, "", "{args:?}: nothing on stdout");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            want.stdout,
            "{args:?}"
        );
        // A second run does not overwrite it.
        let again = run(&to_file);
        assert_eq!(again.code, 1, "{args:?}");
        assert!(again.stderr.contains("--output"), "{}", again.stderr);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), want.stdout);
    }
    // Never inside the evidence.
    let Some(host) = host("basic") else { return };
    let inside = host.join("results.txt");
    let r = run([Path::new("images"), &host, Path::new("--output"), &inside]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!inside.exists());
}

/// `--docker-root` as a Windows examiner types it names the same root.
#[test]
fn docker_root_in_windows_spelling() {
    let e01 = fixtures_dir().join("basic.disk.E01");
    let want = run([Path::new("images"), &e01, Path::new("-q")]);
    assert_eq!(want.code, 0, "{}", want.stderr);
    for spelling in [
        "/var/lib/docker",
        "\\var\\lib\\docker",
        "C:\\var\\lib\\docker",
    ] {
        let r = run([
            Path::new("images"),
            &e01,
            Path::new("-q"),
            Path::new("--docker-root"),
            Path::new(spelling),
        ]);
        assert_eq!(r.code, 0, "{spelling}: {}", r.stderr);
        assert_eq!(r.stdout, want.stdout, "{spelling}");
    }
}
