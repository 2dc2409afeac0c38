//! Merge.dev webhooks: `POST /webhooks/merge`, and the reference apps' `POST /webhooks/ticket`
//! and `POST /webhooks/crm`.
//!
//! Verify `X-Merge-Webhook-Signature` over the raw bytes (fail closed once
//! `MERGE_WEBHOOK_SECRET` is set), parse the real `{hook, linked_account, data}` envelope,
//! store it as an event (`merge.ticket.changed`, `merge.opportunity.changed`, …; redeliveries
//! dedupe on the signature, or the body's hash when unsigned) and answer 200 at once. On the
//! two alias paths a plain body, as the reference apps accepted, is stored too
//! (`ticket.created`, `crm.deal.changed`).

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::body_limit::read_body;
use super::ingest::{Incoming, require_json, store_event};
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::merge::webhook as envelope;
use crate::signing::merge as signature;
use crate::store::Source;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/merge", post(receive_merge))
        .route(
            "/webhooks/ticket",
            post(|s: State<AppState>, h: HeaderMap, b: Body| receive(s, Endpoint::Ticket, h, b)),
        )
        .route(
            "/webhooks/crm",
            post(|s: State<AppState>, h: HeaderMap, b: Body| receive(s, Endpoint::Crm, h, b)),
        )
}

/// Which path the webhook came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Merge,
    /// The ticket escalation reference app's path.
    Ticket,
    /// The deal desk reference app's path.
    Crm,
}

#[utoipa::path(post, path = "/webhooks/merge", tag = "webhooks",
    request_body(content = Object, description = "A Merge webhook {hook, linked_account, data}, signed with X-Merge-Webhook-Signature", content_type = "application/json"),
    responses((status = 200, description = "Stored, or a redelivery of a stored one", body = Object),
              (status = 400, description = "Not a Merge envelope", body = ErrorBody),
              (status = 401, description = "Missing or wrong signature", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody)))]
async fn receive_merge(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(state, Endpoint::Merge, headers, body).await
}

async fn receive(
    State(state): State<AppState>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    let signed = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    let secrets = &state.settings.merge.webhook_secrets;
    if !secrets.is_empty() {
        let Some(header) = signed else {
            return Err(ApiError::unauthorized(
                "missing_signature",
                "X-Merge-Webhook-Signature is required",
            ));
        };
        signature::verify(header, &body, secrets).map_err(|e| {
            ApiError::unauthorized(
                "invalid_signature",
                format!("the Merge webhook signature is not valid: {e}"),
            )
        })?;
    }
    // One delivery, however often Merge retries it: the signature (canonical form), else
    // the bytes themselves.
    let key = signed
        .and_then(signature::dedupe_key)
        .unwrap_or_else(|| hex::encode(Sha256::digest(&body)));
    let (event_type, payload) = match envelope::parse(&body) {
        Ok(event) => {
            let mut payload = match event.data.clone() {
                Value::Object(map) => map,
                other => Map::from_iter([("data".to_owned(), other)]),
            };
            payload.insert("linked_account_id".into(), json!(event.linked_account_id));
            if let Some(integration) = &event.integration {
                payload.insert("integration".into(), json!(integration));
            }
            payload.insert("merge_event".into(), json!(event.event));
            (event.event_type(), Value::Object(payload))
        }
        Err(error) => match endpoint {
            // The reference apps took a plain ticket or deal body on these paths.
            Endpoint::Ticket | Endpoint::Crm => {
                let plain: Value = serde_json::from_slice(&body).map_err(|_| {
                    ApiError::bad_request("malformed_json", "the body is not valid JSON")
                })?;
                if !plain.is_object() {
                    return Err(ApiError::unprocessable(
                        "invalid_webhook",
                        "expected a JSON object: a Merge envelope or a plain ticket or deal",
                    ));
                }
                let event_type = if endpoint == Endpoint::Ticket {
                    "ticket.created"
                } else {
                    "crm.deal.changed"
                };
                (event_type.to_owned(), plain)
            }
            Endpoint::Merge => {
                return Err(ApiError::bad_request(
                    "invalid_merge_webhook",
                    format!("not a Merge webhook envelope {{hook, linked_account, data}}: {error}"),
                ));
            }
        },
    };
    let (id, duplicate) = store_event(
        &state,
        Incoming {
            source: Source::Merge,
            request_hash: hex::encode(Sha256::digest(&body)),
            payload: payload.to_string(),
            occurred_at: None,
            event_type,
            idempotency_key: Some(key),
        },
    )
    .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "id": id, "duplicate": duplicate })),
    )
        .into_response())
}
