//! containers/storage and libpod records. Either an SQLite database (the
//! bytes start with its magic: libpod's `db.sql`), or NUL-separated JSON
//! documents: `images.json`, `layers.json`, `containers.json`, then a
//! libpod container config, its state and a volume config. The records
//! are written as a graph root in a scratch directory and read as the
//! store reads them (`PodmanRoot::discover`, `open`, images, layer
//! chains, image contents, containers); the libpod documents also go
//! through `LibpodContainer::from_json` and `LibpodVolume::from_json`.
#![no_main]

use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::store::podman::PodmanRoot;
use docker_forensics::store::podman::libpod::{LibpodContainer, LibpodVolume};
use docker_forensics::store::podman::records::big_data_file_name;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
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
    if data.starts_with(SQLITE_MAGIC) {
        write(&root, "overlay-images/images.json", b"[]");
        write(&root, "db.sql", data);
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
        let _ = store.images();
        for rec in store.image_records().iter().take(IMAGES) {
            for key in &rec.big_data_names {
                let name = big_data_file_name(key);
                assert!(!name.contains('/') && name != "." && name != "..", "{name}");
            }
            if let Some(top) = &rec.layer {
                let _ = store.layer_chain(top);
            }
            let _ = store.content(rec);
            let _ = store.image(&rec.id);
        }
        let _ = store.containers();
    }
});
