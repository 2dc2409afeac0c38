//! A notification's alerts in: what each means for its alert (decided by the store, see
//! [`Store::note_alerts`]), then one event per alert that matters, stored through the intake:
//!
//! - `alert.firing`: an alert opened (a new episode). Its idempotency key is the episode's
//!   ([`opening_key`]), so repeats of an open alert, re-sent notifications and the retry of
//!   a notification whose answer was lost store nothing new: one escalation per episode.
//! - `alert.acknowledged`, `alert.resolved`: the episode acknowledged or resolved at the
//!   source, once each; the [`Settler`] then ends the episode's escalations.
//!
//! An acknowledge or resolve for no open alert stores nothing (as PagerDuty drops it). The
//! group decision is committed before the events: a crash in between is answered with
//! nothing, the sender sends again, and the decision (kept) leads to the same keys.

use futures_util::future::join_all;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Alert, AlertSource, Settler};
use crate::clock;
use crate::intake::{Incoming, Intake};
use crate::store::{
    AlertNotice, AlertStatus, EventId, Inserted, Noted, Source, Store, StoreError, opening_key,
};

/// Why a notification could not be taken in; nothing was answered as taken.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("could not record the alerts: {0}")]
    Store(#[from] StoreError),
}

/// What became of one alert of a notification.
#[derive(Debug, Clone)]
pub struct AcceptedAlert {
    /// `<source>:<sender's key>`, as in the events' payload.
    pub dedup_key: String,
    /// The sender's own key (a PagerDuty `dedup_key` as the sender knows it).
    pub key: String,
    pub noted: Noted,
    /// The event stored for it now; `None` for a repeat or a dropped notice.
    pub event: Option<EventId>,
}

/// What became of a notification.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub alerts: Vec<AcceptedAlert>,
}

/// Takes a notification's alerts in for `source`.
pub async fn accept(
    store: &Store,
    intake: &Intake,
    settler: &Settler,
    source: &AlertSource,
    alerts: Vec<Alert>,
) -> Result<Accepted, AcceptError> {
    let at = clock::now_rfc3339();
    let notices = alerts
        .iter()
        .map(|alert| AlertNotice {
            source: source.name.clone(),
            dedup_key: alert.key.clone(),
            status: alert.status,
            summary: alert.summary.clone(),
            severity: alert.severity.clone(),
            at: at.clone(),
        })
        .collect();
    let noted = store.note_alerts(notices).await?;
    let stored = join_all(
        alerts
            .iter()
            .zip(&noted)
            .map(|(alert, noted)| store_event(intake, source, alert, *noted)),
    )
    .await;
    let mut accepted = Accepted::default();
    let mut settle = false;
    for ((alert, noted), event) in alerts.into_iter().zip(noted).zip(stored) {
        settle |= matches!(noted, Noted::Acknowledged { .. } | Noted::Resolved { .. });
        accepted.alerts.push(AcceptedAlert {
            dedup_key: dedup_key(source, &alert.key),
            key: alert.key,
            noted,
            event: event?,
        });
    }
    if settle {
        settler.poke();
    }
    Ok(accepted)
}

/// The stable de-duplication key of an alert across Klaxon: its source and the sender's key.
pub fn dedup_key(source: &AlertSource, key: &str) -> String {
    format!("{}:{key}", source.name)
}

/// Stores the event a notice calls for; the id when it is new.
async fn store_event(
    intake: &Intake,
    source: &AlertSource,
    alert: &Alert,
    noted: Noted,
) -> Result<Option<EventId>, StoreError> {
    let (event_type, suffix, episode) = match (noted, alert.status) {
        // Also the retry of a notification whose opening event was never stored (a crash
        // between the two writes): the store says `Opened` again, and the episode's key makes
        // it the same event however many notifications race to store it.
        (Noted::Opened { episode }, AlertStatus::Firing) => ("alert.firing", "", episode),
        (Noted::Acknowledged { episode }, _) => ("alert.acknowledged", ":acknowledged", episode),
        (Noted::Resolved { episode }, _) => ("alert.resolved", ":resolved", episode),
        _ => return Ok(None),
    };
    let mut payload = match serde_json::to_value(alert) {
        Ok(Value::Object(map)) => map,
        // An `Alert` is a struct of strings and maps: it always serializes to an object.
        _ => serde_json::Map::new(),
    };
    let extra = json!({
        "source": source.name,
        "kind": source.kind.as_str(),
        "dedup_key": dedup_key(source, &alert.key),
        "alert_key": alert.key,
        "episode": episode,
    });
    if let Value::Object(extra) = extra {
        payload.extend(extra);
    }
    let payload = Value::Object(payload).to_string();
    let inserted = intake
        .accept(Incoming {
            source: Source::Alerts,
            event_type: event_type.to_owned(),
            request_hash: hex::encode(Sha256::digest(payload.as_bytes())),
            payload,
            occurred_at: None,
            idempotency_key: Some(format!(
                "{}{suffix}",
                opening_key(&source.name, &alert.key, episode)
            )),
        })
        .await?;
    Ok(match inserted {
        Inserted::Created(id) => Some(id),
        // The episode's event is already stored (by this notification's first try, or by
        // an earlier notification with a different body): nothing new.
        Inserted::Duplicate(_) | Inserted::Conflict(_) => None,
    })
}
