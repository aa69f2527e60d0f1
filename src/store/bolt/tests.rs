//! Tests of the bbolt reader on databases built here, page by page, after
//! Go bbolt's `page.go` layout (no Go toolchain needed): multi-level
//! branch pages, overflow pages, inline and page-rooted nested buckets,
//! and the damage a seized file can carry (cycles, ids out of range, bad
//! meta pages, truncation).

use super::{BoltDb, BoltError, Value, fnv1a64};
use crate::evidence::fs::FileReader;
use std::io::Read;

const PS: usize = 1024;

/// An in-memory file.
struct Mem(Vec<u8>, usize);

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.read_at(buf, self.1 as u64)?;
        self.1 += n;
        Ok(n)
    }
}

impl FileReader for Mem {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = (offset as usize).min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}

fn open(bytes: Vec<u8>) -> Result<BoltDb, BoltError> {
    let len = bytes.len() as u64;
    BoltDb::from_reader(Box::new(Mem(bytes, 0)), len, "/test.db".into())
}

#[test]
fn fnv1a_matches_go() {
    // Go: fnv.New64a() over "" and "a".
    assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
    assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
}

/// A page image: header, 16-byte elements, then keys and values.
fn page(id: u64, flags: u16, elems: &[([u8; 8], &[u8], &[u8])]) -> Vec<u8> {
    let data_len: usize = elems.iter().map(|(_, k, v)| k.len() + v.len()).sum();
    let total = 16 + elems.len() * 16 + data_len;
    let pages = total.div_ceil(PS);
    let mut p = vec![0u8; pages * PS];
    p[0..8].copy_from_slice(&id.to_le_bytes());
    p[8..10].copy_from_slice(&flags.to_le_bytes());
    p[10..12].copy_from_slice(&(elems.len() as u16).to_le_bytes());
    p[12..16].copy_from_slice(&((pages - 1) as u32).to_le_bytes());
    let mut data = 16 + elems.len() * 16;
    for (i, (head, k, v)) in elems.iter().enumerate() {
        let e = 16 + i * 16;
        // head: leaf {flags u32, _} or branch {_, pgid u64 low half}; the
        // caller fills the parts that are not pos/ksize.
        let pos = (data - e) as u32;
        if flags == 0x02 {
            p[e..e + 4].copy_from_slice(&head[0..4]);
            p[e + 4..e + 8].copy_from_slice(&pos.to_le_bytes());
            p[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            p[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            p[e..e + 4].copy_from_slice(&pos.to_le_bytes());
            p[e + 4..e + 8].copy_from_slice(&(k.len() as u32).to_le_bytes());
            p[e + 8..e + 16].copy_from_slice(head);
        }
        p[data..data + k.len()].copy_from_slice(k);
        p[data + k.len()..data + k.len() + v.len()].copy_from_slice(v);
        data += k.len() + v.len();
    }
    p
}

fn meta(id: u64, root: u64, hwm: u64, txid: u64) -> Vec<u8> {
    let mut p = vec![0u8; PS];
    p[0..8].copy_from_slice(&id.to_le_bytes());
    p[8..10].copy_from_slice(&0x04u16.to_le_bytes());
    let m = &mut p[16..16 + 64];
    m[0..4].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    m[4..8].copy_from_slice(&2u32.to_le_bytes());
    m[8..12].copy_from_slice(&(PS as u32).to_le_bytes());
    m[16..24].copy_from_slice(&root.to_le_bytes());
    m[32..40].copy_from_slice(&2u64.to_le_bytes());
    m[40..48].copy_from_slice(&hwm.to_le_bytes());
    m[48..56].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&m[..56]);
    m[56..64].copy_from_slice(&sum.to_le_bytes());
    p
}

fn leaf_flag(bucket: bool) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[0] = u8::from(bucket);
    h
}

fn bucket_header(root: u64) -> Vec<u8> {
    let mut v = root.to_le_bytes().to_vec();
    v.extend(0u64.to_le_bytes());
    v
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn val(i: usize) -> Vec<u8> {
    format!("value of {i}").into_bytes()
}

const KEYS: usize = 2000;

/// A database whose root bucket holds `big` (a three-level B+tree of
/// 2000 keys), `inline` (an inline bucket) and `over` (a value spanning
/// overflow pages).
struct Built {
    bytes: Vec<u8>,
    /// Page ids of the branch pages of `big`, root first.
    big_branches: Vec<u64>,
}

fn build() -> Built {
    let mut pages: Vec<Vec<u8>> = vec![vec![0u8; PS], vec![0u8; PS], {
        let mut f = vec![0u8; PS];
        f[0..8].copy_from_slice(&2u64.to_le_bytes());
        f[8..10].copy_from_slice(&0x10u16.to_le_bytes());
        f
    }];
    // The id the next page gets (overflow pages take ids too).
    let next = |pages: &[Vec<u8>]| pages.iter().map(|p| (p.len() / PS) as u64).sum::<u64>();
    // Leaves of `big`: 20 keys each.
    let keys: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS).map(|i| (key(i), val(i))).collect();
    let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
    for chunk in keys.chunks(20) {
        let elems: Vec<([u8; 8], &[u8], &[u8])> = chunk
            .iter()
            .map(|(k, v)| (leaf_flag(false), &k[..], &v[..]))
            .collect();
        let id = next(&pages);
        let p = page(id, 0x02, &elems);
        pages.push(p);
        level.push((chunk[0].0.clone(), id));
    }
    let mut branches = Vec::new();
    while level.len() > 1 {
        let mut up = Vec::new();
        for chunk in level.chunks(30) {
            let elems: Vec<([u8; 8], &[u8], &[u8])> = chunk
                .iter()
                .map(|(k, id)| (id.to_le_bytes(), &k[..], &b""[..]))
                .collect();
            let id = next(&pages);
            let p = page(id, 0x01, &elems);
            pages.push(p);
            branches.push(id);
            up.push((chunk[0].0.clone(), id));
        }
        level = up;
    }
    let big_root = level[0].1;
    branches.reverse();
    // `over`: one leaf with a 5000-byte value.
    let long: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let id = next(&pages);
    let over_leaf = page(id, 0x02, &[(leaf_flag(false), b"long", &long)]);
    let over_root = id;
    pages.push(over_leaf);
    // `inline`: header + a leaf page image (id 0) in the value.
    let inline_page = page(
        0,
        0x02,
        &[
            (leaf_flag(false), b"a", b"1"),
            (leaf_flag(false), b"b", b"2"),
            (leaf_flag(false), b"c", b""),
        ],
    );
    let used = 16 + 3 * 16 + 5;
    let mut inline_val = bucket_header(0);
    inline_val.extend(&inline_page[..used]);
    let big_val = bucket_header(big_root);
    let over_val = bucket_header(over_root);
    let id = next(&pages);
    let root = page(
        id,
        0x02,
        &[
            (leaf_flag(true), b"big", &big_val),
            (leaf_flag(true), b"inline", &inline_val),
            (leaf_flag(true), b"over", &over_val),
        ],
    );
    let root_id = id;
    pages.push(root);
    let hwm = next(&pages);
    pages[0] = meta(0, root_id, hwm, 7);
    pages[1] = meta(1, root_id, hwm, 6);
    Built {
        bytes: pages.concat(),
        big_branches: branches,
    }
}

#[test]
fn reads_branches_overflow_and_inline_buckets() {
    let b = build();
    assert!(
        b.big_branches.len() >= 4,
        "three levels: {:?}",
        b.big_branches
    );
    let db = open(b.bytes).unwrap();
    assert_eq!(db.meta().txid, 7);
    let names = db.root().bucket_names().unwrap();
    assert_eq!(names, [&b"big"[..], b"inline", b"over"]);
    let big = db.bucket_path(&[b"big"]).unwrap().unwrap();
    let all = big.entries().unwrap();
    assert_eq!(all.len(), KEYS);
    for (i, (k, v)) in all.iter().enumerate() {
        assert_eq!(k, &key(i));
        assert!(matches!(v, Value::Data(d) if *d == val(i)));
    }
    for i in (0..KEYS).step_by(7) {
        assert_eq!(big.get(&key(i)).unwrap(), Some(val(i)), "{i}");
    }
    assert_eq!(big.get(b"key-").unwrap(), None);
    assert_eq!(big.get(b"key-00000x").unwrap(), None);
    assert_eq!(big.get(b"zzz").unwrap(), None);
    let inline = db.bucket_path(&[b"inline"]).unwrap().unwrap();
    assert_eq!(inline.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(inline.get(b"c").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(inline.entries().unwrap().len(), 3);
    let over = db.bucket_path(&[b"over"]).unwrap().unwrap();
    let long = over.get(b"long").unwrap().unwrap();
    assert_eq!(long.len(), 5000);
    assert_eq!(long[4999], (4999 % 251) as u8);
    assert!(db.bucket_path(&[b"big", b"nope"]).unwrap().is_none());
}

fn corrupt_page(e: BoltError) -> u64 {
    match e {
        BoltError::Corrupt { page, .. } => page,
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn a_branch_pointing_at_itself_is_a_cycle() {
    let b = build();
    let mut bytes = b.bytes;
    let root = b.big_branches[0] as usize;
    // First element's child := the branch page itself.
    bytes[root * PS + 16 + 8..root * PS + 16 + 16].copy_from_slice(&(root as u64).to_le_bytes());
    let db = open(bytes).unwrap();
    let big = db.bucket_path(&[b"big"]).unwrap().unwrap();
    let err = big.entries().unwrap_err();
    assert_eq!(corrupt_page(err), root as u64);
    let err = big.get(&key(0)).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    // The iterator stops after the error.
    assert_eq!(big.iter().filter(|r| r.is_err()).count(), 1);
}

#[test]
fn page_ids_out_of_range_and_truncation() {
    let b = build();
    let root = b.big_branches[0] as usize;
    let mut bytes = b.bytes.clone();
    bytes[root * PS + 16 + 8..root * PS + 16 + 16].copy_from_slice(&999_999u64.to_le_bytes());
    let db = open(bytes).unwrap();
    let err = db
        .bucket_path(&[b"big"])
        .unwrap()
        .unwrap()
        .entries()
        .unwrap_err();
    assert_eq!(corrupt_page(err), 999_999);
    // A meta page id as a child.
    let mut bytes = b.bytes.clone();
    bytes[root * PS + 16 + 8..root * PS + 16 + 16].copy_from_slice(&1u64.to_le_bytes());
    let db = open(bytes).unwrap();
    assert!(
        db.bucket_path(&[b"big"])
            .unwrap()
            .unwrap()
            .entries()
            .is_err()
    );
    // Truncated: the meta pages survive, later pages are reported.
    let mut bytes = b.bytes.clone();
    bytes.truncate(PS * 20 + 100);
    let db = open(bytes).unwrap();
    let err = db.bucket_path(&[b"big"]).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    // Too short for anything.
    let err = open(b.bytes[..100].to_vec()).unwrap_err();
    assert!(matches!(err, BoltError::NotBolt { .. }), "{err}");
    assert!(err.to_string().contains("/test.db"), "{err}");
}

#[test]
fn element_and_overflow_bounds() {
    let b = build();
    let db = open(b.bytes.clone()).unwrap();
    let over_root = db
        .root()
        .get_value(b"over")
        .unwrap()
        .map(|v| match v {
            Value::Bucket(b) => format!("{b:?}"),
            Value::Data(_) => String::new(),
        })
        .unwrap();
    let over_id: usize = over_root
        .trim_start_matches("Bucket(page ")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    // vsize beyond the page.
    let mut bytes = b.bytes.clone();
    let e = over_id * PS + 16;
    bytes[e + 12..e + 16].copy_from_slice(&1_000_000u32.to_le_bytes());
    let db = open(bytes).unwrap();
    let err = db
        .bucket_path(&[b"over"])
        .unwrap()
        .unwrap()
        .get(b"long")
        .unwrap_err();
    assert_eq!(corrupt_page(err), over_id as u64);
    // An overflow count running past the end of the file.
    let mut bytes = b.bytes.clone();
    bytes[over_id * PS + 12..over_id * PS + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let db = open(bytes).unwrap();
    let err = db
        .bucket_path(&[b"over"])
        .unwrap()
        .unwrap()
        .entries()
        .unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
    // Element count larger than the page.
    let mut bytes = b.bytes.clone();
    bytes[over_id * PS + 10..over_id * PS + 12].copy_from_slice(&u16::MAX.to_le_bytes());
    let db = open(bytes).unwrap();
    assert!(
        db.bucket_path(&[b"over"])
            .unwrap()
            .unwrap()
            .entries()
            .is_err()
    );
}

#[test]
fn meta_pages_chosen_by_txid_and_checksum() {
    let b = build();
    // Newer meta (page 0, txid 7) damaged: page 1 (txid 6) is used.
    let mut bytes = b.bytes.clone();
    bytes[16 + 50] ^= 0xff;
    let db = open(bytes.clone()).unwrap();
    assert_eq!((db.meta().page, db.meta().txid), (1, 6));
    // Both damaged: not usable, and the reason names both.
    bytes[PS + 16 + 50] ^= 0xff;
    let err = open(bytes).unwrap_err().to_string();
    assert!(
        err.contains("meta page 0") && err.contains("checksum"),
        "{err}"
    );
    // Bad magic.
    let mut bytes = b.bytes.clone();
    bytes[16] ^= 1;
    bytes[PS + 16] ^= 1;
    assert!(open(bytes).unwrap_err().to_string().contains("magic"));
}

#[test]
fn random_damage_never_panics() {
    let b = build();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for _ in 0..300 {
        let mut bytes = b.bytes.clone();
        for _ in 0..(1 + rand() % 6) {
            let at = 2 * PS + (rand() as usize) % (bytes.len() - 2 * PS);
            bytes[at] ^= 1 << (rand() % 8);
        }
        let Ok(db) = open(bytes) else { continue };
        let mut stack = vec![db.root()];
        while let Some(bucket) = stack.pop() {
            for e in bucket.iter() {
                match e {
                    Ok((_, Value::Bucket(c))) => stack.push(c),
                    Ok(_) => {}
                    Err(_) => errors += 1,
                }
            }
            let _ = bucket.get(&key(1234));
        }
    }
    assert!(errors > 0, "some damage must be detected");
}
