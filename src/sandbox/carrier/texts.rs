//! The carrier's messaging: `POST /v2/messages`, the delivery receipts it sends back, and
//! the people who reply (docs/sms.md §4).
//!
//! A text accepted here gets `message.sent` (recipient status `sent`), then
//! `message.finalized` (`delivered`; `delivery_failed` for a number ending in 5, the busy
//! line of the default plan), each after [`Timing::response`](super::Timing::response),
//! signed and POSTed to the message's `webhook_url` (else the messaging profile's,
//! [`CarrierConfig::messaging_webhook_url`](super::CarrierConfig::messaging_webhook_url)).
//! Then, as people do, a number ending in 2 (the acknowledger of the default plan) replies
//! "ack". Any number can be made to reply with [`super::SandboxCarrier::text_from`]: a
//! `message.received` goes to the profile's webhook URL, else to where the last text asked
//! for receipts. Bodies carry only the fields of the official schemas
//! (`OutboundMessageEvent`, `InboundMessageEvent`).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};
use uuid::Uuid;

use super::Delivery;
use super::rejection::Rejection;
use super::state::{Inner, State};
use super::validate::{self, OutgoingText};
use super::webhooks::{Outgoing, deliver};
use crate::clock;

/// The reply a number ending in 2 sends to every text.
pub const ACKNOWLEDGER_REPLY: &str = "ack";

/// A text the carrier accepted, as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSnapshot {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    /// `queued`, then `sent`, then `delivered` or `delivery_failed`.
    pub status: String,
    pub webhook_url: Option<String>,
    pub sent_at: SystemTime,
}

/// `POST /v2/messages`, decided under the state lock: validated, recorded, its receipts
/// scheduled. Answers `{"data": OutboundMessagePayload}`.
pub(crate) fn send(
    inner: &Arc<Inner>,
    state: &mut State,
    body: &Value,
) -> Result<Value, Rejection> {
    let request = validate::message(body)?;
    let id = Uuid::now_v7().to_string();
    let from = request
        .from
        .clone()
        .unwrap_or_else(|| "+15550199999".to_owned());
    let snapshot = TextSnapshot {
        id: id.clone(),
        from: from.clone(),
        to: request.to.clone(),
        text: request.text.clone(),
        status: "queued".into(),
        webhook_url: request
            .webhook_url
            .clone()
            .or_else(|| inner.settings.messaging_webhook_url.clone()),
        sent_at: SystemTime::now(),
    };
    let data = outbound_payload(&snapshot, &request);
    state.texts.push(snapshot.clone());
    let task = tokio::spawn(receipts(Arc::clone(inner), snapshot, request));
    state.keep_task(task.abort_handle());
    Ok(json!({ "data": data }))
}

/// `OutboundMessagePayload` for a text whose recipient is at `snapshot.status`.
fn outbound_payload(snapshot: &TextSnapshot, request: &OutgoingText) -> Value {
    let now = clock::format_rfc3339(snapshot.sent_at.into());
    let failed = snapshot.status == "delivery_failed";
    let mut payload = json!({
        "record_type": "message",
        "direction": "outbound",
        "id": snapshot.id,
        "type": "SMS",
        "from": { "phone_number": snapshot.from, "carrier": "Telnyx", "line_type": "VoIP" },
        "to": [{
            "phone_number": snapshot.to,
            "status": snapshot.status,
            "carrier": "Sandbox Mobile",
            "line_type": "Wireless",
        }],
        "text": snapshot.text,
        "encoding": "GSM-7",
        "parts": parts(&snapshot.text),
        "cc": [],
        "media": [],
        "tags": [],
        "errors": if failed {
            json!([{ "code": "40300", "title": "Delivery failed: the handset is unreachable" }])
        } else {
            json!([])
        },
        "received_at": now,
        "sent_at": if snapshot.status == "queued" { Value::Null } else { json!(now) },
        "completed_at": if matches!(snapshot.status.as_str(), "delivered" | "delivery_failed") {
            json!(clock::now_rfc3339())
        } else {
            Value::Null
        },
        "valid_until": Value::Null,
    });
    if let Some(profile) = &request.messaging_profile_id {
        payload["messaging_profile_id"] = json!(profile);
    }
    if let Some(url) = &snapshot.webhook_url {
        payload["webhook_url"] = json!(url);
    }
    payload
}

/// SMS parts of 153 GSM-7 characters (160 for a single part), at most 10.
fn parts(text: &str) -> u32 {
    let chars = text.chars().count();
    let parts = if chars <= 160 { 1 } else { chars.div_ceil(153) };
    u32::try_from(parts.clamp(1, 10)).unwrap_or(10)
}

/// `message.sent`, then `message.finalized`, then the recipient's reply if it replies.
async fn receipts(inner: Arc<Inner>, mut text: TextSnapshot, request: OutgoingText) {
    let pause = inner.settings.timing.response;
    let failing = text.to.ends_with('5');
    for (event_type, status) in [
        ("message.sent", "sent"),
        (
            "message.finalized",
            if failing {
                "delivery_failed"
            } else {
                "delivered"
            },
        ),
    ] {
        tokio::time::sleep(pause).await;
        text.status = status.to_owned();
        set_status(&inner, &text.id, status);
        if let Some(url) = text.webhook_url.clone() {
            let payload = outbound_payload(&text, &request);
            let body = outbound_event(event_type, payload, &url);
            send_webhook(&inner, event_type, &text.id, url, body).await;
        }
    }
    if !failing && text.to.ends_with('2') {
        tokio::time::sleep(pause).await;
        reply(&inner, &text.to, &text.from, ACKNOWLEDGER_REPLY).await;
    }
}

fn set_status(inner: &Inner, id: &str, status: &str) {
    {
        let mut state = inner.lock();
        if let Some(text) = state.texts.iter_mut().find(|t| t.id == id) {
            text.status = status.to_owned();
        }
    }
    inner.touch();
}

/// `OutboundMessageEvent` around `payload`, with the `meta` the schema lists.
fn outbound_event(event_type: &str, payload: Value, url: &str) -> Value {
    json!({
        "data": {
            "record_type": "event",
            "id": Uuid::now_v7().to_string(),
            "event_type": event_type,
            "occurred_at": clock::now_rfc3339(),
            "payload": payload,
        },
        "meta": { "attempt": 1, "delivered_to": url },
    })
}

/// `from` texts `text` to our number `to`: a `message.received` to the profile's webhook URL,
/// else to where the last text sent asked for receipts (a client that names its webhook URL
/// on every message names its own). False when there is nowhere to send.
pub(crate) async fn reply(inner: &Inner, from: &str, to: &str, text: &str) -> bool {
    let url = inner.settings.messaging_webhook_url.clone().or_else(|| {
        let state = inner.lock();
        state.texts.iter().rev().find_map(|t| t.webhook_url.clone())
    });
    let Some(url) = url else {
        return false;
    };
    let id = Uuid::now_v7().to_string();
    let now = clock::now_rfc3339();
    let body = json!({
        "data": {
            "record_type": "event",
            "id": Uuid::now_v7().to_string(),
            "event_type": "message.received",
            "occurred_at": now,
            "payload": {
                "record_type": "message",
                "direction": "inbound",
                "id": id,
                "type": "SMS",
                "from": { "phone_number": from, "carrier": "Sandbox Mobile", "line_type": "Wireless" },
                "to": [{ "phone_number": to, "status": "delivered", "carrier": "Telnyx", "line_type": "VoIP" }],
                "text": text,
                "encoding": "GSM-7",
                "parts": parts(text),
                "cc": [],
                "media": [],
                "errors": [],
                "tags": [],
                "received_at": now,
                "sent_at": Value::Null,
                "completed_at": Value::Null,
                "valid_until": Value::Null,
            },
        },
    });
    send_webhook(inner, "message.received", &id, url, body).await;
    true
}

async fn send_webhook(inner: &Inner, event_type: &str, message_id: &str, url: String, body: Value) {
    let event_id = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    let outgoing = Outgoing {
        event_id,
        event_type: event_type.to_owned(),
        // The message id stands in for the leg in the webhook log.
        call_control_id: message_id.to_owned(),
        url,
        body: body.to_string().into_bytes(),
    };
    deliver(inner, &outgoing).await;
    // As for calls, a carrier set to duplicate sends every event twice, same id.
    if inner.settings.delivery == Delivery::Duplicated {
        deliver(inner, &outgoing).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_request_is_checked_like_telnyx_and_unknown_fields_refused() {
        let ok = json!({"to": "+15551000002", "from": "+15550100000", "text": "hi", "type": "SMS"});
        assert!(validate::message(&ok).is_ok());
        let refused = |change: fn(&mut Value)| {
            let mut body = ok.clone();
            change(&mut body);
            validate::message(&body).map(drop).unwrap_err().code()
        };
        assert_eq!(refused(|b| b["client_state"] = json!("x")), "10032");
        assert_eq!(refused(|b| b["to"] = json!("5551000002")), "10016");
        assert_eq!(refused(|b| b["text"] = json!("")), "10004");
        assert_eq!(refused(|b| b["type"] = json!("MMS")), "10032");
        assert_eq!(refused(|b| b["webhook_url"] = json!("ftp://x")), "10032");
        assert_eq!(
            refused(|b| {
                b.as_object_mut().map(|o| o.remove("from"));
            }),
            "10004"
        );
    }

    #[test]
    fn parts_count_like_gsm7() {
        assert_eq!(parts("hi"), 1);
        assert_eq!(parts(&"x".repeat(160)), 1);
        assert_eq!(parts(&"x".repeat(161)), 2);
        assert_eq!(parts(&"x".repeat(5000)), 10);
    }
}
