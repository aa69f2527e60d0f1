//! containerd's content store and the OCI / Docker manifests in it.
//!
//! Blobs live at `io.containerd.content.v1.content/blobs/<alg>/<hex>`
//! (containerd `content/local/store.go`). Manifests and indexes follow the
//! OCI image-spec (`manifest.md`, `image-index.md`) and Docker's image
//! manifest v2.2 / manifest list. An index is resolved to one platform's
//! manifest, skipping BuildKit attestation manifests (annotation
//! `vnd.docker.reference.type` = `attestation-manifest`, BuildKit
//! `docs/attestations/attestation-storage.md`).

use crate::digest::is_sha256_hex;
use crate::evidence::fs::EvPath;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The blob directory, relative to a containerd root.
pub const BLOBS_DIR: &str = "io.containerd.content.v1.content/blobs";

/// Where blob `digest` (`sha256:<hex>`) is stored under `root`; `None` for
/// a digest that is not a well-formed sha256 (never a path to follow).
pub fn blob_path(root: &EvPath, digest: &str) -> Option<EvPath> {
    let hex = digest.strip_prefix("sha256:")?;
    if !is_sha256_hex(hex) {
        return None;
    }
    root.join(format!("{BLOBS_DIR}/sha256/{hex}"))
}

/// A platform to pick from an index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An OCI content descriptor inside a manifest or index.
#[derive(Debug, Clone, Deserialize)]
pub struct OciDescriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker v2.2).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: OciDescriptor,
    #[serde(default)]
    pub layers: Vec<OciDescriptor>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub manifests: Vec<OciDescriptor>,
}

/// What a JSON blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    Index,
    Manifest,
    Other,
}

/// Classifies by media type, else by the JSON's own `mediaType` or shape.
pub fn blob_kind(media_type: &str, bytes: &[u8]) -> BlobKind {
    match media_type {
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json" => return BlobKind::Index,
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => return BlobKind::Manifest,
        _ => {}
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return BlobKind::Other;
    };
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str())
        && mt != media_type
        && !mt.is_empty()
    {
        return blob_kind(mt, b"");
    }
    if v.get("manifests").is_some_and(|m| m.is_array()) {
        BlobKind::Index
    } else if v.get("config").is_some_and(|c| c.is_object()) {
        BlobKind::Manifest
    } else {
        BlobKind::Other
    }
}

/// True for a BuildKit attestation manifest.
pub fn is_attestation(d: &OciDescriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
}

/// Picks the manifest for `want` from an index: an exact platform match
/// (variant compared only when asked for), else the only image manifest.
pub fn choose_manifest<'a>(index: &'a Index, want: &Platform) -> Result<&'a OciDescriptor, String> {
    let images: Vec<&OciDescriptor> = index
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .filter(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os != "unknown" && p.architecture != "unknown")
        })
        .collect();
    let matches = |p: &Platform| {
        p.os == want.os
            && p.architecture == want.architecture
            && (want.variant.is_none() || p.variant == want.variant)
    };
    if let Some(d) = images
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(matches))
    {
        return Ok(d);
    }
    if images.len() == 1 {
        return Ok(images[0]);
    }
    let have: Vec<String> = images
        .iter()
        .map(|d| d.platform.as_ref().map_or("?".into(), |p| p.to_string()))
        .collect();
    Err(format!(
        "the index has no manifest for {want} (it has: {})",
        if have.is_empty() {
            "none".to_string()
        } else {
            have.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_platform_and_skips_attestations() {
        let index: Index = serde_json::from_str(
            r#"{"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"arm64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":1,"platform":{"os":"unknown","architecture":"unknown"},
             "annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"sha256:bb"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            choose_manifest(&index, &Platform::default())
                .unwrap()
                .digest,
            "sha256:bb"
        );
        let s390 = Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        };
        let err = choose_manifest(&index, &s390).unwrap_err();
        assert!(err.contains("linux/arm64, linux/amd64"), "{err}");
    }

    #[test]
    fn blob_paths_refuse_odd_digests() {
        let root = EvPath::parse("var/lib/containerd").unwrap();
        let hex = "a".repeat(64);
        assert!(blob_path(&root, &format!("sha256:{hex}")).is_some());
        assert!(blob_path(&root, "sha256:../../etc").is_none());
        assert!(blob_path(&root, &format!("sha512:{hex}")).is_none());
    }
}
