//! What a destination without credentials addresses in sandbox mode: the sandbox chat
//! server's path prefix per service, and the credentials, channels, chats, webhooks and
//! databases it accepts. The simulator ([`crate::sandbox::chat`]) serves exactly these, so
//! destinations never name the simulator itself. None of them is a secret: they only open a
//! loopback simulator.

/// Slack bot token the default sandbox accepts (`Authorization: Bearer xoxb-sandbox`).
pub const SLACK_BOT_TOKEN: &str = "xoxb-sandbox";
/// The default channel's ID: what `chat.postMessage` answers in `channel`.
pub const SLACK_CHANNEL_ID: &str = "C0SANDBOX";
/// The default channel's name; `chat.postMessage` takes it with or without the `#`.
pub const SLACK_CHANNEL_NAME: &str = "#alerts";
/// The default incoming webhook, posting to [`SLACK_CHANNEL_ID`]: the part of
/// `https://hooks.slack.com/services/T000/B000/XXXX` after `/services/`.
pub const SLACK_HOOK_PATH: &str = "T000/B000/XXXX";

/// The default Discord webhook: `POST …/webhooks/1/sandbox`.
pub const DISCORD_WEBHOOK_ID: &str = "1";
pub const DISCORD_WEBHOOK_TOKEN: &str = "sandbox";
/// The channel the default webhook posts into (a snowflake, as messages report it).
pub const DISCORD_CHANNEL_ID: &str = "100000000000000001";

/// The default Telegram bot token: `POST …/bot123456:sandbox/sendMessage`.
pub const TELEGRAM_BOT_TOKEN: &str = "123456:sandbox";
/// The default chat, by numeric id…
pub const TELEGRAM_CHAT_ID: i64 = -1001;
/// …and by `@username`.
pub const TELEGRAM_CHAT_USERNAME: &str = "@alerts";

/// Notion integration tokens the default sandbox accepts: the old `secret_` form and the
/// current `ntn_` form.
pub const NOTION_TOKEN: &str = "secret_sandbox";
pub const NOTION_TOKEN_NTN: &str = "ntn_sandbox";
/// The default database, and its one data source (API 2025-09-03 writes pages into data
/// sources; a `database_id` parent means its only data source). Notion accepts ids with or
/// without dashes, and so does the sandbox.
pub const NOTION_DATABASE_ID: &str = "00000000000000000000000000000001";
pub const NOTION_DATA_SOURCE_ID: &str = "00000000000000000000000000000002";
/// The only `Notion-Version` the sandbox simulates.
pub const NOTION_VERSION: &str = "2025-09-03";

/// One of the simulated services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Slack,
    Discord,
    Telegram,
    Notion,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Slack,
        Service::Discord,
        Service::Telegram,
        Service::Notion,
    ];

    /// The name used in paths and in `?service=`: `slack`, `discord`, `telegram`, `notion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Slack => "slack",
            Service::Discord => "discord",
            Service::Telegram => "telegram",
            Service::Notion => "notion",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.as_str() == name)
    }
}
