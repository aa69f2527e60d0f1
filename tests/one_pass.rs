//! The exporter reads each byte of the evidence once: every store's
//! images are written in one pass (layer tars and `image.tar` together),
//! whatever the layer's source. Checked by counting, per evidence file,
//! the bytes read through the filesystem while one image is exported.

mod common;

use docker_forensics::evidence::fs::{
    DirEntry, EvPath, FileReader, FileSystem, FsError, Metadata, Xattrs,
};
use docker_forensics::evidence::{Evidence, OpenOptions};
use docker_forensics::export::{ExportOptions, export_image};
use docker_forensics::store::catalog::{Catalog, StoreFilter};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

/// A filesystem that counts the bytes read from each file.
struct Counting {
    inner: Arc<dyn FileSystem>,
    counts: Counts,
}

struct CountingReader {
    inner: Box<dyn FileReader>,
    path: String,
    counts: Counts,
}

impl CountingReader {
    fn add(&self, n: usize) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(self.path.clone())
            .or_default() += n as u64;
    }
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.add(n);
        Ok(n)
    }
}

impl FileReader for CountingReader {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        self.add(n);
        Ok(n)
    }
}

impl FileSystem for Counting {
    fn metadata(&self, path: &EvPath) -> Result<Metadata, FsError> {
        self.inner.metadata(path)
    }
    fn read_dir(&self, path: &EvPath) -> Result<Vec<DirEntry>, FsError> {
        self.inner.read_dir(path)
    }
    fn open(&self, path: &EvPath) -> Result<Box<dyn FileReader>, FsError> {
        Ok(Box::new(CountingReader {
            inner: self.inner.open(path)?,
            path: path.display(),
            counts: self.counts.clone(),
        }))
    }
    fn read_link(&self, path: &EvPath) -> Result<Vec<u8>, FsError> {
        self.inner.read_link(path)
    }
    fn xattrs(&self, path: &EvPath) -> Result<Xattrs, FsError> {
        self.inner.xattrs(path)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// The evidence of fixture `name`, every volume read through a counter.
fn counted(name: &str) -> Option<(Evidence, Counts)> {
    let host = common::host(name)?;
    let mut ev = Evidence::open(&host, &OpenOptions::default()).unwrap();
    let counts = Counts::default();
    for v in &mut ev.volumes {
        v.fs = Arc::new(Counting {
            inner: v.fs.clone(),
            counts: counts.clone(),
        });
    }
    Some((ev, counts))
}

#[test]
fn containerd_blobs_are_read_once_and_kept_verbatim() {
    let Some((ev, counts)) = counted("ctrd-basic") else {
        return;
    };
    let catalog = Catalog::discover(&ev, None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut blob_layers = 0;
    for found in catalog.all_images(StoreFilter(Some("containerd"))).unwrap() {
        let found = found.map_err(|(what, e)| format!("{what}: {e}")).unwrap();
        let image = &found.image;
        let present: Vec<_> = image
            .layers
            .iter()
            .filter_map(|l| l.blob.as_ref().filter(|b| b.present))
            .collect();
        if present.len() != image.layers.len() {
            continue;
        }
        counts.lock().unwrap().clear();
        let report = export_image(found.store, image, out.path(), &ExportOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", image.id));
        assert!(report.verified, "{}: {:?}", image.id, report.findings);
        let counts = counts.lock().unwrap();
        for b in present {
            // Once through, for the layer tar and image.tar together.
            assert_eq!(
                counts.get(&b.path.display()).copied(),
                Some(b.size),
                "{} read {:?} bytes for a {}-byte blob",
                b.path,
                counts.get(&b.path.display()),
                b.size
            );
            blob_layers += 1;
        }
        // image.tar holds the stored manifest and blobs byte for byte.
        let dir = out.path().join(format!("image_{}", image.short_id()));
        let names = tar_names(&dir.join("image.tar"));
        let manifest = image.manifest_digest.as_deref().unwrap();
        assert!(
            names.contains(&format!("blobs/sha256/{}", &manifest[7..])),
            "{names:?}"
        );
        for l in &image.layers {
            let b = l.blob.as_ref().unwrap();
            assert!(names.contains(&format!("blobs/sha256/{}", &b.digest[7..])));
        }
    }
    assert!(blob_layers > 0, "no containerd image with all its blobs");
}

#[test]
fn podman_layers_are_read_once() {
    let Some((ev, counts)) = counted("podman-basic") else {
        return;
    };
    let catalog = Catalog::discover(&ev, None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut files = 0;
    for found in catalog.all_images(StoreFilter(Some("podman"))).unwrap() {
        let found = found.map_err(|(what, e)| format!("{what}: {e}")).unwrap();
        counts.lock().unwrap().clear();
        let report = export_image(
            found.store,
            &found.image,
            out.path(),
            &ExportOptions::default(),
        )
        .unwrap();
        assert!(report.verified, "{:?}", report.findings);
        let counts = counts.lock().unwrap();
        let fs = found.store.fs();
        for l in &found.image.layers {
            let dir = l.unpacked.as_ref().unwrap().dir.display();
            for (path, n) in counts.iter().filter(|(p, _)| p.starts_with(&dir)) {
                let size = fs.metadata(&EvPath::parse(path).unwrap()).unwrap().size;
                assert!(*n <= size, "{path}: {n} bytes read of {size}");
                files += 1;
            }
        }
        // The archive was written alongside: it names the layers by the
        // diff_ids they hash to.
        let names = tar_names(
            &docker_forensics::export::image_dir(out.path(), &found.image).join("image.tar"),
        );
        for l in &found.image.layers {
            assert!(names.contains(&format!("blobs/sha256/{}", &l.diff_id[7..])));
        }
    }
    assert!(files > 0, "no layer file was read");
}

fn tar_names(path: &std::path::Path) -> Vec<String> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}
