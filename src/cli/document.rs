//! The JSON documents the listing commands print (`--json`): one object
//! per run, `schema` first, then what was run on which evidence, then the
//! command's own members (see `docker_forensics::schema`).

use anyhow::Result;
use serde_json::{Map, Value};
use std::path::Path;

/// Prints `{"schema", "command", "tool", "evidence", ...members}` to
/// stdout, pretty-printed.
pub fn print(command: &str, evidence: &Path, members: Vec<(&str, Value)>) -> Result<()> {
    let mut doc = Map::new();
    doc.insert(
        "schema".into(),
        serde_json::to_value(docker_forensics::schema::Schema)?,
    );
    doc.insert("command".into(), command.into());
    doc.insert(
        "tool".into(),
        format!("docker-forensics {}", env!("CARGO_PKG_VERSION")).into(),
    );
    doc.insert(
        "evidence".into(),
        evidence.to_string_lossy().into_owned().into(),
    );
    for (k, v) in members {
        doc.insert(k.into(), v);
    }
    super::out::line(&serde_json::to_string_pretty(&Value::Object(doc))?);
    Ok(())
}
