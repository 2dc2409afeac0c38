//! Escalation records: what the store keeps of a phone escalation, and what the API shows.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::EventId;

/// An escalation's id, `esc_<32 hex>`; also the opaque id in Telnyx `client_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EscalationId(Uuid);

impl EscalationId {
    pub fn new() -> Self {
        EscalationId(Uuid::now_v7())
    }
}

impl Default for EscalationId {
    fn default() -> Self {
        EscalationId::new()
    }
}

impl fmt::Display for EscalationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "esc_{}", self.0.simple())
    }
}

impl FromStr for EscalationId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.strip_prefix("esc_").unwrap_or(s)).map(EscalationId)
    }
}

impl Serialize for EscalationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An escalation to create with its event's pipeline result.
#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub id: EscalationId,
    pub event_id: EventId,
    pub pipeline: String,
    pub destination: String,
    pub policy: String,
    /// JSON of the plan (slots, connect target, briefing context).
    pub plan: String,
    /// JSON of the initial machine state.
    pub state: String,
}

/// An escalation as stored, for the engine.
#[derive(Debug, Clone)]
pub struct EscalationRecord {
    pub id: EscalationId,
    pub event_id: String,
    pub plan: String,
    pub state: String,
    pub status: String,
}

/// A state change to persist, with what led to it.
#[derive(Debug, Clone)]
pub struct EscalationUpdate {
    pub id: EscalationId,
    pub state: String,
    pub status: String,
    pub ended: bool,
    pub timeline: Vec<TimelineEntry>,
    /// Legs dialled by this step; each marks its dial's claim placed.
    pub new_legs: Vec<super::NewLeg>,
    /// What the transition tells the world (`escalation.<outcome>`, …), inserted in the same
    /// transaction like any event: idempotent by (source, key), and pending for the pipeline
    /// runner when marked so, so a crash after the commit loses none of them.
    pub events: Vec<super::NewEvent>,
}

/// One line of an escalation's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: String,
    /// `command` (sent to the carrier), `webhook` (received), `decision`, `note`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// An escalation as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Escalation {
    pub id: String,
    pub event_id: String,
    pub pipeline: String,
    pub destination: String,
    pub policy: String,
    /// `active`, or the outcome: `connected`, `acknowledged`, `unreached`, `cancelled`,
    /// `resolved`, `failed`.
    pub status: String,
    /// The current attempt (1-based) and phase.
    #[schema(value_type = Object)]
    pub state: Box<RawValue>,
    pub created_at: String,
    pub updated_at: String,
    #[schema(required = true)]
    pub ended_at: Option<String>,
    /// Only on `GET /v1/escalations/{id}` and the cancel answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub timeline: Option<Vec<TimelineEntry>>,
}

/// A page of escalations, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EscalationPage {
    pub data: Vec<Escalation>,
    /// Pass as `after` to get the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What [`super::Store::hold_escalation`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// This node may step the escalation; the previous step (if any) finished normally.
    Clean,
    /// This node may step the escalation, taken from a node whose lease ran out mid-step
    /// (it died): what that step was doing may be half done, so the caller recovers first.
    TakenOver,
    /// No such escalation.
    Missing,
}
