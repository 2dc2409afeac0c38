//! Webhooks out: the event envelope, and one sender task per leg that signs and POSTs them.
//!
//! Bodies follow docs/telnyx.md §4.1 minus `meta`, which the official schemas do not model
//! for call events; payloads carry exactly the fields the schemas list for each event (no
//! `from`/`to` on `call.speak.*` and `call.transcription`), and `client_state` only when the
//! leg has one, since the schemas type it as a string. Signatures are Telnyx's Ed25519 over
//! `timestamp|body` (docs/telnyx.md §5), made with [`crate::signing::telnyx::sign`].
//!
//! A leg's events go through one queue so that they leave in the order they happened, as
//! the tests of a client expect by default; legs are independent of each other. A receiver
//! that fails or answers non-2xx gets the same body again (same `data.id`) after
//! [`Timing::webhook_retry`](super::Timing::webhook_retry) times the attempt number, up to
//! [`ATTEMPTS`] times, and the queue waits for that.

use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::SentWebhook;
use super::script::Delivery;
use super::state::{Inner, Leg, State};
use crate::clock;
use crate::signing::telnyx::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// Deliveries of one event copy: the first and two retries.
pub(crate) const ATTEMPTS: u32 = 3;

/// One event ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub event_id: String,
    pub event_type: String,
    pub call_control_id: String,
    pub url: String,
    pub body: Vec<u8>,
}

/// Events whose schema has no `from`/`to`.
fn carries_parties(event_type: &str) -> bool {
    !matches!(
        event_type,
        "call.speak.started"
            | "call.speak.ended"
            | "call.transcription"
            | "call.recording.saved"
            | "call.recording.transcription.saved"
    )
}

/// The payload of `event_type` on `leg`: the ids, `client_state`, the parties, then `extra`.
pub(crate) fn payload(
    leg: &Leg,
    event_type: &str,
    extra: Map<String, Value>,
) -> Map<String, Value> {
    let mut payload = Map::new();
    // `call.recording.saved`'s schema has no `call_control_id` (docs/telnyx.md §3.10).
    if event_type != "call.recording.saved" {
        payload.insert("call_control_id".into(), json!(leg.call_control_id));
    }
    payload.insert("call_leg_id".into(), json!(leg.call_leg_id));
    payload.insert("call_session_id".into(), json!(leg.call_session_id));
    payload.insert("connection_id".into(), json!(leg.connection_id));
    if let Some(client_state) = &leg.client_state {
        payload.insert("client_state".into(), json!(client_state));
    }
    if carries_parties(event_type) {
        payload.insert("from".into(), json!(leg.from));
        payload.insert("to".into(), json!(leg.to));
    }
    payload.extend(extra);
    payload
}

/// The docs/telnyx.md §4.1 envelope around `payload`.
pub(crate) fn envelope(
    event_id: &str,
    event_type: &str,
    occurred_at: &str,
    payload: Map<String, Value>,
) -> Value {
    json!({
        "data": {
            "record_type": "event",
            "id": event_id,
            "event_type": event_type,
            "occurred_at": occurred_at,
            "payload": payload,
        }
    })
}

/// Starts the sender task of one leg; it ends once the returned sender is dropped and the
/// queue is empty. `state` is the caller's locked state, where the task is kept for aborting.
pub(crate) fn spawn_outbox(
    inner: &Arc<Inner>,
    state: &mut State,
    mode: Delivery,
) -> mpsc::UnboundedSender<Outgoing> {
    let (outbox, queue) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_outbox(Arc::clone(inner), queue, mode));
    state.keep_task(task.abort_handle());
    outbox
}

async fn run_outbox(
    inner: Arc<Inner>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    mode: Delivery,
) {
    match mode {
        Delivery::InOrder => {
            while let Some(event) = queue.recv().await {
                deliver(&inner, &event).await;
            }
        }
        Delivery::Duplicated => {
            while let Some(event) = queue.recv().await {
                deliver(&inner, &event).await;
                deliver(&inner, &event).await;
            }
        }
        Delivery::Shuffled => {
            let window = inner.settings.timing.reorder_window;
            let mut held: Option<Outgoing> = None;
            loop {
                let next = match &held {
                    None => queue.recv().await,
                    Some(_) => match tokio::time::timeout(window, queue.recv()).await {
                        Ok(next) => next,
                        Err(_) => {
                            // Nothing followed in time: a lone event is not held back longer,
                            // or a client waiting for it would wait forever.
                            if let Some(alone) = held.take() {
                                deliver(&inner, &alone).await;
                            }
                            continue;
                        }
                    },
                };
                match (next, held.take()) {
                    (Some(next), Some(earlier)) => {
                        deliver(&inner, &next).await;
                        deliver(&inner, &earlier).await;
                    }
                    (Some(next), None) => held = Some(next),
                    (None, Some(last)) => {
                        deliver(&inner, &last).await;
                        break;
                    }
                    (None, None) => break,
                }
            }
        }
    }
}

/// Sends one event copy, retrying on failure.
pub(crate) async fn deliver(inner: &Inner, event: &Outgoing) {
    for attempt in 1..=ATTEMPTS {
        let sent_at = SystemTime::now();
        let outcome = post(inner, event).await;
        let delivered = matches!(outcome, Ok(status) if (200..300).contains(&status));
        {
            let mut state = inner.lock();
            state.webhooks.push(SentWebhook {
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                call_control_id: event.call_control_id.clone(),
                url: event.url.clone(),
                body: serde_json::from_slice(&event.body).unwrap_or(Value::Null),
                attempt,
                status: outcome.as_ref().ok().copied(),
                error: outcome.as_ref().err().cloned(),
                sent_at,
                at: SystemTime::now(),
            });
        }
        inner.touch();
        if delivered {
            return;
        }
        tracing::debug!(
            event_type = %event.event_type,
            url = %event.url,
            attempt,
            ?outcome,
            "sandbox webhook not accepted"
        );
        if attempt < ATTEMPTS {
            tokio::time::sleep(inner.settings.timing.webhook_retry.saturating_mul(attempt)).await;
        }
    }
}

/// One signed POST; the receiver's status, or why there was none.
async fn post(inner: &Inner, event: &Outgoing) -> Result<u16, String> {
    // Signed afresh per attempt, as Telnyx does: a redelivery carries a new timestamp.
    let timestamp = clock::now_secs().to_string();
    let signature = sign(inner.settings.seed.bytes(), &timestamp, &event.body);
    inner
        .http
        .post(&event.url)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, "klaxon-sandbox-carrier")
        .header(SIGNATURE_HEADER, signature)
        .header(TIMESTAMP_HEADER, timestamp)
        .body(event.body.clone())
        .send()
        .await
        .map(|response| response.status().as_u16())
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::sandbox::carrier::LegState;
    use crate::sandbox::carrier::script::Script;

    fn leg(client_state: Option<&str>) -> Leg {
        let (inputs, _) = mpsc::unbounded_channel();
        Leg {
            call_control_id: "v3:abc".into(),
            call_leg_id: "leg".into(),
            call_session_id: "session".into(),
            connection_id: "app".into(),
            from: "+15559870000".into(),
            to: "+15551230001".into(),
            script: Script::silent(),
            state: LegState::Answered,
            client_state: client_state.map(str::to_owned),
            webhook_url: "http://127.0.0.1:9/hook".into(),
            webhook_urls: HashMap::new(),
            link_to: None,
            bridged_with: None,
            bridge_on_answer: None,
            park_after_unbridge: false,
            hangup_cause: None,
            hangup_source: None,
            ended_by_command: false,
            voicemail_message: Vec::new(),
            commands: Vec::new(),
            command_ids: HashMap::new(),
            transcribing: false,
            ai_gathering: false,
            incoming: false,
            started_at: SystemTime::now(),
            answered_at: None,
            ended_at: None,
            inputs,
        }
    }

    #[test]
    fn speak_events_carry_no_parties_and_absent_state_is_omitted() {
        let speak = payload(&leg(None), "call.speak.started", Map::new());
        assert!(!speak.contains_key("from") && !speak.contains_key("to"));
        assert!(!speak.contains_key("client_state"));
        let answered = payload(&leg(Some("eyJhIjoxfQ==")), "call.answered", Map::new());
        assert_eq!(answered["from"], "+15559870000");
        assert_eq!(answered["client_state"], "eyJhIjoxfQ==");
    }

    #[test]
    fn the_envelope_has_no_meta() {
        let body = envelope("id-1", "call.answered", "2026-01-01T00:00:00Z", Map::new());
        assert_eq!(body.as_object().map(|o| o.len()), Some(1));
        assert_eq!(body["data"]["record_type"], "event");
        assert_eq!(body["data"]["event_type"], "call.answered");
    }
}
