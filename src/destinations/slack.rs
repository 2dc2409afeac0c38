//! Slack: a Block Kit message, through a bot token and `chat.postMessage` to a channel, or
//! through an incoming webhook.
//!
//! - settings: `slack = { channel = "#alerts", token_env = "SLACK_BOT_TOKEN" }` or
//!   `slack = { webhook_url_env = "SLACK_WEBHOOK_URL" }`, plus `max_per_second` (default 1,
//!   Slack's pace for one channel; 0 = off), `timeout_secs`, `api_base` (Slack's origin; for
//!   a stand-in server) and `template`. In sandbox mode, a destination whose variable is unset
//!   posts to the sandbox Slack instead.
//! - the request: a header (the title), the text, up to ten fields, and a context line with
//!   the urgency, the event type and a link to the live page. Every value is escaped for
//!   `mrkdwn` (`&`, `<`, `>`), so event text cannot mention `@channel` or forge a link.
//! - the answer: `ok:true` (or the webhook's `ok`) → delivered; 429 → retried after
//!   `Retry-After`; an `ok:false` error that cannot change (`channel_not_found`,
//!   `invalid_auth`, …) → dead with the reason; a webhook that is gone (`no_service`,
//!   `410`) → the destination is disabled; the rest → retried.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http_post::{self, Answer};
use super::message::{Message, replace_ascii};
use super::rate_limit::Pace;
use super::report::{Report, Verdict};
use super::template::truncated;
use super::{Providers, SettingsContext, provider_settings};
use crate::config::Problems;
use crate::destinations::sandbox_contract as sandbox;

/// Slack's origin.
pub const DEFAULT_API_BASE: &str = "https://slack.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack allows about one message per second per channel.
pub const DEFAULT_PER_SECOND: f64 = 1.0;

/// Block Kit limits: header text, section text, field text, fields per section.
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
const MAX_FIELD: usize = 2000;
const MAX_FIELDS: usize = 10;
/// The notification text (shown where blocks are not).
const MAX_FALLBACK: usize = 300;

/// `slack = { … }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlack {
    pub channel: Option<String>,
    pub token_env: Option<String>,
    pub webhook_url_env: Option<String>,
    pub max_per_second: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub api_base: Option<String>,
}

crate::redacted::redacted_string! {
    /// A bot token or an incoming webhook URL (which is a token too).
    pub struct SlackCredential;
}

/// How messages reach Slack.
#[derive(Debug, Clone)]
pub enum Route {
    /// `chat.postMessage` to `channel`; no token: the sandbox's.
    Bot {
        channel: String,
        token: Option<SlackCredential>,
    },
    /// An incoming webhook; no URL: the sandbox's hook.
    Webhook { url: Option<SlackCredential> },
}

/// A Slack destination, validated.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub route: Route,
    pub pace: Pace,
    pub timeout: Duration,
    pub api_base: String,
}

impl SlackSettings {
    /// For `/v1/destinations`: the channel, never a token or hook URL.
    pub fn summary(&self) -> String {
        let sandbox = if self.uses_sandbox() {
            " (sandbox)"
        } else {
            ""
        };
        match &self.route {
            Route::Bot { channel, .. } => format!("slack {channel}{sandbox}"),
            Route::Webhook { .. } => format!("slack incoming webhook{sandbox}"),
        }
    }

    pub fn uses_sandbox(&self) -> bool {
        matches!(
            &self.route,
            Route::Bot { token: None, .. } | Route::Webhook { url: None }
        )
    }
}

/// Validates the settings; problems are keyed below `slack`.
pub fn settings(raw: RawSlack, context: &SettingsContext<'_>) -> Result<SlackSettings, Problems> {
    let mut problems = Problems::new();
    let credential = |key: &str, var: &str, problems: &mut Problems| -> Option<SlackCredential> {
        match (context.env)(var).filter(|v| !v.trim().is_empty()) {
            Some(value) => Some(SlackCredential::new(value.trim())),
            None if context.sandbox => None,
            None => {
                problems.push(key, format!("the environment variable {var} is not set"));
                None
            }
        }
    };
    let route = match (&raw.token_env, &raw.webhook_url_env) {
        (Some(_), Some(_)) => {
            problems.push(
                "webhook_url_env",
                "set token_env (with channel) or webhook_url_env, not both",
            );
            None
        }
        (None, Some(var)) => {
            if raw.channel.is_some() {
                problems.push(
                    "channel",
                    "an incoming webhook posts to the channel it was made for; remove channel",
                );
            }
            let url = credential("webhook_url_env", var, &mut problems);
            if let Some(url) = &url
                && !url.expose().starts_with("https://")
            {
                problems.push(
                    "webhook_url_env",
                    format!("{var} does not hold an https:// URL"),
                );
            }
            Some(Route::Webhook { url })
        }
        (token_env, None) => {
            let token = match token_env {
                Some(var) => credential("token_env", var, &mut problems),
                None if context.sandbox => None,
                None => {
                    problems.push(
                        "token_env",
                        "name the environment variable holding the bot token (token_env = \"SLACK_BOT_TOKEN\"), or use webhook_url_env",
                    );
                    None
                }
            };
            let channel = match (&raw.channel, &token) {
                (Some(channel), _) if is_channel(channel) => Some(channel.clone()),
                (Some(channel), _) => {
                    problems.push(
                        "channel",
                        format!("{channel:?} is not a channel: use \"#name\" or an id such as \"C0123ABCD\""),
                    );
                    None
                }
                (None, None) => Some(sandbox::SLACK_CHANNEL_NAME.to_owned()),
                (None, Some(_)) => {
                    problems.push("channel", "name the channel to post to, e.g. \"#alerts\"");
                    None
                }
            };
            channel.map(|channel| Route::Bot { channel, token })
        }
    };
    let pace =
        provider_settings::pace(raw.max_per_second, DEFAULT_PER_SECOND, 100.0, &mut problems);
    let timeout = provider_settings::timeout(raw.timeout_secs, DEFAULT_TIMEOUT, &mut problems);
    let api_base = provider_settings::api_base(raw.api_base, DEFAULT_API_BASE, &mut problems);
    match route {
        Some(route) if problems.is_empty() => Ok(SlackSettings {
            route,
            pace,
            timeout,
            api_base,
        }),
        _ => Err(problems),
    }
}

fn is_channel(channel: &str) -> bool {
    let name = channel.strip_prefix('#');
    match name {
        Some(name) => {
            (1..=80).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        }
        None => {
            (9..=12).contains(&channel.len())
                && channel
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
    }
}

/// `&`, `<` and `>` as Slack wants them in `mrkdwn` text: nothing else is markup that can
/// mention or link without them.
fn escaped(text: &str) -> String {
    replace_ascii(text, |byte| match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        _ => None,
    })
}

/// Escaped and cut to `max` characters, never in the middle of an entity.
fn mrkdwn(text: &str, max: usize) -> String {
    let mut out = escaped(text);
    if out.chars().count() > max {
        out = truncated(out, max);
        // A cut `&amp;` would show as `&am`: drop the broken entity.
        if let Some(amp) = out.rfind('&')
            && !out[amp..].contains(';')
        {
            out.truncate(amp);
            out.push('…');
        }
    }
    out
}

/// The Block Kit message; `channel` for `chat.postMessage`, none for a webhook.
///
/// Built from owned parts moved into place (`json!` would copy every value it is given,
/// and the text can be long): this runs for every event routed to Slack.
pub fn render(settings: &SlackSettings, message: &Message) -> String {
    let title = if message.title.is_empty() {
        &message.event_type
    } else {
        &message.title
    };
    let mrkdwn_object = |text: String| {
        let mut object = json!({"type": "mrkdwn", "verbatim": true});
        object["text"] = Value::String(text);
        object
    };
    let mut header = json!({"type": "header"});
    header["text"] = json!({"type": "plain_text", "emoji": false});
    header["text"]["text"] = Value::String(truncated(title.clone(), MAX_HEADER));
    let mut blocks = vec![header];
    if !message.text.is_empty() {
        let mut section = json!({"type": "section"});
        section["text"] = mrkdwn_object(mrkdwn(&message.text, MAX_SECTION));
        blocks.push(section);
    }
    let fields: Vec<Value> = message
        .fields
        .iter()
        .take(MAX_FIELDS)
        .map(|f| {
            let name = mrkdwn(&f.name, 100);
            let budget = MAX_FIELD.saturating_sub(name.chars().count() + 3);
            mrkdwn_object(format!("*{name}*\n{}", mrkdwn(&f.value, budget)))
        })
        .collect();
    if !fields.is_empty() {
        let mut section = json!({"type": "section"});
        section["fields"] = Value::Array(fields);
        blocks.push(section);
    }
    let mut context = Vec::new();
    if let Some(urgency) = &message.urgency {
        context.push(format!("*{}*", mrkdwn(urgency, 50)));
    }
    context.push(format!("`{}`", mrkdwn(&message.event_type, 200)));
    if let Some(link) = &message.link {
        // The link is ours (PUBLIC_URL + an event id): `|` and `>` cannot occur in it.
        context.push(format!("<{}|Open in Klaxon>", escaped(link)));
    }
    let mut element = json!({"type": "mrkdwn"});
    element["text"] = Value::String(context.join(" · "));
    let mut context_block = json!({"type": "context"});
    context_block["elements"] = Value::Array(vec![element]);
    blocks.push(context_block);
    let mut body = json!({"unfurl_links": false, "unfurl_media": false});
    body["text"] = Value::String(mrkdwn(title, MAX_FALLBACK));
    body["blocks"] = Value::Array(blocks);
    if let Route::Bot { channel, token } = &settings.route {
        // Without a token the message goes to the sandbox, which knows only its own channel.
        let channel = match token {
            Some(_) => channel.as_str(),
            None => sandbox::SLACK_CHANNEL_NAME,
        };
        body["channel"] = json!(channel);
    }
    body.to_string()
}

/// Errors of `chat.postMessage` that no retry can fix.
const FINAL_ERRORS: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_arguments",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "restricted_action",
    "ekm_access_denied",
    "invalid_json",
    "json_not_object",
    "team_access_not_granted",
];

/// One attempt.
pub async fn send(settings: &SlackSettings, providers: &Providers, body: &str) -> Report {
    let sandbox_origin = || {
        providers
            .sandbox
            .as_ref()
            .map(|base| format!("{base}/{}", sandbox::Service::Slack.as_str()))
    };
    let (url, headers, pace_key) = match &settings.route {
        Route::Bot { channel, token } => {
            let (origin, token) = match token {
                Some(token) => (Some(settings.api_base.clone()), token.expose().to_owned()),
                None => (sandbox_origin(), sandbox::SLACK_BOT_TOKEN.to_owned()),
            };
            let Some(origin) = origin else {
                return no_sandbox();
            };
            let Some(auth) = http_post::bearer(&token) else {
                return Report::failed(
                    Verdict::Dead,
                    None,
                    "the bot token is not a valid header value",
                );
            };
            (
                format!("{origin}/api/chat.postMessage"),
                vec![auth],
                format!("slack:{channel}"),
            )
        }
        Route::Webhook { url } => {
            let url = match url {
                Some(url) => url.expose().to_owned(),
                None => match sandbox_origin() {
                    Some(origin) => format!("{origin}/services/{}", sandbox::SLACK_HOOK_PATH),
                    None => return no_sandbox(),
                },
            };
            // One pace per hook; the key is a hash, never the URL (it holds the token).
            let key = format!("slack-hook:{:x}", fnv(&url));
            (url, Vec::new(), key)
        }
    };
    if let Err(wait) = providers.pace.wait(&pace_key, settings.pace).await {
        return Report::postponed(wait, "channel");
    }
    match http_post::post_json(&providers.http, &url, &headers, body, settings.timeout).await {
        Ok(answer) => judge(&settings.route, answer),
        // reqwest errors may name the URL: a webhook URL is a secret, so say only the kind.
        Err(error) => Report::failed(
            Verdict::Retry { after: None },
            None,
            match &settings.route {
                Route::Bot { .. } => error.to_string(),
                Route::Webhook { .. } => without_url(&error.to_string(), &url),
            },
        ),
    }
}

fn no_sandbox() -> Report {
    Report::failed(
        Verdict::Dead,
        None,
        "no credentials and no sandbox: set the destination's token or webhook variable",
    )
}

/// What the answer means.
fn judge(route: &Route, answer: Answer) -> Report {
    let status = Some(answer.status);
    let snippet = Some(answer.body.chars().take(512).collect::<String>());
    if answer.status == 429 {
        return Report::failed(
            Verdict::Retry {
                after: answer.retry_after.or(Some(Duration::from_secs(1))),
            },
            status,
            "rate limited by Slack",
        )
        .with_response(snippet);
    }
    if answer.status >= 500 {
        return Report::failed(
            Verdict::Retry { after: None },
            status,
            format!("HTTP {}", answer.status),
        )
        .with_response(snippet);
    }
    match route {
        Route::Bot { .. } => {
            // Only the start of the answer is read, and Slack repeats the message in it: a
            // long answer does not parse, but it starts by saying whether it was ok.
            let json = answer.json().unwrap_or(Value::Null);
            let ok = json["ok"] == true
                || (json.is_null() && answer.body.trim_start().starts_with(r#"{"ok":true"#));
            if answer.status == 200 && ok {
                return Report::delivered(status, snippet);
            }
            let error = json["error"]
                .as_str()
                .unwrap_or("no error given")
                .to_owned();
            let verdict = if FINAL_ERRORS.contains(&error.as_str()) {
                Verdict::Dead
            } else if error == "ratelimited" {
                Verdict::Retry {
                    after: answer.retry_after.or(Some(Duration::from_secs(1))),
                }
            } else {
                Verdict::Retry { after: None }
            };
            Report::failed(verdict, status, format!("Slack said {error}")).with_response(snippet)
        }
        Route::Webhook { .. } => {
            let text = answer.body.trim();
            match (answer.status, text) {
                (200, _) => Report::delivered(status, snippet),
                (404 | 410, _) | (_, "no_service" | "no_team" | "team_disabled") => Report::failed(
                    Verdict::Disable,
                    status,
                    format!("Slack said {text}: the webhook is gone"),
                ),
                (
                    _,
                    "channel_not_found"
                    | "channel_is_archived"
                    | "action_prohibited"
                    | "invalid_token"
                    | "invalid_payload"
                    | "user_not_found"
                    | "posting_to_general_channel_denied",
                ) => Report::failed(Verdict::Dead, status, format!("Slack said {text}")),
                _ => Report::failed(
                    Verdict::Retry { after: None },
                    status,
                    format!("HTTP {}: {text}", answer.status),
                ),
            }
        }
    }
}

fn without_url(text: &str, url: &str) -> String {
    text.replace(url, "[webhook url]")
}

/// A small stable hash for pace keys (FNV-1a).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::MessageField;

    fn context<'a>(env: &'a dyn Fn(&str) -> Option<String>, sandbox: bool) -> SettingsContext<'a> {
        SettingsContext {
            env,
            public_url: None,
            sandbox,
        }
    }

    fn raw(toml_text: &str) -> RawSlack {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn settings_need_credentials_unless_in_sandbox_mode() {
        let none = |_: &str| None;
        let problems = settings(
            raw(r##"channel = "#alerts"
token_env = "SLACK_BOT_TOKEN""##),
            &context(&none, false),
        )
        .unwrap_err()
        .into_inner();
        assert_eq!(problems[0].0, "token_env");
        assert!(problems[0].1.contains("SLACK_BOT_TOKEN is not set"));

        let sandboxed = settings(
            raw(r#"token_env = "SLACK_BOT_TOKEN""#),
            &context(&none, true),
        )
        .unwrap();
        assert!(sandboxed.uses_sandbox());
        assert_eq!(sandboxed.summary(), "slack #alerts (sandbox)");

        let env = |_: &str| Some("xoxb-real".to_owned());
        let real = settings(
            raw(r#"channel = "C0123ABCD"
token_env = "T""#),
            &context(&env, false),
        )
        .unwrap();
        assert!(!real.uses_sandbox());
        assert!(
            !format!("{real:?}").contains("xoxb-real"),
            "no token in Debug"
        );
        assert_eq!(real.summary(), "slack C0123ABCD");
    }

    #[test]
    fn every_settings_problem_is_named() {
        let env = |_: &str| Some("http://hooks.example".to_owned());
        let problems = settings(
            raw(r#"channel = "alerts!"
webhook_url_env = "HOOK"
max_per_second = -1
timeout_secs = 0"#),
            &context(&env, false),
        )
        .unwrap_err()
        .into_inner();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "channel",
                "webhook_url_env",
                "max_per_second",
                "timeout_secs"
            ]
        );
    }

    #[test]
    fn hostile_text_cannot_mention_link_or_break_the_limits() {
        let env = |_: &str| None;
        let slack = settings(raw(r##"channel = "#alerts""##), &context(&env, true)).unwrap();
        let message = Message {
            title: "<!channel> ".repeat(40),
            text: format!(
                "<@U123> <https://evil.example|click> & {}",
                "x".repeat(10_000)
            ),
            fields: (0..12)
                .map(|i| MessageField {
                    name: format!("f{i}"),
                    value: "&".repeat(3000),
                })
                .collect(),
            urgency: Some("critical".into()),
            link: Some("https://klaxon.example.com/#e1".into()),
            event_type: "support.ticket.created".into(),
            ..Message::default()
        };
        let body: Value = serde_json::from_str(&render(&slack, &message)).unwrap();
        let text = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(text.starts_with("&lt;@U123&gt; &lt;https://evil.example|click&gt; &amp; xxx"));
        assert!(text.chars().count() <= MAX_SECTION);
        // The header is plain_text, where Slack parses no mentions; mrkdwn parts are escaped.
        assert!(!body["text"].to_string().contains("<!channel>"));
        assert!(
            !body["blocks"].as_array().unwrap()[1..]
                .iter()
                .any(|b| b.to_string().contains("<!channel>"))
        );
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= MAX_HEADER, "{}", header.len());
        let fields = body["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), MAX_FIELDS);
        for field in fields {
            let text = field["text"].as_str().unwrap();
            assert!(text.chars().count() <= MAX_FIELD);
            assert!(
                text.ends_with("&amp;…") || text.ends_with('…'),
                "{}",
                &text[text.len() - 12..]
            );
        }
        let context = body["blocks"][3]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(
            context,
            "*critical* · `support.ticket.created` · <https://klaxon.example.com/#e1|Open in Klaxon>"
        );
        assert_eq!(body["channel"], "#alerts");
        assert_eq!(body["unfurl_links"], false);
    }

    #[test]
    fn answers_are_judged_as_slack_means_them() {
        let bot = Route::Bot {
            channel: "#a".into(),
            token: None,
        };
        let answer = |status: u16, body: &str| Answer {
            status,
            retry_after: None,
            body: body.into(),
        };
        assert_eq!(
            judge(
                &bot,
                answer(
                    200,
                    r#"{"ok":true,"channel":"C1","message":{"text":"cut of"#
                )
            )
            .verdict,
            Verdict::Delivered,
            "a long answer, read in part"
        );
        assert_eq!(
            judge(&bot, answer(200, r#"{"ok":true}"#)).verdict,
            Verdict::Delivered
        );
        let dead = judge(
            &bot,
            answer(200, r#"{"ok":false,"error":"channel_not_found"}"#),
        );
        assert_eq!(dead.verdict, Verdict::Dead);
        assert_eq!(dead.error.as_deref(), Some("Slack said channel_not_found"));
        assert_eq!(
            judge(
                &bot,
                answer(200, r#"{"ok":false,"error":"internal_error"}"#)
            )
            .verdict,
            Verdict::Retry { after: None }
        );
        let limited = judge(
            &bot,
            Answer {
                status: 429,
                retry_after: Some(Duration::from_secs(7)),
                body: String::new(),
            },
        );
        assert_eq!(
            limited.verdict,
            Verdict::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        let hook = Route::Webhook { url: None };
        assert_eq!(judge(&hook, answer(200, "ok")).verdict, Verdict::Delivered);
        assert_eq!(
            judge(&hook, answer(404, "no_service")).verdict,
            Verdict::Disable
        );
        assert_eq!(
            judge(&hook, answer(400, "invalid_payload")).verdict,
            Verdict::Dead
        );
        assert_eq!(
            judge(&hook, answer(503, "")).verdict,
            Verdict::Retry { after: None }
        );
    }

    #[tokio::test]
    async fn a_send_whose_turn_is_far_off_is_postponed_before_anything_is_sent() {
        // Nothing listens on port 1: a send that went out would come back as a retry.
        let providers = Providers::unreachable();
        let settings = SlackSettings {
            route: Route::Bot {
                channel: "#alerts".into(),
                token: None,
            },
            // One message per 10 s: after the first, the next turn is 10 s away.
            pace: Some(0.1),
            timeout: Duration::from_secs(1),
            api_base: String::new(),
        };
        providers
            .pace
            .wait("slack:#alerts", settings.pace)
            .await
            .unwrap();
        let report = send(&settings, &providers, "{}").await;
        assert!(
            matches!(report.verdict, Verdict::Postpone { after } if after > crate::destinations::rate_limit::MAX_WAIT),
            "{report:?}"
        );
        assert_eq!(report.status, None);
    }
}
