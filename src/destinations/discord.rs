//! Discord: one embed through a channel webhook (execute webhook, `?wait=true`).
//!
//! - settings: `discord = { webhook_url_env = "DISCORD_WEBHOOK_URL" }`, plus `username` (the
//!   author shown; default: the webhook's own name), `max_per_second` (default 2 per webhook;
//!   Discord allows about 5 requests per 2 s; 0 = off), `timeout_secs`, `api_base` (Discord's
//!   origin; for a stand-in server) and `template`. The webhook URL holds the webhook's
//!   token, so it only comes from the environment and only its id is ever shown. In sandbox
//!   mode, a destination whose variable is unset posts to the sandbox Discord instead.
//! - the request: `POST {api_base}/api/v10/webhooks/{id}/{token}?wait=true` with one embed:
//!   the title (linked to the live page when `PUBLIC_URL` is set), the text, up to 25 fields,
//!   the event type as footer, `occurred_at` as timestamp and a colour by urgency. Every
//!   event value is escaped for Discord's markdown, everything is cut (with an ellipsis,
//!   never refused) to Discord's embed limits and its 6,000-character total, and
//!   `allowed_mentions: {"parse": []}` is always sent, so event text can never ping.
//! - the answer: 2xx → delivered; 429 → retried after the body's `retry_after` (fractional
//!   seconds; `Retry-After` when the body has none); 401 or `10015 Unknown Webhook` → the
//!   destination is disabled (the webhook was deleted); other 4xx → dead with Discord's
//!   message; 5xx, timeouts and broken connections → retried.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http_post::{self, Answer};
use super::message::Message;
use super::rate_limit::Pace;
use super::report::{Report, Verdict};
use super::{Problems, Providers, SettingsContext};
use crate::sandbox::chat as sandbox;

/// Discord's origin.
pub const DEFAULT_API_BASE: &str = "https://discord.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Discord allows about 5 requests per 2 s per webhook; 2 a second stays clear of it.
pub const DEFAULT_PER_SECOND: f64 = 2.0;

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

/// `discord = { … }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscord {
    pub webhook_url_env: Option<String>,
    pub username: Option<String>,
    pub max_per_second: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub api_base: Option<String>,
}

crate::redacted::redacted_string! {
    /// A webhook's token, the last segment of its URL: whoever has it can post.
    pub struct DiscordToken;
}

/// A webhook, from the URL in the environment.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// A snowflake; not a secret.
    pub id: String,
    pub token: DiscordToken,
}

/// A Discord destination, validated.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// `None`: the sandbox's webhook.
    pub webhook: Option<Webhook>,
    pub username: Option<String>,
    pub pace: Pace,
    pub timeout: Duration,
    pub api_base: String,
}

impl DiscordSettings {
    /// For `/v1/destinations`: the webhook's id, never its token or URL.
    pub fn summary(&self) -> String {
        match &self.webhook {
            Some(webhook) => format!("discord webhook {}", webhook.id),
            None => format!("discord webhook {} (sandbox)", sandbox::DISCORD_WEBHOOK_ID),
        }
    }

    pub fn uses_sandbox(&self) -> bool {
        self.webhook.is_none()
    }
}

/// Validates the settings; problems are keyed below `discord`.
pub fn settings(
    raw: RawDiscord,
    context: &SettingsContext<'_>,
) -> Result<DiscordSettings, Problems> {
    let mut problems = Problems::new();
    let webhook = match &raw.webhook_url_env {
        Some(var) => match (context.env)(var).filter(|v| !v.trim().is_empty()) {
            Some(url) => {
                let parsed = parse_webhook_url(url.trim());
                if parsed.is_none() {
                    // Never the value: it holds the token.
                    problems.push(
                        "webhook_url_env",
                        format!(
                            "{var} does not hold a Discord webhook URL (https://discord.com/api/webhooks/<id>/<token>)"
                        ),
                    );
                }
                parsed
            }
            None if context.sandbox => None,
            None => {
                problems.push(
                    "webhook_url_env",
                    format!("the environment variable {var} is not set"),
                );
                None
            }
        },
        None if context.sandbox => None,
        None => {
            problems.push(
                "webhook_url_env",
                "name the environment variable holding the webhook URL (webhook_url_env = \"DISCORD_WEBHOOK_URL\")",
            );
            None
        }
    };
    if let Some(username) = &raw.username {
        let length = username.chars().count();
        let lower = username.to_lowercase();
        if !(1..=80).contains(&length) || username.trim().is_empty() {
            problems.push("username", "must be 1 to 80 characters, not blank");
        } else if ["discord", "clyde"].iter().any(|word| lower.contains(word)) {
            problems.push(
                "username",
                "Discord refuses a webhook username containing \"discord\" or \"clyde\"",
            );
        }
    }
    let pace = match raw.max_per_second {
        None => Some(DEFAULT_PER_SECOND),
        Some(p) if p == 0.0 => None,
        Some(p) if p > 0.0 && p <= 50.0 => Some(p),
        Some(p) => {
            problems.push(
                "max_per_second",
                format!("{p} is not between 0 (off) and 50"),
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
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(DiscordSettings {
        webhook,
        username: raw.username,
        pace,
        timeout,
        api_base,
    })
}

/// The id and token of `https://discord.com/api[/v10]/webhooks/<id>/<token>` (also
/// `discordapp.com` and the `ptb.`/`canary.` hosts). Requests go to `api_base` whatever the
/// host was, so a test can point real-looking credentials at a stand-in server.
fn parse_webhook_url(url: &str) -> Option<Webhook> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let discord_host = ["discord.com", "discordapp.com"]
        .iter()
        .any(|base| host == *base || host.strip_suffix(base).is_some_and(|p| p.ends_with('.')));
    if parsed.scheme() != "https" || !discord_host || parsed.query().is_some() {
        return None;
    }
    let segments: Vec<&str> = parsed.path_segments()?.filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", version, rest @ ..] if version.starts_with('v') => rest,
        ["api", rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        ["webhooks", id, token] if is_snowflake(id) && is_token(token) => Some(Webhook {
            id: (*id).to_owned(),
            token: DiscordToken::new(*token),
        }),
        _ => None,
    }
}

fn is_snowflake(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn is_token(token: &str) -> bool {
    (1..=200).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Characters Discord's markdown gives a meaning to (emphasis, code, spoilers, quotes,
/// headings, lists, masked links, mentions). A backslash before any of them shows it as
/// typed; `@` is escaped too so `@everyone` reads as text even where mentions render.
fn is_markdown(c: char) -> bool {
    matches!(
        c,
        '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '>' | '[' | ']' | '(' | ')' | '#' | '-' | '@'
    )
}

/// `text` escaped for Discord's markdown, in at most `max` characters: when it does not
/// fit, it is cut (never between a backslash and what it escapes) and ends with `…`.
fn markdown(text: &str, max: usize) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let cost = |c: char| if is_markdown(c) { 2 } else { 1 };
    let whole: usize = text.chars().map(cost).sum();
    let limit = if whole <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut used = 0;
    for c in text.chars() {
        if used + cost(c) > limit {
            break;
        }
        if is_markdown(c) {
            out.push('\\');
        }
        out.push(c);
        used += cost(c);
    }
    if whole > max && max > 0 {
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
    super::template::truncated(one_line, max)
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
    link.len() <= 2048
        && reqwest::Url::parse(link)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// One attempt.
pub async fn send(settings: &DiscordSettings, providers: &Providers, body: &str) -> Report {
    let (origin, id, token) = match &settings.webhook {
        Some(webhook) => (
            settings.api_base.clone(),
            webhook.id.as_str(),
            webhook.token.expose(),
        ),
        None => match &providers.sandbox {
            Some(base) => (
                format!("{base}/{}", sandbox::Service::Discord.as_str()),
                sandbox::DISCORD_WEBHOOK_ID,
                sandbox::DISCORD_WEBHOOK_TOKEN,
            ),
            None => {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "no webhook URL and no sandbox: set the destination's webhook_url_env variable",
                );
            }
        },
    };
    if let Err(wait) = providers
        .pace
        .wait(&format!("discord:{id}"), settings.pace)
        .await
    {
        return Report::failed(
            Verdict::Retry { after: Some(wait) },
            None,
            format!("paced: the webhook's queue is {} s long", wait.as_secs()),
        );
    }
    let url = format!("{origin}/api/v10/webhooks/{id}/{token}?wait=true");
    let report =
        match http_post::post_json(&providers.http, &url, &[], body, settings.timeout).await {
            Ok(answer) => judge(answer),
            Err(error) => Report::failed(Verdict::Retry { after: None }, None, error.to_string()),
        };
    // The sandbox's token is no secret (and a common word): only a real one is scrubbed.
    match &settings.webhook {
        Some(webhook) => redacted(report, webhook.token.expose()),
        None => report,
    }
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
    match answer.status {
        200..=299 => Report::delivered(status, snippet),
        429 => {
            // The body's value is exact (fractional seconds); the header is rounded up.
            let after = json["retry_after"]
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
                .or(answer.retry_after)
                .unwrap_or(Duration::from_secs(1));
            let scope = if json["global"] == true {
                " (global)"
            } else {
                ""
            };
            Report::failed(
                Verdict::Retry { after: Some(after) },
                status,
                format!(
                    "rate limited by Discord{scope}: retry after {:.3} s",
                    after.as_secs_f64()
                ),
            )
            .with_response(snippet)
        }
        401 => Report::failed(
            Verdict::Disable,
            status,
            format!("{}: the webhook's token is no longer valid", said(&json)),
        )
        .with_response(snippet),
        404 if json["code"] == 10015 => Report::failed(
            Verdict::Disable,
            status,
            format!("{}: the webhook was deleted", said(&json)),
        )
        .with_response(snippet),
        400..=499 => Report::failed(Verdict::Dead, status, said(&json)).with_response(snippet),
        _ => Report::failed(
            Verdict::Retry { after: None },
            status,
            format!("HTTP {}: {}", answer.status, said(&json)),
        )
        .with_response(snippet),
    }
}

/// `Discord said 50035 Invalid Form Body (embeds.0.title: Must be 256 or fewer in length.)`
fn said(json: &Value) -> String {
    let message = json["message"].as_str().unwrap_or("no message");
    let mut out = match json["code"].as_u64() {
        Some(code) if code != 0 => format!("Discord said {code} {message}"),
        _ => format!("Discord said {message}"),
    };
    if let Some((path, detail)) = first_form_error(&json["errors"], String::new()) {
        out.push_str(&format!(" ({path}: {detail})"));
    }
    out
}

/// The first `{"_errors": [{"message"}]}` below `errors`, with its dotted path.
fn first_form_error(errors: &Value, path: String) -> Option<(String, String)> {
    let object = errors.as_object()?;
    if let Some(message) = object
        .get("_errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e["message"].as_str())
    {
        return Some((path, message.to_owned()));
    }
    object.iter().find_map(|(key, inner)| {
        let below = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        first_form_error(inner, below)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::MessageField;

    const URL: &str = "https://discord.com/api/webhooks/223704706495545344/3d89bb7572e0fb30d8128367b3b1b44fecd1726de135cbe28a41f8b2f777c372ba2939e72279b94526ff5d1bd4358d65cf11";

    fn context<'a>(env: &'a dyn Fn(&str) -> Option<String>, sandbox: bool) -> SettingsContext<'a> {
        SettingsContext {
            env,
            public_url: None,
            sandbox,
        }
    }

    fn raw(toml_text: &str) -> RawDiscord {
        toml::from_str(toml_text).unwrap()
    }

    fn sandboxed() -> DiscordSettings {
        let none = |_: &str| None;
        settings(raw(""), &context(&none, true)).unwrap()
    }

    fn keys(problems: Problems) -> Vec<String> {
        problems.into_inner().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_webhook_comes_from_the_environment_and_only_its_id_is_shown() {
        let env = |var: &str| (var == "HOOK").then(|| URL.to_owned());
        let real = settings(raw(r#"webhook_url_env = "HOOK""#), &context(&env, false)).unwrap();
        assert!(!real.uses_sandbox());
        assert_eq!(real.summary(), "discord webhook 223704706495545344");
        assert_eq!(real.pace, Some(DEFAULT_PER_SECOND));
        let token = URL.rsplit('/').next().unwrap();
        assert!(!format!("{real:?}").contains(token), "no token in Debug");

        for url in [
            "https://discordapp.com/api/webhooks/1/abc",
            "https://canary.discord.com/api/v10/webhooks/1/abc",
            "https://ptb.discord.com/api/v9/webhooks/1/a-b_c",
        ] {
            assert!(parse_webhook_url(url).is_some(), "{url}");
        }
        for url in [
            "http://discord.com/api/webhooks/1/abc",
            "https://evil.example/api/webhooks/1/abc",
            "https://notdiscord.com/api/webhooks/1/abc",
            "https://discord.com/api/webhooks/abc/abc",
            "https://discord.com/api/webhooks/1",
            "https://discord.com/api/webhooks/1/abc?thread_id=2",
            "https://discord.com/webhooks/1/abc",
        ] {
            assert!(parse_webhook_url(url).is_none(), "{url}");
        }
    }

    #[test]
    fn without_credentials_it_is_the_sandbox_or_a_problem() {
        let none = |_: &str| None;
        let sandbox = settings(
            raw(r#"webhook_url_env = "DISCORD_WEBHOOK_URL""#),
            &context(&none, true),
        )
        .unwrap();
        assert!(sandbox.uses_sandbox());
        assert_eq!(sandbox.summary(), "discord webhook 1 (sandbox)");

        let problems = settings(
            raw(r#"webhook_url_env = "DISCORD_WEBHOOK_URL""#),
            &context(&none, false),
        )
        .unwrap_err()
        .into_inner();
        assert_eq!(
            problems,
            [(
                "webhook_url_env".to_owned(),
                "the environment variable DISCORD_WEBHOOK_URL is not set".to_owned()
            )]
        );
        assert_eq!(
            keys(settings(raw(""), &context(&none, false)).unwrap_err()),
            ["webhook_url_env"]
        );
    }

    #[test]
    fn every_settings_problem_is_named_and_no_url_is_shown() {
        let secret = "https://evil.example/api/webhooks/1/s3cret-token";
        let env = |_: &str| Some(secret.to_owned());
        let problems = settings(
            raw(r#"webhook_url_env = "HOOK"
username = "Discord Bot"
max_per_second = -1
timeout_secs = 0
api_base = "ftp://x""#),
            &context(&env, false),
        )
        .unwrap_err()
        .into_inner();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "webhook_url_env",
                "username",
                "max_per_second",
                "timeout_secs",
                "api_base"
            ]
        );
        assert!(!format!("{problems:?}").contains("s3cret"), "{problems:?}");
        assert_eq!(
            keys_of(r#"username = """#),
            ["username"],
            "an empty username"
        );
        assert!(toml::from_str::<RawDiscord>("webhook_url = \"x\"").is_err());
        let off = settings(raw("max_per_second = 0"), &context(&|_| None, true)).unwrap();
        assert_eq!(off.pace, None);
    }

    fn keys_of(toml_text: &str) -> Vec<String> {
        keys(settings(raw(toml_text), &context(&|_| None, true)).unwrap_err())
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

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn answers_are_judged_as_discord_means_them() {
        assert_eq!(
            judge(answer(200, json!({"id": "1"}))).verdict,
            Verdict::Delivered
        );
        assert_eq!(
            judge(Answer {
                status: 204,
                retry_after: None,
                body: String::new()
            })
            .verdict,
            Verdict::Delivered
        );
        let limited = judge(Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
            body: json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}).to_string(),
        });
        assert_eq!(
            limited.verdict,
            Verdict::Retry {
                after: Some(Duration::from_millis(1500))
            }
        );
        let header_only = judge(Answer {
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
            body: String::new(),
        });
        assert_eq!(
            header_only.verdict,
            Verdict::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        let gone = judge(answer(
            404,
            json!({"code": 10015, "message": "Unknown Webhook"}),
        ));
        assert_eq!(gone.verdict, Verdict::Disable);
        assert_eq!(
            gone.error.as_deref(),
            Some("Discord said 10015 Unknown Webhook: the webhook was deleted")
        );
        assert_eq!(
            judge(answer(
                401,
                json!({"code": 50027, "message": "Invalid Webhook Token"})
            ))
            .verdict,
            Verdict::Disable
        );
        let invalid = judge(answer(
            400,
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}}),
        ));
        assert_eq!(invalid.verdict, Verdict::Dead);
        assert_eq!(
            invalid.error.as_deref(),
            Some(
                "Discord said 50035 Invalid Form Body (embeds.0.title: Must be 256 or fewer in length.)"
            )
        );
        assert_eq!(
            judge(answer(404, json!({"code": 0, "message": "404: Not Found"}))).verdict,
            Verdict::Dead
        );
        assert_eq!(
            judge(answer(
                502,
                json!({"code": 0, "message": "502: Bad Gateway"})
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
            "error sending request for url (https://discord.com/api/v10/webhooks/1/tok-en?wait=true)",
        )
        .with_response(Some("echo tok-en".into()));
        let report = redacted(report, "tok-en");
        assert_eq!(
            report.error.as_deref(),
            Some(
                "error sending request for url (https://discord.com/api/v10/webhooks/1/[redacted]?wait=true)"
            )
        );
        assert_eq!(report.response.as_deref(), Some("echo [redacted]"));
    }
}
