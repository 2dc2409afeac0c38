//! `POST /v1/events`: durable ingest.
//!
//! The order of checks is deliberate: a declared size over the limit (refused for every route
//! before routing, see `body_limit`), who is calling (cheap, before reading a body), content
//! type, size, signature over the raw bytes, JSON, validation, and only then the store. The
//! answer is sent after the store has committed the event (or found its earlier copy), so a
//! 202 is a promise that the event survives a crash.
//!
//! A signed request without an idempotency key (no `Idempotency-Key`, `idempotency_key` or
//! flat `id`) gets one derived from what was signed, `sig:<t>:<sha256 of the body>`: the same
//! signed bytes replayed within the tolerance window are the same event, answered `200
//! duplicate` and run once, across restarts too, since the key is in the events table's
//! unique (source, key) index. The price: two identical bodies signed in the same second are
//! one event; a sender that means two gives them ids.

use super::openapi::ErrorBody;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::auth::{self, PeerIp};
use super::body_limit::read_body;
use super::event_request::{EventEnvelope, EventRequest};
use super::{ApiError, AppState};
use crate::clock;
use crate::intake::Incoming;
use crate::store::{EventId, Inserted, Source};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", post(ingest))
}

/// The answer to an ingest: the event's id, and whether it repeats an earlier one.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Accepted {
    /// The stored event's id (the earlier event's, for a duplicate).
    #[schema(value_type = String)]
    id: EventId,
    /// `true` when the idempotency key was seen before with the same body: nothing new was
    /// stored.
    duplicate: bool,
}

#[utoipa::path(post, path = "/v1/events", tag = "events", request_body(content = EventEnvelope, description = "The event; the Idempotency-Key header also works, and a flat event {id, type, …fields} (id = the key, the rest the payload) as signing producers send it. A request signed with X-Klaxon-Signature and no key is keyed by what was signed (sig:<t>:<sha256 of the body>), so a replay of the same signed bytes is a duplicate; two identical bodies signed in the same second are one event unless they carry an id.", content_type = "application/json"), responses((status = 202, description = "Stored (durable)", body = Accepted), (status = 200, description = "A duplicate of an earlier event: nothing stored", body = Accepted), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 409, description = "Idempotency key reused with another body", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody), (status = 422, description = "Invalid event", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn ingest(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let signature = auth::signature_header(&headers)?;
    if signature.is_none() {
        auth::authorize(settings, &headers, peer)?;
    }
    require_json(&headers)?;
    let body = read_body(&headers, body, settings.ingest.max_body_bytes).await?;
    let signed_at = signature
        .map(|signature| auth::verify_signature(settings, signature, &body, clock::now_secs()))
        .transpose()?;

    let header_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::unprocessable(
                    "invalid_idempotency_key",
                    "the Idempotency-Key header is not ASCII",
                )
            })
        })
        .transpose()?;
    let mut request = EventRequest::parse(&body, header_key)?;
    let source = match signed_at {
        Some(t) => {
            request
                .idempotency_key
                .get_or_insert_with(|| replay_key(t, &body));
            Source::SignedIngest
        }
        None => Source::Api,
    };

    let (id, duplicate) = store_event(
        &state,
        Incoming {
            source,
            request_hash: request.canonical_hash(),
            payload: request.payload.to_string(),
            occurred_at: request.occurred_at,
            event_type: request.event_type,
            idempotency_key: request.idempotency_key,
        },
    )
    .await?;
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, axum::Json(Accepted { id, duplicate })).into_response())
}

/// The idempotency key of a signed request that names none: what was signed, so a replay of
/// the same bytes is the same event. At most 4 + 19 + 1 + 64 bytes, within `MAX_KEY_LEN`.
fn replay_key(signed_at: i64, body: &[u8]) -> String {
    format!("sig:{signed_at}:{}", hex::encode(Sha256::digest(body)))
}

/// Stores an event through the intake. Returns its id and whether it was a repeat of an
/// earlier one; a key reused for a different event is `409 idempotency_conflict`.
pub(super) async fn store_event(
    state: &AppState,
    incoming: Incoming,
) -> Result<(EventId, bool), ApiError> {
    match state.intake.accept(incoming).await? {
        Inserted::Created(id) => Ok((id, false)),
        Inserted::Duplicate(id) => Ok((id, true)),
        Inserted::Conflict(id) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            format!("idempotency key already used for event {id} with a different body"),
        )),
    }
}

pub(super) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected `Content-Type: application/json`, got {content_type:?}"),
        ))
    }
}
