//! The I/O around the inbound call machine: route a webhook to its call, step the call under
//! its lock (load, apply, persist with what the transition creates, then send the commands),
//! and hear from the escalation a caller started.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::machine::{self, Action, Input, State};
use super::{Inbound, words};
use crate::clock;
use crate::store::{
    EscalationId, EventId, InboundId, InboundRecord, InboundUpdate, NewEscalation, NewEvent,
    NewInboundCall, PendingEvent, Source, StoreError,
};
use crate::voice::carrier::{CarrierError, CommandRef};
use crate::voice::engine::{EngineHandle, Persisted};
use crate::voice::escalation::machine::{
    CallRules, Input as EscalationInput, Leg, Outcome, Phase as EscalationPhase,
    State as EscalationState,
};
use crate::voice::escalation::plan::{BriefingContext, Plan, slots};
use crate::voice::settings::DEFAULT_ROLE;
use crate::voice::telnyx::events::{
    CallEvent, CallEventKind, Direction, GatherStatus, SpeakStatus,
};

/// How long a message may last, in seconds.
const MESSAGE_MAX_SECS: u32 = 120;
/// Silence after speech that ends a message, in seconds.
const MESSAGE_SILENCE_SECS: u32 = 5;
/// What the escalation of a caller records as its pipeline and destination.
const PIPELINE: &str = "inbound";
const DESTINATION: &str = "inbound-call";

/// What the person rung hears about a caller before the menu.
const BRIEFING_PROMPT: &str = "You tell an on-call engineer on the phone, in one short sentence, that a caller is waiting on the line for them. Never read out numbers. No greeting, no markdown.";

#[derive(Debug, thiserror::Error)]
enum InboundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("inbound call {0} has an unreadable stored state: {1}")]
    Corrupt(InboundId, serde_json::Error),
}

impl Inbound {
    /// Acts on a call event if it is about a caller's leg (true), else leaves it to the
    /// escalations (false).
    pub async fn on_call_event(&self, engine: &EngineHandle, event: &CallEvent) -> bool {
        let id = match self.owner(engine, event).await {
            Ok(Some(id)) => id,
            Ok(None) => return false,
            Err(error) => {
                tracing::warn!(%error, event = %event.id, "could not look up an inbound call");
                return false;
            }
        };
        if let Some(input) = input(&event.kind)
            && let Err(error) = self.drive(engine, id, input).await
        {
            tracing::error!(%error, call = %id, "inbound call step failed");
        }
        true
    }

    /// The call the event belongs to; a new call is recorded here.
    async fn owner(
        &self,
        engine: &EngineHandle,
        event: &CallEvent,
    ) -> Result<Option<InboundId>, StoreError> {
        let store = engine.store();
        if let Some(state) = &event.client_state
            && let Ok(id) = state.escalation().parse::<InboundId>()
        {
            return Ok(Some(id));
        }
        let Some(call) = &event.call_control_id else {
            return Ok(None);
        };
        if let Some(record) = store.inbound_call_by_leg(call.to_string()).await? {
            return Ok(Some(record.id));
        }
        let CallEventKind::Initiated {
            direction: Some(Direction::Incoming),
            from,
            to,
        } = &event.kind
        else {
            return Ok(None);
        };
        let state = serde_json::to_string(&State::new()).unwrap_or_default();
        let new = NewInboundCall {
            id: InboundId::new(),
            call_control_id: call.to_string(),
            caller: from.clone().unwrap_or_default(),
            called: to.clone().unwrap_or_default(),
            state,
        };
        store.inbound_call_arrived(new).await?;
        // The row by its leg: ours, or the one a racing delivery of the same event made.
        Ok(store
            .inbound_call_by_leg(call.to_string())
            .await?
            .map(|record| record.id))
    }

    /// Tells the call of a caller how the escalation they started ended.
    pub(crate) async fn escalation_ended(
        &self,
        engine: &EngineHandle,
        escalation: EscalationId,
        outcome: Outcome,
    ) {
        let found = engine.store().inbound_call_of(escalation).await;
        let Ok(Some(record)) = found else {
            return;
        };
        if let Err(error) = self
            .drive(engine, record.id, Input::EscalationEnded(outcome))
            .await
        {
            tracing::error!(%error, call = %record.id, "inbound call step failed");
        }
    }

    /// After a restart: callers still waiting on an escalation that ended meanwhile hear so.
    pub async fn resume(&self, engine: &EngineHandle) {
        let waiting = match engine.store().waiting_inbound_calls().await {
            Ok(waiting) => waiting,
            Err(error) => {
                tracing::warn!(%error, "could not list waiting inbound calls");
                return;
            }
        };
        for id in waiting {
            let Ok(Some(record)) = engine.store().inbound_call(id).await else {
                continue;
            };
            let Some(escalation) = record.escalation else {
                continue;
            };
            let Ok(Some(stored)) = engine.store().load_escalation(escalation).await else {
                continue;
            };
            if let Some(outcome) = serde_json::from_str::<Persisted>(&stored.state)
                .ok()
                .and_then(|p| p.machine.outcome())
            {
                self.escalation_ended(engine, escalation, outcome).await;
            }
        }
    }

    fn lock_for(&self, id: InboundId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(id).or_default())
    }

    /// Applies `first` and what it leads to: each transition persisted with what it creates
    /// before its commands are sent; command failures feed back.
    async fn drive(
        &self,
        engine: &EngineHandle,
        id: InboundId,
        first: Input,
    ) -> Result<(), InboundError> {
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        let store = engine.store();
        let Some(record) = store.inbound_call(id).await? else {
            return Ok(());
        };
        let mut state: State =
            serde_json::from_str(&record.state).map_err(|e| InboundError::Corrupt(id, e))?;
        let mut escalation = record.escalation;
        let mut inputs = VecDeque::from([first]);
        while let Some(input) = inputs.pop_front() {
            let before = state.clone();
            let actions: Vec<(u32, Action)> = machine::handle(&mut state, input)
                .into_iter()
                .map(|action| {
                    state.commands += 1;
                    (state.commands, action)
                })
                .collect();
            if actions.is_empty() && state == before {
                continue;
            }
            let mut update = InboundUpdate {
                id,
                state: serde_json::to_string(&state).unwrap_or_default(),
                status: state.status().to_owned(),
                ended: state.phase == machine::Phase::Ended,
                events: Vec::new(),
                escalation: None,
            };
            let mut no_policy = false;
            for (_, action) in &actions {
                match action {
                    Action::StartEscalation => match self.new_escalation(engine, &record) {
                        Some((event, new)) => {
                            update.events.push(event);
                            update.escalation = Some(new);
                        }
                        None => no_policy = true,
                    },
                    Action::RecordMessage => {
                        update
                            .events
                            .push(message_event(engine, &record, &state, escalation));
                    }
                    _ => {}
                }
            }
            let events = update.events.clone();
            let saved = store.save_inbound_call(update).await?;
            hand_on(engine, events, &saved.events);
            if saved.escalation.is_some() {
                escalation = saved.escalation;
            }
            if no_policy {
                tracing::warn!(call = %id, policy = %self.policy_name, "a caller pressed 1, but the inbound policy is not configured");
                inputs.push_back(Input::EscalationEnded(Outcome::Failed));
            }
            for (seq, action) in actions {
                let at = At {
                    record: &record,
                    seq,
                    escalation,
                };
                inputs.extend(self.act(engine, &at, action).await);
            }
        }
        if state.phase == machine::Phase::Ended && state.message_recorded {
            self.forget(id);
        }
        Ok(())
    }

    fn forget(&self, id: InboundId) {
        if let Ok(mut locks) = self.locks.lock() {
            locks.remove(&id);
        }
    }

    /// Runs one action; what it produced comes back as inputs.
    async fn act(&self, engine: &EngineHandle, at: &At<'_>, action: Action) -> Option<Input> {
        let carrier = engine.carrier();
        let call = at.record.call_control_id.as_str();
        let role = self.role();
        let result = match action {
            Action::Answer => carrier.answer(&at.command("answer"), call).await,
            Action::Greet => {
                let text = words::greeting(role);
                carrier.ask(&at.command("greet"), call, &text, "12").await
            }
            Action::Say(say) => {
                let text = words::say(say, role);
                carrier.speak(&at.command("say"), call, &text).await
            }
            Action::Record => {
                carrier
                    .record_message(
                        &at.command("record"),
                        call,
                        MESSAGE_MAX_SECS,
                        MESSAGE_SILENCE_SECS,
                    )
                    .await
            }
            Action::Hangup => match carrier.hangup(&at.command("hangup"), call).await {
                Err(CarrierError::Gone) => Ok(()),
                other => other,
            },
            Action::StartEscalation => {
                if let Some(escalation) = at.escalation {
                    engine.start(escalation);
                }
                Ok(())
            }
            Action::CancelEscalation => {
                if let Some(escalation) = at.escalation
                    && let Err(error) = engine.cancel(escalation).await
                {
                    tracing::warn!(%error, %escalation, "could not cancel a caller's escalation");
                }
                Ok(())
            }
            Action::EndConversation => {
                if let Some(escalation) = at.escalation {
                    end_conversation(engine, escalation).await;
                }
                Ok(())
            }
            // Stored with the transition.
            Action::RecordMessage => Ok(()),
        };
        match result {
            Ok(()) => None,
            // The webhook may be late or lost: the leg is gone either way.
            Err(CarrierError::Gone) => Some(Input::HungUp),
            Err(error) => {
                tracing::warn!(%error, call = %at.record.id, "a command on a caller's leg failed");
                None
            }
        }
    }

    fn role(&self) -> &str {
        self.policy
            .as_ref()
            .map_or(DEFAULT_ROLE, |p| p.role.as_str())
    }

    /// The `call.inbound` event and the escalation whose "connect" bridges the caller.
    fn new_escalation(
        &self,
        engine: &EngineHandle,
        record: &InboundRecord,
    ) -> Option<(NewEvent, NewEscalation)> {
        let policy = self.policy.as_ref()?;
        let payload = json!({
            "inbound_call_id": record.id.to_string(),
            "caller": record.caller,
            "policy": self.policy_name,
        });
        let event = klaxon_event(engine, "call.inbound", &record.id, &payload);
        let plan = Plan {
            slots: slots(policy),
            connect_to: None,
            briefing: BriefingContext {
                event_type: "call.inbound".to_owned(),
                prompt: BRIEFING_PROMPT.to_owned(),
                title: Some("a caller is waiting on the line".to_owned()),
                customer: None,
                facts: Vec::new(),
            },
            merge_ticket: None,
            merge_deal: None,
            rules: CallRules {
                role: policy.role.clone(),
                voicemail: policy.voicemail,
                max_menu_rounds: policy.max_menu_rounds,
            },
        };
        let state = EscalationState {
            caller: Some(record.call_control_id.clone()),
            ..EscalationState::new()
        };
        let escalation = NewEscalation {
            id: EscalationId::new(),
            event_id: event.id,
            pipeline: PIPELINE.to_owned(),
            destination: DESTINATION.to_owned(),
            policy: self.policy_name.clone(),
            // Plain data: serializing cannot fail.
            plan: serde_json::to_string(&plan).unwrap_or_default(),
            state: serde_json::to_string(&state).unwrap_or_default(),
        };
        Some((event, escalation))
    }
}

impl EngineHandle {
    /// The escalation `id`, started by a caller, has its outcome: the caller's call hears of
    /// it (in its own task: the escalation's step holds its own lock, not the call's).
    pub(crate) fn tell_caller(&self, id: EscalationId, outcome: Outcome) {
        let Some(inbound) = self.inbound().cloned() else {
            return;
        };
        let engine = self.clone();
        tokio::spawn(async move { inbound.escalation_ended(&engine, id, outcome).await });
    }
}

/// What an action runs with.
struct At<'a> {
    record: &'a InboundRecord,
    seq: u32,
    escalation: Option<EscalationId>,
}

impl At<'_> {
    /// `{call}:0:{seq}:{tag}`, with the call's id as `client_state` (routes
    /// `call.recording.saved`, which has no `call_control_id`).
    fn command(&self, tag: &str) -> CommandRef {
        CommandRef::new(&self.record.id.to_string(), 0, Some(self.seq), tag, Leg::A)
    }
}

/// The machine's input for an event on a caller's leg.
fn input(kind: &CallEventKind) -> Option<Input> {
    Some(match kind {
        CallEventKind::Initiated { .. } => Input::Arrived,
        CallEventKind::Answered => Input::Answered,
        CallEventKind::GatherEnded { status, .. } if *status == GatherStatus::CallHangup => {
            return None;
        }
        CallEventKind::GatherEnded { digits, .. } => Input::Pressed(digits.clone()),
        CallEventKind::SpeakEnded { status } if *status != SpeakStatus::CallHangup => {
            Input::SpeechEnded
        }
        CallEventKind::Bridged => Input::Bridged,
        CallEventKind::Hangup { .. } => Input::HungUp,
        CallEventKind::RecordingSaved { url } => Input::RecordingSaved { url: url.clone() },
        CallEventKind::RecordingTranscribed { text } => Input::Transcribed(text.clone()),
        _ => return None,
    })
}

/// The caller left a conversation: the escalation's side of it is ended as if its leg B had
/// hung up (the carrier may have ended it already; a hang-up of a gone leg is a success).
async fn end_conversation(engine: &EngineHandle, escalation: EscalationId) {
    let Ok(Some(record)) = engine.store().load_escalation(escalation).await else {
        return;
    };
    let Ok(persisted) = serde_json::from_str::<Persisted>(&record.state) else {
        return;
    };
    let machine = &persisted.machine;
    if machine.phase != EscalationPhase::Bridged {
        return;
    }
    if let Some(taken) = machine.taken() {
        let input = EscalationInput::HungUp {
            attempt: taken.attempt,
            leg: Leg::B,
            cause: "the caller hung up".into(),
        };
        engine.feed(escalation, input).await;
    }
}

/// The `call.message` event: the transcript, who called, the recording, and why.
fn message_event(
    engine: &EngineHandle,
    record: &InboundRecord,
    state: &State,
    escalation: Option<EscalationId>,
) -> NewEvent {
    let payload = json!({
        "inbound_call_id": record.id.to_string(),
        "caller": record.caller,
        "transcript": state.transcript,
        "recording_url": state.recording_url,
        "reason": state.reason.map(|r| r.as_str()),
        "escalation_id": escalation.map(|e| e.to_string()),
        "escalation_outcome": state.outcome.map(Outcome::as_str),
    });
    klaxon_event(engine, "call.message", &record.id, &payload)
}

/// An event Klaxon emits about call `id`: one per type and call, idempotent by its key.
fn klaxon_event(
    engine: &EngineHandle,
    event_type: &str,
    id: &InboundId,
    payload: &serde_json::Value,
) -> NewEvent {
    let payload = payload.to_string();
    let now = clock::now_rfc3339();
    NewEvent {
        id: EventId::new(),
        source: Source::Klaxon,
        event_type: event_type.to_owned(),
        request_hash: hex::encode(Sha256::digest(payload.as_bytes())),
        payload,
        occurred_at: now.clone(),
        received_at: now,
        idempotency_key: Some(format!("{event_type}:{id}")),
        pipeline_pending: engine.intake().is_some_and(|i| i.wants(event_type)),
    }
}

/// Hands the pending events a transition created to the pipelines, once committed.
fn hand_on(engine: &EngineHandle, events: Vec<NewEvent>, created: &[EventId]) {
    let Some(intake) = engine.intake() else {
        return;
    };
    for event in events {
        if event.pipeline_pending && created.contains(&event.id) {
            intake.hand_on(PendingEvent {
                id: event.id,
                event_type: event.event_type,
                payload: event.payload,
                occurred_at: event.occurred_at,
                from_klaxon: true,
            });
        }
    }
}
