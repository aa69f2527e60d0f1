//! Test helpers: layer tars made with the `tar` crate, their tar-split
//! made as tar-split's disassembler would (`tar/asm/disassemble.go`: the
//! raw bytes before each entry's content as a segment, the content as a
//! file entry with its CRC-64), and layers in a [`MemFs`].

use super::content::crc64;
use crate::evidence::fs::{EvPath, MemFs, MemNode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use std::io::Write;

/// Where test layers keep their files and their tar-split.
pub const DIR: &str = "layer";
pub const TAR_SPLIT: &str = "tar-split.json.gz";

pub fn path(s: &str) -> EvPath {
    EvPath::parse(s).expect("test path")
}

/// A ustar header of `kind` for `name` claiming `size` bytes.
pub fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("name");
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h.set_cksum();
    h
}

/// A tar of regular files (and directories, for names ending in `/`).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        if name.ends_with('/') {
            b.append(&header(name, tar::EntryType::Directory, 0), &[][..])
                .expect("dir");
        } else {
            b.append(
                &header(name, tar::EntryType::Regular, data.len() as u64),
                *data,
            )
            .expect("file");
        }
    }
    b.into_inner().expect("tar")
}

/// One tar-split JSON line.
pub fn segment_line(pos: usize, bytes: &[u8]) -> String {
    json!({"type": 2, "payload": STANDARD.encode(bytes), "position": pos}).to_string() + "\n"
}

pub fn file_line(pos: usize, name: &[u8], size: u64, content: Option<&[u8]>) -> String {
    let payload = content.map(|c| {
        let mut d = crc64();
        d.update(c);
        STANDARD.encode(d.finalize().to_be_bytes())
    });
    let v = match std::str::from_utf8(name) {
        Ok(n) => json!({"type": 1, "name": n, "size": size, "payload": payload, "position": pos}),
        Err(_) => json!({"type": 1, "name_raw": STANDARD.encode(name), "size": size,
                         "payload": payload, "position": pos}),
    };
    v.to_string() + "\n"
}

/// The tar-split JSON lines of `tar`.
pub fn disassemble(tar_bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    let mut done = 0usize;
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let start = entry.raw_file_position() as usize;
        let size = entry.size();
        out += &segment_line(pos, &tar_bytes[done..start]);
        pos += 1;
        let content = &tar_bytes[start..start + size as usize];
        let name = entry.path_bytes().into_owned();
        out += &file_line(pos, &name, size, (size > 0).then_some(content));
        pos += 1;
        done = start + size as usize;
    }
    out += &segment_line(pos, &tar_bytes[done..]);
    out
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A filesystem holding the files of `files` under [`DIR`] and, when
/// given, `tar_split` (JSON lines) gzipped at [`TAR_SPLIT`].
pub fn layer_fs(files: &[(&str, &[u8])], tar_split: Option<&str>) -> MemFs {
    let mut fs = MemFs::new();
    fs.add(DIR, MemNode::dir().perm(0o755));
    for (name, data) in files {
        let full = format!("{DIR}/{name}");
        if name.ends_with('/') {
            fs.add(full, MemNode::dir());
        } else {
            fs.add(full, MemNode::file(data).mtime(1_700_000_000));
        }
    }
    if let Some(ts) = tar_split {
        fs.add(TAR_SPLIT, MemNode::file(&gz(ts.as_bytes())));
    }
    fs
}

pub fn sha256_hex(data: &[u8]) -> String {
    crate::digest::sha256_hex(data)
}
