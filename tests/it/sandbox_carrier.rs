//! The simulated Telnyx carrier, driven over real HTTP exactly as a client drives Telnyx: dial
//! with AMD, then speak or gather as the webhooks arrive. Every webhook a test sees has had its
//! Ed25519 signature verified with Klaxon's own verifier and its body validated against the
//! official schema (where the fixture has one), and every request the tests send is itself
//! checked against the spec, so the carrier is shown to accept what Telnyx accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use klaxon::sandbox::carrier::{
    CarrierConfig, Delivery, HangupCause, HangupSource, IncomingCall, LegState, SandboxCarrier,
    Script, SigningSeed, Timing, VOICEMAIL_GREETING,
};
use klaxon::signing::telnyx::{PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use serde_json::{Value, json};

use crate::support::receiver::{Received, Receiver};
use crate::support::telnyx_spec::assert_valid;

const WAIT: Duration = Duration::from_secs(10);
const FROM: &str = "+15559870000";
const VOICE: &str = "Telnyx.KokoroTTS.af";

/// The carrier, a webhook receiver, and a client that knows the carrier's public key.
struct Phone {
    carrier: SandboxCarrier,
    receiver: Receiver,
    http: reqwest::Client,
    key: PublicKey,
}

impl Phone {
    async fn start() -> Phone {
        Phone::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut CarrierConfig)) -> Phone {
        Phone::start_configured(|config, _| configure(config)).await
    }

    /// `configure` also gets the receiver's URL.
    async fn start_configured(configure: impl FnOnce(&mut CarrierConfig, String)) -> Phone {
        let receiver = Receiver::start().await;
        let mut config = CarrierConfig {
            timing: Timing::fast(),
            ..CarrierConfig::default()
        };
        configure(&mut config, receiver.url());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind carrier");
        let carrier = SandboxCarrier::start(listener, config).expect("carrier starts");
        let key = carrier
            .public_key_base64()
            .parse()
            .expect("the carrier's key is a valid Telnyx public key");
        Phone {
            carrier,
            receiver,
            http: reqwest::Client::new(),
            key,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.carrier.base_url())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the carrier answers");
        let status = response.status().as_u16();
        let body = response.json().await.expect("the carrier answers JSON");
        (status, body)
    }

    /// A Klaxon-style dial to `to`, with AMD and the receiver as webhook URL, plus `extra`.
    fn dial_body(&self, to: &str, extra: Value) -> Value {
        let mut body = json!({
            "connection_id": "sandbox-app",
            "to": to,
            "from": FROM,
            "timeout_secs": 30,
            "answering_machine_detection": "detect",
            "webhook_url": self.receiver.url(),
        });
        merge(&mut body, extra);
        body
    }

    async fn post_dial(&self, body: &Value) -> (u16, Value) {
        self.send(
            self.http
                .post(self.url("/calls"))
                .bearer_auth("KEY")
                .json(body),
        )
        .await
    }

    /// Dials and returns the new leg's `call_control_id`.
    async fn dial(&self, to: &str, extra: Value) -> String {
        let body = self.dial_body(to, extra);
        assert_valid("CallRequest", &body);
        let (status, answer) = self.post_dial(&body).await;
        assert_eq!(status, 200, "dial answer: {answer}");
        let data = &answer["data"];
        assert_eq!(data["record_type"], "call");
        assert_eq!(data["is_alive"], false);
        assert!(data["call_leg_id"].is_string() && data["call_session_id"].is_string());
        let id = data["call_control_id"].as_str().expect("call_control_id");
        assert!(id.starts_with("v3:"), "{id}");
        id.to_owned()
    }

    async fn command(&self, leg: &str, action: &str, body: Value) -> (u16, Value) {
        if let Some(schema) = request_schema(action) {
            assert_valid(schema, &body);
        }
        let url = self.url(&format!("/calls/{leg}/actions/{action}"));
        self.send(self.http.post(url).bearer_auth("KEY").json(&body))
            .await
    }

    /// Sends a command that must be accepted.
    async fn ok(&self, leg: &str, action: &str, body: Value) {
        let answer = self.command(leg, action, body).await;
        assert_eq!(answer, (200, json!({"data": {"result": "ok"}})), "{action}");
    }

    /// Verifies and parses one delivery.
    fn check(&self, received: &Received) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        verify(
            received.header(SIGNATURE_HEADER),
            received.header(TIMESTAMP_HEADER),
            &received.body,
            &[self.key],
            i64::try_from(now).expect("seconds fit i64"),
        )
        .expect("the webhook signature verifies");
        let event = received.json();
        if let Some(schema) = event_schema(event["data"]["event_type"].as_str().unwrap_or("")) {
            assert_valid(schema, &event);
        }
        event
    }

    /// The webhooks of `leg` received so far, once `done` holds for them.
    async fn events_until(&self, leg: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        loop {
            let all = self.receiver.received();
            let events: Vec<Value> = all
                .iter()
                .map(|r| self.check(r))
                .filter(|e| e["data"]["payload"]["call_control_id"] == leg)
                .collect();
            if done(&events) {
                return events;
            }
            self.receiver.wait_for(all.len() + 1, WAIT).await;
        }
    }

    /// The webhooks of `leg` up to and including the first `event_type`.
    async fn until(&self, leg: &str, event_type: &str) -> Vec<Value> {
        let mut events = self
            .events_until(leg, |events| events.iter().any(|e| kind(e) == event_type))
            .await;
        let end = events
            .iter()
            .position(|e| kind(e) == event_type)
            .expect("found above");
        events.truncate(end + 1);
        events
    }

    /// The last webhook of `leg` of type `event_type`, waiting for it.
    async fn last(&self, leg: &str, event_type: &str) -> Value {
        let events = self.until(leg, event_type).await;
        events.last().cloned().expect("until returns the event")
    }
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
}

fn kind(event: &Value) -> &str {
    event["data"]["event_type"].as_str().unwrap_or("")
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(kind).collect()
}

fn payload(event: &Value) -> &Value {
    &event["data"]["payload"]
}

fn state_of(value: &Value) -> String {
    STANDARD.encode(value.to_string())
}

fn event_schema(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "call.initiated" => "CallInitiatedEvent",
        "call.answered" => "CallAnsweredEvent",
        "call.hangup" => "CallHangupEvent",
        "call.speak.started" => "CallSpeakStartedEvent",
        "call.speak.ended" => "CallSpeakEndedEvent",
        "call.gather.ended" => "CallGatherEndedEvent",
        "call.dtmf.received" => "CallDtmfReceivedEvent",
        "call.bridged" => "CallBridgedEvent",
        "call.machine.detection.ended" => "CallMachineDetectionEndedEvent",
        "call.ai_gather.ended" => "CallAIGatherEndedEvent",
        "call.transcription" => "TranscriptionEvent",
        "call.recording.saved" => "CallRecordingSavedEvent",
        "call.recording.transcription.saved" => "callRecordingTranscriptionSavedEvent",
        _ => return None,
    })
}

fn request_schema(action: &str) -> Option<&'static str> {
    Some(match action {
        // `SpeakRequest` in the fixture keeps a `$ref` to `Loopcount`, which the extractor did
        // not copy, so it cannot be compiled; speak bodies go unchecked until it is fixed.
        "speak" => return None,
        "gather_using_speak" => "GatherUsingSpeakRequest",
        "gather" => "GatherRequest",
        "gather_using_ai" => "GatherUsingAIRequest",
        "transcription_start" => "TranscriptionStartRequest",
        "transfer" => "TransferCallRequest",
        "bridge" => "BridgeRequest",
        "hangup" => "HangupRequest",
        "answer" => "AnswerRequest",
        "record_start" => "StartRecordingRequest",
        _ => return None,
    })
}

fn speak(text: &str) -> Value {
    json!({"payload": text, "voice": VOICE})
}

/// Klaxon's fallback keypad menu (docs/telnyx.md §3.2), with `valid` keys.
fn keypad_menu(valid: &str) -> Value {
    json!({
        "payload": "Press 1 to be connected, 2 to acknowledge.",
        "voice": VOICE,
        "valid_digits": valid,
        "minimum_digits": 1,
        "maximum_digits": 1,
        "timeout_millis": 8000,
        "maximum_tries": 2,
    })
}

/// Klaxon's `gather_using_ai` body (docs/telnyx.md §3.4).
fn intent_gather() -> Value {
    json!({
        "greeting": "Ticket 42 is critical: checkout is down. Say connect me to reach the customer, or acknowledge.",
        "parameters": {
            "type": "object",
            "required": ["intent"],
            "properties": {"intent": {"type": "string", "enum": ["connect", "acknowledge", "repeat"]}}
        },
        "user_response_timeout_ms": 10000,
    })
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "status of {}", answer.1);
    let errors = answer.1["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{}", answer.1);
    assert_eq!(errors[0]["code"], code, "{}", answer.1);
    assert!(errors[0]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(errors[0]["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn the_connect_me_callee_answers_the_ai_gather() {
    let phone = Phone::start().await;
    let dialled = state_of(&json!({"e": "esc_1", "a": 1, "l": "A"}));
    let leg = phone
        .dial(
            "+15551230000",
            json!({"client_state": dialled, "command_id": "esc_1:1:dial"}),
        )
        .await;

    let greeted = phone.until(&leg, "call.machine.detection.ended").await;
    assert_eq!(
        kinds(&greeted),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended"
        ]
    );
    assert_eq!(payload(&greeted[0])["direction"], "outgoing");
    assert_eq!(payload(&greeted[0])["state"], "parked");
    assert_eq!(payload(&greeted[1])["state"], "answered");
    assert_eq!(payload(&greeted[2])["result"], "human");
    for event in &greeted {
        assert_eq!(payload(event)["client_state"], dialled.as_str());
        assert_eq!(payload(event)["from"], FROM);
        assert_eq!(payload(event)["to"], "+15551230000");
        assert_eq!(payload(event)["connection_id"], "sandbox-app");
    }
    let status = phone
        .send(
            phone
                .http
                .get(phone.url(&format!("/calls/{leg}")))
                .bearer_auth("KEY"),
        )
        .await;
    assert_eq!(status.0, 200);
    assert_eq!(status.1["data"]["is_alive"], true);

    let gathering = state_of(&json!({"e": "esc_1", "a": 1, "l": "A", "s": "gather"}));
    let mut gather = intent_gather();
    merge(
        &mut gather,
        json!({"client_state": gathering, "command_id": "esc_1:1:ai_gather"}),
    );
    phone.ok(&leg, "gather_using_ai", gather).await;
    let ended = phone.last(&leg, "call.ai_gather.ended").await;
    assert_eq!(payload(&ended)["status"], "valid");
    assert_eq!(payload(&ended)["result"], json!({"intent": "connect"}));
    assert_eq!(
        payload(&ended)["message_history"][1],
        json!({"role": "user", "content": "connect me"})
    );
    assert_eq!(payload(&ended)["client_state"], gathering.as_str());

    phone
        .ok(&leg, "hangup", json!({"command_id": "esc_1:1:hangup"}))
        .await;
    let events = phone.until(&leg, "call.hangup").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.ai_gather.ended",
            "call.hangup"
        ]
    );
    let hangup = payload(&events[4]);
    assert_eq!(hangup["hangup_cause"], "normal_clearing");
    assert_eq!(hangup["hangup_source"], "caller");
    assert_eq!(
        hangup["client_state"],
        gathering.as_str(),
        "the latest state is echoed"
    );
    assert!(hangup["call_quality_stats"].is_object());

    let snapshot = phone.carrier.leg(&leg).expect("the leg is known");
    assert_eq!(snapshot.state, LegState::Ended);
    assert_eq!(snapshot.hangup_cause, Some(HangupCause::NormalClearing));
    assert_eq!(snapshot.commands, ["dial", "gather_using_ai", "hangup"]);
    let status = phone
        .send(
            phone
                .http
                .get(phone.url(&format!("/calls/{leg}")))
                .bearer_auth("KEY"),
        )
        .await;
    assert_eq!(status.1["data"]["is_alive"], false);
    assert!(status.1["data"]["end_time"].is_string());
}

#[tokio::test]
async fn keypad_callees_press_their_digit() {
    let phone = Phone::start().await;
    for (number, key) in [
        ("+15551230001", "1"),
        ("+15551230002", "2"),
        ("+15551230003", "3"),
    ] {
        let leg = phone.dial(number, json!({})).await;
        phone.until(&leg, "call.machine.detection.ended").await;
        phone
            .ok(&leg, "gather_using_speak", keypad_menu("123*"))
            .await;
        let events = phone.until(&leg, "call.gather.ended").await;
        assert_eq!(
            kinds(&events),
            [
                "call.initiated",
                "call.answered",
                "call.machine.detection.ended",
                "call.dtmf.received",
                "call.gather.ended"
            ],
            "{number}"
        );
        assert_eq!(payload(&events[3])["digit"], key);
        assert_eq!(payload(&events[4])["digits"], key);
        assert_eq!(payload(&events[4])["status"], "valid");
        phone.ok(&leg, "hangup", json!({})).await;
        phone.until(&leg, "call.hangup").await;
    }

    // Klaxon's own menu has no 3: the callee who passes is refused at each of the two tries.
    let leg = phone.dial("+15551230003", json!({})).await;
    phone.until(&leg, "call.machine.detection.ended").await;
    phone
        .ok(&leg, "gather_using_speak", keypad_menu("12*"))
        .await;
    let events = phone.until(&leg, "call.gather.ended").await;
    assert_eq!(
        kinds(&events)[3..],
        [
            "call.dtmf.received",
            "call.dtmf.received",
            "call.gather.ended"
        ]
    );
    assert_eq!(payload(&events[5])["status"], "invalid");
    assert_eq!(payload(&events[5])["digits"], "3");

    // A person who only presses keys gives an AI gather nothing to hear.
    phone.ok(&leg, "gather_using_ai", intent_gather()).await;
    let ended = phone.last(&leg, "call.ai_gather.ended").await;
    assert_eq!(payload(&ended)["status"], "invalid");
    assert_eq!(payload(&ended)["result"], json!({}));
}

#[tokio::test]
async fn a_transcription_hears_connect_me_after_the_briefing() {
    let phone = Phone::start().await;
    let leg = phone
        .dial(
            "+15551230000",
            json!({"answering_machine_detection": "disabled"}),
        )
        .await;
    phone.until(&leg, "call.answered").await;
    phone
        .ok(
            &leg,
            "transcription_start",
            json!({
                "transcription_engine": "Google",
                // The spec's engine configs are a `oneOf`; only the engine name inside tells
                // Google's apart from the others that also have `interim_results`.
                "transcription_engine_config": {"transcription_engine": "Google", "interim_results": true},
                "command_id": "esc_2:1:transcribe",
            }),
        )
        .await;
    phone
        .ok(
            &leg,
            "speak",
            speak("Ticket 42 is critical. Say connect me to reach the customer."),
        )
        .await;
    let events = phone
        .events_until(&leg, |events| {
            events
                .iter()
                .any(|e| payload(e)["transcription_data"]["is_final"] == true)
        })
        .await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.transcription",
            "call.transcription"
        ]
    );
    assert_eq!(payload(&events[3])["status"], "completed");
    let partial = &payload(&events[4])["transcription_data"];
    assert_eq!(partial["is_final"], false);
    assert_eq!(partial["transcript"], "connect");
    let last = &payload(&events[5])["transcription_data"];
    assert_eq!(last["transcript"], "connect me");
    assert!(last.get("transcription_track").is_none(), "engine B only");

    let again = phone
        .command(
            &leg,
            "transcription_start",
            json!({"transcription_engine": "Google"}),
        )
        .await;
    assert_error(&again, 422, "90054");
    phone.ok(&leg, "transcription_stop", json!({})).await;
    phone.ok(&leg, "hangup", json!({})).await;
    phone.until(&leg, "call.hangup").await;
}

#[tokio::test]
async fn unanswered_calls_end_with_the_carrier_cause() {
    let phone = Phone::start().await;
    let cases = [
        (
            "+15551230004",
            json!({"timeout_secs": 5}),
            "timeout",
            "caller",
            "unspecified",
        ),
        (
            "+15551230004",
            json!({"timeout_secs": 5, "retry_on_timeout": false}),
            "no_answer",
            "caller",
            "unspecified",
        ),
        ("+15551230005", json!({}), "user_busy", "callee", "486"),
        ("+15551230006", json!({}), "call_rejected", "callee", "603"),
    ];
    for (number, extra, cause, source, sip) in cases {
        let leg = phone.dial(number, extra).await;
        let events = phone.until(&leg, "call.hangup").await;
        assert_eq!(
            kinds(&events),
            ["call.initiated", "call.hangup"],
            "{number}"
        );
        let hangup = payload(&events[1]);
        assert_eq!(hangup["hangup_cause"], cause, "{number}");
        assert_eq!(hangup["hangup_source"], source, "{number}");
        assert_eq!(hangup["sip_hangup_cause"], sip, "{number}");
        assert!(hangup["call_quality_stats"].is_null(), "never answered");
        assert_error(
            &phone.command(&leg, "speak", speak("Hello")).await,
            422,
            "90018",
        );
    }
}

#[tokio::test]
async fn a_voicemail_is_detected_as_a_machine() {
    let phone = Phone::start().await;
    let leg = phone
        .dial(
            "+15551230007",
            json!({"answering_machine_detection": "detect_beep"}),
        )
        .await;
    let events = phone.until(&leg, "call.machine.greeting.ended").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.machine.greeting.ended"
        ]
    );
    assert_eq!(payload(&events[2])["result"], "machine");
    assert_eq!(payload(&events[3])["result"], "beep_detected");
    phone.ok(&leg, "hangup", json!({})).await;
    let events = phone.until(&leg, "call.hangup").await;
    assert_eq!(events.len(), 5);
    assert_eq!(payload(&events[4])["hangup_cause"], "normal_clearing");
}

#[tokio::test]
async fn a_callee_who_hangs_up_mid_briefing_cuts_the_speech_short() {
    let phone = Phone::start().await;
    let leg = phone
        .dial(
            "+15551230008",
            json!({"answering_machine_detection": "disabled"}),
        )
        .await;
    phone.until(&leg, "call.answered").await;
    let briefing = "word ".repeat(40);
    phone.ok(&leg, "speak", speak(briefing.trim())).await;
    let events = phone.until(&leg, "call.hangup").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    assert_eq!(payload(&events[3])["status"], "call_hangup");
    assert_eq!(payload(&events[4])["hangup_cause"], "normal_clearing");
    assert_eq!(payload(&events[4])["hangup_source"], "callee");
    assert_error(
        &phone.command(&leg, "speak", speak("Hello?")).await,
        422,
        "90018",
    );
    assert_error(
        &phone.command(&leg, "hangup", json!({})).await,
        422,
        "90018",
    );
}

#[tokio::test]
async fn a_silent_callee_lets_every_gather_time_out() {
    let phone = Phone::start().await;
    let leg = phone.dial("+15551230009", json!({})).await;
    phone.until(&leg, "call.machine.detection.ended").await;
    phone
        .ok(&leg, "gather_using_speak", keypad_menu("12*"))
        .await;
    let gathered = phone.last(&leg, "call.gather.ended").await;
    assert_eq!(payload(&gathered)["status"], "timeout");
    assert_eq!(payload(&gathered)["digits"], "");
    phone.ok(&leg, "gather_using_ai", intent_gather()).await;
    let ended = phone.last(&leg, "call.ai_gather.ended").await;
    assert_eq!(payload(&ended)["status"], "invalid");
    assert_eq!(
        payload(&ended)["message_history"].as_array().map(Vec::len),
        Some(1)
    );
    phone.ok(&leg, "hangup", json!({})).await;
    let events = phone.until(&leg, "call.hangup").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.gather.ended",
            "call.ai_gather.ended",
            "call.hangup"
        ]
    );
}

/// docs/telnyx.md §7: dial B linked to A, whisper to B, bridge, talk, hang up.
#[tokio::test]
async fn a_warm_transfer_whispers_to_b_then_bridges() {
    let phone = Phone::start().await;
    let a = phone.dial("+15551230000", json!({})).await;
    phone.until(&a, "call.machine.detection.ended").await;
    phone.ok(&a, "gather_using_ai", intent_gather()).await;
    phone.last(&a, "call.ai_gather.ended").await;
    phone
        .ok(&a, "speak", speak("Connecting you now, please hold."))
        .await;
    phone.until(&a, "call.speak.ended").await;

    let b_state = state_of(&json!({"e": "esc_1", "a": 1, "l": "B"}));
    let b = phone
        .dial(
            "+15551230009",
            json!({
                "from": "+15550000001",
                "link_to": a,
                "bridge_intent": true,
                "client_state": b_state,
                "command_id": "esc_1:1:dial_b",
            }),
        )
        .await;
    phone.until(&b, "call.machine.detection.ended").await;
    phone
        .ok(
            &b,
            "speak",
            speak("Klaxon: the on-call engineer is calling about ticket 42."),
        )
        .await;
    let whispered = phone.last(&b, "call.speak.ended").await;
    assert_eq!(payload(&whispered)["status"], "completed");
    phone
        .ok(
            &a,
            "bridge",
            json!({"call_control_id": b, "command_id": "esc_1:1:bridge"}),
        )
        .await;

    let b_events = phone.until(&b, "call.hangup").await;
    assert_eq!(
        kinds(&b_events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.bridged",
            "call.hangup"
        ]
    );
    assert_eq!(payload(&b_events[6])["hangup_source"], "callee");
    let a_events = phone.until(&a, "call.hangup").await;
    assert_eq!(
        kinds(&a_events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.ai_gather.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.bridged",
            "call.hangup"
        ]
    );
    assert_eq!(payload(&a_events[7])["hangup_cause"], "normal_clearing");

    assert_eq!(
        payload(&a_events[0])["call_session_id"],
        payload(&b_events[0])["call_session_id"],
        "linked legs share the session"
    );
    assert_eq!(
        payload(&b_events[0])["from"],
        FROM,
        "bridge_intent takes A's from"
    );
    assert_eq!(payload(&b_events[0])["client_state"], b_state.as_str());
    let legs = phone.carrier.legs();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[1].link_to.as_deref(), Some(a.as_str()));
}

#[tokio::test]
async fn a_transfer_rings_a_new_leg_and_a_stays_up_when_it_fails() {
    let phone = Phone::start().await;
    let a = phone
        .dial(
            "+15551230001",
            json!({"answering_machine_detection": "disabled"}),
        )
        .await;
    phone.until(&a, "call.answered").await;

    phone
        .ok(&a, "transfer", json!({"to": "+15551230005", "from": FROM}))
        .await;
    let busy = phone
        .carrier
        .wait_until(WAIT, |seen| {
            seen.legs
                .iter()
                .find(|leg| leg.link_to.as_deref() == Some(a.as_str()))
                .map(|leg| leg.call_control_id.clone())
        })
        .await
        .expect("the transfer dials a second leg");
    let events = phone.until(&busy, "call.hangup").await;
    assert_eq!(kinds(&events), ["call.initiated", "call.hangup"]);
    assert_eq!(payload(&events[0])["state"], "bridging");
    assert_eq!(payload(&events[1])["hangup_cause"], "user_busy");

    // A is still up and takes commands: tell the engineer.
    phone
        .ok(&a, "speak", speak("We could not reach them."))
        .await;
    phone.until(&a, "call.speak.ended").await;

    let target_state = state_of(&json!({"l": "B"}));
    phone
        .ok(
            &a,
            "transfer",
            json!({"to": "+15551230009", "from": FROM, "target_leg_client_state": target_state}),
        )
        .await;
    let b = phone
        .carrier
        .wait_until(WAIT, |seen| {
            seen.legs
                .iter()
                .find(|leg| leg.to == "+15551230009")
                .map(|leg| leg.call_control_id.clone())
        })
        .await
        .expect("the second transfer dials");
    let b_events = phone.until(&b, "call.bridged").await;
    assert_eq!(
        kinds(&b_events),
        ["call.initiated", "call.answered", "call.bridged"]
    );
    assert_eq!(payload(&b_events[0])["client_state"], target_state.as_str());
    phone.until(&a, "call.bridged").await;

    phone.ok(&a, "hangup", json!({})).await;
    let b_end = phone.last(&b, "call.hangup").await;
    assert_eq!(payload(&b_end)["hangup_cause"], "normal_clearing");
    let a_events = phone.until(&a, "call.hangup").await;
    assert_eq!(
        kinds(&a_events),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.bridged",
            "call.hangup"
        ]
    );
}

#[tokio::test]
async fn requests_are_refused_with_telnyx_errors() {
    let phone = Phone::start().await;

    let body = phone.dial_body("+15551230001", json!({}));
    let unauthenticated = phone
        .send(phone.http.post(phone.url("/calls")).json(&body))
        .await;
    assert_error(&unauthenticated, 401, "10009");

    let bad_number = phone
        .post_dial(&phone.dial_body("5551230001", json!({})))
        .await;
    assert_error(&bad_number, 422, "10016");
    assert_eq!(bad_number.1["errors"][0]["source"]["pointer"], "/to");

    let mut missing = phone.dial_body("+15551230001", json!({}));
    missing
        .as_object_mut()
        .expect("object")
        .remove("connection_id");
    assert_error(&phone.post_dial(&missing).await, 422, "10004");

    let misspelt = phone.dial_body("+15551230001", json!({"timeout_sec": 30}));
    assert_error(&phone.post_dial(&misspelt).await, 422, "10032");

    let mut no_url = phone.dial_body("+15551230001", json!({}));
    no_url
        .as_object_mut()
        .expect("object")
        .remove("webhook_url");
    assert_error(&phone.post_dial(&no_url).await, 422, "10015");

    let garbage = phone
        .send(
            phone
                .http
                .post(phone.url("/calls"))
                .bearer_auth("KEY")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(garbage.0, 400);

    let unknown = phone.command("v3:nope", "speak", speak("Hello")).await;
    assert_error(&unknown, 422, "90015");
    let no_such_action = phone
        .send(
            phone
                .http
                .post(phone.url("/calls/v3:nope/actions/join"))
                .bearer_auth("KEY")
                .json(&json!({})),
        )
        .await;
    assert_error(&no_such_action, 404, "10005");

    // Ringing: only a hangup is accepted, and it cancels the call.
    let ringing = phone
        .dial("+15551230004", json!({"timeout_secs": 600}))
        .await;
    assert_error(
        &phone.command(&ringing, "speak", speak("Hi")).await,
        422,
        "90034",
    );
    phone.ok(&ringing, "hangup", json!({})).await;
    let cancelled = phone.last(&ringing, "call.hangup").await;
    assert_eq!(payload(&cancelled)["hangup_cause"], "originator_cancel");
    assert_error(
        &phone.command(&ringing, "hangup", json!({})).await,
        422,
        "90018",
    );

    let refused: Vec<u16> = phone.carrier.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        refused,
        [401, 422, 422, 422, 422, 400, 422, 404, 200, 422, 200, 422]
    );
}

#[tokio::test]
async fn a_repeated_command_id_is_ignored() {
    // A long ring, so the command sent "before the answer" cannot lose a race with it.
    let phone = Phone::start_with(|config| config.timing.ring = Duration::from_millis(500)).await;
    let extra = json!({
        "answering_machine_detection": "disabled",
        "timeout_secs": 600,
        "command_id": "esc_3:1:dial",
    });
    let first = phone.dial("+15551230009", extra.clone()).await;
    let again = phone.dial("+15551230009", extra).await;
    assert_eq!(first, again, "the repeated dial gets the first answer");
    assert_eq!(phone.carrier.legs().len(), 1, "and rings nobody");

    // Refused before the answer: the id is not used up.
    let mut briefing = speak("Hello");
    merge(&mut briefing, json!({"command_id": "esc_3:1:brief"}));
    assert_error(
        &phone.command(&first, "speak", briefing.clone()).await,
        422,
        "90034",
    );
    phone.until(&first, "call.answered").await;
    phone.ok(&first, "speak", briefing.clone()).await;
    phone.ok(&first, "speak", briefing).await;
    let mut other = speak("Still there?");
    merge(&mut other, json!({"command_id": "esc_3:1:brief2"}));
    phone.ok(&first, "speak", other).await;
    phone
        .events_until(&first, |events| {
            events
                .iter()
                .filter(|e| kind(e) == "call.speak.ended")
                .count()
                == 2
        })
        .await;
    phone
        .ok(&first, "hangup", json!({"command_id": "esc_3:1:hangup"}))
        .await;
    phone
        .ok(&first, "hangup", json!({"command_id": "esc_3:1:hangup"}))
        .await;

    let events = phone.until(&first, "call.hangup").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.speak.started",
            "call.speak.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    let leg = phone.carrier.leg(&first).expect("leg");
    assert_eq!(leg.commands, ["dial", "speak", "speak", "hangup"]);
}

#[tokio::test]
async fn duplicated_delivery_sends_every_event_twice() {
    let phone = Phone::start_with(|config| {
        config.scripts.insert(
            "+15550001111".into(),
            Script::busy().with_delivery(Delivery::Duplicated),
        );
    })
    .await;
    let leg = phone.dial("+15550001111", json!({})).await;
    let events = phone.events_until(&leg, |events| events.len() == 4).await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.initiated",
            "call.hangup",
            "call.hangup"
        ]
    );
    assert_eq!(events[0], events[1], "same body, same data.id");
    assert_eq!(events[2], events[3]);
    assert_ne!(events[0]["data"]["id"], events[2]["data"]["id"]);
}

#[tokio::test]
async fn shuffled_delivery_swaps_adjacent_events() {
    let phone = Phone::start_with(|config| {
        config.delivery = Delivery::Shuffled;
        config.timing.reorder_window = Duration::from_millis(1000);
    })
    .await;
    let leg = phone.dial("+15551230006", json!({})).await;
    let events = phone.events_until(&leg, |events| events.len() == 2).await;
    assert_eq!(kinds(&events), ["call.hangup", "call.initiated"]);
}

#[tokio::test]
async fn a_refused_webhook_is_redelivered() {
    let phone = Phone::start().await;
    phone.receiver.answer_once(500, Vec::new());
    let leg = phone.dial("+15551230005", json!({})).await;
    let events = phone.events_until(&leg, |events| events.len() == 3).await;
    assert_eq!(
        kinds(&events),
        ["call.initiated", "call.initiated", "call.hangup"]
    );
    assert_eq!(events[0]["data"]["id"], events[1]["data"]["id"]);
    let attempts = phone
        .carrier
        .wait_until(WAIT, |seen| {
            (seen.webhooks.len() == 3).then(|| seen.webhooks.clone())
        })
        .await
        .expect("three attempts are recorded");
    let summary: Vec<(u32, Option<u16>)> = attempts.iter().map(|w| (w.attempt, w.status)).collect();
    assert_eq!(summary, [(1, Some(500)), (2, Some(200)), (1, Some(200))]);
}

#[tokio::test]
async fn the_default_url_the_state_update_and_the_request_log() {
    // The Call Control App's URL is the receiver, so the dial need not name one.
    let phone = Phone::start_configured(|config, url| {
        config.default_webhook_url = Some(url);
        config.signing_seed = SigningSeed::from_bytes([7; 32]);
    })
    .await;
    let mut body = phone.dial_body(
        "+15551230001",
        json!({"answering_machine_detection": "disabled"}),
    );
    body.as_object_mut().expect("object").remove("webhook_url");
    let (status, answer) = phone.post_dial(&body).await;
    assert_eq!(status, 200);
    let leg = answer["data"]["call_control_id"]
        .as_str()
        .expect("call_control_id")
        .to_owned();
    phone.until(&leg, "call.answered").await;

    let updated = state_of(&json!({"s": "updated"}));
    let update = json!({"client_state": updated});
    assert_valid("ClientStateUpdateRequest", &update);
    let url = phone.url(&format!("/calls/{leg}/actions/client_state_update"));
    let answer = phone
        .send(phone.http.put(url).bearer_auth("KEY").json(&update))
        .await;
    assert_eq!(answer, (200, json!({"data": {"result": "ok"}})));
    phone.ok(&leg, "hangup", json!({})).await;
    let hangup = phone.last(&leg, "call.hangup").await;
    assert_eq!(payload(&hangup)["client_state"], updated.as_str());

    let log: Vec<(String, String, u16)> = phone
        .carrier
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        log,
        [
            ("POST".to_owned(), "/v2/calls".to_owned(), 200),
            (
                "PUT".to_owned(),
                format!("/v2/calls/{leg}/actions/client_state_update"),
                200
            ),
            (
                "POST".to_owned(),
                format!("/v2/calls/{leg}/actions/hangup"),
                200
            ),
        ]
    );
    assert_eq!(phone.carrier.requests()[1].body, update);
    assert!(
        phone
            .carrier
            .webhooks_sent()
            .iter()
            .all(|w| w.url == phone.receiver.url())
    );
}

/// A voicemail box greets, beeps, records what follows the beep and hangs up by itself; what
/// was spoken over its greeting is lost.
#[tokio::test]
async fn a_voicemail_box_records_after_the_beep_then_hangs_up() {
    const BOX: &str = "+15551110007";
    // 60 words: 600 ms of greeting, so the first speak surely starts during it.
    let long_greeting = "Hello, this is my voicemail. ".repeat(12);
    let phone = Phone::start_with(|config| {
        let greeting_box = Script {
            says: Some(long_greeting.trim().to_owned()),
            ..Script::voicemail()
        };
        config.scripts.insert(BOX.to_owned(), greeting_box);
    })
    .await;
    let leg = phone
        .dial(BOX, json!({"answering_machine_detection": "detect_beep"}))
        .await;
    phone.until(&leg, "call.machine.detection.ended").await;
    phone.ok(&leg, "speak", speak("Spoken too early.")).await;
    phone.until(&leg, "call.machine.greeting.ended").await;
    let message = "<speak>Klaxon here: ticket 42 <break time=\"1s\"/>is critical.</speak>";
    phone.ok(&leg, "speak", speak(message)).await;
    let events = phone.until(&leg, "call.hangup").await;
    assert_eq!(
        kinds(&events),
        [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.machine.greeting.ended",
            "call.speak.started",
            "call.speak.ended",
            "call.hangup"
        ]
    );
    assert_eq!(payload(&events[2])["result"], "machine");
    assert_eq!(payload(&events[5])["result"], "beep_detected");
    assert_eq!(payload(&events[7])["status"], "completed");
    assert_eq!(payload(&events[8])["hangup_cause"], "normal_clearing");
    assert_eq!(payload(&events[8])["hangup_source"], "callee");

    let snapshot = phone.carrier.leg(&leg).expect("the leg is known");
    assert_eq!(
        snapshot.voicemail_message.as_deref(),
        Some("Klaxon here: ticket 42 is critical.")
    );
    assert_eq!(snapshot.hangup_source, Some(HangupSource::Callee));
    assert!(!snapshot.ended_by_command);
    // The greeting lasts its 60 words, the recording 40 Telnyx seconds (400 ms).
    let answered = snapshot.answered_at.expect("answered");
    let beep = phone
        .carrier
        .first_event_at(&leg, "call.machine.greeting.ended")
        .expect("the beep was reported");
    let greeting = beep.duration_since(answered).expect("beep after answer");
    assert!(greeting >= Duration::from_millis(600), "{greeting:?}");
    let recording = snapshot.line_time_after(beep).expect("ended");
    assert!(
        recording >= Duration::from_millis(390) && recording < Duration::from_secs(3),
        "{recording:?}"
    );
}

/// Every AMD mode meets the same box; only the events differ. A box nobody speaks to records
/// nothing and still hangs up.
#[tokio::test]
async fn the_box_hangs_up_by_itself_whatever_the_amd_mode() {
    let phone = Phone::start().await;
    let cases = [
        ("detect", vec!["call.machine.detection.ended"]),
        (
            "greeting_end",
            vec![
                "call.machine.detection.ended",
                "call.machine.greeting.ended",
            ],
        ),
        (
            "premium",
            vec![
                "call.machine.premium.detection.ended",
                "call.machine.premium.greeting.ended",
            ],
        ),
        ("disabled", vec![]),
    ];
    for (mode, amd_events) in cases {
        let leg = phone
            .dial("+15551230007", json!({"answering_machine_detection": mode}))
            .await;
        let events = phone.until(&leg, "call.hangup").await;
        let reported = amd_events.len();
        let mut expected = vec!["call.initiated", "call.answered"];
        expected.extend(amd_events);
        expected.push("call.hangup");
        assert_eq!(kinds(&events), expected, "{mode}");
        if reported > 0 {
            assert_eq!(payload(&events[2])["result"], "machine", "{mode}");
        }
        if reported > 1 {
            assert_eq!(payload(&events[3])["result"], "beep_detected", "{mode}");
        }
        let hangup = payload(events.last().expect("a hangup"));
        assert_eq!(hangup["hangup_cause"], "normal_clearing", "{mode}");
        assert_eq!(hangup["hangup_source"], "callee", "{mode}");
        let snapshot = phone.carrier.leg(&leg).expect("the leg is known");
        assert_eq!(snapshot.voicemail_message, None, "{mode}");
        // 13 words of greeting (130 ms) and 400 ms of recording.
        let up = snapshot
            .line_time_after(snapshot.answered_at.expect("answered"))
            .expect("ended");
        let greeting = Duration::from_millis(10) * 13;
        assert!(
            up >= greeting + Duration::from_millis(390),
            "{mode}: {up:?}"
        );
        assert_eq!(VOICEMAIL_GREETING.split_whitespace().count(), 13);
    }
}

/// What a test measures: how long a leg stayed up after the event that decided its fate,
/// and whether the client's hangup ended it.
#[tokio::test]
async fn line_time_after_the_verdict_and_who_ended_the_leg() {
    let phone = Phone::start().await;
    let leg = phone.dial("+15551230007", json!({})).await;
    phone.until(&leg, "call.machine.detection.ended").await;
    phone.ok(&leg, "hangup", json!({})).await;
    let hangup = phone.last(&leg, "call.hangup").await;
    assert_eq!(payload(&hangup)["hangup_cause"], "normal_clearing");
    assert_eq!(payload(&hangup)["hangup_source"], "caller");
    let observed = phone.carrier.observe();
    let verdict = observed
        .first_event_at(&leg, "call.machine.detection.ended")
        .expect("the verdict was sent");
    let snapshot = observed.leg(&leg).expect("the leg is known");
    let lingered = snapshot.line_time_after(verdict).expect("ended");
    assert!(lingered < Duration::from_secs(2), "{lingered:?}");
    assert!(snapshot.ended_by_command);
    assert_eq!(snapshot.hangup_source, Some(HangupSource::Caller));
    assert_eq!(snapshot.hangup_cause, Some(HangupCause::NormalClearing));
    assert_eq!(snapshot.voicemail_message, None);
    assert_eq!(observed.first_event_at(&leg, "call.bridged"), None);

    // Hung up while ringing: cancelled by the caller's command.
    let ringing = phone.dial("+15551230004", json!({})).await;
    phone.until(&ringing, "call.initiated").await;
    phone.ok(&ringing, "hangup", json!({})).await;
    let hangup = phone.last(&ringing, "call.hangup").await;
    assert_eq!(payload(&hangup)["hangup_cause"], "originator_cancel");
    assert_eq!(payload(&hangup)["hangup_source"], "caller");
    assert_eq!(payload(&hangup)["sip_hangup_cause"], "487");
    let snapshot = phone.carrier.leg(&ringing).expect("the leg is known");
    assert!(snapshot.ended_by_command);
    assert_eq!(snapshot.hangup_cause, Some(HangupCause::OriginatorCancel));
    assert_eq!(snapshot.hangup_source, Some(HangupSource::Caller));
    assert_eq!(snapshot.answered_at, None);

    // A ring-out is the caller's too, but no command ended it; a busy line is the callee's.
    for (number, cause, source) in [
        ("+15551230004", HangupCause::Timeout, HangupSource::Caller),
        ("+15551230005", HangupCause::UserBusy, HangupSource::Callee),
        (
            "+15551230008",
            HangupCause::NormalClearing,
            HangupSource::Callee,
        ),
    ] {
        let leg = phone
            .dial(
                number,
                json!({"timeout_secs": if number.ends_with('4') { 5 } else { 30 },
                       "answering_machine_detection": "disabled"}),
            )
            .await;
        if number.ends_with('8') {
            phone.until(&leg, "call.answered").await;
            phone
                .ok(&leg, "speak", speak("A long briefing follows now."))
                .await;
        }
        phone.until(&leg, "call.hangup").await;
        let snapshot = phone.carrier.leg(&leg).expect("the leg is known");
        assert_eq!(snapshot.hangup_cause, Some(cause), "{number}");
        assert_eq!(snapshot.hangup_source, Some(source), "{number}");
        assert!(!snapshot.ended_by_command, "{number}");
        assert_eq!(
            source.as_str(),
            payload(&phone.last(&leg, "call.hangup").await)["hangup_source"]
        );
    }
    assert_eq!(HangupSource::Unknown.as_str(), "unknown");
}

/// Per-callee ring times make races: two callees given the same instant answer together,
/// one given a longer ring answers later.
#[tokio::test]
async fn ring_times_can_be_set_per_callee() {
    let together = std::time::Instant::now() + Duration::from_millis(300);
    let phone = Phone::start_with(|config| {
        for (number, script) in [
            ("+15551110001", Script::presses("2").answering_at(together)),
            ("+15551110002", Script::presses("2").answering_at(together)),
            (
                "+15551110003",
                Script::silent().answering_after(Duration::from_millis(20)),
            ),
            (
                "+15551110004",
                Script::busy().answering_after(Duration::from_millis(400)),
            ),
        ] {
            config.scripts.insert(number.to_owned(), script);
        }
    })
    .await;
    let first = phone.dial("+15551110001", json!({})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = phone.dial("+15551110002", json!({})).await;
    let quick = phone.dial("+15551110003", json!({})).await;
    // 400 ms is 40 fast Telnyx seconds: longer than the default 30 s ring-out.
    let busy = phone
        .dial("+15551110004", json!({"timeout_secs": 60}))
        .await;
    for leg in [&first, &second, &quick] {
        phone.until(leg, "call.answered").await;
    }
    phone.until(&busy, "call.hangup").await;
    let at = |leg: &str| {
        phone
            .carrier
            .leg(leg)
            .and_then(|l| l.answered_at.or(l.ended_at))
            .expect("answered or ended")
    };
    let gap = match at(&second).duration_since(at(&first)) {
        Ok(later) => later,
        Err(earlier) => earlier.duration(),
    };
    assert!(
        gap < Duration::from_millis(20),
        "dialled 50 ms apart: {gap:?}"
    );
    assert!(at(&quick) < at(&first), "20 ms of ring beat 300 ms");
    assert!(at(&busy) > at(&second), "busy after 400 ms");
    let snapshot = phone.carrier.leg(&busy).expect("the leg is known");
    assert_eq!(snapshot.hangup_cause, Some(HangupCause::UserBusy));
    // A ring longer than the dial's timeout rings out.
    let phone = Phone::start_with(|config| {
        config.scripts.insert(
            "+15551110005".to_owned(),
            Script::presses("2").answering_after(Duration::from_secs(5)),
        );
    })
    .await;
    let leg = phone.dial("+15551110005", json!({"timeout_secs": 5})).await;
    let hangup = phone.last(&leg, "call.hangup").await;
    assert_eq!(payload(&hangup)["hangup_cause"], "timeout");
}

/// The plan's digit 1 keeps pressing 1 even where connect is not offered: every try of every
/// menu is refused.
#[tokio::test]
async fn the_callee_who_presses_1_keeps_pressing_it_where_it_is_not_offered() {
    let phone = Phone::start().await;
    let leg = phone.dial("+15551230001", json!({})).await;
    phone.until(&leg, "call.machine.detection.ended").await;
    for menu in 1..=2 {
        phone
            .ok(&leg, "gather_using_speak", keypad_menu("2*"))
            .await;
        let events = phone
            .events_until(&leg, |events| {
                events
                    .iter()
                    .filter(|e| kind(e) == "call.gather.ended")
                    .count()
                    == menu
            })
            .await;
        let tail = &events[events.len() - 3..];
        assert_eq!(
            kinds(tail),
            [
                "call.dtmf.received",
                "call.dtmf.received",
                "call.gather.ended"
            ],
            "menu {menu}"
        );
        assert_eq!(payload(&tail[0])["digit"], "1");
        assert_eq!(payload(&tail[1])["digit"], "1");
        assert_eq!(payload(&tail[2])["status"], "invalid");
        assert_eq!(payload(&tail[2])["digits"], "1");
    }
    phone.ok(&leg, "hangup", json!({})).await;
    phone.until(&leg, "call.hangup").await;
}

#[tokio::test]
async fn an_incoming_call_rings_until_answered_and_its_recording_is_saved_and_transcribed() {
    let phone = Phone::start().await;
    let said = "The checkout is failing for every card";
    let leg = phone
        .carrier
        .place_call(IncomingCall {
            from: "+15557770002".into(),
            to: FROM.into(),
            script: Script::caller("", Some(said)),
            webhook_url: Some(phone.receiver.url()),
        })
        .expect("a webhook URL is given");
    let initiated = phone.last(&leg, "call.initiated").await;
    assert_eq!(payload(&initiated)["direction"], "incoming");
    assert_eq!(payload(&initiated)["from"], "+15557770002");
    let early = json!({"payload": "Hello", "voice": VOICE, "command_id": "s0"});
    assert_eq!(
        phone.command(&leg, "speak", early).await.0,
        422,
        "not answered yet"
    );
    phone.ok(&leg, "answer", json!({"command_id": "a1"})).await;
    phone.last(&leg, "call.answered").await;
    assert_eq!(
        phone
            .command(&leg, "answer", json!({"command_id": "a2"}))
            .await
            .0,
        422,
        "answered once"
    );
    let outgoing = phone.dial("+15551230001", json!({})).await;
    phone.last(&outgoing, "call.answered").await;
    assert_eq!(
        phone.command(&outgoing, "answer", json!({})).await.0,
        422,
        "only an incoming call is answered"
    );
    let url = phone.url(&format!("/calls/{leg}/actions/record_start"));
    let no_format = json!({"channels": "single"});
    let (status, _) = phone
        .send(phone.http.post(url).bearer_auth("KEY").json(&no_format))
        .await;
    assert_eq!(status, 422, "format is required");
    let record = json!({
        "format": "mp3", "channels": "single", "play_beep": true, "timeout_secs": 2,
        "transcription": true, "transcription_engine": "B",
        "client_state": state_of(&json!({"call": 1})), "command_id": "r1",
    });
    phone.ok(&leg, "record_start", record).await;
    let sent = phone
        .carrier
        .wait_until(WAIT, |seen| {
            let bodies: Vec<Value> = seen
                .webhooks
                .iter()
                .filter(|w| w.event_type.starts_with("call.recording."))
                .map(|w| w.body.clone())
                .collect();
            (bodies.len() == 2).then_some(bodies)
        })
        .await
        .expect("the recording is saved and transcribed");
    for body in &sent {
        assert_valid(event_schema(kind(body)).expect("a schema"), body);
        assert_eq!(payload(body)["client_state"], state_of(&json!({"call": 1})));
    }
    assert_eq!(kind(&sent[0]), "call.recording.saved");
    assert!(payload(&sent[0])["recording_urls"]["mp3"].is_string());
    assert_eq!(payload(&sent[1])["transcription_text"], said);
    assert_eq!(payload(&sent[1])["call_control_id"], leg);
}
