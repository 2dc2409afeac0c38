//! The alert sources' doors (`[[alert_sources]]`, see [`crate::ingress::alerts`]):
//!
//! - `POST /webhooks/alerts/{source}` with `Authorization: Bearer <integration key>`, or
//!   `POST /webhooks/alerts/{source}/{key}` for senders that cannot set a header: an
//!   Alertmanager or Grafana notification (or a PagerDuty event, for a `pagerduty` source).
//! - `POST /v2/enqueue` (alias `/v2/events`): PagerDuty Events API v2; the body's
//!   `routing_key` is the integration key and names the source. Answers are PagerDuty's.
//!
//! Keys are compared in constant time. An unknown source is 404, a missing or wrong key 401,
//! a body that is not a notification 400; none of them changes anything. A notification is
//! answered only once its alerts are committed.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use super::body_limit::read_body;
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::ingress::alerts::{
    self, AlertKind, AlertSource, Malformed, accept, alertmanager, grafana, pagerduty,
};
use crate::store::{EventId, Noted};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/alerts/{source}", post(receive))
        .route("/webhooks/alerts/{source}/{key}", post(receive_keyed))
        .route("/v2/enqueue", post(enqueue))
        .route("/v2/events", post(enqueue))
}

/// What became of a notification's alerts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Received {
    pub alerts: Vec<ReceivedAlert>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReceivedAlert {
    /// `<source>:<fingerprint or dedup_key>`.
    pub dedup_key: String,
    /// `opened` (rings), `repeated`, `acknowledged`, `resolved`, or `dropped` (nothing open).
    pub outcome: &'static str,
    /// The event stored now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub event_id: Option<EventId>,
}

#[utoipa::path(post, operation_id = "receive_alerts", path = "/webhooks/alerts/{source}", tag = "webhooks",
    params(("source" = String, Path, description = "The alert source's name ([[alert_sources]])")),
    request_body(content = Object, description = "An Alertmanager (webhook version 4) or Grafana notification, or a PagerDuty Events v2 event, as the source's kind says; `Authorization: Bearer <integration key>`", content_type = "application/json"),
    responses((status = 200, description = "Committed; what became of each alert", body = Received),
              (status = 400, description = "Not a notification of the source's kind", body = ErrorBody),
              (status = 401, description = "Missing or wrong integration key", body = ErrorBody),
              (status = 404, description = "No alert source of that name", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = bearer(&headers).map(str::to_owned);
    door(state, source, key, headers, body).await
}

#[utoipa::path(post, operation_id = "receive_alerts_keyed", path = "/webhooks/alerts/{source}/{key}", tag = "webhooks",
    params(("source" = String, Path, description = "The alert source's name"),
           ("key" = String, Path, description = "The source's integration key")),
    request_body(content = Object, description = "As `POST /webhooks/alerts/{source}`, the key in the path instead of a header", content_type = "application/json"),
    responses((status = 200, description = "Committed; what became of each alert", body = Received),
              (status = 400, description = "Not a notification of the source's kind", body = ErrorBody),
              (status = 401, description = "Wrong integration key", body = ErrorBody),
              (status = 404, description = "No alert source of that name", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody)))]
async fn receive_keyed(
    State(state): State<AppState>,
    Path((source, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    door(state, source, Some(key), headers, body).await
}

async fn door(
    state: AppState,
    name: String,
    key: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    let Some(source) = state.settings.alert_sources.iter().find(|s| s.name == name) else {
        return Err(ApiError::not_found(format!(
            "no alert source is named {name:?}"
        )));
    };
    let Some(key) = key else {
        return Err(ApiError::unauthorized(
            "missing_integration_key",
            "send the integration key as `Authorization: Bearer <key>` or in the path",
        ));
    };
    if !source.key.matches(&key) {
        return Err(wrong_key(source));
    }
    let parsed = match source.kind {
        AlertKind::Alertmanager => alertmanager::parse(&body),
        AlertKind::Grafana => grafana::parse(&body),
        AlertKind::PagerDuty => return Ok(pagerduty_event(&state, Some(source), &body).await),
    };
    let alerts = parsed.map_err(|Malformed(why)| {
        ApiError::bad_request(
            "invalid_alert",
            format!("not a {} notification: {why}", source.kind.as_str()),
        )
    })?;
    let accepted = accept(&state.store, &state.intake, &state.alerts, source, alerts)
        .await
        .map_err(|alerts::AcceptError::Store(e)| ApiError::from(e))?;
    let received = Received {
        alerts: accepted
            .alerts
            .into_iter()
            .map(|a| ReceivedAlert {
                dedup_key: a.dedup_key,
                outcome: outcome(a.noted),
                event_id: a.event,
            })
            .collect(),
    };
    Ok((StatusCode::OK, axum::Json(received)).into_response())
}

#[utoipa::path(post, operation_id = "pagerduty_enqueue", path = "/v2/enqueue", tag = "webhooks",
    request_body(content = Object, description = "A PagerDuty Events API v2 event: routing_key (a pagerduty source's integration key), event_action trigger|acknowledge|resolve, dedup_key, payload {summary, source, severity, …}", content_type = "application/json"),
    responses((status = 202, description = "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":…}", body = Object),
              (status = 400, description = "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[…]}", body = Object),
              (status = 401, description = "No pagerduty source has this routing key", body = Object),
              (status = 413, description = "Body too large", body = ErrorBody)))]
async fn enqueue(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(&headers, body, state.settings.ingest.max_body_bytes).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    pagerduty_event(&state, None, &body).await
}

/// Handles a PagerDuty event, for `source` when the door already knows it (and checked its
/// key), else for the source whose key is the body's `routing_key`. Answers as PagerDuty.
async fn pagerduty_event(state: &AppState, source: Option<&AlertSource>, body: &Bytes) -> Response {
    let event = match pagerduty::parse(body) {
        Ok(event) => event,
        Err(invalid) => return invalid_event(StatusCode::BAD_REQUEST, "invalid_event", invalid),
    };
    let source = match source {
        Some(source) => source,
        None => {
            // Every key is compared, so the time taken does not say which source matched.
            let mut found = None;
            for candidate in &state.settings.alert_sources {
                if candidate.kind == AlertKind::PagerDuty
                    && candidate.key.matches(&event.routing_key)
                    && found.is_none()
                {
                    found = Some(candidate);
                }
            }
            match found {
                Some(source) => source,
                None => {
                    return invalid_event(
                        StatusCode::UNAUTHORIZED,
                        "invalid_integration_key",
                        pagerduty::Invalid::new(vec!["Invalid routing key".into()]),
                    );
                }
            }
        }
    };
    let key = event.alert.key.clone();
    match accept(
        &state.store,
        &state.intake,
        &state.alerts,
        source,
        vec![event.alert],
    )
    .await
    {
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(pagerduty::Processed::new(&key)),
        )
            .into_response(),
        Err(alerts::AcceptError::Store(error)) => ApiError::from(error).into_response(),
    }
}

/// PagerDuty's refusal, with Klaxon's `error` object beside it for clients of Klaxon's API.
fn invalid_event(status: StatusCode, code: &'static str, invalid: pagerduty::Invalid) -> Response {
    let message = invalid.errors.join("; ");
    let mut body = json!(invalid);
    body["error"] = json!({"code": code, "message": message});
    (status, axum::Json(body)).into_response()
}

fn wrong_key(source: &AlertSource) -> ApiError {
    ApiError::unauthorized(
        "invalid_integration_key",
        format!(
            "that is not the integration key of alert source {:?}",
            source.name
        ),
    )
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn outcome(noted: Noted) -> &'static str {
    match noted {
        Noted::Opened { .. } => "opened",
        Noted::Repeated { .. } => "repeated",
        Noted::Acknowledged { .. } => "acknowledged",
        Noted::Resolved { .. } => "resolved",
        Noted::Dropped => "dropped",
    }
}
