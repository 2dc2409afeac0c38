//! The escalation engine: runs the state machine for each escalation, persisting every
//! transition before acting on it, and turns its actions into carrier commands.
//!
//! One escalation is driven by one task at a time, so inputs from webhooks, dial results,
//! the briefing and the API are applied in some order, never concurrently: within a process
//! by a per-escalation lock, across nodes by a lease in the store
//! ([`Store::hold_escalation`]), so a webhook that reaches a node other than the one that
//! dialled is applied there, after that node's step. State lives in the store, not in
//! memory: a restart resumes every active escalation from its last persisted state
//! ([`EngineHandle::resume_all`]), and on a shared store a live node takes over, one lease
//! later, the escalations of a node that died mid-step ([`EngineHandle::watch`]).
//!
//! Every dial is claimed in the store just before the carrier is asked to place it
//! ([`Store::claim_dial`]): the database's key on (escalation, attempt, leg) refuses a second
//! claim, so no lapse of a lease or a lock can ring someone twice for one attempt.
//!
//! This file holds the handle and its public API; the rest, one responsibility a file:
//!
//! - [`step`]: one step under the hold: inputs → machine → persist → actions → feedback.
//! - [`execute`]: actions as carrier commands, every dial claimed first.
//! - [`recovery`]: resume after a restart, the quiet check, take-over from a dead node.
//! - [`briefing`]: the spoken briefing, written by the model in the background.
//! - [`enrichment`]: the Merge lookup while the phone rings.
//! - [`writeback`]: what the Merge ticket or deal is told.
//! - [`locks`]: the per-escalation lock within this process.

mod briefing;
mod enrichment;
mod execute;
mod locks;
mod recovery;
mod step;
mod writeback;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::carrier::Carrier;
use super::escalation::machine::{Input, State};
use super::telnyx::events::CallEvent;
use super::webhook;
use crate::delivery::WorkerHandle;
use crate::llm::ChatModel;
use crate::merge::MergeClient;
use crate::pipeline::RunnerHandle;
use crate::store::{EscalationId, Store, StoreError};

/// What is persisted per escalation: the machine's state plus the count of commands issued,
/// which numbers every command's `command_id` so a replay after a crash reuses the ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    #[serde(flatten)]
    pub machine: State,
    #[serde(default)]
    pub commands: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("escalation {0} has an unreadable stored state: {1}")]
    Corrupt(EscalationId, serde_json::Error),
}

struct Shared {
    store: Store,
    carrier: Carrier,
    model: Option<ChatModel>,
    /// Where outcomes are published as `escalation.<outcome>` events; set once the
    /// pipeline runner exists (it needs this engine first).
    outcomes: OnceLock<RunnerHandle>,
    /// Looks up a Merge ticket's contact to connect to, while the phone rings.
    merge: Option<MergeClient>,
    /// Who "connect me" reaches when the ticket's contact has no phone (`BRIDGE_NUMBER`).
    bridge_number: Option<String>,
    /// Runs the Merge write-back jobs of finished escalations.
    writebacks: Option<WorkerHandle>,
    locks: Mutex<HashMap<EscalationId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Drives escalations; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl EngineHandle {
    pub fn new(store: Store, carrier: Carrier, model: Option<ChatModel>) -> EngineHandle {
        EngineHandle {
            shared: Arc::new(Shared {
                store,
                carrier,
                model,
                outcomes: OnceLock::new(),
                merge: None,
                bridge_number: None,
                writebacks: None,
                locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Enriches Merge ticket escalations with the contact's phone (the connect target) and
    /// writes their outcome back to the ticket through `writebacks`. Call before the engine
    /// is shared.
    pub fn with_merge(
        mut self,
        merge: MergeClient,
        bridge_number: Option<String>,
        writebacks: WorkerHandle,
    ) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.merge = Some(merge);
            shared.bridge_number = bridge_number;
            shared.writebacks = Some(writebacks);
        }
        self
    }

    /// From now on, every finished escalation is published as an `escalation.<outcome>` event
    /// (`escalation.unreached`, `escalation.acknowledged`, …) that pipelines can route, e.g.
    /// to a webhook when nobody was reached.
    pub fn publish_outcomes_to(&self, runner: RunnerHandle) {
        let _ = self.shared.outcomes.set(runner);
    }

    /// Starts a new escalation: dials the first slot, and meanwhile writes the briefing and
    /// looks up who "connect me" reaches.
    pub fn start(&self, id: EscalationId) {
        let engine = self.clone();
        tokio::spawn(async move {
            engine.brief(id);
            engine.enrich(id);
            engine.feed(id, Input::Start).await;
        });
    }

    /// Applies one input to an escalation, logging failures (inputs come from webhooks and
    /// tasks that have no one to report to).
    pub async fn feed(&self, id: EscalationId, input: Input) {
        if let Err(error) = self.drive(id, input).await {
            tracing::error!(%error, escalation = %id, "escalation step failed");
        }
    }

    /// Acts on a recorded call event, then marks it processed.
    pub async fn on_call_event(&self, event: CallEvent) {
        let store = &self.shared.store;
        match webhook::route(store, &event).await {
            Some((escalation, input)) => self.feed(escalation, input).await,
            None => {
                tracing::debug!(event = %event.id, kind = %event.event_type, "call event for no known escalation")
            }
        }
        if let Err(error) = store.webhook_processed(event.id.clone()).await {
            tracing::warn!(%error, event = %event.id, "could not mark a call event processed; it will be replayed");
        }
    }

    /// Cancels an escalation; false when it had already ended.
    pub async fn cancel(&self, id: EscalationId) -> Result<bool, EngineError> {
        let before = self.shared.store.load_escalation(id).await?;
        let active = before.is_some_and(|r| r.status == "active");
        if active {
            self.drive(id, Input::Cancel).await?;
        }
        Ok(active)
    }
}
