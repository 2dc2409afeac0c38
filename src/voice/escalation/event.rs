//! What an escalation tells the world, as events Klaxon stores itself (source `klaxon`) and
//! runs through the pipelines like any other: `escalation.<outcome>` when its outcome is
//! decided (for a connection: when the bridge is made), and [`CALL_ENDED`] when a connected
//! call ends. Each is stored in the same transaction as the transition it reports, so a
//! crash never loses one.
//!
//! The payload ([`EscalationEvent`]) carries what a consumer needs to say what happened
//! without reading the escalation: the Merge write-back destination renders its ticket
//! comment or deal note from it alone.

use serde::{Deserialize, Serialize};

use super::machine::Outcome;
use super::plan::{MergeDealRef, MergeTicketRef};

/// The type of the event recorded when a connected call ends.
pub const CALL_ENDED: &str = "escalation.call_ended";

/// The type of the event recorded when the outcome is decided: `escalation.unreached`, …
pub fn outcome_type(outcome: Outcome) -> String {
    format!("escalation.{}", outcome.as_str())
}

/// The idempotency key (within source `klaxon`) of an escalation's event of `event_type`:
/// the escalation's id for its outcome (one outcome per escalation), `<id>:call_ended` for
/// the end of its call. A step replayed after a crash stores nothing new.
pub fn key(escalation_id: &str, event_type: &str) -> String {
    if event_type == CALL_ENDED {
        format!("{escalation_id}:call_ended")
    } else {
        escalation_id.to_owned()
    }
}

/// The payload of an escalation's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationEvent {
    pub escalation_id: String,
    /// The event that started the escalation.
    pub event_id: String,
    /// The escalation's outcome; for [`CALL_ENDED`], `connected`.
    pub outcome: Outcome,
    /// The Merge ticket the escalation came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_ticket: Option<MergeTicketRef>,
    /// The Merge deal the escalation came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_deal: Option<MergeDealRef>,
    /// Who took it, by name or else number; when nobody did, the last one rung; `None` when
    /// nobody was rung.
    #[serde(default)]
    pub person: Option<String>,
    /// How many calls were made (the attempt reached).
    #[serde(default)]
    pub calls: u32,
    /// The briefing the person heard, if it was played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub briefing: Option<String>,
    /// What happened on the calls, a line each, as people read it.
    #[serde(default)]
    pub timeline: String,
    /// For [`CALL_ENDED`]: seconds from the bridge to the end of the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_secs: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_has_its_own_type_and_key() {
        assert_eq!(outcome_type(Outcome::Unreached), "escalation.unreached");
        assert_eq!(key("esc_7", "escalation.connected"), "esc_7");
        assert_eq!(key("esc_7", CALL_ENDED), "esc_7:call_ended");
    }

    #[test]
    fn the_payload_of_an_escalation_without_merge_has_no_merge_fields() {
        let event = EscalationEvent {
            escalation_id: "esc_7".into(),
            event_id: "0190c3a2-7d1e-7000-8000-000000000001".into(),
            outcome: Outcome::Unreached,
            merge_ticket: None,
            merge_deal: None,
            person: Some("Ana".into()),
            calls: 2,
            briefing: None,
            timeline: "16:26:40 UTC rang (leg A)".into(),
            conversation_secs: None,
        };
        let json = serde_json::to_value(&event).expect("plain data");
        assert_eq!(json["outcome"], "unreached");
        assert!(json.get("merge_ticket").is_none() && json.get("merge_deal").is_none());
        assert_eq!(
            serde_json::from_value::<EscalationEvent>(json).ok(),
            Some(event)
        );
    }
}
