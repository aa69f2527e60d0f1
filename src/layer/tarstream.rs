//! A tar stream read member by member, as Go's `archive/tar` reader (what
//! containerd's applier uses) reads it, in bounded memory: a layer blob is
//! evidence and may be hostile, so an extended header (PAX `x`/`g`, GNU
//! long name `L`/`K`) over [`MAX_SPECIAL`] bytes ends the stream, as Go
//! refuses it too (`maxSpecialFileSize`), and no content is buffered.
//!
//! Formats (POSIX.1-2001 pax, ustar, GNU, star) as in the Go sources
//! `archive/tar/reader.go` and `format.go`: the ustar prefix (155 bytes,
//! 131 for star) before the name, PAX `path`, `linkpath`, `size`, `uid`,
//! `gid` and `SCHILY.xattr.*` records over the header's fields, GNU long
//! names, and header-only types (links, devices, directories, FIFOs) that
//! never have content whatever their size field says.

use super::tarsplit::{parse_numeric, pax_records};
use std::io::{self, Read};

/// Largest extended header read (Go `archive/tar`: 1 MiB).
pub(crate) const MAX_SPECIAL: u64 = 1 << 20;
const BLOCK: usize = 512;

/// One member's header, extended headers applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    /// The type flag; an old `\0` is `0`, or `5` for a name ending in `/`.
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Content bytes that follow the header in the stream.
    pub size: u64,
    pub dev: (u32, u32),
    /// `SCHILY.xattr.<name>` records: (name, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// GNU sparse (old `S` type or PAX `GNU.sparse.*`): the content is a
    /// sparse map and data, not the file.
    pub sparse: bool,
}

/// Reads members from a tar stream.
pub(crate) struct TarStream<R> {
    r: R,
    /// Content of the current member not yet read.
    left: u64,
    /// Padding after it.
    pad: u64,
    ended: bool,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl<R: Read> TarStream<R> {
    pub(crate) fn new(r: R) -> Self {
        TarStream {
            r,
            left: 0,
            pad: 0,
            ended: false,
        }
    }

    /// The reader, for whatever follows the end of the archive.
    pub(crate) fn into_inner(self) -> R {
        self.r
    }

    /// The next member; `None` at the end of the archive (a zero block,
    /// or the stream's end between members).
    pub(crate) fn next_member(&mut self) -> io::Result<Option<Member>> {
        if self.ended {
            return Ok(None);
        }
        self.skip(self.left.saturating_add(self.pad))?;
        self.left = 0;
        self.pad = 0;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let mut b = [0u8; BLOCK];
            if !self.block(&mut b)? {
                self.ended = true;
                return Ok(None);
            }
            if b.iter().all(|x| *x == 0) {
                self.ended = true;
                return Ok(None);
            }
            check_sum(&b)?;
            let size = parse_numeric(&b[124..136]).ok_or_else(|| bad("tar header size"))?;
            match b[156] {
                t @ (b'x' | b'g' | b'L' | b'K') => {
                    if size > MAX_SPECIAL {
                        return Err(bad("tar extended header over 1 MiB"));
                    }
                    let body = self.body(size)?;
                    match t {
                        // A later extended header replaces an earlier one.
                        b'x' => {
                            pax = pax_records(&body)
                                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                                .collect()
                        }
                        b'L' => long_name = Some(c_string(&body).to_vec()),
                        b'K' => long_link = Some(c_string(&body).to_vec()),
                        // A global header is a member of its own for Go,
                        // which containerd ignores, with what came before.
                        _ => {
                            pax.clear();
                            long_name = None;
                            long_link = None;
                        }
                    }
                }
                _ => return self.member(&b, size, pax, long_name, long_link).map(Some),
            }
        }
    }

    fn member(
        &mut self,
        b: &[u8; BLOCK],
        size: u64,
        pax: Vec<(Vec<u8>, Vec<u8>)>,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
    ) -> io::Result<Member> {
        let ustar = &b[257..263] == b"ustar\0";
        let gnu = &b[257..265] == b"ustar  \0";
        let mut name = c_string(&b[0..100]).to_vec();
        if ustar {
            let star = &b[508..512] == b"tar\0";
            let prefix = c_string(if star { &b[345..476] } else { &b[345..500] });
            if !prefix.is_empty() {
                let mut full = prefix.to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
        }
        let num = |f: &[u8]| parse_numeric(f).ok_or_else(|| bad("tar header numeric field"));
        let mut m = Member {
            name: long_name.unwrap_or(name),
            link: long_link.unwrap_or_else(|| c_string(&b[157..257]).to_vec()),
            kind: b[156],
            mode: u32::try_from(num(&b[100..108])? & 0o7777_7777).unwrap_or(0),
            uid: num(&b[108..116])?,
            gid: num(&b[116..124])?,
            size,
            dev: (0, 0),
            xattrs: Vec::new(),
            sparse: b[156] == b'S',
        };
        if ustar || gnu {
            let dev = |f: &[u8]| u32::try_from(parse_numeric(f).unwrap_or(0)).unwrap_or(0);
            m.dev = (dev(&b[329..337]), dev(&b[337..345]));
        }
        for (k, v) in pax {
            let n = || {
                std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
            };
            match k.as_slice() {
                b"path" => m.name = v,
                b"linkpath" => m.link = v,
                b"size" => m.size = n().ok_or_else(|| bad("PAX size"))?,
                b"uid" => m.uid = n().ok_or_else(|| bad("PAX uid"))?,
                b"gid" => m.gid = n().ok_or_else(|| bad("PAX gid"))?,
                _ => {
                    if let Some(x) = k.strip_prefix(b"SCHILY.xattr.") {
                        m.xattrs.push((x.to_vec(), v));
                    } else if k.starts_with(b"GNU.sparse.") {
                        m.sparse = true;
                    }
                }
            }
        }
        if m.kind == 0 {
            m.kind = if m.name.ends_with(b"/") { b'5' } else { b'0' };
        }
        if m.kind == b'S' {
            // Old GNU sparse: extension blocks follow while flagged.
            let mut extended = b[482] != 0;
            while extended {
                let mut ext = [0u8; BLOCK];
                if !self.block(&mut ext)? {
                    return Err(bad("tar stream ends in a sparse header"));
                }
                extended = ext[504] != 0;
            }
        }
        // Header-only types have no content whatever the size says.
        if matches!(m.kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
            m.size = 0;
        }
        self.left = m.size;
        self.pad = (BLOCK as u64 - m.size % BLOCK as u64) % BLOCK as u64;
        Ok(m)
    }

    /// The current member's content.
    pub(crate) fn content(&mut self) -> Content<'_, R> {
        Content { s: self }
    }

    /// One whole block; false at the end of the stream before it.
    fn block(&mut self, b: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut got = 0;
        while got < BLOCK {
            match self.r.read(&mut b[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// An extended header's body (at most [`MAX_SPECIAL`]) and padding.
    fn body(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        (&mut self.r).take(size).read_to_end(&mut body)?;
        if (body.len() as u64) < size {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.skip((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64)?;
        Ok(body)
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        if got < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// A member's content, as a reader.
pub(crate) struct Content<'a, R> {
    s: &'a mut TarStream<R>,
}

impl<R: Read> Read for Content<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.s.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.s.left).map_or(buf.len(), |l| l.min(buf.len()));
        let n = self.s.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.s.left -= n as u64;
        Ok(n)
    }
}

/// The bytes up to the first NUL.
fn c_string(b: &[u8]) -> &[u8] {
    match b.iter().position(|x| *x == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// The header checksum, unsigned or signed sum with the field as spaces
/// (Go `archive/tar` accepts either).
fn check_sum(b: &[u8; BLOCK]) -> io::Result<()> {
    let want = parse_numeric(&b[148..156]).ok_or_else(|| bad("tar header checksum field"))?;
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, x) in b.iter().enumerate() {
        let x = if (148..156).contains(&i) { b' ' } else { *x };
        unsigned += i64::from(x);
        signed += i64::from(x as i8);
    }
    if i64::try_from(want).is_ok_and(|w| w == unsigned || w == signed) {
        Ok(())
    } else {
        Err(bad("tar header checksum mismatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_tar_crate_writes() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".to_string() + &"n".repeat(150);
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o4755);
        h.set_uid(7);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "s", "target").unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.x", &b"1"[..]), ("uid", b"70000")])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Char);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_size(0);
        h.set_path("dev/null").unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let tar = b.into_inner().unwrap();
        let mut s = TarStream::new(&tar[..]);
        let m = s.next_member().unwrap().unwrap();
        assert_eq!(m.name, long.as_bytes());
        assert_eq!((m.kind, m.mode, m.uid, m.size), (b'0', 0o4755, 7, 3));
        let mut data = Vec::new();
        s.content().read_to_end(&mut data).unwrap();
        assert_eq!(data, b"abc");
        let m = s.next_member().unwrap().unwrap();
        assert_eq!(
            (m.name.as_slice(), m.link.as_slice()),
            (&b"s"[..], &b"target"[..])
        );
        // Content not read is skipped.
        let m = s.next_member().unwrap().unwrap();
        assert_eq!((m.kind, m.dev, m.uid), (b'3', (1, 3), 70000));
        assert_eq!(m.xattrs, [(b"user.x".to_vec(), b"1".to_vec())]);
        assert!(s.next_member().unwrap().is_none());
    }

    #[test]
    fn refuses_a_huge_extended_header_and_a_bad_checksum() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(MAX_SPECIAL + 1);
        h.set_cksum();
        let mut s = TarStream::new(h.as_bytes().as_slice());
        assert!(s.next_member().is_err());
        let mut bytes = h.as_bytes().to_vec();
        bytes[0] = b'z';
        let mut s = TarStream::new(bytes.as_slice());
        assert!(s.next_member().is_err());
    }
}
