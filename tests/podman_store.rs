//! The containers/storage reader against the podman-basic fixture,
//! checked against what Podman itself answered
//! (`podman-basic.expected.json`).

mod common;

use common::*;
use docker_forensics::evidence::fs::EvPath;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::layer::{LayerInput, produce};
use docker_forensics::report::Method;
use docker_forensics::store::podman::{PodmanRoot, PodmanStore};
use serde_json::Value;

fn store() -> Option<(Evidence, PodmanStore)> {
    let host = host("podman-basic")?;
    let ev = Evidence::open(&host, &OpenOptions::default()).expect("open evidence");
    let roots = PodmanRoot::discover(&ev, None).expect("discover");
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(
        roots[0].path,
        EvPath::parse("var/lib/containers/storage").unwrap()
    );
    assert_eq!(roots[0].driver, "overlay");
    let st = roots[0].open().expect("open graph root");
    Some((ev, st))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_image_is_listed_with_its_names() {
    let Some((_ev, st)) = store() else { return };
    let exp = expected("podman-basic");
    let rows = st.images();
    let want = exp["images"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for w in want {
        let id = format!("sha256:{}", w["id"].as_str().unwrap());
        let row = rows
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} not listed"));
        assert!(row.error.is_none(), "{row:?}");
        assert_eq!(row.store, "podman");
        let mut names = row.names.clone();
        names.sort();
        assert_eq!(names, strs(&w["names"]));
        assert_eq!(row.manifest_digest.as_deref(), w["digest"].as_str());
        assert_eq!(row.layers, w["diff_ids"].as_array().unwrap().len());
        assert!(row.unpacked);
        assert!(row.created.is_some());
    }
}

#[test]
fn layers_replayed_from_tar_split_equal_podman_save() {
    let Some((ev, st)) = store() else { return };
    let fs = &*ev.volumes[0].fs;
    let exp = expected("podman-basic");
    let mut replayed = 0;
    for w in exp["images"].as_array().unwrap() {
        let img = st.image(w["id"].as_str().unwrap()).unwrap();
        assert!(img.problems.is_empty(), "{:?}", img.problems);
        assert!(img.config_verified);
        assert_eq!(img.config.rootfs.diff_ids, strs(&w["diff_ids"]));
        let history: Vec<String> = img
            .config
            .history
            .iter()
            .map(|h| h.created_by.clone().unwrap_or_default())
            .collect();
        assert_eq!(history, strs(&w["history_created_by"]));
        let saved = strs(&w["saved_layer_sha256"]);
        assert_eq!(img.layers.len(), saved.len());
        for (layer, want) in img.layers.iter().zip(&saved) {
            assert!(layer.blob.is_none());
            let u = layer.unpacked.as_ref().unwrap();
            let input = LayerInput {
                fs,
                dir: &u.dir,
                tar_split: u.tar_split.as_ref(),
                diff_id: &layer.diff_id,
                force_rebuild: false,
            };
            let (_, produced) = produce(input, || Ok(std::io::sink()), None, &|_| {}).unwrap();
            assert_eq!(produced.method, Method::TarSplit, "{:?}", produced.findings);
            assert_eq!(&produced.written.sha256, want, "layer {}", layer.index);
            assert!(produced.verified);
            replayed += 1;
        }
    }
    assert_eq!(replayed, 14);
}

#[test]
fn short_names_and_id_prefixes() {
    let Some((_ev, st)) = store() else { return };
    let app = st.image("quay.example.org/build/app:7").unwrap();
    assert_eq!(
        app.id,
        "sha256:7947e444c96c00adb2f27c59dc2c118e71f045eb73b7b77e231c7b54e142760f"
    );
    assert_eq!(st.image("fxbase:1").unwrap().names, ["localhost/fxbase:1"]);
    assert_eq!(st.image("7947e444").unwrap().id, app.id);
    assert_eq!(st.image(&app.id).unwrap().id, app.id);
    let err = st.image("nothing:here").unwrap_err().to_string();
    assert!(err.contains("localhost/fxbase:1"), "{err}");
    let manifest: Value = serde_json::from_slice(app.manifest_bytes.as_ref().unwrap()).unwrap();
    assert_eq!(manifest["config"]["digest"], app.id.as_str());
}

#[test]
fn containers_with_names_states_and_layer_dirs() {
    let Some((ev, st)) = store() else { return };
    let fs = &*ev.volumes[0].fs;
    let exp = expected("podman-basic");
    let all = st.containers();
    assert!(st.libpod_error().is_none());
    for w in exp["containers"].as_array().unwrap() {
        let c = all
            .iter()
            .find(|c| c.id == w["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(c.name.as_deref(), w["name"].as_str());
        assert_eq!(c.state.as_deref(), w["status"].as_str());
        assert_eq!(
            c.image_id.as_deref(),
            Some(format!("sha256:{}", w["image"].as_str().unwrap()).as_str())
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(
            fs.metadata(c.writable_dir.as_ref().unwrap())
                .unwrap()
                .is_dir()
        );
        assert_eq!(c.runtime.as_deref(), Some("runc"));
    }
    let run = all
        .iter()
        .find(|c| c.name.as_deref() == Some("builder-run"))
        .unwrap();
    assert_eq!(run.image.as_deref(), Some("quay.example.org/build/app:7"));
    // `podman diff`: A /tmp/rev.sh, C /etc/app/ready, D /etc/app/app.env.
    let top = run.writable_dir.as_ref().unwrap();
    assert!(
        fs.metadata(&top.join("tmp/rev.sh").unwrap())
            .unwrap()
            .is_file()
    );
    assert!(
        fs.metadata(&top.join("etc/app/ready").unwrap())
            .unwrap()
            .is_file()
    );
    assert!(
        fs.metadata(&top.join("etc/app/app.env").unwrap())
            .unwrap()
            .is_overlay_whiteout()
    );
    // The image's four layers lie below it.
    let app = st.image("quay.example.org/build/app:7").unwrap();
    let dirs: Vec<EvPath> = app
        .layers
        .iter()
        .map(|l| l.unpacked.as_ref().unwrap().dir.clone())
        .collect();
    assert_eq!(run.parent_dirs, dirs);
    let log = fs.read_small(run.log.as_ref().unwrap(), 1 << 20).unwrap();
    assert!(String::from_utf8_lossy(&log).contains("logged"));
    let spec: Value = serde_json::from_slice(run.spec.as_ref().unwrap()).unwrap();
    assert_eq!(spec["process"]["args"][0], "/bin/sh");
    // The created container has no log and a spec kept only by libpod.
    let parked = all
        .iter()
        .find(|c| c.name.as_deref() == Some("parked"))
        .unwrap();
    assert!(parked.log.is_none());
    assert!(parked.spec.is_some());
    assert_eq!(parked.parent_dirs.len(), 1);
}
