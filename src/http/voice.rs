//! `POST /webhooks/voice` (alias `/webhooks/telnyx`): Telnyx call events.
//!
//! Verify the Ed25519 signature over the raw bytes (fail closed: with keys configured, a
//! missing or wrong signature is 401 and changes nothing), parse, record the event id (a
//! redelivery is answered 200 and ignored), answer 200, and let the engine act on it in the
//! background: a person on the phone must never wait for this request.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;

use super::body_limit::read_body;
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::clock;
use crate::signing::telnyx as signature;
use crate::voice::telnyx::events;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/voice", post(receive))
        .route("/webhooks/telnyx", post(receive))
}

#[utoipa::path(post, operation_id = "receive_call_webhook", path = "/webhooks/voice", tag = "webhooks",
    request_body(content = Object, description = "A Telnyx Call Control webhook, signed with Ed25519 (telnyx-signature-ed25519, telnyx-timestamp)", content_type = "application/json"),
    responses((status = 200, description = "Recorded (or a redelivery, ignored)", body = Object),
              (status = 400, description = "Not a Telnyx event", body = ErrorBody),
              (status = 401, description = "Missing or wrong signature", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), ApiError> {
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    verify_signature(&state, &headers, &body)?;
    let event = events::parse(&body).map_err(|e| {
        ApiError::bad_request("invalid_webhook", format!("not a Telnyx call event: {e}"))
    })?;
    // The body is kept until the engine has acted on it, so a crash after this 200 loses
    // nothing: the next start replays it (on PostgreSQL, another node does, one lease later).
    let text = String::from_utf8_lossy(&body).into_owned();
    if !state
        .store
        .first_sight_of_webhook(event.id.clone(), text)
        .await?
    {
        return Ok((StatusCode::OK, axum::Json(json!({ "duplicate": true }))));
    }
    let engine = state.voice.clone();
    tokio::spawn(async move { engine.on_call_event(event).await });
    Ok((StatusCode::OK, axum::Json(json!({ "duplicate": false }))))
}

/// Telnyx's Ed25519 webhook check (docs/telnyx.md §5), shared by call and messaging
/// webhooks: with public keys or an account configured, fail closed.
pub(super) fn verify_signature(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let keys = &state.settings.voice.public_keys;
    if keys.is_empty() && state.settings.voice.telnyx.is_none() {
        return Ok(());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(sig), Some(timestamp)) = (
        header(signature::SIGNATURE_HEADER),
        header(signature::TIMESTAMP_HEADER),
    ) else {
        return Err(ApiError::unauthorized(
            "missing_signature",
            "telnyx-signature-ed25519 and telnyx-timestamp are required",
        ));
    };
    signature::verify(sig, timestamp, body, keys, clock::now_secs()).map_err(|e| {
        ApiError::unauthorized(
            "invalid_signature",
            format!("the webhook signature is not valid: {e}"),
        )
    })
}
