//! Telegram: an HTML message from a bot, through `sendMessage`, to a chat or channel.
//!
//! - settings: `telegram = { token_env = "TELEGRAM_BOT_TOKEN", chat_id = "-1001234567890" }`
//!   (a numeric id, as a string or a number, or a public `"@channel"`), plus
//!   `max_per_second` (default 1 per chat, Telegram's own limit for one chat; 0 = off),
//!   `timeout_secs`, `api_base` (Telegram's origin; for a stand-in server) and `template`.
//!   In sandbox mode, a destination whose variable is unset posts as the sandbox Telegram's
//!   bot, in the sandbox's chat (the only one its bot is in; `chat_id` is still checked).
//! - the request: `POST {api_base}/bot{token}/sendMessage` with `parse_mode: "HTML"`: the
//!   title in bold, the text, the fields as `name: value` lines, the event type and a link
//!   to the live page; link previews off (`link_preview_options`). Only `<b>`, `<code>` and
//!   `<a href>` are generated; every event value is escaped (`&`, `<`, `>`, `"`), so event
//!   text cannot add markup. Telegram's 4,096-character limit counts the text after its
//!   tags and entities are parsed: parts are cut to fit (with an ellipsis, before escaping,
//!   so no tag or entity is ever cut), counted in UTF-16 units as Telegram counts offsets.
//! - the answer: a 2xx (`ok:true`, or an answer too long to keep whole) → delivered; 429 →
//!   retried after `parameters.retry_after`; 401 (the token is wrong or revoked) and 403 (the
//!   bot was blocked, kicked or is not in the chat) → the destination is disabled, as every
//!   later message would fail the same way until someone fixes the bot, then enables it and
//!   replays; another 4xx (`chat not found`, a group that became a supergroup) → dead with
//!   Telegram's description; 5xx, timeouts and broken connections → retried.
//!
//! The body is built by [`render()`] (`render.rs`) when the event is routed; [`send()`]
//! (`send.rs`) makes one attempt and judges the answer. The token is part of the URL path:
//! it is scrubbed from every error and answer kept.

mod render;
mod send;

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

pub use render::render;
pub use send::send;

use super::rate_limit::Pace;
use super::{SettingsContext, provider_settings};
use crate::config::Problems;
use crate::destinations::sandbox_contract as sandbox;

/// Telegram's origin.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Telegram asks bots to send no more than about one message per second to one chat.
pub const DEFAULT_PER_SECOND: f64 = 1.0;

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
    let configured = raw.chat_id.as_ref().map(|raw_chat| {
        let chat = chat_id(raw_chat);
        if chat.is_none() {
            let given = match raw_chat {
                RawChatId::Number(id) => id.to_string(),
                RawChatId::Text(text) => format!("{text:?}"),
            };
            problems.push(
                "chat_id",
                format!(
                    "{given} is not a chat: use its numeric id (\"-1001234567890\") or a public \"@username\""
                ),
            );
        }
        chat
    });
    let chat = match configured {
        // Without a token it is the sandbox's bot, which knows only the sandbox's chat.
        _ if token.is_none() && context.sandbox => Some(ChatId::Id(sandbox::TELEGRAM_CHAT_ID)),
        Some(chat) => chat,
        None => {
            problems.push(
                "chat_id",
                "name the chat to post to: its numeric id (\"-1001234567890\") or a public \"@username\"",
            );
            None
        }
    };
    let pace = provider_settings::pace(raw.max_per_second, DEFAULT_PER_SECOND, 30.0, &mut problems);
    let timeout = provider_settings::timeout(raw.timeout_secs, DEFAULT_TIMEOUT, &mut problems);
    let api_base = provider_settings::api_base(raw.api_base, DEFAULT_API_BASE, &mut problems);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // The sandbox's bot is in the sandbox's chat only: a configured chat is checked, then
        // stands aside until a token is set.
        let configured = settings(
            raw("token_env = \"TELEGRAM_BOT_TOKEN\"\nchat_id = \"@klaxon_alerts\""),
            &context(&none, true),
        )
        .unwrap();
        assert_eq!(configured.summary(), "telegram chat -1001 (sandbox)");
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
        assert!(
            problems[1].1.starts_with("\"alerts\" is not a chat"),
            "{}",
            problems[1].1
        );
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
}
