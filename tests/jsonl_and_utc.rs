//! `timeline --format jsonl` as Timesketch imports it, and every time in
//! the tables in UTC with a `Z`, equal to the instant the JSON listing
//! keeps as the engine recorded it.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;
use std::path::Path;

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// Microseconds since the epoch, cut as Timesketch's `timestamp` is.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp() * 1_000_000 + i64::from(t.timestamp_subsec_micros())
}

fn timeline(host: &Path, format: &str) -> String {
    let r = run([
        Path::new("timeline"),
        host,
        Path::new("--format"),
        Path::new(format),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

#[test]
fn jsonl_timeline_is_what_timesketch_imports() {
    let Some(host) = host("basic") else { return };
    let out = timeline(&host, "jsonl");
    let lines: Vec<Value> = out
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {i}: {e}: {l}")))
        .collect();
    assert!(lines.len() > 100, "{}", lines.len());
    let mut times = Vec::new();
    for l in &lines {
        // Timesketch's JSONL import requires these three (its
        // `read_and_validate_jsonl`); `timestamp` spares it the parse.
        for field in ["message", "datetime", "timestamp_desc"] {
            let v = l[field].as_str().unwrap_or_else(|| panic!("{field}: {l}"));
            assert!(!v.is_empty(), "{field}: {l}");
        }
        let dt = l["datetime"].as_str().unwrap();
        assert!(dt.ends_with('Z'), "{l}");
        let t = instant(dt);
        assert_eq!(l["timestamp"].as_i64(), Some(micros(t)), "{l}");
        assert!(l["label"].is_string() && l["store"].is_string(), "{l}");
        times.push(t);
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by time");

    // One line per distinct timestamp of an object, as the CSV's rows.
    let csv = timeline(&host, "csv");
    assert_eq!(lines.len(), csv.lines().count() - 1);

    // The dropper, attributed to evil-web, with its metadata.
    let dropper: Vec<&Value> = lines
        .iter()
        .filter(|l| l["path"] == "/tmp/dropper.sh")
        .collect();
    assert!(!dropper.is_empty());
    for l in &dropper {
        assert_eq!(l["container"], "evil-web", "{l}");
        assert_eq!(l["label"], "container evil-web", "{l}");
        assert_eq!(l["store"], "docker", "{l}");
        assert_eq!(l["deleted"], false, "{l}");
        assert!(l["inode"].is_u64() && l["size"].is_u64(), "{l}");
        assert!(l["mode"].as_str().unwrap().starts_with("r/r"), "{l}");
        assert!(l["message"].as_str().unwrap().contains("/tmp/dropper.sh"));
    }
    assert!(
        dropper
            .iter()
            .any(|l| l["timestamp_desc"] == "Content Modification Time"
                || l["timestamp_desc"]
                    .as_str()
                    .unwrap()
                    .starts_with("Content Modification Time; ")),
        "{dropper:?}"
    );

    // Events at the instant the engine recorded.
    let r = run([Path::new("containers"), &host, Path::new("--json")]);
    let containers = common::json_list(&r.stdout, "containers");
    let evil = containers.iter().find(|c| c["name"] == "evil-web").unwrap();
    let started = lines
        .iter()
        .find(|l| l["event"] == "container_started" && l["container"] == "evil-web")
        .expect("evil-web started");
    assert_eq!(started["timestamp_desc"], "Container Started");
    assert_eq!(
        instant(started["datetime"].as_str().unwrap()),
        instant(evil["started"].as_str().unwrap())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "image_created" && l["timestamp_desc"] == "Image Created")
    );
}

/// The RFC 3339 times on a table line, in UTC, each checked to end with `Z`
/// and to be whole seconds.
fn table_times(line: &str) -> Vec<DateTime<Utc>> {
    line.split_whitespace()
        .filter_map(|w| DateTime::parse_from_rfc3339(w).ok().map(|t| (w, t)))
        .map(|(w, t)| {
            assert!(w.ends_with('Z') && w.len() == 20, "{w} in {line}");
            t.with_timezone(&Utc)
        })
        .collect()
}

/// The engine's recorded time, cut to the second as the table shows it.
fn to_second(recorded: &Value) -> Option<DateTime<Utc>> {
    let t = instant(recorded.as_str()?);
    DateTime::from_timestamp(t.timestamp(), 0)
}

fn check_tables(fixture: &str) {
    let Some(host) = host(fixture) else { return };
    let table = run([Path::new("images"), &host, Path::new("-q")]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.lines().next().unwrap().contains("CREATED"));
    let json = run([
        Path::new("images"),
        &host,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    let rows = common::json_list(&json.stdout, "images");
    let mut checked = 0;
    for row in &rows {
        let Some(want) = to_second(&row["created"]) else {
            continue;
        };
        let hex = row["image_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let shown: Vec<DateTime<Utc>> = table
            .stdout
            .lines()
            .filter(|l| l.contains(&hex[..12]))
            .flat_map(table_times)
            .collect();
        assert!(shown.contains(&want), "{fixture} {hex}: {shown:?} {want}");
        checked += 1;
    }
    assert!(checked > 0, "{fixture}: no image times");

    let table = run([Path::new("containers"), &host, Path::new("-q")]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let json = run([
        Path::new("containers"),
        &host,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    let rows = common::json_list(&json.stdout, "containers");
    assert!(!rows.is_empty());
    for c in &rows {
        let id = c["container_id"].as_str().unwrap();
        let line = table
            .stdout
            .lines()
            .find(|l| l.starts_with(&id[..12]))
            .unwrap_or_else(|| panic!("{id} in {}", table.stdout));
        let want: Vec<DateTime<Utc>> = [&c["created"], &c["finished"]]
            .into_iter()
            .filter_map(to_second)
            .collect();
        assert!(!want.is_empty(), "{c}");
        assert_eq!(table_times(line), want, "{fixture} {line}");
    }
}

#[test]
fn table_times_are_utc_and_equal_the_json_on_basic() {
    check_tables("basic");
}

#[test]
fn table_times_are_utc_and_equal_the_json_on_podman5() {
    check_tables("podman5");
}
