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
//!
//! The body is built by [`render()`] (`render.rs`) when the event is routed; [`send()`]
//! (`send.rs`) makes one attempt and judges the answer.

mod render;
mod send;

use std::time::Duration;

use serde::Deserialize;

pub use render::render;
pub use send::send;

use super::rate_limit::Pace;
use super::{SettingsContext, provider_settings};
use crate::config::Problems;
use crate::destinations::sandbox_contract as sandbox;

/// Discord's origin.
pub const DEFAULT_API_BASE: &str = "https://discord.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Discord allows about 5 requests per 2 s per webhook; 2 a second stays clear of it.
pub const DEFAULT_PER_SECOND: f64 = 2.0;

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
    let pace = provider_settings::pace(raw.max_per_second, DEFAULT_PER_SECOND, 50.0, &mut problems);
    let timeout = provider_settings::timeout(raw.timeout_secs, DEFAULT_TIMEOUT, &mut problems);
    let api_base = provider_settings::api_base(raw.api_base, DEFAULT_API_BASE, &mut problems);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
