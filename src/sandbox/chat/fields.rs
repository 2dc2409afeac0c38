//! A strict reader of JSON request bodies shared by the four simulated APIs: it walks an object
//! knowing its field names, and reports the first thing wrong as a [`Problem`] (where, and
//! what), which each service then words its own way (Slack's `[ERROR] … [json-pointer:…]`,
//! Discord's nested `errors`, Telegram's `Bad Request: …`, Notion's `body.x should be …`).
//!
//! Strict like the sandbox carrier: a field the official description does not list is refused
//! ([`Kind::Unknown`]), where the real services mostly ignore it, so a misspelt or retired
//! field fails in tests instead of silently doing nothing.

use serde_json::{Map, Value};

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A position in the request body, from the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(pub Vec<Seg>);

impl Path {
    pub(crate) fn key(&self, key: &str) -> Path {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Path(segs)
    }

    pub(crate) fn index(&self, index: usize) -> Path {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Path(segs)
    }

    /// `/blocks/0/text` (RFC 6901, as Slack's `json-pointer`).
    pub(crate) fn pointer(&self) -> String {
        self.0
            .iter()
            .map(|seg| match seg {
                Seg::Key(key) => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
                Seg::Index(index) => format!("/{index}"),
            })
            .collect()
    }

    /// `properties.Name.title[0]` (JavaScript-style, as Notion words it, after `body.`).
    pub(crate) fn dotted(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(key) if out.is_empty() => out.push_str(key),
                Seg::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Seg::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    /// The last field name, e.g. `title` for `embeds[0].title`.
    pub(crate) fn leaf(&self) -> &str {
        self.0
            .iter()
            .rev()
            .find_map(|seg| match seg {
                Seg::Key(key) => Some(key.as_str()),
                Seg::Index(_) => None,
            })
            .unwrap_or("body")
    }
}

/// The JSON types a field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    /// Integer, or a string (Telegram's `chat_id`).
    IntegerOrString,
}

impl Type {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
            Type::Array => "array",
            Type::Object => "object",
            Type::IntegerOrString => "integer or string",
        }
    }
}

/// What is wrong at a [`Path`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// The description does not list this field.
    Unknown,
    Missing,
    WrongType {
        expected: Type,
        found: Value,
    },
    /// Longer than `max` characters (as the service counts them).
    TooLong {
        max: usize,
        actual: usize,
    },
    TooShort {
        min: usize,
        actual: usize,
    },
    TooMany {
        max: usize,
        actual: usize,
    },
    TooFew {
        min: usize,
        actual: usize,
    },
    NotOneOf {
        allowed: &'static [&'static str],
        found: Value,
    },
    OutOfRange {
        min: i64,
        max: i64,
        found: Value,
    },
    /// Anything else, worded for a person.
    Invalid(String),
    /// A rule with a code of the service's own (Discord's `URL_TYPE_INVALID_URL`…); other
    /// services show only the message.
    Coded {
        code: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub path: Path,
    pub kind: Kind,
}

impl Problem {
    pub(crate) fn new(path: Path, kind: Kind) -> Problem {
        Problem { path, kind }
    }

    pub(crate) fn invalid(path: Path, reason: impl Into<String>) -> Problem {
        Problem::new(path, Kind::Invalid(reason.into()))
    }

    pub(crate) fn coded(path: Path, code: &'static str, message: impl Into<String>) -> Problem {
        Problem::new(
            path,
            Kind::Coded {
                code,
                message: message.into(),
            },
        )
    }

    /// A plain English reason, for services that do not have their own wording.
    pub(crate) fn reason(&self) -> String {
        match &self.kind {
            Kind::Unknown => "is not a field of this request".to_owned(),
            Kind::Missing => "is required".to_owned(),
            Kind::WrongType { expected, .. } => format!("must be a {}", expected.name()),
            Kind::TooLong { max, .. } => format!("must be at most {max} characters"),
            Kind::TooShort { min, .. } => format!("must be at least {min} characters"),
            Kind::TooMany { max, .. } => format!("must have at most {max} items"),
            Kind::TooFew { min, .. } => format!("must have at least {min} items"),
            Kind::NotOneOf { allowed, .. } => format!("must be one of {}", allowed.join(", ")),
            Kind::OutOfRange { min, max, .. } => format!("must be between {min} and {max}"),
            Kind::Invalid(reason) => reason.clone(),
            Kind::Coded { message, .. } => message.clone(),
        }
    }
}

pub(crate) type Checked<T> = Result<T, Problem>;

/// How a service counts the length of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Unicode scalar values: Slack, Discord (Python `len`), Telegram.
    Chars,
    /// UTF-16 code units: Notion (JavaScript `.length`).
    Utf16,
}

impl Count {
    pub(crate) fn of(self, text: &str) -> usize {
        match self {
            Count::Chars => text.chars().count(),
            Count::Utf16 => text.encode_utf16().count(),
        }
    }
}

/// A JSON object whose fields are all among `known`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: &'a Path,
}

impl<'a> Obj<'a> {
    /// Refuses a non-object and the first field not in `known` (in the body's own order).
    pub(crate) fn new(value: &'a Value, path: &'a Path, known: &[&str]) -> Checked<Obj<'a>> {
        let map = value
            .as_object()
            .ok_or_else(|| wrong(path, Type::Object, value))?;
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Problem::new(path.key(unknown), Kind::Unknown));
        }
        Ok(Obj { map, path })
    }

    /// The value, absent when missing or `null` (the services treat both alike).
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn at(&self, name: &str) -> Path {
        self.path.key(name)
    }

    pub(crate) fn str(&self, name: &str) -> Checked<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong(&self.at(name), Type::String, other)),
        }
    }

    pub(crate) fn required_str(&self, name: &str) -> Checked<&'a str> {
        self.str(name)?
            .ok_or_else(|| Problem::new(self.at(name), Kind::Missing))
    }

    /// A string of at most `max` characters, counted as `count`.
    pub(crate) fn str_max(&self, name: &str, max: usize, count: Count) -> Checked<Option<&'a str>> {
        let text = self.str(name)?;
        if let Some(text) = text {
            check_len(&self.at(name), text, max, count)?;
        }
        Ok(text)
    }

    pub(crate) fn bool(&self, name: &str) -> Checked<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong(&self.at(name), Type::Boolean, other)),
        }
    }

    pub(crate) fn int(&self, name: &str) -> Checked<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong(&self.at(name), Type::Integer, value)),
        }
    }

    pub(crate) fn int_in(&self, name: &str, min: i64, max: i64) -> Checked<Option<i64>> {
        let found = self.int(name)?;
        if let Some(n) = found
            && !(min..=max).contains(&n)
        {
            return Err(Problem::new(
                self.at(name),
                Kind::OutOfRange {
                    min,
                    max,
                    found: Value::from(n),
                },
            ));
        }
        Ok(found)
    }

    pub(crate) fn array(&self, name: &str) -> Checked<Option<&'a Vec<Value>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(wrong(&self.at(name), Type::Array, other)),
        }
    }

    /// An array of at most `max` items.
    pub(crate) fn array_max(&self, name: &str, max: usize) -> Checked<Option<&'a Vec<Value>>> {
        let items = self.array(name)?;
        if let Some(items) = items
            && items.len() > max
        {
            return Err(Problem::new(
                self.at(name),
                Kind::TooMany {
                    max,
                    actual: items.len(),
                },
            ));
        }
        Ok(items)
    }

    pub(crate) fn one_of(
        &self,
        name: &str,
        allowed: &'static [&'static str],
    ) -> Checked<Option<&'a str>> {
        let found = self.str(name)?;
        if let Some(found) = found
            && !allowed.contains(&found)
        {
            return Err(Problem::new(
                self.at(name),
                Kind::NotOneOf {
                    allowed,
                    found: Value::from(found),
                },
            ));
        }
        Ok(found)
    }
}

pub(crate) fn wrong(path: &Path, expected: Type, found: &Value) -> Problem {
    Problem::new(
        path.clone(),
        Kind::WrongType {
            expected,
            found: found.clone(),
        },
    )
}

pub(crate) fn check_len(path: &Path, text: &str, max: usize, count: Count) -> Checked<()> {
    let actual = count.of(text);
    if actual > max {
        return Err(Problem::new(path.clone(), Kind::TooLong { max, actual }));
    }
    Ok(())
}

/// An `http` or `https` URL with a host: what the services accept for links and images.
pub(crate) fn is_web_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !url.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_as_each_service_words_them() {
        let path = Path::default().key("blocks").index(0).key("text");
        assert_eq!(path.pointer(), "/blocks/0/text");
        assert_eq!(path.dotted(), "blocks[0].text");
        assert_eq!(path.leaf(), "text");
        assert_eq!(Path::default().key("a/b~").pointer(), "/a~1b~0");
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let root = Path::default();
        let body = json!({"text": "hi", "txet": 1});
        let refused = Obj::new(&body, &root, &["text"]).map(|_| ());
        assert_eq!(refused, Err(Problem::new(root.key("txet"), Kind::Unknown)));
        let body = json!({"text": 5});
        let obj = Obj::new(&body, &root, &["text"]).expect("known fields");
        assert!(matches!(
            obj.str("text"),
            Err(Problem {
                kind: Kind::WrongType {
                    expected: Type::String,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn lengths_count_as_the_service_does() {
        assert_eq!(Count::Chars.of("😀"), 1);
        assert_eq!(Count::Utf16.of("😀"), 2);
        let root = Path::default();
        assert!(check_len(&root, "😀😀", 3, Count::Chars).is_ok());
        assert!(check_len(&root, "😀😀", 3, Count::Utf16).is_err());
    }

    #[test]
    fn web_urls_need_a_scheme_and_a_host() {
        assert!(is_web_url("https://example.com/x"));
        assert!(is_web_url("http://127.0.0.1:8080"));
        assert!(!is_web_url("ftp://example.com"));
        assert!(!is_web_url("https://"));
        assert!(!is_web_url("example.com"));
        assert!(!is_web_url("https://exa mple.com"));
    }
}
