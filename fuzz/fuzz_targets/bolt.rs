//! bbolt (BoltDB): the bytes as a database file, opened, then a bounded
//! walk of every bucket (iteration, lookups of the keys found and of keys
//! that are not there, nested buckets by path).
#![no_main]

use docker_forensics::store::bolt::{BoltDb, Bucket, Value};
use docker_forensics_fuzz::MemFile;
use libfuzzer_sys::fuzz_target;

/// Entries visited at most, over all buckets.
const BUDGET: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let file = Box::new(MemFile::new(data));
    let Ok(db) = BoltDb::from_reader(file, data.len() as u64, "fuzz.db".into()) else {
        return;
    };
    let _ = format!("{db:?} {:?}", db.meta());
    let mut left = BUDGET;
    walk(&db.root(), &mut left, 0);
    let _ = db.bucket_path(&[b"v1", b"default", b"content", b"blob"]);
    let _ = db.bucket_path(&[b"no such bucket"]);
});

/// Iterates `bucket`, looks up each key again, and descends into nested
/// buckets (at most 8 deep), spending `left`.
fn walk(bucket: &Bucket<'_>, left: &mut usize, depth: usize) {
    let _ = bucket.get(b"");
    let _ = bucket.get(b"\xff\xff\xff\xff");
    let _ = bucket.bucket_names();
    for entry in bucket.iter() {
        if *left == 0 {
            return;
        }
        *left -= 1;
        let Ok((key, value)) = entry else {
            return;
        };
        let _ = bucket.get_value(&key);
        if let Value::Bucket(inner) = value
            && depth < 8
        {
            walk(&inner, left, depth + 1);
        }
    }
}
