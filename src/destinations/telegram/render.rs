//! An event's [`Message`] as the body of Telegram's `sendMessage`: HTML in which Klaxon
//! writes the only tags (`<b>`, `<code>`, `<a href>`) and every event value is escaped,
//! fitted to Telegram's 4,096 characters as counted after parsing (each part cut before it is
//! escaped, with an ellipsis, so no tag or entity is ever cut), link previews off.

use serde_json::json;

use super::TelegramSettings;
use crate::destinations::message::{
    Message, is_web_link, lf_line_breaks, replace_ascii, utf16_len,
};

/// `sendMessage`'s text: 1-4096 characters after entity parsing.
const MAX_TEXT: usize = 4096;
const MAX_TITLE: usize = 256;
const MAX_EVENT_TYPE: usize = 128;
const MAX_FIELD_NAME: usize = 100;
const MAX_FIELD_VALUE: usize = 1024;
/// The text keeps at least this much before fields take the rest.
const TEXT_RESERVE: usize = 2048;
/// A field gets at least this much room, or is left out.
const MIN_FIELD: usize = 16;
const LINK_TEXT: &str = "Open in Klaxon";

/// Length as Telegram counts it: UTF-16 code units.
fn units(text: &str) -> usize {
    utf16_len(text)
}

/// `text` in at most `max` UTF-16 units, cut with `…` when it does not fit. Cut before
/// escaping, so the cut can never fall inside a tag or an entity.
fn fit(text: &str, max: usize) -> String {
    // A text has at most as many UTF-16 units as UTF-8 bytes: most fit without counting.
    if text.len() <= max || units(text) <= max {
        return text.to_owned();
    }
    let Some(room) = max.checked_sub(1) else {
        return String::new();
    };
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > room {
            break;
        }
        out.push(c);
        used += c.len_utf16();
    }
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Escaped for Telegram's HTML, text and attribute values alike: the four characters it
/// gives a meaning to, as the entities it supports.
fn escape(text: &str) -> String {
    replace_ascii(text, |byte| match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        _ => None,
    })
}

/// Line breaks as `\n`, and the text without leading or trailing blank space (Telegram
/// trims it anyway, after counting).
fn clean(text: &str) -> String {
    lf_line_breaks(text).trim().to_owned()
}

/// A piece of the message: its HTML and how long it is once Telegram has parsed it.
#[derive(Default)]
struct Html {
    markup: String,
    visible: usize,
}

impl Html {
    fn text(&mut self, plain: &str) -> &mut Html {
        self.markup.push_str(&escape(plain));
        self.visible += units(plain);
        self
    }

    /// `plain` inside `<tag>`: only tags Klaxon chose, never one from the event.
    fn tagged(&mut self, tag: &'static str, plain: &str) -> &mut Html {
        self.markup
            .push_str(&format!("<{tag}>{}</{tag}>", escape(plain)));
        self.visible += units(plain);
        self
    }

    fn link(&mut self, href: &str, plain: &str) -> &mut Html {
        self.markup.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            escape(href),
            escape(plain)
        ));
        self.visible += units(plain);
        self
    }
}

/// The `sendMessage` body for `message`.
pub fn render(settings: &TelegramSettings, message: &Message) -> String {
    let title_text = [&message.title, &message.event_type]
        .into_iter()
        .map(|t| clean(t))
        .find(|t| !t.is_empty())
        .unwrap_or_else(|| "Klaxon alert".to_owned());
    let mut title = Html::default();
    title.tagged("b", &fit(&title_text, MAX_TITLE));

    let mut footer = Html::default();
    let event_type = clean(&message.event_type);
    if !event_type.is_empty() {
        footer.tagged("code", &fit(&event_type, MAX_EVENT_TYPE));
    }
    if let Some(link) = message.link.as_deref().filter(|l| is_web_link(l)) {
        if footer.visible > 0 {
            footer.text(" · ");
        }
        footer.link(link, LINK_TEXT);
    }

    // Each section after the title costs its own two-character separator (`\n\n`).
    let text = clean(&message.text);
    let text_reserve = if text.is_empty() {
        0
    } else {
        units(&fit(&text, TEXT_RESERVE)) + 2
    };
    let footer_cost = if footer.visible > 0 {
        footer.visible + 2
    } else {
        0
    };
    let fixed = title.visible + footer_cost;
    let fields_budget = MAX_TEXT.saturating_sub(fixed + text_reserve + 2);
    let mut fields: Vec<Html> = Vec::new();
    let mut used = 0;
    for field in &message.fields {
        let (name, value) = (clean(&field.name), clean(&field.value));
        // `name: value`, and the line break before the next one.
        let room = fields_budget.saturating_sub(used + 3);
        if name.is_empty() || value.is_empty() || room < MIN_FIELD {
            continue;
        }
        let name = fit(&name, MAX_FIELD_NAME.min(room / 2));
        let value = fit(&value, MAX_FIELD_VALUE.min(room - units(&name)));
        let mut line = Html::default();
        line.tagged("b", &format!("{name}:")).text(" ").text(&value);
        used += line.visible + 1;
        fields.push(line);
    }
    let fields_cost = if fields.is_empty() { 0 } else { used + 1 };
    let text_room = MAX_TEXT.saturating_sub(fixed + fields_cost + 2);

    let mut sections = vec![title.markup];
    if !text.is_empty() {
        let mut body = Html::default();
        body.text(&fit(&text, text_room));
        sections.push(body.markup);
    }
    if !fields.is_empty() {
        let lines: Vec<String> = fields.into_iter().map(|l| l.markup).collect();
        sections.push(lines.join("\n"));
    }
    if footer.visible > 0 {
        sections.push(footer.markup);
    }
    json!({
        "chat_id": settings.chat.json(),
        "text": sections.join("\n\n"),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::destinations::telegram::ChatId;
    use crate::destinations::{MessageField, SettingsContext};

    fn sandboxed() -> TelegramSettings {
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
                value: "ACME & Co".into(),
            }],
            urgency: Some("critical".into()),
            link: Some("https://klaxon.example.com/#evt_1?a=1&b=\"2\"".into()),
            event_id: "evt_1".into(),
            event_type: "support.ticket.created".into(),
            occurred_at: "2026-12-05T08:00:00Z".into(),
        }
    }

    fn body_of(body: &str) -> Value {
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["parse_mode"], "HTML");
        assert_eq!(body["link_preview_options"], json!({"is_disabled": true}));
        body
    }

    /// The text as Telegram shows it: tags dropped, the four entities decoded. Panics on any
    /// tag Klaxon does not generate.
    fn parsed(html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        while let Some(i) = rest.find(['<', '&']) {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if rest.starts_with('<') {
                let end = rest.find('>').unwrap();
                let tag = &rest[1..end];
                let name = tag.trim_start_matches('/').split(' ').next().unwrap();
                assert!(["b", "code", "a"].contains(&name), "tag {tag:?}");
                rest = &rest[end + 1..];
            } else {
                let end = rest.find(';').unwrap();
                out.push(match &rest[..=end] {
                    "&amp;" => '&',
                    "&lt;" => '<',
                    "&gt;" => '>',
                    "&quot;" => '"',
                    other => panic!("entity {other}"),
                });
                rest = &rest[end + 1..];
            }
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn an_ordinary_message_is_html_with_escaped_values() {
        let body = body_of(&render(&sandboxed(), &message()));
        assert_eq!(body["chat_id"], json!(-1001));
        assert_eq!(
            body["text"],
            "<b>[CRITICAL] Checkout down</b>\n\nEU customers cannot pay.\n\n<b>Customer:</b> ACME &amp; Co\n\n<code>support.ticket.created</code> · <a href=\"https://klaxon.example.com/#evt_1?a=1&amp;b=&quot;2&quot;\">Open in Klaxon</a>"
        );
        let at = TelegramSettings {
            chat: ChatId::Username("@klaxon_alerts".into()),
            ..sandboxed()
        };
        assert_eq!(
            body_of(&render(&at, &message()))["chat_id"],
            "@klaxon_alerts"
        );
    }

    #[test]
    fn hostile_text_cannot_add_markup() {
        let hostile = Message {
            title: "</b><script>alert(1)</script>".into(),
            text: "<a href=\"https://evil.example\">click</a> &amp; &lt; @everyone <pre>".into(),
            fields: vec![MessageField {
                name: "<i>x</i>".into(),
                value: "\"quoted\" & 'single'".into(),
            }],
            link: Some("javascript:alert(1)".into()),
            ..message()
        };
        let text = body_of(&render(&sandboxed(), &hostile))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            text,
            "<b>&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;</b>\n\n&lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt; &amp;amp; &amp;lt; @everyone &lt;pre&gt;\n\n<b>&lt;i&gt;x&lt;/i&gt;:</b> &quot;quoted&quot; &amp; 'single'\n\n<code>support.ticket.created</code>"
        );
        // As shown: exactly what the event said.
        assert!(parsed(&text).starts_with("</b><script>alert(1)</script>\n\n<a href="));
    }

    #[test]
    fn long_text_fits_telegrams_limit_after_parsing() {
        let long = Message {
            title: "<T>".repeat(200),
            text: "&<>\"x".repeat(2_000),
            fields: (0..40)
                .map(|i| MessageField {
                    name: format!("field {i}"),
                    value: "<&>".repeat(500),
                })
                .collect(),
            ..message()
        };
        let text = body_of(&render(&sandboxed(), &long))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let shown = parsed(&text);
        assert!(units(&shown) <= MAX_TEXT, "{}", units(&shown));
        assert!(units(&shown) > MAX_TEXT - 20, "{}", units(&shown));
        assert!(shown.starts_with(&format!("{}…", "<T>".repeat(85))));
        let body = shown.split("\n\n").nth(1).unwrap();
        assert!(units(body) >= TEXT_RESERVE, "{}", units(body));
        assert!(body.ends_with('…'));
        assert!(shown.ends_with("\n\nsupport.ticket.created · Open in Klaxon"));

        // Emoji are two UTF-16 units each: still within the limit.
        let emoji = Message {
            text: "🔥".repeat(10_000),
            fields: Vec::new(),
            ..message()
        };
        let text = body_of(&render(&sandboxed(), &emoji))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let shown = parsed(&text);
        assert!(units(&shown) <= MAX_TEXT);
        assert!(units(&shown) > MAX_TEXT - 10, "{}", units(&shown));
    }

    #[test]
    fn a_cut_counts_utf16_and_ends_with_an_ellipsis() {
        assert_eq!(fit("fits", 4), "fits");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("ab  cdef", 4), "ab…");
        assert_eq!(fit("🔥🔥🔥", 4), "🔥…");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(escape("<&>\"'"), "&lt;&amp;&gt;&quot;'");
    }
}
