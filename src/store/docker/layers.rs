//! From an image's diff_ids to the layer store: chain ids, the layerdb
//! entry of each layer, and the directory holding its unpacked files.

use super::DataRoot;
use crate::digest::{chain_ids, hex_part};
use crate::evidence::fs::EvPath;
use crate::report::{Finding, FindingKind};
use crate::store::StoreError;
use crate::store::model::{Image, LayerSource, UnpackedLayer};

impl DataRoot {
    /// Locates every layer of `image`, lowest first. A piece that is gone
    /// (layerdb entry, cache-id, directory) makes the layer unusable and is
    /// an error naming it.
    pub fn locate_layers(&self, image: &Image) -> Result<Vec<LayerSource>, StoreError> {
        let diff_ids = &image.config.rootfs.diff_ids;
        if diff_ids.is_empty() {
            return Err(StoreError::BadImage {
                image: image.id.clone(),
                detail: "the config lists no layers (rootfs.diff_ids is empty)".into(),
            });
        }
        let chains = chain_ids(diff_ids);
        diff_ids
            .iter()
            .zip(chains)
            .enumerate()
            .map(|(index, (diff_id, chain_id))| self.locate_layer(image, index, diff_id, chain_id))
            .collect()
    }

    fn locate_layer(
        &self,
        image: &Image,
        index: usize,
        diff_id: &str,
        chain_id: String,
    ) -> Result<LayerSource, StoreError> {
        let missing = |detail: String| StoreError::LayerMissing {
            image: image.id.clone(),
            index,
            diff_id: diff_id.to_string(),
            detail,
        };
        let entry = self.image_path(&format!("layerdb/sha256/{}", hex_part(&chain_id)));
        match self.fs().metadata(&entry) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(missing(format!("layerdb entry {entry} is not a directory"))),
            Err(e) if e.is_not_found() => {
                return Err(missing(format!("no layerdb entry {entry}")));
            }
            Err(e) => return Err(e.into()),
        }
        let read = |name: &str| -> Result<Option<String>, StoreError> {
            let p = entry.child(name.as_bytes()).unwrap_or_default();
            match self.fs().read_small(&p, 4096) {
                Ok(b) => Ok(Some(String::from_utf8_lossy(&b).trim().to_string())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let mut findings = Vec::new();
        match read("diff")? {
            Some(d) if d == diff_id => {}
            Some(d) => findings.push(Finding::new(
                FindingKind::LayerDbMismatch,
                Some(format!("{entry}/diff")),
                format!("layerdb records diff_id {d}, the image config {diff_id}"),
            )),
            None => findings.push(Finding::new(
                FindingKind::LayerDbMismatch,
                Some(format!("{entry}/diff")),
                "layerdb entry has no diff file",
            )),
        }
        let cache_id = read("cache-id")?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing(format!("no cache-id in {entry}")))?;
        let dir = self.driver_dir(&cache_id).ok_or_else(|| {
            missing(format!(
                "cache-id {cache_id:?} in {entry} is not a directory name"
            ))
        })?;
        match self.fs().metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(missing(format!("layer directory {dir} is not a directory"))),
            Err(e) if e.is_not_found() => {
                return Err(missing(format!("layer directory {dir} is missing")));
            }
            Err(e) => return Err(e.into()),
        }
        let size = read("size")?.and_then(|s| s.parse().ok());
        let ts = entry.child(b"tar-split.json.gz").unwrap_or_default();
        let tar_split = self
            .fs()
            .metadata(&ts)
            .is_ok_and(|m| m.is_file())
            .then_some(ts);
        Ok(LayerSource {
            index,
            diff_id: diff_id.to_string(),
            chain_id,
            size,
            findings,
            blob: None,
            unpacked: Some(UnpackedLayer {
                key: cache_id,
                dir,
                tar_split,
            }),
        })
    }

    /// The unpacked layer directory for a cache id, per graph driver
    /// (moby `daemon/graphdriver/<driver>`).
    pub fn driver_dir(&self, cache_id: &str) -> Option<EvPath> {
        if cache_id.contains('/') || cache_id == "." || cache_id == ".." {
            return None;
        }
        let rel = match self.driver.as_str() {
            "overlay2" | "fuse-overlayfs" => format!("{}/{cache_id}/diff", self.driver),
            "vfs" => format!("vfs/dir/{cache_id}"),
            "aufs" => format!("aufs/diff/{cache_id}"),
            "btrfs" => format!("btrfs/subvolumes/{cache_id}"),
            "zfs" => format!("zfs/graph/{cache_id}"),
            // overlay (v1) keeps a full root for the lowest layer and an
            // upper directory for the others.
            "overlay" => {
                let root = self.path.join(format!("overlay/{cache_id}/root"))?;
                if self.fs().exists(&root) {
                    return Some(root);
                }
                format!("overlay/{cache_id}/upper")
            }
            other => format!("{other}/{cache_id}/diff"),
        };
        self.path.join(rel)
    }

    /// Sum of the recorded unpacked sizes of an image's layers.
    pub fn layer_sizes(&self, image: &Image) -> Option<u64> {
        let mut total = 0u64;
        for chain in chain_ids(&image.config.rootfs.diff_ids) {
            let p = self.image_path(&format!("layerdb/sha256/{}/size", hex_part(&chain)));
            let s = self.fs().read_small(&p, 64).ok()?;
            total += String::from_utf8_lossy(&s).trim().parse::<u64>().ok()?;
        }
        Some(total)
    }
}
