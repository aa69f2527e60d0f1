//! LVM2's metadata text: its configuration syntax (`name { key = value … }`
//! with strings, integers and `[ … ]` lists; `#` comments), as LVM2's
//! `lib/config/config.c` reads it.

/// A parsed configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    List(Vec<Value>),
    Section(Vec<(String, Value)>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Section(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub(super) fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub(super) fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(super) fn items(&self) -> &[(String, Value)] {
        match self {
            Value::Section(items) => items,
            _ => &[],
        }
    }
}

/// Why metadata text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unterminated list")]
    UnterminatedList,
    #[error("unexpected {0}")]
    Unexpected(String),
    #[error("after {name}: unexpected {found}")]
    UnexpectedAfter { name: String, found: String },
    #[error("section {0} is not closed")]
    NotClosed(String),
    #[error("unexpected end of text")]
    UnexpectedEnd,
    #[error("sections nested too deeply")]
    TooDeep,
    #[error("nested list")]
    NestedList,
    #[error("missing value")]
    MissingValue,
    #[error("bad value {0:?}")]
    BadValue(String),
}

/// Parses LVM's configuration text into a top-level [`Value::Section`].
pub fn parse(text: &str) -> Result<Value, TextError> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let items = parse_items(&tokens, &mut pos, 0)?;
    if let Some(t) = tokens.get(pos) {
        return Err(TextError::Unexpected(format!("{t:?}")));
    }
    Ok(Value::Section(items))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, TextError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => while chars.next().is_some_and(|c| c != '\n') {},
            '{' | '}' | '[' | ']' | '=' | ',' => {
                chars.next();
                out.push(Tok::Punct(c));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(TextError::UnterminatedString),
                        Some('"') => break,
                        Some('\\') => s.extend(chars.next()),
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "{}[]=,\"#".contains(c) {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

fn parse_items(
    t: &[Tok],
    pos: &mut usize,
    depth: usize,
) -> Result<Vec<(String, Value)>, TextError> {
    if depth > 32 {
        return Err(TextError::TooDeep);
    }
    let mut items = Vec::new();
    while let Some(tok) = t.get(*pos) {
        let Tok::Word(name) = tok else {
            if *tok == Tok::Punct('}') && depth > 0 {
                return Ok(items);
            }
            return Err(TextError::Unexpected(format!("{tok:?}")));
        };
        *pos += 1;
        match t.get(*pos) {
            Some(Tok::Punct('{')) => {
                *pos += 1;
                let inner = parse_items(t, pos, depth + 1)?;
                if t.get(*pos) != Some(&Tok::Punct('}')) {
                    return Err(TextError::NotClosed(name.clone()));
                }
                *pos += 1;
                items.push((name.clone(), Value::Section(inner)));
            }
            Some(Tok::Punct('=')) => {
                *pos += 1;
                let v = parse_value(t, pos)?;
                items.push((name.clone(), v));
            }
            other => {
                return Err(TextError::UnexpectedAfter {
                    name: name.clone(),
                    found: format!("{other:?}"),
                });
            }
        }
    }
    if depth > 0 {
        return Err(TextError::UnexpectedEnd);
    }
    Ok(items)
}

fn parse_value(t: &[Tok], pos: &mut usize) -> Result<Value, TextError> {
    let tok = t.get(*pos).ok_or(TextError::MissingValue)?;
    *pos += 1;
    match tok {
        Tok::Str(s) => Ok(Value::Str(s.clone())),
        Tok::Word(w) => w
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| w.parse::<f64>().map(|_| Value::Str(w.clone())))
            .map_err(|_| TextError::BadValue(w.clone())),
        Tok::Punct('[') => {
            let mut list = Vec::new();
            loop {
                match t.get(*pos) {
                    Some(Tok::Punct(']')) => {
                        *pos += 1;
                        return Ok(Value::List(list));
                    }
                    Some(Tok::Punct(',')) => *pos += 1,
                    Some(_) => {
                        let v = parse_value(t, pos)?;
                        if matches!(v, Value::List(_)) {
                            return Err(TextError::NestedList);
                        }
                        list.push(v);
                    }
                    None => return Err(TextError::UnterminatedList),
                }
            }
        }
        Tok::Punct(c) => Err(TextError::Unexpected(format!("{c:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vg_text() {
        let t = "vg0 {\n id = \"abc\"\n extent_size = 8192 # 4M\n status = [\"READ\", \"WRITE\"]\n \
                 logical_volumes {\n docker {\n segment1 {\n start_extent = 0\n stripes = [\"pv0\", 0]\n }\n }\n }\n}\n\
                 contents = \"Text Format Volume Group\"\nversion = 1\n";
        let v = parse(t).unwrap();
        let vg = v.get("vg0").unwrap();
        assert_eq!(vg.int("extent_size"), Some(8192));
        let seg = vg
            .get("logical_volumes")
            .unwrap()
            .get("docker")
            .unwrap()
            .get("segment1")
            .unwrap();
        assert_eq!(
            seg.get("stripes"),
            Some(&Value::List(vec![Value::Str("pv0".into()), Value::Int(0)]))
        );
        assert_eq!(parse("a { b = 1"), Err(TextError::UnexpectedEnd));
        assert_eq!(parse("a = [1, [2]]"), Err(TextError::NestedList));
        assert_eq!(parse("a = \"x"), Err(TextError::UnterminatedString));
    }
}
