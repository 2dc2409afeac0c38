//! A small client for a running Klaxon, behind `klaxon events …`, `klaxon dlq …` and
//! `klaxon oncall …` (in `schedules.rs`).
//!
//! It speaks the public HTTP API only, so it doubles as a usage example of that API.

mod schedules;

pub use schedules::describe as describe_on_call;

use reqwest::StatusCode;
use serde_json::Value;

/// The default server address, matching `klaxon serve`'s defaults.
pub const DEFAULT_URL: &str = "http://127.0.0.1:5000";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach Klaxon at {url}: {source} (is `klaxon serve` running?)")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Klaxon answered {status}: {code}: {message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("Klaxon answered {status} with a body that is not Klaxon JSON")]
    UnexpectedBody { status: StatusCode },
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// Sends an event; returns the server's answer (`{"id", "duplicate"}`).
    pub async fn send_event(
        &self,
        event_type: &str,
        payload: Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut body = serde_json::json!({"type": event_type, "payload": payload});
        if let Some(key) = idempotency_key {
            body["idempotency_key"] = Value::from(key);
        }
        self.call(self.http.post(self.url("/v1/events")).json(&body))
            .await
    }

    /// One page of events, newest first.
    pub async fn list_events(
        &self,
        event_type: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Value, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(event_type.map(|t| ("type", t.to_owned())));
        query.extend(after.map(|a| ("after", a.to_owned())));
        self.call(self.http.get(self.url("/v1/events")).query(&query))
            .await
    }

    pub async fn get_event(&self, id: &str) -> Result<Value, ClientError> {
        self.call(self.http.get(self.url(&format!("/v1/events/{id}"))))
            .await
    }

    /// One page of deliveries, newest first; `state: Some("dead")` is the dead letter queue.
    pub async fn list_deliveries(
        &self,
        state: Option<&str>,
        destination: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Value, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(state.map(|s| ("state", s.to_owned())));
        query.extend(destination.map(|d| ("destination", d.to_owned())));
        query.extend(after.map(|a| ("after", a.to_owned())));
        self.call(self.http.get(self.url("/v1/deliveries")).query(&query))
            .await
    }

    /// Queues a dead delivery again.
    pub async fn replay_delivery(&self, id: &str) -> Result<Value, ClientError> {
        self.call(
            self.http
                .post(self.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let unreachable = |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|_| ClientError::UnexpectedBody { status })?;
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        match (error["code"].as_str(), error["message"].as_str()) {
            (Some(code), Some(message)) => Err(ClientError::Api {
                status,
                code: code.to_owned(),
                message: message.to_owned(),
            }),
            _ => Err(ClientError::UnexpectedBody { status }),
        }
    }
}
