//! What the chat sandbox knows at start: the credentials it accepts and the channels, chats,
//! webhooks and databases that exist. Everything else is refused the provider's way (an
//! unknown token, `channel_not_found`, `Unknown Webhook`, `chat not found`,
//! `object_not_found`).
//!
//! The defaults are the constants of [`crate::destinations::sandbox_contract`], so a
//! sandbox-mode destination is pointed at them without configuration. They are not secrets:
//! they only open this loopback simulator.

use std::collections::BTreeMap;

use crate::redacted::redacted_string;

pub use crate::destinations::sandbox_contract::{
    DISCORD_CHANNEL_ID, DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, NOTION_DATA_SOURCE_ID,
    NOTION_DATABASE_ID, NOTION_TOKEN, NOTION_TOKEN_NTN, NOTION_VERSION, SLACK_BOT_TOKEN,
    SLACK_CHANNEL_ID, SLACK_CHANNEL_NAME, SLACK_HOOK_PATH, TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID,
    TELEGRAM_CHAT_USERNAME,
};

redacted_string! {
    /// A Slack bot or user token (`xoxb-…`).
    #[derive(PartialEq, Eq)]
    pub struct SlackToken;
}

redacted_string! {
    /// The path of a Slack incoming webhook after `/services/` (`T…/B…/secret`): whoever
    /// knows it can post, so it is a credential.
    #[derive(PartialEq, Eq)]
    pub struct SlackHookPath;
}

redacted_string! {
    /// A Discord webhook's token, the last segment of its URL.
    #[derive(PartialEq, Eq)]
    pub struct DiscordWebhookToken;
}

redacted_string! {
    /// A Telegram bot token (`123456:ABC…`).
    #[derive(PartialEq, Eq)]
    pub struct TelegramToken;
}

redacted_string! {
    /// A Notion integration token (`secret_…` or `ntn_…`).
    #[derive(PartialEq, Eq)]
    pub struct NotionToken;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackChannel {
    /// `C…` (public), `G…` (private) or `D…` (direct message), 9 or more characters: the
    /// pattern of the spec's `defs_channel`.
    pub id: String,
    /// Without the `#`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackHook {
    pub path: SlackHookPath,
    /// The channel ID the hook posts to. A hook whose channel is not among
    /// [`SlackConfig::channels`] answers `channel_not_found`, as a hook whose channel was
    /// deleted does.
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackConfig {
    pub tokens: Vec<SlackToken>,
    pub channels: Vec<SlackChannel>,
    pub hooks: Vec<SlackHook>,
}

impl Default for SlackConfig {
    fn default() -> SlackConfig {
        SlackConfig {
            tokens: vec![SlackToken::new(SLACK_BOT_TOKEN)],
            channels: vec![SlackChannel {
                id: SLACK_CHANNEL_ID.into(),
                name: SLACK_CHANNEL_NAME.trim_start_matches('#').into(),
            }],
            hooks: vec![SlackHook {
                path: SlackHookPath::new(SLACK_HOOK_PATH),
                channel: SLACK_CHANNEL_ID.into(),
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordWebhook {
    pub id: String,
    pub token: DiscordWebhookToken,
    pub channel_id: String,
    /// The webhook's own name: the author of its messages unless a request sets `username`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordConfig {
    pub webhooks: Vec<DiscordWebhook>,
}

impl Default for DiscordConfig {
    fn default() -> DiscordConfig {
        DiscordConfig {
            webhooks: vec![DiscordWebhook {
                id: DISCORD_WEBHOOK_ID.into(),
                token: DiscordWebhookToken::new(DISCORD_WEBHOOK_TOKEN),
                channel_id: DISCORD_CHANNEL_ID.into(),
                name: "Klaxon".into(),
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramChat {
    pub id: i64,
    /// With the `@`; `None` for a chat that has no public username.
    pub username: Option<String>,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramConfig {
    /// Bot tokens; a bot's user id is the number before the `:`.
    pub tokens: Vec<TelegramToken>,
    pub chats: Vec<TelegramChat>,
}

impl Default for TelegramConfig {
    fn default() -> TelegramConfig {
        TelegramConfig {
            tokens: vec![TelegramToken::new(TELEGRAM_BOT_TOKEN)],
            chats: vec![TelegramChat {
                id: TELEGRAM_CHAT_ID,
                username: Some(TELEGRAM_CHAT_USERNAME.into()),
                title: "Alerts".into(),
            }],
        }
    }
}

/// The type of a database property, as a page's property value must match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotionPropertyType {
    Title,
    RichText,
    Number,
    Url,
    Select,
    MultiSelect,
    Status,
    Email,
    PhoneNumber,
    Date,
    Checkbox,
}

impl NotionPropertyType {
    /// The property value's key (`rich_text`, `multi_select`…).
    pub fn as_str(self) -> &'static str {
        match self {
            NotionPropertyType::Title => "title",
            NotionPropertyType::RichText => "rich_text",
            NotionPropertyType::Number => "number",
            NotionPropertyType::Url => "url",
            NotionPropertyType::Select => "select",
            NotionPropertyType::MultiSelect => "multi_select",
            NotionPropertyType::Status => "status",
            NotionPropertyType::Email => "email",
            NotionPropertyType::PhoneNumber => "phone_number",
            NotionPropertyType::Date => "date",
            NotionPropertyType::Checkbox => "checkbox",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionDatabase {
    /// 32 hexadecimal digits, with or without dashes.
    pub id: String,
    pub data_source_id: String,
    /// The data source's properties by name. `None` accepts any property names (each value
    /// still checked against its own type); `Some` refuses a name it does not list ("X is not
    /// a property that exists.") or a value of another type ("X is expected to be …"), as
    /// Notion does.
    pub properties: Option<BTreeMap<String, NotionPropertyType>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionConfig {
    pub tokens: Vec<NotionToken>,
    pub databases: Vec<NotionDatabase>,
}

impl Default for NotionConfig {
    /// The default database takes any property names, so a destination configured with its
    /// own names works against it unchanged.
    fn default() -> NotionConfig {
        NotionConfig {
            tokens: vec![
                NotionToken::new(NOTION_TOKEN),
                NotionToken::new(NOTION_TOKEN_NTN),
            ],
            databases: vec![NotionDatabase {
                id: NOTION_DATABASE_ID.into(),
                data_source_id: NOTION_DATA_SOURCE_ID.into(),
                properties: None,
            }],
        }
    }
}

/// Everything the chat sandbox is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    pub slack: SlackConfig,
    pub discord: DiscordConfig,
    pub telegram: TelegramConfig,
    pub notion: NotionConfig,
    /// How many accepted messages, and how many requests, are kept per service; older ones
    /// are forgotten (request counts are not).
    pub log_capacity: usize,
}

/// The default [`ChatConfig::log_capacity`].
pub const LOG_CAPACITY: usize = 200;

impl Default for ChatConfig {
    fn default() -> ChatConfig {
        ChatConfig {
            slack: SlackConfig::default(),
            discord: DiscordConfig::default(),
            telegram: TelegramConfig::default(),
            notion: NotionConfig::default(),
            log_capacity: LOG_CAPACITY,
        }
    }
}

/// Notion ids compare without dashes and case: `0000…0001` is `00000000-0000-…-0001`.
pub(crate) fn notion_id_key(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// An id as Notion prints it: 8-4-4-4-12 with dashes (unchanged if not 32 hex digits).
pub(crate) fn notion_id_dashed(id: &str) -> String {
    let key = notion_id_key(id);
    if key.len() != 32 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return id.to_owned();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &key[..8],
        &key[8..12],
        &key[12..16],
        &key[16..20],
        &key[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        let printed = format!("{:?}", ChatConfig::default());
        for secret in [
            SLACK_BOT_TOKEN,
            SLACK_HOOK_PATH,
            DISCORD_WEBHOOK_TOKEN,
            TELEGRAM_BOT_TOKEN,
            NOTION_TOKEN,
            NOTION_TOKEN_NTN,
        ] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
    }

    #[test]
    fn notion_ids_compare_without_dashes() {
        assert_eq!(
            notion_id_dashed(NOTION_DATABASE_ID),
            "00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            notion_id_key("00000000-0000-0000-0000-00000000000A"),
            "0000000000000000000000000000000a"
        );
        assert_eq!(notion_id_dashed("not-an-id"), "not-an-id");
    }
}
