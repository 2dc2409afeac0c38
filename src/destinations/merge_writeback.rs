//! Merge write-back as a delivery kind, fed by the escalation events
//! ([`crate::voice::escalation::event`]): the job (a ticket comment and status, or a deal
//! note) is rendered from the event's payload when the built-in `merge-writeback` pipeline
//! routes it, stored as the delivery's body, and run here as one attempt and judged
//! ([`crate::merge::writeback`] does the Merge calls).
//!
//! - settings: none; the Merge client of the server (`MERGE_API_KEY`, or the sandbox Merge).
//! - the answer: done → delivered (Merge's warnings kept as the response); Merge's refusals
//!   that cannot change (an `errors[]`, a 404, an integration without notes) → dead; the
//!   rest (timeouts, 429, 5xx) → retried on the schedule.
//! - rate limit: the Merge client's own (it honours `Retry-After`).

use serde::Deserialize;
use serde_json::Value;

use super::report::{Report, Verdict};
use super::target::Target;
use crate::merge::MergeClient;
use crate::merge::writeback::{self, DealNote, Job, TicketWriteback};
use crate::voice::escalation::event::{self, EscalationEvent};
use crate::voice::escalation::machine::Outcome;

/// What a write-back destination writes to: the escalation's ticket, or its deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A status change and private comment on the Merge ticket.
    Ticket,
    /// A CRM note on the Merge deal.
    Deal,
}

impl Object {
    /// The kind its deliveries are stored as.
    pub fn target(self) -> Target {
        match self {
            Object::Ticket => Target::MergeTicket,
            Object::Deal => Target::MergeNote,
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Object::Ticket => "the escalation's Merge ticket (status and private comment)",
            Object::Deal => "the escalation's Merge deal (CRM note)",
        }
    }
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
    let report = EscalationEvent::deserialize(payload).ok()?;
    let call_ended = event_type == event::CALL_ENDED;
    let outcome = if call_ended {
        writeback::CALL_ENDED.to_owned()
    } else {
        report.outcome.as_str().to_owned()
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
fn text(report: &EscalationEvent, call_ended: bool, at: &str) -> String {
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
        let what = match report.outcome {
            Outcome::Connected => format!("{who} answered and is connected to {other}"),
            Outcome::Acknowledged => format!("{who} answered and acknowledged"),
            Outcome::Unreached => "nobody on the escalation policy could be reached".to_owned(),
            Outcome::Cancelled => "the escalation was cancelled".to_owned(),
            Outcome::Failed => "the escalation failed".to_owned(),
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

/// Runs the job. `retrying`: an earlier attempt failed, perhaps after Merge had acted, so
/// text already carrying the job's marker is not posted again.
pub async fn send(
    merge: Option<&MergeClient>,
    target: Target,
    body: &str,
    retrying: bool,
) -> Report {
    let Some(merge) = merge else {
        return Report::failed(Verdict::Dead, None, "no Merge client is configured");
    };
    let job = match Job::stored(target, body) {
        Some(Ok(job)) => job,
        Some(Err(error)) => {
            return Report::failed(
                Verdict::Dead,
                None,
                format!("unreadable write-back job: {error}"),
            );
        }
        None => {
            return Report::failed(
                Verdict::Dead,
                None,
                format!("{target} is not a Merge write-back"),
            );
        }
    };
    match writeback::perform(merge, &job, retrying).await {
        Ok(done) => Report::delivered(None, Some(done)),
        Err(error) => {
            let verdict = if error.is_retryable() {
                Verdict::Retry { after: None }
            } else {
                Verdict::Dead
            };
            Report::failed(verdict, None, error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AT: &str = "2026-05-29T16:26:40Z";

    /// The payload of a connected ticket escalation's outcome event, as the engine records it.
    fn connected_ticket() -> Value {
        json!({
            "escalation_id": "esc_7",
            "event_id": "0190c3a2-7d1e-7000-8000-000000000001",
            "outcome": "connected",
            "merge_ticket": {"linked_account_id": "9c", "ticket_id": "1c"},
            "person": "Ana",
            "calls": 1,
            "briefing": "Checkout is down for Acme.",
            "timeline": "16:26:30 UTC rang (leg A)\n16:26:35 UTC bridged",
        })
    }

    fn ticket_job(event_type: &str, payload: &Value) -> TicketWriteback {
        match job(Object::Ticket, event_type, AT, payload) {
            Some(Job::Ticket(job)) => job,
            other => panic!("a ticket job, not {other:?}"),
        }
    }

    #[test]
    fn a_connected_ticket_gets_a_comment_saying_who_with_the_briefing_and_timeline() {
        let job = ticket_job("escalation.connected", &connected_ticket());
        assert_eq!(
            (job.linked_account_id.as_str(), job.ticket_id.as_str()),
            ("9c", "1c")
        );
        assert_eq!(job.outcome, "connected");
        assert_eq!(
            job.comment,
            "Klaxon escalation esc_7: Ana answered and is connected to the customer \
             (1 call(s), 2026-05-29T16:26:40Z). Briefing heard: Checkout is down for Acme.\n\
             Timeline:\n16:26:30 UTC rang (leg A)\n16:26:35 UTC bridged"
        );
    }

    #[test]
    fn the_end_of_the_call_is_its_own_job_with_its_own_marker_and_length() {
        let mut payload = connected_ticket();
        payload["conversation_secs"] = json!(252);
        let job = ticket_job(event::CALL_ENDED, &payload);
        assert_eq!(job.outcome, writeback::CALL_ENDED);
        assert!(
            job.comment.starts_with(
                "Klaxon escalation esc_7 call ended: the call between Ana and the customer \
                 ended after 252 s (1 call(s),"
            ),
            "{}",
            job.comment
        );
        let job = Job::Ticket(job);
        assert_eq!(job.destination(), writeback::CALL_ENDED_DESTINATION);
    }

    #[test]
    fn an_unreached_deal_gets_a_note_for_its_account_executive() {
        let payload = json!({
            "escalation_id": "esc_8",
            "event_id": "e",
            "outcome": "unreached",
            "merge_deal": {"linked_account_id": "7d", "opportunity_id": "op",
                           "account_id": "acc", "integration": "HubSpot"},
            "person": "Vic",
            "calls": 2,
            "timeline": "",
        });
        let Some(Job::Note(note)) = job(Object::Deal, "escalation.unreached", AT, &payload) else {
            panic!("a deal note");
        };
        assert_eq!(note.integration.as_deref(), Some("HubSpot"));
        assert_eq!(note.outcome, "unreached");
        assert!(
            note.content.starts_with(
                "Klaxon escalation esc_8: nobody on the escalation policy could be reached \
                 (2 call(s),"
            ),
            "{}",
            note.content
        );
        assert_eq!(
            job(Object::Ticket, "escalation.unreached", AT, &payload),
            None
        );
    }

    #[test]
    fn an_event_that_is_no_escalations_renders_nothing_sendable() {
        let not_ours = json!({"title": "Checkout down"});
        assert_eq!(
            job(Object::Ticket, "escalation.connected", AT, &not_ours),
            None
        );
        assert_eq!(
            render(Object::Ticket, "escalation.connected", AT, &not_ours),
            ""
        );
        let body = render(
            Object::Ticket,
            "escalation.connected",
            AT,
            &connected_ticket(),
        );
        assert!(matches!(
            Job::stored(Target::MergeTicket, &body),
            Some(Ok(Job::Ticket(_)))
        ));
    }

    #[test]
    fn an_outcome_event_from_before_the_write_back_fields_still_parses() {
        let old = json!({"escalation_id": "esc_7", "event_id": "e", "outcome": "acknowledged",
                         "merge_ticket": {"linked_account_id": "9c", "ticket_id": "1c"}});
        let job = ticket_job("escalation.acknowledged", &old);
        assert_eq!(job.outcome, "acknowledged");
        assert!(
            job.comment.starts_with("Klaxon escalation esc_7:"),
            "{}",
            job.comment
        );
    }
}
