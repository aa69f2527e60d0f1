//! LZO1X decompression and btrfs's framing of it, for LZO-compressed
//! extents.
//!
//! Our own code because no maintained pure-Rust LZO crate is available
//! here. The LZO1X instruction set follows the description of the format
//! in Linux `Documentation/staging/lzo.rst` (bitstream version 0, as
//! btrfs writes it; no RLE extension). btrfs's framing (`fs/btrfs/lzo.c`):
//! a little-endian u32 total length, then segments, each a u32 length
//! and an LZO1X stream inflating to at most one sector; a segment header
//! never straddles a sector boundary (the rest of the sector is zero
//! padding then). Every read and back reference is bounds-checked.

/// Inflates a btrfs LZO extent (`data`: what is stored on disk) to at
/// most `limit` bytes.
pub fn btrfs_inflate(data: &[u8], limit: usize, sector: usize) -> Result<Vec<u8>, String> {
    let word = |at: usize| -> Result<usize, String> {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| format!("LZO framing: header at {at} past the data"))
    };
    let total = word(0)?.min(data.len());
    let mut at = 4;
    let mut out = Vec::new();
    while at < total && out.len() < limit {
        let len = word(at)?;
        at += 4;
        let seg = data
            .get(at..at.saturating_add(len))
            .ok_or_else(|| format!("LZO framing: segment of {len} bytes at {at} past the data"))?;
        let room = (limit - out.len()).min(sector);
        decompress(seg, room, &mut out).map_err(|e| format!("LZO segment at {at}: {e}"))?;
        at += len;
        let left = sector - at % sector;
        if left < 4 {
            at += left;
        }
    }
    Ok(out)
}

/// Decompresses one LZO1X stream, appending at most `room` bytes to
/// `out` (earlier bytes of `out` are not referenced).
pub fn decompress(inp: &[u8], room: usize, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let base = out.len();
    let cap = base + room;
    let mut ip = 0usize;
    let byte = |ip: &mut usize| -> Result<usize, &'static str> {
        let b = *inp.get(*ip).ok_or("input overrun")?;
        *ip += 1;
        Ok(usize::from(b))
    };
    let literals = |ip: &mut usize, n: usize, out: &mut Vec<u8>| -> Result<(), &'static str> {
        let src = inp.get(*ip..ip.saturating_add(n)).ok_or("input overrun")?;
        if out.len() + n > cap {
            return Err("output overrun");
        }
        out.extend_from_slice(src);
        *ip += n;
        Ok(())
    };
    // a zero-run length extension: each 0 byte adds 255
    let extend = |ip: &mut usize, add: usize| -> Result<usize, &'static str> {
        let mut n = 0usize;
        while *inp.get(*ip).ok_or("input overrun")? == 0 {
            *ip += 1;
            n += 255;
            if n > inp.len() * 255 {
                return Err("length run too long");
            }
        }
        Ok(n + add + byte(ip)?)
    };
    let copy_match = |dist: usize, len: usize, out: &mut Vec<u8>| -> Result<(), &'static str> {
        if dist == 0 || dist > out.len() - base {
            return Err("lookbehind overrun");
        }
        if out.len() + len > cap {
            return Err("output overrun");
        }
        let from = out.len() - dist;
        for k in 0..len {
            let b = out[from + k];
            out.push(b);
        }
        Ok(())
    };
    let mut state;
    let first = *inp.first().ok_or("empty input")?;
    if first > 17 {
        ip = 1;
        let t = usize::from(first) - 17;
        literals(&mut ip, t, out)?;
        state = if t < 4 { t } else { 4 };
    } else {
        state = 0;
    }
    loop {
        let t = byte(&mut ip)?;
        let (dist, len, next);
        if t < 16 {
            if state == 0 {
                let n = if t == 0 { extend(&mut ip, 15)? } else { t };
                literals(&mut ip, n + 3, out)?;
                state = 4;
                continue;
            }
            let h = byte(&mut ip)?;
            next = t & 3;
            if state != 4 {
                dist = 1 + (t >> 2) + (h << 2);
                len = 2;
            } else {
                dist = 1 + 0x800 + (t >> 2) + (h << 2);
                len = 3;
            }
        } else if t >= 64 {
            let h = byte(&mut ip)?;
            next = t & 3;
            dist = 1 + ((t >> 2) & 7) + (h << 3);
            len = (t >> 5) + 1;
        } else if t >= 32 {
            let mut n = t & 31;
            if n == 0 {
                n = extend(&mut ip, 31)?;
            }
            let lo = byte(&mut ip)?;
            let hi = byte(&mut ip)?;
            let v = lo | (hi << 8);
            next = v & 3;
            dist = 1 + (v >> 2);
            len = n + 2;
        } else {
            let mut n = t & 7;
            if n == 0 {
                n = extend(&mut ip, 7)?;
            }
            let lo = byte(&mut ip)?;
            let hi = byte(&mut ip)?;
            let v = lo | (hi << 8);
            let d = ((t & 8) << 11) + (v >> 2);
            if d == 0 {
                // end of stream (its length field is 1: `t` = 17)
                return if n == 1 {
                    Ok(())
                } else {
                    Err("bad end marker")
                };
            }
            next = v & 3;
            dist = d + 0x4000;
            len = n + 2;
        }
        copy_match(dist, len, out)?;
        state = next;
        literals(&mut ip, next, out)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_matches_and_end_marker() {
        // "abcabcabcX": 3 literals (first byte 17 + 3), an M2 match
        // distance 3 length 6 with 1 trailing literal, the end marker
        let dist = 3 - 1;
        let t = (5 << 5) | ((dist & 7) << 2) | 1; // len (t>>5)+1 = 6
        let stream = [
            20,
            b'a',
            b'b',
            b'c',
            t as u8,
            (dist >> 3) as u8,
            b'X',
            17,
            0,
            0,
        ];
        let mut out = Vec::new();
        decompress(&stream, 100, &mut out).unwrap();
        assert_eq!(out, b"abcabcabcX");
        let mut small = Vec::new();
        assert_eq!(decompress(&stream, 5, &mut small), Err("output overrun"));
        // a back reference before the start
        let bad = [18, b'a', (7 << 5) | (5 << 2), 0, 17, 0, 0];
        assert_eq!(
            decompress(&bad, 100, &mut Vec::new()),
            Err("lookbehind overrun")
        );
        assert_eq!(
            decompress(&stream[..6], 100, &mut Vec::new()),
            Err("input overrun")
        );
        // the btrfs framing around it
        let mut framed = Vec::new();
        framed.extend(((8 + stream.len()) as u32).to_le_bytes());
        framed.extend((stream.len() as u32).to_le_bytes());
        framed.extend(stream);
        assert_eq!(btrfs_inflate(&framed, 4096, 4096).unwrap(), b"abcabcabcX");
        assert!(btrfs_inflate(&framed[..9], 4096, 4096).is_err());
    }
}
