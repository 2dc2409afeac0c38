//! The write-back jobs rendered from escalation events' payloads, as the engine writes them.

use serde_json::{Value, json};

use super::*;
use crate::merge::writeback::{self, Job, TicketWriteback};

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
    let job = ticket_job(CALL_ENDED_EVENT, &payload);
    assert_eq!(job.outcome, writeback::CALL_ENDED);
    assert!(
        job.comment.starts_with(
            "Klaxon escalation esc_7 call ended: the call between Ana and the customer \
             ended after 252 s (1 call(s),"
        ),
        "{}",
        job.comment
    );
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
        stored_job(Target::MergeTicket, &body),
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
