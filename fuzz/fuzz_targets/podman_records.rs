//! containers/storage and libpod records. Either an SQLite database (the
//! bytes start with its magic: libpod's `db.sql`), a bbolt database (its
//! meta magic at byte 16: libpod's `bolt_state.db`), or NUL-separated JSON
//! documents: `images.json`, `layers.json`, `containers.json`, then a
//! libpod container config, its state, a volume config and the config
//! every image gets (a minimal one when absent). The records
//! are written as a graph root in a scratch directory and read as the
//! store reads them (`PodmanRoot::discover`, `open`, images, layer
//! chains, image contents, images looked up by id, short id and name,
//! containers); the libpod documents also go
//! through `LibpodContainer::from_json` and `LibpodVolume::from_json`.
#![no_main]

use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::store::podman::PodmanRoot;
use docker_forensics::store::podman::libpod::{LibpodContainer, LibpodVolume};
use docker_forensics::store::podman::records::big_data_file_name;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// bbolt's meta page magic, 0xED0CDAED little-endian, after the page header.
const BOLT_MAGIC: &[u8] = &[0xed, 0xda, 0x0c, 0xed];
/// The config written for each image when the input gives none.
const MIN_CONFIG: &[u8] = br#"{"rootfs":{"type":"layers","diff_ids":[]},"history":[]}"#;
/// Images whose contents are read, at most.
const IMAGES: usize = 8;

/// An empty graph root private to this process.
fn fresh_root() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("df-fuzz-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["overlay-images", "overlay-layers", "overlay-containers"] {
        std::fs::create_dir_all(dir.join(d)).expect("scratch graph root");
    }
    dir
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    std::fs::write(root.join(rel), data).expect("scratch record");
}

fuzz_target!(|data: &[u8]| {
    let root = fresh_root();
    let mut image_config = MIN_CONFIG.to_vec();
    if data.starts_with(SQLITE_MAGIC) {
        write(&root, "overlay-images/images.json", b"[]");
        write(&root, "db.sql", data);
    } else if data.get(16..20) == Some(BOLT_MAGIC) {
        write(&root, "overlay-images/images.json", b"[]");
        std::fs::create_dir_all(root.join("libpod")).expect("scratch libpod directory");
        write(&root, "libpod/bolt_state.db", data);
    } else {
        let mut parts = data.split(|&b| b == 0);
        let mut next = || parts.next();
        write(&root, "overlay-images/images.json", next().unwrap_or(b"[]"));
        for rel in [
            "overlay-layers/layers.json",
            "overlay-containers/containers.json",
        ] {
            if let Some(p) = next() {
                write(&root, rel, p);
            }
        }
        let (config, state, volume) = (next(), next(), next());
        image_config = next().unwrap_or(MIN_CONFIG).to_vec();
        let c = LibpodContainer::from_json("c0", config, state, "fuzz");
        let mut c2 = c.clone();
        c2.settle_exit_code(Some(3));
        let mut problems = Vec::new();
        if let Some(v) = volume {
            let _ = LibpodVolume::from_json("v0", v, "fuzz", &mut problems);
        }
    }
    let Ok(ev) = Evidence::open(&root, &OpenOptions::default()) else {
        return;
    };
    let Ok(roots) = PodmanRoot::discover(&ev, None) else {
        return;
    };
    for r in roots {
        let Ok(store) = r.open() else { continue };
        let _ = store.libpod_error();
        let _ = store.libpod_findings();
        let _ = store.libpod_volumes();
        for rec in store.image_records().iter().take(IMAGES) {
            write_config(&root, &rec.id, &rec.big_data_names, &image_config);
            for key in &rec.big_data_names {
                // Standard base64 may hold a '/' (as containers/storage
                // names such files too); the store's `EvPath::child`
                // refuses those. Never empty, `.` or `..`.
                let name = big_data_file_name(key);
                assert!(!name.is_empty() && name != "." && name != "..", "{name}");
            }
            if let Some(top) = &rec.layer {
                let _ = store.layer_chain(top);
            }
            if let Ok(img) = store.content(rec) {
                let _ = (img.short_id(), img.display_name(), img.tags());
            }
            // As an examiner types them: the id, a short id, each name.
            let _ = store.image(&rec.id);
            if let Some(short) = rec.id.get(..4) {
                let _ = store.image(short);
            }
            for name in rec.names.iter().take(4) {
                let _ = store.image(name);
            }
        }
        let _ = store.images();
        let _ = store.containers();
    }
});

/// Writes `config` where the store looks for image `id`'s config (its
/// big-data files named `sha256:…`, else the id's), when `id` can name a
/// directory; the store is read lazily, so this may follow `open`.
fn write_config(root: &Path, id: &str, names: &[String], config: &[u8]) {
    if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\0']) {
        return;
    }
    let dir = root.join("overlay-images").join(id);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let id_key = format!("sha256:{id}");
    let keys = names
        .iter()
        .filter(|k| k.starts_with("sha256:"))
        .take(2)
        .chain(std::iter::once(&id_key));
    for key in keys {
        let _ = std::fs::write(dir.join(big_data_file_name(key)), config);
    }
}
