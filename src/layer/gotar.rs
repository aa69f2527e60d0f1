//! Tar headers byte for byte as Go's `archive/tar` `Writer` writes them,
//! which is what every layer `docker commit` and `docker export` write
//! goes through (moby `pkg/archive`, Go `archive/tar/writer.go`,
//! `format.go`, `strconv.go`).
//!
//! Written by hand because the byte-level choices differ from the `tar`
//! crate's: the checksum field is six octal digits, NUL, space; device
//! numbers are always written (`0000000`); a header uses the plain USTAR
//! form (a long ASCII name split into prefix and name) whenever that can
//! hold it, and only otherwise PAX records (sorted by key, in a header
//! named `<dir>/PaxHeaders.0/<file>` with zero mode, ids and time), with
//! the main header's strings cut to their fields and stripped of
//! non-ASCII bytes; the archive ends with two zero blocks, not padded to
//! a record.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

const BLOCK: usize = 512;

/// Type flags.
pub(crate) const TYPE_REG: u8 = b'0';
pub(crate) const TYPE_LINK: u8 = b'1';
pub(crate) const TYPE_SYMLINK: u8 = b'2';
pub(crate) const TYPE_CHAR: u8 = b'3';
pub(crate) const TYPE_BLOCK: u8 = b'4';
pub(crate) const TYPE_DIR: u8 = b'5';
pub(crate) const TYPE_FIFO: u8 = b'6';
const TYPE_XHEADER: u8 = b'x';

/// One header, as Go's `tar.Header` holds it (times in whole seconds:
/// moby truncates them and drops access and change times).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GoHeader {
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    pub typeflag: u8,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    pub size: i64,
    pub mtime: i64,
    pub uname: Vec<u8>,
    pub gname: Vec<u8>,
    pub devmajor: i64,
    pub devminor: i64,
    /// Extended attributes (`SCHILY.xattr.<name>` records).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Writes headers and content the way Go's `tar.Writer` does.
pub(crate) struct GoTar<W: Write> {
    out: W,
}

impl<W: Write> GoTar<W> {
    pub(crate) fn new(out: W) -> Self {
        GoTar { out }
    }

    /// Writes `h` (and its PAX header, when USTAR cannot hold it); the
    /// content of a regular file follows with [`GoTar::content`].
    /// A header Go would refuse (a PAX record it cannot encode) is an
    /// `InvalidInput` error; nothing is written then.
    pub(crate) fn header(&mut self, h: &GoHeader) -> io::Result<()> {
        let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut ustar = true;
        let long_or_wide = |s: &[u8], n: usize| !s.is_ascii() || s.len() > n;
        if long_or_wide(&h.name, 100) {
            if split_ustar(&h.name).is_none() {
                ustar = false;
            }
            pax.insert(b"path".to_vec(), h.name.clone());
        }
        for (s, n, key) in [
            (&h.linkname, 100, &b"linkpath"[..]),
            (&h.uname, 32, b"uname"),
            (&h.gname, 32, b"gname"),
        ] {
            if long_or_wide(s, n) {
                ustar = false;
                pax.insert(key.to_vec(), s.clone());
            }
        }
        for (v, width, key) in [
            (h.mode, 8, None),
            (h.uid, 8, Some(&b"uid"[..])),
            (h.gid, 8, Some(b"gid")),
            (h.size, 12, Some(b"size")),
            (h.devmajor, 8, None),
            (h.devminor, 8, None),
            (h.mtime, 12, Some(b"mtime")),
        ] {
            if !fits_octal(width, v) {
                ustar = false;
                match key {
                    Some(k) => {
                        pax.insert(k.to_vec(), v.to_string().into_bytes());
                    }
                    None => return Err(refused("a number too large for its field")),
                }
            }
        }
        if !h.xattrs.is_empty() {
            ustar = false;
            for (k, v) in &h.xattrs {
                let mut key = b"SCHILY.xattr.".to_vec();
                key.extend_from_slice(k);
                pax.insert(key, v.clone());
            }
        }
        if ustar {
            let mut blk = template(h, false);
            if let Some((prefix, suffix)) = split_ustar(&h.name) {
                blk[0..100].fill(0);
                put_str(&mut blk[0..100], suffix);
                put_str(&mut blk[345..500], prefix);
            }
            return self.block(blk);
        }
        let mut data = Vec::new();
        for (k, v) in &pax {
            data.extend_from_slice(&pax_record(k, v)?);
        }
        let mut blk = [0u8; BLOCK];
        let name: Vec<u8> = ascii(&pax_header_name(&h.name));
        let mut name = &name[..name.len().min(100)];
        while let [rest @ .., b'/'] = name {
            name = rest;
        }
        put_str(&mut blk[0..100], name);
        put_octal(&mut blk[100..108], 0);
        put_octal(&mut blk[108..116], 0);
        put_octal(&mut blk[116..124], 0);
        put_octal(&mut blk[124..136], data.len() as i64);
        put_octal(&mut blk[136..148], 0);
        blk[156] = TYPE_XHEADER;
        self.block(blk)?;
        self.content(&mut &data[..], data.len() as u64)?;
        self.block(template(h, true))
    }

    /// Exactly `size` bytes of content from `r` (which must give them),
    /// padded to the block.
    pub(crate) fn content(&mut self, r: &mut dyn Read, size: u64) -> io::Result<()> {
        let n = io::copy(&mut r.take(size), &mut self.out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "content shorter than its header says",
            ));
        }
        let pad = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        self.out.write_all(&[0u8; BLOCK][..pad])
    }

    /// The two zero blocks that end the archive; hands back the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }

    fn block(&mut self, mut blk: [u8; BLOCK]) -> io::Result<()> {
        blk[257..263].copy_from_slice(b"ustar\0");
        blk[263..265].copy_from_slice(b"00");
        blk[148..156].fill(b' ');
        let sum: i64 = blk.iter().map(|b| i64::from(*b)).sum();
        blk[148..156].fill(0);
        put_octal(&mut blk[148..155], sum);
        blk[155] = b' ';
        self.out.write_all(&blk)
    }
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("tar header: {why}"))
}

/// Go's `templateV7Plus`: the fields every header has. In PAX form the
/// strings lose their non-ASCII bytes (`toASCII`).
fn template(h: &GoHeader, pax: bool) -> [u8; BLOCK] {
    let mut blk = [0u8; BLOCK];
    let s = |v: &[u8]| if pax { ascii(v) } else { v.to_vec() };
    put_str(&mut blk[0..100], &s(&h.name));
    put_octal(&mut blk[100..108], h.mode);
    put_octal(&mut blk[108..116], h.uid);
    put_octal(&mut blk[116..124], h.gid);
    put_octal(&mut blk[124..136], h.size);
    put_octal(&mut blk[136..148], h.mtime);
    blk[156] = h.typeflag;
    put_str(&mut blk[157..257], &s(&h.linkname));
    put_str(&mut blk[265..297], &s(&h.uname));
    put_str(&mut blk[297..329], &s(&h.gname));
    put_octal(&mut blk[329..337], h.devmajor);
    put_octal(&mut blk[337..345], h.devminor);
    blk
}

/// Go's `formatter.formatString`: cut to the field; a name cut right
/// after a `/` loses it (so old readers do not take a file for a
/// directory).
fn put_str(b: &mut [u8], s: &[u8]) {
    let n = s.len().min(b.len());
    b[..n].copy_from_slice(&s[..n]);
    if s.len() > b.len() && b.last() == Some(&b'/') {
        let mut keep = b.len();
        while keep > 0 && s[keep - 1] == b'/' {
            keep -= 1;
        }
        b[keep] = 0;
    }
}

/// Go's `formatter.formatOctal`: zero-padded octal leaving room for a
/// NUL; a number that does not fit is written as 0.
fn put_octal(b: &mut [u8], x: i64) {
    let x = if fits_octal(b.len(), x) { x } else { 0 };
    let s = format!("{x:o}");
    let pad = (b.len() - 1).saturating_sub(s.len());
    let mut v = vec![b'0'; pad];
    v.extend_from_slice(s.as_bytes());
    put_str(b, &v);
}

fn fits_octal(n: usize, x: i64) -> bool {
    let bits = (n - 1) * 3;
    x >= 0 && (n >= 22 || x < 1i64 << bits)
}

/// Go's `toASCII`: every byte of 0x80 and up (and NUL) dropped.
fn ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|b| *b != 0 && *b < 0x80).collect()
}

/// Go's `splitUSTARPath`: a long ASCII name as (prefix, name) at a `/`.
fn split_ustar(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = s.len();
    if length <= 100 || !s.is_ascii() {
        return None;
    }
    if length > 156 {
        length = 156;
    } else if s[length - 1] == b'/' {
        length -= 1;
    }
    let i = s[..length].iter().rposition(|b| *b == b'/')?;
    let (nlen, plen) = (s.len() - i - 1, i);
    if i == 0 || nlen > 100 || nlen == 0 || plen > 155 {
        return None;
    }
    Some((&s[..i], &s[i + 1..]))
}

/// `path.Join(dir, "PaxHeaders.0", file)` of `path.Split(name)`.
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let cut = name.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
    let (dir, file) = name.split_at(cut);
    let mut v = dir.to_vec();
    v.extend_from_slice(b"PaxHeaders.0");
    if !file.is_empty() {
        v.push(b'/');
        v.extend_from_slice(file);
    }
    v
}

/// One PAX record, `"<len> <key>=<value>\n"` (Go `formatPAXRecord`).
fn pax_record(k: &[u8], v: &[u8]) -> io::Result<Vec<u8>> {
    let named = matches!(k, b"path" | b"linkpath" | b"uname" | b"gname");
    if k.is_empty() || k.contains(&b'=') || (named && v.contains(&0)) || k.contains(&0) {
        return Err(refused("a PAX record Go cannot encode"));
    }
    let body = k.len() + v.len() + 3;
    let mut size = body + body.to_string().len();
    if (body + size.to_string().len()) != size {
        size = body + size.to_string().len();
    }
    let mut r = format!("{size} ").into_bytes();
    r.extend_from_slice(k);
    r.push(b'=');
    r.extend_from_slice(v);
    r.push(b'\n');
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(h: &GoHeader, data: &[u8]) -> Vec<u8> {
        let mut t = GoTar::new(Vec::new());
        t.header(h).unwrap();
        if !data.is_empty() {
            t.content(&mut &data[..], data.len() as u64).unwrap();
        }
        t.finish().unwrap()
    }

    fn file(name: &str) -> GoHeader {
        GoHeader {
            name: name.as_bytes().to_vec(),
            typeflag: TYPE_REG,
            mode: 0o100644,
            mtime: 1_600_000_000,
            uname: b"root".to_vec(),
            gname: b"root".to_vec(),
            size: 2,
            ..Default::default()
        }
    }

    /// The fields of a plain header, as Go's `formatOctal` and
    /// `setFormat` lay them out.
    #[test]
    fn ustar_header_fields() {
        let out = one(&file("a"), b"hi");
        assert_eq!(out.len(), 512 * 4);
        let b = &out[..512];
        assert_eq!(&b[100..108], b"0100644\0");
        assert_eq!(&b[108..116], b"0000000\0");
        assert_eq!(&b[124..136], b"00000000002\0");
        assert_eq!(&b[136..148], b"13727410000\0");
        assert_eq!(&b[257..265], b"ustar\x0000");
        assert_eq!(&b[265..270], b"root\0");
        assert_eq!(&b[329..345], b"0000000\x000000000\0");
        // Checksum: six digits, NUL, space; it sums the block with the
        // field as spaces.
        let mut c = b.to_vec();
        c[148..156].fill(b' ');
        let sum: u32 = c.iter().map(|x| u32::from(*x)).sum();
        assert_eq!(&b[148..156], format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(&out[512..514], b"hi");
        // The `tar` crate reads it back.
        let mut a = tar::Archive::new(&out[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().mode().unwrap(), 0o100644);
    }

    #[test]
    fn long_names_split_or_go_to_pax() {
        let dir = "d".repeat(60);
        let long = format!("{dir}/{}", "f".repeat(60));
        let out = one(&file(&long), b"hi");
        // Split: prefix and name, no PAX header.
        assert_eq!(out[156], TYPE_REG);
        assert_eq!(&out[0..61], format!("{}\0", "f".repeat(60)).as_bytes());
        assert_eq!(&out[345..406], format!("{dir}\0").as_bytes());
        // Not splittable (no slash): a PAX header first.
        let flat = "g".repeat(120);
        let out = one(&file(&flat), b"hi");
        assert_eq!(out[156], TYPE_XHEADER);
        assert_eq!(&out[0..13], b"PaxHeaders.0/");
        let rec = format!("130 path={flat}\n");
        assert_eq!(&out[512..512 + rec.len()], rec.as_bytes());
        assert_eq!(&out[1024..1124], "g".repeat(100).as_bytes());
        let names: Vec<String> = tar::Archive::new(&out[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, [flat]);
    }

    #[test]
    fn xattrs_force_pax_with_sorted_records() {
        let mut h = file("dir/é");
        h.xattrs = vec![(b"security.capability".to_vec(), vec![1, 0, 0, 2])];
        let out = one(&h, b"hi");
        // The PAX header's name loses its non-ASCII bytes and the `/`
        // left at its end.
        assert_eq!(&out[0..17], b"dir/PaxHeaders.0\0");
        let body = &out[512..];
        let want = b"41 SCHILY.xattr.security.capability=\x01\0\0\x02\n15 path=dir/\xc3\xa9\n";
        assert_eq!(&body[..want.len()], want);
        // Main header: the name without its non-ASCII bytes.
        assert_eq!(&out[1024..1029], b"dir/\0");
    }

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record(b"path", b"a").unwrap(), b"9 path=a\n");
        // 99 + two digits would be 101: three digits.
        let v = "x".repeat(92);
        let r = pax_record(b"path", v.as_bytes()).unwrap();
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 path="));
    }

    #[test]
    fn numbers_past_their_fields() {
        let mut h = file("a");
        h.uid = 5_000_000;
        let out = one(&h, b"hi");
        assert_eq!(out[156], TYPE_XHEADER);
        assert_eq!(&out[512..527], b"15 uid=5000000\n");
        assert_eq!(&out[1024 + 108..1024 + 116], b"0000000\0");
    }
}
