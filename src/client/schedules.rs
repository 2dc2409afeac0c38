//! `klaxon oncall …`: who is on call, and overrides, over the public API.

use reqwest::Url;
use serde_json::{Value, json};

use super::{Client, ClientError};

impl Client {
    /// Every schedule with who is on call now.
    pub async fn list_schedules(&self) -> Result<Value, ClientError> {
        self.call(self.http.get(self.url("/v1/schedules"))).await
    }

    /// Who is on call for `schedule` at `at` (RFC 3339; now when `None`).
    pub async fn who_is_on_call(
        &self,
        schedule: &str,
        at: Option<&str>,
    ) -> Result<Value, ClientError> {
        let query: Vec<(&str, &str)> = at.map(|at| ("at", at)).into_iter().collect();
        self.call(
            self.http
                .get(self.schedule_url(schedule, &["oncall"]))
                .query(&query),
        )
        .await
    }

    pub async fn list_overrides(&self, schedule: &str) -> Result<Value, ClientError> {
        self.call(self.http.get(self.schedule_url(schedule, &["overrides"])))
            .await
    }

    pub async fn add_override(
        &self,
        schedule: &str,
        person: &str,
        (start, end): (&str, &str),
        note: Option<&str>,
    ) -> Result<Value, ClientError> {
        let body = json!({ "person": person, "start": start, "end": end, "note": note });
        self.call(
            self.http
                .post(self.schedule_url(schedule, &["overrides"]))
                .json(&body),
        )
        .await
    }

    pub async fn remove_override(&self, schedule: &str, id: &str) -> Result<Value, ClientError> {
        self.call(
            self.http
                .delete(self.schedule_url(schedule, &["overrides", id])),
        )
        .await
    }

    /// `/v1/schedules/<schedule>/<rest…>`, each segment escaped.
    fn schedule_url(&self, schedule: &str, rest: &[&str]) -> String {
        let base = self.url("/v1/schedules");
        let Ok(mut url) = Url::parse(&base) else {
            // An unparsable base fails the request with its own error.
            return base;
        };
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(schedule).extend(rest);
        }
        url.into()
    }
}

/// One line for an answer of `GET /v1/schedules/{name}/oncall`: "primary: Alice Example
/// (alice, +15551000001) until 2026-03-09T08:00:00Z; layer weekly, shift 12".
pub fn describe(answer: &Value) -> String {
    let schedule = answer["schedule"].as_str().unwrap_or("?");
    let person = &answer["person"];
    let who = match person["key"].as_str() {
        Some(key) => {
            let phone = person["phone"].as_str().unwrap_or("");
            match person["name"].as_str() {
                Some(name) => format!("{name} ({key}, {phone})"),
                None => format!("{key} ({phone})"),
            }
        }
        None => "nobody".to_owned(),
    };
    let until = answer["until"]
        .as_str()
        .map(|u| format!(" until {u}"))
        .unwrap_or_default();
    let reason = &answer["reason"];
    let why = match reason["kind"].as_str() {
        Some("override") => match reason["note"].as_str() {
            Some(note) => format!("override {} ({note})", reason["id"].as_str().unwrap_or("")),
            None => format!("override {}", reason["id"].as_str().unwrap_or("")),
        },
        Some("layer") => {
            let layer = reason["layer"].as_str().unwrap_or("?");
            match (reason["shift"].as_i64(), reason["event"].as_str()) {
                (Some(n), _) => format!("layer {layer}, shift {n}"),
                (None, Some(event)) => format!("layer {layer}, event {event}"),
                _ => format!("layer {layer}"),
            }
        }
        _ => "no layer or override has anyone".to_owned(),
    };
    format!("{schedule}: {who}{until}; {why}")
}
