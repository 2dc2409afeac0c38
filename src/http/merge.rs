//! Merge.dev webhooks: `POST /webhooks/merge`, and the reference apps' `POST /webhooks/ticket`
//! and `POST /webhooks/crm`.
//!
//! Decide who may send (below), parse the real `{hook, linked_account, data}` envelope, store
//! it as an event (`merge.ticket.changed`, `merge.opportunity.changed`, …; redeliveries dedupe
//! on the verified signature, or the body's hash when unsigned) and answer 200 at once. On the
//! two alias paths a plain body, as the reference apps accepted, is stored too
//! (`ticket.created`, `crm.deal.changed`).
//!
//! Every body here can ring a phone, so the door fails closed:
//! - A Merge envelope with `MERGE_WEBHOOK_SECRET` set needs a valid
//!   `X-Merge-Webhook-Signature` over the raw bytes (401 otherwise), token or not.
//! - A Merge envelope without a secret passes the API's rule ([`auth::authorize`]: the bearer
//!   token, or loopback when no token is set), unless the operator set
//!   `MERGE_ALLOW_UNSIGNED_WEBHOOKS=true`, a risk logged at every start.
//! - A plain body (alias paths only) always passes the API's rule: Merge never sends one, so
//!   neither its signature nor the allow-unsigned switch speaks for it.
//! - A signature that is present but wrong is refused whenever a secret is set.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::auth::{self, PeerIp};
use super::body_limit::read_body;
use super::ingest::{require_json, store_event};
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::intake::Incoming;
use crate::merge::webhook as envelope;
use crate::signing::merge as signature;
use crate::store::Source;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/merge", post(receive_merge))
        .route(
            "/webhooks/ticket",
            post(|s: State<AppState>, p: PeerIp, h: HeaderMap, b: Body| {
                receive(s, Endpoint::Ticket, p, h, b)
            }),
        )
        .route(
            "/webhooks/crm",
            post(|s: State<AppState>, p: PeerIp, h: HeaderMap, b: Body| {
                receive(s, Endpoint::Crm, p, h, b)
            }),
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

#[utoipa::path(post, operation_id = "receive_merge_webhook", path = "/webhooks/merge", tag = "webhooks",
    request_body(content = Object, description = "A Merge webhook {hook, linked_account, data}, signed with X-Merge-Webhook-Signature. With MERGE_WEBHOOK_SECRET set a valid signature is required; without it an unsigned webhook needs the API token (or a loopback client when no token is set), unless MERGE_ALLOW_UNSIGNED_WEBHOOKS=true. /webhooks/ticket and /webhooks/crm also take a plain JSON object, always under the API's rule.", content_type = "application/json"),
    responses((status = 200, description = "Stored, or a redelivery of a stored one", body = Object),
              (status = 400, description = "Not a Merge envelope", body = ErrorBody),
              (status = 401, description = "Missing or wrong signature, or unsigned without the API token", body = ErrorBody),
              (status = 403, description = "Unsigned, no secret and no token configured, and not from loopback", body = ErrorBody),
              (status = 415, description = "Not JSON", body = ErrorBody)))]
async fn receive_merge(
    state: State<AppState>,
    peer: PeerIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    receive(state, Endpoint::Merge, peer, headers, body).await
}

/// Whether the request carried a valid Merge signature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Verified,
    /// No header, or no secret to check one against.
    Absent,
}

async fn receive(
    State(state): State<AppState>,
    endpoint: Endpoint,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let secrets = &settings.merge.webhook_secrets;
    // Without a secret or the allow-unsigned switch, every body needs the API's rule: say
    // so before reading the body.
    if secrets.is_empty() && !settings.merge.allow_unsigned_webhooks {
        auth::authorize(settings, &headers, peer).map_err(unsigned_refused)?;
    }
    require_json(&headers)?;
    let body = read_body(&headers, body, settings.ingest.max_body_bytes).await?;
    let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    let signed = match header {
        Some(header) if !secrets.is_empty() => {
            signature::verify(header, &body, secrets).map_err(|e| {
                ApiError::unauthorized(
                    "invalid_signature",
                    format!("the Merge webhook signature is not valid: {e}"),
                )
            })?;
            Signature::Verified
        }
        _ => Signature::Absent,
    };
    let parsed = envelope::parse(&body);
    match (&parsed, signed) {
        (Ok(_), Signature::Verified) => {}
        (Ok(_), Signature::Absent) if !secrets.is_empty() => {
            return Err(ApiError::unauthorized(
                "missing_signature",
                "X-Merge-Webhook-Signature is required (MERGE_WEBHOOK_SECRET is set)",
            ));
        }
        (Ok(_), Signature::Absent) if settings.merge.allow_unsigned_webhooks => {}
        (Ok(_), Signature::Absent) => {
            auth::authorize(settings, &headers, peer).map_err(unsigned_refused)?
        }
        // A plain body: Merge never sends one, so only the API's rule admits it.
        (Err(_), _) if endpoint != Endpoint::Merge => {
            auth::authorize(settings, &headers, peer).map_err(plain_refused)?
        }
        (Err(_), _) => {}
    }
    // One delivery, however often Merge retries it: the verified signature (canonical
    // form), else the bytes themselves. An unverified header is not trusted as a key.
    let key = header
        .filter(|_| signed == Signature::Verified)
        .and_then(signature::dedupe_key)
        .unwrap_or_else(|| hex::encode(Sha256::digest(&body)));
    let (event_type, payload) = match parsed {
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

/// An unsigned Merge webhook that the API's rule refused: same status (401 with a token
/// configured, 403 without), and a message that says what to set.
fn unsigned_refused(refused: ApiError) -> ApiError {
    ApiError::new(
        refused.status,
        "unsigned_webhook",
        "this webhook is not signed and MERGE_WEBHOOK_SECRET is not set: set MERGE_WEBHOOK_SECRET to Merge's webhook signature key; or send `Authorization: Bearer <KLAXON_API_TOKEN>` (from loopback when no token is set); or, to accept unsigned webhooks from anyone, MERGE_ALLOW_UNSIGNED_WEBHOOKS=true",
    )
}

/// A plain (non-Merge) body on an alias path that the API's rule refused.
fn plain_refused(refused: ApiError) -> ApiError {
    let how = if refused.code == "loopback_only" {
        "set KLAXON_API_TOKEN and send it as `Authorization: Bearer <token>`, or post from this machine"
    } else {
        "send `Authorization: Bearer <KLAXON_API_TOKEN>`"
    };
    ApiError::new(
        refused.status,
        refused.code,
        format!(
            "a plain ticket or deal body (not a signed Merge webhook) needs the API token: {how}"
        ),
    )
}
