//! Rendered text made into Notion values within Notion's request limits ("Request limits" in
//! Notion's reference; `RichTextItemRequest`, `SelectColor`, `DateRequest` in
//! notion/common.ts and pages.ts): rich text in items of at most 2,000 characters and at most
//! 100 items, select names without commas and at most 100 characters, ISO 8601 dates, web
//! URLs only. Notion counts characters as JavaScript does (UTF-16 code units), so we do too.
//!
//! A value that cannot be made valid is `None` (the property is left out) rather than sent
//! to be refused: one odd field must not make the whole page dead.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Characters in one rich text item's `content` (and in a link's URL).
pub const MAX_TEXT: usize = 2000;
/// Items in one rich text array; blocks in one `children` array; options in a multi-select.
pub const MAX_ITEMS: usize = 100;
/// A select, status or multi-select option's name.
pub const MAX_OPTION: usize = 100;
/// An `email` or `phone_number` property.
pub const MAX_CONTACT: usize = 200;

/// Characters as Notion counts them.
pub fn units(text: &str) -> usize {
    crate::destinations::message::utf16_len(text)
}

/// Text as Notion should show it: control characters other than line breaks and tabs
/// removed (they show as boxes, or break the page), `\r\n` as `\n`, trimmed.
pub fn cleaned(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Cleaned, on one line: line breaks and runs of spaces become one space.
pub fn one_line(text: &str) -> String {
    cleaned(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` units of `text`, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if units(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// `text` in pieces of at most [`MAX_TEXT`] units, never inside a character.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (at, c) in text.char_indices() {
        if used + c.len_utf16() > MAX_TEXT {
            out.push(&text[start..at]);
            (start, used) = (at, 0);
        }
        used += c.len_utf16();
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// One plain text item.
pub fn item(content: &str) -> Value {
    json!({"type": "text", "text": {"content": content}})
}

/// `text` as a rich text array of at most `max_items` items (Notion joins them seamlessly);
/// text beyond what they hold is cut, ending in an ellipsis. Empty text is no items.
pub fn rich_text(text: &str, max_items: usize) -> Vec<Value> {
    let pieces = pieces(text);
    let cut_off = pieces.len() > max_items;
    let mut items: Vec<Value> = pieces.iter().take(max_items).map(|p| item(p)).collect();
    if cut_off && let Some(last) = items.last_mut() {
        let content = last["text"]["content"].as_str().unwrap_or_default();
        *last = item(&cut(&format!("{content}…"), MAX_TEXT));
    }
    items
}

/// A select or status option's name: one line, commas (which Notion refuses in option
/// names) as spaces, at most [`MAX_OPTION`] units.
pub fn option_name(text: &str) -> Option<String> {
    let name = one_line(&text.replace(',', " "));
    (!name.is_empty()).then(|| cut(&name, MAX_OPTION))
}

/// A multi-select: the comma-separated names of `text`, each once, at most [`MAX_ITEMS`].
pub fn option_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in text.split(',').filter_map(option_name) {
        if !names.contains(&name) && names.len() < MAX_ITEMS {
            names.push(name);
        }
    }
    names
}

/// An ISO 8601 date Notion accepts: an RFC 3339 timestamp (as given, normalised), a date
/// (`2026-01-05`), or Unix seconds made a UTC timestamp.
pub fn iso_date(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return at.format(&Rfc3339).ok();
    }
    if Date::parse(text, format_description!("[year]-[month]-[day]")).is_ok() {
        return Some(text.to_owned());
    }
    if (9..=11).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: i64 = text.parse().ok()?;
        return OffsetDateTime::from_unix_timestamp(seconds)
            .ok()?
            .format(&Rfc3339)
            .ok();
    }
    None
}

/// A link worth showing: `http`, `https` or `mailto`, one word, at most [`MAX_TEXT`] units.
/// Anything else (`javascript:`, a relative path, prose) is not made a link.
pub fn web_url(text: &str) -> Option<String> {
    let url = text.trim();
    let lower = url.to_ascii_lowercase();
    let scheme_ok = ["https://", "http://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s) && lower.len() > s.len());
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && clean && units(url) <= MAX_TEXT).then(|| url.to_owned())
}

/// An e-mail address: one word with an `@`, at most [`MAX_CONTACT`] units.
pub fn email(text: &str) -> Option<String> {
    let text = text.trim();
    let ok = text.contains('@')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && units(text) <= MAX_CONTACT;
    ok.then(|| text.to_owned())
}

/// A phone number: one line, at most [`MAX_CONTACT`] units (Notion does not check the form).
pub fn phone(text: &str) -> Option<String> {
    let text = one_line(text);
    (!text.is_empty() && units(&text) <= MAX_CONTACT).then_some(text)
}

/// A finite number; integers stay integers.
pub fn number(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(json!(n));
    }
    let n = text.parse::<f64>().ok().filter(|n| n.is_finite())?;
    serde_json::Number::from_f64(n).map(Value::Number)
}

/// A checkbox from the usual words for yes and no.
pub fn checkbox(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" | "x" | "checked" => Some(true),
        "false" | "no" | "n" | "0" | "off" | "unchecked" | "none" => Some(false),
        _ => None,
    }
}
