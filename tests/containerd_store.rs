//! The containerd reader against the ctrd-basic fixture, checked against
//! what containerd itself answered (`ctrd-basic.expected.json`).

mod common;

use common::*;
use docker_forensics::digest::sha256_digest;
use docker_forensics::evidence::fs::EvPath;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::store::containerd::{ContainerdRoot, ContainerdStore};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;

fn store() -> Option<(Evidence, ContainerdStore)> {
    let host = host("ctrd-basic")?;
    let ev = Evidence::open(&host, &OpenOptions::default()).expect("open evidence");
    let roots = ContainerdRoot::discover(&ev, None).expect("discover");
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(roots[0].path, EvPath::parse("var/lib/containerd").unwrap());
    let st = roots[0].open().expect("open containerd root");
    Some((ev, st))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// (namespace, oracle image) pairs.
fn oracle_images() -> Vec<(String, Value)> {
    let exp = expected("ctrd-basic");
    let mut out = Vec::new();
    for (ns, v) in exp["namespaces"].as_object().unwrap() {
        for img in v["images"].as_array().unwrap() {
            out.push((ns.clone(), img.clone()));
        }
    }
    out
}

#[test]
fn every_image_of_every_namespace_is_listed() {
    let Some((_ev, st)) = store() else { return };
    assert_eq!(st.namespaces().unwrap(), ["k8s.io", "moby"]);
    let rows = st.images().unwrap();
    for r in &rows {
        assert!(r.error.is_none(), "{r:?}");
    }
    let oracle = oracle_images();
    for (ns, img) in &oracle {
        let name = img["name"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r.store == format!("containerd/{ns}") && r.names.iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("{ns}/{name} not listed in {rows:#?}"));
        assert_eq!(row.id, img["config_digest"].as_str().unwrap());
        assert_eq!(
            row.manifest_digest.as_deref(),
            img["manifest_digest"].as_str()
        );
        assert_eq!(row.layers, img["diff_ids"].as_array().unwrap().len());
        assert_eq!(row.unpacked, img["unpacked"].as_bool().unwrap(), "{name}");
    }
    // Every name listed is one containerd knows, and no name is lost.
    let listed: usize = rows.iter().map(|r| r.names.len()).sum();
    assert_eq!(listed, oracle.len());
}

#[test]
fn layers_from_blobs_hash_to_the_diff_ids() {
    let Some((_ev, st)) = store() else { return };
    for (ns, want) in oracle_images() {
        let name = want["name"].as_str().unwrap();
        let img = st.image(&ns, name).unwrap();
        assert!(img.problems.is_empty(), "{name}: {:?}", img.problems);
        assert!(img.config_verified);
        assert_eq!(img.id, want["config_digest"].as_str().unwrap());
        assert_eq!(
            sha256_digest(img.manifest_bytes.as_ref().unwrap()),
            want["manifest_digest"].as_str().unwrap()
        );
        assert_eq!(img.config.rootfs.diff_ids, strs(&want["diff_ids"]));
        let digests = strs(&want["layer_digests"]);
        assert_eq!(img.layers.len(), digests.len());
        for (layer, digest) in img.layers.iter().zip(&digests) {
            let blob = layer.blob.as_ref().unwrap();
            assert_eq!(&blob.digest, digest);
            let d = st.verify_layer(layer).unwrap();
            assert_eq!(&d.blob, digest, "{name} layer {}", layer.index);
            assert_eq!(
                d.uncompressed, layer.diff_id,
                "{name} layer {}",
                layer.index
            );
            // The streaming reader gives the same bytes.
            let mut h = Sha256::new();
            let mut r = st.open_layer(layer).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            assert_eq!(
                format!("sha256:{}", hex::encode(h.finalize())),
                layer.diff_id
            );
        }
    }
}

#[test]
fn unpacked_image_has_its_snapshot_chain() {
    let Some((ev, st)) = store() else { return };
    let fs = &*ev.volumes[0].fs;
    for (ns, want) in oracle_images() {
        let name = want["name"].as_str().unwrap();
        let img = st.image(&ns, name).unwrap();
        let unpacked = want["unpacked"].as_bool().unwrap();
        let chains = docker_forensics::digest::chain_ids(&strs(&want["diff_ids"]));
        for (layer, chain) in img.layers.iter().zip(&chains) {
            assert_eq!(&layer.chain_id, chain);
            if let Some(u) = &layer.unpacked {
                // The snapshotter key is <namespace>/<n>/<chainid>.
                assert!(u.key.starts_with(&format!("{ns}/")), "{}", u.key);
                assert!(u.key.ends_with(chain.as_str()), "{}", u.key);
                assert!(fs.metadata(&u.dir).unwrap().is_dir());
            }
        }
        // A content-only image may share its lower layers' snapshots with
        // an unpacked one, but not all of them.
        let all = img.layers.iter().all(|l| l.unpacked.is_some());
        assert_eq!(all, unpacked, "{ns}/{name}");
    }
    // The web image's top layer removes /var/cache/web/page and makes the
    // directory opaque: its snapshot has the overlay marks.
    let img = st
        .image("k8s.io", "registry.example.com/shop/web:2")
        .unwrap();
    let top = img.layers[3].unpacked.as_ref().unwrap();
    let cache = top.dir.join("var/cache/web").unwrap();
    let x = fs.xattrs(&cache).unwrap();
    assert!(
        x.iter()
            .any(|(k, v)| k == b"trusted.overlay.opaque" && v == b"y"),
        "{x:?}"
    );
    let gone = top.dir.join("etc/web/build").unwrap();
    assert!(fs.metadata(&gone).unwrap().is_overlay_whiteout());
    // Short names and ids resolve too.
    let moby = st.image("moby", "fxbase:1").unwrap();
    assert_eq!(moby.names, ["docker.io/library/fxbase:1"]);
    assert_eq!(st.image("moby", &moby.id[7..19]).unwrap().id, moby.id);
    let err = st.image("moby", "nope:1").unwrap_err().to_string();
    assert!(err.contains("fxbase"), "{err}");
}

#[test]
fn pod_container_with_its_writable_snapshot() {
    let Some((ev, st)) = store() else { return };
    let fs = &*ev.volumes[0].fs;
    let exp = expected("ctrd-basic");
    let want = &exp["namespaces"]["k8s.io"]["containers"][0];
    let all = st.containers().unwrap();
    assert_eq!(all.len(), 1);
    let c = &all[0];
    assert_eq!(c.store, "containerd/k8s.io");
    assert_eq!(c.id, want["id"].as_str().unwrap());
    assert_eq!(c.image.as_deref(), want["image"].as_str());
    assert_eq!(
        c.image_id.as_deref(),
        Some("sha256:46508d79b798a8d1e36e8ce61167af6a6eb01d90a8fa0024eb5a3dad8769dd72")
    );
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_value(want["labels"].clone()).unwrap();
    assert_eq!(c.labels, labels);
    assert_eq!(
        c.kubernetes.as_ref().and_then(|k| k.pod.as_deref()),
        Some("web-0")
    );
    assert_eq!(c.runtime.as_deref(), Some("io.containerd.runc.v2"));
    assert!(c.created.as_deref().unwrap().starts_with("20"));
    let spec: Value = serde_json::from_slice(c.spec.as_ref().unwrap()).unwrap();
    assert!(spec["process"]["args"].is_array(), "{spec}");
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    // The writable layer holds exactly what containerd's differ reported.
    let top = c.writable_dir.as_ref().unwrap();
    for f in strs(&want["changed_files"]) {
        let (path, whiteout) = match f.rsplit_once("/.wh.") {
            Some((dir, name)) => (format!("{dir}/{name}"), true),
            None => (f.clone(), false),
        };
        let m = fs.metadata(&top.join(&path).unwrap()).unwrap();
        assert_eq!(m.is_overlay_whiteout(), whiteout, "{f}");
    }
    // Parents: the image's unpacked layers, lowest first.
    let img = st
        .image("k8s.io", "registry.example.com/shop/web:2")
        .unwrap();
    let dirs: Vec<EvPath> = img
        .layers
        .iter()
        .map(|l| l.unpacked.as_ref().unwrap().dir.clone())
        .collect();
    assert_eq!(c.parent_dirs, dirs);
}

#[test]
fn pod_container_runs_as_its_stored_spec_says() {
    let Some((_ev, st)) = store() else { return };
    let all = st.containers().unwrap();
    let c = all[0].clone().into_container();
    let spec: Value = serde_json::from_slice(all[0].spec.as_ref().unwrap()).unwrap();
    let p = &spec["process"];
    let args = strs(&p["args"]);
    assert_eq!(c.path.as_deref(), args.first().map(String::as_str));
    assert_eq!(c.args, args[1..].to_vec());
    assert_eq!(c.env, strs(&p["env"]));
    assert_eq!(c.working_dir.as_deref(), p["cwd"].as_str());
    let user = format!("{}:{}", p["user"]["uid"], p["user"]["gid"]);
    assert_eq!(c.user.as_deref(), Some(user.as_str()));
    let mut caps = strs(&p["capabilities"]["bounding"]);
    caps.sort();
    assert_eq!(c.capabilities, Some(caps));
    // containerd records no `privileged`: not recorded, not `false`.
    assert_eq!(c.privileged, None);
    // Every mount of the spec but the runtime's defaults, as recorded.
    for m in c.mounts.iter() {
        let rec = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["destination"] == m.destination.as_str())
            .unwrap_or_else(|| panic!("{m:?} not in the spec"));
        assert_eq!(rec["source"].as_str(), m.source.as_deref());
    }
    assert!(!c.mounts.iter().any(|m| m.destination == "/proc"));
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["privileged"].is_null(), "{json}");
}

#[test]
fn raw_records_blobs_and_snapshots() {
    let Some((ev, st)) = store() else { return };
    let fs = &*ev.volumes[0].fs;
    let meta = st.meta();
    assert_eq!(meta.schema_version().unwrap(), Some(3));
    for ns in st.namespaces().unwrap() {
        for b in meta.blobs(&ns).unwrap() {
            let path = st.blob_path(&b.digest).unwrap();
            assert_eq!(
                b.size,
                Some(fs.metadata(&path).unwrap().size as i64),
                "{}",
                b.digest
            );
            assert!(b.created.is_some());
        }
        assert!(meta.leases(&ns).unwrap().is_empty());
    }
    let snaps = meta.snapshots("k8s.io").unwrap();
    assert_eq!(snaps.len(), 5);
    let web = snaps.iter().find(|s| s.key == "web-0").unwrap();
    assert_eq!(web.snapshotter, "overlayfs");
    assert_eq!(web.name.as_deref(), Some("k8s.io/9/web-0"));
    let overlay = st.snapshotter("overlayfs").unwrap();
    assert_eq!(overlay.snapshots.len(), 6);
    assert_eq!(overlay.chain("k8s.io/9/web-0").unwrap().len(), 5);
    assert!(st.snapshotter_errors().is_empty());
}
