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

impl ArchivePlan {
    /// Points every `index.json` entry at `digest` (of `media_type`,
    /// `size` bytes): the index (or manifest) the image record pointed
    /// at, whose blob the archive then carries too. Docker 29's `docker
    /// load` (containerd `images/archive` importer) names the image after
    /// it, so it gets the id it had; `manifest.json` still names the
    /// config and layers, for older engines.
    pub fn point_index_at(&mut self, media_type: &str, digest: &str, size: u64) {
        let Ok(mut index) = serde_json::from_slice::<serde_json::Value>(&self.index) else {
            return;
        };
        if let Some(ds) = index
            .get_mut("manifests")
            .and_then(serde_json::Value::as_array_mut)
        {
            for d in ds {
                d["mediaType"] = json!(media_type);
                d["digest"] = json!(digest);
                d["size"] = json!(size);
            }
        }
        if let Ok(v) = serde_json::to_vec(&index) {
            self.index = v;
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
    let head = header(name, EntryType::Regular, 0o644, data.len() as u64)?;
    // sized once: no doubling of a large config while it is copied in
    let mut v = Vec::with_capacity(512 + data.len() + padding(data.len() as u64));
    v.extend_from_slice(head.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Entry {
        name: String,
        kind: EntryType,
        data: Vec<u8>,
    }

    fn read_archive(bytes: &[u8]) -> Vec<Entry> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                Entry {
                    name: e.path().unwrap().display().to_string(),
                    kind: e.header().entry_type(),
                    data,
                }
            })
            .collect()
    }

    fn json(data: &[u8]) -> serde_json::Value {
        serde_json::from_slice(data).unwrap()
    }

    /// Two layers, the first used twice (an image that adds a layer
    /// identical to a lower one).
    fn layers(dir: &Path) -> Vec<ArchiveLayer> {
        let mut out = Vec::new();
        for (i, data) in [
            &b"layer one"[..],
            &b"layer two, longer"[..],
            &b"layer one"[..],
        ]
        .into_iter()
        .enumerate()
        {
            let file = dir.join(format!("layer_{i}.tar"));
            std::fs::write(&file, data).unwrap();
            out.push(ArchiveLayer {
                sha256: sha256_hex(data),
                size: data.len() as u64,
                file,
            });
        }
        out
    }

    const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;

    #[test]
    fn archive_is_what_docker_load_reads() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let tags = [
            "docker.io/library/busybox:latest".to_string(),
            "example.com/team/app:1.0".to_string(),
            "busybox@sha256:0123".to_string(),
            format!("sha256:{}", sha256_hex(CONFIG)),
        ];
        let plan = ArchivePlan::new(CONFIG, &tags, &layers);
        let path = dir.path().join("image.tar");
        let (sha, len) = write_archive(&path, &plan, &layers).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((sha, len), (sha256_hex(&bytes), bytes.len() as u64));
        assert_eq!(len % 512, 0);

        let entries = read_archive(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let config_hex = sha256_hex(CONFIG);
        let manifest_hex = sha256_hex(&plan.oci_manifest);
        let mut blobs = vec![
            config_hex.clone(),
            manifest_hex.clone(),
            layers[0].sha256.clone(),
            layers[1].sha256.clone(),
        ];
        blobs.sort();
        let mut want = vec!["blobs/".to_string(), "blobs/sha256/".to_string()];
        want.extend(blobs.iter().map(|b| format!("blobs/sha256/{b}")));
        want.extend(
            ["index.json", "manifest.json", "oci-layout", "repositories"].map(String::from),
        );
        assert_eq!(names, want);
        let by = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by("blobs/").kind, EntryType::Directory);
        // Every blob is named by its content's sha256; the shared layer
        // is there once.
        for b in &blobs {
            assert_eq!(&sha256_hex(&by(&format!("blobs/sha256/{b}")).data), b);
        }
        assert_eq!(by("oci-layout").data, br#"{"imageLayoutVersion":"1.0.0"}"#);

        // manifest.json: the config and every layer in order, familiar tags.
        let m = json(&by("manifest.json").data);
        assert_eq!(m[0]["Config"], format!("blobs/sha256/{config_hex}"));
        let l: Vec<String> = layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.sha256))
            .collect();
        assert_eq!(m[0]["Layers"], serde_json::json!(l));
        assert_eq!(
            m[0]["RepoTags"],
            serde_json::json!(["busybox:latest", "example.com/team/app:1.0"])
        );
        assert_eq!(by("manifest.json").data, plan.manifest_json);

        // index.json names the OCI manifest once per tag.
        let index = json(&by("index.json").data);
        let descriptors = index["manifests"].as_array().unwrap();
        assert_eq!(descriptors.len(), 2);
        for d in descriptors {
            assert_eq!(d["digest"], format!("sha256:{manifest_hex}"));
            assert_eq!(d["size"], plan.oci_manifest.len());
        }
        assert_eq!(
            descriptors[0]["annotations"]["io.containerd.image.name"],
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            descriptors[1]["annotations"]["org.opencontainers.image.ref.name"],
            "1.0"
        );

        // The OCI manifest lists the layers as uncompressed tars.
        let oci = json(&by(&format!("blobs/sha256/{manifest_hex}")).data);
        assert_eq!(oci["config"]["digest"], format!("sha256:{config_hex}"));
        assert_eq!(oci["layers"].as_array().unwrap().len(), 3);
        assert_eq!(oci["layers"][1]["size"], layers[1].size);
        assert_eq!(
            oci["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar"
        );

        // repositories points each tag at the top layer.
        let repos = json(&by("repositories").data);
        assert_eq!(repos["busybox"]["latest"], layers[2].sha256);
        assert_eq!(repos["example.com/team/app"]["1.0"], layers[2].sha256);
    }

    #[test]
    fn untagged_image_has_one_descriptor_and_no_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let plan = ArchivePlan::new(CONFIG, &[], &layers);
        assert!(plan.repositories.is_none());
        let index = json(&plan.index);
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert!(index["manifests"][0].get("annotations").is_none());
        let path = dir.path().join("image.tar");
        write_archive(&path, &plan, &layers).unwrap();
        let names: Vec<String> = read_archive(&std::fs::read(&path).unwrap())
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(!names.iter().any(|n| n == "repositories"));
        assert_eq!(
            json(&plan.manifest_json)[0]["RepoTags"],
            serde_json::json!([])
        );
    }

    #[test]
    fn index_json_can_point_at_the_original_index() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let tags = [
            "fixture/web:1.0".to_string(),
            "fixture/web:latest".to_string(),
        ];
        let mut plan = ArchivePlan::new(CONFIG, &tags, &layers);
        let before = plan.manifest_json.clone();
        let index_type = "application/vnd.oci.image.index.v1+json";
        plan.point_index_at(index_type, "sha256:1f20", 856);
        let index = json(&plan.index);
        let ds = index["manifests"].as_array().unwrap();
        assert_eq!(ds.len(), 2);
        for d in ds {
            assert_eq!(d["mediaType"], index_type);
            assert_eq!(d["digest"], "sha256:1f20");
            assert_eq!(d["size"], 856);
        }
        // Names kept, manifest.json untouched.
        assert_eq!(
            ds[1]["annotations"]["io.containerd.image.name"],
            "docker.io/fixture/web:latest"
        );
        assert_eq!(plan.manifest_json, before);
    }

    #[test]
    fn a_blob_is_exactly_its_announced_size() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, b"abc").unwrap();
        let long = dir.path().join("long");
        std::fs::write(&long, b"abcdefgh").unwrap();
        let plan = ArchivePlan::new(CONFIG, &[], &[]);
        let blobs = [
            Blob {
                hex: "aa".into(),
                size: 6,
                source: BlobSource::File(short),
            },
            Blob {
                hex: "bb".into(),
                size: 4,
                source: BlobSource::File(long),
            },
        ];
        let path = dir.path().join("image.tar");
        write_archive_blobs(&path, &plan, &blobs).unwrap();
        let entries = read_archive(&std::fs::read(&path).unwrap());
        let by = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by("blobs/sha256/aa").data, b"abc\0\0\0");
        assert_eq!(by("blobs/sha256/bb").data, b"abcd");
    }

    #[test]
    fn streamed_pieces_make_a_valid_archive() {
        // What the one-pass writer sends: opening entries, each layer
        // behind its header and padded, then the closing entries.
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let plan = ArchivePlan::new(CONFIG, &["a:b".to_string()], &layers);
        let mut v = opening_entries().unwrap();
        for l in &layers[..2] {
            let data = std::fs::read(&l.file).unwrap();
            let name = format!("blobs/sha256/{}", l.sha256);
            v.extend_from_slice(
                header(&name, EntryType::Regular, 0o644, l.size)
                    .unwrap()
                    .as_bytes(),
            );
            v.extend_from_slice(&data);
            v.resize(v.len() + padding(l.size), 0);
            assert_eq!(v.len() % 512, 0);
        }
        v.extend(closing_entries(&plan).unwrap());
        assert_eq!(&v[v.len() - 1024..], &[0u8; 1024][..]);
        let entries = read_archive(&v);
        assert_eq!(entries.len(), 2 + 2 + 2 + 4);
        assert_eq!(entries[2].data, b"layer one");
        assert_eq!(entries.last().unwrap().name, "repositories");
        assert_eq!(
            [padding(0), padding(1), padding(512), padding(513)],
            [0, 511, 0, 511]
        );
    }
}
