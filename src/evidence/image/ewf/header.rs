//! The `header2` / `header` sections of an EWF v1 image: zlib-compressed
//! acquisition metadata as tab-separated text (UTF-16LE or ASCII), after
//! the libewf documentation's "Header section" chapter (category `main`:
//! a line of identifiers, then a line of values).

use super::{Acquisition, MAX_HEADER};
use crate::evidence::bytes::Reader;
use std::io::{self, Read};

pub(super) fn inflate_header(body: &[u8], utf16: bool) -> io::Result<String> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_HEADER)
        .read_to_end(&mut raw)?;
    if utf16 {
        let mut units = Vec::with_capacity(raw.len() / 2);
        let mut r = Reader::new(&raw);
        while let Ok(u) = r.u16_le() {
            units.push(u);
        }
        if units.first() == Some(&0xfeff) {
            units.remove(0);
        }
        Ok(String::from_utf16_lossy(&units))
    } else {
        Ok(raw.iter().map(|&b| b as char).collect())
    }
}

/// Fills `acq` from the "main" category of a header text: a line of
/// identifiers and a line of values, tab-separated.
pub(super) fn parse_header_text(text: &str, header2: bool, acq: &mut Acquisition) {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let Some(main) = lines.iter().position(|l| *l == "main") else {
        return;
    };
    let (Some(keys), Some(values)) = (lines.get(main + 1), lines.get(main + 2)) else {
        return;
    };
    for (k, v) in keys.split('\t').zip(values.split('\t')) {
        if v.is_empty() {
            continue;
        }
        let v = Some(v.to_string());
        match k {
            "c" => acq.case_number = v,
            "n" => acq.evidence_number = v,
            "a" => acq.description = v,
            "e" => acq.examiner = v,
            "t" => acq.notes = v,
            "av" => acq.acquisition_software = v,
            "ov" => acq.acquisition_os = v,
            "md" => acq.model = v,
            "sn" => acq.serial_number = v,
            "u" => {
                acq.system_date_utc = if header2 { epoch_utc(&v) } else { None };
                acq.system_date = v;
            }
            "m" => {
                acq.acquisition_date_utc = if header2 { epoch_utc(&v) } else { None };
                acq.acquisition_date = v;
            }
            _ => {}
        }
    }
}

/// `header2` keeps dates as seconds since the epoch: RFC 3339 UTC (`Z`).
pub(super) fn epoch_utc(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
