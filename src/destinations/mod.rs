//! Destinations: where a routed event goes, one module per kind.
//!
//! Each kind's module holds everything about it: its settings and their validation, how an
//! event becomes its request ([`Destination::render`], when the pipeline routes the event, so
//! every retry sends the same thing), how that request is sent and how the answer is judged
//! ([`Outbox::send`] → a [`Report`]), and its rate limit.
//!
//! - [`webhook`]: signed HTTP POST of the event document, with the SSRF guard.
//! - [`merge_writeback`]: the outcome of an escalation written back to its Merge ticket or
//!   deal, rendered from the escalation's events (a built-in route, not a settings kind).
//! - [`postgres_table`] (`postgres = { … }`): each event as a row in a table of the user's PostgreSQL database.
//! - [`http_post`], [`rate_limit`] and [`provider_settings`]: what the kinds that call a
//!   provider's API share.
//! - [`email`]: the [`Message`] as a multipart e-mail, over SMTP.
//! - [`slack`]: the [`Message`] as Block Kit, by bot token or incoming webhook.
//! - [`notion`]: the [`Message`] as a page in a Notion database, its properties templated.
//! - [`discord`]: the [`Message`] as an embed, through a channel webhook.
//! - [`telegram`]: the [`Message`] as HTML, through a bot's `sendMessage`.
//! - [`report`]: how an attempt ended ([`Verdict`]), as every kind reports it.
//! - [`message`]: the human-readable [`Message`] chat, e-mail and Notion kinds send, and
//!   [`template`]: the MiniJinja templates it is rendered from.
//! - [`sandbox_contract`]: what a kind without credentials addresses in sandbox mode.
//!
//! Adding a kind: its module, a variant of [`Target`] (kept in the store, on each delivery
//! row) and of [`Destination`], and the arms
//! the compiler then asks for in this file; the worker, the pipeline and the settings loader
//! need no change.

pub mod discord;
pub mod email;
pub mod http_post;
pub mod merge_writeback;
pub mod message;
pub mod notion;
pub mod postgres_table;
pub mod provider_settings;
pub mod rate_limit;
pub mod report;
pub mod sandbox_contract;
pub mod slack;
pub mod telegram;
pub mod template;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::store::Target;
pub use message::{Message, MessageField};
pub use report::{Report, Verdict};

use crate::config::{Env, Problems};
use crate::merge::MergeClient;
use crate::store::{DeliveryJob, EventId};

/// What a kind's settings may depend on besides their own table.
#[derive(Clone, Copy)]
pub struct SettingsContext<'a> {
    pub env: Env<'a>,
    /// `PUBLIC_URL`, for links to the live page.
    pub public_url: Option<&'a str>,
    /// No `TELNYX_API_KEY`: Klaxon runs with its sandboxes, and a chat or Notion destination
    /// without credentials goes to the sandbox instead of failing the settings.
    pub sandbox: bool,
}

/// A configured destination that receives deliveries: its kind and validated settings.
#[derive(Debug, Clone)]
pub enum Destination {
    Webhook(Arc<webhook::WebhookSpec>),
    Email(Arc<Messenger<email::EmailSender>>),
    Slack(Arc<Messenger<slack::SlackSettings>>),
    Notion(Arc<Messenger<notion::NotionSettings>>),
    Discord(Arc<Messenger<discord::DiscordSettings>>),
    Telegram(Arc<Messenger<telegram::TelegramSettings>>),
    PostgresTable(Arc<postgres_table::PostgresTable>),
    /// The built-in write-back of escalations to their Merge ticket or deal; never in a
    /// user's settings.
    MergeWriteback(merge_writeback::Object),
}

/// The `[[pipelines.destinations]]` keys that choose a delivering kind.
pub const KINDS: &[&str] = &[
    "webhook", "email", "slack", "discord", "telegram", "notion", "postgres",
];

/// A kind that sends people a [`Message`]: its own settings (and client), and the templates
/// the message is rendered from (`template = { … }` in its table, else the defaults).
#[derive(Debug)]
pub struct Messenger<K> {
    pub kind: K,
    pub template: template::MessageTemplate,
}

/// Validates a message kind's table: `template` is taken out and compiled here, the rest is
/// the kind's own shape, checked by `build`.
fn messenger<R, K>(
    value: toml::Value,
    context: &SettingsContext<'_>,
    build: impl FnOnce(R) -> Result<K, Problems>,
) -> Result<Arc<Messenger<K>>, Problems>
where
    R: serde::de::DeserializeOwned,
{
    let mut problems = Problems::new();
    let mut value = value;
    let raw_template = match value.as_table_mut().and_then(|t| t.remove("template")) {
        Some(raw) => match raw.try_into::<template::RawTemplate>() {
            Ok(raw) => Some(raw),
            Err(e) => {
                problems.push("template", e.message().to_owned());
                None
            }
        },
        None => None,
    };
    let template = template::MessageTemplate::compile(raw_template, context.public_url)
        .map_err(|p| problems.extend(p))
        .ok();
    let kind = shape::<R>(value)
        .and_then(build)
        .map_err(|p| problems.extend(p))
        .ok();
    match (kind, template) {
        (Some(kind), Some(template)) if problems.is_empty() => {
            Ok(Arc::new(Messenger { kind, template }))
        }
        _ => Err(problems),
    }
}

/// Deserializes a kind's table; a wrong shape is one problem at the kind's key.
fn shape<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, Problems> {
    value
        .try_into()
        .map_err(|e: toml::de::Error| Problems::from(vec![(String::new(), e.message().to_owned())]))
}

impl Destination {
    /// Validates `value` as the settings of the kind named by `key` (a key of
    /// `[[pipelines.destinations]]`); `None` when `key` names no delivering kind.
    pub fn parse(
        key: &str,
        value: toml::Value,
        context: &SettingsContext<'_>,
    ) -> Option<Result<Destination, Problems>> {
        Some(match key {
            "webhook" => shape(value)
                .and_then(|raw| webhook::settings(raw, context.env))
                .map(|spec| Destination::Webhook(Arc::new(spec))),
            "email" => messenger(value, context, |raw| {
                email::settings(raw, context.env)
                    .map(|settings| email::EmailSender::new(Arc::new(settings)))
                    .map_err(Problems::from)
            })
            .map(Destination::Email),
            "slack" => messenger(value, context, |raw| slack::settings(raw, context))
                .map(Destination::Slack),
            "notion" => messenger(value, context, |raw| notion::settings(raw, context))
                .map(Destination::Notion),
            "discord" => messenger(value, context, |raw| discord::settings(raw, context))
                .map(Destination::Discord),
            "telegram" => messenger(value, context, |raw| telegram::settings(raw, context))
                .map(Destination::Telegram),
            "postgres" => shape(value)
                .and_then(|raw| postgres_table::settings(raw, context.env).map_err(Problems::from))
                .map(|settings| {
                    Destination::PostgresTable(Arc::new(postgres_table::PostgresTable::new(
                        settings,
                    )))
                }),
            _ => return None,
        })
    }

    /// True when it has no credentials of its own and sends to the sandbox services.
    pub fn uses_sandbox(&self) -> bool {
        match self {
            Destination::Webhook(_)
            | Destination::Email(_)
            | Destination::PostgresTable(_)
            | Destination::MergeWriteback(_) => false,
            Destination::Slack(slack) => slack.kind.uses_sandbox(),
            Destination::Notion(notion) => notion.kind.uses_sandbox(),
            Destination::Discord(discord) => discord.kind.uses_sandbox(),
            Destination::Telegram(telegram) => telegram.kind.uses_sandbox(),
        }
    }

    /// The kind, as stored on its deliveries.
    pub fn target(&self) -> Target {
        match self {
            Destination::Webhook(_) => Target::Webhook,
            Destination::Email(_) => Target::Email,
            Destination::Slack(_) => Target::Slack,
            Destination::Notion(_) => Target::Notion,
            Destination::Discord(_) => Target::Discord,
            Destination::Telegram(_) => Target::Telegram,
            Destination::PostgresTable(_) => Target::PostgresTable,
            Destination::MergeWriteback(object) => object.target(),
        }
    }

    /// Where it sends, for `/v1/destinations` and `klaxon check`: never a secret (no token,
    /// no URL path or query).
    pub fn summary(&self) -> String {
        match self {
            Destination::Webhook(spec) => spec.summary(),
            Destination::Email(email) => email.kind.settings().summary(),
            Destination::Slack(slack) => slack.kind.summary(),
            Destination::Notion(notion) => notion.kind.summary(),
            Destination::Discord(discord) => discord.kind.summary(),
            Destination::Telegram(telegram) => telegram.kind.summary(),
            Destination::PostgresTable(table) => table.settings.summary().to_owned(),
            Destination::MergeWriteback(object) => object.summary().to_owned(),
        }
    }

    /// The body of this destination's delivery of `event`, fixed when the event is routed.
    pub fn render<S: Serialize>(&self, event: &Routed<'_, S>) -> String {
        match self {
            Destination::Webhook(_) => event.document().to_string(),
            Destination::Email(email) => {
                email::render(email.kind.settings(), &email.template.render(event))
            }
            Destination::Slack(slack) => slack::render(&slack.kind, &slack.template.render(event)),
            Destination::Notion(notion) => {
                notion::render(&notion.kind, &notion.template.render(event), event)
            }
            Destination::Discord(discord) => {
                discord::render(&discord.kind, &discord.template.render(event))
            }
            Destination::Telegram(telegram) => {
                telegram::render(&telegram.kind, &telegram.template.render(event))
            }
            Destination::PostgresTable(table) => {
                postgres_table::render(&table.settings, &event.document_value())
            }
            Destination::MergeWriteback(object) => {
                merge_writeback::render(*object, event.event_type, event.occurred_at, event.payload)
            }
        }
    }
}

/// A routed event, as destinations render it: what the pipeline produced (the payload after
/// redaction, the labels), never the raw event.
pub struct Routed<'a, S> {
    pub id: EventId,
    pub event_type: &'a str,
    pub occurred_at: &'a str,
    pub payload: &'a Value,
    pub labels: &'a Map<String, Value>,
    /// The pipeline's trace (its name, steps and decisions), for templates.
    pub trace: &'a S,
    /// The JSON document a webhook receives, serialized once per run and shared.
    pub document: std::cell::OnceCell<Arc<str>>,
}

impl<'a, S> Routed<'a, S> {
    pub fn new(
        id: EventId,
        event_type: &'a str,
        occurred_at: &'a str,
        payload: &'a Value,
        labels: &'a Map<String, Value>,
        trace: &'a S,
    ) -> Self {
        Routed {
            id,
            event_type,
            occurred_at,
            payload,
            labels,
            trace,
            document: std::cell::OnceCell::new(),
        }
    }

    /// The same document as a JSON value, for kinds that pick fields out of it.
    pub fn document_value(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "labels": self.labels,
            "occurred_at": self.occurred_at,
            "payload": self.payload,
            "type": self.event_type,
        })
    }

    /// `{"id","labels","occurred_at","payload","type"}`: what a webhook receives.
    pub fn document(&self) -> Arc<str> {
        self.document
            .get_or_init(|| {
                // Serializing JSON values and string-keyed maps cannot fail.
                serde_json::to_string(&Document {
                    id: self.id,
                    labels: self.labels,
                    occurred_at: self.occurred_at,
                    payload: self.payload,
                    event_type: self.event_type,
                })
                .unwrap_or_default()
                .into()
            })
            .clone()
    }
}

/// What a webhook receives. Serialized straight from borrowed parts: no copy of the payload.
#[derive(Serialize)]
struct Document<'a> {
    id: EventId,
    labels: &'a Map<String, Value>,
    occurred_at: &'a str,
    payload: &'a Value,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// Why a delivery could not even be attempted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unroutable {
    #[error("destination {0:?} is not in the settings any more; replay after restoring it")]
    NotConfigured(String),
    #[error(
        "destination {name:?} is a {now} destination in the settings, but this delivery was made for a {stored} one; replay after restoring it"
    )]
    KindChanged {
        name: String,
        stored: Target,
        now: Target,
    },
}

/// Sends deliveries: every configured destination by name, and the clients the kinds share.
pub struct Outbox {
    destinations: HashMap<String, Destination>,
    webhooks: webhook::WebhookSender,
    merge: Option<MergeClient>,
    providers: Providers,
}

/// What the kinds that call a provider's API (Slack, Discord, Telegram, Notion) share.
pub struct Providers {
    pub http: reqwest::Client,
    /// Per-channel / per-integration pacing.
    pub pace: rate_limit::RateLimiter,
    /// The sandbox chat services' root URL (`http://127.0.0.1:<port>`), where destinations
    /// without credentials send in sandbox mode.
    pub sandbox: Option<String>,
}

#[cfg(test)]
impl Providers {
    /// Providers whose sandbox nothing listens on (port 1): a send that goes out fails to
    /// connect, so a test can tell it from one held back before sending.
    pub fn unreachable() -> Providers {
        Providers {
            http: reqwest::Client::new(),
            pace: rate_limit::RateLimiter::default(),
            sandbox: Some("http://127.0.0.1:1".into()),
        }
    }
}

impl Outbox {
    pub fn new(
        destinations: HashMap<String, Destination>,
        webhooks: webhook::WebhookSender,
        merge: Option<MergeClient>,
    ) -> Result<Outbox, reqwest::Error> {
        Ok(Outbox {
            destinations,
            webhooks,
            merge,
            providers: Providers {
                http: http_post::client()?,
                pace: rate_limit::RateLimiter::default(),
                sandbox: None,
            },
        })
    }

    /// Sends destinations without credentials to the sandbox chat services at `base`.
    pub fn with_sandbox(mut self, base: String) -> Outbox {
        self.providers.sandbox = Some(base);
        self
    }

    /// True when some destination has no credentials and needs the sandbox services.
    pub fn needs_sandbox(&self) -> bool {
        self.destinations.values().any(Destination::uses_sandbox)
    }

    /// Makes one attempt of `job` and judges the answer: the one place a delivery's kind
    /// decides what happens.
    pub async fn send(&self, job: &DeliveryJob) -> Result<Report, Unroutable> {
        let retrying = job.attempts > 0;
        let destination = match job.target {
            Target::MergeTicket | Target::MergeNote => {
                return Ok(merge_writeback::send(
                    self.merge.as_ref(),
                    job.target,
                    &job.body,
                    retrying,
                )
                .await);
            }
            Target::Webhook
            | Target::Email
            | Target::Slack
            | Target::Discord
            | Target::Telegram
            | Target::Notion
            | Target::PostgresTable => self.configured(job)?,
        };
        Ok(match destination {
            Destination::Webhook(spec) => {
                webhook::send(&self.webhooks, spec, job.id, &job.body).await
            }
            Destination::Email(email) => email.kind.send(job.id, &job.body).await,
            Destination::Slack(slack) => slack::send(&slack.kind, &self.providers, &job.body).await,
            Destination::Notion(notion) => {
                notion::send(&notion.kind, &self.providers, &job.body).await
            }
            Destination::Discord(discord) => {
                discord::send(&discord.kind, &self.providers, &job.body).await
            }
            Destination::Telegram(telegram) => {
                telegram::send(&telegram.kind, &self.providers, &job.body).await
            }
            Destination::PostgresTable(table) => table.send(&job.body).await,
            Destination::MergeWriteback(_) => {
                merge_writeback::send(self.merge.as_ref(), job.target, &job.body, retrying).await
            }
        })
    }

    /// The settings of the job's destination, when they are still of the job's kind.
    fn configured(&self, job: &DeliveryJob) -> Result<&Destination, Unroutable> {
        let destination = self
            .destinations
            .get(&job.destination)
            .ok_or_else(|| Unroutable::NotConfigured(job.destination.clone()))?;
        if destination.target() != job.target {
            return Err(Unroutable::KindChanged {
                name: job.destination.clone(),
                stored: job.target,
                now: destination.target(),
            });
        }
        Ok(destination)
    }
}
