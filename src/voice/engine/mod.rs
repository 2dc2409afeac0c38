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
//! - [`execute`]: actions as carrier commands, one named piece per action; [`claim`]: every
//!   dial claimed in the store first; [`executed`]: what a command produced (pure).
//! - [`recovery`]: resume after a restart, the quiet check, take-over from a dead node.
//! - [`briefing`]: the spoken briefing, written by the model in the background.
//! - [`enrichment`]: the Merge lookup while the phone rings.
//! - [`published`]: the events a transition records (`escalation.<outcome>`, …), stored
//!   with it and handed on to the pipelines; the Merge write-back is one of their
//!   destinations, which the engine does not know.
//! - [`locks`]: the per-escalation lock within this process.
//! - [`texts`]: a slot's text before its call, or instead of it, and the wait for a reply.
//! - [`on_call`]: a `schedule:<name>` slot resolved to a person when its call is placed.

mod briefing;
mod claim;
mod enrichment;
mod execute;
mod executed;
mod locks;
mod on_call;
mod published;
mod recovery;
mod step;
mod texts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::carrier::Carrier;
use super::enrich::Enricher;
use super::escalation::machine::{Input, Settlement, State};
use super::escalation::plan::Plan;
use super::inbound::Inbound;
use super::telnyx::events::CallEvent;
use super::webhook;
use crate::intake::Intake;
use crate::llm::ChatModel;
use crate::oncall::Oncall;
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
    /// Looks up who "connect me" reaches while the phone rings (a Merge ticket's contact).
    enricher: Option<Enricher>,
    /// Where recorded events go once committed: the pipelines.
    intake: Option<Intake>,
    /// Calls to Klaxon's number: their events are theirs, and an escalation a caller started
    /// tells them its outcome.
    inbound: Option<Arc<Inbound>>,
    /// Who `schedule:<name>` slots ring, resolved when their call is placed.
    oncall: Option<Oncall>,
    locks: Mutex<HashMap<EscalationId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Drives escalations; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

/// What an engine is built from besides its store and carrier; each part is optional.
pub struct EngineBuilder {
    store: Store,
    carrier: Carrier,
    model: Option<ChatModel>,
    enricher: Option<Enricher>,
    intake: Option<Intake>,
    inbound: Option<Inbound>,
    oncall: Option<Oncall>,
}

impl EngineBuilder {
    /// Answers calls to Klaxon's number (live call routing).
    pub fn inbound(mut self, inbound: Inbound) -> Self {
        self.inbound = Some(inbound);
        self
    }

    /// The model that writes the spoken briefing; without one the template is read.
    pub fn model(mut self, model: Option<ChatModel>) -> Self {
        self.model = model;
        self
    }

    /// Looks up Merge ticket escalations' contacts while the phone rings.
    pub fn enricher(mut self, enricher: Enricher) -> Self {
        self.enricher = Some(enricher);
        self
    }

    /// Where the events a transition records (`escalation.<outcome>`, …) go once
    /// committed: they are stored pending when some pipeline takes them, then handed on.
    /// Without it they are stored, pending for no pipeline.
    pub fn intake(mut self, intake: Intake) -> Self {
        self.intake = Some(intake);
        self
    }

    /// The schedules `schedule:<name>` slots are resolved with; without it such a slot is
    /// skipped with a timeline note.
    pub fn oncall(mut self, oncall: Oncall) -> Self {
        self.oncall = Some(oncall);
        self
    }

    pub fn build(self) -> EngineHandle {
        EngineHandle {
            shared: Arc::new(Shared {
                store: self.store,
                carrier: self.carrier,
                model: self.model,
                enricher: self.enricher,
                intake: self.intake,
                inbound: self.inbound.map(Arc::new),
                oncall: self.oncall,
                locks: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl EngineHandle {
    /// An engine with what it needs at least; [`EngineHandle::builder`] for the rest.
    pub fn new(store: Store, carrier: Carrier, model: Option<ChatModel>) -> EngineHandle {
        EngineHandle::builder(store, carrier).model(model).build()
    }

    pub fn builder(store: Store, carrier: Carrier) -> EngineBuilder {
        EngineBuilder {
            store,
            carrier,
            model: None,
            enricher: None,
            intake: None,
            inbound: None,
            oncall: None,
        }
    }

    /// The store, for the inbound calls that share this engine's.
    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }

    pub(crate) fn carrier(&self) -> &Carrier {
        &self.shared.carrier
    }

    pub(crate) fn intake(&self) -> Option<&Intake> {
        self.shared.intake.as_ref()
    }

    pub(crate) fn inbound(&self) -> Option<&Arc<Inbound>> {
        self.shared.inbound.as_ref()
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

    /// The escalation's plan as stored, for the background tasks of a ringing escalation;
    /// `None` when it is gone or unreadable (they have no one to report to, and the step that
    /// reads the plan reports a corrupt one).
    async fn stored_plan(&self, id: EscalationId) -> Option<Plan> {
        let record = self.shared.store.load_escalation(id).await.ok()??;
        serde_json::from_str(&record.plan).ok()
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
        let caller_leg = match &self.shared.inbound {
            Some(inbound) => inbound.on_call_event(self, &event).await,
            None => false,
        };
        if !caller_leg {
            match webhook::route(store, &event).await {
                Some((escalation, input)) => self.feed(escalation, input).await,
                None => {
                    tracing::debug!(event = %event.id, kind = %event.event_type, "call event for no known escalation")
                }
            }
        }
        if let Err(error) = store.webhook_processed(event.id.clone()).await {
            tracing::warn!(%error, event = %event.id, "could not mark a call event processed; it will be replayed");
        }
    }

    /// Ends an escalation from outside its calls (its alert resolved, or was acknowledged
    /// at its source or by text); false when it had already ended.
    pub async fn settle(
        &self,
        id: EscalationId,
        settlement: Settlement,
    ) -> Result<bool, EngineError> {
        let before = self.shared.store.load_escalation(id).await?;
        let active = before.is_some_and(|r| r.status == "active");
        if active {
            self.drive(id, Input::Settle(settlement)).await?;
        }
        Ok(active)
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

// The sandbox carrier they ring is behind the `sandbox` feature.
#[cfg(all(test, feature = "sandbox"))]
mod tests;
