//! Times as the examiner sees them: every instant shown in a table, a CSV
//! or a JSON-lines timeline is RFC 3339 in UTC with a `Z`, whatever offset
//! or precision the engine recorded it with. JSON documents keep the
//! engine's value where it is already UTC (`Z`), with its precision, and
//! convert any other offset to UTC ([`utc`]); the records as found are
//! kept, as found, beside an export.

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

/// An RFC 3339 time as recorded by an engine (with an offset or a `Z`,
/// any number of fractional digits), as an instant in UTC.
pub fn parse(recorded: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(recorded)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A recorded time for a table column: `2026-11-26T14:32:21Z`, in UTC,
/// cut (never rounded) to the second. A value that is no RFC 3339 time is
/// shown as recorded, so nothing is hidden.
pub fn to_seconds(recorded: &str) -> Cow<'_, str> {
    match parse(recorded) {
        Some(t) => Cow::Owned(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => Cow::Borrowed(recorded),
    }
}

/// A recorded time for a JSON document: as recorded when it is already
/// UTC (`…Z`) or no RFC 3339 time at all (so nothing is hidden), else the
/// same instant in UTC with the recorded precision (up to nanoseconds).
pub fn utc(recorded: &str) -> Cow<'_, str> {
    if recorded.ends_with('Z') || recorded.ends_with('z') {
        return Cow::Borrowed(recorded);
    }
    match parse(recorded) {
        Some(t) => Cow::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => Cow::Borrowed(recorded),
    }
}

/// Serializes an optional recorded time through [`utc`]
/// (`serialize_with`).
pub fn serialize_utc<S: serde::Serializer>(t: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&utc(t)),
        None => s.serialize_none(),
    }
}

/// Seconds and nanoseconds since the epoch in UTC, to the nanosecond
/// (`2026-11-26T14:32:21.130800793Z`); `None` beyond what a date can
/// show (only damaged evidence has such times).
pub fn rfc3339_nanos(secs: i64, nanos: u32) -> Option<String> {
    DateTime::from_timestamp(secs, nanos).map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_times_are_utc_and_keep_their_precision() {
        assert_eq!(
            utc("2026-11-26T14:32:21.130800793Z"),
            "2026-11-26T14:32:21.130800793Z"
        );
        assert_eq!(
            utc("2026-11-26T15:32:21.130800793+01:00"),
            "2026-11-26T14:32:21.130800793Z"
        );
        assert_eq!(utc("2026-11-26T09:32:21-05:00"), "2026-11-26T14:32:21Z");
        assert_eq!(utc("yesterday"), "yesterday");
    }

    #[test]
    fn offsets_and_nanoseconds_become_utc_seconds() {
        assert_eq!(
            to_seconds("2026-11-26T14:32:21.130800793Z"),
            "2026-11-26T14:32:21Z"
        );
        assert_eq!(
            to_seconds("2026-11-26T15:32:21.999999999+01:00"),
            "2026-11-26T14:32:21Z"
        );
        assert_eq!(
            to_seconds("2026-11-26T23:30:00-05:00"),
            "2026-11-27T04:30:00Z"
        );
        assert_eq!(to_seconds("yesterday"), "yesterday");
    }

    #[test]
    fn instants_to_the_nanosecond() {
        assert_eq!(
            rfc3339_nanos(1_795_703_541, 130_800_793).as_deref(),
            Some("2026-11-26T14:32:21.130800793Z")
        );
        assert_eq!(rfc3339_nanos(i64::MAX, 0), None);
    }
}
