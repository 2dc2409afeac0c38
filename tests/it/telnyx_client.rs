//! The Telnyx Call Control client against a fake Telnyx on loopback, and the webhook fixtures
//! against the official schemas.
//!
//! The fake is a real axum server that records every request (method, raw path, headers, body,
//! arrival time) and answers from a script, then with Telnyx's documented success bodies. Every
//! body the client sends is checked with the strict spec validator, so "serialized as the spec
//! wants" is proven on the bytes that actually leave the process.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use klaxon::voice::telnyx::commands::{
    AiAssistant, AiMessage, AiRole, AmdConfig, GoogleTranscription, InterruptionSettings,
    PayloadType, ServiceLevel, TargetLegs, TelnyxTranscription, TranscriptionEngine,
    TranscriptionTracks,
};
use klaxon::voice::telnyx::events::{self, CallEventKind};
use klaxon::voice::telnyx::{
    AnsweringMachineDetection, ApiKey, Bridge, CallControlId, ClientState, Command, CommandId,
    Dial, GatherUsingAi, GatherUsingSpeak, Hangup, LegRole, RetryPolicy, Speak, TelnyxClient,
    TelnyxConfig, TelnyxError, TranscriptionStart, Transfer,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::telnyx_spec::{assert_valid, validate};

const KEY: &str = "KEY01234567890ABCDEF_test";
const LEG_A: &str = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg==";
const LEG_B: &str = "v3:Xq2bN8v0cR1yHk3LmP9sT4uW6zA-QeE5fG7hJ_iK0oA";

/// One scripted answer.
#[derive(Clone)]
enum Reply {
    Json(u16, Value, Vec<(&'static str, &'static str)>),
    /// No answer for longer than any test waits.
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// As received, percent-encoding included.
    path: String,
    headers: HeaderMap,
    body: Value,
    at: Instant,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    arrived: Notify,
}

struct FakeTelnyx {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeTelnyx {
    async fn start() -> FakeTelnyx {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port 0 is always bindable");
        let addr = listener.local_addr().expect("listener bound above");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeTelnyx { addr, shared }
    }

    /// Answers the next requests with `replies`, in order, before the default answers.
    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    fn client(&self, change: impl FnOnce(&mut TelnyxConfig)) -> TelnyxClient {
        let mut config = TelnyxConfig::new(ApiKey::new(KEY), "1494404757140276705", "+15557650000");
        config.api_base = format!("http://{}/v2/", self.addr);
        config.request_timeout = Duration::from_secs(2);
        config.retry = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            budget: Duration::from_secs(5),
        };
        change(&mut config);
        TelnyxClient::new(config).expect("test config is valid")
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("the client sends JSON")
    };
    let path = uri.path().to_owned();
    let scripted = shared.script.lock().unwrap().pop_front();
    shared.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
        at: Instant::now(),
    });
    shared.arrived.notify_waiters();
    match scripted.unwrap_or_else(|| default_reply(&method, &path)) {
        Reply::Json(status, body, headers) => {
            let mut response = (
                StatusCode::from_u16(status).expect("scripted status is valid"),
                axum::Json(body),
            )
                .into_response();
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("scripted header is valid"));
            }
            response
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// Telnyx's documented success bodies (docs/telnyx.md §1).
fn default_reply(method: &Method, path: &str) -> Reply {
    let call = |is_alive: bool| {
        json!({"data": {
            "call_control_id": LEG_A,
            "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "call_session_id": "428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
            "is_alive": is_alive,
            "record_type": "call",
            "client_state": ClientState::new("esc_9", 2, LegRole::A).unwrap().encode(),
            "start_time": "2026-11-23T14:05:01.100Z",
            "call_duration": 42,
        }})
    };
    if *method == Method::POST && path == "/v2/calls" {
        Reply::Json(200, call(false), Vec::new())
    } else if *method == Method::GET {
        Reply::Json(200, call(true), Vec::new())
    } else {
        Reply::Json(200, json!({"data": {"result": "ok"}}), Vec::new())
    }
}

fn error(status: u16, code: &str, title: &str) -> Reply {
    Reply::Json(
        status,
        json!({"errors": [{"code": code, "title": title, "detail": "…"}]}),
        Vec::new(),
    )
}

fn id(step: &str) -> CommandId {
    CommandId::new("esc_01JD7Q3M5V", 1, step)
}

fn state(leg: LegRole) -> ClientState {
    ClientState::new("esc_01JD7Q3M5V", 1, leg).unwrap()
}

fn leg_a() -> CallControlId {
    CallControlId::new(LEG_A)
}

fn schema_for(seen: &Seen) -> &'static str {
    let action = seen.path.rsplit('/').next().unwrap_or_default();
    match (seen.path.as_str(), action) {
        ("/v2/calls", _) => "CallRequest",
        (_, "speak") => "SpeakRequest",
        (_, "gather_using_speak") => "GatherUsingSpeakRequest",
        (_, "gather_using_ai") => "GatherUsingAIRequest",
        (_, "transcription_start") => "TranscriptionStartRequest",
        (_, "transfer") => "TransferCallRequest",
        (_, "bridge") => "BridgeRequest",
        (_, "hangup") => "HangupRequest",
        _ => panic!("unexpected request to {}", seen.path),
    }
}

/// Every option we model, set, for each request type: what leaves the client must be a valid
/// instance of its schema with no unknown field.
#[tokio::test]
async fn every_request_body_matches_its_schema() {
    let fake = FakeTelnyx::start().await;
    let client = fake.client(|_| {});

    let minimal = Dial::new("+15551230001", id("dial"));
    let full = Dial {
        from: Some("+15557650001".to_owned()),
        from_display_name: Some("Klaxon on-call".to_owned()),
        timeout_secs: Some(30),
        time_limit_secs: Some(1800),
        answering_machine_detection: Some(AnsweringMachineDetection::Premium),
        answering_machine_detection_config: Some(AmdConfig {
            total_analysis_time_millis: Some(4000),
            greeting_duration_millis: Some(3500),
        }),
        link_to: Some(leg_a()),
        bridge_intent: true,
        bridge_on_answer: true,
        park_after_unbridge: true,
        prevent_double_bridge: true,
        retry_on_timeout: Some(false),
        webhook_url: Some("https://klaxon.example.com/telnyx/webhooks".to_owned()),
        client_state: Some(state(LegRole::B)),
        ..Dial::new("+15551230002", id("dial_b"))
    };
    for dial in [&minimal, &full] {
        let leg = client.dial(dial).await.expect("the fake accepts the dial");
        assert_eq!(leg.call_control_id, leg_a());
        assert_eq!(
            leg.call_leg_id.as_str(),
            "428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
        );
    }

    let commands: Vec<Command> = vec![
        Speak::new("Connecting you now, please hold.", id("hold")).into(),
        Speak {
            language: Some("en-US".to_owned()),
            payload_type: Some(PayloadType::Text),
            service_level: Some(ServiceLevel::Premium),
            target_legs: Some(TargetLegs::Both),
            client_state: Some(state(LegRole::A)),
            voice: "AWS.Polly.Joanna-Neural".to_owned(),
            ..Speak::new(
                "Klaxon: Dana is calling about checkout errors.",
                id("whisper"),
            )
        }
        .into(),
        GatherUsingSpeak::fallback_menu("Press 1 to connect, 2 to acknowledge.", id("menu")).into(),
        GatherUsingSpeak {
            language: Some("en-US".to_owned()),
            payload_type: Some(PayloadType::Ssml),
            service_level: Some(ServiceLevel::Basic),
            voice: "female".to_owned(),
            invalid_payload: Some("Sorry, press 1 or 2.".to_owned()),
            terminating_digit: Some("#".to_owned()),
            inter_digit_timeout_millis: Some(3000),
            client_state: Some(state(LegRole::A)),
            ..GatherUsingSpeak::fallback_menu("<speak>Press 1.</speak>", id("menu2"))
        }
        .into(),
        GatherUsingAi::intent(
            "Checkout is failing for Acme. Say connect me, or acknowledge.",
            &["connect", "acknowledge", "repeat"],
            id("ai_gather"),
        )
        .into(),
        GatherUsingAi {
            voice: Some("Telnyx.KokoroTTS.af".to_owned()),
            language: Some("en".to_owned()),
            assistant: Some(AiAssistant {
                model: Some("Qwen/Qwen3-235B-A22B".to_owned()),
                instructions: Some("Map 'connect me' to connect.".to_owned()),
            }),
            transcription: Some(klaxon::voice::telnyx::commands::AiTranscription {
                model: Some("deepgram/nova-3".to_owned()),
                language: Some("en".to_owned()),
            }),
            message_history: vec![AiMessage {
                role: AiRole::Assistant,
                content: "Checkout is failing for Acme.".to_owned(),
            }],
            user_response_timeout_ms: Some(10_000),
            gather_ended_speech: Some("Thanks.".to_owned()),
            interruption_settings: Some(InterruptionSettings { enable: true }),
            send_partial_results: Some(false),
            send_message_history_updates: Some(false),
            client_state: Some(state(LegRole::A)),
            ..GatherUsingAi::intent("Say connect me.", &["connect"], id("ai_gather2"))
        }
        .into(),
        TranscriptionStart::new(id("transcribe")).into(),
        TranscriptionStart {
            engine: Some(TranscriptionEngine::Google(GoogleTranscription {
                language: Some("en".to_owned()),
                interim_results: Some(false),
                model: Some("phone_call".to_owned()),
                hints: vec!["connect me".to_owned(), "acknowledge".to_owned()],
            })),
            tracks: Some(TranscriptionTracks::Inbound),
            client_state: Some(state(LegRole::A)),
            ..TranscriptionStart::new(id("transcribe_google"))
        }
        .into(),
        TranscriptionStart {
            engine: Some(TranscriptionEngine::Telnyx(TelnyxTranscription {
                language: Some("en".to_owned()),
                transcription_model: Some("openai/whisper-large-v3-turbo".to_owned()),
            })),
            tracks: Some(TranscriptionTracks::Both),
            ..TranscriptionStart::new(id("transcribe_telnyx"))
        }
        .into(),
        Transfer::new("+15551230002", id("transfer")).into(),
        Transfer {
            from: Some("+15557650001".to_owned()),
            from_display_name: Some("Klaxon".to_owned()),
            timeout_secs: Some(30),
            time_limit_secs: Some(1800),
            answering_machine_detection: Some(AnsweringMachineDetection::Detect),
            audio_url: Some("https://klaxon.example.com/whisper/esc_01JD7Q3M5V.mp3".to_owned()),
            early_media: Some(false),
            park_after_unbridge: true,
            webhook_url: Some("https://klaxon.example.com/telnyx/webhooks".to_owned()),
            client_state: Some(state(LegRole::A)),
            target_leg_client_state: Some(state(LegRole::B)),
            ..Transfer::new("+15551230002", id("transfer2"))
        }
        .into(),
        Bridge::new(CallControlId::new(LEG_B), id("bridge")).into(),
        Bridge {
            park_after_unbridge: true,
            hold_after_unbridge: Some(false),
            play_ringtone: Some(true),
            prevent_double_bridge: Some(true),
            client_state: Some(state(LegRole::A)),
            ..Bridge::new(CallControlId::new(LEG_B), id("bridge2"))
        }
        .into(),
        Hangup::new(id("hangup")).into(),
        Hangup {
            client_state: Some(state(LegRole::A)),
            ..Hangup::new(id("hangup2"))
        }
        .into(),
    ];
    for command in &commands {
        client
            .command(&leg_a(), command)
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", command.action()));
    }

    let seen = fake.seen();
    assert_eq!(
        seen.len(),
        2 + commands.len(),
        "one request each, no retries"
    );
    for request in &seen {
        assert_valid(schema_for(request), &request.body);
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(request.body["command_id"].is_string(), "{}", request.path);
    }
    assert_eq!(seen[0].body["connection_id"], "1494404757140276705");
    assert_eq!(
        seen[0].body["from"], "+15557650000",
        "the configured number"
    );
    assert_eq!(seen[1].body["from"], "+15557650001");
    // The id goes into the path as is: `:`, `_`, `-` and `=` are legal in a segment.
    assert_eq!(seen[2].path, format!("/v2/calls/{LEG_A}/actions/speak"));
    let blind = seen.iter().find(|s| s.path.ends_with("/transfer")).unwrap();
    assert_eq!(
        blind.body["from"], "+15557650000",
        "transfers always send from"
    );
}

/// Why `TranscriptionStart` names its engine inside the config as well: the spec's config is a
/// `oneOf` whose Google branch requires nothing, so a config without the tag matches several
/// branches and fails.
#[test]
fn a_transcription_config_without_its_engine_is_invalid() {
    let untagged = json!({"transcription_engine": "Google",
        "transcription_engine_config": {"language": "en"}, "command_id": "c"});
    assert!(validate("TranscriptionStartRequest", &untagged).is_err());
    let tagged = json!({"transcription_engine": "Google",
        "transcription_engine_config": {"transcription_engine": "Google", "language": "en"},
        "command_id": "c"});
    assert_valid("TranscriptionStartRequest", &tagged);
}

#[tokio::test]
async fn a_500_is_retried_once_with_the_same_command_id() {
    let fake = FakeTelnyx::start().await;
    fake.script([error(500, "500", "Internal Server Error")]);
    let client = fake.client(|_| {});
    let speak = Command::from(Speak::new("Hello.", id("brief")));

    client
        .command(&leg_a(), &speak)
        .await
        .expect("the retry succeeds");

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the identical body is resent");
    assert_eq!(seen[1].body["command_id"], "esc_01JD7Q3M5V:1:brief");
}

#[tokio::test]
async fn a_429_waits_for_the_rate_limit_reset() {
    let fake = FakeTelnyx::start().await;
    fake.script([Reply::Json(
        429,
        json!({"errors": [{"code": "90103", "title": "Dials per second limit reached"}]}),
        vec![("x-ratelimit-reset", "1")],
    )]);
    let client = fake.client(|_| {});

    let leg = client
        .dial(&Dial::new("+15551230001", id("dial")))
        .await
        .expect("the dial goes through after the reset");

    assert_eq!(leg.call_control_id, leg_a());
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body["command_id"], seen[1].body["command_id"]);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
}

#[tokio::test]
async fn a_reset_beyond_the_budget_is_handed_to_the_caller() {
    let fake = FakeTelnyx::start().await;
    fake.script([Reply::Json(
        429,
        json!({"errors": [{"code": "10011", "title": "Too many requests"}]}),
        vec![("retry-after", "30")],
    )]);
    let client = fake.client(|_| {});
    let started = Instant::now();

    let result = client
        .command(&leg_a(), &Speak::new("Hello.", id("brief")).into())
        .await;

    match result {
        Err(TelnyxError::RateLimited { code, retry_after }) => {
            assert_eq!(code.as_deref(), Some("10011"));
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no pointless wait"
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_gone_leg_is_terminal_and_not_retried() {
    let fake = FakeTelnyx::start().await;
    fake.script([
        error(422, "90018", "Call has already ended"),
        error(422, "90018", "Call has already ended"),
        error(422, "90015", "Invalid Call Control ID"),
    ]);
    let client = fake.client(|_| {});

    let speak = client
        .command(&leg_a(), &Speak::new("Hello.", id("brief")).into())
        .await;
    assert!(
        matches!(&speak, Err(TelnyxError::CallGone { code }) if code == "90018"),
        "{speak:?}"
    );
    assert_eq!(fake.seen().len(), 1, "never retried");

    // Hanging up a leg that is already gone is what we wanted anyway (docs/telnyx.md §3.8).
    client
        .command(&leg_a(), &Hangup::new(id("hangup")).into())
        .await
        .expect("a hangup of a gone leg is a success");
    let status = client.call_status(&leg_a()).await;
    assert!(
        matches!(status, Err(TelnyxError::CallGone { .. })),
        "{status:?}"
    );
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn an_invalid_number_is_rejected_and_not_retried() {
    let fake = FakeTelnyx::start().await;
    fake.script([error(422, "10016", "Phone number must be in +E164 format")]);
    let client = fake.client(|_| {});

    let result = client.dial(&Dial::new("5551230001", id("dial"))).await;

    match result {
        Err(TelnyxError::Rejected { status, errors }) => {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(errors[0].code, "10016");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn call_state_codes_get_their_meaning() {
    let fake = FakeTelnyx::start().await;
    fake.script([
        error(422, "90034", "Call not answered yet"),
        error(422, "90054", "Call transcription is already in progress"),
        error(422, "90061", "AI Assistant is already in progress"),
        error(422, "90061", "AI Assistant is already in progress"),
    ]);
    let client = fake.client(|_| {});

    let early = client
        .command(
            &leg_a(),
            &GatherUsingSpeak::fallback_menu("Press 1.", id("menu")).into(),
        )
        .await;
    assert!(
        matches!(early, Err(TelnyxError::NotAnsweredYet)),
        "{early:?}"
    );
    client
        .command(&leg_a(), &TranscriptionStart::new(id("transcribe")).into())
        .await
        .expect("a running transcription is what we asked for");
    client
        .command(
            &leg_a(),
            &GatherUsingAi::intent("Say connect me.", &["connect"], id("ai")).into(),
        )
        .await
        .expect("a running AI gather is what we asked for");
    let other = client
        .command(&leg_a(), &Speak::new("Hello.", id("brief")).into())
        .await;
    assert!(
        matches!(&other, Err(TelnyxError::Rejected { .. }))
            && other.as_ref().is_err_and(|e| e.has_code("90061")),
        "90061 is only benign for gather_using_ai: {other:?}"
    );
    assert_eq!(fake.seen().len(), 4, "none of them retried");
}

#[tokio::test]
async fn a_timeout_is_retried_with_the_same_command_id() {
    let fake = FakeTelnyx::start().await;
    fake.script([Reply::Hang]);
    let client = fake.client(|c| c.request_timeout = Duration::from_millis(300));
    let started = Instant::now();

    let leg = client
        .dial(&Dial::new("+15551230001", id("dial")))
        .await
        .expect("the second attempt answers");

    assert_eq!(leg.call_control_id, leg_a());
    assert!(started.elapsed() >= Duration::from_millis(300));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[1].body["command_id"], "esc_01JD7Q3M5V:1:dial");
}

#[tokio::test]
async fn retries_stop_at_the_attempt_limit() {
    let fake = FakeTelnyx::start().await;
    // A sixth attempt would succeed: the client must not make it.
    fake.script((0..5).map(|_| error(503, "503", "Service Unavailable")));
    let client = fake.client(|_| {});

    let result = client
        .command(&leg_a(), &Hangup::new(id("hangup")).into())
        .await;

    match result {
        Err(e @ TelnyxError::Server { .. }) => assert!(e.is_retryable()),
        other => panic!("expected Server, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 5);
}

/// A dial retry that had to queue for a pacer token past the budget is dropped, not sent: late,
/// it could fall outside Telnyx's 60 s `command_id` window and ring the person twice.
#[tokio::test]
async fn a_dial_retry_is_never_sent_after_the_budget() {
    let fake = FakeTelnyx::start().await;
    fake.script([error(500, "500", "Internal Server Error")]);
    // One dial per second: the retry's token comes about a second after the first attempt.
    let client = fake.client(|c| {
        c.dials_per_second = 1.0;
        c.retry.budget = Duration::from_millis(800);
    });

    let result = client.dial(&Dial::new("+15551230001", id("dial"))).await;

    assert!(
        matches!(result, Err(TelnyxError::Server { .. })),
        "{result:?}"
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn call_status_reads_the_leg_and_encodes_odd_ids() {
    let fake = FakeTelnyx::start().await;
    let client = fake.client(|_| {});

    let status = client.call_status(&leg_a()).await.expect("status");
    assert!(status.is_alive);
    assert_eq!(status.call_duration_secs, Some(42));
    let state = status.client_state.expect("our state decodes");
    assert_eq!((state.escalation(), state.attempt()), ("esc_9", 2));

    client
        .call_status(&CallControlId::new("v3:a/b+c"))
        .await
        .expect("status");
    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, format!("/v2/calls/{LEG_A}"));
    assert_eq!(seen[1].path, "/v2/calls/v3:a%2Fb%2Bc");
}

/// 40 dials at 20/s with a burst of 20: the last 20 are spread over at least a second, while
/// commands on live legs go out at once.
#[tokio::test]
async fn dials_are_paced_and_commands_are_not() {
    const DIALS: usize = 40;
    const RATE: f64 = 20.0;
    let fake = FakeTelnyx::start().await;
    let client = fake.client(|c| c.dials_per_second = RATE);
    let started = Instant::now();

    let mut tasks = Vec::new();
    for n in 0..DIALS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .dial(&Dial::new("+15551230001", id(&format!("dial{n}"))))
                .await
        }));
    }
    for task in tasks {
        task.await.expect("dial task").expect("dial");
    }

    let burst = 20.0;
    let floor = Duration::from_secs_f64((DIALS as f64 - burst) / RATE);
    assert!(
        started.elapsed() >= floor,
        "{DIALS} dials took {:?}, less than {floor:?}",
        started.elapsed()
    );
    let seen = fake.seen();
    let first = seen[0].at;
    let early = seen
        .iter()
        .filter(|s| s.at - first < Duration::from_millis(500))
        .count();
    assert!(
        early <= 20 + 10 + 1,
        "{early} dials in the first half second"
    );

    let started = Instant::now();
    for n in 0..DIALS {
        client
            .command(&leg_a(), &Hangup::new(id(&format!("hangup{n}"))).into())
            .await
            .expect("hangup");
    }
    assert!(
        started.elapsed() < floor,
        "commands were paced: {:?}",
        started.elapsed()
    );
}

/// Each fixture is a realistic delivery: valid against its schema (the spec does not model
/// the delivery `meta`, so it is set aside for the check) and parsed into the right kind.
#[test]
fn webhook_fixtures_match_the_spec_and_parse() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("call_initiated", Some("CallInitiatedEvent"), "Initiated"),
        ("call_answered", Some("CallAnsweredEvent"), "Answered"),
        ("call_hangup", Some("CallHangupEvent"), "Hangup"),
        (
            "call_hangup_foreign_state",
            Some("CallHangupEvent"),
            "Hangup",
        ),
        (
            "call_machine_detection_ended",
            Some("CallMachineDetectionEndedEvent"),
            "MachineDetectionEnded",
        ),
        // No schema for it in the extracted fixture; the spec's payload is the same shape
        // with the premium `result` values.
        (
            "call_machine_premium_detection_ended",
            None,
            "MachinePremiumDetectionEnded",
        ),
        (
            "call_speak_started",
            Some("CallSpeakStartedEvent"),
            "SpeakStarted",
        ),
        (
            "call_speak_ended",
            Some("CallSpeakEndedEvent"),
            "SpeakEnded",
        ),
        (
            "call_gather_ended",
            Some("CallGatherEndedEvent"),
            "GatherEnded",
        ),
        (
            "call_dtmf_received",
            Some("CallDtmfReceivedEvent"),
            "DtmfReceived",
        ),
        (
            "call_ai_gather_ended",
            Some("CallAIGatherEndedEvent"),
            "AiGatherEnded",
        ),
        (
            "call_transcription",
            Some("TranscriptionEvent"),
            "Transcription",
        ),
        ("call_bridged", Some("CallBridgedEvent"), "Bridged"),
        ("call_machine_greeting_ended", None, "GreetingEnded"),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telnyx/events");
    let files = std::fs::read_dir(dir).expect("fixture dir").count();
    assert_eq!(files, cases.len(), "every fixture is covered");
    for (name, schema, kind) in cases {
        let body = std::fs::read(format!("{dir}/{name}.json")).expect("fixture");
        let mut json: Value = serde_json::from_slice(&body).expect("fixture is JSON");
        assert!(
            json["meta"].is_object(),
            "{name} looks like a real delivery"
        );
        json.as_object_mut().unwrap().remove("meta");
        if let Some(schema) = schema {
            assert_valid(schema, &json);
        }
        let event = events::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = format!("{:?}", event.kind);
        assert!(got.starts_with(kind), "{name}: {got}");
        assert!(!matches!(event.kind, CallEventKind::Other(_)) || *kind == "Other");
        assert!(event.call_control_id.is_some(), "{name}");
    }
}

/// The intended order in the webhook handler: verify the raw bytes with
/// `signing::telnyx`, then parse those same bytes.
#[test]
fn a_signed_delivery_verifies_then_parses() {
    use klaxon::signing::telnyx::{PublicKey, sign, verify};

    let seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let key: PublicKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        .parse()
        .unwrap();
    let body = include_bytes!("../fixtures/telnyx/events/call_gather_ended.json");
    let timestamp = "1795442702";

    let signature = sign(&seed, timestamp, body);
    verify(&signature, timestamp, body, &[key], 1_795_442_702).expect("signature verifies");
    let event = events::parse(body).expect("parses");
    assert!(matches!(
        event.kind,
        CallEventKind::GatherEnded { ref digits, .. } if digits == "1"
    ));
    assert_eq!(event.client_state.unwrap().leg(), LegRole::A);
}
