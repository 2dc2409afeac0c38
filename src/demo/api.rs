//! What the demo reads from Klaxon: its public HTTP API, as any client would (events,
//! escalations with their timelines, deliveries with their attempts). The demo never looks
//! inside the store, so what it prints is what a user of the API would see.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// Why a request to Klaxon gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach Klaxon at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Klaxon answered {status} to {url}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("Klaxon's answer to {url} is not JSON: {source}")]
    NotJson {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// The running Klaxon, over loopback.
#[derive(Clone)]
pub struct Klaxon {
    base: String,
    http: reqwest::Client,
}

impl Klaxon {
    pub fn new(base: String) -> Result<Klaxon, ApiError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(ApiError::Client)?;
        Ok(Klaxon { base, http })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(self.http.get(self.url(path)), path).await
    }

    /// `POST /v1/events`; returns the stored event's id.
    pub async fn send_event(&self, body: &Value) -> Result<String, ApiError> {
        let path = "/v1/events";
        let answer = self
            .call(self.http.post(self.url(path)).json(body), path)
            .await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }

    async fn call(&self, request: reqwest::RequestBuilder, path: &str) -> Result<Value, ApiError> {
        let url = self.url(path);
        let response = request
            .send()
            .await
            .map_err(|source| ApiError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ApiError::Status { url, status, body });
        }
        response
            .json()
            .await
            .map_err(|source| ApiError::NotJson { url, source })
    }
}

/// Whether an event's pipelines are done, and the first escalation they started (a
/// delivery is looked up by its pipeline: [`delivery_of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routed {
    /// `pipeline_state` is `done`: nothing more will be decided.
    pub done: bool,
    pub escalation: Option<String>,
}

/// Reads [`Routed`] from `GET /v1/events/{id}`.
pub fn routed(event: &Value) -> Routed {
    let destinations = event["pipeline"]["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|run| run["destinations"].as_array().into_iter().flatten());
    let mut routed = Routed {
        done: event["pipeline_state"] == "done",
        ..Routed::default()
    };
    for destination in destinations {
        if routed.escalation.is_none() {
            routed.escalation = destination["escalation_id"].as_str().map(str::to_owned);
        }
    }
    routed
}

/// The run of `pipeline` on an event (`GET /v1/events/{id}`), if it took the event.
pub fn run_of<'a>(event: &'a Value, pipeline: &str) -> Option<&'a Value> {
    event["pipeline"]["runs"]
        .as_array()?
        .iter()
        .find(|run| run["pipeline"] == pipeline)
}

/// The first delivery `pipeline` made for an event.
pub fn delivery_of(event: &Value, pipeline: &str) -> Option<String> {
    run_of(event, pipeline)?["destinations"]
        .as_array()?
        .iter()
        .find_map(|d| d["delivery_id"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_escalation_of_any_run_and_a_pipeline_s_delivery_are_found() {
        let event = json!({
            "pipeline_state": "done",
            "pipeline": {"runs": [
                {"pipeline": "support-escalations", "destinations": [{"name": "log", "chosen": true}]},
                {"pipeline": "tickets", "destinations": [{"name": "voice", "escalation_id": "esc_1"}, {"name": "hook", "delivery_id": "msg_1"}]},
            ]},
        });
        assert_eq!(
            routed(&event),
            Routed {
                done: true,
                escalation: Some("esc_1".into()),
            }
        );
        assert_eq!(
            routed(&json!({"pipeline_state": "pending"})),
            Routed::default()
        );
        assert_eq!(delivery_of(&event, "tickets").as_deref(), Some("msg_1"));
        assert_eq!(delivery_of(&event, "support-escalations"), None);
        assert_eq!(delivery_of(&event, "nowhere"), None);
    }
}
