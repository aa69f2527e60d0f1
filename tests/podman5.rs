//! Podman 5's libpod state in SQLite (`db.sql`), checked against what
//! Podman 5.8 itself answered (`podman5.expected.json`: `podman inspect`,
//! `podman diff`, `podman volume inspect`), from the host tree and from
//! the E01; and damaged or live-copied databases (truncated, random
//! bytes, a write-ahead log or hot journal beside it): a one-line error
//! or a finding naming the file, everything else still listed, and the
//! evidence never changed.

mod common;

use common::*;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::store::model::StoreContainer;
use docker_forensics::store::podman::{PodmanRoot, PodmanStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const STORAGE: &str = "var/lib/containers/storage";

fn open(evidence: &Path) -> (Evidence, PodmanStore) {
    let ev = Evidence::open(evidence, &OpenOptions::default()).expect("open evidence");
    let roots = PodmanRoot::discover(&ev, None).expect("discover");
    assert_eq!(roots.len(), 1, "{roots:?}");
    let st = roots[0].open().expect("open graph root");
    (ev, st)
}

fn e01() -> Option<PathBuf> {
    let p = fixtures_dir().join("podman5.disk.E01");
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} not found", p.display()));
        None
    }
}

/// A time as Podman wrote it: `None` for Go's zero time.
fn instant(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    let t = t.with_timezone(&chrono::Utc);
    (chrono::Datelike::year(&t) > 1).then_some(t)
}

fn instant_of(s: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.as_deref()?;
    assert!(s.ends_with('Z'), "{s} is not UTC");
    Some(
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_timezone(&chrono::Utc),
    )
}

fn strs(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    })
}

fn find<'a>(all: &'a [StoreContainer], id: &str) -> &'a StoreContainer {
    all.iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("container {id} not listed"))
}

/// Every field `podman inspect` gave, from the store's rows.
fn check_store(evidence: &Path) {
    let exp = expected("podman5");
    assert_eq!(exp["state_db"]["bolt_state_db_exists"], false);
    let (ev, st) = open(evidence);
    let fs = &*ev.volumes[0].fs;
    assert!(st.libpod_error().is_none(), "{:?}", st.libpod_error());
    assert!(
        st.libpod_findings().is_empty(),
        "{:?}",
        st.libpod_findings()
    );
    assert_eq!(st.images().len(), exp["images"].as_array().unwrap().len());
    let all = st.containers();
    let want = exp["containers"].as_array().unwrap();
    assert_eq!(all.len(), want.len());
    for w in want {
        let c = find(&all, w["id"].as_str().unwrap());
        let who = w["name"].as_str().unwrap();
        assert!(c.problems.is_empty(), "{who}: {:?}", c.problems);
        assert_eq!(c.name.as_deref(), Some(who));
        assert_eq!(c.state.as_deref(), w["status"].as_str(), "{who}");
        // A container that never ran has no exit code; Podman shows 0.
        if w["status"] == "created" {
            assert_eq!(c.exit_code, None, "{who}");
            assert_eq!(w["exit_code"], 0);
        } else {
            assert_eq!(c.exit_code, w["exit_code"].as_i64(), "{who}");
        }
        assert_eq!(instant_of(&c.created), instant(&w["created"]), "{who}");
        assert_eq!(instant_of(&c.started), instant(&w["started_at"]), "{who}");
        assert_eq!(instant_of(&c.finished), instant(&w["finished_at"]), "{who}");
        assert_eq!(c.path.as_deref(), w["path"].as_str(), "{who}");
        assert_eq!(c.args, strs(&w["args"]), "{who}");
        assert_eq!(c.command, strs(&w["cmd"]), "{who}");
        assert_eq!(c.entrypoint, strs(&w["entrypoint"]), "{who}");
        assert_eq!(c.env, strs(&w["env"]), "{who}");
        assert_eq!(c.user.as_deref(), w["user"].as_str(), "{who}");
        assert_eq!(c.working_dir.as_deref(), w["workdir"].as_str(), "{who}");
        assert_eq!(c.log_path.as_deref(), w["log_path"].as_str(), "{who}");
        assert_eq!(
            c.log_driver.as_deref(),
            w["log_config"]["Type"].as_str(),
            "{who}"
        );
        assert_eq!(c.runtime.as_deref(), w["oci_runtime"].as_str(), "{who}");
        assert_eq!(
            c.image_id.as_deref(),
            Some(format!("sha256:{}", w["image"].as_str().unwrap()).as_str())
        );
        assert_eq!(c.image.as_deref(), w["image_name"].as_str(), "{who}");
        // libpod records `privileged` (false here) but not `--cap-add`.
        assert_eq!(c.privileged, Some(false), "{who}");
        assert_eq!(c.cap_add, None, "{who}");
        assert!(
            c.capabilities
                .as_ref()
                .is_some_and(|caps| caps.iter().any(|c| c == "CAP_CHOWN")),
            "{who}: {:?}",
            c.capabilities
        );
        // Mounts as `podman inspect` lists them.
        let mounts = c.mounts.as_ref().expect("mounts recorded");
        let want_mounts = w["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), want_mounts.len(), "{who}: {mounts:?}");
        for (m, wm) in mounts.iter().zip(want_mounts) {
            assert_eq!(m.kind, wm["Type"].as_str().unwrap());
            assert_eq!(m.name.as_deref(), wm["Name"].as_str());
            assert_eq!(m.source.as_deref(), wm["Source"].as_str());
            assert_eq!(m.destination, wm["Destination"].as_str().unwrap());
            assert_eq!(m.read_write, wm["RW"].as_bool().unwrap());
        }
        // The log file in the evidence, with the lines Podman counted.
        let lines = w["log_file_lines"].as_u64().unwrap();
        match &c.log {
            Some(log) => {
                let text = fs.read_small(log, 1 << 20).unwrap();
                assert_eq!(text.split(|b| *b == b'\n').count() as u64 - 1, lines);
            }
            None => assert_eq!(lines, 0, "{who}: log missing"),
        }
    }
    // Named volumes: the data Podman saw, found in the evidence.
    let run = all
        .iter()
        .find(|c| c.name.as_deref() == Some("builder-run"))
        .unwrap();
    let vols = exp["volumes"].as_array().unwrap();
    assert_eq!(run.named_volumes.len(), vols.len());
    for w in vols {
        let v = run
            .named_volumes
            .iter()
            .find(|v| v.name == w["name"].as_str().unwrap())
            .unwrap();
        assert_eq!(v.mount_point.as_deref(), w["mountpoint"].as_str());
        assert_eq!(v.driver.as_deref(), w["driver"].as_str());
        assert_eq!(instant_of(&v.created), instant(&w["created"]));
        let dir = v.data_dir.as_ref().expect("volume data in the evidence");
        for (file, sha) in w["files_sha256"].as_object().unwrap() {
            let bytes = fs.read_small(&dir.join(file).unwrap(), 1 << 20).unwrap();
            assert_eq!(&docker_forensics::digest::sha256_hex(&bytes), sha);
        }
    }
    let lv = st.libpod_volumes();
    assert_eq!(lv.len(), vols.len());
}

/// `containers --json`, the table and `diff`, as an examiner runs them.
fn check_cli(evidence: &Path) {
    let exp = expected("podman5");
    let r = run([
        Path::new("containers"),
        evidence,
        Path::new("--json"),
        Path::new("-q"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "containers");
    for c in exp["containers"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| r["container_id"] == c["id"])
            .expect("listed");
        assert_eq!(row["store"], "podman");
        assert_eq!(row["name"], c["name"]);
        assert_eq!(row["state"], c["status"]);
        if c["status"] != "created" {
            assert_eq!(row["exit_code"], c["exit_code"]);
        }
        assert_eq!(instant(&row["started"]), instant(&c["started_at"]));
        assert_eq!(instant(&row["finished"]), instant(&c["finished_at"]));
        assert_eq!(instant(&row["created"]), instant(&c["created"]));
        assert_eq!(row["cmd"], c["cmd"]);
        assert_eq!(row["path"], c["path"]);
        assert_eq!(row["args"], c["args"]);
        let r = run([
            Path::new("diff"),
            Path::new(c["name"].as_str().unwrap()),
            evidence,
            Path::new("-q"),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort();
        assert_eq!(got, strs(&c["diff"]).unwrap(), "{}", c["name"]);
    }
    let r = run([Path::new("containers"), evidence, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for c in exp["containers"].as_array().unwrap() {
        let id = &c["id"].as_str().unwrap()[..12];
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not in\n{}", r.stdout));
        let state = c["status"].as_str().unwrap();
        assert!(line.contains(state), "{line}");
        if state != "created" {
            assert!(line.contains(&format!(" {} ", c["exit_code"])), "{line}");
        }
        assert!(line.contains(c["path"].as_str().unwrap()), "{line}");
    }
}

#[test]
fn podman5_state_from_the_host_tree() {
    let Some(host) = host("podman5") else { return };
    check_store(&host);
}

#[test]
fn podman5_state_from_the_e01() {
    let Some(e01) = e01() else { return };
    check_store(&e01);
}

#[test]
fn podman5_cli_from_the_host_tree() {
    let Some(host) = host("podman5") else { return };
    check_cli(&host);
}

#[test]
fn podman5_cli_from_the_e01() {
    let Some(e01) = e01() else { return };
    check_cli(&e01);
}

/// Podman 4's `bolt_state.db` gives the same fields where it records
/// them.
#[test]
fn podman4_bolt_state_gives_the_same_fields() {
    let Some(host) = host("podman-basic") else {
        return;
    };
    let exp = expected("podman-basic");
    let (_ev, st) = open(&host);
    assert!(st.libpod_error().is_none());
    let all = st.containers();
    for w in exp["containers"].as_array().unwrap() {
        let c = find(&all, w["id"].as_str().unwrap());
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.state.as_deref(), w["status"].as_str());
        if w["status"] == "created" {
            assert_eq!(c.exit_code, None);
            assert!(c.started.is_none() && c.finished.is_none());
        } else {
            assert_eq!(c.exit_code, w["exit_code"].as_i64());
            assert!(instant_of(&c.started) <= instant_of(&c.finished));
            assert!(c.finished.is_some());
        }
        assert!(c.created.is_some());
        assert!(c.command.is_some() && c.path.is_some() && c.env.is_some());
        assert!(c.privileged.is_some());
        assert!(c.mounts.is_some());
        assert!(c.log_path.is_some());
    }
}

// ---- damaged and live-copied databases ----

/// sha256 of every file below `dir`, by relative path.
fn tree_hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.insert(
                    e.path().strip_prefix(dir).unwrap().to_path_buf(),
                    sha256_file(&e.path()),
                );
            }
        }
    }
    out
}

/// Reads the damaged host through the library and the CLI; checks that
/// images and containers are still listed and that nothing below the
/// graph root changed. Returns the store and the CLI's stderr.
fn read_damaged(host: &Path) -> (PodmanStore, String) {
    let root = host.join(STORAGE);
    let before = tree_hashes(&root);
    let exp = expected("podman5");
    let (_ev, st) = open(host);
    assert_eq!(st.images().len(), exp["images"].as_array().unwrap().len());
    let all = st.containers();
    assert_eq!(all.len(), exp["containers"].as_array().unwrap().len());
    for w in exp["containers"].as_array().unwrap() {
        let c = find(&all, w["id"].as_str().unwrap());
        assert_eq!(c.name.as_deref(), w["name"].as_str());
    }
    let r = run([Path::new("containers"), host, Path::new("--json")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = common::json_list(&r.stdout, "containers");
    assert_eq!(rows.len(), all.len());
    let r = run([Path::new("images"), host, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(tree_hashes(&root), before, "the evidence changed");
    (st, r.stderr + &run([Path::new("containers"), host]).stderr)
}

#[test]
fn truncated_db_sql_is_a_one_line_error_naming_it() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let db = host.path().join(STORAGE).join("db.sql");
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
    let (st, stderr) = read_damaged(host.path());
    let why = st.libpod_error().expect("an error");
    assert!(why.contains(&format!("/{STORAGE}/db.sql")), "{why}");
    assert!(!why.contains('\n'), "{why}");
    for c in st.containers() {
        assert!(c.state.is_none());
        assert!(c.problems.iter().any(|p| p.contains("db.sql")), "{c:?}");
    }
    assert!(stderr.contains("db.sql"), "{stderr}");
}

#[test]
fn random_bytes_in_db_sql_are_refused_by_name() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let db = host.path().join(STORAGE).join("db.sql");
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    // Encrypted-looking: no structure at all (xorshift, fixed seed).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&db, noise).unwrap();
    let (st, _) = read_damaged(host.path());
    let why = st.libpod_error().expect("an error");
    assert!(why.contains(&format!("/{STORAGE}/db.sql")), "{why}");
    assert!(why.contains("not an SQLite database"), "{why}");
    assert!(!why.contains('\n'), "{why}");
}

/// A writer that holds `db.sql` in WAL mode when the copy is made:
/// the last transaction is only in `db.sql-wal`.
#[test]
fn a_write_ahead_log_is_applied_to_a_private_copy_only() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let db = host.path().join(STORAGE).join("db.sql");
    let work = tempfile::tempdir().unwrap();
    let live = work.path().join("db.sql");
    std::fs::copy(&db, &live).unwrap();
    let conn = rusqlite::Connection::open(&live).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // As libpod adds a volume: both rows in one transaction.
    conn.execute_batch(
        "BEGIN;
         INSERT INTO VolumeConfig VALUES('walvol', NULL, '{\"name\":\"walvol\",\"volumeDriver\":\"local\",\"mountPoint\":\"/var/lib/containers/storage/volumes/walvol/_data\"}');
         INSERT INTO VolumeState VALUES('walvol', '{}');
         COMMIT;",
    )
    .unwrap();
    // The seizure: both files copied while the writer still holds them.
    std::fs::copy(&live, &db).unwrap();
    let wal = host.path().join(STORAGE).join("db.sql-wal");
    std::fs::copy(work.path().join("db.sql-wal"), &wal).unwrap();
    drop(conn);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let (st, stderr) = read_damaged(host.path());
    assert!(st.libpod_error().is_none(), "{:?}", st.libpod_error());
    let f = st.libpod_findings().join("\n");
    assert!(f.contains(&format!("/{STORAGE}/db.sql-wal")), "{f}");
    assert!(
        f.contains("applied by SQLite to a private copy only"),
        "{f}"
    );
    assert!(stderr.contains("db.sql-wal"), "{stderr}");
    // The log was applied (to the copy): its volume is there, and the
    // states are read as before.
    assert!(st.libpod_volumes().contains_key("walvol"));
    let exp = expected("podman5");
    let all = st.containers();
    for w in exp["containers"].as_array().unwrap() {
        let c = find(&all, w["id"].as_str().unwrap());
        assert_eq!(c.state.as_deref(), w["status"].as_str());
    }
    assert!(!host.path().join(STORAGE).join("db.sql-shm").exists());
}

/// A transaction interrupted in rollback-journal mode: `db.sql` already
/// holds uncommitted pages, `db.sql-journal` the pages to restore.
#[test]
fn a_hot_journal_is_rolled_back_in_a_private_copy_only() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let db = host.path().join(STORAGE).join("db.sql");
    let work = tempfile::tempdir().unwrap();
    let live = work.path().join("db.sql");
    std::fs::copy(&db, &live).unwrap();
    let conn = rusqlite::Connection::open(&live).unwrap();
    // A tiny page cache makes SQLite write uncommitted pages to the
    // database file before the commit (after saving them in the journal).
    conn.execute_batch("PRAGMA cache_size=1; PRAGMA cache_spill=1; BEGIN;")
        .unwrap();
    conn.execute(
        "UPDATE ContainerState SET JSON = '{\"state\":3,\"exitCode\":99}'",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO VolumeState VALUES('filler', ?1)",
        [String::from_utf8(vec![b'x'; 256 << 10]).unwrap()],
    )
    .unwrap();
    let journal = work.path().join("db.sql-journal");
    assert!(journal.exists(), "no journal written");
    std::fs::copy(&live, &db).unwrap();
    std::fs::copy(&journal, host.path().join(STORAGE).join("db.sql-journal")).unwrap();
    drop(conn);
    // The seized db.sql alone holds the uncommitted change.
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&db, alone.path().join("db.sql")).unwrap();
    let uncommitted: i64 = rusqlite::Connection::open(alone.path().join("db.sql"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM ContainerState WHERE JSON LIKE '%\"exitCode\":99%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        uncommitted > 0,
        "the crafted database holds no uncommitted page"
    );
    let (st, stderr) = read_damaged(host.path());
    assert!(st.libpod_error().is_none(), "{:?}", st.libpod_error());
    let f = st.libpod_findings().join("\n");
    assert!(f.contains(&format!("/{STORAGE}/db.sql-journal")), "{f}");
    assert!(f.contains("rolled it back"), "{f}");
    assert!(stderr.contains("db.sql-journal"), "{stderr}");
    // Rolled back: the committed states, not the interrupted ones.
    let exp = expected("podman5");
    let all = st.containers();
    for w in exp["containers"].as_array().unwrap() {
        let c = find(&all, w["id"].as_str().unwrap());
        assert_eq!(c.state.as_deref(), w["status"].as_str());
    }
    let run = all
        .iter()
        .find(|c| c.name.as_deref() == Some("builder-run"))
        .unwrap();
    assert_eq!(run.exit_code, Some(3));
    assert!(host.path().join(STORAGE).join("db.sql-journal").exists());
}

/// A log beside a database that is not in WAL mode is left out, as SQLite
/// itself would, and said so.
#[test]
fn a_stray_write_ahead_log_is_named_and_not_used() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let wal = host.path().join(STORAGE).join("db.sql-wal");
    std::fs::write(&wal, vec![0x17u8; 4096]).unwrap();
    let (st, stderr) = read_damaged(host.path());
    assert!(st.libpod_error().is_none(), "{:?}", st.libpod_error());
    let f = st.libpod_findings().join("\n");
    assert!(f.contains(&format!("/{STORAGE}/db.sql-wal")), "{f}");
    assert!(f.contains("not in WAL mode"), "{f}");
    assert!(stderr.contains("db.sql-wal"), "{stderr}");
    let exp = expected("podman5");
    let all = st.containers();
    for w in exp["containers"].as_array().unwrap() {
        let c = find(&all, w["id"].as_str().unwrap());
        assert_eq!(c.state.as_deref(), w["status"].as_str());
    }
}

/// A container whose containers/storage record is gone (removed storage,
/// or a tampered `containers.json`) is still listed from libpod's state.
#[test]
fn a_container_only_in_libpod_state_is_listed() {
    let Some(host) = host_copy("podman5") else {
        return;
    };
    let exp = expected("podman5");
    let parked = exp["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "parked")
        .unwrap();
    let cj = host
        .path()
        .join(STORAGE)
        .join("overlay-containers/containers.json");
    let mut recs: Vec<Value> = serde_json::from_slice(&std::fs::read(&cj).unwrap()).unwrap();
    recs.retain(|r| r["id"] != parked["id"]);
    std::fs::write(&cj, serde_json::to_vec(&recs).unwrap()).unwrap();
    let (_ev, st) = open(host.path());
    let all = st.containers();
    assert_eq!(all.len(), exp["containers"].as_array().unwrap().len());
    let c = find(&all, parked["id"].as_str().unwrap());
    assert_eq!(c.name.as_deref(), parked["name"].as_str());
    assert_eq!(c.state.as_deref(), parked["status"].as_str());
    assert_eq!(c.command, strs(&parked["cmd"]));
    assert_eq!(
        c.image_id.as_deref(),
        Some(format!("sha256:{}", parked["image"].as_str().unwrap()).as_str())
    );
    assert!(c.writable_dir.is_none());
    assert!(
        c.problems.iter().any(|p| p.contains("containers.json")),
        "{:?}",
        c.problems
    );
}
