//! EnCase 7 EWF2 (`.Ex01`) images written by the real libewf 20260924
//! `ewfacquire -f encase7-v2` from the basic fixture's raw disk: deflate
//! in one segment, deflate split into 1 MiB segments, and "empty-block"
//! compression (plain chunks with their Adler-32, pattern-filled empty
//! chunks) split in several segments. Each must read as the raw disk,
//! give the engine's images and layers, and report the stored MD5 and
//! SHA-1 that libewf's own `ewfinfo` shows; a flipped byte in one chunk
//! and a cut file each give one error naming where, never a panic.
//!
//! Needs: the fixtures and libewf's current ewftools, built by
//! `tests/tools/libewf-exp.sh` (into `$LIBEWF_EXP_DIR` or
//! `/var/tmp/libewf-exp`; `.ci/run` builds them). Debian 12's ewf-tools
//! (libewf 20140608) cannot write EWF2.

mod common;

use common::vmdisk::{assert_same_as_engine, media_sha256, poke, raw_sha256};
use common::{fixtures_dir, run, sha256_file, skip};
use docker_forensics::evidence::image::ewf::{EwfError, TruncatedKind};
use docker_forensics::evidence::image::{self, ImageError, ImageOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of the libewf tools that write EWF2, or `None` after a
/// loud skip.
fn tools() -> Option<PathBuf> {
    let dir = std::env::var_os("LIBEWF_EXP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/libewf-exp"))
        .join("bin");
    if ["ewfacquire", "ewfexport", "ewfinfo", "ewfverify"]
        .iter()
        .all(|t| dir.join(t).is_file())
    {
        Some(dir)
    } else {
        skip(&format!(
            "libewf's EWF2 tools not in {} (run tests/tools/libewf-exp.sh)",
            dir.display()
        ));
        None
    }
}

struct Work {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Work {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs libewf tool `tool` with `args` in the directory; its stdout.
    fn tool(&self, tool: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new(self.bin.join(tool))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// `ewfacquire -f encase7-v2` of basic.raw with `opts` into
    /// `NAME.Ex01` (and `.Ex02`…); the first segment's path.
    fn acquire(&self, name: &str, opts: &[&str]) -> PathBuf {
        let mut args = vec!["-u", "-q", "-f", "encase7-v2", "-d", "sha1"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["-t", name, "basic.raw"]);
        let (ok, out) = self.tool("ewfacquire", &args);
        assert!(ok, "ewfacquire {args:?}: {out}");
        let first = self.path(&format!("{name}.Ex01"));
        assert!(first.is_file(), "{out}");
        // libewf's own verifier accepts what its writer wrote.
        let (ok, out) = self.tool("ewfverify", &["-q", first.to_str().unwrap()]);
        assert!(ok, "ewfverify {name}: {out}");
        first
    }

    /// The segment files of `name` in this directory.
    fn segments(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("{name}.Ex")))
            .collect();
        v.sort();
        v
    }
}

/// basic.raw (exported from the fixture by the new `ewfexport`) in a
/// fresh temporary directory, or `None` after a loud skip.
fn work() -> Option<Work> {
    let e01 = fixtures_dir().join("basic.disk.E01");
    if !e01.is_file() {
        skip("basic.disk.E01 fixture not found");
        return None;
    }
    let bin = tools()?;
    let dir = tempfile::Builder::new()
        .prefix("df-ex01-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let w = Work { dir, bin };
    let (ok, out) = w.tool(
        "ewfexport",
        &[
            "-q",
            "-u",
            "-f",
            "raw",
            "-t",
            "basic",
            e01.to_str().unwrap(),
        ],
    );
    assert!(ok, "ewfexport: {out}");
    assert_eq!(sha256_file(&w.path("basic.raw")), raw_sha256());
    Some(w)
}

/// The value after `label` on a line of ewfinfo's output.
fn info_value(info: &str, label: &str) -> String {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in ewfinfo output:\n{info}"))
        .trim()
        .to_string()
}

/// The chunk table entries of an EWF2 segment, found by walking its
/// section descriptors back from the end as the EWF2 specification
/// describes (test-side, to know where to damage the file): for each
/// chunk its file offset, stored size and flags.
fn chunk_table(path: &Path) -> Vec<(u64, u32, u32)> {
    let d = std::fs::read(path).unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(d[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap());
    let mut off = d.len() - 64;
    let mut entries = Vec::new();
    loop {
        let (kind, prev, size) = (u32_at(off), u64_at(off + 8), u64_at(off + 16) as usize);
        if kind == 4 {
            let at = off - size;
            let count = u32_at(at + 8) as usize;
            let mut table: Vec<_> = (0..count)
                .map(|i| {
                    let e = at + 32 + 16 * i;
                    (u64_at(e), u32_at(e + 8), u32_at(e + 12))
                })
                .collect();
            table.append(&mut entries);
            entries = table;
        }
        if prev == 0 {
            return entries;
        }
        off = prev as usize;
    }
}

#[test]
fn ex01_variants_read_as_the_raw_disk_and_give_the_engines_images() {
    let Some(w) = work() else { return };
    let want = raw_sha256();
    let best = w.acquire("best", &["-c", "deflate:best"]);
    let split = w.acquire("split", &["-c", "deflate:fast", "-S", "1MiB"]);
    let plain = w.acquire("plain", &["-c", "deflate:empty-block", "-S", "1MiB"]);
    assert_eq!(w.segments("best"), ["best.Ex01"]);
    assert_eq!(w.segments("split"), ["split.Ex01", "split.Ex02"]);
    let plain_segments = w.segments("plain");
    assert!(plain_segments.len() >= 3, "{plain_segments:?}");

    // The variants really store their chunks as described: zlib chunks;
    // plain chunks followed by an Adler-32 with pattern-filled empty ones.
    let flags = |p: &Path| {
        let mut f: Vec<u32> = chunk_table(p).iter().map(|e| e.2).collect();
        f.sort();
        f.dedup();
        f
    };
    assert_eq!(flags(&best), [1, 5]);
    assert_eq!(flags(&plain), [2, 5]);

    for p in [&best, &split, &plain] {
        let (format, sha) = media_sha256(p, &ImageOptions::default());
        assert_eq!(format, "ewf2", "{}", p.display());
        assert_eq!(sha, want, "{}", p.display());
    }
    let img = image::open(&plain).unwrap();
    assert_eq!(img.files.len(), plain_segments.len());

    // images, extract: the engine's ids, tags and saved layers, byte for byte.
    assert_same_as_engine(&best, &[]);
    assert_same_as_engine(&plain, &[]);
    // verify: every image of the engine checked OK.
    let r = run([Path::new("verify"), &split, Path::new("-q")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let exp = common::expected("basic");
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("OK")).count(),
        exp["images"].as_array().unwrap().len(),
        "{}",
        r.stdout
    );
}

#[test]
fn ex01_verify_image_reports_the_stored_hashes_and_metadata() {
    let Some(w) = work() else { return };
    let ex01 = w.acquire(
        "meta",
        &[
            "-c",
            "deflate:fast",
            "-S",
            "1MiB",
            "-C",
            "case-7",
            "-E",
            "ev-ex01",
            "-e",
            "examiner x",
            "-D",
            "an Ex01 of basic",
            "-N",
            "notes here",
        ],
    );
    let (ok, info) = w.tool("ewfinfo", &[ex01.to_str().unwrap()]);
    assert!(ok, "{info}");
    let md5 = info_value(&info, "MD5:");
    let sha1 = info_value(&info, "SHA1:");
    assert_eq!(md5.len(), 32, "{info}");
    assert_eq!(sha1.len(), 40, "{info}");

    let r = run([Path::new("images"), &ex01, Path::new("--verify-image")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("MD5 {md5} (matches the stored hash)")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("SHA-1 {sha1} (matches the stored hash)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&raw_sha256()), "{}", r.stderr);

    let ev = docker_forensics::evidence::Evidence::open(&ex01, &Default::default()).unwrap();
    let acq = ev.acquisition.as_ref().unwrap();
    assert_eq!(acq.format, "EWF2 (EnCase 7 Ex01)");
    assert_eq!(acq.segments.len(), 2);
    assert_eq!(acq.md5.as_deref(), Some(md5.as_str()));
    assert_eq!(acq.sha1.as_deref(), Some(sha1.as_str()));
    assert_eq!(
        acq.case_number.as_deref(),
        Some(info_value(&info, "Case number:").as_str())
    );
    assert_eq!(acq.case_number.as_deref(), Some("case-7"));
    assert_eq!(acq.evidence_number.as_deref(), Some("ev-ex01"));
    assert_eq!(acq.examiner.as_deref(), Some("examiner x"));
    assert_eq!(acq.description.as_deref(), Some("an Ex01 of basic"));
    assert_eq!(acq.notes.as_deref(), Some("notes here"));
    assert_eq!(
        acq.acquisition_software.as_deref(),
        Some(info_value(&info, "Software version used:").as_str())
    );
    assert!(acq.acquisition_date_utc.is_some(), "{acq:?}");
    assert_eq!(acq.bytes_per_sector, 512);
    assert_eq!(
        acq.chunk_size,
        512 * info_value(&info, "Sectors per chunk:")
            .parse::<u32>()
            .unwrap()
    );
    assert_eq!(
        acq.media_size.to_string(),
        info_value(&info, "Media size:")
            .rsplit('(')
            .next()
            .unwrap()
            .trim_end_matches(" bytes)")
    );
    let v = ev.verify_image(&|_, _| {}).unwrap().unwrap();
    assert!(v.verified());
    assert_eq!(v.md5, md5);
    assert_eq!(v.sha1, sha1);
}

#[test]
fn ex01_corrupt_chunk_is_one_error_naming_the_chunk() {
    let Some(w) = work() else { return };
    let good = w.acquire("good", &["-c", "deflate:best"]);
    let table = chunk_table(&good);
    let chunk_size = 32768u64;
    // chunk 0 (the partition table, read by every command) and the last
    // zlib-compressed chunk (read only when the whole medium is hashed)
    for n in [0usize, table.iter().rposition(|e| e.2 == 1).unwrap()] {
        let (offset, size, flags) = table[n];
        assert_eq!(flags, 1, "chunk {n} is zlib-compressed");
        let bad = w.path(&format!("bad{n}.Ex01"));
        std::fs::copy(&good, &bad).unwrap();
        poke(
            &bad,
            offset + u64::from(size) / 2,
            &[0xde, 0xad, 0xbe, 0xef],
        );
        // libewf agrees the image is damaged.
        let (ok, out) = w.tool("ewfverify", &["-q", bad.to_str().unwrap()]);
        assert!(!ok, "ewfverify accepted the damaged chunk {n}: {out}");

        let r = run([
            Path::new("images"),
            &bad,
            Path::new("--verify-image"),
            Path::new("-q"),
        ]);
        assert_eq!(r.code, 1, "chunk {n}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        let media = n as u64 * chunk_size;
        assert!(
            lines[0].contains(&format!("EWF chunk {n} (media offset {media})"))
                && lines[0].contains(&format!("at {offset}")),
            "{}",
            lines[0]
        );
    }
}

#[test]
fn ex01_cut_or_missing_segment_is_one_error() {
    let Some(w) = work() else { return };
    let good = w.acquire("cut", &["-c", "deflate:fast", "-S", "1MiB"]);
    let size = std::fs::metadata(&good).unwrap().len();
    // The last segment cut short (no 'done' descriptor at its end).
    let second = w.path("cut.Ex02");
    let whole = std::fs::read(&second).unwrap();
    std::fs::write(&second, &whole[..whole.len() / 2]).unwrap();
    let (ok, _) = w.tool("ewfverify", &["-q", good.to_str().unwrap()]);
    assert!(!ok, "ewfverify accepted a cut segment");
    let e = image::open(&good).err().expect("a cut segment");
    assert!(
        matches!(
            &e,
            ImageError::Ewf {
                source: EwfError::Truncated(TruncatedKind::NoEnd { .. }),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("cut.Ex02"), "{e}");
    let r = run([Path::new("images"), &good]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not end with a 'done' or 'next'"),
        "{}",
        r.stderr
    );

    // The second segment missing.
    std::fs::remove_file(&second).unwrap();
    let r = run([Path::new("images"), &good]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("segment file is missing"), "{}", r.stderr);

    // The first segment cut inside its chunk data.
    let first = std::fs::read(&good).unwrap();
    std::fs::write(&good, &first[..(size / 3) as usize]).unwrap();
    let r = run([Path::new("images"), &good]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
}
