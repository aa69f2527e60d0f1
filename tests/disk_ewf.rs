//! The shared EnCase fixtures, read without mounting: the filesystem tree
//! against the extracted host tree, the Docker store on top, the media
//! hashes and the acquisition metadata.
//!
//! Needs: the fixtures in `../shared/fixtures`, `tar`, root (to extract
//! whiteout devices and `trusted.*` xattrs).

mod common;

use common::disk::*;
use common::{is_root, skip};
use docker_forensics::evidence::fs::HostDir;
use docker_forensics::evidence::image::ImageFormat;
use docker_forensics::evidence::{Evidence, OpenOptions};
use std::collections::BTreeSet;

#[test]
fn basic_e01_tree_matches_host_tree() {
    let Some(fx) = fixtures() else { return };
    if !is_root() || !have_tools(&["tar"]) {
        skip("unpacking the host tree needs root and tar");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    extract_host(&fx, "basic", tmp.path());
    let host = HostDir::open(tmp.path()).unwrap();
    let expected = snapshot(&host, "var/lib/docker");

    let ev = Evidence::open(&fx.join("basic.disk.E01"), &OpenOptions::default()).unwrap();
    assert_eq!(ev.format, Some(ImageFormat::Ewf));
    assert_eq!(ev.volumes.len(), 1, "{:?} {:?}", ev.volumes, ev.notes);
    assert_eq!(ev.volumes[0].label, "partition 1 (ext4)");
    let got = snapshot(ev.volumes[0].fs.as_ref(), "var/lib/docker");
    assert!(expected.len() > 100, "only {} entries", expected.len());
    assert_same_tree(&expected, &got, "basic.disk.E01 vs basic.host.tar.gz");
    assert_has_overlay_features(&got);
    eprintln!("compared {} entries", got.len());
}

#[test]
fn basic_e01_docker_store_verifies() {
    let Some(fx) = fixtures() else { return };
    let ev = Evidence::open(
        &fx.join("basic.disk.E01"),
        &OpenOptions {
            partition: Some(docker_forensics::evidence::volume::PartitionChoice::Number(
                1,
            )),
            ..Default::default()
        },
    )
    .unwrap();
    let roots = docker_forensics::store::docker::DataRoot::discover(&ev, None).unwrap();
    assert_eq!(roots.len(), 1);
    let images = roots[0].list_images().unwrap();
    let got: BTreeSet<String> = images.iter().map(|i| i.id.clone()).collect();

    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("basic.expected.json")).unwrap()).unwrap();
    let want: BTreeSet<String> = expected["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(want.len(), 15);
    let norm = |s: &String| s.trim_start_matches("sha256:").to_string();
    assert_eq!(
        got.iter().map(norm).collect::<BTreeSet<_>>(),
        want.iter().map(norm).collect::<BTreeSet<_>>()
    );

    let catalog = docker_forensics::store::catalog::Catalog::discover(&ev, None).unwrap();
    let images: Vec<_> = catalog
        .all_images(Default::default())
        .unwrap()
        .into_iter()
        .map(|f| f.map_err(|(what, e)| format!("{what}: {e}")).unwrap())
        .collect();
    let verified = docker_forensics::export::verify_images(&images, &Default::default());
    assert_eq!(verified.len(), 15);
    let mut layers = 0;
    for img in &verified {
        assert!(
            img.verified,
            "{} not verified: {:?}",
            img.image_id, img.error
        );
        layers += img.layers.len();
    }
    assert!(layers > 0);
    eprintln!(
        "{} images, {layers} layer checks verified from the E01",
        verified.len()
    );
}

#[test]
fn e01_media_hashes_and_metadata() {
    let Some(fx) = fixtures() else { return };
    for name in ["basic", "peer", "ctrd-basic", "podman-basic"] {
        let ev = Evidence::open(
            &fx.join(format!("{name}.disk.E01")),
            &OpenOptions::default(),
        )
        .unwrap();
        let acq = ev.acquisition.as_ref().unwrap();
        if name == "basic" {
            assert_eq!(acq.case_number.as_deref(), Some("case-fixture"));
            assert_eq!(acq.examiner.as_deref(), Some("fixture builder"));
            assert_eq!(acq.evidence_number.as_deref(), Some("evidence-1"));
            assert!(acq.acquisition_date.is_some());
        }
        let v = ev.verify_image(&|_, _| {}).unwrap().unwrap();
        let want = std::fs::read_to_string(fx.join(format!("{name}.disk.raw.sha256"))).unwrap();
        assert_eq!(
            v.sha256,
            want.split_whitespace().next().unwrap(),
            "{name}: sha256"
        );
        assert_eq!(v.md5_matches, Some(true), "{name}: stored MD5");
        assert!(v.verified());
        let json = serde_json::to_value(acq).unwrap();
        assert!(json["md5"].is_string());
    }
}
