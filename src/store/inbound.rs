//! Inbound call records: what the store keeps of a call to Klaxon's own number (live call
//! routing, `crate::voice::inbound`). One row per caller's leg, keyed by an id of ours (which
//! travels in `client_state`) and unique by the leg's `call_control_id`, so a redelivered
//! `call.initiated` finds the row instead of starting a second call.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::{EscalationId, EventId, NewEscalation, NewEvent};

/// An inbound call's id, `inb_<32 hex>`: id-like, so it fits Telnyx `client_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboundId(Uuid);

impl InboundId {
    pub fn new() -> Self {
        InboundId(Uuid::now_v7())
    }
}

impl Default for InboundId {
    fn default() -> Self {
        InboundId::new()
    }
}

/// The prefix that tells an inbound call's id from an escalation's.
pub const INBOUND_PREFIX: &str = "inb_";

impl fmt::Display for InboundId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{INBOUND_PREFIX}{}", self.0.simple())
    }
}

impl FromStr for InboundId {
    type Err = uuid::Error;

    /// Only the `inb_` form: an escalation's `esc_…` id is not an inbound call's.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix(INBOUND_PREFIX)
            .unwrap_or("not an inbound id");
        Uuid::parse_str(hex).map(InboundId)
    }
}

/// A call that just reached Klaxon's number.
#[derive(Debug, Clone)]
pub struct NewInboundCall {
    pub id: InboundId,
    pub call_control_id: String,
    /// The caller's number (`from`), as Telnyx gave it.
    pub caller: String,
    /// The number called (`to`): Klaxon's.
    pub called: String,
    /// JSON of the initial machine state.
    pub state: String,
}

/// An inbound call as stored.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub id: InboundId,
    pub call_control_id: String,
    pub caller: String,
    pub state: String,
    pub status: String,
    pub escalation: Option<EscalationId>,
}

/// A transition of an inbound call to persist, with what it creates, in one transaction.
#[derive(Debug, Clone)]
pub struct InboundUpdate {
    pub id: InboundId,
    pub state: String,
    /// `active`, or how the call ended.
    pub status: String,
    pub ended: bool,
    /// Events the transition records (`call.inbound` for a new escalation, `call.message`);
    /// idempotent by (source, key) like every event.
    pub events: Vec<NewEvent>,
    /// The escalation a press of 1 starts (its event is among `events`); linked to the call.
    pub escalation: Option<NewEscalation>,
}

/// What [`super::Store::save_inbound_call`] created.
#[derive(Debug, Clone, Default)]
pub struct InboundSaved {
    pub events: Vec<EventId>,
    pub escalation: Option<EscalationId>,
}
