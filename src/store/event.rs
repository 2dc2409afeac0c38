//! The event record: what is written on ingest and what `GET /v1/events` returns.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// An event's id: a UUID v7, so ids sort roughly by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh id for an event received now.
    pub fn new() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        EventId::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(EventId)
    }
}

/// Who sent an event. Idempotency keys are unique per source, so two integrations that both
/// use ticket numbers as keys never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/events` with the API token, or from loopback when no token is set.
    Api,
    /// `POST /v1/events` authenticated by an `X-Klaxon-Signature` instead of the token.
    SignedIngest,
    /// Emitted by Klaxon itself, e.g. `escalation.unreached`, so pipelines can route it.
    Klaxon,
    /// A Merge.dev webhook (`/webhooks/merge`, `/webhooks/ticket`, `/webhooks/crm`).
    Merge,
    /// An alert source (`[[alert_sources]]`: Alertmanager, Grafana, PagerDuty Events v2).
    Alerts,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::SignedIngest => "signed",
            Source::Klaxon => "klaxon",
            Source::Merge => "merge",
            Source::Alerts => "alerts",
        }
    }
}

/// An event about to be stored. Everything is already validated.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: EventId,
    pub source: Source,
    pub event_type: String,
    /// The payload as compact JSON text, exactly as it will be stored.
    pub payload: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// RFC 3339, UTC.
    pub received_at: String,
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the canonical request; equal hashes mean "the same event again".
    pub request_hash: String,
    /// Some pipeline takes this event type: mark it for the pipeline runner, in the same
    /// transaction, so a crash between commit and run cannot skip it.
    pub pipeline_pending: bool,
}

/// What happened to a [`NewEvent`] in the store. Duplicates and conflicts are normal
/// control flow for an idempotent API, so they are outcomes here, not errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored and committed.
    Created(EventId),
    /// The key was seen before with the same request: nothing stored, here is the original.
    Duplicate(EventId),
    /// The key was seen before with a different request: nothing stored.
    Conflict(EventId),
}

/// A stored event, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    pub occurred_at: String,
    pub received_at: String,
    #[schema(required = true)]
    pub idempotency_key: Option<String>,
    /// `null` when no pipeline takes this type, `pending` until the runner is done, `done`.
    #[schema(required = true)]
    pub pipeline_state: Option<String>,
    /// The pipeline trace: steps run, labels and their source, destinations chosen.
    #[schema(value_type = Option<Object>, required = true)]
    pub pipeline: Option<Box<RawValue>>,
}

/// An event waiting for its pipeline run.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: EventId,
    pub event_type: String,
    /// Compact JSON text.
    pub payload: String,
    pub occurred_at: String,
    /// Emitted by Klaxon itself (source `klaxon`): only such events may cause Klaxon's own
    /// consequences, such as writing an escalation's outcome back to Merge.
    pub from_klaxon: bool,
}

/// A page of `GET /v1/events`, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub data: Vec<Event>,
    /// Pass as `after` to get the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A validated listing request.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    /// Only events older than this position (exclusive).
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A position in the event list. Opaque to clients: today it is the row's insertion
/// sequence, which never repeats and does not depend on clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub(crate) i64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Cursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Cursor(n)),
            _ => Err(()),
        }
    }
}
