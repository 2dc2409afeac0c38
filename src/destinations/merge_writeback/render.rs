//! The write-back job of an escalation event, rendered from its payload alone. The payload
//! is read as any consumer of escalation events reads it (by its JSON fields, the engine's
//! `voice::escalation::event::EscalationEvent`), so this seam knows nothing of the engine.

use serde::Deserialize;
use serde_json::Value;

use super::Object;
use crate::merge::writeback::{self, DealNote, Job, TicketWriteback};

/// The type of the event recorded when a connected call ends.
pub const CALL_ENDED_EVENT: &str = "escalation.call_ended";

/// What the write-back reads of an escalation event's payload.
#[derive(Debug, Deserialize)]
struct Reported {
    escalation_id: String,
    /// `connected`, `acknowledged`, `unreached`, `cancelled`, `failed`.
    outcome: String,
    #[serde(default)]
    merge_ticket: Option<TicketRef>,
    #[serde(default)]
    merge_deal: Option<DealRef>,
    /// Who took it, else the last one rung.
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    calls: u32,
    /// The briefing heard, if it was played.
    #[serde(default)]
    briefing: Option<String>,
    #[serde(default)]
    timeline: String,
    #[serde(default)]
    conversation_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct TicketRef {
    linked_account_id: String,
    ticket_id: String,
}

#[derive(Debug, Deserialize)]
struct DealRef {
    linked_account_id: String,
    opportunity_id: String,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    integration: Option<String>,
}

/// The stored body of the write-back of an escalation event (`escalation.<outcome>` or
/// `escalation.call_ended`) to `object`. A payload that is no escalation's, or has no such
/// object, renders nothing sendable: the attempt records why, as a dead delivery.
pub fn render(object: Object, event_type: &str, occurred_at: &str, payload: &Value) -> String {
    match job(object, event_type, occurred_at, payload) {
        Some(job) => job.body(),
        None => {
            tracing::error!(
                event_type,
                ?object,
                "an event without an escalation's write-back was routed to Merge write-back"
            );
            String::new()
        }
    }
}

/// The write-back job of an escalation event, if its payload names a ticket or deal of
/// the kind `object`.
pub fn job(object: Object, event_type: &str, at: &str, payload: &Value) -> Option<Job> {
    let report = Reported::deserialize(payload).ok()?;
    let call_ended = event_type == CALL_ENDED_EVENT;
    let outcome = if call_ended {
        writeback::CALL_ENDED.to_owned()
    } else {
        report.outcome.clone()
    };
    let text = text(&report, call_ended, at);
    Some(match object {
        Object::Ticket => {
            let ticket = report.merge_ticket?;
            Job::Ticket(TicketWriteback {
                linked_account_id: ticket.linked_account_id,
                ticket_id: ticket.ticket_id,
                escalation_id: report.escalation_id,
                outcome,
                comment: text,
            })
        }
        Object::Deal => {
            let deal = report.merge_deal?;
            Job::Note(DealNote {
                linked_account_id: deal.linked_account_id,
                opportunity_id: deal.opportunity_id,
                account_id: deal.account_id,
                integration: deal.integration,
                escalation_id: report.escalation_id,
                outcome,
                content: text,
            })
        }
    })
}

/// What the ticket or deal is told: "{marker} {what happened} ({n} call(s), {at}).
/// Briefing heard: …\nTimeline:\n…".
fn text(report: &Reported, call_ended: bool, at: &str) -> String {
    let who = report.person.as_deref().unwrap_or("nobody");
    let other = if report.merge_deal.is_some() {
        "the account executive"
    } else {
        "the customer"
    };
    let id = &report.escalation_id;
    let (marker, what) = if call_ended {
        let what = match report.conversation_secs {
            Some(secs) => format!("the call between {who} and {other} ended after {secs} s"),
            None => format!("the call between {who} and {other} ended"),
        };
        (writeback::call_ended_marker(id), what)
    } else {
        let what = match report.outcome.as_str() {
            "connected" => format!("{who} answered and is connected to {other}"),
            "acknowledged" => format!("{who} answered and acknowledged"),
            "unreached" => "nobody on the escalation policy could be reached".to_owned(),
            "cancelled" => "the escalation was cancelled".to_owned(),
            "resolved" => "the alert resolved at its source".to_owned(),
            _ => "the escalation failed".to_owned(),
        };
        (writeback::marker(id), what)
    };
    let briefing = report
        .briefing
        .as_ref()
        .map_or_else(String::new, |b| format!(" Briefing heard: {b}"));
    format!(
        "{marker} {what} ({} call(s), {at}).{briefing}\nTimeline:\n{}",
        report.calls, report.timeline
    )
}
