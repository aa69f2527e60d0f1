//! Names from the evidence made safe to show. A suspect chooses image
//! names, file names, container names, labels and history comments; none
//! of them may reach the examiner's terminal as control sequences, or
//! forge a line in a line-oriented output (`SHA256SUMS`, `diff`, body
//! files, CSV, Dockerfiles).
//!
//! [`visible`] shows every control character (C0, DEL, C1), and the
//! Unicode controls that reorder or hide text (bidirectional overrides and
//! isolates, zero-width joiners; "Trojan Source", CVE-2021-42574), as an
//! escape (`\n`, `\x1b`, `\u{202e}`), and a backslash as `\\`, so the
//! escaped text is unambiguous. JSON outputs need none of this: JSON
//! escapes control characters itself and keeps the exact text; for
//! JSON-lines files, [`json_line`] also writes the characters JSON leaves
//! raw (DEL, C1, reordering, line separators) as `\uXXXX` escapes.

use std::borrow::Cow;

/// `s` with every character that could act on a terminal, or break a
/// line, shown as an escape.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// `s` with control and reordering characters escaped as by [`visible`],
/// but backslashes kept as they are: for text whose backslashes mean
/// something to the reader (shell commands in a Dockerfile).
pub fn controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\\' && needs_escape(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push(c),
            c => push_escaped(&mut out, c),
        }
    }
    Cow::Owned(out)
}

/// `bytes` (a name that need not be UTF-8) as [`visible`] text; bytes
/// that are not UTF-8 are shown as `\xNN`.
pub fn visible_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Serialized JSON (`serde_json` output) with the characters its
/// serializer leaves as they are but [`visible`] escapes (DEL, the C1
/// controls, the text-reordering characters) written as `\uXXXX`
/// escapes: the same JSON value, safe on one line of a text output (a
/// Dockerfile's exec-form arrays). Such characters only occur inside JSON
/// strings, where `\uXXXX` is the standard escape; all of them are in
/// the Basic Multilingual Plane.
pub fn json_controls(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| c != '\\' && needs_escape(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if c != '\\' && needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of a `SHA256SUMS` file in the form GNU `sha256sum -c` reads
/// back: a name with a backslash or a newline is escaped (`\\`, `\n`)
/// and the line starts with a backslash; other control characters are
/// kept out of the file the same way (as `\xNN` is not read back by
/// `sha256sum`, such names are written by their escaped form and say so
/// by the leading backslash).
pub fn sha256sums_line(sha256: &str, name: &str) -> String {
    if name.chars().any(needs_escape) {
        let mut esc = String::with_capacity(name.len() + 8);
        for c in name.chars() {
            match c {
                '\\' => esc.push_str("\\\\"),
                '\n' => esc.push_str("\\n"),
                c => push_escaped(&mut esc, c),
            }
        }
        format!("\\{sha256}  {esc}\n")
    } else {
        format!("{sha256}  {name}\n")
    }
}

/// A name from the evidence as one portable file name component: every
/// byte outside `[A-Za-z0-9._-]` percent-encoded (so no separator,
/// control character, reserved Windows character or `..` survives), and
/// a name that would still be special (`.`, `..`, empty, a reserved
/// Windows device name) prefixed with `%`. Distinct names stay distinct.
pub fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    const RESERVED: &[&str] = &["CON", "PRN", "AUX", "NUL"];
    let reserved = RESERVED.contains(&stem.as_str())
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if out.is_empty() || out == "." || out == ".." || reserved {
        out.insert(0, '%');
    }
    out
}

/// Longest output name made from an evidence name before it is cut and
/// told apart by a hash (every filesystem takes 255 bytes).
const NAME_MAX: usize = 96;

/// File names for several evidence names in one directory: each made
/// portable by [`file_name`], cut when very long, and, where two would
/// be the same on a case-insensitive filesystem (Windows, macOS: `Data`
/// and `data`) or after the cut, told apart by `~` and 8 hex digits of
/// the name's sha256 (`~` is never in a [`file_name`]). The same names in
/// the same order give the same files on every OS.
#[derive(Debug, Default)]
pub struct PortableNames {
    taken: std::collections::HashSet<String>,
}

impl PortableNames {
    /// The file name for `name`, distinct from every one given before.
    pub fn name_for(&mut self, name: &str) -> String {
        let mut out = file_name(name);
        let tag = || {
            let d = crate::digest::sha256_hex(name.as_bytes());
            format!("~{}", &d[..8])
        };
        if out.len() > NAME_MAX {
            let mut cut = NAME_MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str(&tag());
        }
        if self.taken.contains(&out.to_lowercase()) {
            out.push_str(&tag());
            let mut n = 1u32;
            let base = out.clone();
            while self.taken.contains(&out.to_lowercase()) {
                out = format!("{base}{n}");
                n += 1;
            }
        }
        self.taken.insert(out.to_lowercase());
        out
    }
}

/// `value` as one line of JSON (for JSON-lines files) whose raw bytes are
/// as safe as [`visible`] text: besides what JSON escapes itself, every
/// control character (DEL, C1), reordering or hiding format character and
/// Unicode line or paragraph separator is written as a `\uXXXX` escape.
/// A JSON reader gets the exact text back; a terminal, `less` or `grep`
/// over the file sees nothing that acts on it or breaks the line.
pub fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeJson);
    value.serialize(&mut ser)?;
    // Only valid UTF-8 is ever written (strings and ASCII escapes).
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// serde_json's compact output with [`json_line`]'s extra escapes.
struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() || is_format_control(c) || matches!(c, '\u{2028}' | '\u{2029}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the Basic Multilingual Plane.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_format_control(c)
}

/// Unicode format characters that reorder or hide text.
fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' // zero-width space/joiners, LRM, RLM
        | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{061c}' // Arabic letter mark
        | '\u{feff}' // zero-width no-break space
    )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || is_format_control(c) => {
            out.push_str(&format!("\\u{{{:x}}}", c as u32))
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_value_and_its_line() {
        let value = "a\u{7f}b\u{85}c\u{202e}d\ne\\";
        let json = serde_json::to_string(value).unwrap();
        let safe = json_controls(&json);
        assert_eq!(safe, r#""a\u007fb\u0085c\u202ed\ne\\""#);
        assert!(matches!(controls(&safe), Cow::Borrowed(_)));
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), value);
        assert!(matches!(json_controls(r#"["x","\n"]"#), Cow::Borrowed(_)));
    }

    #[test]
    fn plain_text_is_untouched() {
        assert!(matches!(
            visible("fixture/web:1.0 ünïcode"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn controls_and_reordering_are_shown() {
        assert_eq!(visible("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(visible("x\ny\r\t"), "x\\ny\\r\\t");
        assert_eq!(visible("a\\b"), "a\\\\b");
        assert_eq!(visible("\u{9b}31m"), "\\x9b31m");
        assert_eq!(visible("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(visible("\u{7f}"), "\\x7f");
        let escaped = visible("line1\nline2\x07");
        assert!(!escaped.chars().any(|c| c.is_control()));
    }

    #[test]
    fn file_names_are_one_portable_component() {
        assert_eq!(file_name("fxdata"), "fxdata");
        let mut names = PortableNames::default();
        let got: Vec<String> = ["..\\..\\x", "CON", "a:b", "Data", "data", "nul.txt"]
            .iter()
            .map(|n| names.name_for(n))
            .collect();
        assert_eq!(got[0], "..%5C..%5Cx");
        assert_eq!(got[1], "%CON");
        assert_eq!(got[2], "a%3Ab");
        assert_eq!(got[3], "Data");
        assert!(
            got[4].starts_with("data~") && got[4].len() == 13,
            "{}",
            got[4]
        );
        assert_eq!(got[5], "%nul.txt");
        let long = "x".repeat(400);
        let a = names.name_for(&long);
        let b = names.name_for(&format!("{long}y"));
        assert!(a.len() < 120 && b.len() < 120 && a != b);
        assert_eq!(file_name("../x"), "..%2Fx");
        assert_eq!(file_name(".."), "%..");
        assert_eq!(file_name("a:b\\c"), "a%3Ab%5Cc");
        assert_eq!(file_name("CON"), "%CON");
        assert_eq!(file_name("com1.tar"), "%com1.tar");
        assert_eq!(file_name("a\nb"), "a%0Ab");
        assert_ne!(file_name("a%2Fb"), file_name("a/b"));
    }

    #[test]
    fn json_lines_escape_what_json_leaves_raw() {
        let name = "a\u{1b}[2J\u{9b}b\u{202e}c\u{2028}d\u{7f}\n\"ü";
        let line = json_line(&serde_json::json!({ "path": name })).unwrap();
        assert_eq!(
            line,
            r#"{"path":"a\u001b[2J\u009bb\u202ec\u2028d\u007f\n\"ü"}"#
        );
        assert!(!line.chars().any(|c| c.is_control() || is_format_control(c)));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["path"], name);
    }

    #[test]
    fn controls_keeps_backslashes() {
        assert_eq!(controls("printf 'a\\n'\nRUN x"), "printf 'a\\n'\\nRUN x");
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        assert_eq!(visible_bytes(b"a\xffb\n"), "a\\xffb\\n");
    }

    #[test]
    fn sha256sums_lines_round_trip_as_gnu_does() {
        assert_eq!(
            sha256sums_line("ab", "layer_0/layer.tar"),
            "ab  layer_0/layer.tar\n"
        );
        let l = sha256sums_line("ab", "volumes/a\nb\\c.tar");
        assert_eq!(l, "\\ab  volumes/a\\nb\\\\c.tar\n");
        assert_eq!(l.matches('\n').count(), 1);
    }
}
