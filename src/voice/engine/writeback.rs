//! The text of the Merge write-back of an escalation: what it says on the ticket or deal
//! when the outcome is decided, and when a connected call ends.

use super::EngineHandle;
use crate::clock;
use crate::merge::writeback::{self, DealNote, TicketWriteback};
use crate::store::{DeliveryId, EscalationId, NewDelivery, TimelineEntry};
use crate::voice::escalation::machine::{Heard, Outcome, State};
use crate::voice::escalation::plan::Plan;
use crate::voice::timeline;

impl EngineHandle {
    /// For a Merge ticket or deal: the durable job that writes `stage` back to it.
    pub(super) fn write_back_job(
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
}

/// Which write-back a transition asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
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
        target: job.target(),
        body: job.body(),
    })
}

/// Seconds from the bridge to the conversation's end, from the timeline.
pub(super) fn conversation_secs(history: &[TimelineEntry]) -> Option<u64> {
    let bridged = history.iter().find(|e| e.detail["event"] == "bridged")?;
    let start = clock::rfc3339_to_ms(&bridged.at)?;
    let secs = (clock::now_ms() - start).max(0) / 1000;
    u64::try_from(secs).ok()
}
