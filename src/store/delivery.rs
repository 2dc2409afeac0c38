//! Delivery jobs: one row per (event, destination), with every attempt recorded.
//!
//! A delivery is the durable form of "send this event there": the exact body is fixed when
//! the job is created, so every retry and replay sends the same bytes (only the signature's
//! timestamp changes). Workers hold a lease while an attempt is in flight; a crash leaves the
//! lease to expire and the job to be claimed again, so nothing is lost.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::Target;
use super::{Cursor, EventId};

/// How long a claimed delivery is its worker's. Longer than any attempt (timeouts are
/// ≤ 300 s) plus the wait for a free slot, so a live worker never loses a job it is working on.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(10 * 60);

/// When a delivery leased at `now_ms` (unix ms) is free to be claimed again.
pub fn lease_until(now_ms: i64) -> i64 {
    now_ms.saturating_add(i64::try_from(DELIVERY_LEASE.as_millis()).unwrap_or(i64::MAX))
}

/// A delivery's id, also sent as `webhook-id` so receivers can drop repeats. Shown as
/// `msg_<32 hex>` everywhere (API, headers, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId(Uuid);

impl Serialize for DeliveryId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl DeliveryId {
    pub fn new() -> Self {
        DeliveryId(Uuid::now_v7())
    }
}

impl Default for DeliveryId {
    fn default() -> Self {
        DeliveryId::new()
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `msg_` prefix as in Standard Webhooks examples; keeps ids recognisable in logs.
        write!(f, "msg_{}", self.0.simple())
    }
}

impl FromStr for DeliveryId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.strip_prefix("msg_").unwrap_or(s)).map(DeliveryId)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not attempted yet (or replayed and waiting for its next attempt).
    Pending,
    /// The last attempt failed; another is scheduled.
    Failed,
    /// A 2xx was received.
    Succeeded,
    /// Out of attempts, or the destination is gone; waits for a replay.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Failed => "failed",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Dead => "dead",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "failed" => Ok(DeliveryState::Failed),
            "succeeded" => Ok(DeliveryState::Succeeded),
            "dead" => Ok(DeliveryState::Dead),
            other => Err(format!(
                "unknown delivery state {other:?}; expected pending, failed, succeeded or dead"
            )),
        }
    }
}

/// A delivery to create together with its event's pipeline result.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub pipeline: String,
    pub destination: String,
    /// How the worker routes it.
    pub target: Target,
    /// The body to send, final (labels added, PII redacted, templates rendered).
    pub body: String,
}

/// A delivery claimed by this process for one attempt.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub destination: String,
    pub target: Target,
    pub body: String,
    /// Attempts made so far, over the delivery's whole life; numbers the next attempt.
    pub attempts: u32,
    /// Attempts since creation or the last replay; indexes the retry schedule.
    pub run_attempts: u32,
}

impl DeliveryJob {
    /// The first attempt of a delivery just created.
    pub fn fresh(new: NewDelivery) -> DeliveryJob {
        DeliveryJob {
            id: new.id,
            event_id: new.event_id,
            destination: new.destination,
            target: new.target,
            body: new.body,
            attempts: 0,
            run_attempts: 0,
        }
    }
}

/// What one attempt saw.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based, over the delivery's life.
    pub number: u32,
    pub started_at: String,
    pub duration_ms: u64,
    /// The HTTP status, when a response arrived.
    #[schema(required = true)]
    pub status: Option<u16>,
    /// Why it failed, when it did (connection refused, timeout, 500 …).
    #[schema(required = true)]
    pub error: Option<String>,
    /// The start of the response body, for debugging a receiver.
    #[schema(required = true)]
    pub response: Option<String>,
}

/// What happens after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    /// Try again at this unix time in milliseconds.
    RetryAt(i64),
    Dead,
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `msg_<32 hex>`, also sent as `webhook-id`.
    #[schema(value_type = String)]
    pub id: DeliveryId,
    pub event_id: String,
    pub pipeline: String,
    pub destination: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next attempt is due; `null` unless pending or failed.
    #[schema(required = true)]
    pub next_attempt_at: Option<String>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every attempt, oldest first; only on `GET /v1/deliveries/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub attempt_log: Option<Vec<Attempt>>,
}

/// One decision of a `transition` step: does `event` pass for object `key`?
#[derive(Debug, Clone, Copy)]
pub struct TransitionCheck<'a> {
    /// `<pipeline>/<step index>`.
    pub step: &'a str,
    pub key: &'a str,
    /// Whether the step's condition holds for this event.
    pub holds: bool,
    pub repage_after_ms: Option<i64>,
    pub now_ms: i64,
    /// The event being decided, recorded when it passes.
    pub event: &'a str,
}

impl TransitionCheck<'_> {
    /// The rule, given what the store remembers of the key: pass when the condition became
    /// true (it did not hold, or was never seen), when it still holds and the re-page
    /// interval has passed, or when this very event passed before (it is run again after a
    /// crash lost its pipeline result, and must not be swallowed).
    pub fn fires(&self, held: bool, fired_at: Option<i64>, fired_by: Option<&str>) -> bool {
        self.holds
            && (!held
                || fired_by == Some(self.event)
                || match (self.repage_after_ms, fired_at) {
                    (Some(after), Some(at)) => self.now_ms - at >= after,
                    _ => false,
                })
    }
}

/// The delivery queue at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Pending or awaiting a retry.
    pub waiting: u64,
    /// Of those, due now.
    pub due: u64,
    /// The earliest due time among the due ones (unix ms).
    pub oldest_due_at: Option<i64>,
}

/// A validated listing request.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub state: Option<DeliveryState>,
    pub destination: Option<String>,
    pub event_id: Option<EventId>,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    /// Pass as `after` to get the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What a replay request found.
#[derive(Debug, Clone)]
pub enum Replay {
    /// Re-queued: due now, schedule restarted.
    Queued,
    NotFound,
    /// Still being worked on; a replay would race the next attempt.
    InProgress(DeliveryState),
}
