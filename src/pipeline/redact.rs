//! Redaction: strips PII and secrets from event payloads before they leave Klaxon.
//!
//! A [`RedactSpec`] (from settings) names the fields to clean, the built-in [`PiiKind`]s to
//! look for and any extra regexes; [`Redactor::new`] compiles it once at settings load, and the
//! one [`Redactor`] is then shared by every worker (it is `Send + Sync`; wrap it in an `Arc`).
//! Each finding becomes `[REDACTED:<kind>]`, so a reader still sees what was there.
//!
//! Detection is conservative on purpose, because a payload that loses its order ids and
//! timestamps is useless to the person paged: a card must pass Luhn, an IBAN its mod-97
//! checksum, an address must parse, a phone number needs a phone's shape, and a number glued
//! to a longer token (`2024-415-555-0123`) is left alone. How each kind is found, and what is
//! not, is documented on [`PiiKind`]. `detect.rs` finds candidates, `runs.rs` keeps the
//! regexes off plain prose (a 2 KB support ticket costs about a microsecond), and `checks.rs`
//! confirms candidates.
//!
//! This module does not decide when to redact (the pipeline does), never logs what it
//! removes, and leaves object keys alone: they are the payload's schema, not its data.

mod checks;
mod detect;
mod runs;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use detect::BuiltinDetector;

/// A built-in kind of sensitive data. Only ASCII forms are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiKind {
    /// `alice@example.com`: a dotted domain with a letter TLD is required (`root@localhost`
    /// is not found), and the local part is ASCII.
    Email,
    /// `+14155550123`, `+44 20 7946 0958`, `+49 30 901820`, `+1 (415) 555-0123`,
    /// `(415) 555-0123`, `415-555-0123`, `1-800-555-0199`: with a `+`, 8 to 15 digits in
    /// groups; without, the North American shape. Not found: national numbers outside North
    /// America written without `+` (`020 7946 0958`), 7-digit local numbers, and bare digit
    /// runs (too often ids).
    Phone,
    /// 13 to 19 digits, contiguous or grouped 4-4-4-4 / 4-6-5 / 4-6-4, starting 2 to 6 and
    /// passing Luhn. A random 16-digit id that starts 2 to 6 passes Luhn one time in ten.
    Card,
    /// US Social Security numbers written `123-45-6789`, minus never-issued ranges. Undashed
    /// nine-digit runs are not found.
    Ssn,
    /// IPv4 in dotted quads, IPv6 in full, compressed or IPv4-mapped form. A four-part version
    /// number such as `1.2.3.4` is indistinguishable from an address and is redacted.
    Ip,
    /// Upper-case IBANs, grouped by four or contiguous, with a valid mod-97 checksum.
    Iban,
    /// `Bearer`/`Basic` credentials, Stripe (`sk_live_`, `rk_live_`, `whsec_`), OpenAI-style
    /// `sk-…`, GitHub (`ghp_`, `github_pat_`), Slack (`xoxb-`, `xoxp-` …), AWS access key ids
    /// (`AKIA…`), Google API keys (`AIza…`), JWTs and PEM private keys. Passwords in free
    /// text, `password=…` pairs and unprefixed random tokens are not found.
    Secret,
}

impl PiiKind {
    /// Every built-in kind; what an absent [`RedactSpec::kinds`] means.
    pub const ALL: [PiiKind; 7] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Ssn,
        PiiKind::Ip,
        PiiKind::Iban,
        PiiKind::Secret,
    ];

    /// The name used in settings and in the replacement text.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Card => "card",
            PiiKind::Ssn => "ssn",
            PiiKind::Ip => "ip",
            PiiKind::Iban => "iban",
            PiiKind::Secret => "secret",
        }
    }

    fn replacement(self) -> &'static str {
        match self {
            PiiKind::Email => "[REDACTED:email]",
            PiiKind::Phone => "[REDACTED:phone]",
            PiiKind::Card => "[REDACTED:card]",
            PiiKind::Ssn => "[REDACTED:ssn]",
            PiiKind::Ip => "[REDACTED:ip]",
            PiiKind::Iban => "[REDACTED:iban]",
            PiiKind::Secret => "[REDACTED:secret]",
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PiiKind {
    type Err = RedactError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        PiiKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| RedactError::UnknownKind {
                given: name.to_owned(),
            })
    }
}

/// What to redact, as written in settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSpec {
    /// Dotted paths to clean: `body`, `customer.email`, `comments.*.text`. `*` is every array
    /// item or object value, a number indexes an array, and a path that ends on an object or
    /// array cleans everything under it. Missing paths are skipped. `None` cleans every string
    /// in the payload.
    pub fields: Option<Vec<String>>,
    /// The built-in kinds to look for; `None` means all of [`PiiKind::ALL`].
    pub kinds: Option<Vec<PiiKind>>,
    /// Extra patterns, applied before the built-in kinds.
    #[serde(default)]
    pub patterns: Vec<CustomPattern>,
}

/// A user-supplied regex; every non-empty match becomes `[REDACTED:<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Appears in the replacement text: a letter, then letters, digits, `_` or `-`.
    pub name: String,
    /// Rust `regex` syntax.
    pub regex: String,
}

/// Why a [`RedactSpec`] cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RedactError {
    /// A custom pattern's regex does not compile; `reason` is the regex crate's explanation.
    #[error("redaction pattern `{name}` is not a valid regex: {reason}")]
    InvalidPattern { name: String, reason: regex::Error },
    /// A custom pattern's name would not read well inside `[REDACTED:<name>]`.
    #[error(
        "redaction pattern name `{name}` must be 1 to {MAX_PATTERN_NAME_LEN} characters: \
         a letter, then letters, digits, `_` or `-`"
    )]
    InvalidPatternName { name: String },
    /// A field path is empty or has an empty segment (`customer..email`).
    #[error(
        "redaction field path `{path}` has an empty segment; write dotted keys such as \
         `customer.email` or `comments.*.text`"
    )]
    InvalidFieldPath { path: String },
    /// A kind name that is not one of [`PiiKind::ALL`].
    #[error(
        "unknown PII kind `{given}`; expected one of email, phone, card, ssn, ip, iban, secret"
    )]
    UnknownKind { given: String },
}

/// Names end up inside every replacement, so they stay short.
const MAX_PATTERN_NAME_LEN: usize = 64;

/// A compiled [`RedactSpec`]: cheap to call, safe to share between threads.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// `None`: every string in the payload.
    fields: Option<Vec<FieldPath>>,
    /// `None` when the spec enables no built-in kind.
    builtin: Option<BuiltinDetector>,
    custom: Vec<CompiledPattern>,
}

impl Redactor {
    /// Compiles `spec`; fails on a bad field path, pattern name or regex.
    pub fn new(spec: &RedactSpec) -> Result<Self, RedactError> {
        let fields = spec
            .fields
            .as_ref()
            .map(|paths| paths.iter().map(|path| FieldPath::parse(path)).collect())
            .transpose()?;
        let kinds = spec.kinds.as_deref().unwrap_or(&PiiKind::ALL);
        let custom = spec
            .patterns
            .iter()
            .map(CompiledPattern::new)
            .collect::<Result<_, _>>()?;
        Ok(Redactor {
            fields,
            builtin: BuiltinDetector::new(kinds),
            custom,
        })
    }

    /// Redacts the selected fields of `payload` in place and returns how many findings were
    /// replaced. Numbers, booleans and nulls are never touched.
    pub fn redact_value(&self, payload: &mut Value) -> usize {
        match &self.fields {
            None => self.redact_every_string(payload),
            Some(paths) => paths
                .iter()
                .map(|path| self.redact_at(payload, &path.0))
                .sum(),
        }
    }

    /// Redacts one string; borrows it back untouched (no allocation) when nothing is found.
    pub fn redact_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.redact_counting(text).0
    }

    fn redact_counting<'t>(&self, text: &'t str) -> (Cow<'t, str>, usize) {
        let mut current = Cow::Borrowed(text);
        let mut replaced = 0;
        // Custom patterns go first: they encode what the operator knows about their own data,
        // and win over a built-in kind that would read the same text differently.
        for pattern in &self.custom {
            current = rewrite(current, &mut replaced, |text, replace| {
                pattern.for_each_match(text, replace)
            });
        }
        for pass in self.builtin.iter().flat_map(BuiltinDetector::passes) {
            current = rewrite(current, &mut replaced, |text, replace| {
                pass.for_each_finding(text, |kind, span| replace(span, kind.replacement()))
            });
        }
        (current, replaced)
    }

    fn redact_string(&self, text: &mut String) -> usize {
        let (redacted, replaced) = self.redact_counting(text);
        if let Cow::Owned(redacted) = redacted {
            *text = redacted;
        }
        replaced
    }

    fn redact_every_string(&self, value: &mut Value) -> usize {
        match value {
            Value::String(text) => self.redact_string(text),
            Value::Array(items) => items
                .iter_mut()
                .map(|item| self.redact_every_string(item))
                .sum(),
            Value::Object(map) => map
                .values_mut()
                .map(|item| self.redact_every_string(item))
                .sum(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }

    fn redact_at(&self, value: &mut Value, path: &[PathSegment]) -> usize {
        let Some((segment, rest)) = path.split_first() else {
            return self.redact_every_string(value);
        };
        match (segment, value) {
            (PathSegment::Any, Value::Object(map)) => map
                .values_mut()
                .map(|child| self.redact_at(child, rest))
                .sum(),
            (PathSegment::Any, Value::Array(items)) => items
                .iter_mut()
                .map(|child| self.redact_at(child, rest))
                .sum(),
            (PathSegment::Key { name, .. }, Value::Object(map)) => map
                .get_mut(name.as_str())
                .map_or(0, |child| self.redact_at(child, rest)),
            (
                PathSegment::Key {
                    index: Some(index), ..
                },
                Value::Array(items),
            ) => items
                .get_mut(*index)
                .map_or(0, |child| self.redact_at(child, rest)),
            _ => 0,
        }
    }
}

/// One dotted field path, split once at compile time.
#[derive(Debug, Clone)]
struct FieldPath(Vec<PathSegment>);

#[derive(Debug, Clone)]
enum PathSegment {
    /// An object key; `index` is set when the key is also a valid array index (`items.0`).
    Key { name: String, index: Option<usize> },
    /// `*`: every array item or object value.
    Any,
}

impl FieldPath {
    fn parse(path: &str) -> Result<Self, RedactError> {
        path.split('.')
            .map(|segment| match segment {
                "" => Err(RedactError::InvalidFieldPath {
                    path: path.to_owned(),
                }),
                "*" => Ok(PathSegment::Any),
                name => Ok(PathSegment::Key {
                    name: name.to_owned(),
                    index: name.parse().ok(),
                }),
            })
            .collect::<Result<_, _>>()
            .map(FieldPath)
    }
}

#[derive(Debug, Clone)]
struct CompiledPattern {
    regex: Regex,
    replacement: String,
}

impl CompiledPattern {
    fn new(pattern: &CustomPattern) -> Result<Self, RedactError> {
        let name = pattern.name.as_str();
        let is_valid_name = name.len() <= MAX_PATTERN_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !is_valid_name {
            return Err(RedactError::InvalidPatternName {
                name: name.to_owned(),
            });
        }
        let regex = Regex::new(&pattern.regex).map_err(|reason| RedactError::InvalidPattern {
            name: name.to_owned(),
            reason,
        })?;
        Ok(CompiledPattern {
            regex,
            replacement: format!("[REDACTED:{name}]"),
        })
    }

    fn for_each_match(&self, text: &str, replace: &mut dyn FnMut(Range<usize>, &str)) {
        // A pattern such as `x*` also matches the empty string between characters; there is
        // nothing there to remove, and replacing it would stuff markers between every letter.
        for found in self.regex.find_iter(text).filter(|found| !found.is_empty()) {
            replace(found.range(), &self.replacement);
        }
    }
}

/// Runs one detector over `current` and returns the text with its findings replaced, adding
/// their number to `replaced`. `detect` reports findings left to right, without overlaps;
/// nothing is allocated unless it reports one.
fn rewrite<'t>(
    current: Cow<'t, str>,
    replaced: &mut usize,
    detect: impl FnOnce(&str, &mut dyn FnMut(Range<usize>, &str)),
) -> Cow<'t, str> {
    let original: &str = &current;
    let mut output = String::new();
    let mut copied_up_to = 0;
    let mut findings = 0;
    detect(original, &mut |span, replacement| {
        if findings == 0 {
            output.reserve(original.len() + replacement.len());
        }
        output.push_str(&original[copied_up_to..span.start]);
        output.push_str(replacement);
        copied_up_to = span.end;
        findings += 1;
    });
    if findings == 0 {
        return current;
    }
    output.push_str(&original[copied_up_to..]);
    *replaced += findings;
    Cow::Owned(output)
}
