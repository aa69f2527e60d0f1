//! The schema every JSON document the tool writes declares, and the one
//! spelling of digests in them.
//!
//! Every JSON document (`images --json`, `verify --json`, `containers
//! --json`, `diff --json`, each `report.json`) is an object whose first
//! member is `"schema": "docker-forensics/1"`. Within one schema version
//! members are only ever added, never renamed or removed; a change that
//! would break a reader bumps the number. The README documents it.

use serde::{Serialize, Serializer};

/// The schema name and version every JSON document carries.
pub const SCHEMA: &str = "docker-forensics/1";

/// A field that serializes as [`SCHEMA`], so no document can carry
/// another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schema;

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SCHEMA)
    }
}

/// `sha256:<hex>` for a sha256 kept as bare hex (as `SHA256SUMS` wants
/// it); a value that already has the prefix is left as it is.
pub fn prefixed(hex: &str) -> String {
    if hex.starts_with("sha256:") || hex.is_empty() {
        hex.to_string()
    } else {
        format!("sha256:{hex}")
    }
}

/// Serializes a bare-hex sha256 as `sha256:<hex>` (`serialize_with`).
pub fn sha256<S: Serializer>(hex: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&prefixed(hex))
}

/// [`sha256`] for an optional value.
pub fn sha256_opt<S: Serializer>(hex: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match hex {
        Some(h) => s.serialize_some(&prefixed(h)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_get_one_prefix() {
        assert_eq!(prefixed("ab12"), "sha256:ab12");
        assert_eq!(prefixed("sha256:ab12"), "sha256:ab12");
        assert_eq!(prefixed(""), "");
        #[derive(Serialize)]
        struct T {
            schema: Schema,
            #[serde(serialize_with = "sha256")]
            d: String,
        }
        let v = serde_json::to_value(T {
            schema: Schema,
            d: "00".into(),
        })
        .unwrap();
        assert_eq!(v["schema"], "docker-forensics/1");
        assert_eq!(v["d"], "sha256:00");
    }
}
