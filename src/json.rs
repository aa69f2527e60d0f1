//! JSON from the evidence, parsed with a nesting limit. serde_json stops
//! at 128 levels with an error, but skipping an unknown field does not
//! count levels, and a value that cannot be parsed must never turn into a
//! silent `null`: a config nested deeper than any engine writes is
//! refused up front, by name (`config_too_deep`), while its original
//! bytes are kept as found.

use serde::de::DeserializeOwned;

/// Deeper than any image config, manifest or index an engine writes
/// (Docker's and containerd's own Go decoders stop at 10,000; real
/// documents stay under 10).
pub const MAX_DEPTH: usize = 128;

/// Why a JSON document from the evidence was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Nested deeper than [`MAX_DEPTH`] levels.
    #[error("config_too_deep: nested more than {limit} levels deep (at byte {at})")]
    TooDeep {
        /// The limit that was passed.
        limit: usize,
        /// Where it was passed.
        at: usize,
    },
    /// Not the JSON expected.
    #[error("{0}")]
    Invalid(#[from] serde_json::Error),
}

/// The deepest nesting of arrays and objects in `bytes`, stopping with an
/// error past `limit` (strings, with their escapes, are skipped).
pub fn check_depth(bytes: &[u8], limit: usize) -> Result<(), JsonError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(JsonError::TooDeep { limit, at });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses `bytes` as `T` after checking their depth.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    check_depth(bytes, MAX_DEPTH)?;
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        assert!(check_depth(br#"{"a":[1,{"b":"[[[[[[["}]}"#, 3).is_ok());
        assert!(check_depth(br#"{"a":"\"[[[["}"#, 1).is_ok());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            check_depth(deep.as_bytes(), 128),
            Err(JsonError::TooDeep { at: 128, .. })
        ));
        assert!(parse::<serde_json::Value>(deep.as_bytes()).is_err());
        assert!(parse::<serde_json::Value>(b"{\"x\":[[1]]}").is_ok());
    }
}
