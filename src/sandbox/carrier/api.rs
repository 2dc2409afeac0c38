//! The simulated Telnyx HTTP API: routing, authentication, the request log and the decision
//! on each command.
//!
//! One fallback handler routes by hand instead of an axum `Router` per path, so that every
//! request, unknown paths included, goes through the same recording and authentication, and
//! the `call_control_id` segment is percent-decoded exactly once. The handler makes its whole
//! decision under the state lock without awaiting: it answers and hands work to the leg tasks,
//! which send the webhooks.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::call::{self, NewLeg};
use super::rejection::Rejection;
use super::state::{COMMAND_ID_WINDOW, Inner, LegInput, Media, State};
use super::validate::{self, Command, Dial, Transfer};
use super::{LegState, RecordedRequest};
use crate::clock;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

async fn handle(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let parsed = parse_body(&body);
    let recorded = match &parsed {
        Ok(json) => json.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    let (status, answer) = {
        let mut state = inner.lock();
        let outcome =
            authorize(&headers).and_then(|()| route(&inner, &mut state, &method, &path, parsed));
        let (status, answer) = match outcome {
            Ok(answer) => (axum::http::StatusCode::OK, answer),
            Err(rejection) => (rejection.status(), rejection.body()),
        };
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            body: recorded,
            at: SystemTime::now(),
            status: status.as_u16(),
        });
        (status, answer)
    };
    inner.touch();
    (status, Json(answer)).into_response()
}

/// Telnyx wants `Authorization: Bearer <API key>`; the sandbox accepts any non-empty key.
fn authorize(headers: &HeaderMap) -> Result<(), Rejection> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(token) if !token.is_empty() => Ok(()),
        _ => Err(Rejection::Unauthorized),
    }
}

/// An empty body is `null`; anything else must be JSON.
fn parse_body(body: &[u8]) -> Result<Value, Rejection> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| Rejection::Malformed(e.to_string()))
}

fn route(
    inner: &Arc<Inner>,
    state: &mut State,
    method: &Method,
    path: &str,
    body: Result<Value, Rejection>,
) -> Result<Value, Rejection> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || Rejection::NotFound {
        method: method.to_string(),
        path: path.to_owned(),
    };
    match (method, segments.as_slice()) {
        (&Method::POST, ["v2", "calls"]) => dial(inner, state, &body?),
        (&Method::POST, ["v2", "messages"]) => super::texts::send(inner, state, &body?),
        (&Method::GET, ["v2", "calls", id]) => status(state, &decode_id(id)?),
        (&Method::PUT, ["v2", "calls", id, "actions", "client_state_update"]) => {
            client_state_update(state, &decode_id(id)?, &body?)
        }
        (&Method::POST, ["v2", "calls", id, "actions", action])
            if validate::ACTIONS.contains(action) =>
        {
            command(inner, state, &decode_id(id)?, action, body)
        }
        _ => Err(not_found()),
    }
}

fn ok() -> Value {
    json!({"data": {"result": "ok"}})
}

fn dial(inner: &Arc<Inner>, state: &mut State, body: &Value) -> Result<Value, Rejection> {
    let mut dial = validate::dial(body)?;
    let now = Instant::now();
    if let Some(command_id) = &dial.command_id {
        state
            .dials
            .retain(|_, (at, _)| now.duration_since(*at) < COMMAND_ID_WINDOW);
        if let Some((_, answer)) = state.dials.get(command_id) {
            return Ok(answer.clone());
        }
    }
    let webhook_url = dial
        .webhook_url
        .clone()
        .or_else(|| inner.settings.default_webhook_url.clone())
        .ok_or(Rejection::NoWebhookUrl)?;
    let mut session_id = None;
    if let Some(link) = &dial.link_to {
        let linked = state.legs.get(link).ok_or_else(|| Rejection::UnknownCall {
            field: "link_to".into(),
        })?;
        if linked.state == LegState::Ended {
            return Err(Rejection::CallEnded {
                field: "link_to".into(),
            });
        }
        session_id = Some(linked.call_session_id.clone());
        if dial.bridge_intent {
            // Telnyx overwrites our `from` with the linked call's (docs/telnyx.md §3.1).
            dial.from = linked.from.clone();
        }
    }
    let bridge_on_answer = dial.link_to.clone().filter(|_| dial.bridge_on_answer);
    let command_id = dial.command_id.clone();
    let data = call::spawn(
        inner,
        state,
        NewLeg {
            dial,
            webhook_url,
            session_id,
            bridge_on_answer,
            initiated_state: "parked",
        },
    );
    let answer = json!({ "data": data });
    if let Some(command_id) = command_id {
        state.dials.insert(command_id, (now, answer.clone()));
    }
    Ok(answer)
}

fn status(state: &State, id: &str) -> Result<Value, Rejection> {
    let leg = state.legs.get(id).ok_or_else(unknown_call)?;
    let alive = leg.state != LegState::Ended;
    let end = leg.ended_at.unwrap_or_else(SystemTime::now);
    let duration = leg
        .answered_at
        .and_then(|answered| end.duration_since(answered).ok())
        .map_or(0, |d| d.as_secs());
    let mut data = json!({
        "record_type": "call",
        "call_control_id": leg.call_control_id,
        "call_leg_id": leg.call_leg_id,
        "call_session_id": leg.call_session_id,
        "is_alive": alive,
        "start_time": clock::format_rfc3339(leg.started_at.into()),
        "call_duration": duration,
    });
    if let Some(ended) = leg.ended_at {
        data["end_time"] = json!(clock::format_rfc3339(ended.into()));
    }
    if let Some(client_state) = &leg.client_state {
        data["client_state"] = json!(client_state);
    }
    Ok(json!({ "data": data }))
}

fn client_state_update(state: &mut State, id: &str, body: &Value) -> Result<Value, Rejection> {
    let leg = state.legs.get_mut(id).ok_or_else(unknown_call)?;
    if leg.state == LegState::Ended {
        return Err(call_ended());
    }
    leg.client_state = Some(validate::client_state_update(body)?);
    leg.commands.push("client_state_update".to_owned());
    Ok(ok())
}

/// Decides one command on leg `id`. The checks run in Telnyx's order as far as it shows:
/// the leg must exist, a repeated `command_id` is answered "ok" and dropped, an ended leg
/// refuses everything, then the body is validated, then the leg's state must allow it.
fn command(
    inner: &Arc<Inner>,
    state: &mut State,
    id: &str,
    action: &str,
    body: Result<Value, Rejection>,
) -> Result<Value, Rejection> {
    let now = Instant::now();
    let leg = state.legs.get(id).ok_or_else(unknown_call)?;
    let body = body?;
    if let Some(command_id) = body.get("command_id").and_then(Value::as_str)
        && leg.is_repeat(command_id, now)
    {
        return Ok(ok());
    }
    if leg.state == LegState::Ended {
        return Err(call_ended());
    }
    let Some(parsed) = validate::command(action, &body) else {
        return Err(Rejection::NotFound {
            method: "POST".into(),
            path: action.to_owned(),
        });
    };
    let (common, command) = parsed?;
    if command.needs_answer() && leg.state == LegState::Ringing {
        return Err(Rejection::NotAnswered);
    }
    match &command {
        Command::Answer { .. } if !leg.incoming => {
            return Err(Rejection::invalid(
                "call_control_id",
                "only an incoming call can be answered",
            ));
        }
        Command::Answer { .. } if leg.state != LegState::Ringing => {
            return Err(Rejection::invalid(
                "call_control_id",
                "the call is already answered",
            ));
        }
        Command::TranscriptionStart(_) if leg.transcribing => {
            return Err(Rejection::TranscriptionActive);
        }
        Command::AiGather(_) if leg.ai_gathering => return Err(Rejection::AiGatherActive),
        Command::Bridge(bridge) => {
            let other = state
                .legs
                .get(&bridge.other)
                .ok_or_else(|| Rejection::UnknownCall {
                    field: "call_control_id".into(),
                })?;
            if other.state == LegState::Ended {
                return Err(Rejection::CallEnded {
                    field: "call_control_id".into(),
                });
            }
            if bridge.other == id {
                return Err(Rejection::invalid(
                    "call_control_id",
                    "must be another leg than the one in the path",
                ));
            }
        }
        _ => {}
    }

    let Some(leg) = state.legs.get_mut(id) else {
        return Err(unknown_call());
    };
    if let Some(client_state) = common.client_state {
        leg.client_state = Some(client_state);
    }
    if let Some(command_id) = common.command_id {
        leg.command_ids
            .retain(|_, at| now.duration_since(*at) < COMMAND_ID_WINDOW);
        leg.command_ids.insert(command_id, now);
    }
    leg.commands.push(action.to_owned());
    let input = match command {
        Command::Speak { text } => Some(LegInput::Media(Media::Speak { text })),
        Command::Gather(gather) => Some(LegInput::Media(Media::Gather(gather))),
        Command::AiGather(ai) => {
            leg.ai_gathering = true;
            Some(LegInput::Media(Media::AiGather(ai)))
        }
        Command::TranscriptionStart(transcription) => {
            leg.transcribing = true;
            Some(LegInput::Transcription(Some(transcription)))
        }
        Command::TranscriptionStop => {
            leg.transcribing = false;
            Some(LegInput::Transcription(None))
        }
        Command::Hangup => Some(LegInput::Hangup),
        Command::Answer { webhook_url } => {
            if let Some(url) = webhook_url {
                leg.webhook_url = url;
            }
            Some(LegInput::Answer)
        }
        Command::RecordStart(recording) => Some(LegInput::Media(Media::Record(recording))),
        Command::Transfer(transfer) => {
            if transfer.park_after_unbridge {
                leg.park_after_unbridge = true;
            }
            start_transfer(inner, state, id, *transfer);
            None
        }
        Command::Bridge(bridge) => {
            if bridge.park_after_unbridge {
                leg.park_after_unbridge = true;
            }
            match state.legs.get_mut(&bridge.other) {
                Some(other) if other.state == LegState::Ringing => {
                    // Telnyx lets A hear a ringtone until B answers; the bridge follows then.
                    other.bridge_on_answer = Some(id.to_owned());
                }
                _ => state.bridge(id, &bridge.other),
            }
            None
        }
    };
    if let Some(input) = input
        && let Some(leg) = state.legs.get(id)
    {
        // A closed channel means the leg's task has just ended; the command dies with it.
        let _ = leg.inputs.send(input);
    }
    Ok(ok())
}

/// Rings the transfer target as a new leg in A's session, bridged to A when it answers.
/// A stays up whatever happens to B (docs/telnyx.md §3.6).
fn start_transfer(inner: &Arc<Inner>, state: &mut State, a: &str, transfer: Transfer) {
    let Some(leg_a) = state.legs.get(a) else {
        return;
    };
    let webhook_url = transfer
        .webhook_url
        .clone()
        .unwrap_or_else(|| leg_a.webhook_url.clone());
    let dial = Dial {
        connection_id: leg_a.connection_id.clone(),
        to: transfer.to,
        // Without `from`, Telnyx shows B the original call's `to`: the engineer's own number.
        from: transfer.from.unwrap_or_else(|| leg_a.to.clone()),
        client_state: transfer.target_leg_client_state,
        command_id: None,
        timeout_secs: transfer.timeout_secs,
        retry_on_timeout: true,
        time_limit_secs: transfer.time_limit_secs,
        amd: transfer.amd,
        link_to: Some(a.to_owned()),
        bridge_intent: false,
        bridge_on_answer: true,
        park_after_unbridge: false,
        webhook_url: transfer.webhook_url,
        webhook_urls: transfer.webhook_urls,
        transcription: None,
    };
    let session_id = Some(leg_a.call_session_id.clone());
    call::spawn(
        inner,
        state,
        NewLeg {
            dial,
            webhook_url,
            session_id,
            bridge_on_answer: Some(a.to_owned()),
            initiated_state: "bridging",
        },
    );
}

fn unknown_call() -> Rejection {
    Rejection::UnknownCall {
        field: "call_control_id".into(),
    }
}

fn call_ended() -> Rejection {
    Rejection::CallEnded {
        field: "call_control_id".into(),
    }
}

/// Percent-decodes a path segment; a malformed one cannot name a leg.
fn decode_id(segment: &str) -> Result<String, Rejection> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(unknown_call)?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(byte);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| unknown_call())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_decoded_once() {
        assert_eq!(decode_id("v3:abc-_=").as_deref(), Ok("v3:abc-_="));
        assert_eq!(decode_id("v3%3Aabc%3D").as_deref(), Ok("v3:abc="));
        assert_eq!(decode_id("v3%253A").as_deref(), Ok("v3%3A"));
        assert!(decode_id("v3%3").is_err());
        assert!(decode_id("v3%zz").is_err());
    }

    #[test]
    fn only_a_non_empty_bearer_token_is_accepted() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value.parse().expect("header value"));
            authorize(&headers)
        };
        assert_eq!(with("Bearer KEY123"), Ok(()));
        assert_eq!(with("bearer KEY123"), Ok(()));
        assert_eq!(with("Bearer "), Err(Rejection::Unauthorized));
        assert_eq!(with("Basic dXNlcjpwdw=="), Err(Rejection::Unauthorized));
        assert_eq!(authorize(&HeaderMap::new()), Err(Rejection::Unauthorized));
    }

    #[test]
    fn bodies_are_json_or_empty() {
        assert_eq!(parse_body(b""), Ok(Value::Null));
        assert_eq!(parse_body(b" \n"), Ok(Value::Null));
        assert_eq!(parse_body(br#"{"a":1}"#), Ok(json!({"a": 1})));
        assert!(matches!(parse_body(b"{"), Err(Rejection::Malformed(_))));
    }
}
