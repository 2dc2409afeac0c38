//! A simulated Merge.dev Unified API (Ticketing and CRM), what Klaxon talks to when no
//! `MERGE_API_KEY` is configured, and what the end-to-end tests drive: configure
//! `MERGE_API_BASE` as [`SandboxMerge::base_url`] (`http://127.0.0.1:<port>/api`).
//!
//! Served, under `/api` (docs/merge.md):
//! - ticketing: `GET /ticketing/v1/tickets` (cursor pagination, `modified_after`,
//!   `modified_before`, `page_size`, `status`, `priority`, `contact_id`, `account_id`,
//!   `expand`), `GET|PATCH /ticketing/v1/tickets/{id}` (`expand=contact,account,creator,
//!   assignees`), `GET|POST /ticketing/v1/comments` (`ticket_id=`),
//!   `GET /ticketing/v1/contacts/{id}` (`expand=account`), `GET /ticketing/v1/accounts/{id}`,
//!   `GET /ticketing/v1/users/{id}`;
//! - CRM: `GET /crm/v1/opportunities` (as tickets, with `stage_id`, `owner_id`, `status`,
//!   `account_id`), `GET /crm/v1/opportunities/{id}` (`expand=stage,owner,account`),
//!   `GET /crm/v1/stages/{id}`, `GET /crm/v1/users/{id}`, `GET /crm/v1/accounts/{id}`,
//!   `GET|POST /crm/v1/notes` (`opportunity_id=`).
//!
//! Every request needs `Authorization: Bearer <any non-empty key>` and a non-empty
//! `X-Account-Token`, else 401 `{"detail": …}`. All linked accounts see the same data: the
//! token only selects per-account behaviour ([`MergeSandboxConfig::unsupported_notes_for`])
//! and is recorded. Writes answer Merge's envelope `{model, warnings, errors}`; a body
//! without a `model` object, a wrong field type or a missing required field is a 400 whose
//! `errors[]` says which (see `writes.rs`).
//!
//! ## Sample data
//! Every sandbox starts with the same objects; ids are constants in [`sample`].
//!
//! | Object | Id constant | Content |
//! |---|---|---|
//! | Ticket 1001 | `TICKET_URGENT` | "Checkout API returns 500 for all EU customers", OPEN, URGENT, contact Anna, account Acme GmbH, assignee Sam |
//! | Ticket 1002 | `TICKET_HIGH` | "SSO login fails intermittently", IN_PROGRESS, HIGH, contact Ben, account Globex Ltd |
//! | Ticket 1003 | `TICKET_LOW` | "Typo in the invoice PDF footer", OPEN, LOW, contact Cara, account Acme GmbH |
//! | Ticket 1004 | `TICKET_CLOSED` | "Password reset email arrives late", CLOSED, NORMAL, contact Ben |
//! | Contact | `CONTACT_ANNA` | Anna Schmidt, anna.schmidt@acme.example, phone `+15552000001` |
//! | Contact | `CONTACT_BEN` | Ben Okafor, phone `(555) 200-0002` (not E.164, to exercise normalisation) |
//! | Contact | `CONTACT_CARA` | Cara Jones, no phone |
//! | Account | `ACCOUNT_ACME`, `ACCOUNT_GLOBEX` | "Acme GmbH" (acme.example), "Globex Ltd" |
//! | Ticketing user | `AGENT_SAM`, `AGENT_KIM` | Sam Rivera (creator of every ticket), Kim Lee |
//! | Opportunity | `OPPORTUNITY_NEGOTIATION` | "Acme GmbH: enterprise renewal", 80000, OPEN, stage Negotiation, owner Alex Evans (ae@example.com), account Acme GmbH |
//! | Opportunity | `OPPORTUNITY_DISCOVERY` | "Initech: starter plan", 4000, OPEN, stage Discovery, owner Sasha Diaz (sdr@example.com) |
//! | Stage | `STAGE_DISCOVERY`, `STAGE_NEGOTIATION`, `STAGE_CLOSED_WON` | "Discovery", "Negotiation", "Closed Won" |
//! | CRM user | `CRM_USER_AE`, `CRM_USER_SDR`, `CRM_USER_VP` | ae@example.com, sdr@example.com, vp@example.com |
//! | CRM account | `CRM_ACCOUNT_ACME`, `CRM_ACCOUNT_INITECH` | "Acme GmbH", "Initech" |
//! | Linked account | `LINKED_ZENDESK` / `LINKED_HUBSPOT` | Zendesk (ticketing), HubSpot (crm); tokens `ZENDESK_ACCOUNT_TOKEN`, `HUBSPOT_ACCOUNT_TOKEN` |
//!
//! Sample objects were created at 2026-01-05T09:00:00Z and last synced at 10:00:00Z. Every
//! change (a PATCH, [`SandboxMerge::update_ticket`], …) sets `modified_at` to now, strictly
//! later than before, so `modified_after` polling sees it. Lists are ordered by id.
//!
//! Tests read [`SandboxMerge::requests`] and [`SandboxMerge::writes`], change data with
//! [`SandboxMerge::update_ticket`] and friends, and push signed webhooks to Klaxon with
//! [`SandboxMerge::send_webhook`]. All state is in memory behind one `std::sync::Mutex`; no
//! lock is held across an `.await`.
//!
//! Not simulated: rate limits, regions, `show_enum_origins`, `include_remote_data`, the
//! `meta` endpoints, `is_debug_mode` logs, `run_async`, account-token exchange, webhook
//! retries, and data separated per linked account.

mod api;
mod model;
mod rejection;
pub mod sample;
mod state;
mod webhooks;
mod writes;

use crate::redacted::redacted_string;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::Value;
use tokio::net::TcpListener;

pub use model::{Opportunity, Ticket};

use crate::signing::Secret;
use state::Inner;

pub use super::background::StartError;
use super::background::{BackgroundServer, webhook_client};

redacted_string! {
    /// A linked account's token: sent as `X-Account-Token`.
    #[derive(PartialEq, Eq)]
    pub struct AccountToken;
}

/// A customer connection, as webhooks describe it in `linked_account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub id: String,
    pub account_token: AccountToken,
    /// Display name, e.g. "Zendesk".
    pub integration: String,
    pub integration_slug: String,
    /// `ticketing` or `crm`.
    pub category: String,
    pub end_user_organization_name: String,
}

impl LinkedAccount {
    /// The sample Zendesk (ticketing) and HubSpot (CRM) accounts.
    pub fn samples() -> Vec<LinkedAccount> {
        vec![
            LinkedAccount {
                id: sample::LINKED_ZENDESK.into(),
                account_token: AccountToken::new(sample::ZENDESK_ACCOUNT_TOKEN),
                integration: "Zendesk".into(),
                integration_slug: "zendesk".into(),
                category: "ticketing".into(),
                end_user_organization_name: "Acme Support".into(),
            },
            LinkedAccount {
                id: sample::LINKED_HUBSPOT.into(),
                account_token: AccountToken::new(sample::HUBSPOT_ACCOUNT_TOKEN),
                integration: "HubSpot".into(),
                integration_slug: "hubspot".into(),
                category: "crm".into(),
                end_user_organization_name: "Acme Sales".into(),
            },
        ]
    }
}

/// Everything the sandbox is started with.
#[derive(Debug, Clone)]
pub struct MergeSandboxConfig {
    /// The organisation's webhook signature key. Without one, webhooks go out unsigned.
    pub webhook_secret: Option<Secret>,
    /// Linked accounts (by id or account token) whose integration cannot create notes, like
    /// every CRM but HubSpot, Pipedrive and Salesforce (docs/merge.md §3.3): `POST
    /// /crm/v1/notes` answers 400 with an `errors[]` entry.
    pub unsupported_notes_for: Vec<String>,
    /// Known linked accounts; tokens not listed here are accepted too.
    pub linked_accounts: Vec<LinkedAccount>,
}

impl Default for MergeSandboxConfig {
    /// No webhook key, notes supported everywhere, the sample linked accounts.
    fn default() -> MergeSandboxConfig {
        MergeSandboxConfig {
            webhook_secret: None,
            unsupported_notes_for: Vec::new(),
            linked_accounts: LinkedAccount::samples(),
        }
    }
}

/// Why [`SandboxMerge::send_webhook`] sent nothing, or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the sandbox has no model for webhook event `{event}`")]
    UnknownModel { event: String },
    #[error("there is no {model} with id {id}")]
    UnknownObject { model: String, id: String },
    #[error("the webhook to {url} got no answer: {source}")]
    Delivery {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// [`SandboxMerge::update_ticket`] and friends named an object that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no {model} with id {id}")]
pub struct NoSuchObject {
    pub model: &'static str,
    pub id: String,
}

/// [`SandboxMerge::wait_until`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the condition was not reached within {0:?}")]
pub struct WaitTimedOut(pub Duration);

/// The request headers a test may check. The API key is never kept, only whether one came.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedHeaders {
    /// An `Authorization: Bearer <non-empty>` header was present.
    pub bearer: bool,
    pub account_token: Option<AccountToken>,
    pub content_type: Option<String>,
    pub user_agent: Option<String>,
}

/// One request the API received, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as sent, e.g. `/api/ticketing/v1/tickets`.
    pub path: String,
    /// Decoded query parameters in order, repeats kept.
    pub query: Vec<(String, String)>,
    pub headers: RecordedHeaders,
    /// The configured linked account the account token belongs to, if any.
    pub linked_account: Option<String>,
    /// The JSON body; `Null` when empty, a JSON string holding the text when not JSON.
    pub body: Value,
    pub at: SystemTime,
    /// The status the sandbox answered with.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook [`SandboxMerge::send_webhook`] sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentWebhook {
    pub url: String,
    pub event: String,
    pub body: Value,
    /// The receiver's status, `None` when no answer came.
    pub status: Option<u16>,
    pub at: SystemTime,
}

/// The running sandbox. Dropping it stops the server.
pub struct SandboxMerge {
    inner: Arc<Inner>,
    server: BackgroundServer,
}

impl SandboxMerge {
    /// Serves the simulated API on `listener` in the background.
    pub fn start(
        listener: TcpListener,
        config: MergeSandboxConfig,
    ) -> Result<SandboxMerge, StartError> {
        let http = webhook_client(Duration::from_secs(30))?;
        let inner = Arc::new(Inner::new(config, http));
        let server = BackgroundServer::start(
            listener,
            api::router(Arc::clone(&inner)),
            "sandbox Merge API",
        )?;
        tracing::info!(addr = %server.addr(), "sandbox Merge API listening");
        Ok(SandboxMerge { inner, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The API root to configure as `MERGE_API_BASE`, e.g. `http://127.0.0.1:40123/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr())
    }

    /// Every API request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// The PATCH and POST requests, in arrival order (refused ones included).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == "PATCH" || r.method == "POST")
            .cloned()
            .collect()
    }

    /// Every webhook sent so far.
    pub fn webhooks_sent(&self) -> Vec<SentWebhook> {
        self.inner.lock().webhooks.clone()
    }

    pub fn ticket(&self, id: &str) -> Option<Ticket> {
        self.inner.lock().tickets.get(id).cloned()
    }

    /// Adds or replaces a ticket, exactly as given (its `modified_at` included).
    pub fn set_ticket(&self, ticket: Ticket) {
        self.inner.lock().tickets.insert(ticket.id.clone(), ticket);
        self.inner.touch();
    }

    /// Changes a ticket as if the source system had, and Merge synced it: `modified_at`
    /// moves forward. Returns the ticket as changed.
    pub fn update_ticket(
        &self,
        id: &str,
        change: impl FnOnce(&mut Ticket),
    ) -> Result<Ticket, NoSuchObject> {
        let updated = {
            let mut state = self.inner.lock();
            let ticket = state.tickets.get_mut(id).ok_or_else(|| NoSuchObject {
                model: "Ticket",
                id: id.to_owned(),
            })?;
            change(ticket);
            ticket.modified_at = model::next_modified_at(ticket.modified_at);
            ticket.clone()
        };
        self.inner.touch();
        Ok(updated)
    }

    pub fn opportunity(&self, id: &str) -> Option<Opportunity> {
        self.inner.lock().opportunities.get(id).cloned()
    }

    /// Adds or replaces an opportunity, exactly as given.
    pub fn set_opportunity(&self, opportunity: Opportunity) {
        self.inner
            .lock()
            .opportunities
            .insert(opportunity.id.clone(), opportunity);
        self.inner.touch();
    }

    /// As [`SandboxMerge::update_ticket`], for an opportunity (e.g. moving its stage).
    pub fn update_opportunity(
        &self,
        id: &str,
        change: impl FnOnce(&mut Opportunity),
    ) -> Result<Opportunity, NoSuchObject> {
        let updated = {
            let mut state = self.inner.lock();
            let opportunity = state
                .opportunities
                .get_mut(id)
                .ok_or_else(|| NoSuchObject {
                    model: "Opportunity",
                    id: id.to_owned(),
                })?;
            change(opportunity);
            opportunity.modified_at = model::next_modified_at(opportunity.modified_at);
            opportunity.clone()
        };
        self.inner.touch();
        Ok(updated)
    }

    /// Comments created through the API, in creation order.
    pub fn comments(&self) -> Vec<Value> {
        self.inner.lock().comments.clone()
    }

    /// Notes created through the API, in creation order.
    pub fn notes(&self) -> Vec<Value> {
        self.inner.lock().notes.clone()
    }

    /// POSTs a Merge webhook for `event` (e.g. `Ticket.changed`, `Opportunity.changed`) about
    /// object `object_id`, as seen by `linked_account` (an id), to `target_url`, signed with
    /// the configured key. Returns the status the receiver answered. Sent once: Merge's
    /// retries are not simulated.
    pub async fn send_webhook(
        &self,
        target_url: &str,
        event: &str,
        object_id: &str,
        linked_account: &str,
    ) -> Result<u16, WebhookError> {
        let body = {
            let state = self.inner.lock();
            webhooks::envelope(
                &self.inner.settings,
                &state,
                target_url,
                event,
                object_id,
                linked_account,
            )?
        };
        // Serialised once: the signature covers exactly these bytes.
        let bytes = body.to_string().into_bytes();
        let mut post = self
            .inner
            .http
            .post(target_url)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "Merge/Webhooks");
        if let Some(key) = &self.inner.settings.webhook_secret {
            post = post.header(
                crate::signing::merge::HEADER,
                crate::signing::merge::sign(key, &bytes),
            );
        }
        let answered = post.body(bytes).send().await;
        let status = answered.as_ref().ok().map(|r| r.status().as_u16());
        self.inner.lock().webhooks.push(SentWebhook {
            url: target_url.to_owned(),
            event: event.to_owned(),
            body,
            status,
            at: SystemTime::now(),
        });
        self.inner.touch();
        answered
            .map(|r| r.status().as_u16())
            .map_err(|source| WebhookError::Delivery {
                url: target_url.to_owned(),
                source,
            })
    }

    /// Waits until `check` returns `Some`, re-checking after every request or change; gives
    /// up after `timeout`.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&[RecordedRequest]) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Marked as seen before looking, so a change made while `check` runs wakes us.
            changes.borrow_and_update();
            if let Some(found) = check(&self.requests()) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(WaitTimedOut(timeout)),
            }
        }
    }

    /// Stops serving, letting in-flight requests finish.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let config = MergeSandboxConfig {
            webhook_secret: Some(Secret::new("merge-signing-key")),
            ..MergeSandboxConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("merge-signing-key"));
        assert!(!printed.contains(sample::ZENDESK_ACCOUNT_TOKEN));
    }
}
