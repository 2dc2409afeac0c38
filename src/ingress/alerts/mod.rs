//! Alert sources: monitoring tools that page people today (Prometheus Alertmanager, Grafana
//! alerting, anything that speaks PagerDuty's Events API v2) send their alerts to Klaxon.
//!
//! Each sender's format is read by its own file into the shared [`Alert`]; [`accept`] then
//! turns a notification's alerts into events through the store and the intake, the same way
//! for every sender:
//!
//! - [`settings`]: `[[alert_sources]]`, the integration keys, the built-in pipelines.
//! - [`alertmanager`], [`grafana`], [`pagerduty`]: each sender's body, parsed and checked.
//! - [`accept`]: de-duplication (one episode per open alert; see
//!   [`crate::store::AlertNotice`]) and the events `alert.firing` (an alert opened),
//!   `alert.acknowledged` and `alert.resolved`, each with its `dedup_key`.
//! - [`settle`]: the background task that ends an episode's escalations once the source
//!   resolved or acknowledged it.
//!
//! The HTTP doors are in `crate::http::alerts`; this module knows nothing of axum.

pub mod accept;
pub mod alertmanager;
pub mod grafana;
pub mod pagerduty;
pub mod settings;
pub mod settle;

use serde::Serialize;
use serde_json::{Map, Value};

pub use accept::{AcceptError, Accepted, accept};
pub use settings::{AlertKind, AlertRoute, AlertSource, IntegrationKey};
pub use settle::Settler;

use crate::store::AlertStatus;

/// One alert of a notification, whatever the sender; the `payload` of its event.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// The sender's own key for the alert: a fingerprint or a PagerDuty `dedup_key`.
    #[serde(skip)]
    pub key: String,
    pub status: AlertStatus,
    /// One line for people (and the spoken briefing).
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub labels: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Where the alert came from (Alertmanager's `generatorURL`, a PagerDuty `client_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whatever else the sender said that people may want: the group's key and receiver,
    /// `externalURL`, PagerDuty's `source` and `custom_details`, Grafana's `values`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

/// Why a body is not a notification of its kind; the text is safe to show the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The summary of an Alertmanager-style alert: its `summary` annotation, else its
/// `description`, else the alert name with the instance.
pub(crate) fn summary_of(labels: &Map<String, Value>, annotations: &Map<String, Value>) -> String {
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    text(annotations, "summary")
        .or_else(|| text(annotations, "description"))
        .or_else(|| {
            let name = text(labels, "alertname")?;
            Some(match text(labels, "instance") {
                Some(instance) => format!("{name} on {instance}"),
                None => name,
            })
        })
        .unwrap_or_else(|| "alert".to_owned())
}

/// Alertmanager and Grafana write "0001-01-01T00:00:00Z" for "no end yet".
pub(crate) fn meaningful_time(time: Option<String>) -> Option<String> {
    time.filter(|t| !t.is_empty() && !t.starts_with("0001-01-01"))
}
