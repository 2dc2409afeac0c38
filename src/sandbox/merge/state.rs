//! The sandbox's memory: the common-model objects, the request log and the webhook log.
//!
//! One `std::sync::Mutex` guards it all. A request is decided in one critical section that
//! never awaits, so two writes to one ticket land in a definite order; webhook sending reads
//! the object under the lock, then releases it before the POST.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::sync::watch;

use super::model::{Opportunity, Ticket};
use super::{LinkedAccount, MergeSandboxConfig, RecordedRequest, SentWebhook, sample};
use crate::signing::Secret;

/// The configuration, fixed at start.
pub(crate) struct Settings {
    pub webhook_secret: Option<Secret>,
    pub unsupported_notes_for: Vec<String>,
    pub linked_accounts: Vec<LinkedAccount>,
}

impl Settings {
    /// The linked account an account token belongs to, if configured.
    pub(crate) fn account_for_token(&self, token: &str) -> Option<&LinkedAccount> {
        self.linked_accounts
            .iter()
            .find(|a| a.account_token.expose() == token)
    }

    pub(crate) fn account(&self, id: &str) -> Option<&LinkedAccount> {
        self.linked_accounts.iter().find(|a| a.id == id)
    }

    /// Whether notes are refused for this request's account, named in the configuration by
    /// linked-account id or by account token.
    pub(crate) fn notes_unsupported(&self, token: &str) -> bool {
        let id = self.account_for_token(token).map(|a| a.id.as_str());
        self.unsupported_notes_for
            .iter()
            .any(|named| named == token || Some(named.as_str()) == id)
    }
}

pub(crate) struct Inner {
    pub settings: Settings,
    state: Mutex<State>,
    /// Bumped after every observable change; [`super::SandboxMerge::wait_until`] watches it.
    pub changed: watch::Sender<u64>,
    pub http: reqwest::Client,
}

impl Inner {
    pub(crate) fn new(config: MergeSandboxConfig, http: reqwest::Client) -> Inner {
        Inner {
            settings: Settings {
                webhook_secret: config.webhook_secret,
                unsupported_notes_for: config.unsupported_notes_for,
                linked_accounts: config.linked_accounts,
            },
            state: Mutex::new(State::sample()),
            changed: watch::Sender::new(0),
            http,
        }
    }

    /// The state. A panic while it was held cannot leave it half-updated in a way that
    /// matters to a simulator, so poisoning is ignored rather than spread to every request.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Objects are kept in `BTreeMap`s keyed by id, which is also the listing order: stable
/// across pages, and the sample ids sort in the order the module docs list them.
pub(crate) struct State {
    pub tickets: BTreeMap<String, Ticket>,
    pub contacts: BTreeMap<String, Value>,
    pub accounts: BTreeMap<String, Value>,
    pub agents: BTreeMap<String, Value>,
    /// Created comments, in creation order (their ids are UUIDv7, so also id order).
    pub comments: Vec<Value>,
    pub opportunities: BTreeMap<String, Opportunity>,
    pub stages: BTreeMap<String, Value>,
    pub crm_users: BTreeMap<String, Value>,
    pub crm_accounts: BTreeMap<String, Value>,
    pub notes: Vec<Value>,
    pub requests: Vec<RecordedRequest>,
    pub webhooks: Vec<SentWebhook>,
}

impl State {
    fn sample() -> State {
        State {
            tickets: sample::tickets(),
            contacts: sample::contacts(),
            accounts: sample::accounts(),
            agents: sample::agents(),
            comments: Vec::new(),
            opportunities: sample::opportunities(),
            stages: sample::stages(),
            crm_users: sample::crm_users(),
            crm_accounts: sample::crm_accounts(),
            notes: Vec::new(),
            requests: Vec::new(),
            webhooks: Vec::new(),
        }
    }
}
