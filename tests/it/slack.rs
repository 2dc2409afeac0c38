//! The Slack destination end to end: Klaxon in process routes events to `chat.postMessage`
//! on the chat sandbox (`api_base`), with the sandbox's bot token in the environment. What
//! arrives must validate against Slack's own description; a 429 is waited out, an error
//! that can never succeed is dead at once with Slack's reason, an outage is retried and a
//! replay delivers; hostile event text arrives escaped and cut, unable to mention anyone.

use std::time::Duration;

use klaxon::sandbox::chat::{ChatConfig, Failure, SLACK_BOT_TOKEN, SandboxChat, Service};
use serde_json::{Value, json};

use crate::support::chat_spec::assert_valid;
use crate::support::{TestServer, apply_toml, eventually};

const WAIT: Duration = Duration::from_secs(15);

async fn sandbox() -> SandboxChat {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox chat");
    SandboxChat::start(listener, ChatConfig::default()).expect("sandbox chat starts")
}

/// Klaxon with one pipeline for `ticket.*` posting to `channel` with `token` (as
/// `SLACK_BOT_TOKEN`); pacing off so the tests are not held to one message a second.
async fn start(chat: &SandboxChat, channel: &str, token: &str) -> TestServer {
    let toml = format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
name = "slack"
slack = {{ channel = "{channel}", token_env = "SLACK_BOT_TOKEN", max_per_second = 0, api_base = "{}" }}
"#,
        chat.service_base(Service::Slack)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    TestServer::start_in(dir, "127.0.0.1:0", |settings| {
        apply_toml(settings, &toml, &[("SLACK_BOT_TOKEN", token)])
    })
    .await
}

async fn send_ticket(server: &TestServer, payload: Value) -> String {
    let (status, body) = server
        .post_event(&json!({"type": "ticket.created", "payload": payload}))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("an event id").to_owned()
}

/// The event's one delivery, once it reached `state`.
async fn delivery_in_state(server: &TestServer, event: &str, state: &str) -> Value {
    eventually(WAIT, || async {
        let (_, detail) = server.get(&format!("/v1/events/{event}")).await;
        let delivery = detail["deliveries"].get(0)?.clone();
        (delivery["state"] == state).then_some(delivery)
    })
    .await
}

/// `/v1/deliveries/{id}` of `delivery`.
async fn detail(server: &TestServer, delivery: &Value) -> Value {
    let id = delivery["id"].as_str().expect("a delivery id");
    server.get(&format!("/v1/deliveries/{id}")).await.1
}

/// The token appears nowhere Klaxon shows its destinations or deliveries.
async fn assert_token_never_shown(server: &TestServer, event: &str, token: &str) {
    let (_, destinations) = server.get("/v1/destinations").await;
    let (_, event_detail) = server.get(&format!("/v1/events/{event}")).await;
    let mut shown = vec![destinations, event_detail.clone()];
    for delivery in event_detail["deliveries"].as_array().into_iter().flatten() {
        shown.push(detail(server, delivery).await);
    }
    for answer in shown {
        assert!(
            !answer.to_string().contains(token),
            "token shown in {answer}"
        );
    }
}

#[tokio::test]
async fn an_alert_arrives_as_block_kit_that_slacks_spec_accepts() {
    let chat = sandbox().await;
    let server = start(&chat, "#alerts", SLACK_BOT_TOKEN).await;
    let event = send_ticket(
        &server,
        json!({
            "subject": "Checkout API returns 500",
            "description": "EU customers cannot pay since 09:00.",
            "priority": "urgent",
            "customer": {"name": "ACME"},
        }),
    )
    .await;

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivery["attempts"], 1);
    let messages = chat.messages(Service::Slack);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].endpoint, "chat.postMessage");
    let body = &messages[0].body;
    assert_valid(Service::Slack, "ChatPostMessageRequest", body);
    let blocks = body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "Checkout API returns 500");
    let text = body.to_string();
    for expected in [
        "EU customers cannot pay since 09:00.",
        "*Customer*\\nACME",
        "ticket.created",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["kind"], "slack");
    assert_token_never_shown(&server, &event, SLACK_BOT_TOKEN).await;
}

#[tokio::test]
async fn hostile_text_arrives_escaped_cut_and_unable_to_mention() {
    let chat = sandbox().await;
    let server = start(&chat, "#alerts", SLACK_BOT_TOKEN).await;
    let event = send_ticket(
        &server,
        json!({
            "subject": "<!channel> <@U024BE7LH> <https://evil.example|click> & more",
            "description": "x".repeat(10_000),
        }),
    )
    .await;
    delivery_in_state(&server, &event, "succeeded").await;
    let body = &chat.messages(Service::Slack)[0].body;
    assert_valid(Service::Slack, "ChatPostMessageRequest", body);
    // Slack reads mentions and links in `mrkdwn` text and the notification `text`; a
    // `plain_text` header shows them literally.
    let mut parsed = vec![body["text"].as_str().expect("notification text").to_owned()];
    collect_mrkdwn(body, &mut parsed);
    assert!(parsed.len() > 1, "{body}");
    for text in &parsed {
        for forged in ["<!channel>", "<@U024BE7LH>", "<https://evil.example|click>"] {
            assert!(
                !text.contains(forged),
                "{forged} must arrive escaped: {text}"
            );
        }
    }
    assert!(parsed[0].contains("&lt;!channel&gt;"), "{parsed:?}");
    let text = body.to_string();
    // Every block within Slack's limits (the spec checks them too): nothing of 10,000.
    for block in body["blocks"].as_array().unwrap() {
        if let Some(section) = block["text"]["text"].as_str() {
            assert!(section.chars().count() <= 3000, "{}", section.len());
        }
    }
    assert!(text.contains('…'), "cut with an ellipsis");
}

/// Every `mrkdwn` text object in `value`.
fn collect_mrkdwn(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && let Some(text) = map.get("text").and_then(Value::as_str)
            {
                into.push(text.to_owned());
            }
            map.values().for_each(|v| collect_mrkdwn(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_mrkdwn(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn a_429_is_waited_out_for_slacks_retry_after() {
    let chat = sandbox().await;
    chat.script(
        Service::Slack,
        Failure::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    )
    .unwrap();
    let server = start(&chat, "#alerts", SLACK_BOT_TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Slow down"})).await;
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 2, "{delivered}");
    let times = chat.request_times(Service::Slack);
    let waited = times[1].duration_since(times[0]).unwrap();
    // The schedule says 100 ms; Slack said a second, and wins.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
}

#[tokio::test]
async fn an_unknown_channel_or_a_bad_token_is_dead_at_once_with_slacks_reason() {
    for (channel, token, reason) in [
        ("#nowhere", SLACK_BOT_TOKEN, "channel_not_found"),
        ("#alerts", "xoxb-kx-not-a-real-token-41", "invalid_auth"),
    ] {
        let chat = sandbox().await;
        let server = start(&chat, channel, token).await;
        let event = send_ticket(&server, json!({"subject": "Nobody hears this"})).await;
        let dead = delivery_in_state(&server, &event, "dead").await;
        assert_eq!(dead["attempts"], 1, "not retried: {dead}");
        let log = detail(&server, &dead).await;
        let error = log["attempt_log"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{reason}: {log}");
        assert!(chat.messages(Service::Slack).is_empty());
        assert_token_never_shown(&server, &event, token).await;
    }
}

#[tokio::test]
async fn outages_are_retried_then_dead_lettered_and_a_replay_delivers() {
    let chat = sandbox().await;
    chat.script(Service::Slack, Failure::Drop, 1).unwrap();
    chat.script(Service::Slack, Failure::ServerError { status: 503 }, 2)
        .unwrap();
    let server = start(&chat, "#alerts", SLACK_BOT_TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Queue backed up"})).await;

    // 1 attempt + 2 retries (the schedule), all failed: dead.
    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(chat.messages(Service::Slack).is_empty());

    let id = dead["id"].as_str().expect("a delivery id");
    let path = format!("/v1/deliveries/{id}/replay");
    let (status, body) = server.send(server.http.post(server.url(&path))).await;
    assert_eq!(status, 202, "{body}");
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 4);
    assert_eq!(chat.messages(Service::Slack).len(), 1);
}
