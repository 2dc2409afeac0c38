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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::carrier::Detection;
use super::carrier::{Carrier, CarrierError, CommandRef};
use super::enrich;
use super::escalation::machine::{
    Action, CallStatus, Heard, Input, Leg, Machine, Outcome, Phase, State,
};
use super::escalation::plan::Plan;
use super::script;
use super::settings::Voicemail;
use super::spoken;
use super::telnyx::events::{self, CallEvent};
use super::timeline;
use super::webhook;
use crate::clock;
use crate::delivery::WorkerHandle;
use crate::intake::Intake;
use crate::llm::ChatModel;
use crate::merge::MergeClient;
use crate::merge::writeback::{self, DealNote, TicketWriteback};
use crate::store::{
    DeliveryId, DeliveryJob, DialClaim, Dialling, EscalationId, EscalationUpdate, Hold,
    NewDelivery, NewDial, NewLeg, Source, Store, StoreError, TimelineEntry,
};

/// Longest spoken briefing, in model tokens (two sentences).
const BRIEFING_MAX_TOKENS: usize = 120;
/// How often quiet escalations are checked.
const WATCH_INTERVAL: Duration = Duration::from_secs(30);
/// No change for this long (longer than any ring, prompt or menu) means something was lost.
const QUIET_AFTER: Duration = Duration::from_secs(11 * 60);
/// On a shared store, how often a node looks for escalations and call events left by a
/// node that died: a take-over happens at most this long after the dead node's lease ends.
const TAKEOVER_INTERVAL: Duration = Duration::from_millis(500);

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
    outcomes: OnceLock<Intake>,
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
    pub fn publish_outcomes_to(&self, intake: Intake) {
        let _ = self.shared.outcomes.set(intake);
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

    /// For a Merge ticket: the contact's phone (`expand=contact`), else `BRIDGE_NUMBER`, and
    /// the contact's and account's names for the briefing.
    fn enrich(&self, id: EscalationId) {
        let engine = self.clone();
        tokio::spawn(async move {
            let Ok(Some(record)) = engine.shared.store.load_escalation(id).await else {
                return;
            };
            let Ok(plan) = serde_json::from_str::<Plan>(&record.plan) else {
                return;
            };
            let (Some(ticket), Some(merge)) = (&plan.merge_ticket, &engine.shared.merge) else {
                return;
            };
            let found = match enrich::ticket(merge, ticket).await {
                Ok(found) => Some(found),
                Err(error) => {
                    tracing::warn!(%error, escalation = %id, "could not look up the ticket's contact");
                    None
                }
            };
            let phone = found.as_ref().and_then(|f| f.phone.clone());
            let connect_to = phone.or_else(|| engine.shared.bridge_number.clone());
            if connect_to.is_some() || found.is_some() {
                engine.feed(id, Input::Enriched { connect_to, found }).await;
            }
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

    /// Picks up every escalation that was active when Klaxon stopped: re-sends a dial that
    /// may not have gone out (under its claim and its `command_id`, so Telnyx drops a
    /// duplicate), and checks legs that were live, feeding a hang-up for those that ended
    /// meanwhile.
    pub async fn resume_all(&self) -> Result<usize, EngineError> {
        // First the call events that arrived but were not acted on before the stop.
        self.replay_unprocessed().await?;
        if self.shared.store.is_shared() {
            // Other nodes may be running these escalations right now; the ones a dead node
            // left are found by `watch` once its leases run out.
            return Ok(0);
        }
        self.resume_quiet_since(None).await
    }

    /// Checks escalations that have gone quiet, in case a carrier webhook was lost (a leg
    /// that ended without its `call.hangup` reaching us would otherwise hold the escalation
    /// forever). Runs until `shutdown`.
    pub async fn watch(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut quiet_check = tokio::time::Instant::now() + WATCH_INTERVAL;
        let tick = if self.shared.store.is_shared() {
            TAKEOVER_INTERVAL
        } else {
            WATCH_INTERVAL
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            if self.shared.store.is_shared()
                && let Err(error) = self.take_over().await
            {
                tracing::warn!(%error, "could not look for escalations left by a dead node");
            }
            if tokio::time::Instant::now() < quiet_check {
                continue;
            }
            quiet_check = tokio::time::Instant::now() + WATCH_INTERVAL;
            let cutoff = clock::ms_to_rfc3339(
                clock::now_ms() - i64::try_from(QUIET_AFTER.as_millis()).unwrap_or(i64::MAX),
            );
            if let Err(error) = self.resume_quiet_since(Some(cutoff)).await {
                tracing::warn!(%error, "could not check quiet escalations");
            }
        }
    }

    /// Resumes escalations whose node died mid-step, and acts on call events that a dead
    /// node recorded but never acted on. The store hands each to one node only.
    async fn take_over(&self) -> Result<(), EngineError> {
        let store = &self.shared.store;
        for id in store.orphaned_escalations().await? {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.resume(id).await {
                    tracing::error!(%error, escalation = %id, "could not resume an escalation");
                }
            });
        }
        self.replay_unprocessed().await
    }

    /// Acts on call events that arrived but were not acted on (a crash in between).
    async fn replay_unprocessed(&self) -> Result<(), EngineError> {
        for (id, body) in self.shared.store.unprocessed_webhooks().await? {
            match events::parse(body.as_bytes()) {
                Ok(event) => self.on_call_event(event).await,
                Err(error) => {
                    tracing::warn!(%error, event = %id, "a stored call event is unreadable; dropped");
                    let _ = self.shared.store.webhook_processed(id).await;
                }
            }
        }
        Ok(())
    }

    async fn resume_quiet_since(&self, before: Option<String>) -> Result<usize, EngineError> {
        let active = self.shared.store.active_escalations(before).await?;
        for id in &active {
            let engine = self.clone();
            let id = *id;
            tokio::spawn(async move {
                if let Err(error) = engine.resume(id).await {
                    tracing::error!(%error, escalation = %id, "could not resume an escalation");
                }
            });
        }
        Ok(active.len())
    }

    /// Picks an escalation up where its last step left it. Safe to run any number of times,
    /// on any node: what to do is decided under the hold, from the state just read.
    async fn resume(&self, id: EscalationId) -> Result<(), EngineError> {
        self.step(id, Vec::new(), Vec::new(), Recover::Always).await
    }

    /// Repairs what a step cut short (a crash, or a node that died mid-step): re-sends a dial
    /// that may not have gone out (same `command_id`, so the carrier returns the same call
    /// instead of ringing again; the store allows it only while the claimed dial's leg is
    /// unknown), starts an escalation that never started, and feeds a hang-up for a leg that
    /// ended meanwhile. Runs under the hold.
    async fn recover_held(&self, id: EscalationId) -> Result<(), EngineError> {
        let Some(record) = self.shared.store.load_escalation(id).await? else {
            return Ok(());
        };
        let persisted: Persisted =
            serde_json::from_str(&record.state).map_err(|e| EngineError::Corrupt(id, e))?;
        let state = persisted.machine;
        if record.status != "active" && !state.has_live_legs() {
            return Ok(());
        }
        if state.attempt == 0 {
            self.brief(id);
            return self
                .step_held(id, vec![Input::Start], Vec::new(), Dialling::Decided)
                .await;
        }
        // Calls whose dial may not have gone out: re-sent under their claim and command id,
        // so the carrier returns the same call rather than ringing again.
        let plan: Plan =
            serde_json::from_str(&record.plan).map_err(|e| EngineError::Corrupt(id, e))?;
        let undialled: Vec<(u32, Action)> = state
            .calls
            .iter()
            .filter(|c| c.call.is_none() && c.status == CallStatus::Ringing)
            .filter_map(|c| {
                let slot = plan.slots.get(c.attempt.checked_sub(1)? as usize)?;
                Some((
                    0,
                    Action::DialA {
                        attempt: c.attempt,
                        slot: slot.clone(),
                    },
                ))
            })
            .collect();
        if !undialled.is_empty() {
            return self
                .step_held(id, Vec::new(), undialled, Dialling::Recovered)
                .await;
        }
        let mut ended = Vec::new();
        for call in &state.calls {
            if let Some(leg) = &call.call
                && !self.shared.carrier.is_alive(leg).await
            {
                ended.push(Input::HungUp {
                    attempt: call.attempt,
                    leg: Leg::A,
                    cause: "ended while Klaxon was down".into(),
                });
            }
        }
        if let (Some(b_leg), Some(taken)) = (&state.b_leg, state.taken())
            && !self.shared.carrier.is_alive(b_leg).await
        {
            ended.push(Input::HungUp {
                attempt: taken.attempt,
                leg: Leg::B,
                cause: "ended while Klaxon was down".into(),
            });
        }
        if !ended.is_empty() {
            return self
                .step_held(id, ended, Vec::new(), Dialling::Decided)
                .await;
        }
        Ok(())
    }

    /// Generates the briefing in the background, if a model is configured.
    fn brief(&self, id: EscalationId) {
        let Some(model) = self.shared.model.clone() else {
            return;
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let Ok(Some(record)) = engine.shared.store.load_escalation(id).await else {
                return;
            };
            let Ok(plan) = serde_json::from_str::<Plan>(&record.plan) else {
                return;
            };
            let context = &plan.briefing;
            let written = model
                .write(&context.prompt, &context.model_input(), BRIEFING_MAX_TOKENS)
                .await;
            let result = if written.is_ok() { "ok" } else { "error" };
            crate::metrics::metrics()
                .model_calls
                .inc(&["briefing", result]);
            match written {
                // Whatever the model wrote, no id, address or number is read aloud.
                Ok(text) => {
                    let text = spoken::speakable(&text);
                    engine.feed(id, Input::BriefingReady(text)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, escalation = %id, "briefing model failed; the template is used");
                }
            }
        });
    }

    /// Runs `first` and everything it leads to (dial results feed back as inputs).
    async fn drive(&self, id: EscalationId, first: Input) -> Result<(), EngineError> {
        self.step(id, vec![first], Vec::new(), Recover::IfTakenOver)
            .await
    }

    /// Applies inputs and actions while holding the escalation: this task's lock in this
    /// process, and the store's lease across nodes (released however the step ends).
    async fn step(
        &self,
        id: EscalationId,
        inputs: Vec<Input>,
        actions: Vec<(u32, Action)>,
        recover: Recover,
    ) -> Result<(), EngineError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let store = &self.shared.store;
        let taken_over = match store.hold_escalation(id).await? {
            Hold::Missing => return Ok(()),
            Hold::Clean => false,
            Hold::TakenOver => {
                tracing::info!(escalation = %id, "took over an escalation whose node stopped mid-step");
                true
            }
        };
        let mut stepped = Ok(());
        if taken_over || recover == Recover::Always {
            stepped = self.recover_held(id).await;
        }
        if stepped.is_ok() && !(inputs.is_empty() && actions.is_empty()) {
            stepped = self.step_held(id, inputs, actions, Dialling::Decided).await;
        }
        if let Err(error) = store.release_escalation(id).await {
            tracing::warn!(%error, escalation = %id, "could not release an escalation; its lease will run out");
        }
        stepped
    }

    /// `given` says why the `actions` passed in are run (a recovery re-sends a dial already
    /// claimed); the actions this step decides are always [`Dialling::Decided`].
    async fn step_held(
        &self,
        id: EscalationId,
        inputs: Vec<Input>,
        actions: Vec<(u32, Action)>,
        given: Dialling,
    ) -> Result<(), EngineError> {
        let store = &self.shared.store;
        let Some(record) = store.load_escalation(id).await? else {
            return Ok(());
        };
        let plan: Plan =
            serde_json::from_str(&record.plan).map_err(|e| EngineError::Corrupt(id, e))?;
        let mut persisted: Persisted =
            serde_json::from_str(&record.state).map_err(|e| EngineError::Corrupt(id, e))?;
        let mut inputs: VecDeque<Input> = inputs.into();
        let mut actions: Vec<(u32, Action, Dialling)> = actions
            .into_iter()
            .map(|(seq, action)| (seq, action, given))
            .collect();
        let mut timeline = Vec::new();
        let mut legs = Vec::new();
        // When leg A answered in this step: dead air lasts until the first command on it.
        let mut answered: Option<std::time::Instant> = None;
        loop {
            if let Some(input) = inputs.pop_front() {
                if matches!(input, Input::Answered { leg: Leg::A, .. }) {
                    answered = Some(std::time::Instant::now());
                }
                timeline.push(timeline::input_line(&input, &persisted.machine));
                // "connect" is offered once there is someone to connect to, which a Merge
                // lookup may find while the phone rings.
                let machine = Machine {
                    slots: &plan.slots,
                    can_connect: plan.connect_to.is_some()
                        || persisted.machine.connect_to.is_some(),
                    rules: &plan.rules,
                };
                let mut jobs = Vec::new();
                for action in machine.handle(&mut persisted.machine, input) {
                    let stage = match &action {
                        Action::Finish(outcome) => Some(Stage::Outcome(*outcome)),
                        Action::CallEnded { .. } => Some(Stage::CallEnded),
                        _ => None,
                    };
                    if let Some(stage) = stage {
                        // What the write-back tells: the calls so far plus this step's.
                        let mut history = match store.get_escalation(id).await {
                            Ok(Some(escalation)) => escalation.timeline.unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        history.extend(timeline.iter().cloned());
                        if stage == Stage::CallEnded {
                            let line = timeline::call_ended_line(conversation_secs(&history));
                            history.push(line.clone());
                            timeline.push(line);
                        }
                        jobs.extend(self.write_back_job(
                            id,
                            &record.event_id,
                            &plan,
                            (&persisted.machine, &history),
                            stage,
                        ));
                    }
                    persisted.commands += 1;
                    actions.push((persisted.commands, action, Dialling::Decided));
                }
                // Persist the decision, and the jobs it implies, before acting on it.
                let created = self
                    .save_with_jobs(id, &persisted, &mut timeline, &mut legs, jobs.clone())
                    .await?;
                self.dispatch_jobs(jobs, &created).await;
            }
            if actions.is_empty() {
                if inputs.is_empty() {
                    break;
                }
                continue;
            }
            let batch = std::mem::take(&mut actions);
            for (_, action, _) in &batch {
                if let Action::Finish(outcome) = action {
                    crate::metrics::metrics()
                        .escalations
                        .inc(&[outcome.as_str()]);
                    self.publish(id, &record.event_id, *outcome).await;
                    timeline.push(timeline::decision_line(*outcome));
                }
            }
            // Dials of one group go out together: a parallel step rings everyone at once.
            let dials = batch
                .iter()
                .filter(|(_, action, _)| matches!(action, Action::DialA { .. }))
                .map(|(seq, action, why)| {
                    self.execute(id, &plan, &persisted.machine, (*seq, *why), action)
                });
            let mut results = futures_util::future::join_all(dials).await;
            for (seq, action, why) in &batch {
                let outcome = match action {
                    Action::DialA { .. } => results.remove(0),
                    Action::Finish(_) | Action::CallEnded { .. } => continue,
                    _ => {
                        self.execute(id, &plan, &persisted.machine, (*seq, *why), action)
                            .await
                    }
                };
                if matches!(
                    action,
                    Action::Speak { leg: Leg::A, .. } | Action::Menu { .. }
                ) && let Some(at) = answered.take()
                {
                    crate::metrics::metrics()
                        .dead_air_seconds
                        .observe(at.elapsed());
                }
                if let Some(line) = outcome.timeline {
                    timeline.push(line);
                }
                if let Some(leg) = outcome.leg {
                    legs.push(leg);
                }
                inputs.extend(outcome.feedback);
            }
            if inputs.is_empty() {
                self.save(id, &persisted, &mut timeline, &mut legs).await?;
                break;
            }
        }
        if matches!(persisted.machine.phase, Phase::Done { .. })
            && !persisted.machine.has_live_legs()
            && let Ok(mut locks) = self.shared.locks.lock()
        {
            // Nothing will drive it again (later inputs are ignored once done): forget its
            // lock so the map does not grow with every escalation ever run. A task already
            // waiting holds its own clone and still gets it.
            locks.remove(&id);
        }
        Ok(())
    }

    async fn save(
        &self,
        id: EscalationId,
        persisted: &Persisted,
        timeline: &mut Vec<TimelineEntry>,
        legs: &mut Vec<NewLeg>,
    ) -> Result<(), EngineError> {
        self.save_with_jobs(id, persisted, timeline, legs, Vec::new())
            .await
            .map(|_| ())
    }

    async fn save_with_jobs(
        &self,
        id: EscalationId,
        persisted: &Persisted,
        timeline: &mut Vec<TimelineEntry>,
        legs: &mut Vec<NewLeg>,
        jobs: Vec<NewDelivery>,
    ) -> Result<Vec<DeliveryId>, EngineError> {
        let outcome = persisted.machine.outcome();
        // Plain data: serializing cannot fail.
        let state = serde_json::to_string(persisted).unwrap_or_default();
        let lease_until = crate::store::lease_until(clock::now_ms());
        Ok(self
            .shared
            .store
            .save_escalation(EscalationUpdate {
                id,
                state,
                status: outcome.map_or("active", Outcome::as_str).to_owned(),
                ended: outcome.is_some(),
                timeline: std::mem::take(timeline),
                new_legs: std::mem::take(legs),
                jobs,
                lease_until,
            })
            .await?)
    }

    /// Hands jobs created with a transition to the delivery worker.
    async fn dispatch_jobs(&self, jobs: Vec<NewDelivery>, created: &[DeliveryId]) {
        let Some(worker) = &self.shared.writebacks else {
            return;
        };
        for job in jobs.into_iter().filter(|j| created.contains(&j.id)) {
            worker.dispatch(DeliveryJob::fresh(job)).await;
        }
    }

    /// For a Merge ticket or deal: the durable job that writes `stage` back to it.
    fn write_back_job(
        &self,
        id: EscalationId,
        event_id: &str,
        plan: &Plan,
        (state, history): (&State, &[TimelineEntry]),
        stage: Stage,
    ) -> Option<NewDelivery> {
        if plan.merge_ticket.is_none() && plan.merge_deal.is_none() {
            return None;
        }
        self.shared.writebacks.as_ref()?;
        let event = event_id.parse().ok()?;
        let taker = state
            .taken()
            .or_else(|| state.calls.iter().max_by_key(|c| c.attempt))
            .map_or(state.attempt, |c| c.attempt);
        let who = plan
            .slots
            .get(taker.saturating_sub(1) as usize)
            .map(|s| s.name.clone().unwrap_or_else(|| s.number.clone()))
            .unwrap_or_else(|| "nobody".into());
        let other = if plan.merge_deal.is_some() {
            "the account executive"
        } else {
            "the customer"
        };
        let (outcome, marker, what) = match stage {
            Stage::Outcome(outcome) => (
                outcome.as_str(),
                writeback::marker(&id.to_string()),
                match outcome {
                    Outcome::Connected => format!("{who} answered and is connected to {other}"),
                    Outcome::Acknowledged => format!("{who} answered and acknowledged"),
                    Outcome::Unreached => {
                        "nobody on the escalation policy could be reached".to_owned()
                    }
                    Outcome::Cancelled => "the escalation was cancelled".to_owned(),
                    Outcome::Failed => "the escalation failed".to_owned(),
                },
            ),
            Stage::CallEnded => (
                writeback::CALL_ENDED,
                writeback::call_ended_marker(&id.to_string()),
                match conversation_secs(history) {
                    Some(secs) => {
                        format!("the call between {who} and {other} ended after {secs} s")
                    }
                    None => format!("the call between {who} and {other} ended"),
                },
            ),
        };
        let briefing = match state.heard {
            Some(Heard::Model) => state.briefing.clone(),
            Some(Heard::Template) => Some(plan.briefing.template_with(state.found.as_ref())),
            None => None,
        };
        let briefing = briefing.map_or_else(String::new, |b| format!(" Briefing heard: {b}"));
        let text = format!(
            "{marker} {what} ({} call(s), {}).{briefing}\nTimeline:\n{}",
            state.attempt,
            clock::now_rfc3339(),
            timeline::summary(history)
        );
        write_back(id, event, plan, outcome, text)
    }

    async fn publish(&self, id: EscalationId, event_id: &str, outcome: Outcome) {
        let Some(intake) = self.shared.outcomes.get() else {
            return;
        };
        let payload = json!({
            "escalation_id": id,
            "event_id": event_id,
            "outcome": outcome,
        });
        let event_type = format!("escalation.{}", outcome.as_str());
        if let Err(error) = intake
            .publish(Source::Klaxon, &event_type, &payload, id.to_string())
            .await
        {
            tracing::error!(%error, escalation = %id, "could not publish the escalation's outcome");
        }
    }

    fn lock_for(&self, id: EscalationId) -> Arc<tokio::sync::Mutex<()>> {
        match self.shared.locks.lock() {
            Ok(mut locks) => locks.entry(id).or_default().clone(),
            // A poisoned map only means another task panicked while inserting; a fresh
            // lock is still correct for this step.
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    async fn execute(
        &self,
        id: EscalationId,
        plan: &Plan,
        state: &State,
        (seq, why): (u32, Dialling),
        action: &Action,
    ) -> Executed {
        let carrier = &self.shared.carrier;
        let escalation = id.to_string();
        match action {
            Action::DialA { attempt, slot } => {
                let command = CommandRef::new(&escalation, *attempt, None, "dial_a", Leg::A);
                let claim = self.claim(id, (*attempt, Leg::A, 1), &command, why);
                if let Err(refused) = claim.await {
                    return refused;
                }
                let amd = match plan.rules.voicemail {
                    Voicemail::HangUp => Detection::Verdict,
                    Voicemail::LeaveMessage => Detection::VerdictAndBeep,
                };
                let dialled = carrier
                    .dial(&command, &slot.number, slot.ring_timeout_secs, None, amd)
                    .await;
                self.dialled(action, &command, &slot.number, dialled, (*attempt, Leg::A))
            }
            Action::DialB {
                attempt,
                connect,
                link_to,
            } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "dial_b", Leg::B);
                let target = plan.connect_to.as_deref().or(state.connect_to.as_deref());
                let Some(to) = target else {
                    return Executed::feedback(Input::DialFailed {
                        attempt: *attempt,
                        leg: Leg::B,
                        reason: "no connect target".into(),
                    });
                };
                let claim = self.claim(id, (*attempt, Leg::B, *connect), &command, why);
                if let Err(refused) = claim.await {
                    return refused;
                }
                let dialled = carrier
                    .dial(&command, to, 30, Some(link_to), Detection::Verdict)
                    .await;
                self.dialled(action, &command, to, dialled, (*attempt, Leg::B))
            }
            Action::Speak {
                attempt,
                leg,
                call,
                tag,
                text,
            } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), tag, *leg);
                let subject = plan.briefing.headline();
                let words = script::Words {
                    role: &plan.rules.role,
                    subject: &subject,
                };
                let words = spoken::speakable(&script::speech(*text, words));
                let result = carrier.speak(&command, call, &words).await;
                self.after_command(action, &command, result, *attempt, *leg)
            }
            Action::Menu {
                attempt,
                call,
                round,
                briefing,
            } => {
                if *round == 1 {
                    // Listen for "connect me" while the menu plays; keypad works regardless.
                    let command =
                        CommandRef::new(&escalation, *attempt, Some(seq), "listen", Leg::A);
                    if let Err(error) = carrier.listen(&command, call).await {
                        tracing::warn!(%error, escalation = %id, "speech recognition could not start; keypad only");
                    }
                }
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "menu", Leg::A);
                let briefing = match (briefing, &state.briefing) {
                    (Heard::Model, Some(text)) => text.clone(),
                    _ => plan.briefing.template_with(state.found.as_ref()),
                };
                let can_connect = plan.connect_to.is_some() || state.connect_to.is_some();
                let words = spoken::speakable(&script::menu(&briefing, can_connect));
                let result = carrier.menu(&command, call, &words).await;
                self.after_command(action, &command, result, *attempt, Leg::A)
            }
            Action::Bridge { attempt, a, b } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "bridge", Leg::A);
                let result = carrier.bridge(&command, a, b).await;
                self.after_command(action, &command, result, *attempt, Leg::A)
            }
            Action::Hangup { attempt, leg, call } => {
                let command = CommandRef::new(&escalation, *attempt, Some(seq), "hangup", *leg);
                let result = match carrier.hangup(&command, call).await {
                    // Already gone is what a hang-up wants.
                    Err(CarrierError::Gone) => Ok(()),
                    other => other,
                };
                Executed {
                    timeline: Some(timeline::action_line(
                        action,
                        &command,
                        result.as_ref().map(|_| ()),
                    )),
                    leg: None,
                    feedback: Vec::new(),
                }
            }
            // Recorded when decided, in `step_held`.
            Action::Finish(_) | Action::CallEnded { .. } => Executed::none(),
        }
    }

    /// What a dial produced: the leg it placed, or the failure fed back to the machine.
    fn dialled(
        &self,
        action: &Action,
        command: &CommandRef,
        to: &str,
        result: Result<String, CarrierError>,
        (attempt, leg): (u32, Leg),
    ) -> Executed {
        match result {
            Ok(call_control_id) => Executed {
                timeline: Some(timeline::dial_line(action, command, to, Ok(()))),
                leg: Some(new_leg(command, attempt, &call_control_id)),
                feedback: vec![Input::Dialed {
                    attempt,
                    leg,
                    call_control_id,
                }],
            },
            Err(error) => Executed {
                timeline: Some(timeline::dial_line(action, command, to, Err(&error))),
                leg: None,
                feedback: vec![Input::DialFailed {
                    attempt,
                    leg,
                    reason: error.to_string(),
                }],
            },
        }
    }

    /// Claims a dial in the store before it is sent; `Err` carries what to record instead
    /// when it must not be sent. A recovery that finds the claimed dial's leg recorded picks
    /// that leg up rather than ringing again (the state that forgot it was overwritten).
    async fn claim(
        &self,
        id: EscalationId,
        (attempt, leg, n): (u32, Leg, u32),
        command: &CommandRef,
        why: Dialling,
    ) -> Result<(), Executed> {
        let dial = NewDial {
            escalation: id,
            attempt,
            leg: timeline::leg_name(leg),
            n,
            command_id: command.command_id.clone(),
            why,
        };
        let note = |event: &str, detail: serde_json::Value| {
            timeline::dial_note(event, leg, attempt, command, detail)
        };
        let refused = match self.shared.store.claim_dial(dial).await {
            Ok(DialClaim::Claimed | DialClaim::Resend) => return Ok(()),
            Ok(DialClaim::Refused(claim)) => claim,
            Err(error) => {
                // Unclaimed, the dial may not go out. Leg A's state still says it is due, so
                // a resume (start-up, take-over, or the quiet check) claims and sends it;
                // leg B fails now, so the person on the line hears so and may try again.
                tracing::error!(%error, escalation = %id, attempt, ?leg, "could not claim a dial; not sent");
                let reason = format!("the dial could not be claimed: {error}");
                let line = note("dial not sent", json!({ "error": reason }));
                return Err(Executed {
                    timeline: Some(line),
                    leg: None,
                    feedback: match leg {
                        Leg::A => Vec::new(),
                        Leg::B => vec![Input::DialFailed {
                            attempt,
                            leg,
                            reason,
                        }],
                    },
                });
            }
        };
        tracing::warn!(escalation = %id, attempt, ?leg, claimed_by = %refused.node, "dial already claimed; not sent again");
        let line = note(
            "dial already claimed; not sent again",
            json!({ "claimed_by": refused.node, "claimed_as": refused.command_id }),
        );
        let feedback = match refused.placed {
            Some(call_control_id) if why == Dialling::Recovered => vec![Input::Dialed {
                attempt,
                leg,
                call_control_id,
            }],
            _ => Vec::new(),
        };
        Err(Executed {
            timeline: Some(line),
            leg: None,
            feedback,
        })
    }

    /// Records a command's result; a leg that is gone feeds a hang-up, since its webhook
    /// may be late or lost.
    fn after_command(
        &self,
        action: &Action,
        command: &CommandRef,
        result: Result<(), CarrierError>,
        attempt: u32,
        leg: Leg,
    ) -> Executed {
        let gone = matches!(result, Err(CarrierError::Gone));
        Executed {
            timeline: Some(timeline::action_line(
                action,
                command,
                result.as_ref().map(|_| ()),
            )),
            leg: None,
            feedback: if gone {
                vec![Input::HungUp {
                    attempt,
                    leg,
                    cause: "call already ended".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }
}

/// Whether a step first repairs what an interrupted step may have left half done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recover {
    /// Only when the hold was taken from a node that died mid-step.
    IfTakenOver,
    /// Always (a resume).
    Always,
}

/// What executing an action produced.
struct Executed {
    timeline: Option<TimelineEntry>,
    leg: Option<NewLeg>,
    feedback: Vec<Input>,
}

impl Executed {
    fn none() -> Executed {
        Executed {
            timeline: None,
            leg: None,
            feedback: Vec::new(),
        }
    }

    fn feedback(input: Input) -> Executed {
        Executed {
            timeline: None,
            leg: None,
            feedback: vec![input],
        }
    }
}

/// Which write-back a transition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The outcome is decided (for a connection: the bridge is made).
    Outcome(Outcome),
    /// The bridged conversation ended.
    CallEnded,
}

/// The job that writes `text` to the plan's ticket or deal, if it has one.
fn write_back(
    id: EscalationId,
    event: crate::store::EventId,
    plan: &Plan,
    outcome: &str,
    text: String,
) -> Option<NewDelivery> {
    let job = match (&plan.merge_ticket, &plan.merge_deal) {
        (Some(ticket), _) => writeback::Job::Ticket(TicketWriteback {
            linked_account_id: ticket.linked_account_id.clone(),
            ticket_id: ticket.ticket_id.clone(),
            escalation_id: id.to_string(),
            outcome: outcome.to_owned(),
            comment: text,
        }),
        (None, Some(deal)) => writeback::Job::Note(DealNote {
            linked_account_id: deal.linked_account_id.clone(),
            opportunity_id: deal.opportunity_id.clone(),
            account_id: deal.account_id.clone(),
            integration: deal.integration.clone(),
            escalation_id: id.to_string(),
            outcome: outcome.to_owned(),
            content: text,
        }),
        (None, None) => return None,
    };
    Some(NewDelivery {
        id: DeliveryId::new(),
        event_id: event,
        pipeline: "escalation".into(),
        destination: job.destination().into(),
        target: crate::destinations::merge_writeback::target_of(&job),
        body: job.body(),
    })
}

/// Seconds from the bridge to the conversation's end, from the timeline.
fn conversation_secs(history: &[TimelineEntry]) -> Option<u64> {
    let bridged = history.iter().find(|e| e.detail["event"] == "bridged")?;
    let start = clock::rfc3339_to_ms(&bridged.at)?;
    let secs = (clock::now_ms() - start).max(0) / 1000;
    u64::try_from(secs).ok()
}

/// The leg a dial placed, tied to the command (and so the claim) that placed it.
fn new_leg(command: &CommandRef, attempt: u32, call_control_id: &str) -> NewLeg {
    NewLeg {
        call_control_id: call_control_id.to_owned(),
        attempt,
        leg: timeline::leg_name(command.leg),
        command_id: command.command_id.clone(),
    }
}
