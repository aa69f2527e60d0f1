//! An opened containerd root: images resolved from the metadata database
//! through the content store to configs and layers, layers matched to
//! their unpacked snapshots (containers: see `containers.rs`).
//!
//! Resolution (containerd `images/image.go` `Manifest`, `Config`,
//! `RootFS`): image target → (index → platform manifest) → manifest →
//! config + layer descriptors; each blob's sha256 is checked. A layer's
//! unpacked snapshot is found by its ChainID, the key under which
//! containerd's unpacker commits it (`rootfs/apply.go`), in
//! `v1/<namespace>/snapshots/<snapshotter>/<chainid>` of `meta.db`, whose
//! `name` is the key in the snapshotter's own database (verified on the
//! ctrd-basic fixture: `k8s.io/8/sha256:a7fb…` → snapshot id 4 →
//! `snapshots/4/fs`).
//!
//! Identity: Docker with the containerd image store (Docker 29's default;
//! moby `daemon/containerd/image_list.go`) shows an image of namespace
//! `moby` by the digest its record points at (`img.Target.Digest`, an
//! index or a manifest); CRI (`crictl images`, namespace `k8s.io`) shows
//! the config digest. A `moby` namespace is taken as Docker's only where
//! the evidence shows a dockerd used it (see [`docker_uses_containerd`]);
//! otherwise (images put there with `ctr`) the config digest is the id.
//! The rest of the stored graph (the index, other platforms, BuildKit
//! attestation manifests and their in-toto statements) is kept in
//! [`ImageGraph`] so the archive can carry it verbatim.

use super::content::{
    BlobKind, Index, Manifest, Platform, blob_kind, blob_path, choose_manifest, is_attestation,
};
use super::meta::{ImageRecord, MetaDb};
use super::snapshots::Snapshotter;
use super::{ContainerdError, ContainerdRoot};
use crate::digest::{chain_ids, hex_part, sha256_hex};
use crate::evidence::fs::{EvPath, FileKind, FileSystem};
use crate::store::blob::{BlobDigests, Compression, decompressed, digest_blob};
use crate::store::model::ImageConfig;
use crate::store::model::{
    Attestation, AttestationStatement, GraphBlob, Image, ImageGraph, LayerBlob, LayerSource,
    StoreImage, UnpackedLayer,
};
use crate::store::reference::Reference;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;

/// Manifests and indexes larger than this are not believed.
const MANIFEST_LIMIT: u64 = 8 << 20;
/// Image configs larger than this are not believed.
const CONFIG_LIMIT: u64 = 8 << 20;
/// Indexes nested deeper than this are not followed.
const MAX_INDEX_DEPTH: usize = 4;
/// Attestation manifests and statements larger than this are not read
/// (BuildKit's are a few KiB).
pub const ATTESTATION_LIMIT: u64 = 16 << 20;
/// At most this many blobs of an image's graph besides its own.
const MAX_GRAPH_BLOBS: usize = 1024;
/// The namespace Docker's containerd image store uses.
pub const MOBY_NAMESPACE: &str = "moby";
const SNAPSHOTTER_PREFIX: &str = "io.containerd.snapshotter.v1.";
/// Snapshotters that keep a snapshot's own files in `snapshots/<id>/fs`.
pub(super) const OVERLAY_SNAPSHOTTERS: [&str; 2] = ["overlayfs", "fuse-overlayfs"];

/// An opened containerd root.
#[derive(Debug)]
pub struct ContainerdStore {
    pub(super) root: ContainerdRoot,
    pub(super) meta: MetaDb,
    /// Snapshotter databases by name, or why one could not be read.
    pub(super) snapshotters: BTreeMap<String, Result<Snapshotter, String>>,
    platform: Platform,
    /// A dockerd used namespace `moby` as its image store: its images
    /// are identified by their records' target digests.
    docker_images: bool,
}

/// Whether the evidence shows a dockerd using the containerd image store
/// beside the containerd root at `root`: `/etc/docker/daemon.json` turns
/// on `features.containerd-snapshotter`, or the Docker data root beside
/// it (`/var/lib/docker`) has containers or an engine id but no image
/// store of its own (`image/`).
pub fn docker_uses_containerd(fs: &dyn FileSystem, root: &EvPath) -> bool {
    let lib = root.parent();
    let docker = lib.child(b"docker");
    if let Some(d) = &docker
        && fs.metadata(d).is_ok_and(|m| m.is_dir())
        && !d.child(b"image").is_some_and(|i| fs.exists(&i))
        && [&b"containers"[..], b"engine-id", b"buildkit"]
            .iter()
            .any(|n| d.child(n).is_some_and(|p| fs.exists(&p)))
    {
        return true;
    }
    let Some(daemon_json) = lib.parent().parent().join("etc/docker/daemon.json") else {
        return false;
    };
    let Ok(bytes) = fs.read_small(&daemon_json, 1 << 20) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("features")?.get("containerd-snapshotter")?.as_bool())
        .unwrap_or(false)
}

/// Names an image in errors.
struct Ctx<'a> {
    ns: &'a str,
    image: &'a str,
}

impl Ctx<'_> {
    fn bad(&self, detail: impl Into<String>) -> ContainerdError {
        ContainerdError::BadImage {
            namespace: self.ns.to_string(),
            image: self.image.to_string(),
            detail: detail.into(),
        }
    }
}

impl ContainerdStore {
    pub(super) fn open(root: ContainerdRoot) -> Result<ContainerdStore, ContainerdError> {
        let fs = root.fs();
        let meta_path = root.meta_path();
        if !fs.metadata(&meta_path).is_ok_and(|m| m.is_file()) {
            return Err(ContainerdError::NotARoot {
                path: root.path.display(),
            });
        }
        let meta = MetaDb::open(fs, &meta_path)?;
        let mut snapshotters = BTreeMap::new();
        for e in fs.read_dir(&root.path)? {
            let Some(name) = e.name.strip_prefix(SNAPSHOTTER_PREFIX.as_bytes()) else {
                continue;
            };
            let Some(dir) = root.path.child(&e.name) else {
                continue;
            };
            if e.kind != FileKind::Dir || !fs.exists(&dir.child(b"metadata.db").unwrap_or_default())
            {
                continue;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let snap = Snapshotter::open(fs, &name, dir).map_err(|e| e.to_string());
            snapshotters.insert(name, snap);
        }
        // A databases-only acquisition: the snapshotter's `metadata.db`
        // beside `meta.db`, for the one snapshotter `meta.db` names.
        if root.databases_only()
            && snapshotters.is_empty()
            && let Some(db) = root.path.child(b"metadata.db")
            && fs.metadata(&db).is_ok_and(|m| m.is_file())
        {
            let mut names = std::collections::BTreeSet::new();
            for ns in meta.namespaces().unwrap_or_default() {
                names.extend(meta.snapshotters(&ns).unwrap_or_default());
            }
            if let [name] = names.into_iter().collect::<Vec<_>>().as_slice() {
                let snap =
                    Snapshotter::open(fs, name, root.path.clone()).map_err(|e| e.to_string());
                snapshotters.insert(name.clone(), snap);
            }
        }
        let docker_images = docker_uses_containerd(fs, &root.path);
        Ok(ContainerdStore {
            root,
            meta,
            snapshotters,
            platform: Platform::default(),
            docker_images,
        })
    }

    /// Resolve indexes for `platform` instead of `linux/amd64`.
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    pub fn root(&self) -> &ContainerdRoot {
        &self.root
    }

    pub(super) fn fs(&self) -> &dyn FileSystem {
        self.root.fs()
    }

    /// The metadata database (raw records: blobs, leases, snapshots).
    pub fn meta(&self) -> &MetaDb {
        &self.meta
    }

    /// A snapshotter's database, by name (`overlayfs`).
    pub fn snapshotter(&self, name: &str) -> Option<&Snapshotter> {
        self.snapshotters.get(name).and_then(|s| s.as_ref().ok())
    }

    /// Snapshotter databases that could not be read, with the reason.
    pub fn snapshotter_errors(&self) -> Vec<(String, String)> {
        self.snapshotters
            .iter()
            .filter_map(|(n, s)| s.as_ref().err().map(|e| (n.clone(), e.clone())))
            .collect()
    }

    /// Namespaces, sorted.
    pub fn namespaces(&self) -> Result<Vec<String>, ContainerdError> {
        Ok(self.meta.namespaces()?)
    }

    /// Where blob `digest` is (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Option<EvPath> {
        blob_path(&self.root.path, digest)
    }

    /// Every image of every namespace: one row per (namespace, image id)
    /// with all the names that point at it. An image record that cannot
    /// be resolved is a row with `error` set.
    pub fn images(&self) -> Result<Vec<StoreImage>, ContainerdError> {
        let mut rows: Vec<StoreImage> = Vec::new();
        for ns in self.namespaces()? {
            let store = format!("containerd/{ns}");
            let records = self.meta.images(&ns)?;
            for rec in &records {
                match self.resolve_in(&ns, rec, &records) {
                    Ok(img) => {
                        if let Some(row) = rows
                            .iter_mut()
                            .find(|r| r.store == store && r.id == img.id && r.error.is_none())
                        {
                            row.names.push(rec.name.clone());
                            row.names.sort();
                            continue;
                        }
                        rows.push(StoreImage {
                            store: store.clone(),
                            id: img.id.clone(),
                            config_digest: img.config_digest.clone(),
                            names: vec![rec.name.clone()],
                            created: img.config.created.clone().or(rec.created.clone()),
                            layers: img.layers.len(),
                            manifest_digest: img.manifest_digest.clone(),
                            unresolved_target: None,
                            unpacked: !img.layers.is_empty()
                                && img.layers.iter().all(|l| l.unpacked.is_some()),
                            error: None,
                        });
                    }
                    Err(e) => rows.push(StoreImage {
                        store: store.clone(),
                        id: rec.target.digest.clone(),
                        config_digest: String::new(),
                        names: vec![rec.name.clone()],
                        created: rec.created.clone(),
                        layers: 0,
                        manifest_digest: Some(rec.target.digest.clone()),
                        unresolved_target: Some((
                            rec.target.media_type.clone(),
                            rec.target.digest.clone(),
                        )),
                        unpacked: false,
                        error: Some(e.to_string()),
                    }),
                }
            }
        }
        Ok(rows)
    }

    /// Resolves what a user typed, in namespace `ns`: an image name as
    /// stored, a familiar reference (`fxbase:1`), or any digest of the
    /// image (or a unique prefix of one): its id, its config digest, its
    /// record's target, its platform manifest.
    pub fn image(&self, ns: &str, reference: &str) -> Result<Image, ContainerdError> {
        let records = self.meta.images(ns)?;
        let by_name = |n: &str| records.iter().find(|r| r.name == n);
        let mut found = by_name(reference);
        if found.is_none()
            && let Some(r) = Reference::parse(reference)
        {
            let full = match (&r.tag, &r.digest) {
                (Some(t), Some(d)) => format!("{}:{t}@{d}", r.name),
                (Some(t), None) => format!("{}:{t}", r.name),
                (None, Some(d)) => format!("{}@{d}", r.name),
                (None, None) => r.name.clone(),
            };
            found = by_name(&full);
        }
        if found.is_none() && reference.starts_with("sha256:") {
            // Docker's containerd image store names an image by its
            // target's digest (index or manifest): `Image` of a
            // container's `config.v2.json`.
            found = records.iter().find(|r| r.target.digest == reference);
        }
        if let Some(rec) = found {
            return self.resolve_in(ns, rec, &records);
        }
        let bare = hex_part(reference);
        if bare.len() >= 4 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hit: Option<Image> = None;
            for rec in &records {
                let Ok(img) = self.resolve_in(ns, rec, &records) else {
                    continue;
                };
                let digests = [
                    img.id.as_str(),
                    img.config_digest.as_str(),
                    rec.target.digest.as_str(),
                    img.manifest_digest.as_deref().unwrap_or_default(),
                ];
                if digests
                    .iter()
                    .any(|d| !d.is_empty() && hex_part(d).starts_with(bare))
                {
                    match &hit {
                        Some(h) if h.id != img.id => {
                            return Err(ContainerdError::UnknownImage {
                                namespace: ns.to_string(),
                                reference: format!("{reference} (ambiguous id prefix)"),
                                candidates: vec![h.id.clone(), img.id],
                            });
                        }
                        Some(_) => {}
                        None => hit = Some(img),
                    }
                }
            }
            if let Some(h) = hit {
                return Ok(h);
            }
        }
        Err(ContainerdError::UnknownImage {
            namespace: ns.to_string(),
            reference: reference.to_string(),
            candidates: records.iter().map(|r| r.name.clone()).take(20).collect(),
        })
    }

    /// Reads a JSON blob (manifest, index, config), checking its digest
    /// and size; a mismatch is recorded in `problems`, a missing blob is
    /// an error.
    fn read_blob(
        &self,
        ctx: &Ctx<'_>,
        what: &str,
        digest: &str,
        size: Option<i64>,
        limit: u64,
        problems: &mut Vec<String>,
    ) -> Result<Vec<u8>, ContainerdError> {
        let path = self
            .blob_path(digest)
            .ok_or_else(|| ctx.bad(format!("{what} has an unusable digest {digest:?}")))?;
        let bytes = match self.fs().read_small(&path, limit) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(ContainerdError::MissingBlob {
                    what: format!("image {} ({}): {what}", ctx.image, ctx.ns),
                    digest: digest.to_string(),
                    path: path.display(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let actual = sha256_hex(&bytes);
        if actual != hex_part(digest) {
            problems.push(format!(
                "{what} {digest} ({path}): content hashes to sha256:{actual}"
            ));
        }
        if let Some(s) = size
            && s >= 0
            && s as u64 != bytes.len() as u64
        {
            problems.push(format!(
                "{what} {digest}: descriptor says {s} bytes, the blob has {}",
                bytes.len()
            ));
        }
        Ok(bytes)
    }

    /// Resolves one image record of namespace `ns`.
    pub fn resolve_record(&self, ns: &str, rec: &ImageRecord) -> Result<Image, ContainerdError> {
        self.resolve_in(ns, rec, &self.meta.images(ns)?)
    }

    /// Resolves `rec`; `all` are the namespace's records (for the names).
    fn resolve_in(
        &self,
        ns: &str,
        rec: &ImageRecord,
        all: &[ImageRecord],
    ) -> Result<Image, ContainerdError> {
        let ctx = Ctx {
            ns,
            image: &rec.name,
        };
        let mut problems = Vec::new();
        let mut media_type = rec.target.media_type.clone();
        let mut digest = rec.target.digest.clone();
        let mut size = rec.target.size;
        let mut manifest = None;
        // The indexes walked through, with the child taken from each.
        let mut indexes: Vec<(GraphBlob, Index, String)> = Vec::new();
        for _ in 0..MAX_INDEX_DEPTH {
            let what = if media_type.contains("index") || media_type.contains("manifest.list") {
                "index"
            } else {
                "manifest"
            };
            let bytes = self.read_blob(&ctx, what, &digest, size, MANIFEST_LIMIT, &mut problems)?;
            let json_err = |e: crate::json::JsonError| ContainerdError::CorruptJson {
                path: self.blob_path(&digest).unwrap_or_default().display(),
                detail: e.to_string(),
            };
            match blob_kind(&media_type, &bytes) {
                BlobKind::Index => {
                    let index: Index = crate::json::parse(&bytes).map_err(json_err)?;
                    let chosen = choose_manifest(&index, &self.platform).map_err(|d| ctx.bad(d))?;
                    let (next_type, next_digest, next_size) = (
                        chosen.media_type.clone(),
                        chosen.digest.clone(),
                        chosen.size,
                    );
                    let blob = GraphBlob {
                        path: self.blob_path(&digest).unwrap_or_default(),
                        digest,
                        media_type,
                        size: bytes.len() as u64,
                        bytes: Some(bytes),
                    };
                    indexes.push((blob, index, next_digest.clone()));
                    media_type = next_type;
                    digest = next_digest;
                    size = Some(next_size);
                }
                BlobKind::Manifest => {
                    let m: Manifest = crate::json::parse(&bytes).map_err(json_err)?;
                    manifest = Some((m, bytes));
                    break;
                }
                BlobKind::Other => {
                    return Err(ctx.bad(format!(
                        "target {digest} ({media_type}) is neither a manifest nor an index"
                    )));
                }
            }
        }
        let (m, manifest_bytes) = manifest.ok_or_else(|| ctx.bad("indexes nested too deeply"))?;
        let config_bytes = self.read_blob(
            &ctx,
            "config",
            &m.config.digest,
            Some(m.config.size),
            CONFIG_LIMIT,
            &mut problems,
        )?;
        let config: ImageConfig =
            crate::json::parse(&config_bytes).map_err(|e| ContainerdError::CorruptJson {
                path: self
                    .blob_path(&m.config.digest)
                    .unwrap_or_default()
                    .display(),
                detail: e.to_string(),
            })?;
        let config_verified = sha256_hex(&config_bytes) == hex_part(&m.config.digest);
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != m.layers.len() {
            problems.push(format!(
                "the manifest lists {} layers, the config {} diff_ids",
                m.layers.len(),
                diff_ids.len()
            ));
        }
        let mut layers = Vec::new();
        for (index, (diff_id, chain_id)) in diff_ids.iter().zip(chain_ids(diff_ids)).enumerate() {
            let blob = m.layers.get(index).map(|d| {
                let path = self.blob_path(&d.digest).unwrap_or_default();
                let present =
                    !path.is_root() && self.fs().metadata(&path).is_ok_and(|m| m.is_file());
                let compression = Compression::from_media_type(&d.media_type)
                    .unwrap_or_else(|| self.sniff(&path));
                if !present {
                    problems.push(format!(
                        "layer {index} blob {} is missing ({path})",
                        d.digest
                    ));
                }
                LayerBlob {
                    digest: d.digest.clone(),
                    media_type: d.media_type.clone(),
                    size: u64::try_from(d.size).unwrap_or(0),
                    compression,
                    path,
                    present,
                }
            });
            let unpacked = self.unpacked(ns, &chain_id)?;
            if blob.as_ref().is_none_or(|b| !b.present) && unpacked.is_none() {
                problems.push(format!(
                    "layer {index} ({diff_id}) has neither a blob nor an unpacked snapshot"
                ));
            }
            layers.push(LayerSource {
                index,
                diff_id: diff_id.clone(),
                chain_id,
                size: None,
                findings: Vec::new(),
                blob,
                unpacked,
            });
        }
        let mut names: Vec<String> = all
            .iter()
            .filter(|r| r.target.digest == rec.target.digest)
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        let graph = if indexes.is_empty() {
            None
        } else {
            let mut seen: HashSet<String> = [digest.clone(), m.config.digest.clone()]
                .into_iter()
                .chain(m.layers.iter().map(|l| l.digest.clone()))
                .collect();
            Some(self.graph(&ctx, rec, indexes, &mut seen, &mut problems))
        };
        let id = if ns == MOBY_NAMESPACE && self.docker_images {
            rec.target.digest.clone()
        } else {
            m.config.digest.clone()
        };
        Ok(Image {
            digests: vec![rec.target.digest.clone()],
            parent: None,
            store: format!("containerd/{ns}"),
            id,
            config_digest: m.config.digest.clone(),
            graph,
            names,
            config_bytes,
            config,
            config_verified,
            manifest_digest: Some(digest),
            manifest_bytes: Some(manifest_bytes),
            layers,
            problems,
        })
    }

    /// The rest of an image's graph: each index walked through, and what
    /// its other entries name that the content store holds (other
    /// platforms, attestation manifests and their statements). `seen`
    /// holds the digests already in the image (manifest, config, layers).
    fn graph(
        &self,
        ctx: &Ctx<'_>,
        rec: &ImageRecord,
        indexes: Vec<(GraphBlob, Index, String)>,
        seen: &mut HashSet<String>,
        problems: &mut Vec<String>,
    ) -> ImageGraph {
        let mut graph = ImageGraph {
            target: GraphBlob {
                digest: rec.target.digest.clone(),
                media_type: rec.target.media_type.clone(),
                size: rec
                    .target
                    .size
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or_default(),
                path: self.blob_path(&rec.target.digest).unwrap_or_default(),
                bytes: None,
            },
            ..Default::default()
        };
        let mut children = Vec::new();
        for (blob, index, chosen) in indexes {
            seen.insert(blob.digest.clone());
            // The size of the blob the archive carries (a record that
            // says otherwise is already a problem).
            if blob.digest == graph.target.digest {
                graph.target.size = blob.size;
            }
            graph.blobs.push(blob);
            children.extend(
                index
                    .manifests
                    .into_iter()
                    .filter(|d| d.digest != chosen)
                    .take(MAX_GRAPH_BLOBS),
            );
        }
        for d in children {
            if graph.blobs.len() >= MAX_GRAPH_BLOBS {
                problems.push(format!(
                    "the image's graph has more than {MAX_GRAPH_BLOBS} blobs; the rest are left out"
                ));
                break;
            }
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            let attestation = is_attestation(&d);
            let limit = if attestation {
                ATTESTATION_LIMIT
            } else {
                MANIFEST_LIMIT
            };
            let what = if attestation {
                "attestation manifest"
            } else {
                "manifest"
            };
            // Other platforms are often not pulled: only what is there.
            let Some(bytes) = self.graph_json(ctx, what, &d.digest, d.size, limit, problems) else {
                continue;
            };
            let manifest = match blob_kind(&d.media_type, &bytes) {
                BlobKind::Manifest => crate::json::parse::<Manifest>(&bytes).ok(),
                _ => None,
            };
            graph.blobs.push(GraphBlob {
                path: self.blob_path(&d.digest).unwrap_or_default(),
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: bytes.len() as u64,
                bytes: Some(bytes),
            });
            let Some(m) = manifest else { continue };
            if seen.insert(m.config.digest.clone())
                && let Some(cfg) = self.graph_json(
                    ctx,
                    "config",
                    &m.config.digest,
                    m.config.size,
                    if attestation {
                        ATTESTATION_LIMIT
                    } else {
                        CONFIG_LIMIT
                    },
                    problems,
                )
            {
                graph.blobs.push(GraphBlob {
                    path: self.blob_path(&m.config.digest).unwrap_or_default(),
                    digest: m.config.digest.clone(),
                    media_type: m.config.media_type.clone(),
                    size: cfg.len() as u64,
                    bytes: Some(cfg),
                });
            }
            let mut att = Attestation {
                manifest_digest: d.digest.clone(),
                refers_to: d.annotations.get("vnd.docker.reference.digest").cloned(),
                statements: Vec::new(),
            };
            for l in m.layers.iter().take(MAX_GRAPH_BLOBS) {
                if attestation {
                    let bytes = self.graph_json(
                        ctx,
                        "attestation statement",
                        &l.digest,
                        l.size,
                        ATTESTATION_LIMIT,
                        problems,
                    );
                    if seen.insert(l.digest.clone())
                        && let Some(b) = &bytes
                    {
                        graph.blobs.push(GraphBlob {
                            path: self.blob_path(&l.digest).unwrap_or_default(),
                            digest: l.digest.clone(),
                            media_type: l.media_type.clone(),
                            size: b.len() as u64,
                            bytes: Some(b.clone()),
                        });
                    }
                    att.statements.push(AttestationStatement {
                        digest: l.digest.clone(),
                        media_type: l.media_type.clone(),
                        predicate_type: l.annotations.get("in-toto.io/predicate-type").cloned(),
                        bytes,
                    });
                } else if seen.insert(l.digest.clone())
                    && let Some(path) = self.blob_path(&l.digest)
                    && let Ok(meta) = self.fs().metadata(&path)
                    && meta.is_file()
                    && u64::try_from(l.size).is_ok_and(|s| s == meta.size)
                {
                    // Another platform's layer: copied verbatim, as big
                    // as its descriptor says (and its file is).
                    graph.blobs.push(GraphBlob {
                        path,
                        digest: l.digest.clone(),
                        media_type: l.media_type.clone(),
                        size: meta.size,
                        bytes: None,
                    });
                }
            }
            if attestation {
                graph.attestations.push(att);
            }
        }
        graph
    }

    /// A small JSON blob of an image's graph, if the content store has
    /// it and it is within `limit`; a digest or size mismatch, or a blob
    /// over the limit, is recorded in `problems`.
    fn graph_json(
        &self,
        ctx: &Ctx<'_>,
        what: &str,
        digest: &str,
        size: i64,
        limit: u64,
        problems: &mut Vec<String>,
    ) -> Option<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let meta = self.fs().metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if meta.size > limit {
            problems.push(format!(
                "{what} {digest} is {} bytes, over the {limit}-byte bound: not read",
                meta.size
            ));
            return None;
        }
        match self.read_blob(ctx, what, digest, Some(size), limit, problems) {
            Ok(b) => Some(b),
            Err(e) => {
                problems.push(format!("{what} {digest}: {e}"));
                None
            }
        }
    }

    /// Compression from a blob's magic number (`None` if unreadable).
    fn sniff(&self, path: &EvPath) -> Compression {
        let mut head = [0u8; 4];
        match self.fs().open(path).map(|f| f.read_at(&mut head, 0)) {
            Ok(Ok(n)) => Compression::sniff(&head[..n]),
            _ => Compression::None,
        }
    }

    /// The unpacked snapshot of the layer with ChainID `chain_id`, in any
    /// overlay-type snapshotter, if there is one and its directory exists.
    fn unpacked(&self, ns: &str, chain_id: &str) -> Result<Option<UnpackedLayer>, ContainerdError> {
        let mut names = self.meta.snapshotters(ns)?;
        // overlayfs first: it is the default.
        names.sort_by_key(|n| n != "overlayfs");
        for sn in names {
            let Some(sref) = self.meta.snapshot(ns, &sn, chain_id)? else {
                continue;
            };
            let (Some(name), Some(snapshotter)) = (sref.name, self.snapshotter(&sn)) else {
                continue;
            };
            if !OVERLAY_SNAPSHOTTERS.contains(&sn.as_str()) {
                continue;
            }
            let Some(dir) = snapshotter
                .snapshots
                .get(&name)
                .and_then(|b| snapshotter.fs_dir(b))
            else {
                continue;
            };
            if self.fs().metadata(&dir).is_ok_and(|m| m.is_dir()) {
                return Ok(Some(UnpackedLayer {
                    key: name,
                    dir,
                    tar_split: None,
                }));
            }
        }
        Ok(None)
    }

    /// Reads a layer blob once: sha256 as stored and uncompressed (the
    /// latter must equal the layer's diff_id, the former its digest).
    pub fn verify_layer(&self, layer: &LayerSource) -> Result<BlobDigests, ContainerdError> {
        let blob = self.layer_blob(layer)?;
        Ok(digest_blob(self.fs(), &blob.path, Some(blob.compression))?)
    }

    /// The uncompressed tar stream of a layer, from its blob.
    pub fn open_layer(
        &self,
        layer: &LayerSource,
    ) -> Result<Box<dyn Read + Send + '_>, ContainerdError> {
        let blob = self.layer_blob(layer)?;
        let file = self.fs().open(&blob.path)?;
        Ok(decompressed(file, blob.compression))
    }

    fn layer_blob<'l>(&self, layer: &'l LayerSource) -> Result<&'l LayerBlob, ContainerdError> {
        match &layer.blob {
            Some(b) if b.present => Ok(b),
            Some(b) => Err(ContainerdError::MissingBlob {
                what: format!("layer {} ({})", layer.index, layer.diff_id),
                digest: b.digest.clone(),
                path: b.path.display(),
            }),
            None => Err(ContainerdError::MissingBlob {
                what: format!("layer {} ({})", layer.index, layer.diff_id),
                digest: "(not in the manifest)".into(),
                path: "-".into(),
            }),
        }
    }
}
