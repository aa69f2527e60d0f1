//! Images of a Docker data root: the image database, the reference store
//! (`repositories.json`) and Docker's rules for resolving a name or id
//! (moby `daemon/images/image.go` `GetImage`: a full id, a tag, a digest,
//! then a unique id prefix).

use super::{DataRoot, Layout};
use crate::digest::{hex_part, is_sha256_hex, sha256_hex};
use crate::evidence::fs::{EvPath, FileKind};
use crate::store::StoreError;
use crate::store::model::{Image, ImageConfig, ImageKind};
use crate::store::reference::Reference;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Configs larger than this are not image configs: a real one is a few
/// KiB (history, env, labels); the bound keeps the copies an export makes
/// of it small, whatever the evidence claims.
const CONFIG_LIMIT: u64 = 8 << 20;
/// `repositories.json` larger than this is refused: about 50,000 tags and
/// digests, far beyond a real host; parsed, a file takes ~3x its size.
const REFERENCES_LIMIT: u64 = 8 << 20;

/// One row of `images`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSummary {
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    pub created: Option<String>,
    pub layers: usize,
    /// Sum of the layers' unpacked sizes (layerdb `size`), when known.
    pub size: Option<u64>,
    pub parent: Option<String>,
    pub kind: ImageKind,
    pub config_verified: bool,
    /// What was wrong with it, if it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Tags and digests by image id, from `repositories.json`.
#[derive(Debug, Default, Clone)]
pub struct References {
    /// Fully qualified reference → image id.
    by_ref: BTreeMap<String, String>,
}

impl References {
    pub(super) fn refs_of(&self, id: &str) -> (Vec<String>, Vec<String>) {
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for (r, target) in &self.by_ref {
            if target == id
                && let Some(p) = Reference::parse(r)
            {
                if p.digest.is_some() {
                    digests.push(p.familiar());
                } else {
                    tags.push(p.familiar());
                }
            }
        }
        tags.sort();
        digests.sort();
        (tags, digests)
    }
}

impl DataRoot {
    /// One `images` row of a pre-1.10 image: its v1 id, tags, the
    /// number of v1 layers in its chain and their recorded sizes.
    fn v1_summary(&self, id: &str, refs: &References) -> ImageSummary {
        let (tags, digests) = refs.refs_of(id);
        let mut row = ImageSummary {
            id: id.to_string(),
            tags,
            digests,
            created: None,
            layers: 0,
            size: None,
            parent: None,
            kind: ImageKind::Dangling,
            config_verified: false,
            error: None,
        };
        match self.v1_chain(id) {
            Ok(chain) => {
                row.created = chain.first().and_then(|t| {
                    t.json
                        .get("created")
                        .and_then(|c| c.as_str())
                        .map(String::from)
                });
                row.parent = chain.first().and_then(|t| t.parent.clone());
                row.layers = chain.len();
                row.size = chain
                    .iter()
                    .map(|i| self.v1_layer_size(&i.id))
                    .sum::<Option<u64>>();
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        row
    }

    fn content_dir(&self) -> EvPath {
        self.image_path("imagedb/content/sha256")
    }

    /// The reference store, read once; a missing file means no tags.
    pub fn references(&self) -> Result<Arc<References>, StoreError> {
        if let Some(r) = self.references.get() {
            return Ok(r.clone());
        }
        let refs = Arc::new(self.read_references()?);
        Ok(self.references.get_or_init(|| refs).clone())
    }

    fn read_references(&self) -> Result<References, StoreError> {
        let path = match self.layout {
            Layout::ImageDb => self.image_path("repositories.json"),
            Layout::Graph => self.v1_repositories(),
        };
        let bytes = match self.fs().read_small(&path, REFERENCES_LIMIT) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(References::default()),
            Err(e) => return Err(e.into()),
        };
        #[derive(serde::Deserialize)]
        struct Repos {
            #[serde(rename = "Repositories", default)]
            repositories: BTreeMap<String, BTreeMap<String, String>>,
        }
        let repos: Repos = serde_json::from_slice(&bytes).map_err(|e| StoreError::CorruptJson {
            path: path.display(),
            detail: e.to_string(),
        })?;
        drop(bytes);
        let mut by_ref = BTreeMap::new();
        for (repo, refs) in repos.repositories {
            for (r, id) in refs {
                // Before 1.10 the inner keys are bare tags (or digests).
                let r = match self.layout {
                    Layout::ImageDb => r,
                    Layout::Graph if r.contains(':') => format!("{repo}@{r}"),
                    Layout::Graph => format!("{repo}:{r}"),
                };
                // Stored in familiar form; keep the normalised form.
                let key = Reference::parse(&r).map_or(r, |p| {
                    let mut k = p.name.clone();
                    if let Some(t) = &p.tag {
                        k = format!("{k}:{t}");
                    }
                    if let Some(d) = &p.digest {
                        k = format!("{k}@{d}");
                    }
                    k
                });
                by_ref.insert(key, id);
            }
        }
        Ok(References { by_ref })
    }

    /// Ids (`sha256:<hex>`) of every config in the image database.
    pub fn image_ids(&self) -> Result<Vec<String>, StoreError> {
        if self.layout == Layout::Graph {
            return self.v1_ids();
        }
        let mut ids: Vec<String> = self
            .fs()
            .read_dir(&self.content_dir())?
            .into_iter()
            .filter(|e| e.kind == FileKind::File)
            .filter_map(|e| String::from_utf8(e.name).ok())
            .filter(|n| is_sha256_hex(n))
            .map(|n| format!("sha256:{n}"))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Loads one image by full id, with its tags from `refs`.
    pub fn load_image(&self, id: &str, refs: &References) -> Result<Image, StoreError> {
        let hex = hex_part(id);
        let path =
            self.content_dir()
                .child(hex.as_bytes())
                .ok_or_else(|| StoreError::BadImage {
                    image: id.to_string(),
                    detail: "not an image id".into(),
                })?;
        let config_bytes = self.fs().read_small(&path, CONFIG_LIMIT)?;
        let config: ImageConfig =
            crate::json::parse(&config_bytes).map_err(|e| StoreError::CorruptJson {
                path: path.display(),
                detail: e.to_string(),
            })?;
        let id = format!("sha256:{hex}");
        let (tags, digests) = refs.refs_of(&id);
        let parent = self
            .fs()
            .read_small(
                &self.image_path(&format!("imagedb/metadata/sha256/{hex}/parent")),
                1024,
            )
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|p| !p.is_empty());
        Ok(Image {
            store: "docker".into(),
            config_verified: sha256_hex(&config_bytes) == hex,
            config_digest: id.clone(),
            id,
            config_bytes,
            config,
            names: tags,
            digests,
            parent,
            ..Default::default()
        })
    }

    /// Loads one image and locates its layers.
    pub fn load_located(&self, id: &str, refs: &References) -> Result<Image, StoreError> {
        if self.layout == Layout::Graph {
            return self.load_v1(id);
        }
        let mut image = self.load_image(id, refs)?;
        image.layers = self.locate_layers(&image)?;
        Ok(image)
    }

    /// Every image, tagged or not. An image that cannot be read is still
    /// listed, with its error.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let refs = self.references()?;
        let ids = self.image_ids()?;
        let mut rows = Vec::new();
        for id in &ids {
            if self.layout == Layout::Graph {
                rows.push(self.v1_summary(id, &refs));
                continue;
            }
            rows.push(match self.load_image(id, &refs) {
                Ok(img) => {
                    let size = self.layer_sizes(&img);
                    ImageSummary {
                        id: img.id.clone(),
                        tags: img.names.clone(),
                        digests: img.digests.clone(),
                        created: img.config.created.clone(),
                        layers: img.config.rootfs.diff_ids.len(),
                        size,
                        parent: img.parent.clone(),
                        kind: ImageKind::Dangling,
                        config_verified: img.config_verified,
                        error: None,
                    }
                }
                Err(e) => {
                    let (tags, digests) = refs.refs_of(id);
                    ImageSummary {
                        id: id.clone(),
                        tags,
                        digests,
                        created: None,
                        layers: 0,
                        size: None,
                        parent: None,
                        kind: ImageKind::Dangling,
                        config_verified: false,
                        error: Some(e.to_string()),
                    }
                }
            });
        }
        let parents: BTreeSet<String> = rows.iter().filter_map(|r| r.parent.clone()).collect();
        for r in &mut rows {
            r.kind = if !r.tags.is_empty() || !r.digests.is_empty() {
                ImageKind::Tagged
            } else if parents.contains(&r.id) {
                ImageKind::Intermediate
            } else {
                ImageKind::Dangling
            };
        }
        Ok(rows)
    }

    /// Resolves what a user typed to one image id, as Docker does.
    pub fn resolve_id(&self, input: &str) -> Result<String, StoreError> {
        let ids = self.image_ids()?;
        let refs = self.references()?;
        let unknown = || StoreError::UnknownImage {
            reference: input.to_string(),
            candidates: known_names(&refs, &ids),
        };
        // A full id, with or without its algorithm.
        let bare = input.strip_prefix("sha256:").unwrap_or(input);
        if is_sha256_hex(bare) {
            let id = match self.layout {
                Layout::ImageDb => format!("sha256:{bare}"),
                Layout::Graph => bare.to_string(),
            };
            return if ids.contains(&id) {
                Ok(id)
            } else {
                Err(unknown())
            };
        }
        if let Some(r) = Reference::parse(input) {
            let key = match (&r.tag, &r.digest) {
                (_, Some(d)) => format!("{}@{d}", r.name),
                (Some(t), None) => format!("{}:{t}", r.name),
                (None, None) => r.name.clone(),
            };
            if let Some(id) = refs.by_ref.get(&key) {
                return Ok(id.clone());
            }
            // name@digest may name a config digest (an image id).
            if let Some(d) = &r.digest
                && ids.contains(d)
            {
                return Ok(d.clone());
            }
        }
        // A unique prefix of an id.
        if !bare.is_empty()
            && bare.len() < 64
            && bare
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            let hits: Vec<&String> = ids
                .iter()
                .filter(|id| hex_part(id).starts_with(bare))
                .collect();
            match hits.len() {
                0 => {}
                1 => return Ok(hits[0].clone()),
                _ => {
                    return Err(StoreError::AmbiguousImage {
                        reference: input.to_string(),
                        candidates: hits.iter().map(|h| hex_part(h)[..16].to_string()).collect(),
                    });
                }
            }
        }
        if Reference::parse(input).is_none() && !bare.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::InvalidReference {
                reference: input.to_string(),
                detail: "not an id, id prefix or name[:tag][@digest]".into(),
            });
        }
        Err(unknown())
    }

    /// Resolves and loads an image, its layers located.
    pub fn resolve(&self, input: &str) -> Result<Image, StoreError> {
        let id = self.resolve_id(input)?;
        self.load_located(&id, &*self.references()?)
    }
}

/// Tags (or short ids for untagged images) to suggest in an error.
pub(super) fn known_names(refs: &References, ids: &[String]) -> Vec<String> {
    let mut names: Vec<String> = refs
        .by_ref
        .keys()
        .filter_map(|r| Reference::parse(r).map(|p| p.familiar()))
        .collect();
    if names.is_empty() {
        names = ids.iter().map(|i| hex_part(i)[..12].to_string()).collect();
    }
    names.truncate(20);
    names
}
