//! The small binary encodings containerd puts in its bbolt values.
//!
//! - sizes: Go `encoding/binary.PutVarint` (zig-zag signed varint), as in
//!   containerd `metadata/images.go` / `content.go` (`size` keys);
//!   snapshot ids: `binary.PutUvarint` (`snapshots/storage/bolt.go`);
//! - times: Go `time.Time.MarshalBinary` (`createdat`/`updatedat`, via
//!   containerd `metadata/boltutil/helpers.go`): version byte 1 or 2,
//!   seconds since 0001-01-01 (u64 big-endian), nanoseconds (u32 BE),
//!   zone offset in minutes (i16 BE, -1 = UTC) and, in version 2, the
//!   offset's extra seconds (one byte);
//! - container specs and runtime options: a protobuf `google.protobuf.Any`
//!   (`type_url` = field 1, `value` = field 2).

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};

/// Seconds from 0001-01-01 to 1970-01-01 (Go `unixToInternal`).
const UNIX_TO_INTERNAL: i64 = 62_135_596_800;

/// Decodes an unsigned LEB128 varint that fills `b` exactly.
pub fn uvarint(b: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate() {
        if i >= 10 {
            return None;
        }
        v |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return (i + 1 == b.len()).then_some(v);
        }
    }
    None
}

/// Decodes a zig-zag signed varint that fills `b` exactly.
pub fn varint(b: &[u8]) -> Option<i64> {
    let u = uvarint(b)?;
    let v = (u >> 1) as i64;
    Some(if u & 1 != 0 { !v } else { v })
}

/// Decodes a Go `time.Time` binary encoding.
pub fn go_time(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    let (version, rest) = b.split_first()?;
    let want = match version {
        1 => 14,
        2 => 15,
        _ => return None,
    };
    if rest.len() != want {
        return None;
    }
    let sec = i64::from_be_bytes(rest[0..8].try_into().ok()?);
    let nsec = u32::from_be_bytes(rest[8..12].try_into().ok()?);
    let offset_min = i16::from_be_bytes(rest[12..14].try_into().ok()?);
    let extra = if *version == 2 {
        i32::from(rest[14])
    } else {
        0
    };
    let unix = sec.checked_sub(UNIX_TO_INTERNAL)?;
    let utc = Utc.timestamp_opt(unix, nsec).single()?;
    let offset = if offset_min == -1 {
        0
    } else {
        i32::from(offset_min) * 60 + extra
    };
    Some(utc.with_timezone(&FixedOffset::east_opt(offset)?))
}

/// A Go binary time as RFC 3339 with nanoseconds, or `None`.
pub fn go_time_rfc3339(b: &[u8]) -> Option<String> {
    go_time(b).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A decoded `google.protobuf.Any`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Any {
    pub type_url: String,
    pub value: Vec<u8>,
}

/// Decodes a protobuf `Any` message; unknown fields are skipped, a
/// truncated message is `None`.
pub fn protobuf_any(mut b: &[u8]) -> Option<Any> {
    let mut out = Any::default();
    while !b.is_empty() {
        let (key, n) = take_uvarint(b)?;
        b = &b[n..];
        let field = key >> 3;
        match key & 7 {
            0 => {
                let (_, n) = take_uvarint(b)?;
                b = &b[n..];
            }
            1 => b = b.get(8..)?,
            5 => b = b.get(4..)?,
            2 => {
                let (len, n) = take_uvarint(b)?;
                let len = usize::try_from(len).ok()?;
                let data = b.get(n..n.checked_add(len)?)?;
                match field {
                    1 => out.type_url = String::from_utf8_lossy(data).into_owned(),
                    2 => out.value = data.to_vec(),
                    _ => {}
                }
                b = &b[n + len..];
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A varint at the start of `b`: (value, bytes used).
fn take_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let end = b.iter().position(|x| x & 0x80 == 0)?;
    Some((uvarint(&b[..=end])?, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_go_writes_them() {
        // PutVarint(579) = 0x86 0x09; PutUvarint(300) = 0xac 0x02.
        assert_eq!(varint(&[0x86, 0x09]), Some(579));
        assert_eq!(varint(&[0x01]), Some(-1));
        assert_eq!(uvarint(&[0xac, 0x02]), Some(300));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0x01, 0x02]), None);
    }

    #[test]
    fn go_time_binary() {
        // 2026-11-26T14:53:17Z written by containerd (UTC, version 1).
        let b = [
            1, 0, 0, 0, 0x0e, 0xe2, 0x9a, 0x3e, 0xfd, 0x0d, 0x95, 0x66, 0x83, 0xff, 0xff,
        ];
        let t = go_time(&b).unwrap();
        assert_eq!(t.timestamp(), 0x0e_e29a_3efd - UNIX_TO_INTERNAL);
        assert_eq!(t.timestamp_subsec_nanos(), 0x0d95_6683);
        assert!(go_time_rfc3339(&b).unwrap().ends_with('Z'));
        assert!(go_time(&b[..10]).is_none());
    }

    #[test]
    fn protobuf_any_fields() {
        let mut m = vec![0x0a, 3, b'a', b'/', b'b', 0x12, 2, b'{', b'}'];
        let a = protobuf_any(&m).unwrap();
        assert_eq!(a.type_url, "a/b");
        assert_eq!(a.value, b"{}");
        m.truncate(7);
        assert!(protobuf_any(&m).is_none());
    }
}
