//! Routing: `/{service}/…` to the simulated service (after playing any scripted failure and
//! before recording the outcome), and the sandbox's own `/_sandbox/…` endpoints for demos
//! and tests:
//!
//! - `GET /_sandbox/messages[?service=slack]`: `{"messages":[{service, endpoint, target, id,
//!   body, received_at}]}`, oldest first.
//! - `GET /_sandbox/requests?service=slack`: `{"service", "count", "requests":[{method,
//!   path, at, at_unix_ms, status, scripted}]}` (`status` is `null` for a dropped
//!   connection; paths have their credential redacted).
//! - `POST /_sandbox/script` `{"service":"slack","times":2,"failure":{"kind":"rate_limit",
//!   "retry_after_ms":1500}}` (kinds: `rate_limit`, `server_error` with `status`, `hang`
//!   with `millis`, `drop`): 204.
//! - `POST /_sandbox/reset`: forgets every message, request and script; 204.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::failure::{self, Api, FailureSpec};
use super::reply::Reply;
use super::serve::Severance;
use super::state::Inner;
use super::{AcceptedMessage, Failure, RecordedRequest, Service};
use super::{discord, notion, slack, telegram};

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sandbox/messages", get(messages))
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/script", post(script))
        .route("/_sandbox/reset", post(reset))
        .fallback(handle)
        .with_state(inner)
}

/// A request to one simulated service, its prefix removed.
pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    /// After `/{service}`, e.g. `/api/chat.postMessage`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Incoming<'_> {
    pub(crate) fn header(&self, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Authorization: Bearer` credential, if any.
    pub(crate) fn bearer(&self) -> Option<&str> {
        self.header(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
    }

    /// Whether the body was declared JSON (`application/json`, any parameters).
    pub(crate) fn is_json(&self) -> bool {
        self.header(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
    }
}

/// What a service decided.
pub(crate) struct Outcome {
    pub reply: Reply,
    pub accepted: Option<Accepted>,
}

impl Outcome {
    pub(crate) fn refused(reply: Reply) -> Outcome {
        Outcome {
            reply,
            accepted: None,
        }
    }
}

/// A message a service accepted; [`handle`] adds the service and the time.
pub(crate) struct Accepted {
    pub endpoint: &'static str,
    pub target: String,
    pub body: Value,
    pub id: String,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    severance: Option<Extension<Severance>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((service, path)) = split_service(uri.path()) else {
        return (
            StatusCode::NOT_FOUND,
            "no such sandbox service: paths start with /slack, /discord, /telegram or /notion",
        )
            .into_response();
    };
    let scripted = inner.arrive(service);
    let request = Received {
        service,
        method,
        path: path.to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        at: SystemTime::now(),
        scripted,
    };
    let reply = match scripted {
        Some(Failure::Drop) => {
            inner.record(request.recorded(None), None);
            if let Some(Extension(severance)) = severance {
                severance.sever();
                // The connection's task drops this future with the connection.
                std::future::pending::<()>().await;
            }
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Failure::RateLimited { retry_after }) => {
            let api = api_of(service, &request.path);
            finish(
                &inner,
                &request,
                Outcome::refused(failure::rate_limited(api, retry_after)),
            )
        }
        Some(Failure::ServerError { status }) => {
            let api = api_of(service, &request.path);
            finish(
                &inner,
                &request,
                Outcome::refused(failure::server_error(api, status)),
            )
        }
        Some(Failure::Hang { duration }) => {
            // In a task of its own, so that a client giving up (and hyper dropping this
            // handler with its connection) does not stop the request from being handled,
            // as it would not stop a slow real service.
            let inner = Arc::clone(&inner);
            let handled = tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(duration) => {}
                    () = inner.stopped() => {}
                }
                let outcome = dispatch(&inner, &request);
                finish(&inner, &request, outcome)
            });
            match handled.await {
                Ok(reply) => reply,
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        None => {
            let outcome = dispatch(&inner, &request);
            finish(&inner, &request, outcome)
        }
    };
    reply.into_response()
}

/// A request to a service, owned, so a scripted hang can finish it in a task of its own.
struct Received {
    service: Service,
    method: Method,
    /// After the service prefix.
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    at: SystemTime,
    scripted: Option<Failure>,
}

impl Received {
    fn incoming(&self) -> Incoming<'_> {
        Incoming {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn recorded(&self, status: Option<u16>) -> RecordedRequest {
        RecordedRequest {
            service: self.service,
            method: self.method.to_string(),
            path: format!(
                "/{}{}",
                self.service.as_str(),
                redacted(self.service, &self.path)
            ),
            at: self.at,
            status,
            scripted: self.scripted,
        }
    }
}

/// Records the outcome (and the accepted message) and returns the reply.
fn finish(inner: &Inner, request: &Received, outcome: Outcome) -> Reply {
    let accepted = outcome.accepted.map(|accepted| AcceptedMessage {
        service: request.service,
        endpoint: accepted.endpoint,
        target: accepted.target,
        body: accepted.body,
        id: accepted.id,
        received_at: request.at,
    });
    inner.record(
        request.recorded(Some(outcome.reply.status.as_u16())),
        accepted,
    );
    outcome.reply
}

fn dispatch(inner: &Inner, request: &Received) -> Outcome {
    let incoming = &request.incoming();
    match request.service {
        Service::Slack => slack::handle(inner, incoming),
        Service::Discord => discord::handle(inner, incoming),
        Service::Telegram => telegram::handle(inner, incoming),
        Service::Notion => notion::handle(inner, incoming),
    }
}

/// `/slack/api/x` → (Slack, `/api/x`).
fn split_service(path: &str) -> Option<(Service, &str)> {
    let rest = path.strip_prefix('/')?;
    let (name, tail) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    Service::parse(name).map(|service| (service, tail))
}

fn api_of(service: Service, path: &str) -> Api {
    match service {
        Service::Slack if path.starts_with("/services/") => Api::SlackHook,
        Service::Slack => Api::SlackWeb,
        Service::Discord => Api::Discord,
        Service::Telegram => Api::Telegram,
        Service::Notion => Api::Notion,
    }
}

/// The path without its credential.
fn redacted(service: Service, path: &str) -> String {
    match service {
        Service::Slack => slack::redacted_path(path),
        Service::Discord => discord::redacted_path(path),
        Service::Telegram => telegram::redacted_path(path),
        Service::Notion => path.to_owned(),
    }
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn unix_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// `?service=` parsed; `Ok(None)` when absent, `Err` with the reason when unknown.
fn service_param(query: &HashMap<String, String>) -> Result<Option<Service>, String> {
    match query.get("service") {
        None => Ok(None),
        Some(name) => Service::parse(name).map(Some).ok_or_else(|| {
            format!("unknown service `{name}`: one of slack, discord, telegram, notion")
        }),
    }
}

async fn messages(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let services = match service_param(&query) {
        Ok(Some(service)) => vec![service],
        Ok(None) => Service::ALL.to_vec(),
        Err(reason) => return bad_request(reason),
    };
    let state = inner.lock();
    let mut listed: Vec<&AcceptedMessage> = services
        .iter()
        .flat_map(|s| state.log(*s).messages.iter())
        .collect();
    listed.sort_by_key(|m| m.received_at);
    let messages: Vec<Value> = listed
        .into_iter()
        .map(|m| {
            json!({
                "service": m.service.as_str(),
                "endpoint": m.endpoint,
                "target": m.target,
                "id": m.id,
                "body": m.body,
                "received_at": rfc3339(m.received_at),
            })
        })
        .collect();
    Json(json!({ "messages": messages })).into_response()
}

async fn requests(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let service = match service_param(&query) {
        Ok(Some(service)) => service,
        Ok(None) => return bad_request("`service` is required"),
        Err(reason) => return bad_request(reason),
    };
    let state = inner.lock();
    let log = state.log(service);
    let requests: Vec<Value> = log
        .requests
        .iter()
        .map(|r| {
            json!({
                "method": r.method,
                "path": r.path,
                "at": rfc3339(r.at),
                "at_unix_ms": unix_ms(r.at),
                "status": r.status,
                "scripted": r.scripted.map(|f| f.kind()),
            })
        })
        .collect();
    Json(json!({
        "service": service.as_str(),
        "count": log.count,
        "requests": requests,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptRequest {
    service: String,
    #[serde(default = "once")]
    times: usize,
    failure: FailureSpec,
}

fn once() -> usize {
    1
}

async fn script(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let request: ScriptRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("not a script: {error}")),
    };
    let Some(service) = Service::parse(&request.service) else {
        return bad_request(format!("unknown service `{}`", request.service));
    };
    let failure = Failure::from(request.failure);
    if let Err(error) = failure.check() {
        return bad_request(error.to_string());
    }
    inner.script(service, failure, request.times);
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(inner): State<Arc<Inner>>) -> StatusCode {
    inner.reset();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_found_by_their_prefix() {
        assert_eq!(
            split_service("/slack/api/chat.postMessage"),
            Some((Service::Slack, "/api/chat.postMessage"))
        );
        assert_eq!(split_service("/notion"), Some((Service::Notion, "")));
        assert_eq!(split_service("/teams/x"), None);
        assert_eq!(api_of(Service::Slack, "/services/T/B/X"), Api::SlackHook);
    }
}
