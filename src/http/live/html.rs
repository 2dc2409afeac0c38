//! HTML escaping for the live page. Events carry customer data (ticket subjects, names,
//! phone numbers), so every value from the store goes through [`Esc`] on its way into the
//! page, in text and in attribute values alike; only the page's own markup is written raw.
//! [`Esc`] also replaces control characters (NUL and the rest of C0 and C1, except tab, line
//! feed and carriage return) with U+FFFD: HTML forbids them, and a NUL in the page is where
//! parsers disagree.

use std::fmt;

/// Writes its text with `& < > " '` escaped and control characters replaced, so it is safe
/// between tags and inside a quoted attribute. Use it in `write!`:
/// `write!(out, "<td>{}</td>", Esc(&event.event_type))`.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(needs_escape) {
            f.write_str(&rest[..at])?;
            let Some(c) = rest[at..].chars().next() else {
                break;
            };
            f.write_str(match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => "\u{fffd}",
            })?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    matches!(c, '&' | '<' | '>' | '"' | '\'') || is_unsafe_control(c)
}

/// Control characters that must not reach a document raw: all of them but tab, line feed and
/// carriage return, which are ordinary whitespace in HTML.
fn is_unsafe_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// `text` escaped, as a `String`.
pub fn escape(text: &str) -> String {
    Esc(text).to_string()
}

/// A class name made from data (a state, a label): only `a-z`, `0-9` and `-` survive, so a
/// stored value can pick a colour but never break out of the attribute.
pub fn class_token(text: &str) -> String {
    text.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The `HH:MM:SS` of an RFC 3339 time, for the page's narrow columns (the full time goes in
/// a `title`).
pub fn clock_time(rfc3339: &str) -> &str {
    rfc3339.get(11..19).unwrap_or(rfc3339)
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_data_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
        );
        assert_eq!(
            escape("Tom & Jerry's <b>"),
            "Tom &amp; Jerry&#39;s &lt;b&gt;"
        );
        assert_eq!(
            escape("&amp;"),
            "&amp;amp;",
            "already-escaped text is escaped again"
        );
    }

    #[test]
    fn plain_and_non_ascii_text_is_unchanged() {
        assert_eq!(escape(""), "");
        assert_eq!(escape("Zürich — 東京 ☎"), "Zürich — 東京 ☎");
        assert_eq!(escape("a<é>b"), "a&lt;é&gt;b");
    }

    #[test]
    fn control_characters_become_replacement_characters() {
        let cases = [
            ("a\0b", "a\u{fffd}b"),
            ("\0<\0", "\u{fffd}&lt;\u{fffd}"),
            (
                "bell\x07 esc\x1b[31m del\x7f",
                "bell\u{fffd} esc\u{fffd}[31m del\u{fffd}",
            ),
            ("c1\u{85}\u{9f}", "c1\u{fffd}\u{fffd}"),
            ("tab\tline\nreturn\r", "tab\tline\nreturn\r"),
            ("\u{fffd} stays", "\u{fffd} stays"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape(raw), escaped, "{raw:?}");
        }
        println!("html escaper: {} control-character probes", cases.len());
    }

    #[test]
    fn class_tokens_keep_only_safe_characters() {
        assert_eq!(class_token("Connected"), "connected");
        assert_eq!(class_token("hung up"), "hung-up");
        assert_eq!(class_token(r#"x" onclick="y"#), "x--onclick--y");
    }

    #[test]
    fn times_and_long_text_are_shortened() {
        assert_eq!(clock_time("2026-11-23T16:40:01.123Z"), "16:40:01");
        assert_eq!(clock_time("soon"), "soon");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("éé", 2), "éé");
        assert_eq!(shorten("ééé", 2), "éé…");
    }
}
