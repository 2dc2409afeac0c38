//! The reference apps' endpoints, kept so their users can switch without changing scripts:
//! `POST /escalate` and `POST /alert` (manual triggers; unlike the reference apps they need
//! the API token, or loopback when none is set, since they place phone calls), and
//! `GET /tickets`, `GET /deals`, `GET /alerts` (what Klaxon has seen).

use super::openapi::ErrorBody;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::Authorized;
use super::ingest::{Incoming, read_body, require_json, store_event};
use super::{ApiError, AppState};
use crate::store::{EventQuery, Source};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/escalate", post(escalate))
        .route("/alert", post(alert))
        .route("/tickets", get(tickets))
        .route("/deals", get(deals))
        .route("/alerts", get(alerts))
}

/// `{subject, description, …}` → a `ticket.escalate` event (the built-in `ticket-escalation`
/// pipeline rings the `oncall` policy).
#[utoipa::path(post, path = "/escalate", tag = "reference", request_body(content = Object, description = "{subject, description, customer_phone?}", content_type = "application/json"), responses((status = 202, description = "Stored as ticket.escalate", body = Object), (status = 422, description = "subject missing", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn escalate(
    auth: Authorized,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    trigger(
        auth,
        state,
        headers,
        body,
        "ticket.escalate",
        &["subject", "description"],
    )
    .await
}

/// `{deal_name, amount, stage, …}` → a `deal.alert` event (the built-in `deal-desk` pipeline
/// rings the `vp_sales` policy).
#[utoipa::path(post, path = "/alert", tag = "reference", request_body(content = Object, description = "{deal_name, amount, stage, owner_phone?}", content_type = "application/json"), responses((status = 202, description = "Stored as deal.alert", body = Object), (status = 422, description = "deal_name missing", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn alert(
    auth: Authorized,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    trigger(auth, state, headers, body, "deal.alert", &["deal_name"]).await
}

async fn trigger(
    _: Authorized,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    event_type: &str,
    required: &[&str],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_json(&headers)?;
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the body is not valid JSON"))?;
    let Some(fields) = payload.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid_payload",
            "expected a JSON object",
        ));
    };
    if let Some(missing) = required
        .iter()
        .find(|f| !fields.get(**f).is_some_and(Value::is_string))
    {
        return Err(ApiError::unprocessable(
            "missing_field",
            format!("`{missing}` is required and must be a string"),
        ));
    }
    let (id, _) = store_event(
        &state,
        Incoming {
            source: Source::Api,
            event_type: event_type.to_owned(),
            request_hash: hex::encode(Sha256::digest(&body)),
            payload: payload.to_string(),
            occurred_at: None,
            // Each call is a new alert: the reference apps had no idempotency.
            idempotency_key: None,
        },
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "ok", "event_id": id })),
    ))
}

async fn recent_of(state: &AppState, types: &[&str]) -> Result<Vec<Value>, ApiError> {
    let mut all = Vec::new();
    for event_type in types {
        let page = state
            .store
            .list_events(EventQuery {
                event_type: Some((*event_type).to_owned()),
                after: None,
                limit: 50,
            })
            .await?;
        all.extend(page.data.into_iter().map(|e| {
            json!({ "id": e.id, "type": e.event_type, "received_at": e.received_at, "data": e.payload })
        }));
    }
    all.sort_by(|a, b| b["received_at"].as_str().cmp(&a["received_at"].as_str()));
    all.truncate(50);
    Ok(all)
}

#[utoipa::path(get, path = "/tickets", tag = "reference", responses((status = 200, description = "Recent tickets", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn tickets(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tickets = recent_of(
        &state,
        &[
            "ticket.escalate",
            "ticket.created",
            "merge.ticket.added",
            "merge.ticket.changed",
        ],
    )
    .await?;
    Ok(Json(
        json!({ "status": "ok", "service": "klaxon", "tickets": tickets }),
    ))
}

#[utoipa::path(get, path = "/deals", tag = "reference", responses((status = 200, description = "Recent deals", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn deals(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let deals = recent_of(
        &state,
        &[
            "deal.alert",
            "crm.deal.changed",
            "merge.opportunity.added",
            "merge.opportunity.changed",
        ],
    )
    .await?;
    Ok(Json(
        json!({ "status": "ok", "service": "klaxon", "deals": deals }),
    ))
}

/// Escalations of the deal desk (policy `vp_sales`), newest first.
#[utoipa::path(get, path = "/alerts", tag = "reference", responses((status = 200, description = "Deal-desk escalations", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn alerts(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let page = state.store.list_escalations(None, None, 200).await?;
    let alerts: Vec<_> = page
        .data
        .into_iter()
        .filter(|e| e.policy == "vp_sales")
        .take(50)
        .collect();
    Ok(Json(
        json!({ "status": "ok", "service": "klaxon", "alerts": alerts }),
    ))
}
