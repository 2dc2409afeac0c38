//! Grafana alerting's webhook contact point: Alertmanager's group envelope (Grafana runs an
//! Alertmanager inside) with Grafana's own additions: `orgId`, `title`, `state`, `message`,
//! and per alert `silenceURL`, `dashboardURL`, `panelURL` and the query `values`.
//!
//! Grafana writes `version: "1"`; the version is not checked, the shape is.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::alertmanager::{alerts, envelope};
use super::{Alert, Malformed};

/// Grafana's additions, read beside the shared envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Additions {
    org_id: Option<Value>,
    title: Option<String>,
    #[serde(default)]
    alerts: Vec<AlertAdditions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertAdditions {
    #[serde(rename = "silenceURL")]
    silence_url: Option<String>,
    #[serde(rename = "dashboardURL")]
    dashboard_url: Option<String>,
    #[serde(rename = "panelURL")]
    panel_url: Option<String>,
    values: Option<Value>,
}

/// Parses a Grafana webhook body into its alerts.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, Malformed> {
    let notification = envelope(body)?;
    // The envelope parsed, so the body is JSON; additions of the wrong type are left out.
    let additions: Additions = serde_json::from_slice(body).unwrap_or_default();
    let mut group = Map::new();
    if let Some(org) = additions.org_id {
        group.insert("org_id".into(), org);
    }
    if let Some(title) = additions.title.filter(|t| !t.is_empty()) {
        group.insert("title".into(), Value::String(title));
    }
    alerts(notification, |i, details| {
        details.extend(group.clone());
        let Some(extra) = additions.alerts.get(i) else {
            return;
        };
        for (key, url) in [
            ("silence_url", &extra.silence_url),
            ("dashboard_url", &extra.dashboard_url),
            ("panel_url", &extra.panel_url),
        ] {
            if let Some(url) = url.as_ref().filter(|u| !u.is_empty()) {
                details.insert(key.into(), Value::String(url.clone()));
            }
        }
        if let Some(values) = &extra.values {
            details.insert("values".into(), values.clone());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AlertStatus;
    use serde_json::json;

    #[test]
    fn grafana_fields_travel_in_the_details() {
        let body = json!({
            "receiver": "klaxon", "status": "firing", "orgId": 1, "version": "1",
            "title": "[FIRING:1] High memory usage",
            "alerts": [{"status": "firing", "fingerprint": "c6eadffa33fcdf37",
                        "labels": {"alertname": "High memory usage"},
                        "annotations": {"summary": "This alert was triggered for zone us-1"},
                        "silenceURL": "https://grafana/silence", "dashboardURL": "",
                        "values": {"B": 44.2}}]
        });
        let alerts = parse(body.to_string().as_bytes()).expect("parses");
        assert_eq!(alerts[0].key, "c6eadffa33fcdf37");
        assert_eq!(alerts[0].status, AlertStatus::Firing);
        assert_eq!(alerts[0].summary, "This alert was triggered for zone us-1");
        assert_eq!(alerts[0].details["org_id"], 1);
        assert_eq!(alerts[0].details["silence_url"], "https://grafana/silence");
        assert_eq!(alerts[0].details["values"]["B"], 44.2);
        assert!(!alerts[0].details.contains_key("dashboard_url"));
    }
}
