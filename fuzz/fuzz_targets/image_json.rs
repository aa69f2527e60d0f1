//! JSON documents of an image: the bytes parsed as an image config, an
//! OCI / Docker manifest and an index (through `json::parse`, as the
//! stores do), classified (`blob_kind`), an index resolved to a platform
//! (`choose_manifest`), and the bytes as the in-toto statement of a
//! BuildKit attestation (`provenance`).
#![no_main]

use docker_forensics::evidence::fs::EvPath;
use docker_forensics::export::provenance::provenance;
use docker_forensics::json;
use docker_forensics::store::containerd::content::{
    BlobKind, Index, Manifest, Platform, blob_kind, blob_path, choose_manifest, is_attestation,
};
use docker_forensics::store::model::{Attestation, AttestationStatement, ImageConfig};
use libfuzzer_sys::fuzz_target;

const MEDIA_TYPES: &[&str] = &[
    "",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.in-toto+json",
];

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = json::parse::<ImageConfig>(data) {
        let _ = format!("{config:?}");
    }
    let root = EvPath::parse("var/lib/containerd").unwrap_or_default();
    if let Ok(m) = json::parse::<Manifest>(data) {
        for d in std::iter::once(&m.config).chain(&m.layers) {
            let _ = blob_path(&root, &d.digest);
            let _ = is_attestation(d);
        }
    }
    for mt in MEDIA_TYPES {
        let kind = blob_kind(mt, data);
        if !mt.is_empty() && *mt != "application/vnd.in-toto+json" {
            assert_ne!(kind, BlobKind::Other, "a declared media type decides");
        }
    }
    if let Ok(index) = json::parse::<Index>(data) {
        let arm = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        for want in [Platform::default(), arm] {
            if let Ok(d) = choose_manifest(&index, &want) {
                assert!(!is_attestation(d), "an attestation chosen as the image");
                let _ = blob_path(&root, &d.digest);
            }
        }
    }
    let statement = |predicate: &str| AttestationStatement {
        digest: "sha256:00".into(),
        media_type: "application/vnd.in-toto+json".into(),
        predicate_type: Some(predicate.into()),
        bytes: Some(data.to_vec()),
    };
    let attestation = Attestation {
        manifest_digest: "sha256:11".into(),
        refers_to: Some("sha256:22".into()),
        statements: vec![
            statement("https://slsa.dev/provenance/v0.2"),
            statement("https://slsa.dev/provenance/v1"),
        ],
    };
    if let Some(p) = provenance(&[attestation]) {
        let _ = serde_json::to_string(&p);
        if let Some(d) = &p.dockerfile {
            assert_eq!(d.size, d.data.len() as u64);
        }
    }
});
