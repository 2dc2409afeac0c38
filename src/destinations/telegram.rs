//! Telegram: an HTML message from a bot, through `sendMessage`, to a chat or channel.
//!
//! - settings: `telegram = { token_env = "TELEGRAM_BOT_TOKEN", chat_id = "-1001234567890" }`
//!   (a numeric id, as a string or a number, or a public `"@channel"`), plus
//!   `max_per_second` (default 1 per chat, Telegram's own limit for one chat; 0 = off),
//!   `timeout_secs`, `api_base` (Telegram's origin; for a stand-in server) and `template`.
//!   In sandbox mode, a destination whose variable is unset posts to the sandbox Telegram
//!   (and to its chat when `chat_id` is not given).
//! - the request: `POST {api_base}/bot{token}/sendMessage` with `parse_mode: "HTML"`: the
//!   title in bold, the text, the fields as `name: value` lines, the event type and a link
//!   to the live page; link previews off (`link_preview_options`). Only `<b>`, `<code>` and
//!   `<a href>` are generated; every event value is escaped (`&`, `<`, `>`, `"`), so event
//!   text cannot add markup. Telegram's 4,096-character limit counts the text after its
//!   tags and entities are parsed: parts are cut to fit (with an ellipsis, before escaping,
//!   so no tag or entity is ever cut), counted in UTF-16 units as Telegram counts offsets.
//! - the answer: `ok:true` → delivered; 429 → retried after `parameters.retry_after`; 401
//!   (the token is wrong or revoked) and 403 (the bot was blocked, kicked or is not in the
//!   chat) → the destination is disabled, as every later message would fail the same way
//!   until someone fixes the bot, then enables it and replays; another 4xx (`chat not
//!   found`, a group that became a supergroup) → dead with Telegram's description; 5xx,
//!   timeouts and broken connections → retried.
//!
//! The token is part of the URL path: it is scrubbed from every error and answer kept.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http_post::{self, Answer};
use super::message::Message;
use super::rate_limit::Pace;
use super::report::{Report, Verdict};
use super::{Problems, Providers, SettingsContext};
use crate::sandbox::chat as sandbox;

/// Telegram's origin.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Telegram asks bots to send no more than about one message per second to one chat.
pub const DEFAULT_PER_SECOND: f64 = 1.0;

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

/// `telegram = { … }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    pub token_env: Option<String>,
    pub chat_id: Option<RawChatId>,
    pub max_per_second: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub api_base: Option<String>,
}

/// `chat_id = -1001234567890`, `"-1001234567890"` or `"@channel"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawChatId {
    Number(i64),
    Text(String),
}

/// Where messages go: sent as Telegram takes it, a number or a `@username` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatId {
    Id(i64),
    Username(String),
}

impl ChatId {
    fn json(&self) -> Value {
        match self {
            ChatId::Id(id) => json!(id),
            ChatId::Username(name) => json!(name),
        }
    }
}

impl std::fmt::Display for ChatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChatId::Id(id) => write!(f, "{id}"),
            ChatId::Username(name) => f.write_str(name),
        }
    }
}

crate::redacted::redacted_string! {
    /// A bot token (`123456:ABC…`): whoever has it controls the bot.
    pub struct TelegramToken;
}

/// A Telegram destination, validated.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// `None`: the sandbox's bot.
    pub token: Option<TelegramToken>,
    pub chat: ChatId,
    pub pace: Pace,
    pub timeout: Duration,
    pub api_base: String,
}

impl TelegramSettings {
    /// For `/v1/destinations`: the chat, never the token.
    pub fn summary(&self) -> String {
        let sandbox = if self.uses_sandbox() {
            " (sandbox)"
        } else {
            ""
        };
        format!("telegram chat {}{sandbox}", self.chat)
    }

    pub fn uses_sandbox(&self) -> bool {
        self.token.is_none()
    }
}

/// Validates the settings; problems are keyed below `telegram`.
pub fn settings(
    raw: RawTelegram,
    context: &SettingsContext<'_>,
) -> Result<TelegramSettings, Problems> {
    let mut problems = Problems::new();
    let token = match &raw.token_env {
        Some(var) => match (context.env)(var).filter(|v| !v.trim().is_empty()) {
            Some(token) if is_token(token.trim()) => Some(TelegramToken::new(token.trim())),
            Some(_) => {
                // Never the value itself.
                problems.push(
                    "token_env",
                    format!("{var} does not hold a bot token (123456789:AA… from @BotFather)"),
                );
                None
            }
            None if context.sandbox => None,
            None => {
                problems.push(
                    "token_env",
                    format!("the environment variable {var} is not set"),
                );
                None
            }
        },
        None if context.sandbox => None,
        None => {
            problems.push(
                "token_env",
                "name the environment variable holding the bot token (token_env = \"TELEGRAM_BOT_TOKEN\")",
            );
            None
        }
    };
    let chat = match &raw.chat_id {
        Some(raw_chat) => {
            let chat = chat_id(raw_chat);
            if chat.is_none() {
                problems.push(
                    "chat_id",
                    format!(
                        "{raw_chat:?} is not a chat: use its numeric id (\"-1001234567890\") or a public \"@username\""
                    ),
                );
            }
            chat
        }
        None if token.is_none() && context.sandbox => Some(ChatId::Id(sandbox::TELEGRAM_CHAT_ID)),
        None => {
            problems.push(
                "chat_id",
                "name the chat to post to: its numeric id (\"-1001234567890\") or a public \"@username\"",
            );
            None
        }
    };
    let pace = match raw.max_per_second {
        None => Some(DEFAULT_PER_SECOND),
        Some(p) if p == 0.0 => None,
        Some(p) if p > 0.0 && p <= 30.0 => Some(p),
        Some(p) => {
            problems.push(
                "max_per_second",
                format!("{p} is not between 0 (off) and 30"),
            );
            None
        }
    };
    let timeout = match raw.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(s @ 1..=60) => Duration::from_secs(s),
        Some(s) => {
            problems.push("timeout_secs", format!("must be between 1 and 60, got {s}"));
            DEFAULT_TIMEOUT
        }
    };
    let api_base = raw
        .api_base
        .unwrap_or_else(|| DEFAULT_API_BASE.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        problems.push("api_base", format!("{api_base:?} is not an http(s) URL"));
    }
    match chat {
        Some(chat) if problems.is_empty() => Ok(TelegramSettings {
            token,
            chat,
            pace,
            timeout,
            api_base,
        }),
        _ => Err(problems),
    }
}

/// `<digits>:<letters, digits, - and _>`, as @BotFather issues them; nothing else may go
/// into the URL path.
fn is_token(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, secret)| {
        (1..=20).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit())
            && (1..=100).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn chat_id(raw: &RawChatId) -> Option<ChatId> {
    match raw {
        RawChatId::Number(id) if *id != 0 => Some(ChatId::Id(*id)),
        RawChatId::Number(_) => None,
        RawChatId::Text(text) => {
            let text = text.trim();
            if let Ok(id) = text.parse::<i64>() {
                return (id != 0).then_some(ChatId::Id(id));
            }
            let name = text.strip_prefix('@')?;
            ((5..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then(|| ChatId::Username(text.to_owned()))
        }
    }
}

/// Length as Telegram counts it: UTF-16 code units.
fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` in at most `max` UTF-16 units, cut with `…` when it does not fit. Cut before
/// escaping, so the cut can never fall inside a tag or an entity.
fn fit(text: &str, max: usize) -> String {
    if units(text) <= max {
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
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Line breaks as `\n`, and the text without leading or trailing blank space (Telegram
/// trims it anyway, after counting).
fn clean(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim()
        .to_owned()
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

/// An http(s) URL: nothing else becomes a link.
fn is_web_link(link: &str) -> bool {
    reqwest::Url::parse(link)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// One attempt.
pub async fn send(settings: &TelegramSettings, providers: &Providers, body: &str) -> Report {
    let (origin, token) = match &settings.token {
        Some(token) => (settings.api_base.clone(), token.expose()),
        None => match &providers.sandbox {
            Some(base) => (
                format!("{base}/{}", sandbox::Service::Telegram.as_str()),
                sandbox::TELEGRAM_BOT_TOKEN,
            ),
            None => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "no bot token and no sandbox: set the destination's token_env variable",
                );
            }
        },
    };
    // Telegram's limit is per bot and chat; the bot's id (before the `:`) is public.
    let bot = token.split(':').next().unwrap_or_default();
    let key = format!("telegram:{bot}:{}", settings.chat);
    if let Err(wait) = providers.pace.wait(&key, settings.pace).await {
        return Report::failed(
            Verdict::Retry { after: Some(wait) },
            None,
            format!("paced: the chat's queue is {} s long", wait.as_secs()),
        );
    }
    let url = format!("{origin}/bot{token}/sendMessage");
    let report =
        match http_post::post_json(&providers.http, &url, &[], body, settings.timeout).await {
            Ok(answer) => judge(answer),
            Err(error) => Report::failed(Verdict::Retry { after: None }, None, error.to_string()),
        };
    redacted(report, token)
}

/// The report with the token taken out of everything it says: a transport error may quote
/// the URL, and an answer could echo it.
fn redacted(mut report: Report, token: &str) -> Report {
    let scrub = |text: String| text.replace(token, "[redacted]");
    report.error = report.error.map(scrub);
    report.response = report.response.map(scrub);
    report
}

/// What the answer means.
fn judge(answer: Answer) -> Report {
    let status = Some(answer.status);
    let snippet = Some(answer.body.chars().take(512).collect::<String>());
    let json = answer.json().unwrap_or(Value::Null);
    let description = json["description"].as_str().unwrap_or("no description");
    let said = format!("Telegram said {description}");
    match answer.status {
        200..=299 if json["ok"] == true => Report::delivered(status, snippet),
        429 => {
            let after = json["parameters"]["retry_after"]
                .as_u64()
                .map(|s| Duration::from_secs(s.min(86_400)))
                .or(answer.retry_after)
                .unwrap_or(Duration::from_secs(1));
            Report::failed(Verdict::Retry { after: Some(after) }, status, said)
                .with_response(snippet)
        }
        401 => Report::failed(
            Verdict::Disable,
            status,
            format!("{said}: the bot token is wrong or was revoked"),
        )
        .with_response(snippet),
        403 => Report::failed(
            Verdict::Disable,
            status,
            format!("{said}: the bot cannot post to this chat"),
        )
        .with_response(snippet),
        400..=499 => {
            let error = match json["parameters"]["migrate_to_chat_id"].as_i64() {
                Some(moved) => format!("{said}: the group is now chat {moved}; update chat_id"),
                None => said,
            };
            Report::failed(Verdict::Dead, status, error).with_response(snippet)
        }
        _ => Report::failed(
            Verdict::Retry { after: None },
            status,
            format!("HTTP {}: {said}", answer.status),
        )
        .with_response(snippet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::MessageField;

    const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    fn context<'a>(env: &'a dyn Fn(&str) -> Option<String>, sandbox: bool) -> SettingsContext<'a> {
        SettingsContext {
            env,
            public_url: None,
            sandbox,
        }
    }

    fn raw(toml_text: &str) -> RawTelegram {
        toml::from_str(toml_text).unwrap()
    }

    fn sandboxed() -> TelegramSettings {
        settings(raw(""), &context(&|_| None, true)).unwrap()
    }

    #[test]
    fn the_token_comes_from_the_environment_and_is_never_shown() {
        let env = |var: &str| (var == "BOT").then(|| TOKEN.to_owned());
        for (chat, shown) in [
            (r#"chat_id = "-1001234567890""#, "-1001234567890"),
            ("chat_id = -1001234567890", "-1001234567890"),
            (r#"chat_id = "@klaxon_alerts""#, "@klaxon_alerts"),
        ] {
            let real = settings(
                raw(&format!("token_env = \"BOT\"\n{chat}")),
                &context(&env, false),
            )
            .unwrap();
            assert!(!real.uses_sandbox());
            assert_eq!(real.summary(), format!("telegram chat {shown}"));
            assert!(!format!("{real:?}").contains("AAHdq"), "no token in Debug");
        }
        let numeric = settings(
            raw("token_env = \"BOT\"\nchat_id = \"-100123\""),
            &context(&env, false),
        )
        .unwrap();
        assert_eq!(numeric.chat, ChatId::Id(-100_123), "sent as a number");
        assert_eq!(numeric.pace, Some(DEFAULT_PER_SECOND));
    }

    #[test]
    fn without_credentials_it_is_the_sandbox_or_a_problem() {
        let none = |_: &str| None;
        let sandbox = sandboxed();
        assert!(sandbox.uses_sandbox());
        assert_eq!(sandbox.summary(), "telegram chat -1001 (sandbox)");
        let problems = settings(
            raw("token_env = \"TELEGRAM_BOT_TOKEN\"\nchat_id = \"@alerts_chat\""),
            &context(&none, false),
        )
        .unwrap_err()
        .into_inner();
        assert_eq!(
            problems,
            [(
                "token_env".to_owned(),
                "the environment variable TELEGRAM_BOT_TOKEN is not set".to_owned()
            )]
        );
        let keys: Vec<String> = settings(raw(""), &context(&none, false))
            .unwrap_err()
            .into_inner()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["token_env", "chat_id"]);
    }

    #[test]
    fn every_settings_problem_is_named_and_no_token_is_shown() {
        let env = |_: &str| Some("not a token s3cret".to_owned());
        let problems = settings(
            raw(r#"token_env = "BOT"
chat_id = "alerts"
max_per_second = 100
timeout_secs = 61
api_base = "api.telegram.org""#),
            &context(&env, false),
        )
        .unwrap_err()
        .into_inner();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "token_env",
                "chat_id",
                "max_per_second",
                "timeout_secs",
                "api_base"
            ]
        );
        assert!(!format!("{problems:?}").contains("s3cret"), "{problems:?}");
        for bad in [
            "chat_id = 0",
            r#"chat_id = "@abc""#,
            r#"chat_id = "@has space""#,
        ] {
            let problems = settings(raw(bad), &context(&|_| None, true)).unwrap_err();
            assert_eq!(problems.into_inner()[0].0, "chat_id", "{bad}");
        }
        assert!(toml::from_str::<RawTelegram>("token = \"x\"").is_err());
        assert!(is_token(TOKEN));
        assert!(!is_token("123:abc/../x"));
        assert!(!is_token(":abc"));
        let off = settings(raw("max_per_second = 0"), &context(&|_| None, true)).unwrap();
        assert_eq!(off.pace, None);
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

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn answers_are_judged_as_telegram_means_them() {
        assert_eq!(
            judge(answer(
                200,
                json!({"ok": true, "result": {"message_id": 1}})
            ))
            .verdict,
            Verdict::Delivered
        );
        let limited = judge(answer(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}),
        ));
        assert_eq!(
            limited.verdict,
            Verdict::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        let missing = judge(answer(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ));
        assert_eq!(missing.verdict, Verdict::Dead);
        assert_eq!(
            missing.error.as_deref(),
            Some("Telegram said Bad Request: chat not found")
        );
        let moved = judge(answer(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": -1_009_876}}),
        ));
        assert!(
            moved
                .error
                .unwrap()
                .ends_with("the group is now chat -1009876; update chat_id")
        );
        assert_eq!(
            judge(answer(
                401,
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
            ))
            .verdict,
            Verdict::Disable
        );
        let blocked = judge(answer(
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was kicked from the supergroup chat"}),
        ));
        assert_eq!(blocked.verdict, Verdict::Disable);
        assert_eq!(
            judge(answer(
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"})
            ))
            .verdict,
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn reports_never_carry_the_token() {
        let report = Report::failed(
            Verdict::Retry { after: None },
            None,
            format!(
                "error sending request for url (https://api.telegram.org/bot{TOKEN}/sendMessage)"
            ),
        );
        let report = redacted(report, TOKEN);
        assert_eq!(
            report.error.as_deref(),
            Some(
                "error sending request for url (https://api.telegram.org/bot[redacted]/sendMessage)"
            )
        );
    }
}
