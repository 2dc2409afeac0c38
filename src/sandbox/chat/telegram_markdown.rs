//! `parse_mode: "MarkdownV2"` and the legacy `"Markdown"` as Telegram parses them (Bot API,
//! "Formatting options"), worded as Telegram's server words its refusals
//! (`Character '.' is reserved and must be escaped with the preceding '\'`,
//! `Can't find end of Bold entity at byte offset 0`).
//!
//! MarkdownV2: `*bold*`, `_italic_`, `__underline__`, `~strikethrough~`, `||spoiler||`,
//! `[text](url)`, `` `code` ``, ```` ```language\npre``` ````, `>` block quotes; any
//! character 1–126 may be escaped with `\`, and `_*[]()~`>#+-=|{}.!` must be outside
//! entities' markup. Inside code, only `` ` `` and `\` are escaped; inside a link's URL, `)`
//! and `\`. Custom emoji (`![…](tg://emoji…)`) and expandable quotes are not simulated.
//!
//! Markdown (legacy): `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````,
//! `[text](url)`, no nesting; `\` escapes `_*`[`.

use super::telegram::{Entity, Parsed, utf16_len};

const RESERVED: &[char] = &[
    '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!',
];

/// An entity opened by its marker and not yet closed.
struct Open {
    kind: &'static str,
    offset: usize,
    byte: usize,
}

fn name_of(kind: &str) -> &'static str {
    match kind {
        "bold" => "Bold",
        "italic" => "Italic",
        "underline" => "Underline",
        "strikethrough" => "Strikethrough",
        "spoiler" => "Spoiler",
        "text_link" => "TextUrl",
        _ => "the",
    }
}

pub(crate) fn parse_v2(markdown: &str) -> Result<Parsed, String> {
    let chars: Vec<(usize, char)> = markdown.char_indices().collect();
    let mut text = String::new();
    let mut entities = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut quote_start: Option<usize> = None;
    let mut k = 0;
    while k < chars.len() {
        let (byte, c) = chars[k];
        let next = chars.get(k + 1).map(|(_, c)| *c);
        let line_start = k == 0 || chars[k - 1].1 == '\n';
        if line_start {
            if c == '>' {
                quote_start.get_or_insert(utf16_len(&text));
                k += 1;
                continue;
            }
            close_quote(&mut quote_start, &text, &mut entities);
        }
        match c {
            '\\' => match next {
                Some(escaped) if (1..=126).contains(&(escaped as u32)) => {
                    text.push(escaped);
                    k += 2;
                    continue;
                }
                _ => {
                    return Err(
                        "Character '\\' is reserved and must be escaped with the preceding '\\'"
                            .to_owned(),
                    );
                }
            },
            '*' | '~' => toggle(
                &mut open,
                &mut entities,
                &text,
                if c == '*' { "bold" } else { "strikethrough" },
                byte,
            ),
            '_' if next == Some('_') => {
                toggle(&mut open, &mut entities, &text, "underline", byte);
                k += 1;
            }
            '_' => toggle(&mut open, &mut entities, &text, "italic", byte),
            '|' if next == Some('|') => {
                toggle(&mut open, &mut entities, &text, "spoiler", byte);
                k += 1;
            }
            '[' => open.push(Open {
                kind: "text_link",
                offset: utf16_len(&text),
                byte,
            }),
            ']' if open.last().is_some_and(|o| o.kind == "text_link") => {
                let Some(link) = open.pop() else { continue };
                if chars.get(k + 1).map(|(_, c)| *c) != Some('(') {
                    return Err(format!(
                        "Can't find end of TextUrl entity at byte offset {}",
                        link.byte
                    ));
                }
                let mut url = String::new();
                k += 2;
                loop {
                    match chars.get(k).map(|(_, c)| *c) {
                        None => {
                            return Err(format!(
                                "Can't find end of a URL at byte offset {}",
                                chars[k - 1].0
                            ));
                        }
                        Some('\\') => {
                            if let Some((_, escaped)) = chars.get(k + 1) {
                                url.push(*escaped);
                            }
                            k += 2;
                        }
                        Some(')') => break,
                        Some(other) => {
                            url.push(other);
                            k += 1;
                        }
                    }
                }
                push(
                    &mut entities,
                    "text_link",
                    link.offset,
                    &text,
                    Some(url),
                    None,
                );
            }
            '`' => {
                let fence = chars.get(k + 1).map(|(_, c)| *c) == Some('`')
                    && chars.get(k + 2).map(|(_, c)| *c) == Some('`');
                let (after, kind, language) = if fence {
                    let mut j = k + 3;
                    let mut language = String::new();
                    while let Some((_, c)) = chars.get(j)
                        && !c.is_whitespace()
                        && *c != '`'
                    {
                        language.push(*c);
                        j += 1;
                    }
                    if chars.get(j).map(|(_, c)| *c) == Some('\n') {
                        j += 1;
                    } else {
                        j = k + 3;
                        language.clear();
                    }
                    (j, "pre", (!language.is_empty()).then_some(language))
                } else {
                    (k + 1, "code", None)
                };
                let offset = utf16_len(&text);
                let mut j = after;
                loop {
                    match chars.get(j).map(|(_, c)| *c) {
                        None => {
                            return Err(format!(
                                "Can't find end of {} entity at byte offset {byte}",
                                if fence { "Pre" } else { "Code" }
                            ));
                        }
                        Some('\\') => {
                            if let Some((_, escaped)) = chars.get(j + 1) {
                                text.push(*escaped);
                            }
                            j += 2;
                        }
                        Some('`') if !fence => break,
                        Some('`')
                            if chars.get(j + 1).map(|(_, c)| *c) == Some('`')
                                && chars.get(j + 2).map(|(_, c)| *c) == Some('`') =>
                        {
                            j += 2;
                            break;
                        }
                        Some(other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                push(&mut entities, kind, offset, &text, None, language);
                k = j + 1;
                continue;
            }
            reserved if RESERVED.contains(&reserved) => {
                return Err(format!(
                    "Character '{reserved}' is reserved and must be escaped with the preceding '\\'"
                ));
            }
            other => text.push(other),
        }
        k += 1;
    }
    close_quote(&mut quote_start, &text, &mut entities);
    if let Some(unclosed) = open.last() {
        return Err(format!(
            "Can't find end of {} entity at byte offset {}",
            name_of(unclosed.kind),
            unclosed.byte
        ));
    }
    entities.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
    Ok(Parsed { text, entities })
}

/// Closes the innermost entity if it is of `kind`, else opens one (as Telegram does: a
/// marker that does not close the innermost entity starts a new one).
fn toggle(
    open: &mut Vec<Open>,
    entities: &mut Vec<Entity>,
    text: &str,
    kind: &'static str,
    byte: usize,
) {
    if open.last().is_some_and(|o| o.kind == kind) {
        if let Some(top) = open.pop() {
            push(entities, kind, top.offset, text, None, None);
        }
    } else {
        open.push(Open {
            kind,
            offset: utf16_len(text),
            byte,
        });
    }
}

fn close_quote(start: &mut Option<usize>, text: &str, entities: &mut Vec<Entity>) {
    if let Some(offset) = start.take() {
        // The quote ends before the line break that ended its last line.
        let end = utf16_len(text.strip_suffix('\n').unwrap_or(text));
        if end > offset {
            entities.push(Entity {
                kind: "blockquote",
                offset,
                length: end - offset,
                url: None,
                language: None,
            });
        }
    }
}

fn push(
    entities: &mut Vec<Entity>,
    kind: &'static str,
    offset: usize,
    text: &str,
    url: Option<String>,
    language: Option<String>,
) {
    let length = utf16_len(text) - offset;
    if length > 0 {
        entities.push(Entity {
            kind,
            offset,
            length,
            url,
            language,
        });
    }
}

/// Legacy Markdown: an entity runs from its marker to the next same marker, unparsed.
pub(crate) fn parse_legacy(markdown: &str) -> Result<Parsed, String> {
    let mut text = String::new();
    let mut entities = Vec::new();
    let mut rest = markdown;
    let mut byte = 0;
    while let Some(c) = rest.chars().next() {
        let (kind, marker) = match c {
            '\\' => {
                let escaped = rest[1..].chars().next().filter(|e| "_*`[".contains(*e));
                match escaped {
                    Some(e) => {
                        text.push(e);
                        byte += 1 + e.len_utf8();
                        rest = &rest[1 + e.len_utf8()..];
                    }
                    None => {
                        text.push('\\');
                        byte += 1;
                        rest = &rest[1..];
                    }
                }
                continue;
            }
            '*' => ("bold", "*"),
            '_' => ("italic", "_"),
            '`' if rest.starts_with("```") => ("pre", "```"),
            '`' => ("code", "`"),
            '[' => ("text_link", "]"),
            other => {
                text.push(other);
                byte += other.len_utf8();
                rest = &rest[other.len_utf8()..];
                continue;
            }
        };
        let start = if kind == "pre" { 3 } else { 1 };
        let end = rest[start..]
            .find(marker)
            .map(|e| e + start)
            .ok_or_else(|| {
                format!("Can't find end of the entity starting at byte offset {byte}")
            })?;
        let inner = &rest[start..end];
        let mut consumed = end + marker.len();
        let mut url = None;
        if kind == "text_link" {
            let after = &rest[consumed..];
            let Some(target) = after.strip_prefix('(').and_then(|a| a.split_once(')')) else {
                return Err(format!(
                    "Can't find end of the entity starting at byte offset {byte}"
                ));
            };
            url = Some(target.0.to_owned());
            consumed += target.0.len() + 2;
        }
        let offset = utf16_len(&text);
        text.push_str(inner);
        push(&mut entities, kind, offset, &text, url, None);
        byte += consumed;
        rest = &rest[consumed..];
    }
    Ok(Parsed { text, entities })
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
    fn markdown_v2_entities_and_escapes() {
        let parsed = parse_v2("*P1* __db\\-1__ is down\\. [open](https://k.example/e\\)1)")
            .expect("well formed");
        assert_eq!(parsed.text, "P1 db-1 is down. open");
        assert_eq!(
            kinds(&parsed),
            [("bold", 0, 2), ("underline", 3, 4), ("text_link", 17, 4)]
        );
        assert_eq!(
            parsed.entities[2].url.as_deref(),
            Some("https://k.example/e)1")
        );
        let code = parse_v2("`a.b` ```rust\nfn x()```").expect("code needs no escapes");
        assert_eq!(code.text, "a.b fn x()");
        assert_eq!(code.entities[1].language.as_deref(), Some("rust"));
        let quote = parse_v2(">line one\n>line two\nafter").expect("quote");
        assert_eq!(quote.text, "line one\nline two\nafter");
        assert_eq!(kinds(&quote), [("blockquote", 0, 17)]);
    }

    #[test]
    fn markdown_v2_mistakes_are_refused() {
        assert_eq!(
            parse_v2("Disk at 95.5%").err().as_deref(),
            Some("Character '.' is reserved and must be escaped with the preceding '\\'")
        );
        assert_eq!(
            parse_v2("*bold").err().as_deref(),
            Some("Can't find end of Bold entity at byte offset 0")
        );
        assert!(parse_v2("db-1").is_err());
        assert!(parse_v2("`open").is_err());
    }

    #[test]
    fn legacy_markdown() {
        let parsed = parse_legacy("*P1* db_1 [x](https://k.example)").err();
        assert_eq!(
            parsed.as_deref(),
            Some("Can't find end of the entity starting at byte offset 7")
        );
        let parsed = parse_legacy("*P1* db\\_1 [open](https://k.example)").expect("well formed");
        assert_eq!(parsed.text, "P1 db_1 open");
        assert_eq!(kinds(&parsed), [("bold", 0, 2), ("text_link", 8, 4)]);
    }
}
