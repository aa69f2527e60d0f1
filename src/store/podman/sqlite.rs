//! Podman 5's libpod state: `<graphroot>/db.sql`, an SQLite database
//! (libpod `sqlite_state.go`, tables created in
//! `sqlite_state_internal.go`, schema version 1):
//! - `ContainerConfig(ID, Name, PodID, JSON)`: the libpod
//!   `ContainerConfig` as JSON (the same document `bolt_state.db` keeps);
//! - `ContainerState(ID, State, ExitCode, JSON)`: the `ContainerState` as
//!   JSON. The `State` and `ExitCode` columns are written when the row is
//!   created and not kept up to date (a container that exited 3 still has
//!   `State` 1, `ExitCode` 0): only the JSON is read;
//! - `ContainerExitCode(ID, Timestamp, ExitCode)`: exit codes kept for
//!   `podman wait` after the container is gone;
//! - `VolumeConfig(Name, StorageID, JSON)`: named volumes (libpod
//!   `VolumeConfig` JSON: driver, `mountPoint`, `createdAt`);
//! - `DBConfig`: the graph root, static and volume directories the host
//!   used, to map recorded host paths into the evidence.
//!
//! The evidence file is never opened by SQLite: opening a database may
//! write (a `-shm` index, a checkpoint of the write-ahead log, the
//! rollback of a hot journal). `db.sql` and any `db.sql-wal` or
//! `db.sql-journal` beside it are copied, through the evidence's
//! [`FileSystem`], into a private temporary directory, and SQLite opens
//! that copy: a pending log or journal is applied to the copy only, as
//! Podman would have applied it on its next start, and a finding says
//! so. The copy is refused above [`DB_SQL_LIMIT`].

use super::libpod::{LibpodContainer, LibpodState, LibpodVolume};
use crate::evidence::fs::{EvPath, FileSystem, FsError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// The largest `db.sql` (and, separately, log or journal) copied.
pub const DB_SQL_LIMIT: u64 = 1 << 30;
/// A JSON document larger than this in one row is not read.
const ROW_JSON_LIMIT: i64 = 64 << 20;
/// More rows than this in one table are not read.
const MAX_ROWS: usize = 1 << 20;
/// The first 16 bytes of every SQLite 3 database (SQLite `fileformat2`).
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The first 8 bytes of a rollback journal with a valid header (SQLite
/// `fileformat2`, "The Rollback Journal").
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// Why `db.sql` could not be read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStateError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "{path}: {size} bytes, more than the {limit} bytes a libpod database is believed to hold; not read"
    )]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: cannot make the private copy SQLite reads: {source}")]
    Copy {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an SQLite database: {detail}")]
    NotSqlite { path: String, detail: String },
    #[error("{path}: SQLite cannot read it: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: not a Podman state database: it has no {table} table")]
    NotPodman { path: String, table: String },
}

/// Reads the containers and volumes of `db.sql` at `path`.
pub fn read_sqlite(fs: &dyn FileSystem, path: &EvPath) -> Result<LibpodState, SqliteStateError> {
    read_sqlite_limited(fs, path, DB_SQL_LIMIT)
}

/// [`read_sqlite`] with another size limit (for tests).
pub fn read_sqlite_limited(
    fs: &dyn FileSystem,
    path: &EvPath,
    limit: u64,
) -> Result<LibpodState, SqliteStateError> {
    let shown = path.display();
    let tmp = tempfile::Builder::new()
        .prefix("docker-forensics-libpod-")
        .tempdir()
        .map_err(|source| SqliteStateError::Copy {
            path: shown.clone(),
            source,
        })?;
    let copy = tmp.path().join("db.sql");
    let size = copy_out(fs, path, &copy, limit)?;
    let header = check_header(&copy, size, &shown)?;
    // Header bytes 18 and 19 (file format write/read version) are 2 in
    // WAL mode (SQLite `fileformat2`, "The Database Header").
    let wal_mode = header[18] == 2 || header[19] == 2;
    let mut findings = Vec::new();
    let name = String::from_utf8_lossy(path.file_name()).into_owned();
    let mut journal = None;
    for suffix in ["-wal", "-journal"] {
        let Some(side) = path.parent().child(format!("{name}{suffix}").as_bytes()) else {
            continue;
        };
        let meta = match fs.metadata(&side) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                findings.push(format!("{e}; not used"));
                continue;
            }
        };
        let side_shown = side.display();
        if !meta.is_file() {
            findings.push(format!(
                "{side_shown}: not a regular file ({:?}); not used",
                meta.kind
            ));
            continue;
        }
        if suffix == "-wal" && !wal_mode {
            findings.push(format!(
                "{side_shown}: a write-ahead log of {} bytes beside {shown}, which is not in WAL mode: SQLite would not read it; not used",
                meta.size
            ));
            continue;
        }
        let to = tmp.path().join(format!("db.sql{suffix}"));
        let n = copy_out(fs, &side, &to, limit)?;
        if suffix == "-wal" {
            findings.push(format!(
                "{side_shown}: a write-ahead log of {n} bytes beside {shown} (changes not yet checkpointed): applied by SQLite to a private copy only, as Podman would on its next start; the evidence is unchanged"
            ));
        } else {
            journal = Some((side_shown, n, to));
        }
    }
    let sql_err = |source| SqliteStateError::Sqlite {
        path: shown.clone(),
        source,
    };
    let conn = open_copy(&copy).map_err(sql_err)?;
    if let Some((side_shown, n, copied)) = journal {
        // SQLite deletes (or zeroes) a hot journal once it has rolled it
        // back; one it left alone was not hot.
        let mut head = Vec::with_capacity(JOURNAL_MAGIC.len());
        let used = std::fs::File::open(&copied)
            .and_then(|f| f.take(JOURNAL_MAGIC.len() as u64).read_to_end(&mut head))
            .map_or(true, |_| head != JOURNAL_MAGIC);
        findings.push(if used {
            format!(
                "{side_shown}: a rollback journal of {n} bytes beside {shown}: a transaction was interrupted; SQLite rolled it back in a private copy only, as Podman would on its next start (the state shown is the last committed one); the evidence is unchanged"
            )
        } else {
            format!(
                "{side_shown}: a rollback journal of {n} bytes beside {shown}, not hot (no interrupted transaction SQLite would roll back); not used"
            )
        });
    }
    let tables = tables(&conn).map_err(sql_err)?;
    for required in ["ContainerConfig", "ContainerState"] {
        if !tables.iter().any(|t| t == required) {
            return Err(SqliteStateError::NotPodman {
                path: shown.clone(),
                table: required.into(),
            });
        }
    }
    let has = |t: &str| tables.iter().any(|x| x == t);
    let mut out = LibpodState {
        source: shown.clone(),
        ..Default::default()
    };
    // The central table: nothing read from it at all is an error.
    let configs = match json_rows(&conn, "ContainerConfig", "ID") {
        Ok(rows) => rows,
        Err((rows, e)) if !rows.is_empty() => {
            findings.push(format!(
                "{shown}: table ContainerConfig read only in part ({} rows): {}",
                rows.len(),
                e
            ));
            rows
        }
        Err((_, e)) => return Err(sql_err(e)),
    };
    let states = partial(
        json_rows(&conn, "ContainerState", "ID"),
        &shown,
        "ContainerState",
        &mut findings,
    );
    let exit_codes: BTreeMap<String, i64> = if has("ContainerExitCode") {
        partial(
            read_rows(
                &conn,
                "SELECT ID, ExitCode FROM ContainerExitCode",
                [],
                |r| Ok((text(r.get_ref(0)?), int(r.get_ref(1)?))),
            ),
            &shown,
            "ContainerExitCode",
            &mut findings,
        )
        .into_iter()
        .filter_map(|(id, code)| Some((id?, code?)))
        .collect()
    } else {
        BTreeMap::new()
    };
    if has("DBConfig") {
        let rows = partial(
            read_rows(
                &conn,
                "SELECT GraphRoot, VolumeDir FROM DBConfig",
                [],
                |r| Ok((text(r.get_ref(0)?), text(r.get_ref(1)?))),
            ),
            &shown,
            "DBConfig",
            &mut findings,
        );
        if let Some((graph_root, volume_dir)) = rows.into_iter().next() {
            out.graph_root = graph_root.filter(|g| !g.is_empty());
            out.volume_dir = volume_dir.filter(|v| !v.is_empty());
        }
    }
    if has("VolumeConfig") {
        let rows = partial(
            json_rows(&conn, "VolumeConfig", "Name"),
            &shown,
            "VolumeConfig",
            &mut findings,
        );
        for row in rows {
            let Some(name) = row.key else { continue };
            let where_ = format!("{shown} VolumeConfig {name:?}");
            match row.json {
                Some(json) => {
                    if let Some(v) = LibpodVolume::from_json(&name, &json, &where_, &mut findings) {
                        out.volumes.insert(name, v);
                    }
                }
                None => findings.push(too_big(&where_, row.len)),
            }
        }
    }
    let mut by_id: BTreeMap<String, Records> = BTreeMap::new();
    for (table, rows) in [("ContainerConfig", configs), ("ContainerState", states)] {
        for row in rows {
            let Some(id) = row.key else { continue };
            let entry = by_id.entry(id.clone()).or_default();
            match (row.json, table) {
                (Some(j), "ContainerConfig") => entry.config = Some(j),
                (Some(j), _) => entry.state = Some(j),
                (None, _) => entry
                    .notes
                    .push(too_big(&format!("{shown} {table} {id}"), row.len)),
            }
        }
    }
    for (id, r) in by_id {
        let mut c = LibpodContainer::from_json(
            &id,
            r.config.as_deref(),
            r.state.as_deref(),
            &format!("{shown} (container {id})"),
        );
        c.problems.extend(r.notes);
        c.settle_exit_code(exit_codes.get(&id).copied());
        out.containers.insert(id, c);
    }
    out.findings = findings;
    Ok(out)
}

/// One container's records.
#[derive(Default)]
struct Records {
    config: Option<Vec<u8>>,
    state: Option<Vec<u8>>,
    notes: Vec<String>,
}

/// A row of a `(key, JSON)` table: the JSON unless it is too large, and
/// its length.
struct JsonRow {
    key: Option<String>,
    json: Option<Vec<u8>>,
    len: Option<i64>,
}

type Partial<T> = Result<Vec<T>, (Vec<T>, rusqlite::Error)>;

/// The rows of `table` (one of Podman's, named by this module) with key
/// column `key` and a `JSON` column.
fn json_rows(conn: &Connection, table: &str, key: &str) -> Partial<JsonRow> {
    read_rows(
        conn,
        &format!(
            "SELECT {key}, CASE WHEN length(JSON) <= ?1 THEN JSON END, length(JSON) FROM {table}"
        ),
        [ROW_JSON_LIMIT],
        |r| {
            Ok(JsonRow {
                key: text(r.get_ref(0)?),
                json: bytes(r.get_ref(1)?),
                len: int(r.get_ref(2)?),
            })
        },
    )
}

/// Copies the evidence file `from` to `to`, refusing more than `limit`
/// bytes. Returns the number of bytes copied.
fn copy_out(
    fs: &dyn FileSystem,
    from: &EvPath,
    to: &Path,
    limit: u64,
) -> Result<u64, SqliteStateError> {
    let meta = fs.metadata(from)?;
    if !meta.is_file() {
        return Err(FsError::NotAFile {
            path: from.display(),
            kind: meta.kind,
        }
        .into());
    }
    let too_large = |size| SqliteStateError::TooLarge {
        path: from.display(),
        size,
        limit,
    };
    if meta.size > limit {
        return Err(too_large(meta.size));
    }
    let mut reader = fs.open(from)?;
    let copy_err = |source| SqliteStateError::Copy {
        path: from.display(),
        source,
    };
    let mut file = std::fs::File::create_new(to).map_err(copy_err)?;
    let mut limited = (&mut reader).take(limit + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let got = limited.read(&mut buf).map_err(|source| FsError::Io {
            path: from.display(),
            source,
        })?;
        if got == 0 {
            break;
        }
        file.write_all(&buf[..got]).map_err(copy_err)?;
        n += got as u64;
    }
    if n > limit {
        return Err(too_large(n));
    }
    file.flush().map_err(copy_err)?;
    Ok(n)
}

/// Refuses what is plainly no SQLite database before SQLite sees it.
fn check_header(copy: &Path, size: u64, shown: &str) -> Result<[u8; 100], SqliteStateError> {
    let not = |detail: String| SqliteStateError::NotSqlite {
        path: shown.to_string(),
        detail,
    };
    if size == 0 {
        return Err(not("the file is empty".into()));
    }
    let mut head = Vec::with_capacity(100);
    std::fs::File::open(copy)
        .and_then(|f| f.take(100).read_to_end(&mut head))
        .map_err(|source| SqliteStateError::Copy {
            path: shown.to_string(),
            source,
        })?;
    if !head.starts_with(MAGIC) {
        return Err(not(format!(
            "it does not start with \"SQLite format 3\" (first bytes {}); damaged, or encrypted",
            hex::encode(&head[..head.len().min(16)])
        )));
    }
    <[u8; 100]>::try_from(head.as_slice())
        .map_err(|_| not(format!("{size} bytes, shorter than the 100-byte header")))
}

/// Opens the private copy. Read-write, so that SQLite can apply a
/// write-ahead log or roll back a hot journal (to the copy); then
/// queries only, with the schema distrusted (SQLite `DEFENSIVE`,
/// `trusted_schema=OFF`) and pages checked.
fn open_copy(copy: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.pragma_update(None, "trusted_schema", false)?;
    conn.pragma_update(None, "cell_size_check", true)?;
    conn.pragma_update(None, "mmap_size", 0)?;
    // The first read replays a log or journal; only then refuse writes.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Names of the real tables (a view or a virtual table named like one of
/// Podman's is not queried).
fn tables(conn: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    let mut st = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'",
    )?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Runs `sql` with `params` and maps each
/// row; on an error, the rows read so far come with it.
fn read_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Partial<T> {
    let mut out = Vec::new();
    let mut st = conn.prepare(sql).map_err(|e| (Vec::new(), e))?;
    let mut rows = st.query(params).map_err(|e| (Vec::new(), e))?;
    loop {
        match rows.next() {
            Ok(Some(row)) => match f(row) {
                Ok(v) => out.push(v),
                Err(e) => return Err((out, e)),
            },
            Ok(None) => return Ok(out),
            Err(e) => return Err((out, e)),
        }
        if out.len() >= MAX_ROWS {
            let e = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
                Some(format!("more than {MAX_ROWS} rows; the rest not read")),
            );
            return Err((out, e));
        }
    }
}

/// The rows of a table that is not essential: an error is a finding.
fn partial<T>(r: Partial<T>, shown: &str, table: &str, findings: &mut Vec<String>) -> Vec<T> {
    match r {
        Ok(v) => v,
        Err((v, e)) => {
            findings.push(format!(
                "{shown}: table {table} read only in part ({} rows): {}",
                v.len(),
                e
            ));
            v
        }
    }
}

fn too_big(where_: &str, len: Option<i64>) -> String {
    match len {
        Some(len) if len > ROW_JSON_LIMIT => {
            format!("{where_}: JSON of {len} bytes, more than {ROW_JSON_LIMIT}; not read")
        }
        _ => format!("{where_}: no JSON text"),
    }
}

/// A TEXT or BLOB column as bytes (libpod writes JSON as either).
fn bytes(v: ValueRef<'_>) -> Option<Vec<u8>> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// An INTEGER column (anything else, as hostile data may hold, is none).
fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        _ => None,
    }
}

/// A TEXT or BLOB column as (lossy) text.
fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::fs::HostDir;

    fn host(dir: &Path) -> HostDir {
        HostDir::open(dir).expect("host dir")
    }

    fn podman_db(dir: &Path) {
        let c = Connection::open(dir.join("db.sql")).unwrap();
        c.execute_batch(
            "CREATE TABLE ContainerConfig(ID TEXT PRIMARY KEY NOT NULL, Name TEXT UNIQUE NOT NULL, PodID TEXT, JSON TEXT NOT NULL);
             CREATE TABLE ContainerState(ID TEXT PRIMARY KEY NOT NULL, State INTEGER NOT NULL, ExitCode INTEGER, JSON TEXT NOT NULL);
             CREATE TABLE VolumeConfig(Name TEXT PRIMARY KEY NOT NULL, StorageID TEXT, JSON TEXT NOT NULL);
             INSERT INTO ContainerConfig VALUES('c1','one',NULL,'{\"name\":\"one\",\"command\":[\"true\"],\"namedVolumes\":[{\"volumeName\":\"v\",\"dest\":\"/v\"}]}');
             INSERT INTO ContainerState VALUES('c1',1,0,'{\"state\":6,\"exitCode\":7,\"startedTime\":\"2026-01-01T00:00:00Z\"}');
             INSERT INTO VolumeConfig VALUES('v',NULL,'{\"mountPoint\":\"/var/lib/containers/storage/volumes/v/_data\"}');",
        )
        .unwrap();
    }

    #[test]
    fn reads_json_not_the_stale_columns() {
        let d = tempfile::tempdir().unwrap();
        podman_db(d.path());
        let fs = host(d.path());
        let st = read_sqlite(&fs, &EvPath::parse("db.sql").unwrap()).unwrap();
        let c = &st.containers["c1"];
        assert_eq!(c.state.as_deref(), Some("exited"));
        assert_eq!(c.exit_code, Some(7));
        assert_eq!(c.command.as_deref(), Some(&["true".to_string()][..]));
        assert_eq!(
            st.volumes["v"].mount_point.as_deref(),
            Some("/var/lib/containers/storage/volumes/v/_data")
        );
        assert!(st.findings.is_empty(), "{:?}", st.findings);
    }

    #[test]
    fn refuses_what_is_too_large_or_not_sqlite() {
        let d = tempfile::tempdir().unwrap();
        podman_db(d.path());
        let fs = host(d.path());
        let p = EvPath::parse("db.sql").unwrap();
        let e = read_sqlite_limited(&fs, &p, 100).unwrap_err();
        assert!(matches!(e, SqliteStateError::TooLarge { .. }), "{e}");
        assert!(e.to_string().starts_with("/db.sql: "), "{e}");
        std::fs::write(d.path().join("db.sql"), b"").unwrap();
        let e = read_sqlite(&fs, &p).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        std::fs::write(d.path().join("db.sql"), [0x5au8; 8192]).unwrap();
        let e = read_sqlite(&fs, &p).unwrap_err().to_string();
        assert!(e.contains("not an SQLite database"), "{e}");
        // A database of something else.
        std::fs::remove_file(d.path().join("db.sql")).unwrap();
        Connection::open(d.path().join("db.sql"))
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let e = read_sqlite(&fs, &p).unwrap_err();
        assert!(matches!(e, SqliteStateError::NotPodman { .. }), "{e}");
    }

    #[test]
    fn views_are_not_queried_and_odd_columns_are_no_panic() {
        let d = tempfile::tempdir().unwrap();
        let c = Connection::open(d.path().join("db.sql")).unwrap();
        // A view standing in for a table could run anything when read.
        c.execute_batch(
            "CREATE TABLE ContainerState(ID, State, ExitCode, JSON);
             CREATE VIEW ContainerConfig AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n) SELECT x AS ID, x AS Name, NULL AS PodID, x AS JSON FROM n;",
        )
        .unwrap();
        drop(c);
        let fs = host(d.path());
        let p = EvPath::parse("db.sql").unwrap();
        let e = read_sqlite(&fs, &p).unwrap_err();
        assert!(matches!(e, SqliteStateError::NotPodman { .. }), "{e}");
        // Wrong types everywhere (SQLite columns take any value).
        std::fs::remove_file(d.path().join("db.sql")).unwrap();
        let c = Connection::open(d.path().join("db.sql")).unwrap();
        c.execute_batch(
            "CREATE TABLE ContainerConfig(ID, Name, PodID, JSON);
             CREATE TABLE ContainerState(ID, State, ExitCode, JSON);
             CREATE TABLE ContainerExitCode(ID, Timestamp, ExitCode);
             INSERT INTO ContainerConfig VALUES(7, x'00', 1.5, 42);
             INSERT INTO ContainerState VALUES(7, 'x', 'y', x'ff00');
             INSERT INTO ContainerExitCode VALUES(7, 'now', 'three');",
        )
        .unwrap();
        drop(c);
        let st = read_sqlite(&fs, &p).unwrap();
        let c = &st.containers["7"];
        assert_eq!(c.state, None);
        assert_eq!(c.exit_code, None);
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(c.problems[2].ends_with("no JSON text"), "{:?}", c.problems);
    }
}
