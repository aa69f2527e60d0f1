//! The `docker save` archive: what Docker 25+ writes (moby
//! `image/tarexport/save.go`): an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…` holding the uncompressed layer tars, the
//! config and an OCI manifest) plus the legacy `manifest.json` and
//! `repositories`, so both old and new `docker load`, and skopeo's
//! `docker-archive:` and `oci-archive:` transports, read it.

use crate::digest::{HashingWriter, hex_part, sha256_hex};
use crate::store::reference::Reference;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
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
        let manifest_digest = format!("sha256:{}", sha256_hex(&oci_manifest));
        let refs: Vec<Reference> = tags.iter().filter_map(|t| Reference::parse(t)).collect();
        let mut descriptors: Vec<serde_json::Value> = refs
            .iter()
            .map(|r| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": oci_manifest.len(),
                    "annotations": {
                        "io.containerd.image.name": format!("{}:{}", r.name, r.tag.clone().unwrap_or_default()),
                        "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
                    },
                })
            })
            .collect();
        if descriptors.is_empty() {
            descriptors.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": oci_manifest.len(),
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
            "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.sha256)).collect::<Vec<_>>(),
        }]))
        .unwrap_or_default();
        manifest_json.push(b'\n');
        let repositories = layers.last().filter(|_| !refs.is_empty()).map(|top| {
            let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for r in &refs {
                repos
                    .entry(r.familiar_name().to_string())
                    .or_default()
                    .insert(
                        r.tag.clone().unwrap_or_default(),
                        hex_part(&top.sha256).to_string(),
                    );
            }
            let mut v = serde_json::to_vec(&repos).unwrap_or_default();
            v.push(b'\n');
            v
        });
        ArchivePlan {
            config: config.to_vec(),
            oci_manifest,
            index,
            manifest_json,
            repositories,
        }
    }
}

/// Writes the archive to `path`; returns its hex sha256 and length.
/// Layer tars are copied from their files (each blob once).
pub fn write_archive(
    path: &Path,
    plan: &ArchivePlan,
    layers: &[ArchiveLayer],
) -> io::Result<(String, u64)> {
    let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    let mut b = Builder::new(out);
    // Sorted like the directory walk Docker archives (blobs/, then files).
    enum Blob<'a> {
        Bytes(&'a [u8]),
        File(&'a ArchiveLayer),
    }
    let mut blobs: BTreeMap<String, Blob> = BTreeMap::new();
    blobs.insert(sha256_hex(&plan.config), Blob::Bytes(&plan.config));
    blobs.insert(
        sha256_hex(&plan.oci_manifest),
        Blob::Bytes(&plan.oci_manifest),
    );
    for l in layers {
        blobs.entry(l.sha256.clone()).or_insert(Blob::File(l));
    }
    dir(&mut b, "blobs/")?;
    dir(&mut b, "blobs/sha256/")?;
    for (hex, blob) in &blobs {
        let name = format!("blobs/sha256/{hex}");
        match blob {
            Blob::Bytes(bytes) => file(&mut b, &name, bytes.len() as u64, *bytes)?,
            Blob::File(l) => {
                let f = File::open(&l.file)?;
                let len = f.metadata()?.len();
                if len != l.size {
                    return Err(io::Error::other(format!(
                        "{} changed while the archive was written",
                        l.file.display()
                    )));
                }
                file(&mut b, &name, len, f)?;
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
