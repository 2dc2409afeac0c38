//! Simulated Slack, Discord, Telegram and Notion APIs in one loopback server, so Klaxon's chat
//! and Notion destinations run and are tested with no accounts. Each service lives under a
//! path prefix that stands in for the real host, so a destination swaps only its API base
//! ([`SandboxChat::service_base`]):
//!
//! | Real URL | Sandbox URL |
//! |---|---|
//! | `https://slack.com/api/chat.postMessage` | `{base}/slack/api/chat.postMessage` |
//! | `https://hooks.slack.com/services/T/B/X` | `{base}/slack/services/T/B/X` |
//! | `https://discord.com/api/v10/webhooks/{id}/{token}` | `{base}/discord/api/v10/webhooks/{id}/{token}` |
//! | `https://api.telegram.org/bot{token}/sendMessage` | `{base}/telegram/bot{token}/sendMessage` |
//! | `https://api.notion.com/v1/pages` | `{base}/notion/v1/pages` |
//!
//! # What is checked
//!
//! Every body is validated by hand-written rules that follow the official descriptions in
//! ../shared/specs (each rule names its source), strictly: a field the description does not
//! list is refused, where the real services mostly ignore it, so a misspelt or retired field
//! fails in tests. Refusals take each provider's own form:
//!
//! - **Slack** (`slack.rs`, Block Kit in `slack_blocks.rs`): `chat.postMessage` with a JSON
//!   body and `Authorization: Bearer`; answers 200 `{"ok":true,"channel","ts","message"}` or
//!   200 `{"ok":false,"error"}` with `not_authed`, `invalid_auth`, `channel_not_found`,
//!   `no_text`, `msg_too_long`, `too_many_attachments`, `invalid_blocks` or
//!   `invalid_arguments` (with `response_metadata.messages`). Incoming webhooks answer plain
//!   text: `ok`, 400 `invalid_payload` / `no_text` / `invalid_blocks`, 404 `no_service`,
//!   404 `channel_not_found`.
//! - **Discord** (`discord.rs`, embeds in `discord_embeds.rs`): execute webhook, 204 (200 and
//!   the message with `?wait=true`); 400 `50035 Invalid Form Body` with the nested `errors`
//!   (embed limits included: title 256, description 4096, 25 fields of 256/1024, footer 2048,
//!   author 256, 6000 in all, 10 embeds, content 2000); 400 `50006` for an empty message;
//!   404 `10015 Unknown Webhook`; 401 `50027 Invalid Webhook Token`.
//! - **Telegram** (`telegram.rs`, formatting in `telegram_html.rs` and
//!   `telegram_markdown.rs`): `sendMessage` with a JSON body; `{"ok":true,"result":Message}`
//!   with the text and entities as Telegram parses them; 401 `Unauthorized`; 400 `Bad
//!   Request: chat not found`, `can't parse entities: …` (HTML, MarkdownV2 and Markdown),
//!   `message is too long` (over 4096 characters after parsing), `message text is empty`.
//! - **Notion** (`notion.rs`; the body in `notion_page.rs`, its blocks in
//!   `notion_blocks.rs`): `POST /v1/pages` with `Authorization: Bearer` and
//!   `Notion-Version: 2025-09-03`; the page object, or
//!   `{"object":"error","status","code","message"}`: 401 `unauthorized`, 400
//!   `missing_version`, 400 `validation_error` (`body failed validation: body.… should be …`,
//!   rich text ≤ 2000 characters and ≤ 100 items), 404 `object_not_found`.
//!
//! # What tests can do
//!
//! - Read what was accepted: [`SandboxChat::messages`], or `GET {base}/_sandbox/messages?
//!   service=slack` (the body as sent, the target, when it arrived).
//! - Read every request: [`SandboxChat::requests`] (arrival time and answer) and
//!   [`SandboxChat::request_count`], or `GET {base}/_sandbox/requests?service=slack`, e.g.
//!   to check that a client waited out a `Retry-After`.
//! - Script failures: [`SandboxChat::script`] or `POST {base}/_sandbox/script` makes the next
//!   requests to one service answer with its real rate limit ([`Failure::RateLimited`]), a
//!   5xx, a hang, or a dropped connection. A scripted failure is played before anything is
//!   checked, as a real overloaded service answers before looking at the request.
//! - Wait without sleeping: [`SandboxChat::wait_until`].
//!
//! Not simulated: form-encoded and multipart bodies, other methods and endpoints (each
//! service answers them with its own "not found"), files, components, polls, mentions in
//! Notion rich text, and rate limits that are not scripted.
//!
//! All state is in memory behind one `std::sync::Mutex`; no lock is held across an `.await`.

mod api;
mod config;
mod discord;
mod discord_embeds;
mod failure;
mod fields;
mod notion;
mod notion_blocks;
mod notion_page;
mod reply;
mod serve;
mod slack;
mod slack_blocks;
mod state;
mod telegram;
mod telegram_html;
mod telegram_markdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::net::TcpListener;

pub use super::background::StartError;
pub use config::*;
pub use failure::{Failure, ScriptError};

use state::Inner;

pub use crate::destinations::sandbox_contract::Service;

/// A message a service accepted, as it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedMessage {
    pub service: Service,
    /// `chat.postMessage`, `incoming-webhook`, `execute-webhook`, `sendMessage` or `pages`.
    pub endpoint: &'static str,
    /// Where it went: the Slack channel ID, the Discord webhook id, the Telegram chat id, or
    /// the Notion database id (as configured).
    pub target: String,
    /// The JSON body exactly as received.
    pub body: Value,
    /// The id the service answered with: Slack's `ts`, the Discord message id, Telegram's
    /// `message_id`, the Notion page id.
    pub id: String,
    pub received_at: SystemTime,
}

/// One request a service received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub service: Service,
    pub method: String,
    /// The path with its credential replaced by `[redacted]` (Telegram's bot token, the
    /// Discord webhook token, the secret part of a Slack hook).
    pub path: String,
    /// When it arrived (before any scripted hang).
    pub at: SystemTime,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The scripted failure it met, if any.
    pub scripted: Option<Failure>,
}

/// What [`SandboxChat::wait_until`] looks at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    messages: [Vec<AcceptedMessage>; 4],
    requests: [Vec<RecordedRequest>; 4],
}

impl Observed {
    pub fn messages(&self, service: Service) -> &[AcceptedMessage] {
        &self.messages[service as usize]
    }

    pub fn requests(&self, service: Service) -> &[RecordedRequest] {
        &self.requests[service as usize]
    }
}

/// [`SandboxChat::wait_until`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the condition was not reached within {0:?}")]
pub struct WaitTimedOut(pub Duration);

/// The running sandbox. Dropping it stops the server.
pub struct SandboxChat {
    inner: Arc<Inner>,
    server: serve::Server,
}

impl SandboxChat {
    /// Serves the four simulated APIs on `listener` in the background.
    pub fn start(listener: TcpListener, config: ChatConfig) -> Result<SandboxChat, StartError> {
        let inner = Arc::new(Inner::new(config));
        let server = serve::Server::start(listener, api::router(Arc::clone(&inner)))?;
        tracing::info!(addr = %server.addr(), "sandbox chat services listening");
        Ok(SandboxChat { inner, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>`: the root under which each service has its prefix.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// What stands in for the service's real origin (`https://slack.com`,
    /// `https://hooks.slack.com`, `https://discord.com`, `https://api.telegram.org`,
    /// `https://api.notion.com`): `http://127.0.0.1:<port>/slack` and so on.
    pub fn service_base(&self, service: Service) -> String {
        format!("{}/{}", self.base_url(), service.as_str())
    }

    /// The URL of a Slack incoming webhook, e.g. for [`SLACK_HOOK_PATH`].
    pub fn slack_hook_url(&self, hook_path: &str) -> String {
        format!("{}/services/{hook_path}", self.service_base(Service::Slack))
    }

    /// The URL of a Discord webhook, e.g. for [`DISCORD_WEBHOOK_ID`] and
    /// [`DISCORD_WEBHOOK_TOKEN`].
    pub fn discord_webhook_url(&self, id: &str, token: &str) -> String {
        format!(
            "{}/api/v10/webhooks/{id}/{token}",
            self.service_base(Service::Discord)
        )
    }

    /// The messages `service` accepted, oldest first (the last `log_capacity`).
    pub fn messages(&self, service: Service) -> Vec<AcceptedMessage> {
        self.inner
            .lock()
            .log(service)
            .messages
            .iter()
            .cloned()
            .collect()
    }

    /// The requests `service` received, in the order they were answered (the last
    /// `log_capacity`).
    pub fn requests(&self, service: Service) -> Vec<RecordedRequest> {
        self.inner
            .lock()
            .log(service)
            .requests
            .iter()
            .cloned()
            .collect()
    }

    /// How many requests `service` has received, forgotten ones included.
    pub fn request_count(&self, service: Service) -> u64 {
        self.inner.lock().log(service).count
    }

    /// When each remembered request to `service` arrived, in arrival order.
    pub fn request_times(&self, service: Service) -> Vec<SystemTime> {
        let mut times: Vec<SystemTime> = self.requests(service).iter().map(|r| r.at).collect();
        times.sort();
        times
    }

    /// Makes the next `times` requests to `service` meet `failure`, after any already
    /// scripted.
    pub fn script(
        &self,
        service: Service,
        failure: Failure,
        times: usize,
    ) -> Result<(), ScriptError> {
        failure.check()?;
        self.inner.script(service, failure, times);
        Ok(())
    }

    /// Forgets every message, request, count and scripted failure.
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// Everything observable now.
    pub fn observe(&self) -> Observed {
        let state = self.inner.lock();
        let mut observed = Observed::default();
        for service in Service::ALL {
            let log = state.log(service);
            observed.messages[service as usize] = log.messages.iter().cloned().collect();
            observed.requests[service as usize] = log.requests.iter().cloned().collect();
        }
        observed
    }

    /// Waits until `check` returns `Some`, re-checking after every request; gives up after
    /// `timeout`.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Observed) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Marked as seen before looking, so a change made while `check` runs wakes us.
            changes.borrow_and_update();
            if let Some(found) = check(&self.observe()) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(WaitTimedOut(timeout)),
            }
        }
    }

    /// Stops serving: scripted hangs end at once, requests in flight are answered.
    pub async fn shutdown(mut self) {
        self.inner.stopping.send_replace(true);
        self.server.stop().await;
    }
}

impl Drop for SandboxChat {
    fn drop(&mut self) {
        self.inner.stopping.send_replace(true);
    }
}
