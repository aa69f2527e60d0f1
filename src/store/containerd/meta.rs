//! containerd's metadata database, `io.containerd.metadata.v1.bolt/meta.db`,
//! read into plain records.
//!
//! Layout (containerd `metadata/buckets.go`, `images.go`, `containers.go`,
//! `content.go`, `leases.go`, `snapshot.go`), `/` separating buckets:
//! - `v1/<namespace>/images/<name>/`: `createdat`, `updatedat`, `labels/`,
//!   `annotations/`, `target/{mediatype, digest, size}`;
//! - `v1/<namespace>/containers/<id>/`: `image`, `snapshotter`,
//!   `snapshotKey`, `labels/`, `runtime/{name, options}`, `spec` (a
//!   protobuf `Any` whose value is the OCI runtime spec JSON), `sandboxid`,
//!   `extensions/`, `createdat`, `updatedat`;
//! - `v1/<namespace>/content/blob/<digest>/`: `size`, `labels/`, times;
//! - `v1/<namespace>/leases/<id>/`: `createdat`, `labels/`,
//!   `content/<digest>`, `snapshots/<snapshotter>/<key>`, `ingests/<ref>`;
//! - `v1/<namespace>/snapshots/<snapshotter>/<key>/`: `name` (the key in
//!   the snapshotter's own database, `<namespace>/<n>/<key>`), `parent`,
//!   `children/`, `labels/`, times. Committed image layers are keyed by
//!   their ChainID.
//!
//! Encodings of sizes and times: see [`super::encoding`].

use super::encoding::{go_time_rfc3339, protobuf_any, varint};
use crate::evidence::fs::{EvPath, FileSystem};
use crate::store::bolt::{BoltDb, BoltError, Bucket, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// `meta.db`, relative to a containerd root.
pub const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";
/// The metadata database of a databases-only acquisition, copied out of
/// its plugin directory.
pub const FLAT_META_DB: &str = "meta.db";

/// Labels or annotations.
pub type Labels = BTreeMap<String, String>;

/// An OCI content descriptor as containerd stores an image target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: Option<i64>,
}

/// `v1/<ns>/images/<name>`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord {
    pub name: String,
    pub target: Descriptor,
    pub labels: Labels,
    pub annotations: Labels,
    pub created: Option<String>,
    pub updated: Option<String>,
}

/// `v1/<ns>/containers/<id>`.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerRecord {
    pub id: String,
    pub image: Option<String>,
    pub snapshotter: Option<String>,
    pub snapshot_key: Option<String>,
    pub labels: Labels,
    pub runtime: Option<String>,
    /// `type_url` of the spec `Any`.
    pub spec_type: Option<String>,
    /// The OCI runtime spec (JSON), the `value` of the spec `Any`.
    pub spec: Option<Vec<u8>>,
    pub sandbox_id: Option<String>,
    /// Names of the extensions kept with the container.
    pub extensions: Vec<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
}

/// `v1/<ns>/content/blob/<digest>`.
#[derive(Debug, Clone, Serialize)]
pub struct BlobRecord {
    pub digest: String,
    pub size: Option<i64>,
    pub labels: Labels,
    pub created: Option<String>,
    pub updated: Option<String>,
}

/// `v1/<ns>/leases/<id>`.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRecord {
    pub id: String,
    pub labels: Labels,
    pub created: Option<String>,
    pub content: Vec<String>,
    /// (snapshotter, key) pairs.
    pub snapshots: Vec<(String, String)>,
    pub ingests: Vec<String>,
}

/// `v1/<ns>/snapshots/<snapshotter>/<key>`.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRef {
    pub snapshotter: String,
    pub key: String,
    /// Key in the snapshotter's own database.
    pub name: Option<String>,
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub labels: Labels,
    pub created: Option<String>,
    pub updated: Option<String>,
}

/// An open `meta.db`.
#[derive(Debug)]
pub struct MetaDb {
    db: BoltDb,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn get_text(b: &Bucket<'_>, key: &str) -> Result<Option<String>, BoltError> {
    Ok(b.get(key.as_bytes())?.map(|v| text(&v)))
}

fn get_time(b: &Bucket<'_>, key: &str) -> Result<Option<String>, BoltError> {
    Ok(b.get(key.as_bytes())?.and_then(|v| go_time_rfc3339(&v)))
}

fn get_varint(b: &Bucket<'_>, key: &str) -> Result<Option<i64>, BoltError> {
    Ok(b.get(key.as_bytes())?.and_then(|v| varint(&v)))
}

/// The plain values of a nested bucket as text.
fn labels(b: &Bucket<'_>, key: &str) -> Result<Labels, BoltError> {
    let mut out = Labels::new();
    if let Some(l) = b.bucket(key.as_bytes())? {
        for e in l.iter() {
            if let (k, Value::Data(v)) = e? {
                out.insert(text(&k), text(&v));
            }
        }
    }
    Ok(out)
}

/// All keys of a nested bucket, whatever they hold.
fn keys(b: &Bucket<'_>, key: &str) -> Result<Vec<String>, BoltError> {
    let mut out = Vec::new();
    if let Some(l) = b.bucket(key.as_bytes())? {
        for e in l.iter() {
            out.push(text(&e?.0));
        }
    }
    Ok(out)
}

/// The nested buckets of `b`, as (name, bucket).
fn children<'db>(b: &Bucket<'db>) -> Result<Vec<(String, Bucket<'db>)>, BoltError> {
    let mut out = Vec::new();
    for e in b.iter() {
        if let (k, Value::Bucket(c)) = e? {
            out.push((text(&k), c));
        }
    }
    Ok(out)
}

impl MetaDb {
    /// Opens `meta.db` at `path`.
    pub fn open(fs: &dyn FileSystem, path: &EvPath) -> Result<MetaDb, BoltError> {
        Ok(MetaDb {
            db: BoltDb::open(fs, path)?,
        })
    }

    /// The underlying database.
    pub fn bolt(&self) -> &BoltDb {
        &self.db
    }

    /// The schema version (`v1/version`), if recorded.
    pub fn schema_version(&self) -> Result<Option<i64>, BoltError> {
        match self.db.bucket_path(&[b"v1"])? {
            Some(v1) => get_varint(&v1, "version"),
            None => Ok(None),
        }
    }

    /// Namespace names, sorted.
    pub fn namespaces(&self) -> Result<Vec<String>, BoltError> {
        match self.db.bucket_path(&[b"v1"])? {
            Some(v1) => Ok(children(&v1)?.into_iter().map(|(n, _)| n).collect()),
            None => Ok(Vec::new()),
        }
    }

    fn object(&self, ns: &str, object: &str) -> Result<Option<Bucket<'_>>, BoltError> {
        self.db
            .bucket_path(&[b"v1", ns.as_bytes(), object.as_bytes()])
    }

    /// Images of namespace `ns`.
    pub fn images(&self, ns: &str) -> Result<Vec<ImageRecord>, BoltError> {
        let Some(images) = self.object(ns, "images")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (name, b) in children(&images)? {
            let target = match b.bucket(b"target")? {
                Some(t) => Descriptor {
                    media_type: get_text(&t, "mediatype")?.unwrap_or_default(),
                    digest: get_text(&t, "digest")?.unwrap_or_default(),
                    size: get_varint(&t, "size")?,
                },
                None => Descriptor::default(),
            };
            out.push(ImageRecord {
                name,
                target,
                labels: labels(&b, "labels")?,
                annotations: labels(&b, "annotations")?,
                created: get_time(&b, "createdat")?,
                updated: get_time(&b, "updatedat")?,
            });
        }
        Ok(out)
    }

    /// Containers of namespace `ns`.
    pub fn containers(&self, ns: &str) -> Result<Vec<ContainerRecord>, BoltError> {
        let Some(containers) = self.object(ns, "containers")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (id, b) in children(&containers)? {
            let runtime = match b.bucket(b"runtime")? {
                Some(r) => get_text(&r, "name")?,
                None => None,
            };
            let spec = b.get(b"spec")?.map(|raw| match protobuf_any(&raw) {
                Some(any) => (Some(any.type_url), any.value),
                // Not an Any: keep the bytes as they are.
                None => (None, raw),
            });
            let (spec_type, spec) = match spec {
                Some((t, v)) => (t, Some(v)),
                None => (None, None),
            };
            out.push(ContainerRecord {
                id,
                image: get_text(&b, "image")?,
                snapshotter: get_text(&b, "snapshotter")?,
                snapshot_key: get_text(&b, "snapshotKey")?,
                labels: labels(&b, "labels")?,
                runtime,
                spec_type,
                spec,
                sandbox_id: get_text(&b, "sandboxid")?,
                extensions: keys(&b, "extensions")?,
                created: get_time(&b, "createdat")?,
                updated: get_time(&b, "updatedat")?,
            });
        }
        Ok(out)
    }

    /// Content blobs of namespace `ns` (`content/blob`).
    pub fn blobs(&self, ns: &str) -> Result<Vec<BlobRecord>, BoltError> {
        let Some(blobs) = self
            .db
            .bucket_path(&[b"v1", ns.as_bytes(), b"content", b"blob"])?
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (digest, b) in children(&blobs)? {
            out.push(BlobRecord {
                digest,
                size: get_varint(&b, "size")?,
                labels: labels(&b, "labels")?,
                created: get_time(&b, "createdat")?,
                updated: get_time(&b, "updatedat")?,
            });
        }
        Ok(out)
    }

    /// One content blob record of namespace `ns`, if recorded.
    pub fn blob(&self, ns: &str, digest: &str) -> Result<Option<BlobRecord>, BoltError> {
        let path: [&[u8]; 5] = [b"v1", ns.as_bytes(), b"content", b"blob", digest.as_bytes()];
        let Some(b) = self.db.bucket_path(&path)? else {
            return Ok(None);
        };
        Ok(Some(BlobRecord {
            digest: digest.to_string(),
            size: get_varint(&b, "size")?,
            labels: labels(&b, "labels")?,
            created: get_time(&b, "createdat")?,
            updated: get_time(&b, "updatedat")?,
        }))
    }

    /// Leases of namespace `ns`.
    pub fn leases(&self, ns: &str) -> Result<Vec<LeaseRecord>, BoltError> {
        let Some(leases) = self.object(ns, "leases")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (id, b) in children(&leases)? {
            let mut snapshots = Vec::new();
            if let Some(s) = b.bucket(b"snapshots")? {
                for (snapshotter, sb) in children(&s)? {
                    for e in sb.iter() {
                        snapshots.push((snapshotter.clone(), text(&e?.0)));
                    }
                }
            }
            out.push(LeaseRecord {
                id,
                labels: labels(&b, "labels")?,
                created: get_time(&b, "createdat")?,
                content: keys(&b, "content")?,
                snapshots,
                ingests: keys(&b, "ingests")?,
            });
        }
        Ok(out)
    }

    /// Snapshot references of namespace `ns`, every snapshotter.
    pub fn snapshots(&self, ns: &str) -> Result<Vec<SnapshotRef>, BoltError> {
        let Some(snaps) = self.object(ns, "snapshots")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (snapshotter, sb) in children(&snaps)? {
            for (key, b) in children(&sb)? {
                out.push(snapshot_ref(&snapshotter, key, &b)?);
            }
        }
        Ok(out)
    }

    /// One snapshot reference, if recorded.
    pub fn snapshot(
        &self,
        ns: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<Option<SnapshotRef>, BoltError> {
        let path: [&[u8]; 5] = [
            b"v1",
            ns.as_bytes(),
            b"snapshots",
            snapshotter.as_bytes(),
            key.as_bytes(),
        ];
        match self.db.bucket_path(&path)? {
            Some(b) => Ok(Some(snapshot_ref(snapshotter, key.to_string(), &b)?)),
            None => Ok(None),
        }
    }

    /// Snapshotter names used in namespace `ns`.
    pub fn snapshotters(&self, ns: &str) -> Result<Vec<String>, BoltError> {
        match self.object(ns, "snapshots")? {
            Some(s) => Ok(children(&s)?.into_iter().map(|(n, _)| n).collect()),
            None => Ok(Vec::new()),
        }
    }
}

fn snapshot_ref(snapshotter: &str, key: String, b: &Bucket<'_>) -> Result<SnapshotRef, BoltError> {
    Ok(SnapshotRef {
        snapshotter: snapshotter.to_string(),
        key,
        name: get_text(b, "name")?,
        parent: get_text(b, "parent")?,
        children: keys(b, "children")?,
        labels: labels(b, "labels")?,
        created: get_time(b, "createdat")?,
        updated: get_time(b, "updatedat")?,
    })
}
