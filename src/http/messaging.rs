//! `POST /webhooks/messaging`: Telnyx message events (docs/sms.md §3).
//!
//! Verified exactly like call webhooks: Ed25519 over the raw bytes with the same keys, fail
//! closed (with keys or an account configured, a missing or wrong signature is 401 and changes
//! nothing). Then, in one transaction with the event's id (a redelivery is answered 200 and
//! changes nothing):
//!
//! - `message.sent`, `message.finalized`: the text's status, and a line on its escalation's
//!   timeline ("text delivered", "text not delivered: …").
//! - `message.received`: a reply. From a number Klaxon texted for an open escalation, "1" or
//!   "ack" (or the text's code) acknowledges it: the line is written, then the engine settles
//!   the escalation in the background, hanging up any call still ringing. Any other reply is
//!   only a line on the open escalations' timelines. A number with nothing open changes
//!   nothing.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::body_limit::read_body;
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::store::{EscalationId, Receipt, TimelineEntry};
use crate::voice::sms::events::{self, MessageEventKind};
use crate::voice::sms::reply::{self, Decision};
use crate::voice::timeline;

/// The most of a reply's words kept on a timeline.
const MAX_REPLY_CHARS: usize = 160;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/messaging", post(receive))
}

#[utoipa::path(post, operation_id = "receive_message_webhook", path = "/webhooks/messaging", tag = "webhooks",
    request_body(content = Object, description = "A Telnyx Messaging webhook (message.received, message.sent, message.finalized), signed with Ed25519 (telnyx-signature-ed25519, telnyx-timestamp)", content_type = "application/json"),
    responses((status = 200, description = "Recorded (or a redelivery, ignored)", body = Object),
              (status = 400, description = "Not a Telnyx message event", body = ErrorBody),
              (status = 401, description = "Missing or wrong signature", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody)))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    super::voice::verify_signature(&state, &headers, &body)?;
    let event = events::parse(&body)
        .map_err(|e| ApiError::bad_request("invalid_webhook", e.to_string()))?;
    let store = &state.store;
    let answer = |duplicate: bool| {
        Ok((
            StatusCode::OK,
            axum::Json(json!({ "duplicate": duplicate })),
        ))
    };
    match event.kind {
        MessageEventKind::Receipt {
            event_type,
            message_id,
            status,
            errors,
        } => {
            let line = receipt_line(&event_type, &message_id, &status, &errors);
            let recorded = store
                .record_text_receipt(event.id, message_id, status, line)
                .await?;
            answer(recorded == Receipt::Duplicate)
        }
        MessageEventKind::Received { from, text } => {
            let open = store.open_texts_to(from.clone()).await?;
            let decision = reply::decide(&text, &open);
            let lines = reply_lines(&decision, &from, &text);
            if !store.record_text_reply(event.id, lines).await? {
                return answer(true);
            }
            if let Decision::Acknowledge(id) = decision {
                let engine = state.voice.clone();
                tokio::spawn(async move { engine.acknowledge_by_text(id, from).await });
            }
            answer(false)
        }
        MessageEventKind::Other { event_type } => {
            tracing::debug!(%event_type, "message webhook of a type Klaxon does not use");
            answer(false)
        }
    }
}

/// "text sent", "text delivered", "text not delivered (delivery_failed): …".
fn receipt_line(
    event_type: &str,
    message_id: &str,
    status: &str,
    errors: &[String],
) -> TimelineEntry {
    let words = match status {
        "queued" | "sending" => "text queued at the carrier".to_owned(),
        "sent" => "text sent by the carrier".to_owned(),
        "delivered" => "text delivered".to_owned(),
        "delivery_unconfirmed" => "text sent; delivery not confirmed".to_owned(),
        failed => match errors.first() {
            Some(error) => format!("text not delivered ({failed}): {error}"),
            None => format!("text not delivered ({failed})"),
        },
    };
    timeline::entry(
        "webhook",
        json!({
            "event": words,
            "webhook": event_type,
            "message_id": message_id,
            "status": status,
        }),
    )
}

/// What a reply writes on the timelines it concerns.
fn reply_lines(decision: &Decision, from: &str, text: &str) -> Vec<(EscalationId, TimelineEntry)> {
    let said: String = text.chars().take(MAX_REPLY_CHARS).collect();
    match decision {
        Decision::NotOurs => Vec::new(),
        Decision::Acknowledge(id) => vec![(
            *id,
            timeline::entry(
                "webhook",
                json!({ "event": "acknowledged by text", "from": from, "said": said }),
            ),
        )],
        Decision::Note { escalations, why } => escalations
            .iter()
            .map(|id| {
                let detail = json!({
                    "event": format!("text reply; not acknowledged: {why}"),
                    "from": from,
                    "said": said,
                });
                (*id, timeline::entry("webhook", detail))
            })
            .collect(),
    }
}
