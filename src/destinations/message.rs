//! The human-readable form of an event that chat, e-mail and Notion destinations send: a
//! title, a text and a few fields, rendered from the destination's templates (or the kind's
//! default ones) when the pipeline routes the event.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// An event, said for people. Kinds turn it into their own request (Block Kit, an embed, an
/// HTML e-mail …) and must escape every part of it for their markup: each string may hold
/// anything the event held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// One line (a header, an e-mail subject, a page title).
    pub title: String,
    /// The body: a few lines of plain text.
    pub text: String,
    /// Short facts shown side by side: ("Priority", "URGENT").
    pub fields: Vec<MessageField>,
    /// The event's `urgency` label (or priority) when it has one: kinds may colour by it.
    pub urgency: Option<String>,
    /// The event on the live page, when `PUBLIC_URL` is set.
    pub link: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: String,
}

/// True when `link` is an http(s) URL with a host: the only links a kind may make clickable
/// (a `javascript:` or `data:` one stays text).
pub fn is_web_link(link: &str) -> bool {
    reqwest::Url::parse(link)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageField {
    pub name: String,
    pub value: String,
}

/// `text` with each ASCII character that `replacement` names replaced by what it returns
/// (an entity, a backslash escape), the rest copied as it is. Kinds escape every value of
/// every event with this, so it copies the runs between replacements whole: an ASCII byte
/// never occurs inside a multi-byte character, so a byte scan finds them safely.
pub fn replace_ascii(text: &str, replacement: impl Fn(u8) -> Option<&'static str>) -> String {
    // Which bytes to replace, as a table: the scan then costs a load and a test per byte.
    let mut replaced = [false; 256];
    for byte in 0..128u8 {
        replaced[usize::from(byte)] = replacement(byte).is_some();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut copied = 0;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if replaced[usize::from(byte)]
            && let Some(with) = replacement(byte)
        {
            out.push_str(&text[copied..at]);
            out.push_str(with);
            copied = at + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `text` with every line break as `\n` (CRLF and a lone CR too), borrowed when it has none
/// to change, as most texts do.
pub fn lf_line_breaks(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// How long `text` is in UTF-16 code units, as Telegram and Notion count: one per character,
/// two for a character outside the Basic Multilingual Plane. Counted on the bytes (each byte
/// that starts a character, plus one for each 4-byte start), which is several times faster
/// than encoding, and this runs over every text of every event.
pub fn utf16_len(text: &str) -> usize {
    text.bytes()
        .map(|b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_become_lf_and_text_without_cr_is_borrowed() {
        assert_eq!(lf_line_breaks("a\r\nb\rc\n\r\n"), "a\nb\nc\n\n");
        assert!(matches!(lf_line_breaks("a\nb"), Cow::Borrowed("a\nb")));
    }

    #[test]
    fn utf16_len_counts_as_utf16_does() {
        for text in [
            "",
            "plain",
            "Müller & Søn",
            "日本語",
            "🚨 alert 🚨",
            "a\u{10FFFF}b\u{FFFF}",
        ] {
            assert_eq!(utf16_len(text), text.encode_utf16().count(), "{text:?}");
        }
    }

    #[test]
    fn replace_ascii_replaces_only_what_it_is_told_and_keeps_every_other_character() {
        let entity = |b: u8| match b {
            b'&' => Some("&amp;"),
            b'<' => Some("&lt;"),
            _ => None,
        };
        assert_eq!(replace_ascii("", entity), "");
        assert_eq!(replace_ascii("plain", entity), "plain");
        assert_eq!(
            replace_ascii("<b>Müller & Søn</b> 🚨<", entity),
            "&lt;b>Müller &amp; Søn&lt;/b> 🚨&lt;"
        );
    }
}
