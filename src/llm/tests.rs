//! `ChatModel` against a real OpenAI-compatible server on loopback.
//!
//! The fake endpoint is a small axum app that records each request and answers however the
//! test says: a completion, an error status, a raw body, or nothing until long past the
//! client's timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;

const KEY: &str = "tk-test-0123456789abcdef";

/// How the fake endpoint answers every request.
#[derive(Clone)]
enum Answer {
    /// A 200 chat completion whose `choices[0].message.content` is this.
    Content(&'static str),
    /// This status with this body.
    Status(u16, String),
    /// A 200 with this exact body.
    Raw(&'static str),
    /// Nothing for a minute.
    Hang,
}

struct Recorded {
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct FakeModel {
    base_url: String,
    requests: mpsc::UnboundedReceiver<Recorded>,
}

impl FakeModel {
    async fn start(answer: Answer) -> FakeModel {
        let (record, requests) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(Arc::new((answer, record)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port 0 is always bindable");
        let addr = listener.local_addr().expect("listener bound above");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeModel {
            base_url: format!("http://{addr}/v1"),
            requests,
        }
    }

    fn model(&self, api_key: Option<&str>, timeout: Duration) -> ChatModel {
        ChatModel::new(ModelConfig {
            base_url: self.base_url.clone(),
            model: "test-org/test-model".to_owned(),
            api_key: api_key.map(ApiKey::new),
            timeout,
        })
        .expect("test config is valid")
    }

    /// The request the server saw; the handler records it before answering.
    fn last_request(&mut self) -> Recorded {
        self.requests
            .try_recv()
            .expect("the fake model received a request")
    }
}

async fn handle(
    State(state): State<Arc<(Answer, mpsc::UnboundedSender<Recorded>)>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (answer, record) = &*state;
    let _ = record.send(Recorded {
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().expect("ascii header").to_owned()),
        body: serde_json::from_slice(&body).expect("client sends JSON"),
    });
    match answer.clone() {
        Answer::Content(content) => axum::Json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "test-org/test-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "reasoning_content": null},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}
        }))
        .into_response(),
        Answer::Status(status, body) => (
            StatusCode::from_u16(status).expect("test uses a valid status"),
            body,
        )
            .into_response(),
        Answer::Raw(body) => (StatusCode::OK, body).into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

const SECOND: Duration = Duration::from_secs(1);

/// `ChatCompletionRequest` in the Telnyx OpenAPI spec (`specs/telnyx-openapi.yml`, used by
/// operation `create_openai_chat_completion`): every property and its JSON type. The schema
/// requires only `messages`; each message requires `role` (system|user|assistant|tool) and
/// `content` (a string, or an array of parts).
const SPEC_PROPERTIES: &[(&str, &str)] = &[
    ("api_key_ref", "string"),
    ("best_of", "integer"),
    ("early_stopping", "boolean"),
    ("enable_thinking", "boolean"),
    ("frequency_penalty", "number"),
    ("guided_choice", "array"),
    ("guided_json", "object"),
    ("guided_regex", "string"),
    ("length_penalty", "number"),
    ("logprobs", "boolean"),
    ("max_tokens", "integer"),
    ("messages", "array"),
    ("min_p", "number"),
    ("model", "string"),
    ("n", "number"),
    ("presence_penalty", "number"),
    ("response_format", "object"),
    ("seed", "integer"),
    ("stop", "string|array"),
    ("stream", "boolean"),
    ("temperature", "number"),
    ("tool_choice", "string"),
    ("tools", "array"),
    ("top_logprobs", "integer"),
    ("top_p", "number"),
    ("use_beam_search", "boolean"),
];

fn assert_conforms_to_spec(body: &Value) {
    let object = body.as_object().expect("request body is an object");
    for (name, value) in object {
        let (_, kind) = SPEC_PROPERTIES
            .iter()
            .find(|(property, _)| property == name)
            .unwrap_or_else(|| panic!("`{name}` is not a ChatCompletionRequest property"));
        let ok = match *kind {
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "string|array" => value.is_string() || value.is_array(),
            "object" => value.is_object(),
            other => unreachable!("type {other} is not in the table"),
        };
        assert!(ok, "`{name}` should be a JSON {kind}, got {value}");
    }
    let messages = body["messages"].as_array().expect("`messages` is required");
    for message in messages {
        let role = message["role"].as_str().expect("message role is a string");
        assert!(["system", "user", "assistant", "tool"].contains(&role));
        assert!(message["content"].is_string(), "content is a string");
    }
    let choices = body["guided_choice"].as_array().expect("guided_choice");
    assert!(
        choices.iter().all(Value::is_string),
        "guided_choice items are strings"
    );
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_the_label() {
    let mut server = FakeModel::start(Answer::Content("high")).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let declared = labels(&["low", "high", "critical"]);

    let chosen = model
        .choose_label(
            "Classify the ticket severity.",
            "Checkout returns errors for some users",
            &declared,
        )
        .await
        .expect("label");
    assert_eq!(chosen, "high");

    let request = server.last_request();
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_conforms_to_spec(&request.body);
    let body = &request.body;
    assert_eq!(body["model"], "test-org/test-model");
    assert_eq!(body["guided_choice"], json!(["low", "high", "critical"]));
    assert_eq!(body["temperature"], json!(0.0));
    assert_eq!(body["enable_thinking"], json!(false));
    let max_tokens = body["max_tokens"].as_u64().expect("max_tokens");
    assert!(
        (8..=32).contains(&max_tokens),
        "small max_tokens, got {max_tokens}"
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content":
                "Classify the ticket severity.\n\nAnswer with exactly one of: low, high, critical"},
            {"role": "user", "content": "Checkout returns errors for some users"},
        ])
    );
}

#[tokio::test]
async fn answers_in_other_case_or_quoted_map_to_the_declared_label() {
    let mut server = FakeModel::start(Answer::Content("  \"CRITICAL\".\n")).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let chosen = model
        .choose_label(
            "Severity?",
            "db down",
            &labels(&["Low", "High", "Critical"]),
        )
        .await
        .expect("label");
    assert_eq!(chosen, "Critical");
    server.last_request();
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let mut server = FakeModel::start(Answer::Content("low")).await;
    let model = server.model(None, 5 * SECOND);
    model
        .choose_label("Severity?", "a question", &labels(&["low", "high"]))
        .await
        .expect("label");
    assert_eq!(server.last_request().authorization, None);
}

#[tokio::test]
async fn an_answer_outside_the_labels_is_invalid_label() {
    let mut server = FakeModel::start(Answer::Content("probably high")).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let error = model
        .choose_label("Severity?", "text", &labels(&["low", "high"]))
        .await
        .expect_err("not a label");
    match &error {
        LlmError::InvalidLabel { got } => assert_eq!(got, "probably high"),
        other => panic!("expected InvalidLabel, got {other:?}"),
    }
    assert!(!error.is_retryable());
    server.last_request();
}

#[tokio::test]
async fn a_server_error_is_status_with_a_short_masked_body() {
    let body = format!("upstream failed for key {KEY}: {}", "x".repeat(1000));
    let server = FakeModel::start(Answer::Status(500, body)).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let error = model
        .choose_label("Severity?", "text", &labels(&["low", "high"]))
        .await
        .expect_err("500");
    let LlmError::Status { status, body } = &error else {
        panic!("expected Status, got {error:?}");
    };
    assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.chars().count() <= MAX_ERROR_BODY_CHARS, "{body}");
    assert!(
        body.starts_with("upstream failed for key [redacted]: xxx"),
        "{body}"
    );
    assert!(error.is_retryable());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn a_validation_error_is_status_and_not_retryable() {
    let detail = r#"{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}"#;
    let server = FakeModel::start(Answer::Status(422, detail.to_owned())).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let error = model
        .choose_label("Severity?", "text", &labels(&["low", "high"]))
        .await
        .expect_err("422");
    assert!(
        matches!(&error, LlmError::Status { status, body }
            if *status == StatusCode::UNPROCESSABLE_ENTITY && body == detail),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_slow_server_is_a_timeout() {
    let server = FakeModel::start(Answer::Hang).await;
    let timeout = Duration::from_millis(200);
    let model = server.model(Some(KEY), timeout);
    let started = std::time::Instant::now();
    let error = model
        .choose_label("Severity?", "text", &labels(&["low", "high"]))
        .await
        .expect_err("timeout");
    assert!(
        matches!(error, LlmError::Timeout { after } if after == timeout),
        "{error:?}"
    );
    assert!(started.elapsed() < 5 * SECOND, "gave up at the deadline");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port 0 is always bindable");
    let addr = listener.local_addr().expect("listener bound above");
    drop(listener);
    let model = ChatModel::new(ModelConfig {
        base_url: format!("http://{addr}/v1"),
        api_key: Some(ApiKey::new(KEY)),
        timeout: 5 * SECOND,
        ..ModelConfig::default()
    })
    .expect("valid config");
    let error = model
        .choose_label("Severity?", "text", &labels(&["low", "high"]))
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, LlmError::Unreachable { .. }), "{error:?}");
    assert!(error.is_retryable());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(KEY), "{shown}");
}

#[tokio::test]
async fn replies_that_are_not_completions_are_invalid_response() {
    for raw in [
        "not json",
        r#"{"choices":[]}"#,
        r#"{"choices":[{"message":{"role":"assistant","content":null}}]}"#,
        r#"{"error":"overloaded"}"#,
    ] {
        let server = FakeModel::start(Answer::Raw(raw)).await;
        let model = server.model(Some(KEY), 5 * SECOND);
        let error = model
            .choose_label("Severity?", "text", &labels(&["low", "high"]))
            .await
            .expect_err(raw);
        assert!(
            matches!(error, LlmError::InvalidResponse { .. }),
            "{raw}: {error:?}"
        );
    }
}

#[tokio::test]
async fn unusable_labels_are_refused_before_any_request() {
    let mut server = FakeModel::start(Answer::Content("low")).await;
    let model = server.model(Some(KEY), 5 * SECOND);
    let error = model
        .choose_label("Severity?", "text", &[])
        .await
        .expect_err("no labels");
    assert!(matches!(error, LlmError::InvalidLabels { .. }), "{error:?}");
    assert!(server.requests.try_recv().is_err(), "nothing was sent");
}

#[test]
fn the_key_never_appears_in_debug_output() {
    let config = ModelConfig {
        api_key: Some(ApiKey::new(KEY)),
        ..ModelConfig::default()
    };
    let model = ChatModel::new(config.clone()).expect("default config is valid");
    for shown in [format!("{config:?}"), format!("{model:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}

#[test]
fn defaults_point_at_telnyx() {
    let model = ChatModel::new(ModelConfig::default()).expect("default config is valid");
    assert_eq!(model.model(), "moonshotai/Kimi-K2.6");
    assert_eq!(
        model.endpoint.as_str(),
        "https://api.telnyx.com/v2/ai/openai/chat/completions"
    );
    let trailing = ChatModel::new(ModelConfig {
        base_url: "http://127.0.0.1:9/v1/".to_owned(),
        ..ModelConfig::default()
    })
    .expect("valid");
    assert_eq!(
        trailing.endpoint.as_str(),
        "http://127.0.0.1:9/v1/chat/completions"
    );
}

#[test]
fn unusable_configurations_are_refused() {
    let cases: Vec<(ModelConfig, &str)> = vec![
        (
            ModelConfig {
                base_url: "not a url".to_owned(),
                ..ModelConfig::default()
            },
            "base_url",
        ),
        (
            ModelConfig {
                base_url: "ftp://example.com".to_owned(),
                ..ModelConfig::default()
            },
            "base_url",
        ),
        (
            ModelConfig {
                model: " ".to_owned(),
                ..ModelConfig::default()
            },
            "model",
        ),
        (
            ModelConfig {
                timeout: Duration::ZERO,
                ..ModelConfig::default()
            },
            "timeout",
        ),
        (
            ModelConfig {
                api_key: Some(ApiKey::new("line\nbreak")),
                ..ModelConfig::default()
            },
            "api_key",
        ),
        (
            ModelConfig {
                api_key: Some(ApiKey::new("")),
                ..ModelConfig::default()
            },
            "api_key",
        ),
    ];
    for (config, want) in cases {
        match ChatModel::new(config) {
            Err(LlmError::InvalidConfig { field, .. }) => assert_eq!(field, want),
            other => panic!("expected InvalidConfig for {want}, got {other:?}"),
        }
    }
}

#[test]
fn cache_key_is_stable() {
    let declared = labels(&["low", "high", "critical"]);
    let key = cache_key("m/model", "Classify.", &declared, "db down");
    assert_eq!(key, cache_key("m/model", "Classify.", &declared, "db down"));
    assert_eq!(key.len(), 64);
    assert!(
        key.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    // Pinned, so a change to the encoding is a deliberate decision (bump PROMPT_VERSION)
    // rather than a silent invalidation of every cached answer.
    assert_eq!(
        key,
        "ad986705397a4965ee16cc5ecbccbdff3071d9f51c925202ae8bb96aadf6eb5c"
    );
}

#[test]
fn cache_key_changes_with_every_part_and_boundary() {
    let l = |names: &[&str]| labels(names);
    let base = cache_key("m", "instr", &l(&["a", "b"]), "input");
    let variants = [
        cache_key("m2", "instr", &l(&["a", "b"]), "input"),
        cache_key("m", "instr2", &l(&["a", "b"]), "input"),
        cache_key("m", "instr", &l(&["a", "c"]), "input"),
        cache_key("m", "instr", &l(&["b", "a"]), "input"),
        cache_key("m", "instr", &l(&["a", "b", "c"]), "input"),
        cache_key("m", "instr", &l(&["a", "b"]), "input2"),
        // Text moving across a boundary must not collide.
        cache_key("m", "instr", &l(&["ab"]), "input"),
        cache_key("m", "instra", &l(&["b"]), "input"),
        cache_key("mi", "nstr", &l(&["a", "b"]), "input"),
        cache_key("m", "instr", &l(&["a", "binput"]), ""),
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(&base, variant, "variant {i}");
    }
    assert_ne!(
        cache_key("m", "", &l(&["ab", "c"]), ""),
        cache_key("m", "", &l(&["a", "bc"]), "")
    );
    let model = ChatModel::new(ModelConfig::default()).expect("default config is valid");
    assert_eq!(
        model.cache_key("instr", &l(&["a", "b"]), "input"),
        cache_key(model.model(), "instr", &l(&["a", "b"]), "input")
    );
}

#[test]
fn a_chat_model_can_be_shared_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<ChatModel>();
}
