//! Prometheus Alertmanager's webhook (`webhook_config`, payload version 4): one notification
//! per alert group, carrying every alert of the group, firing and resolved alike, each with
//! its `fingerprint` (the hash of its label set, stable across notifications).
//!
//! Grafana's contact point sends the same envelope with a few more fields
//! ([`super::grafana`] reads it through [`Notification`]).

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Alert, Malformed, meaningful_time, summary_of};
use crate::store::AlertStatus;

/// The group envelope, as Alertmanager (and Grafana) write it. Unknown fields are ignored:
/// new senders add them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Notification {
    pub version: Option<String>,
    pub group_key: Option<String>,
    pub receiver: Option<String>,
    #[serde(rename = "externalURL")]
    pub external_url: Option<String>,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub alerts: Vec<WireAlert>,
}

/// One alert of the group.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAlert {
    pub status: String,
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub annotations: Map<String, Value>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
    pub fingerprint: Option<String>,
}

/// Parses an Alertmanager webhook body (version 4) into its alerts.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, Malformed> {
    let notification = envelope(body)?;
    match notification.version.as_deref() {
        Some("4") => {}
        Some(other) => {
            return Err(Malformed(format!(
                "webhook payload version {other:?}; Klaxon reads version \"4\""
            )));
        }
        None => return Err(Malformed("`version` is missing".into())),
    }
    alerts(notification, |_, _| {})
}

/// The envelope, with the errors people need to fix a sender.
pub(crate) fn envelope(body: &[u8]) -> Result<Notification, Malformed> {
    serde_json::from_slice(body).map_err(|e| Malformed(format!("not an alert notification: {e}")))
}

/// The group's alerts in the shared shape; `extra` adds a sender's own fields per alert.
pub(crate) fn alerts(
    notification: Notification,
    mut extra: impl FnMut(usize, &mut Map<String, Value>),
) -> Result<Vec<Alert>, Malformed> {
    if notification.alerts.is_empty() {
        return Err(Malformed("`alerts` is empty".into()));
    }
    let mut group = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            group.insert(key.to_owned(), Value::String(value));
        }
    };
    put("group_key", notification.group_key);
    put("receiver", notification.receiver);
    put("external_url", notification.external_url);
    if notification.truncated_alerts > 0 {
        group.insert(
            "truncated_alerts".into(),
            Value::from(notification.truncated_alerts),
        );
    }
    notification
        .alerts
        .into_iter()
        .enumerate()
        .map(|(i, wire)| {
            let status = match wire.status.as_str() {
                "firing" => AlertStatus::Firing,
                "resolved" => AlertStatus::Resolved,
                other => {
                    return Err(Malformed(format!(
                        "alerts[{i}].status is {other:?}; expected \"firing\" or \"resolved\""
                    )));
                }
            };
            let key = match wire.fingerprint.filter(|f| !f.is_empty()) {
                Some(fingerprint) => fingerprint,
                None if !wire.labels.is_empty() => fingerprint_of(&wire.labels),
                None => {
                    return Err(Malformed(format!(
                        "alerts[{i}] has neither a fingerprint nor labels to identify it"
                    )));
                }
            };
            let severity = wire
                .labels
                .get("severity")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut details = group.clone();
            extra(i, &mut details);
            Ok(Alert {
                summary: summary_of(&wire.labels, &wire.annotations),
                key,
                status,
                severity,
                labels: wire.labels,
                annotations: wire.annotations,
                starts_at: meaningful_time(wire.starts_at),
                ends_at: meaningful_time(wire.ends_at),
                url: wire.generator_url.filter(|u| !u.is_empty()),
                details,
            })
        })
        .collect()
}

/// A stand-in fingerprint for senders that omit it (Alertmanager before 0.19): the hash of the
/// sorted label set, as Alertmanager's own is, though not the same numbers.
fn fingerprint_of(labels: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, String)> = labels
        .iter()
        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    pairs.sort();
    let mut hash = Sha256::new();
    for (k, v) in pairs {
        hash.update(k.as_bytes());
        hash.update([0xff]);
        hash.update(v.as_bytes());
        hash.update([0xfe]);
    }
    hex::encode(&hash.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(alerts: Value) -> Vec<u8> {
        json!({"version": "4", "status": "firing", "receiver": "klaxon", "groupKey": "{}:{}",
               "externalURL": "http://am:9093", "alerts": alerts})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn each_alert_of_the_group_keeps_its_fingerprint_and_status() {
        let alerts = parse(&body(json!([
            {"status": "firing", "fingerprint": "aa", "labels": {"alertname": "Down", "instance": "db1", "severity": "page"},
             "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"},
            {"status": "resolved", "fingerprint": "bb", "labels": {"alertname": "Slow"},
             "annotations": {"summary": "Slow queries"}, "endsAt": "2026-01-01T00:05:00Z"},
        ])))
        .expect("parses");
        assert_eq!(alerts.len(), 2);
        assert_eq!(
            (alerts[0].key.as_str(), alerts[0].status),
            ("aa", AlertStatus::Firing)
        );
        assert_eq!(alerts[0].summary, "Down on db1");
        assert_eq!(alerts[0].severity.as_deref(), Some("page"));
        assert_eq!(alerts[0].ends_at, None, "the zero time means no end");
        assert_eq!(alerts[0].details["external_url"], "http://am:9093");
        assert_eq!(
            (alerts[1].key.as_str(), alerts[1].status),
            ("bb", AlertStatus::Resolved)
        );
        assert_eq!(alerts[1].summary, "Slow queries");
    }

    #[test]
    fn a_missing_fingerprint_is_derived_from_the_labels_in_any_order() {
        let one = parse(&body(
            json!([{"status": "firing", "labels": {"a": "1", "b": "2"}}]),
        ))
        .expect("parses");
        let two = parse(&body(
            json!([{"status": "firing", "labels": {"b": "2", "a": "1"}}]),
        ))
        .expect("parses");
        assert_eq!(one[0].key, two[0].key);
        let other = parse(&body(
            json!([{"status": "firing", "labels": {"a": "1", "b": "3"}}]),
        ))
        .expect("parses");
        assert_ne!(one[0].key, other[0].key);
    }

    #[test]
    fn what_is_not_a_version_4_notification_says_why() {
        let cases: [(&[u8], &str); 5] = [
            (b"{", "not an alert notification"),
            (br#"{"version": "4"}"#, "alerts"),
            (br#"{"version": "3", "alerts": []}"#, "version \"3\""),
            (br#"{"version": "4", "alerts": []}"#, "empty"),
            (
                br#"{"version": "4", "alerts": [{"status": "pending", "fingerprint": "x"}]}"#,
                "alerts[0].status",
            ),
        ];
        for (body, says) in cases {
            let error = parse(body).expect_err("refused");
            assert!(error.0.contains(says), "{error} should mention {says}");
        }
    }
}
