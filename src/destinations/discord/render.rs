//! An event's [`Message`] as the body of Discord's execute-webhook call: one embed, every
//! event value escaped for Discord's markdown, every part cut to Discord's embed limits and
//! the 6,000-character total (with an ellipsis: a message is never refused for its size), and
//! no mention allowed to ping.
//!
//! A URL in event text is escaped like the rest: Discord shows it, but may not make it a
//! working link (a masked link would be worse). The event's own link is the title's `url`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::DiscordSettings;
use crate::destinations::message::{self, Message, lf_line_breaks, replace_ascii};

/// Embed limits (Discord docs, "Embed Limits"), in characters as Discord counts them.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 4096;
const MAX_FIELDS: usize = 25;
const MAX_FIELD_NAME: usize = 256;
const MAX_FIELD_VALUE: usize = 1024;
/// Title, description, field names and values, footer and author together.
const MAX_TOTAL: usize = 6000;
/// Ours, well below Discord's 2048: the footer is the event type.
const MAX_FOOTER: usize = 200;
/// The text keeps at least this much of the total before fields take the rest: a long
/// field list must not crowd out what the event says.
const DESCRIPTION_RESERVE: usize = 2048;
/// A field gets at least this many characters, or is left out: a name and value of two
/// characters each would say nothing.
const MIN_FIELD: usize = 16;

/// Characters Discord's markdown gives a meaning to (emphasis, code, spoilers, quotes,
/// headings, lists, masked links, mentions), each with its escape. A backslash before any
/// of them shows it as typed; `@` is escaped too so `@everyone` reads as text even where
/// mentions render.
const fn backslashed(byte: u8) -> Option<&'static str> {
    Some(match byte {
        b'\\' => "\\\\",
        b'*' => "\\*",
        b'_' => "\\_",
        b'~' => "\\~",
        b'`' => "\\`",
        b'|' => "\\|",
        b'<' => "\\<",
        b'>' => "\\>",
        b'[' => "\\[",
        b']' => "\\]",
        b'(' => "\\(",
        b')' => "\\)",
        b'#' => "\\#",
        b'-' => "\\-",
        b'@' => "\\@",
        _ => return None,
    })
}

fn is_markdown(c: char) -> bool {
    c.is_ascii() && MARKDOWN[c as usize]
}

/// The bytes [`backslashed`] escapes, as a table (this is looked up for every byte of every
/// text).
const MARKDOWN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = backslashed(byte as u8).is_some();
        byte += 1;
    }
    table
};

/// `text` escaped for Discord's markdown, in at most `max` characters: when it does not
/// fit, it is cut (never between a backslash and what it escapes) and ends with `…`.
fn markdown(text: &str, max: usize) -> String {
    let text = lf_line_breaks(text);
    let escapes = text.bytes().filter(|b| MARKDOWN[usize::from(*b)]).count();
    let whole = text.chars().count() + escapes;
    if whole <= max {
        return replace_ascii(&text, backslashed);
    }
    // Where the text must be cut for its escaped form to fit before the ellipsis.
    let limit = max.saturating_sub(1);
    let mut used = 0;
    let mut end = text.len();
    for (at, c) in text.char_indices() {
        let cost = if is_markdown(c) { 2 } else { 1 };
        if used + cost > limit {
            end = at;
            break;
        }
        used += cost;
    }
    let mut out = replace_ascii(&text[..end], backslashed);
    if max > 0 {
        out.push('…');
    }
    out
}

/// Plain text (the footer shows no markdown) cut to `max` characters.
fn plain(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::destinations::template::truncated(one_line, max)
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// The embed's colour: red for the most urgent, then orange, yellow, blue; grey when the
/// event has no urgency Klaxon recognises.
fn colour(urgency: Option<&str>) -> u32 {
    let urgency = urgency.map(|u| u.trim().to_ascii_lowercase());
    match urgency.as_deref() {
        Some("critical" | "urgent" | "emergency" | "p0" | "p1" | "sev0" | "sev1") => 0xE74C3C,
        Some("high" | "p2" | "sev2") => 0xE67E22,
        Some("medium" | "normal" | "moderate" | "p3" | "sev3") => 0xF1C40F,
        Some("low" | "info" | "p4" | "p5" | "sev4") => 0x3498DB,
        _ => 0x95A5A6,
    }
}

/// The execute-webhook body for `message`.
pub fn render(settings: &DiscordSettings, message: &Message) -> String {
    let title_text = [&message.title, &message.event_type]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .map_or("Klaxon alert", String::as_str);
    let title = markdown(title_text, MAX_TITLE);
    let footer = plain(&message.event_type, MAX_FOOTER);
    let rest = MAX_TOTAL - chars(&title) - chars(&footer);
    let reserve = chars(&markdown(&message.text, DESCRIPTION_RESERVE));
    let fields_budget = rest.saturating_sub(reserve);
    let mut fields = Vec::new();
    let mut used = 0;
    for field in message.fields.iter().take(MAX_FIELDS) {
        let room = fields_budget.saturating_sub(used);
        if field.name.trim().is_empty() || field.value.trim().is_empty() || room < MIN_FIELD {
            continue;
        }
        let name = markdown(field.name.trim(), MAX_FIELD_NAME.min(room / 2));
        let value = markdown(field.value.trim(), MAX_FIELD_VALUE.min(room - chars(&name)));
        if name.is_empty() || value.is_empty() {
            continue;
        }
        used += chars(&name) + chars(&value);
        fields.push(json!({"name": name, "value": value, "inline": chars(&value) <= 40}));
    }
    let description = markdown(
        message.text.trim(),
        MAX_DESCRIPTION.min(rest.saturating_sub(used)),
    );

    let mut embed = Map::new();
    embed.insert("title".into(), json!(title));
    if !description.is_empty() {
        embed.insert("description".into(), json!(description));
    }
    if let Some(link) = message.link.as_deref().filter(|l| is_web_link(l)) {
        embed.insert("url".into(), json!(link));
    }
    if !fields.is_empty() {
        embed.insert("fields".into(), Value::Array(fields));
    }
    if !footer.trim().is_empty() {
        embed.insert("footer".into(), json!({"text": footer}));
    }
    if OffsetDateTime::parse(&message.occurred_at, &Rfc3339).is_ok() {
        embed.insert("timestamp".into(), json!(message.occurred_at));
    }
    embed.insert("color".into(), json!(colour(message.urgency.as_deref())));
    let mut body = json!({
        "embeds": [Value::Object(embed)],
        // Nothing in a message may ping anyone: not @everyone, @here, a role or a user.
        "allowed_mentions": {"parse": []},
    });
    if let Some(username) = &settings.username {
        body["username"] = json!(username);
    }
    body.to_string()
}

/// An http(s) URL Discord accepts as an embed's link.
fn is_web_link(link: &str) -> bool {
    link.len() <= 2048 && message::is_web_link(link)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::{MessageField, SettingsContext};

    fn sandboxed() -> DiscordSettings {
        let none = |_: &str| None;
        let context = SettingsContext {
            env: &none,
            public_url: None,
            sandbox: true,
        };
        super::super::settings(toml::from_str("").unwrap(), &context).unwrap()
    }

    fn message() -> Message {
        Message {
            title: "[CRITICAL] Checkout down".into(),
            text: "EU customers cannot pay.".into(),
            fields: vec![MessageField {
                name: "Customer".into(),
                value: "ACME".into(),
            }],
            urgency: Some("critical".into()),
            link: Some("https://klaxon.example.com/#evt_1".into()),
            event_id: "evt_1".into(),
            event_type: "support.ticket.created".into(),
            occurred_at: "2026-12-05T08:00:00Z".into(),
        }
    }

    fn embed_of(body: &str) -> Value {
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert_eq!(body["embeds"].as_array().unwrap().len(), 1);
        body["embeds"][0].clone()
    }

    /// What Discord counts toward its 6,000-character total.
    fn total(embed: &Value) -> usize {
        let text = |v: &Value| v.as_str().map_or(0, chars);
        text(&embed["title"])
            + text(&embed["description"])
            + text(&embed["footer"]["text"])
            + embed["fields"].as_array().map_or(0, |fields| {
                fields
                    .iter()
                    .map(|f| text(&f["name"]) + text(&f["value"]))
                    .sum()
            })
    }

    #[test]
    fn an_ordinary_message_becomes_one_embed() {
        let body = render(&sandboxed(), &message());
        let embed = embed_of(&body);
        assert_eq!(
            embed,
            json!({
                "title": "\\[CRITICAL\\] Checkout down",
                "description": "EU customers cannot pay.",
                "url": "https://klaxon.example.com/#evt_1",
                "fields": [{"name": "Customer", "value": "ACME", "inline": true}],
                "footer": {"text": "support.ticket.created"},
                "timestamp": "2026-12-05T08:00:00Z",
                "color": 0xE74C3C,
            })
        );
        let named = DiscordSettings {
            username: Some("Klaxon".into()),
            ..sandboxed()
        };
        let body: Value = serde_json::from_str(&render(&named, &message())).unwrap();
        assert_eq!(body["username"], "Klaxon");
    }

    #[test]
    fn hostile_text_cannot_ping_link_or_format() {
        let hostile = Message {
            title: "@everyone <script>alert(1)</script>".into(),
            text: "@here <@123> <@&456> [click](https://evil.example) **bold** </b> `x` ||s||\n# big\n> quote".into(),
            fields: vec![MessageField {
                name: "<@&1> *".into(),
                value: "@everyone".into(),
            }],
            link: Some("javascript:alert(1)".into()),
            occurred_at: "yesterday".into(),
            urgency: None,
            ..message()
        };
        let embed = embed_of(&render(&sandboxed(), &hostile));
        assert_eq!(
            embed["title"],
            "\\@everyone \\<script\\>alert\\(1\\)\\</script\\>"
        );
        assert_eq!(
            embed["description"],
            "\\@here \\<\\@123\\> \\<\\@&456\\> \\[click\\]\\(https://evil.example\\) \\*\\*bold\\*\\* \\</b\\> \\`x\\` \\|\\|s\\|\\|\n\\# big\n\\> quote"
        );
        assert_eq!(embed["fields"][0]["name"], "\\<\\@&1\\> \\*");
        assert_eq!(embed["fields"][0]["value"], "\\@everyone");
        assert!(embed.get("url").is_none(), "only http(s) links");
        assert!(embed.get("timestamp").is_none(), "only RFC 3339 times");
        assert_eq!(embed["color"], 0x95A5A6);
    }

    #[test]
    fn long_text_is_cut_to_every_limit_and_never_refused() {
        let long = Message {
            title: "T".repeat(1000),
            text: "x".repeat(10_000),
            fields: (0..30)
                .map(|i| MessageField {
                    name: format!("field {i} {}", "n".repeat(300)),
                    value: "*".repeat(1000),
                })
                .collect(),
            ..message()
        };
        let embed = embed_of(&render(&sandboxed(), &long));
        let title = embed["title"].as_str().unwrap();
        assert_eq!(chars(title), MAX_TITLE);
        assert!(title.ends_with("T…"));
        let description = embed["description"].as_str().unwrap();
        assert!(chars(description) <= MAX_DESCRIPTION);
        assert!(chars(description) >= DESCRIPTION_RESERVE);
        assert!(description.ends_with("x…"));
        let fields = embed["fields"].as_array().unwrap();
        assert!(!fields.is_empty() && fields.len() <= MAX_FIELDS);
        for field in fields {
            assert!(chars(field["name"].as_str().unwrap()) <= MAX_FIELD_NAME);
            let value = field["value"].as_str().unwrap();
            assert!(chars(value) <= MAX_FIELD_VALUE);
            // Cut between escapes, never inside one: `\*` pairs, then the ellipsis.
            assert!(value.ends_with("\\*…"), "{value}");
            assert!(value.trim_end_matches('…').len() % 2 == 0);
        }
        assert!(total(&embed) <= MAX_TOTAL, "{}", total(&embed));

        // Only fields: they may use what the (empty) text leaves.
        let fields_only = Message {
            text: String::new(),
            ..long
        };
        let embed = embed_of(&render(&sandboxed(), &fields_only));
        assert!(embed.get("description").is_none());
        assert!(total(&embed) <= MAX_TOTAL);
        assert!(total(&embed) > MAX_TOTAL - 300, "{}", total(&embed));
    }

    #[test]
    fn a_cut_never_strands_a_backslash() {
        for max in 1..12 {
            let cut = markdown("a*b*c*d*e*f*g", max);
            assert!(chars(&cut) <= max, "{cut}");
            let body = cut.trim_end_matches('…');
            let trailing = body.chars().rev().take_while(|c| *c == '\\').count();
            assert_eq!(trailing % 2, 0, "{cut}");
        }
        assert_eq!(markdown("fits", 4), "fits");
        assert_eq!(markdown("a\r\nb", 10), "a\nb");
        assert_eq!(markdown("anything", 0), "");
    }
}
