//! The `docker save` archive: what Docker 25+ writes (moby
//! `image/tarexport/save.go`): an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…` holding the uncompressed layer tars, the
//! config and an OCI manifest) plus the legacy `manifest.json` and
//! `repositories`, so both old and new `docker load`, and skopeo's
//! `docker-archive:` and `oci-archive:` transports, read it.

use crate::digest::{HashingWriter, hex_part, sha256_hex};
use crate::evidence::fs::{EvPath, FileSystem};
use crate::store::reference::Reference;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tar::{Builder, EntryType, Header};

/// One layer ready to go into the archive.
pub struct ArchiveLayer {
    /// Hex sha256 of the tar (its blob name).
    pub sha256: String,
    pub size: u64,
    /// The layer tar already written to disk.
    pub file: PathBuf,
}

/// The small JSON documents of the archive, built before it is written.
pub struct ArchivePlan {
    pub config: Vec<u8>,
    pub oci_manifest: Vec<u8>,
    pub index: Vec<u8>,
    /// `manifest.json`, also written beside the archive.
    pub manifest_json: Vec<u8>,
    pub repositories: Option<Vec<u8>>,
}

impl ArchivePlan {
    /// A plan with a new OCI manifest naming the uncompressed layer tars.
    pub fn new(config: &[u8], tags: &[String], layers: &[ArchiveLayer]) -> Self {
        let config_hex = sha256_hex(config);
        let oci_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{config_hex}"),
                "size": config.len(),
            },
            "layers": layers.iter().map(|l| json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{}", l.sha256),
                "size": l.size,
            })).collect::<Vec<_>>(),
        }))
        .unwrap_or_default();
        let blobs: Vec<String> = layers.iter().map(|l| l.sha256.clone()).collect();
        let top = layers.last().map(|l| l.sha256.clone());
        Self::with_manifest(config, oci_manifest, OCI_MANIFEST, tags, &blobs, top)
    }

    /// A plan that keeps an image's own manifest (`manifest`, of
    /// `media_type`) byte for byte, so its digest still verifies; `blobs`
    /// are the hex digests of the layer blobs it names (compressed or
    /// not: `docker load` decompresses), `top_diff_id` the hex diff_id of
    /// the top layer (what the legacy `repositories` file points at).
    pub fn with_manifest(
        config: &[u8],
        manifest: Vec<u8>,
        media_type: &str,
        tags: &[String],
        blobs: &[String],
        top_diff_id: Option<String>,
    ) -> Self {
        let config_hex = sha256_hex(config);
        let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
        // Only name:tag references can be tags of a loaded image.
        let refs: Vec<Reference> = tags
            .iter()
            .filter_map(|t| Reference::parse(t))
            .filter(|r| r.tag.is_some() && r.digest.is_none())
            // CRI names an image by its id too (`sha256:<hex>`): not a tag.
            .filter(|r| r.familiar_name() != "sha256")
            .collect();
        let mut descriptors: Vec<serde_json::Value> = refs
            .iter()
            .map(|r| {
                json!({
                    "mediaType": media_type,
                    "digest": manifest_digest,
                    "size": manifest.len(),
                    "annotations": {
                        "io.containerd.image.name": format!("{}:{}", r.name, r.tag.clone().unwrap_or_default()),
                        "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
                    },
                })
            })
            .collect();
        if descriptors.is_empty() {
            descriptors.push(json!({
                "mediaType": media_type,
                "digest": manifest_digest,
                "size": manifest.len(),
            }));
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descriptors,
        }))
        .unwrap_or_default();
        let familiar: Vec<String> = refs.iter().map(Reference::familiar).collect();
        let mut manifest_json = serde_json::to_vec(&json!([{
            "Config": format!("blobs/sha256/{config_hex}"),
            "RepoTags": familiar,
            "Layers": blobs.iter().map(|b| format!("blobs/sha256/{b}")).collect::<Vec<_>>(),
        }]))
        .unwrap_or_default();
        manifest_json.push(b'\n');
        let repositories = top_diff_id.filter(|_| !refs.is_empty()).map(|top| {
            let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for r in &refs {
                repos
                    .entry(r.familiar_name().to_string())
                    .or_default()
                    .insert(
                        r.tag.clone().unwrap_or_default(),
                        hex_part(&top).to_string(),
                    );
            }
            let mut v = serde_json::to_vec(&repos).unwrap_or_default();
            v.push(b'\n');
            v
        });
        ArchivePlan {
            config: config.to_vec(),
            oci_manifest: manifest,
            index,
            manifest_json,
            repositories,
        }
    }
}

/// Where a blob's bytes come from when the archive is written.
pub enum BlobSource<'a> {
    /// A file we wrote (a layer tar).
    File(PathBuf),
    /// A blob in the evidence, copied verbatim.
    Evidence(&'a dyn FileSystem, EvPath),
}

/// One blob of the archive.
pub struct Blob<'a> {
    /// Hex sha256 (its name).
    pub hex: String,
    pub size: u64,
    pub source: BlobSource<'a>,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Writes the archive to `path` from layer tars on disk; returns its hex
/// sha256 and length.
pub fn write_archive(
    path: &Path,
    plan: &ArchivePlan,
    layers: &[ArchiveLayer],
) -> io::Result<(String, u64)> {
    let blobs: Vec<Blob<'_>> = layers
        .iter()
        .map(|l| Blob {
            hex: l.sha256.clone(),
            size: l.size,
            source: BlobSource::File(l.file.clone()),
        })
        .collect();
    write_archive_blobs(path, plan, &blobs)
}

/// Writes the archive to `path` (each blob once, names sorted as Docker's
/// directory walk would); returns its hex sha256 and length.
pub fn write_archive_blobs(
    path: &Path,
    plan: &ArchivePlan,
    blobs: &[Blob<'_>],
) -> io::Result<(String, u64)> {
    let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    let mut b = Builder::new(out);
    enum Data<'a> {
        Bytes(&'a [u8]),
        Blob(&'a Blob<'a>),
    }
    let mut entries: BTreeMap<String, Data> = BTreeMap::new();
    entries.insert(sha256_hex(&plan.config), Data::Bytes(&plan.config));
    entries.insert(
        sha256_hex(&plan.oci_manifest),
        Data::Bytes(&plan.oci_manifest),
    );
    for blob in blobs {
        entries.entry(blob.hex.clone()).or_insert(Data::Blob(blob));
    }
    dir(&mut b, "blobs/")?;
    dir(&mut b, "blobs/sha256/")?;
    for (hex, data) in &entries {
        let name = format!("blobs/sha256/{hex}");
        match data {
            Data::Bytes(bytes) => file(&mut b, &name, bytes.len() as u64, *bytes)?,
            Data::Blob(blob) => {
                let reader: Box<dyn io::Read> = match &blob.source {
                    BlobSource::File(p) => Box::new(File::open(p)?),
                    BlobSource::Evidence(fs, p) => Box::new(fs.open(p).map_err(io::Error::other)?),
                };
                // Exactly the announced length, whatever the source does.
                let data = reader.take(blob.size).chain(io::repeat(0)).take(blob.size);
                file(&mut b, &name, blob.size, data)?;
            }
        }
    }
    file(
        &mut b,
        "index.json",
        plan.index.len() as u64,
        plan.index.as_slice(),
    )?;
    file(
        &mut b,
        "manifest.json",
        plan.manifest_json.len() as u64,
        plan.manifest_json.as_slice(),
    )?;
    file(&mut b, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
    if let Some(r) = &plan.repositories {
        file(&mut b, "repositories", r.len() as u64, r.as_slice())?;
    }
    b.finish()?;
    let (mut inner, sha, len) = b.into_inner()?.finish()?;
    inner.flush()?;
    Ok((sha, len))
}

pub(crate) fn header(name: &str, kind: EntryType, mode: u32, size: u64) -> io::Result<Header> {
    let mut h = Header::new_ustar();
    h.set_path(name)?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    Ok(h)
}

fn dir<W: Write>(b: &mut Builder<W>, name: &str) -> io::Result<()> {
    b.append(&header(name, EntryType::Directory, 0o755, 0)?, io::empty())
}

fn file<W: Write>(
    b: &mut Builder<W>,
    name: &str,
    size: u64,
    data: impl io::Read,
) -> io::Result<()> {
    b.append(&header(name, EntryType::Regular, 0o644, size)?, data)
}

/// Zero bytes that pad an entry of `size` bytes to the 512-byte block.
pub(crate) fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// A whole small entry: header, data, padding.
pub(crate) fn small_entry(name: &str, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut v = header(name, EntryType::Regular, 0o644, data.len() as u64)?
        .as_bytes()
        .to_vec();
    v.extend_from_slice(data);
    v.resize(v.len() + padding(data.len() as u64), 0);
    Ok(v)
}

/// The entries that close the archive after the layer blobs: config and
/// manifest blobs, `index.json`, `manifest.json`, `oci-layout`,
/// `repositories`, and the two zero blocks that end a tar.
pub(crate) fn closing_entries(plan: &ArchivePlan) -> io::Result<Vec<u8>> {
    let mut v = small_entry(
        &format!("blobs/sha256/{}", sha256_hex(&plan.config)),
        &plan.config,
    )?;
    v.extend(small_entry(
        &format!("blobs/sha256/{}", sha256_hex(&plan.oci_manifest)),
        &plan.oci_manifest,
    )?);
    v.extend(small_entry("index.json", &plan.index)?);
    v.extend(small_entry("manifest.json", &plan.manifest_json)?);
    v.extend(small_entry("oci-layout", OCI_LAYOUT)?);
    if let Some(r) = &plan.repositories {
        v.extend(small_entry("repositories", r)?);
    }
    v.resize(v.len() + 1024, 0);
    Ok(v)
}

/// The directory entries that open the archive.
pub(crate) fn opening_entries() -> io::Result<Vec<u8>> {
    let mut v = header("blobs/", EntryType::Directory, 0o755, 0)?
        .as_bytes()
        .to_vec();
    v.extend_from_slice(header("blobs/sha256/", EntryType::Directory, 0o755, 0)?.as_bytes());
    Ok(v)
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
