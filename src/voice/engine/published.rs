//! What a transition tells the world: the events of [`crate::voice::escalation::event`],
//! built from the plan, the state and the calls' timeline, stored in the same transaction as
//! the transition, and handed on to the pipelines through the intake once committed. What becomes of them
//! (a webhook, the Merge write-back) is the pipelines' business, not the engine's.

use sha2::{Digest, Sha256};

use super::EngineHandle;
use crate::clock;
use crate::store::{EscalationId, EventId, NewEvent, PendingEvent, Source, TimelineEntry};
use crate::voice::escalation::event::{self, EscalationEvent};
use crate::voice::escalation::machine::{Action, Heard, Outcome, State};
use crate::voice::escalation::plan::Plan;
use crate::voice::timeline;

/// Which event a transition records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The outcome is decided (for a connection: the bridge is made).
    Outcome(Outcome),
    /// The bridged conversation ended.
    CallEnded,
}

impl Stage {
    /// The stage an action reports, if it reports one.
    pub(super) fn of(action: &Action) -> Option<Stage> {
        match action {
            Action::Finish(outcome) => Some(Stage::Outcome(*outcome)),
            Action::CallEnded { .. } => Some(Stage::CallEnded),
            _ => None,
        }
    }

    fn event_type(self) -> String {
        match self {
            Stage::Outcome(outcome) => event::outcome_type(outcome),
            Stage::CallEnded => event::CALL_ENDED.to_owned(),
        }
    }
}

/// What `stage` says about the escalation: `history` is its timeline so far, this step's
/// lines included.
pub(super) fn report(
    (id, event_id): (EscalationId, &str),
    plan: &Plan,
    state: &State,
    history: &[TimelineEntry],
    stage: Stage,
) -> EscalationEvent {
    // Who took it, else the last one rung (attempts are 1-based; 0: nobody was rung).
    let attempt = state
        .taken()
        .or_else(|| state.calls.iter().max_by_key(|c| c.attempt))
        .map_or(state.attempt, |c| c.attempt);
    let person = attempt
        .checked_sub(1)
        .and_then(|i| plan.slots.get(i as usize))
        .map(|s| s.name.clone().unwrap_or_else(|| s.number.clone()));
    let briefing = match state.heard {
        Some(Heard::Model) => state.briefing.clone(),
        Some(Heard::Template) => Some(plan.briefing.template_with(state.found.as_ref())),
        None => None,
    };
    let outcome = match stage {
        Stage::Outcome(outcome) => outcome,
        // Only a connected call has a conversation that ends.
        Stage::CallEnded => state.outcome().unwrap_or(Outcome::Connected),
    };
    EscalationEvent {
        escalation_id: id.to_string(),
        event_id: event_id.to_owned(),
        outcome,
        merge_ticket: plan.merge_ticket.clone(),
        merge_deal: plan.merge_deal.clone(),
        person,
        calls: state.attempt,
        briefing,
        timeline: timeline::summary(history),
        conversation_secs: match stage {
            Stage::CallEnded => conversation_secs(history),
            Stage::Outcome(_) => None,
        },
    }
}

/// The event row of `report`, keyed so that a replayed step stores nothing new; `pending`
/// when some pipeline takes its type.
pub(super) fn new_event(report: &EscalationEvent, stage: Stage, pending: bool) -> NewEvent {
    let event_type = stage.event_type();
    // Plain data: serializing cannot fail.
    let payload = serde_json::to_string(report).unwrap_or_default();
    let now = clock::now_rfc3339();
    NewEvent {
        id: EventId::new(),
        source: Source::Klaxon,
        idempotency_key: Some(event::key(&report.escalation_id, &event_type)),
        event_type,
        request_hash: hex::encode(Sha256::digest(payload.as_bytes())),
        payload,
        occurred_at: now.clone(),
        received_at: now,
        pipeline_pending: pending,
    }
}

/// Seconds from the bridge to the conversation's end (now), from the timeline.
pub(super) fn conversation_secs(history: &[TimelineEntry]) -> Option<u64> {
    let bridged = history.iter().find(|e| e.detail["event"] == "bridged")?;
    let start = clock::rfc3339_to_ms(&bridged.at)?;
    let secs = (clock::now_ms() - start).max(0) / 1000;
    u64::try_from(secs).ok()
}

impl EngineHandle {
    /// The event recording `stage`, pending when some pipeline takes it.
    pub(super) fn record(&self, report: &EscalationEvent, stage: Stage) -> NewEvent {
        let pending = self
            .shared
            .intake
            .as_ref()
            .is_some_and(|intake| intake.wants(&stage.event_type()));
        new_event(report, stage, pending)
    }

    /// Hands the pending events a transition created on to the pipelines, once committed.
    /// An event not handed on (a crash first) is found pending by the runner's next scan.
    pub(super) fn hand_on(&self, events: Vec<NewEvent>, created: &[EventId]) {
        let Some(intake) = &self.shared.intake else {
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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::voice::escalation::machine::{Call, CallStatus, Phase, Slot};

    fn slot(number: &str, name: Option<&str>) -> Slot {
        Slot {
            number: number.into(),
            name: name.map(str::to_owned),
            ring_timeout_secs: 30,
            group: None,
            sms: None,
            schedule: None,
        }
    }

    /// A Merge ticket escalation ringing Ana, then a number without a name.
    fn plan() -> Plan {
        Plan::for_merge_ticket(vec![
            slot("+15551000001", Some("Ana")),
            slot("+15551000002", None),
        ])
    }

    fn call(attempt: u32, status: CallStatus) -> Call {
        Call {
            attempt,
            call: Some(format!("v3:leg-{attempt}")),
            status,
            speaking: 0,
        }
    }

    fn line(at: &str, event: &str) -> TimelineEntry {
        TimelineEntry {
            at: at.into(),
            kind: "webhook".into(),
            detail: json!({ "event": event, "leg": "A" }),
        }
    }

    const ID: &str = "esc_0190c3a27d1e70008000000000000001";

    fn id() -> EscalationId {
        ID.parse().expect("an escalation id")
    }

    #[test]
    fn the_person_is_who_took_it_else_the_last_one_rung() {
        let mut state = State {
            attempt: 2,
            calls: vec![call(1, CallStatus::Taken), call(2, CallStatus::Ringing)],
            ..State::new()
        };
        let stage = Stage::Outcome(Outcome::Acknowledged);
        let person = |state: &State| report((id(), "e"), &plan(), state, &[], stage).person;
        assert_eq!(person(&state).as_deref(), Some("Ana"));
        state.calls = vec![call(1, CallStatus::Ringing), call(2, CallStatus::Ringing)];
        assert_eq!(
            person(&state).as_deref(),
            Some("+15551000002"),
            "no name: the number"
        );
        state.calls.clear();
        state.attempt = 0;
        assert_eq!(person(&state), None, "nobody was rung");
    }

    #[test]
    fn the_briefing_is_told_only_when_heard_and_as_heard() {
        let mut state = State {
            attempt: 1,
            briefing: Some("Checkout is down for Acme.".into()),
            ..State::new()
        };
        let briefing = |state: &State| {
            report(
                (id(), "e"),
                &plan(),
                state,
                &[],
                Stage::Outcome(Outcome::Acknowledged),
            )
            .briefing
        };
        assert_eq!(briefing(&state), None, "not played");
        state.heard = Some(Heard::Model);
        assert_eq!(
            briefing(&state).as_deref(),
            Some("Checkout is down for Acme.")
        );
        state.heard = Some(Heard::Template);
        let template = plan().briefing.template_with(None);
        assert_eq!(briefing(&state), Some(template));
    }

    #[test]
    fn the_end_of_a_call_reports_the_connection_and_how_long_it_lasted() {
        let state = State {
            attempt: 1,
            phase: Phase::Bridged,
            calls: vec![call(1, CallStatus::Taken)],
            ..State::new()
        };
        let bridged = clock::ms_to_rfc3339(clock::now_ms() - 42_000);
        let history = [
            line("2026-05-29T16:26:30Z", "rang"),
            line(&bridged, "bridged"),
        ];
        let ended = report((id(), "e"), &plan(), &state, &history, Stage::CallEnded);
        assert_eq!(ended.outcome, Outcome::Connected);
        assert!(
            ended
                .conversation_secs
                .is_some_and(|s| (42..45).contains(&s)),
            "{ended:?}"
        );
        assert!(
            ended.timeline.contains("rang (leg A)"),
            "{}",
            ended.timeline
        );
        assert_eq!(ended.merge_ticket, plan().merge_ticket);
        let decided = report(
            (id(), "e"),
            &plan(),
            &state,
            &history,
            Stage::Outcome(Outcome::Connected),
        );
        assert_eq!(decided.conversation_secs, None);
    }

    #[test]
    fn there_is_no_conversation_without_a_bridge() {
        assert_eq!(
            conversation_secs(&[line("2026-05-29T16:26:30Z", "rang")]),
            None
        );
    }

    #[test]
    fn each_event_is_keyed_by_its_escalation_and_stage() {
        let state = State {
            attempt: 1,
            ..State::new()
        };
        let event = |stage, pending| {
            new_event(
                &report((id(), "e"), &plan(), &state, &[], stage),
                stage,
                pending,
            )
        };
        let outcome = event(Stage::Outcome(Outcome::Unreached), true);
        assert_eq!(outcome.event_type, "escalation.unreached");
        assert_eq!(outcome.idempotency_key.as_deref(), Some(ID));
        assert_eq!(outcome.source, Source::Klaxon);
        assert!(outcome.pipeline_pending);
        let ended = event(Stage::CallEnded, false);
        assert_eq!(ended.event_type, "escalation.call_ended");
        assert_eq!(ended.idempotency_key, Some(format!("{ID}:call_ended")));
        assert!(!ended.pipeline_pending);
        let payload: EscalationEvent =
            serde_json::from_str(&outcome.payload).expect("the payload is an escalation event");
        assert_eq!(payload.escalation_id, ID);
    }

    #[test]
    fn only_finishing_and_a_call_ending_are_reported() {
        assert_eq!(
            Stage::of(&Action::Finish(Outcome::Failed)),
            Some(Stage::Outcome(Outcome::Failed))
        );
        let hangup = Action::Hangup {
            attempt: 1,
            leg: crate::voice::escalation::machine::Leg::A,
            call: "v3:leg-1".into(),
        };
        assert_eq!(Stage::of(&hangup), None);
    }
}
