//! `parse_mode: "HTML"` as Telegram parses it (Bot API, "Formatting options › HTML style";
//! the errors are worded as Telegram's server words them, e.g. `Unsupported start tag "div"
//! at byte offset 0`): the text without its tags, and the entities the tags made.
//!
//! Tags (case-insensitive): `b`, `strong`, `i`, `em`, `u`, `ins`, `s`, `strike`, `del`,
//! `span class="tg-spoiler"`, `tg-spoiler`, `a href`, `code`, `pre` (with an inner
//! `code class="language-…"` for the language), `blockquote` (`expandable`). Entities:
//! `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric ones (`&#38;`, `&#x26;`).
//!
//! Stricter than Telegram, as its documentation asks ("All <, > and & symbols that are not a
//! part of a tag or an HTML entity must be replaced with the corresponding HTML entities"):
//! a bare `&` or `>`, or an unknown named entity such as `&nbsp;`, is refused, where Telegram
//! shows it as typed. A text that forgot to escape is then caught in tests rather than when
//! it happens to contain something that looks like a tag.

use super::telegram::{Entity, Parsed, utf16_len};

/// An open tag.
struct Open {
    tag: String,
    /// Entity type, `None` for a `code` inside `pre` (which only sets the language).
    kind: Option<&'static str>,
    url: Option<String>,
    offset: usize,
}

/// The text and entities of `html`, or Telegram's reason for refusing it.
pub(crate) fn parse(html: &str) -> Result<Parsed, String> {
    let bytes = html.as_bytes();
    let mut text = String::new();
    let mut entities = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let (decoded, used) = entity(&html[i..]).ok_or_else(|| {
                    format!(
                        "Character '&' at byte offset {i} does not start &lt;, &gt;, &amp;, &quot; or a numeric entity (Telegram shows it as typed; the sandbox refuses it, as the Bot API asks)"
                    )
                })?;
                text.push(decoded);
                i += used;
            }
            b'>' => {
                return Err(format!(
                    "Character '>' at byte offset {i} must be written &gt; (Telegram shows it as typed; the sandbox refuses it, as the Bot API asks)"
                ));
            }
            b'<' if bytes.get(i + 1) == Some(&b'/') => {
                let end = html[i..]
                    .find('>')
                    .map(|e| i + e)
                    .ok_or_else(|| format!("Unclosed end tag at byte offset {i}"))?;
                let name = html[i + 2..end].trim().to_ascii_lowercase();
                let Some(top) = open.pop() else {
                    return Err(format!("Unexpected end tag at byte offset {i}"));
                };
                if top.tag != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                        top.tag
                    ));
                }
                let length = utf16_len(&text) - top.offset;
                if let Some(kind) = top.kind
                    && length > 0
                {
                    entities.push(Entity {
                        kind,
                        offset: top.offset,
                        length,
                        url: top.url,
                        language: None,
                    });
                }
                i = end + 1;
            }
            b'<' => {
                let (tag, next) = start_tag(html, i)?;
                let offset = utf16_len(&text);
                let inside_pre = open.last().is_some_and(|o| o.tag == "pre");
                let kind = match tag.name.as_str() {
                    "b" | "strong" => Some("bold"),
                    "i" | "em" => Some("italic"),
                    "u" | "ins" => Some("underline"),
                    "s" | "strike" | "del" => Some("strikethrough"),
                    "tg-spoiler" => Some("spoiler"),
                    "span" => {
                        if tag.attr("class") != Some("tg-spoiler") {
                            return Err(format!(
                                "Tag \"span\" must have class \"tg-spoiler\" at byte offset {i}"
                            ));
                        }
                        Some("spoiler")
                    }
                    "a" => Some(if tag.attr("href").is_some() {
                        "text_link"
                    } else {
                        "url"
                    }),
                    "code" if inside_pre => {
                        // `<pre><code class="language-x">`: the language of the pre.
                        if let Some(language) =
                            tag.attr("class").and_then(|c| c.strip_prefix("language-"))
                            && let Some(pre) = entities_pre_language(&mut open)
                        {
                            *pre = Some(language.to_owned());
                        }
                        None
                    }
                    "code" => Some("code"),
                    "pre" => Some("pre"),
                    "blockquote" => Some(if tag.has("expandable") {
                        "expandable_blockquote"
                    } else {
                        "blockquote"
                    }),
                    other => {
                        return Err(format!(
                            "Unsupported start tag \"{other}\" at byte offset {i}"
                        ));
                    }
                };
                let url = tag.attr("href").map(str::to_owned);
                open.push(Open {
                    tag: tag.name,
                    kind,
                    url,
                    offset,
                });
                i = next;
            }
            _ => {
                let c = html[i..].chars().next().unwrap_or_default();
                text.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            unclosed.tag
        ));
    }
    // A pre's language was parked in its url slot while open; move it.
    for entity in &mut entities {
        if entity.kind == "pre" {
            entity.language = entity.url.take();
        }
    }
    entities.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
    Ok(Parsed { text, entities })
}

/// The open `pre` whose language a `code class="language-…"` sets (kept in `url` until
/// the end, see [`parse`]).
fn entities_pre_language(open: &mut [Open]) -> Option<&mut Option<String>> {
    open.last_mut()
        .filter(|o| o.tag == "pre")
        .map(|o| &mut o.url)
}

struct StartTag {
    name: String,
    attributes: Vec<(String, Option<String>)>,
}

impl StartTag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|(n, _)| n == name)
    }
}

/// Parses the start tag at `begin` (`<`); returns it and the offset after its `>`.
fn start_tag(html: &str, begin: usize) -> Result<(StartTag, usize), String> {
    let bytes = html.as_bytes();
    let mut i = begin + 1;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
        i += 1;
    }
    if i >= bytes.len() {
        return Err(format!("Unclosed start tag at byte offset {begin}"));
    }
    let name = html[begin + 1..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => {
                return Err(format!(
                    "Unclosed start tag \"{name}\" at byte offset {begin}"
                ));
            }
            Some(b'>') => return Ok((StartTag { name, attributes }, i + 1)),
            Some(_) => {}
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>')
        {
            i += 1;
        }
        let attribute = html[start..i].to_ascii_lowercase();
        if attribute.is_empty() {
            return Err(format!(
                "Empty attribute name in the tag \"{name}\" at byte offset {begin}"
            ));
        }
        if bytes.get(i) != Some(&b'=') {
            // A bare attribute: only `<blockquote expandable>` has one.
            if name == "blockquote" && attribute == "expandable" {
                attributes.push((attribute, None));
                continue;
            }
            return Err(format!(
                "Expected equal sign in declaration of an attribute of the tag \"{name}\" at byte offset {begin}"
            ));
        }
        i += 1;
        let (raw, next) = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = html[i + 1..]
                    .find(quote as char)
                    .map(|e| i + 1 + e)
                    .ok_or_else(|| {
                        format!("Unclosed start tag \"{name}\" at byte offset {begin}")
                    })?;
                (&html[i + 1..end], end + 1)
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                (&html[start..i], i)
            }
        };
        attributes.push((attribute, Some(decode_attribute(raw))));
        i = next;
    }
}

/// Attribute values may hold entities too; unknown ones are kept as typed.
fn decode_attribute(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        match entity(&rest[amp..]) {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[amp + used..];
            }
            None => {
                out.push('&');
                rest = &rest[amp + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity at the start of `s` stands for, and its length in bytes.
fn entity(s: &str) -> Option<(char, usize)> {
    let end = s.find(';')?;
    let name = &s[1..end];
    let decoded = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((decoded, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(parsed: &Parsed) -> Vec<(&str, usize, usize)> {
        parsed
            .entities
            .iter()
            .map(|e| (e.kind, e.offset, e.length))
            .collect()
    }

    #[test]
    fn tags_become_entities_with_utf16_offsets() {
        let parsed =
            parse("🔥 <b>P1</b> <a href=\"https://k.example/e?a=1&amp;b=2\">open</a> &lt;db&gt;")
                .expect("well formed");
        assert_eq!(parsed.text, "🔥 P1 open <db>");
        assert_eq!(kinds(&parsed), [("bold", 3, 2), ("text_link", 6, 4)]);
        assert_eq!(
            parsed.entities[1].url.as_deref(),
            Some("https://k.example/e?a=1&b=2")
        );
    }

    #[test]
    fn pre_takes_the_language_of_its_code() {
        let parsed = parse("<pre><code class=\"language-rust\">fn x() {}</code></pre>")
            .expect("well formed");
        assert_eq!(kinds(&parsed), [("pre", 0, 9)]);
        assert_eq!(parsed.entities[0].language.as_deref(), Some("rust"));
        assert!(parse("<blockquote expandable>quote</blockquote>").is_ok());
        assert!(parse("<span class=\"tg-spoiler\">x</span><tg-spoiler>y</tg-spoiler>").is_ok());
    }

    #[test]
    fn malformed_html_is_refused_as_telegram_words_it() {
        assert_eq!(
            parse("<div>x</div>").err().as_deref(),
            Some("Unsupported start tag \"div\" at byte offset 0")
        );
        assert_eq!(
            parse("<b>bold").err().as_deref(),
            Some("Can't find end tag corresponding to start tag \"b\"")
        );
        assert_eq!(
            parse("<b><i>x</b></i>").err().as_deref(),
            Some("Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\"")
        );
        assert_eq!(
            parse("x</b>").err().as_deref(),
            Some("Unexpected end tag at byte offset 1")
        );
        assert!(parse("a < b").is_err());
        assert!(parse("<br/>").is_err());
        assert!(parse("<span>x</span>").is_err());
    }

    #[test]
    fn only_telegrams_entities_are_entities() {
        assert_eq!(
            parse("&#x1F525;&#38;").map(|p| p.text).ok().as_deref(),
            Some("🔥&")
        );
        assert!(parse("fish & chips").is_err());
        assert!(parse("a&nbsp;b").is_err());
        assert!(parse("1 > 0").is_err());
    }
}
