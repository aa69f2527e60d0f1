//! Checked reading of little- and big-endian integers from byte buffers.
//!
//! Every format reader of the evidence floor (EWF, LVM2, XFS, bbolt) takes
//! integers out of buffers read from the evidence. Offsets and lengths come
//! from the evidence too, so they are claims: a read that does not fit in
//! the buffer is a [`ShortInput`] error here, never an index panic.
//!
//! Two ways to read, both checked:
//! - positioned: [`u32_le`]`(buf, at)` and friends, for fixed layouts
//!   described as "field at byte N";
//! - sequential: a [`Reader`] cursor, for records read one field after the
//!   other.

/// A read of `want` bytes at `at` did not fit in a buffer of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{want} bytes at offset {at} run past the end of the {len}-byte buffer")]
pub struct ShortInput {
    /// Where the read started.
    pub at: usize,
    /// How many bytes it wanted.
    pub want: usize,
    /// The length of the buffer.
    pub len: usize,
}

/// The `want` bytes of `buf` at `at`.
pub fn bytes_at(buf: &[u8], at: usize, want: usize) -> Result<&[u8], ShortInput> {
    at.checked_add(want)
        .and_then(|end| buf.get(at..end))
        .ok_or(ShortInput {
            at,
            want,
            len: buf.len(),
        })
}

/// The `N` bytes of `buf` at `at`, as an array.
pub fn array_at<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], ShortInput> {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes_at(buf, at, N)?);
    Ok(out)
}

/// The byte of `buf` at `at`.
pub fn u8_at(buf: &[u8], at: usize) -> Result<u8, ShortInput> {
    Ok(array_at::<1>(buf, at)?[0])
}

macro_rules! positioned {
    ($($name:ident: $t:ty, $from:ident, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub fn $name(buf: &[u8], at: usize) -> Result<$t, ShortInput> {
            array_at(buf, at).map(<$t>::$from)
        }
    )*};
}

positioned! {
    u16_le: u16, from_le_bytes, "A little-endian `u16` of `buf` at `at`.";
    u32_le: u32, from_le_bytes, "A little-endian `u32` of `buf` at `at`.";
    u64_le: u64, from_le_bytes, "A little-endian `u64` of `buf` at `at`.";
    u16_be: u16, from_be_bytes, "A big-endian `u16` of `buf` at `at`.";
    u32_be: u32, from_be_bytes, "A big-endian `u32` of `buf` at `at`.";
    u64_be: u64, from_be_bytes, "A big-endian `u64` of `buf` at `at`.";
}

/// A cursor over a byte buffer: each read takes the next bytes, or fails
/// with [`ShortInput`] (leaving the position unchanged) when too few are
/// left.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

macro_rules! sequential {
    ($($name:ident: $t:ty, $from:ident, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub fn $name(&mut self) -> Result<$t, ShortInput> {
            self.array().map(<$t>::$from)
        }
    )*};
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// A cursor at `pos` of `buf` (which may be past its end: the first
    /// read then fails).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    /// The current position, from the start of the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left after the position.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ShortInput> {
        let out = bytes_at(self.buf, self.pos, n)?;
        self.pos += n;
        Ok(out)
    }

    /// Skips `n` bytes (which must exist).
    pub fn skip(&mut self, n: usize) -> Result<(), ShortInput> {
        self.bytes(n).map(drop)
    }

    /// The next `N` bytes, as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ShortInput> {
        let out = array_at(self.buf, self.pos)?;
        self.pos += N;
        Ok(out)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Result<u8, ShortInput> {
        Ok(self.array::<1>()?[0])
    }

    sequential! {
        u16_le: u16, from_le_bytes, "The next little-endian `u16`.";
        u32_le: u32, from_le_bytes, "The next little-endian `u32`.";
        u64_le: u64, from_le_bytes, "The next little-endian `u64`.";
        u16_be: u16, from_be_bytes, "The next big-endian `u16`.";
        u32_be: u32, from_be_bytes, "The next big-endian `u32`.";
        u64_be: u64, from_be_bytes, "The next big-endian `u64`.";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn positioned_reads_in_both_orders() {
        assert_eq!(u8_at(&B, 7), Ok(8));
        assert_eq!(u16_le(&B, 0), Ok(0x0201));
        assert_eq!(u16_be(&B, 0), Ok(0x0102));
        assert_eq!(u32_le(&B, 4), Ok(0x0807_0605));
        assert_eq!(u32_be(&B, 4), Ok(0x0506_0708));
        assert_eq!(u64_le(&B, 0), Ok(0x0807_0605_0403_0201));
        assert_eq!(u64_be(&B, 0), Ok(0x0102_0304_0506_0708));
        assert_eq!(bytes_at(&B, 2, 3), Ok(&B[2..5]));
        assert_eq!(bytes_at(&B, 8, 0), Ok(&[][..]));
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        let short = |at, want| ShortInput {
            at,
            want,
            len: B.len(),
        };
        assert_eq!(u32_le(&B, 5), Err(short(5, 4)));
        assert_eq!(u64_be(&B, 1), Err(short(1, 8)));
        assert_eq!(u8_at(&B, 8), Err(short(8, 1)));
        assert_eq!(u16_le(&B, usize::MAX), Err(short(usize::MAX, 2)));
        assert_eq!(bytes_at(&B, usize::MAX, 2), Err(short(usize::MAX, 2)));
        assert_eq!(bytes_at(&B, 9, 0), Err(short(9, 0)));
        let e = u32_le(&B, 6).unwrap_err().to_string();
        assert_eq!(
            e,
            "4 bytes at offset 6 run past the end of the 8-byte buffer"
        );
    }

    #[test]
    fn reader_moves_forward_and_stays_put_on_error() {
        let mut r = Reader::new(&B);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16_be(), Ok(0x0203));
        r.skip(1).unwrap();
        assert_eq!(r.pos(), 4);
        assert_eq!(r.remaining(), 4);
        assert!(r.u64_le().is_err());
        assert_eq!(r.pos(), 4);
        assert_eq!(r.u32_le(), Ok(0x0807_0605));
        assert_eq!(r.remaining(), 0);
        assert!(r.skip(1).is_err());
        assert_eq!(r.bytes(0), Ok(&[][..]));
        let mut far = Reader::at(&B, 100);
        assert_eq!(far.remaining(), 0);
        assert!(far.u8().is_err());
        let mut r = Reader::at(&B, 6);
        assert_eq!(r.array::<2>(), Ok([7, 8]));
        assert_eq!(r.u16_le().unwrap_err().at, 8);
        assert_eq!(Reader::at(&B, 2).u32_be(), Ok(0x0304_0506));
        assert_eq!(Reader::at(&B, 2).u16_le(), Ok(0x0403));
        assert_eq!(Reader::at(&B, 0).u64_be(), Ok(0x0102_0304_0506_0708));
    }
}
