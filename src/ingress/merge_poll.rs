//! Reconciliation polling (docs/merge.md §4.8): Merge sends webhooks only after its syncs and can
//! miss some, so every `MERGE_POLL_INTERVAL` the [`Reconciler`] lists each linked account's tickets
//! and opportunities modified since its last poll and stores each as an event
//! (`merge.ticket.changed` / `merge.opportunity.changed`, source `merge`, `merge_event:
//! "poll"`). The same pipelines and `transition` steps as webhooks then decide, so a missed
//! webhook still rings once and a received one does not ring twice.
//!
//! - **Idempotent.** Each object version is stored under `merge-poll:{account}:{model}:{id}:
//!   {modified_at}`, so re-reading it (the overlap below, a retried poll) stores nothing new.
//! - **Cursor.** Per (account, model), in the store: the largest `modified_at` read. The next
//!   poll asks for `modified_after = cursor − OVERLAP`, because `modified_at` is Merge's sync
//!   time and one sync's objects do not all carry the same instant. The cursor moves only
//!   after every page was read and every object stored; a failure re-reads the window next
//!   time. With no cursor yet the window starts one interval ago.
//! - **Failures** are logged (a [`MergeError`] never holds a key or a token) and retried at
//!   the next interval; nothing here can stop the server.
//! - **Unknown categories.** An account whose category is unknown (the `MERGE_ACCOUNT_TOKEN`
//!   fallback, or `MERGE_ACCOUNT_TOKENS` entries) is polled for both models; a 4xx on one
//!   means that category is not linked, which is logged once and is not an error.
//!
//! Polls run one at a time (the timer's and `POST /v1/merge/poll`'s), so no two move one
//! cursor. It is an ingress beside HTTP: it reads Merge through [`crate::merge`]'s client
//! and stores what it reads through [`crate::intake`]; it knows nothing of axum.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::clock;
use crate::intake::Intake;
use crate::merge::payload::{POLLED, opportunity_fields, ticket_fields};
use crate::merge::{MergeClient, MergeError};
use crate::people::PhoneBook;
use crate::store::{Source, Store};

/// How far before the cursor each poll starts: Merge's `modified_at` is sync time.
pub const OVERLAP: Duration = Duration::from_secs(60);
/// The account id polled with `MERGE_ACCOUNT_TOKEN` alone; the client falls back to the
/// default token for an id it has no token for.
pub const DEFAULT_ACCOUNT: &str = "default";

/// A Merge common model the poll lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolledModel {
    Ticket,
    Opportunity,
}

impl PolledModel {
    pub fn as_str(self) -> &'static str {
        match self {
            PolledModel::Ticket => "ticket",
            PolledModel::Opportunity => "opportunity",
        }
    }

    /// The event type a polled object is stored as, as its `changed` webhook would be.
    pub fn event_type(self) -> &'static str {
        match self {
            PolledModel::Ticket => "merge.ticket.changed",
            PolledModel::Opportunity => "merge.opportunity.changed",
        }
    }
}

/// A linked account and the models to read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeAccount {
    /// `linked_account.id` (or [`DEFAULT_ACCOUNT`]).
    pub id: String,
    pub models: Vec<PolledModel>,
    /// True when the category is known (the sandbox's accounts): every failure is an error.
    /// False when both models are tried and a 4xx means "not linked".
    pub category_known: bool,
    /// The integration's name (`HubSpot`, …) when known, stored as a webhook's `integration`
    /// is, so a deal note knows whether the CRM takes notes.
    pub integration: Option<String>,
}

impl MergeAccount {
    /// An account of a known category: `ticketing` reads tickets, `crm` opportunities.
    pub fn of_category(
        id: impl Into<String>,
        category: &str,
        integration: Option<String>,
    ) -> MergeAccount {
        let models = match category {
            "ticketing" => vec![PolledModel::Ticket],
            "crm" => vec![PolledModel::Opportunity],
            _ => vec![PolledModel::Ticket, PolledModel::Opportunity],
        };
        MergeAccount {
            id: id.into(),
            models,
            category_known: true,
            integration,
        }
    }

    /// An account whose category is unknown: both models are tried.
    pub fn unknown_category(id: impl Into<String>) -> MergeAccount {
        MergeAccount {
            id: id.into(),
            models: vec![PolledModel::Ticket, PolledModel::Opportunity],
            category_known: false,
            integration: None,
        }
    }

    /// Whether `error` from reading `model` means only "this category is not linked".
    pub fn is_unlinked(&self, error: &MergeError) -> bool {
        !self.category_known
            && match error {
                MergeError::NotFound { .. } => true,
                MergeError::Rejected { status, .. } => status.is_client_error(),
                _ => false,
            }
    }
}

/// What one (account, model) poll did; `POST /v1/merge/poll` answers with these.
#[derive(Debug, Clone, Serialize)]
pub struct PollOutcome {
    pub account: String,
    pub model: PolledModel,
    /// The `modified_after` asked for.
    pub modified_after: String,
    /// Objects Merge listed.
    pub seen: usize,
    /// Of those, versions not stored before (new events).
    pub stored: usize,
    /// The model's category is not linked to this account.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_linked: bool,
    /// Why the poll failed; its cursor did not move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the reconciler is given at start.
pub struct ReconcilerConfig {
    pub client: MergeClient,
    pub store: Store,
    pub intake: Intake,
    pub accounts: Vec<MergeAccount>,
    pub interval: Duration,
    /// How a deal owner's e-mail finds their phone (`owner_phone`).
    pub phones_by_email: PhoneBook,
}

/// Polls Merge; cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    inner: Arc<Inner>,
}

struct Inner {
    config: ReconcilerConfig,
    /// Held for a whole poll, so polls never overlap. Holds the (account, model) pairs
    /// already logged as not linked, so that is said once.
    reported_unlinked: Mutex<HashSet<(String, PolledModel)>>,
}

/// An object read from Merge, as it will be stored.
struct Read {
    id: String,
    modified_at: Option<String>,
    payload: Map<String, Value>,
}

impl Reconciler {
    pub fn new(config: ReconcilerConfig) -> Reconciler {
        Reconciler {
            inner: Arc::new(Inner {
                config,
                reported_unlinked: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn interval(&self) -> Duration {
        self.inner.config.interval
    }

    /// Polls every interval (the first one interval after start) until `shutdown` turns
    /// true. A poll cut short by shutdown leaves its cursor where it was.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let interval = self.interval();
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
                tokio::select! {
                    _ = self.poll_once() => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        })
    }

    /// One poll of every account and model, now.
    pub async fn poll_once(&self) -> Vec<PollOutcome> {
        let mut reported = self.inner.reported_unlinked.lock().await;
        let mut outcomes = Vec::new();
        for account in &self.inner.config.accounts {
            for &model in &account.models {
                let outcome = self.poll(account, model, &mut reported).await;
                if outcome.stored > 0 {
                    tracing::info!(
                        account = account.id,
                        model = model.as_str(),
                        seen = outcome.seen,
                        stored = outcome.stored,
                        "reconciliation poll stored changes"
                    );
                }
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    async fn poll(
        &self,
        account: &MergeAccount,
        model: PolledModel,
        reported: &mut HashSet<(String, PolledModel)>,
    ) -> PollOutcome {
        let config = &self.inner.config;
        let name = cursor_name(&account.id, model);
        let now = OffsetDateTime::now_utc();
        let mut outcome = PollOutcome {
            account: account.id.clone(),
            model,
            modified_after: String::new(),
            seen: 0,
            stored: 0,
            not_linked: false,
            error: None,
        };
        let cursor = match config.store.poll_cursor(name.clone()).await {
            Ok(cursor) => cursor.as_deref().and_then(parse_time),
            Err(error) => return failed(outcome, "cannot read the poll cursor", &error),
        };
        let since = window_start(cursor, now, config.interval);
        outcome.modified_after = clock::format_rfc3339(since);
        let read = match self.list(&account.id, model, since).await {
            Ok(read) => read,
            Err(error) if account.is_unlinked(&error) => {
                if reported.insert((account.id.clone(), model)) {
                    tracing::info!(
                        account = account.id,
                        model = model.as_str(),
                        %error,
                        "this Merge category is not linked to the account; nothing to poll"
                    );
                }
                outcome.not_linked = true;
                return outcome;
            }
            Err(error) => {
                tracing::warn!(account = account.id, model = model.as_str(), %error, "reconciliation poll failed; retrying next interval");
                outcome.error = Some(error.to_string());
                return outcome;
            }
        };
        outcome.seen = read.len();
        let mut newest = cursor;
        for object in read {
            let modified = object.modified_at.as_deref().and_then(parse_time);
            newest = newest.max(modified);
            let mut payload = object.payload;
            payload.insert("linked_account_id".into(), json!(account.id));
            if let Some(integration) = &account.integration {
                payload.insert("integration".into(), json!(integration));
            }
            payload.insert("merge_event".into(), json!(POLLED));
            let payload = Value::Object(payload);
            let key = idempotency_key(
                &account.id,
                model,
                &object.id,
                object.modified_at.as_deref(),
                &payload,
            );
            match config
                .intake
                .publish(Source::Merge, model.event_type(), &payload, key)
                .await
            {
                Ok(true) => outcome.stored += 1,
                Ok(false) => {}
                Err(error) => return failed(outcome, "cannot store a polled object", &error),
            }
        }
        // With nothing read and no cursor yet, remember this window's start, so the next
        // poll does not leave a gap if it runs late.
        let advanced = newest.unwrap_or(since);
        if let Err(error) = config
            .store
            .set_poll_cursor(name, clock::format_rfc3339(advanced))
            .await
        {
            return failed(outcome, "cannot save the poll cursor", &error);
        }
        outcome
    }

    async fn list(
        &self,
        account: &str,
        model: PolledModel,
        since: OffsetDateTime,
    ) -> Result<Vec<Read>, MergeError> {
        let config = &self.inner.config;
        Ok(match model {
            PolledModel::Ticket => config
                .client
                .list_tickets_modified_since(account, since)
                .await?
                .into_iter()
                .map(|t| Read {
                    payload: ticket_fields(&t),
                    id: t.id,
                    modified_at: t.modified_at,
                })
                .collect(),
            PolledModel::Opportunity => {
                let phone_of = |email: &str| config.phones_by_email.phone(email);
                config
                    .client
                    .list_opportunities_modified_since(account, since)
                    .await?
                    .into_iter()
                    .map(|o| Read {
                        payload: opportunity_fields(&o, &phone_of),
                        id: o.id,
                        modified_at: o.modified_at,
                    })
                    .collect()
            }
        })
    }
}

fn failed(
    mut outcome: PollOutcome,
    what: &'static str,
    error: &crate::store::StoreError,
) -> PollOutcome {
    tracing::error!(account = outcome.account, model = outcome.model.as_str(), %error, "{what}; the poll is retried next interval");
    outcome.error = Some(format!("{what}: the store is unavailable"));
    outcome
}

/// The store's name for an (account, model) cursor.
pub fn cursor_name(account: &str, model: PolledModel) -> String {
    format!("merge:{account}:{}", model.as_str())
}

/// Where a poll starts: the cursor minus [`OVERLAP`], or one interval ago without a cursor.
fn window_start(
    cursor: Option<OffsetDateTime>,
    now: OffsetDateTime,
    interval: Duration,
) -> OffsetDateTime {
    match cursor {
        Some(cursor) => cursor - OVERLAP,
        None => now - interval,
    }
}

/// One key per object version. Merge always sends `modified_at`; without one, the payload's
/// hash stands in, so a changed object is still stored again.
fn idempotency_key(
    account: &str,
    model: PolledModel,
    id: &str,
    modified_at: Option<&str>,
    payload: &Value,
) -> String {
    let version = match modified_at {
        Some(modified_at) => modified_at.to_owned(),
        None => hex::encode(Sha256::digest(payload.to_string().as_bytes())),
    };
    format!("merge-poll:{account}:{}:{id}:{version}", model.as_str())
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use time::macros::datetime;

    #[test]
    fn the_window_starts_before_the_cursor_or_one_interval_ago() {
        let now = datetime!(2026-11-23 12:00 UTC);
        let five = Duration::from_secs(300);
        assert_eq!(
            window_start(None, now, five),
            datetime!(2026-11-23 11:55 UTC)
        );
        assert_eq!(
            window_start(Some(datetime!(2026-11-23 11:58:30 UTC)), now, five),
            datetime!(2026-11-23 11:57:30 UTC)
        );
    }

    #[test]
    fn one_key_per_object_version() {
        let payload = json!({"id": "t-1"});
        let key = |modified: Option<&str>| {
            idempotency_key("acct", PolledModel::Ticket, "t-1", modified, &payload)
        };
        assert_eq!(
            key(Some("2026-11-23T12:00:00Z")),
            "merge-poll:acct:ticket:t-1:2026-11-23T12:00:00Z"
        );
        assert_ne!(
            key(Some("2026-11-23T12:00:00Z")),
            key(Some("2026-11-23T12:00:01Z"))
        );
        assert_eq!(key(None), key(None));
    }

    #[test]
    fn only_an_unknown_category_turns_a_4xx_into_not_linked() {
        let not_found = MergeError::NotFound { operation: "t" };
        let rejected = MergeError::Rejected {
            operation: "t",
            status: StatusCode::BAD_REQUEST,
            body: String::new(),
        };
        let unauthorized = MergeError::Unauthorized {
            operation: "t",
            status: StatusCode::UNAUTHORIZED,
        };
        let default = MergeAccount::unknown_category(DEFAULT_ACCOUNT);
        assert!(default.is_unlinked(&not_found));
        assert!(default.is_unlinked(&rejected));
        assert!(
            !default.is_unlinked(&unauthorized),
            "a wrong token is an error"
        );
        let zendesk = MergeAccount::of_category("z", "ticketing", None);
        assert_eq!(zendesk.models, [PolledModel::Ticket]);
        assert!(!zendesk.is_unlinked(&not_found));
        assert_eq!(
            MergeAccount::of_category("h", "crm", Some("HubSpot".into())).models,
            [PolledModel::Opportunity]
        );
    }
}
