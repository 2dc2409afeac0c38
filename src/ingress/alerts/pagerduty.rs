//! PagerDuty's Events API v2, so a tool that pages through PagerDuty pages through Klaxon by
//! changing one URL: `POST /v2/enqueue` with `routing_key`, `event_action`
//! (`trigger` | `acknowledge` | `resolve`), `dedup_key` and, on a trigger, `payload` with
//! `summary`, `source`, `severity` and optional `timestamp`, `component`, `group`, `class`,
//! `custom_details`; `client`, `client_url`, `links` and `images` beside it.
//!
//! The answers are PagerDuty's own: `202 {"status":"success","message":"Event processed",
//! "dedup_key":…}` (the key generated when a trigger names none), and
//! `400 {"status":"invalid event","message":"Event object is invalid","errors":[…]}`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Alert, meaningful_time};
use crate::store::AlertStatus;

/// PagerDuty's limit on `dedup_key`.
pub const MAX_DEDUP_KEY_LEN: usize = 255;
/// PagerDuty's limit on `payload.summary`; longer ones are cut, as PagerDuty does.
pub const MAX_SUMMARY_CHARS: usize = 1024;

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// A valid event: the key it was sent with, and its alert.
#[derive(Debug, Clone)]
pub struct Event {
    pub routing_key: String,
    pub alert: Alert,
    /// True when Klaxon made the `dedup_key` up (a trigger without one).
    pub generated_key: bool,
}

/// PagerDuty's answer to an event it accepted.
#[derive(Debug, Serialize)]
pub struct Processed<'a> {
    pub status: &'static str,
    pub message: &'static str,
    pub dedup_key: &'a str,
}

impl<'a> Processed<'a> {
    pub fn new(dedup_key: &'a str) -> Self {
        Processed {
            status: "success",
            message: "Event processed",
            dedup_key,
        }
    }
}

/// PagerDuty's answer to an event it refused: each problem in `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub status: &'static str,
    pub message: &'static str,
    pub errors: Vec<String>,
}

impl Invalid {
    pub fn new(errors: Vec<String>) -> Self {
        Invalid {
            status: "invalid event",
            message: "Event object is invalid",
            errors,
        }
    }
}

/// Parses and checks an event, collecting every problem as PagerDuty lists them.
pub fn parse(body: &[u8]) -> Result<Event, Invalid> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Invalid::new(vec![format!("the body is not valid JSON: {e}")]))?;
    let Value::Object(event) = value else {
        return Err(Invalid::new(vec!["the event must be a JSON object".into()]));
    };
    let mut errors = Vec::new();
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let routing_key = text(&event, "routing_key");
    if routing_key.is_none() {
        errors.push("'routing_key' is missing or blank".to_owned());
    }
    let status = match text(&event, "event_action").as_deref() {
        Some("trigger") => Some(AlertStatus::Firing),
        Some("acknowledge") => Some(AlertStatus::Acknowledged),
        Some("resolve") => Some(AlertStatus::Resolved),
        Some(other) => {
            errors.push(format!(
                "'event_action' is {other:?}; expected one of trigger, acknowledge, resolve"
            ));
            None
        }
        None => {
            errors.push("'event_action' is missing or blank".to_owned());
            None
        }
    };
    let mut dedup_key = text(&event, "dedup_key");
    if dedup_key
        .as_ref()
        .is_some_and(|k| k.len() > MAX_DEDUP_KEY_LEN)
    {
        errors.push(format!(
            "'dedup_key' is longer than {MAX_DEDUP_KEY_LEN} characters"
        ));
    }
    let empty = Map::new();
    let payload = match event.get("payload") {
        Some(Value::Object(payload)) => payload,
        Some(_) => {
            errors.push("'payload' must be an object".to_owned());
            &empty
        }
        None => &empty,
    };
    let mut summary = text(payload, "summary");
    let severity = text(payload, "severity");
    if status == Some(AlertStatus::Firing) {
        if summary.is_none() {
            errors.push("'payload.summary' is missing or blank".to_owned());
        }
        if text(payload, "source").is_none() {
            errors.push("'payload.source' is missing or blank".to_owned());
        }
        match severity.as_deref() {
            Some(s) if SEVERITIES.contains(&s) => {}
            Some(other) => errors.push(format!(
                "'payload.severity' is {other:?}; expected one of critical, error, warning, info"
            )),
            None => errors.push("'payload.severity' is missing or blank".to_owned()),
        }
    } else if status.is_some() && dedup_key.is_none() {
        errors.push("'dedup_key' is required to acknowledge or resolve".to_owned());
    }
    let (Some(routing_key), Some(status), true) = (routing_key, status, errors.is_empty()) else {
        return Err(Invalid::new(errors));
    };
    let generated_key = dedup_key.is_none();
    let key = dedup_key
        .take()
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    if let Some(s) = &mut summary
        && let Some((cut, _)) = s.char_indices().nth(MAX_SUMMARY_CHARS)
    {
        s.truncate(cut);
    }
    // `custom_details` may be an object or a string (PagerDuty takes both): kept as it came.
    let mut details = Map::new();
    for field in ["source", "component", "group", "class", "custom_details"] {
        if let Some(value) = payload.get(field).filter(|v| !v.is_null()) {
            details.insert(field.to_owned(), value.clone());
        }
    }
    for field in ["client", "links", "images"] {
        if let Some(value) = event.get(field).filter(|v| !v.is_null()) {
            details.insert(field.to_owned(), value.clone());
        }
    }
    let alert = Alert {
        summary: summary.unwrap_or_else(|| match status {
            AlertStatus::Acknowledged => format!("{key} acknowledged"),
            _ => format!("{key} resolved"),
        }),
        key,
        status,
        severity,
        labels: Map::new(),
        annotations: Map::new(),
        starts_at: meaningful_time(text(payload, "timestamp")),
        ends_at: None,
        url: text(&event, "client_url"),
        details,
    };
    Ok(Event {
        routing_key,
        alert,
        generated_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Value) -> Result<Event, Invalid> {
        parse(value.to_string().as_bytes())
    }

    #[test]
    fn a_trigger_without_a_dedup_key_gets_one() {
        let event = parse_json(json!({
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "Disk full", "source": "db1", "severity": "critical",
                        "custom_details": {"free": "0%"}}
        }))
        .expect("valid");
        assert!(event.generated_key);
        assert_eq!(event.alert.key.len(), 32);
        assert_eq!(event.alert.status, AlertStatus::Firing);
        assert_eq!(event.alert.summary, "Disk full");
        assert_eq!(event.alert.details["custom_details"]["free"], "0%");
        let again = parse_json(json!({
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "Disk full", "source": "db1", "severity": "critical"}
        }))
        .expect("valid");
        assert_ne!(
            event.alert.key, again.alert.key,
            "each trigger is its own alert"
        );
    }

    #[test]
    fn acknowledge_and_resolve_need_only_the_key() {
        for (action, status) in [
            ("acknowledge", AlertStatus::Acknowledged),
            ("resolve", AlertStatus::Resolved),
        ] {
            let event =
                parse_json(json!({"routing_key": "k", "event_action": action, "dedup_key": "d1"}))
                    .expect("valid");
            assert_eq!(
                (event.alert.key.as_str(), event.alert.status),
                ("d1", status)
            );
            assert!(!event.generated_key);
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let invalid =
            parse_json(json!({"event_action": "trigger", "payload": {"severity": "bad"}}))
                .expect_err("invalid");
        assert_eq!(invalid.status, "invalid event");
        assert_eq!(invalid.message, "Event object is invalid");
        let all = invalid.errors.join(" | ");
        for says in [
            "routing_key",
            "payload.summary",
            "payload.source",
            "payload.severity",
        ] {
            assert!(all.contains(says), "{all} should mention {says}");
        }
        let cases = [
            json!({"routing_key": "k", "event_action": "explode", "dedup_key": "d"}),
            json!({"routing_key": "k", "event_action": "resolve"}),
            json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "x".repeat(256)}),
            json!({"routing_key": "k", "event_action": "trigger", "payload": "text"}),
            json!([1, 2]),
        ];
        for case in cases {
            assert!(parse_json(case.clone()).is_err(), "{case} is refused");
        }
        assert!(parse(b"{").is_err());
    }

    #[test]
    fn a_long_summary_is_cut_at_a_character_boundary() {
        let event = parse_json(json!({
            "routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "é".repeat(2000), "source": "s", "severity": "info"}
        }))
        .expect("valid");
        assert_eq!(event.alert.summary.chars().count(), MAX_SUMMARY_CHARS);
    }
}
