//! Damaged containerd evidence: flipped and truncated bbolt pages, pages
//! that point back at their own bucket, missing blobs. Each gives a clear
//! error naming the file (or a recorded problem), never a panic.

mod common;

use common::*;
use docker_forensics::evidence::fs::EvPath;
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::store::bolt::{BoltDb, BoltError, Value};
use docker_forensics::store::containerd::meta::MetaDb;
use docker_forensics::store::containerd::{ContainerdError, ContainerdRoot};
use std::path::Path;

const META: &str = "var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db";
const PAGE: usize = 4096;

fn original_meta_db() -> Option<Vec<u8>> {
    let host = host("ctrd-basic")?;
    Some(std::fs::read(host.join(META)).unwrap())
}

/// An evidence directory holding only `meta.db` (as a containerd root).
fn evidence_with(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("io.containerd.metadata.v1.bolt");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("meta.db"), bytes).unwrap();
    dir
}

fn open_db(dir: &Path) -> (Evidence, EvPath) {
    let ev = Evidence::open(dir, &OpenOptions::default()).unwrap();
    (
        ev,
        EvPath::parse("io.containerd.metadata.v1.bolt/meta.db").unwrap(),
    )
}

/// Walks every bucket and reads every namespace's records; returns the
/// number of errors seen.
fn exercise(dir: &Path) -> usize {
    let (ev, path) = open_db(dir);
    let fs = &*ev.volumes[0].fs;
    let mut errors = 0;
    let Ok(db) = BoltDb::open(fs, &path) else {
        return 1;
    };
    let mut stack = vec![db.root()];
    while let Some(b) = stack.pop() {
        for e in b.iter() {
            match e {
                Ok((_, Value::Bucket(c))) => stack.push(c),
                Ok(_) => {}
                Err(_) => errors += 1,
            }
        }
    }
    let meta = MetaDb::open(fs, &path).unwrap();
    for ns in meta.namespaces().unwrap_or_default() {
        errors += usize::from(meta.images(&ns).is_err());
        errors += usize::from(meta.containers(&ns).is_err());
        errors += usize::from(meta.blobs(&ns).is_err());
        errors += usize::from(meta.snapshots(&ns).is_err());
        errors += usize::from(meta.leases(&ns).is_err());
    }
    let roots = ContainerdRoot::discover(&ev, None).unwrap();
    if let Ok(st) = roots[0].open() {
        errors += usize::from(st.images().is_err());
        errors += usize::from(st.containers().is_err());
    }
    errors
}

#[test]
fn flipped_bytes_in_data_pages_never_panic() {
    let Some(orig) = original_meta_db() else {
        return;
    };
    let pages = orig.len() / PAGE;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut detected = 0;
    for round in 0..120 {
        let mut bytes = orig.clone();
        // Half the rounds hit page headers and element tables, where
        // damage matters most; the rest anywhere past the meta pages.
        for _ in 0..(1 + rand() % 4) {
            let page = 2 + (rand() as usize) % (pages - 2);
            let at = if round % 2 == 0 {
                page * PAGE + (rand() as usize) % 64
            } else {
                page * PAGE + (rand() as usize) % PAGE
            };
            bytes[at] ^= 1 << (rand() % 8);
        }
        let dir = evidence_with(&bytes);
        detected += usize::from(exercise(dir.path()) > 0);
    }
    assert!(detected > 10, "only {detected} damaged copies were noticed");
}

#[test]
fn a_bucket_pointing_at_its_parent_is_reported() {
    let Some(mut bytes) = original_meta_db() else {
        return;
    };
    // Find the leaf element "containers" of namespace k8s.io and point its
    // bucket at the page holding it.
    let dir0 = evidence_with(&bytes);
    let (ev0, path) = open_db(dir0.path());
    let db = BoltDb::open(&*ev0.volumes[0].fs, &path).unwrap();
    let ns = db.bucket_path(&[b"v1", b"k8s.io"]).unwrap().unwrap();
    let page: u64 = format!("{ns:?}")
        .trim_start_matches("Bucket(page ")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let start = page as usize * PAGE;
    let at = bytes[start..start + PAGE]
        .windows(10)
        .position(|w| w == b"containers")
        .unwrap()
        + start
        + 10;
    bytes[at..at + 8].copy_from_slice(&page.to_le_bytes());
    let dir = evidence_with(&bytes);
    let (ev, path) = open_db(dir.path());
    let meta = MetaDb::open(&*ev.volumes[0].fs, &path).unwrap();
    let err = meta.containers("k8s.io").unwrap_err();
    match &err {
        BoltError::Corrupt {
            page: p, detail, ..
        } => {
            assert_eq!(*p, page);
            assert!(detail.contains("refers back"), "{detail}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("meta.db"), "{err}");
    // The rest of the namespace is still readable.
    assert_eq!(meta.images("k8s.io").unwrap().len(), 4);
}

#[test]
fn truncated_meta_db() {
    let Some(orig) = original_meta_db() else {
        return;
    };
    // The meta pages survive, the pages they point to do not.
    let dir = evidence_with(&orig[..PAGE * 20]);
    let ev = Evidence::open(dir.path(), &OpenOptions::default()).unwrap();
    let st = ContainerdRoot::discover(&ev, None).unwrap()[0]
        .open()
        .unwrap();
    let err = st.images().unwrap_err();
    assert!(
        matches!(err, ContainerdError::Bolt(BoltError::Corrupt { .. })),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("meta.db") && msg.contains("out of range"),
        "{msg}"
    );
    // Less than the meta pages: not a database at all.
    for len in [0, 100, PAGE + 10] {
        let dir = evidence_with(&orig[..len]);
        let ev = Evidence::open(dir.path(), &OpenOptions::default()).unwrap();
        let err = ContainerdRoot::discover(&ev, None).unwrap()[0]
            .open()
            .unwrap_err()
            .to_string();
        assert!(err.contains("meta.db"), "{len}: {err}");
    }
}

#[test]
fn damaged_meta_pages() {
    let Some(orig) = original_meta_db() else {
        return;
    };
    let dir0 = evidence_with(&orig);
    let (ev, path) = open_db(dir0.path());
    let current = BoltDb::open(&*ev.volumes[0].fs, &path).unwrap().meta();
    // Damage the current meta page: the other one (an older transaction)
    // is used.
    let mut bytes = orig.clone();
    let cur = current.page as usize * PAGE;
    bytes[cur + 16 + 48] ^= 0x55;
    let dir = evidence_with(&bytes);
    let (ev, path) = open_db(dir.path());
    let meta = BoltDb::open(&*ev.volumes[0].fs, &path).unwrap().meta();
    assert_ne!(meta.page, current.page);
    assert!(meta.txid < current.txid);
    // Both: an error naming the file and both reasons.
    let other = (1 - current.page as usize) * PAGE;
    bytes[other + 16 + 48] ^= 0x55;
    let dir = evidence_with(&bytes);
    let (ev, path) = open_db(dir.path());
    let err = BoltDb::open(&*ev.volumes[0].fs, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("meta.db") && err.contains("meta page 0") && err.contains("meta page 1"),
        "{err}"
    );
}

#[test]
fn missing_blobs_are_reported() {
    let Some(host) = host_copy("ctrd-basic") else {
        return;
    };
    let exp = expected("ctrd-basic");
    let blobs = host
        .path()
        .join("var/lib/containerd/io.containerd.content.v1.content/blobs/sha256");
    // A layer blob of the unpacked image, and the manifest of the
    // content-only one.
    let web = &exp["namespaces"]["k8s.io"]["images"][1];
    assert_eq!(web["name"], "registry.example.com/shop/web:2");
    let layer = web["layer_digests"][2].as_str().unwrap();
    std::fs::remove_file(blobs.join(&layer[7..])).unwrap();
    let debug = &exp["namespaces"]["k8s.io"]["images"][0];
    let manifest = debug["manifest_digest"].as_str().unwrap();
    std::fs::remove_file(blobs.join(&manifest[7..])).unwrap();

    let ev = Evidence::open(host.path(), &OpenOptions::default()).unwrap();
    let st = ContainerdRoot::discover(&ev, None).unwrap()[0]
        .open()
        .unwrap();
    let rows = st.images().unwrap();
    let bad: Vec<_> = rows.iter().filter(|r| r.error.is_some()).collect();
    assert_eq!(bad.len(), 2, "{rows:#?}");
    for r in bad {
        let e = r.error.as_deref().unwrap();
        assert!(e.contains("missing") && e.contains(manifest), "{e}");
    }
    let img = st
        .image("k8s.io", "registry.example.com/shop/web:2")
        .unwrap();
    assert!(
        img.problems
            .iter()
            .any(|p| p.contains(layer) && p.contains("missing")),
        "{:?}",
        img.problems
    );
    let err = st.verify_layer(&img.layers[2]).unwrap_err().to_string();
    assert!(err.contains(layer) && err.contains("missing"), "{err}");
    // The layer is still unpacked: it can be rebuilt from its snapshot.
    assert!(img.layers[2].unpacked.is_some());
    let err = st
        .image("k8s.io", "registry.example.com/ops/debug:0.3")
        .unwrap_err()
        .to_string();
    assert!(err.contains(manifest), "{err}");
}
