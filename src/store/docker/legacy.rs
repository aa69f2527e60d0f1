//! Docker data roots from before Docker 1.10: the `graph/` layout
//! (moby v1.9 `graph/graph.go`, `graph/tags.go`; read again by the 1.10
//! migration, moby `migrate/v1/migratev1.go`, which is what turns such a
//! root into the modern one when a newer dockerd first starts on it):
//! - `graph/<id>/json`: the v1 image JSON (`id`, `parent`, `created`,
//!   `container_config`, `config`, `Size`, ...). Ids are random 64-hex
//!   strings, not content addresses: nothing hashes to them;
//! - `graph/<id>/layersize`, `checksum` (the blob digest of a v2 pull)
//!   and `tar-data.json.gz` (the layer's tar-split, Docker 1.8 and later);
//! - `repositories-<driver>`: `{"Repositories": {name: {tag: id}}}`;
//! - `containers/<id>/config.json` and `hostconfig.json` (the same keys
//!   as the later `config.v2.json`), `linkgraph.db` (links);
//! - `<driver>/diff/<id>` (aufs): each image's and container's files,
//!   `<container id>-init` the init layer.
//!
//! In the one model such an image's id is its v1 id, unprefixed (it is
//! not a sha256 of anything), and its config is made as the 1.10
//! migration makes one of the v1 JSON (moby `image/v1`
//! `MakeConfigFromV1Config`): the v1-only keys dropped, `history` from
//! the parent chain, keys sorted and HTML characters escaped as Go's
//! encoder does, `rootfs.diff_ids` left empty because only replaying the
//! layers can give them (the exporter fills them in and says so). It has
//! not been compared with what a migrating dockerd writes: the id
//! `docker load` gives the archive is its sha256, a new id either way.

use super::DataRoot;
use crate::digest::is_sha256_hex;
use crate::evidence::fs::{EvPath, FileKind, FileSystem};
use crate::store::StoreError;
use crate::store::model::{Image, ImageConfig, LayerSource, RunConfig, UnpackedLayer};
use serde_json::Value;

/// A v1 image JSON larger than this is not one (they are a few KiB).
const JSON_LIMIT: u64 = 1 << 20;
/// Longest parent chain followed (aufs allowed 127 layers): with
/// `JSON_LIMIT`, what a hostile chain can make us hold is bounded.
const CHAIN_LIMIT: usize = 256;
/// Graph drivers of the pre-1.10 era, most common first.
const DRIVERS: [&str; 6] = ["aufs", "overlay", "devicemapper", "btrfs", "zfs", "vfs"];

/// The graph driver of a pre-1.10 data root at `path`: the one its
/// `repositories-<driver>` names, else the first driver directory
/// present; `None` when `path/graph/` holds no `<id>/json`.
pub(super) fn graph_driver(fs: &dyn FileSystem, path: &EvPath) -> Option<String> {
    let graph = path.child(b"graph")?;
    let entries = fs.read_dir(&graph).ok()?;
    let has_image = entries
        .iter()
        .filter(|e| e.kind == FileKind::Dir)
        .take(1000)
        .any(|e| {
            graph
                .child(&e.name)
                .and_then(|d| d.child(b"json"))
                .is_some_and(|j| fs.metadata(&j).is_ok_and(|m| m.is_file()))
        });
    let top = fs.read_dir(path).ok()?;
    let named = top.iter().find_map(|e| {
        let n = std::str::from_utf8(&e.name).ok()?;
        let d = n.strip_prefix("repositories-")?;
        (e.kind == FileKind::File && !d.is_empty() && !d.contains('/')).then(|| d.to_string())
    });
    if !has_image && named.is_none() {
        return None;
    }
    named.or_else(|| {
        DRIVERS
            .iter()
            .find(|d| {
                top.iter()
                    .any(|e| e.kind == FileKind::Dir && e.name == d.as_bytes())
            })
            .map(|d| d.to_string())
    })
}

/// One v1 image JSON, the parts read.
#[derive(Debug, Clone)]
pub(super) struct V1Image {
    pub id: String,
    pub parent: Option<String>,
    pub json: Value,
}

impl V1Image {
    fn str(&self, key: &str) -> Option<String> {
        self.json.get(key).and_then(Value::as_str).map(String::from)
    }
}

impl DataRoot {
    fn graph_entry(&self, id: &str) -> Option<EvPath> {
        if !is_sha256_hex(id) {
            return None;
        }
        self.path.join(format!("graph/{id}"))
    }

    /// `repositories-<driver>`, the pre-1.10 reference store.
    pub(super) fn v1_repositories(&self) -> EvPath {
        self.path
            .join(format!("repositories-{}", self.driver))
            .unwrap_or_default()
    }

    /// Ids of every image in `graph/`.
    pub(super) fn v1_ids(&self) -> Result<Vec<String>, StoreError> {
        let graph = self.path.join("graph").unwrap_or_default();
        let mut ids: Vec<String> = self
            .fs()
            .read_dir(&graph)?
            .into_iter()
            .filter(|e| e.kind == FileKind::Dir)
            .filter_map(|e| String::from_utf8(e.name).ok())
            .filter(|n| is_sha256_hex(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads `graph/<id>/json`.
    pub(super) fn v1_image(&self, id: &str) -> Result<V1Image, StoreError> {
        let bad = |detail: String| StoreError::BadImage {
            image: id.to_string(),
            detail,
        };
        let entry = self
            .graph_entry(id)
            .ok_or_else(|| bad("not a v1 image id (64 hex digits)".into()))?;
        let path = entry.child(b"json").unwrap_or_default();
        let bytes = self.fs().read_small(&path, JSON_LIMIT)?;
        let json: Value = crate::json::parse(&bytes).map_err(|e| StoreError::CorruptJson {
            path: path.display(),
            detail: e.to_string(),
        })?;
        let parent = json
            .get("parent")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(String::from);
        Ok(V1Image {
            id: id.to_string(),
            parent,
            json,
        })
    }

    /// The image and its ancestors, the image first. A parent that is
    /// gone, or a loop, is an error naming it.
    pub(super) fn v1_chain(&self, id: &str) -> Result<Vec<V1Image>, StoreError> {
        let mut chain: Vec<V1Image> = Vec::new();
        let mut next = Some(id.to_string());
        while let Some(cur) = next.take() {
            if chain.len() >= CHAIN_LIMIT || chain.iter().any(|i| i.id == cur) {
                return Err(StoreError::BadImage {
                    image: id.to_string(),
                    detail: format!("the parent chain loops or is longer than {CHAIN_LIMIT}"),
                });
            }
            let img = self.v1_image(&cur).map_err(|e| {
                if chain.is_empty() {
                    e
                } else {
                    StoreError::BadImage {
                        image: id.to_string(),
                        detail: format!("its ancestor {cur} cannot be read: {e}"),
                    }
                }
            })?;
            next = img.parent.clone();
            chain.push(img);
        }
        Ok(chain)
    }

    /// `graph/<id>/layersize`, when recorded.
    pub(super) fn v1_layer_size(&self, id: &str) -> Option<u64> {
        let p = self.graph_entry(id)?.child(b"layersize")?;
        let b = self.fs().read_small(&p, 64).ok()?;
        String::from_utf8_lossy(&b).trim().parse().ok()
    }

    /// One v1 image as the model's [`Image`]: its config as the 1.10
    /// migration would make it (no diff_ids yet), its layers lowest
    /// first, each replayable from `tar-data.json.gz` over the driver's
    /// directory when both are there.
    pub(super) fn load_v1(&self, id: &str) -> Result<Image, StoreError> {
        let chain = self.v1_chain(id)?;
        let Some(top) = chain.first() else {
            return Err(StoreError::BadImage {
                image: id.to_string(),
                detail: "empty chain".into(),
            });
        };
        let config_bytes = migrated_config(top, &chain);
        let config = ImageConfig {
            architecture: top.str("architecture"),
            os: top.str("os"),
            created: top.str("created"),
            author: top.str("author"),
            config: top
                .json
                .get("config")
                .and_then(|c| serde_json::from_value::<RunConfig>(c.clone()).ok()),
            ..Default::default()
        };
        let mut layers = Vec::new();
        for (index, img) in chain.iter().rev().enumerate() {
            let dir = self
                .driver_dir(&img.id)
                .ok_or_else(|| StoreError::BadImage {
                    image: id.to_string(),
                    detail: format!("layer {} has no directory name", img.id),
                })?;
            let ts = self
                .graph_entry(&img.id)
                .and_then(|e| e.child(b"tar-data.json.gz"))
                .filter(|p| self.fs().metadata(p).is_ok_and(|m| m.is_file()));
            if !self.fs().exists(&dir) {
                return Err(StoreError::LayerMissing {
                    image: id.to_string(),
                    index,
                    diff_id: img.id.clone(),
                    detail: format!("layer directory {dir} is missing"),
                });
            }
            layers.push(LayerSource {
                index,
                // Unknown until the layer is replayed: v1 keeps no diff_id.
                diff_id: String::new(),
                // A v1 id names the layer and all below it, as a chain
                // id does.
                chain_id: img.id.clone(),
                size: self.v1_layer_size(&img.id),
                findings: Vec::new(),
                blob: None,
                unpacked: Some(UnpackedLayer {
                    key: img.id.clone(),
                    dir,
                    tar_split: ts,
                }),
            });
        }
        let (names, digests) = self.references()?.refs_of(id);
        Ok(Image {
            store: "docker".into(),
            id: id.to_string(),
            config_digest: String::new(),
            names,
            digests,
            parent: top.parent.clone(),
            config_bytes,
            config,
            config_verified: false,
            problems: vec![format!(
                "pre-1.10 image {id}: Docker kept no content-addressed config; the config exported is made of graph/{id}/json as Docker 1.10's migration makes one, and the image id `docker load` gives is its sha256, a new id, not {id}"
            )],
            layers,
            ..Default::default()
        })
    }
}

/// The config Docker 1.10's migration makes of a v1 image JSON (moby
/// `image/v1/imagev1.go` `MakeConfigFromV1Config`): the v1 JSON without
/// its v1-only keys, with `history` made from the chain (oldest first)
/// and an empty `rootfs`.
fn migrated_config(top: &V1Image, chain: &[V1Image]) -> Vec<u8> {
    let mut obj = top.json.as_object().cloned().unwrap_or_default();
    for k in ["id", "parent", "Size", "parent_id", "layer_id", "throwaway"] {
        obj.remove(k);
    }
    let history: Vec<Value> = chain
        .iter()
        .rev()
        .map(|i| {
            let created_by = i
                .json
                .pointer("/container_config/Cmd")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let mut h = serde_json::Map::new();
            if let Some(c) = i.json.get("created") {
                h.insert("created".into(), c.clone());
            }
            if let Some(a) = i.json.get("author").filter(|a| a.as_str() != Some("")) {
                h.insert("author".into(), a.clone());
            }
            h.insert("created_by".into(), Value::String(created_by));
            if let Some(c) = i.json.get("comment").filter(|c| c.as_str() != Some("")) {
                h.insert("comment".into(), c.clone());
            }
            Value::Object(h)
        })
        .collect();
    obj.insert("history".into(), Value::Array(history));
    obj.insert(
        "rootfs".into(),
        serde_json::json!({"type": "layers", "diff_ids": []}),
    );
    // Go marshals a map with its keys sorted, and escapes `<`, `>`, `&`
    // (and U+2028, U+2029) in strings: do the same, so the config comes
    // as close as can be to the migration's bytes.
    obj.sort_keys();
    let text = serde_json::to_string(&Value::Object(obj)).unwrap_or_default();
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(id: &str, parent: Option<&str>, cmd: &[&str]) -> V1Image {
        let json = serde_json::json!({
            "id": id, "parent": parent, "Size": 7, "created": "2015-01-01T00:00:00Z",
            "container_config": {"Cmd": cmd}, "config": {"Cmd": ["sh"]}, "os": "linux",
        });
        V1Image {
            id: id.into(),
            parent: parent.map(String::from),
            json,
        }
    }

    #[test]
    fn a_parent_loop_is_an_error_naming_the_image() {
        use crate::evidence::Volume;
        use crate::evidence::fs::{MemFs, MemNode};
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let mut fs = MemFs::new();
        for (id, parent) in [(&a, &b), (&b, &a)] {
            let j = format!("{{\"id\":\"{id}\",\"parent\":\"{parent}\"}}");
            fs.add(
                format!("docker/graph/{id}/json"),
                MemNode::file(j.as_bytes()),
            );
        }
        fs.add("docker/repositories-aufs", MemNode::file(b"{}"));
        let root = DataRoot {
            volume: Volume {
                label: "directory".into(),
                spec: Default::default(),
                fs: std::sync::Arc::new(fs),
            },
            path: EvPath::parse("docker").unwrap(),
            driver: "aufs".into(),
            reason: "test".into(),
            layout: super::super::Layout::Graph,
            peers: vec!["aufs".into()],
            references: Default::default(),
        };
        let e = root.v1_chain(&a).unwrap_err().to_string();
        assert!(e.contains(&a) && e.contains("loops"), "{e}");
        let rows = root.list_images().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.error.is_some()));
    }

    #[test]
    fn the_migrated_config_drops_v1_keys_and_keeps_the_chain_as_history() {
        let chain = [
            v1(
                "top",
                Some("base"),
                &["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"],
            ),
            v1("base", None, &["/bin/sh -c #(nop) ADD file:x in /"]),
        ];
        let cfg: Value = serde_json::from_slice(&migrated_config(&chain[0], &chain)).unwrap();
        for k in ["id", "parent", "Size"] {
            assert!(cfg.get(k).is_none(), "{k} kept: {cfg}");
        }
        assert_eq!(cfg["os"], "linux");
        assert_eq!(cfg["rootfs"]["type"], "layers");
        assert_eq!(cfg["rootfs"]["diff_ids"], serde_json::json!([]));
        let h = cfg["history"].as_array().unwrap();
        assert_eq!(h.len(), 2);
        // Oldest first.
        assert_eq!(h[0]["created_by"], "/bin/sh -c #(nop) ADD file:x in /");
        assert_eq!(h[1]["created_by"], "/bin/sh -c #(nop) CMD [\"sh\"]");
    }
}
