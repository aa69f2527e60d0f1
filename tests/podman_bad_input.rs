//! Damaged containers/storage evidence: truncated record files, a
//! truncated libpod database, missing big-data and tar-split files. Each
//! gives a clear error naming the file (or a recorded problem), never a
//! panic.

mod common;

use common::*;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::layer::{LayerInput, produce};
use docker_forensics::report::Method;
use docker_forensics::store::podman::{PodmanError, PodmanRoot, PodmanStore};
use std::path::Path;

const STORAGE: &str = "var/lib/containers/storage";
const APP: &str = "7947e444c96c00adb2f27c59dc2c118e71f045eb73b7b77e231c7b54e142760f";

fn open(host: &Path) -> (Evidence, Result<PodmanStore, PodmanError>) {
    let ev = Evidence::open(host, &OpenOptions::default()).unwrap();
    let roots = PodmanRoot::discover(&ev, None).unwrap();
    let st = roots[0].open();
    (ev, st)
}

fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
}

#[test]
fn truncated_record_files_name_the_file() {
    for file in [
        "overlay-images/images.json",
        "overlay-layers/layers.json",
        "overlay-containers/containers.json",
    ] {
        let Some(host) = host_copy("podman-basic") else {
            return;
        };
        let path = host.path().join(STORAGE).join(file);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        truncate(&path, len / 2);
        let (_ev, st) = open(host.path());
        let err = st.unwrap_err();
        assert!(matches!(err, PodmanError::CorruptJson { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("/{STORAGE}/{file}")), "{msg}");
        assert!(msg.contains("EOF"), "{msg}");
    }
}

#[test]
fn truncated_libpod_state_keeps_storage_readable() {
    let Some(host) = host_copy("podman-basic") else {
        return;
    };
    let db = host.path().join(STORAGE).join("libpod/bolt_state.db");
    truncate(&db, 4096 * 5);
    let (_ev, st) = open(host.path());
    let st = st.unwrap();
    let why = st.libpod_error().unwrap();
    assert!(why.contains("bolt_state.db"), "{why}");
    let all = st.containers();
    assert_eq!(all.len(), 2);
    for c in &all {
        // Names still come from containers.json; states are unknown.
        assert!(c.name.is_some());
        assert!(c.state.is_none());
        assert!(
            c.problems.iter().any(|p| p.contains("bolt_state.db")),
            "{c:?}"
        );
    }
    // Flipped bytes instead of truncation: no panic either.
    let mut bytes = std::fs::read(host.path().join(STORAGE).join("libpod/bolt_state.db")).unwrap();
    for i in (8192..bytes.len()).step_by(97) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(db, bytes).unwrap();
    let (_ev, st) = open(host.path());
    let _ = st.unwrap().containers();
}

#[test]
fn missing_config_and_layer_dir_are_reported() {
    let Some(host) = host_copy("podman-basic") else {
        return;
    };
    let storage = host.path().join(STORAGE);
    let (_ev, st) = open(host.path());
    let app = st.unwrap().image(APP).unwrap();
    // The config big-data file of the app image, and the top layer's dir.
    let config = storage.join("overlay-images").join(APP).join(format!(
        "={}",
        base64_std(format!("sha256:{APP}").as_bytes())
    ));
    std::fs::remove_file(&config).unwrap();
    let top = &app.layers[3].unpacked.as_ref().unwrap().key;
    std::fs::rename(
        storage.join("overlay").join(top).join("diff"),
        storage.join("overlay").join(top).join("diff.gone"),
    )
    .unwrap();
    let (_ev, st) = open(host.path());
    let st = st.unwrap();
    let rows = st.images();
    let row = rows.iter().find(|r| r.id.ends_with(APP)).unwrap();
    let e = row.error.as_deref().unwrap();
    assert!(e.contains(&format!("overlay-images/{APP}/=")), "{e}");
    // The image below it shares the layer: it lists the missing directory.
    let below = st
        .image("297cb7ea92878ac6222e1ea20e305f394f45911641e0ef16e87dff1419112e49")
        .unwrap();
    assert!(below.layers[3].unpacked.is_none());
    assert!(
        below
            .problems
            .iter()
            .any(|p| p.contains(top.as_str()) && p.contains("missing")),
        "{:?}",
        below.problems
    );
}

#[test]
fn missing_tar_split_falls_back_to_a_rebuild() {
    let Some(host) = host_copy("podman-basic") else {
        return;
    };
    let (ev, st) = open(host.path());
    let st = st.unwrap();
    let app = st.image(APP).unwrap();
    let layer = &app.layers[1];
    let key = &layer.unpacked.as_ref().unwrap().key;
    std::fs::remove_file(
        host.path()
            .join(STORAGE)
            .join("overlay-layers")
            .join(format!("{key}.tar-split.gz")),
    )
    .unwrap();
    let (_ev2, st) = open(host.path());
    let app = st.unwrap().image(APP).unwrap();
    let u = app.layers[1].unpacked.as_ref().unwrap();
    assert!(u.tar_split.is_none());
    let input = LayerInput {
        fs: &*ev.volumes[0].fs,
        dir: &u.dir,
        tar_split: None,
        diff_id: &app.layers[1].diff_id,
        force_rebuild: false,
    };
    let (_, produced) = produce(input, || Ok(std::io::sink()), None, &|_| {}).unwrap();
    assert_eq!(produced.method, Method::Rebuilt);
    assert!(!produced.findings.is_empty());
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
