//! The Slack destination end to end: Klaxon in process routes events to `chat.postMessage`
//! served by the chat sandbox on loopback (`api_base`), with a real-looking bot token in the
//! environment. What arrives must validate against Slack's own description and pass the
//! sandbox's Block Kit checks; hostile event text must arrive escaped for `mrkdwn`, cut to
//! Block Kit's limits and unable to ping; each kind of answer (429, 5xx, a dropped
//! connection, `channel_not_found`, `invalid_auth`) must lead to the delivery state Slack
//! means.

use std::time::Duration;

use klaxon::sandbox::chat::{ChatConfig, Failure, SandboxChat, Service, SlackChannel, SlackToken};
use klaxon::store::DatabaseUrl;
use serde_json::{Value, json};

use crate::support::chat_spec::assert_valid;
use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(15);
/// A bot the sandbox knows besides its default one, with a token that cannot be mistaken
/// for another word, so "never shown" can be checked by searching for it.
const TOKEN: &str = "xoxb-4812-slack-it-token_9c1";
const CHANNEL_ID: &str = "C0KLAXON1";
const CHANNEL: &str = "#klaxon-alerts";

async fn sandbox() -> SandboxChat {
    let mut config = ChatConfig::default();
    config.slack.tokens.push(SlackToken::new(TOKEN));
    config.slack.channels.push(SlackChannel {
        id: CHANNEL_ID.into(),
        name: CHANNEL.trim_start_matches('#').into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox chat");
    SandboxChat::start(listener, config).expect("sandbox chat starts")
}

/// One pipeline for `ticket.*` with a Slack bot destination at the sandbox, posting to
/// `channel`; unpaced, so the tests measure Slack's waits, not Klaxon's pace.
fn settings(chat: &SandboxChat, channel: &str) -> String {
    format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
name = "slack"
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "{channel}", api_base = "{}", max_per_second = 0 }}
"#,
        chat.service_base(Service::Slack)
    )
}

async fn start(chat: &SandboxChat, channel: &str, token: &str) -> TestServer {
    TestServer::start_with_toml(&settings(chat, channel), &[("SLACK_BOT_TOKEN", token)]).await
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

fn statuses(detail: &Value) -> Vec<Value> {
    detail["attempt_log"]
        .as_array()
        .expect("an attempt log")
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

async fn replay(server: &TestServer, delivery: &Value) {
    let id = delivery["id"].as_str().expect("a delivery id");
    let answer = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    assert_eq!(answer.0, 202, "{}", answer.1);
}

/// Neither what Klaxon shows about its destinations and deliveries, nor its SQLite files
/// (the record an operator may copy or back up), holds `token`.
async fn assert_token_never_shown(server: &TestServer, event: &str, token: &str) {
    let (_, destinations) = server.get("/v1/destinations").await;
    let (_, event_detail) = server.get(&format!("/v1/events/{event}")).await;
    let (_, deliveries) = server.get("/v1/deliveries").await;
    let mut shown = vec![destinations, event_detail.clone(), deliveries];
    for delivery in event_detail["deliveries"].as_array().into_iter().flatten() {
        shown.push(detail(server, delivery).await);
    }
    for answer in shown {
        assert!(
            !answer.to_string().contains(token),
            "token shown in {answer}"
        );
    }
    if let DatabaseUrl::Sqlite(path) = &server.database {
        let main = std::fs::read(path).expect("the SQLite file");
        let wal = std::fs::read(format!("{}-wal", path.display())).unwrap_or_default();
        for (file, bytes) in [("the database", main), ("its WAL", wal)] {
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "token stored in {file}");
        }
    }
}

/// Every `mrkdwn` text of a message, where Slack would parse mentions and links.
fn mrkdwn_texts(body: &Value) -> Vec<String> {
    fn walk(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("mrkdwn")) {
                    out.push(map["text"].as_str().unwrap_or_default().to_owned());
                }
                map.values().for_each(|child| walk(child, out));
            }
            Value::Array(items) => items.iter().for_each(|child| walk(child, out)),
            _ => {}
        }
    }
    // The top-level `text` (the notification) is mrkdwn too.
    let mut out = vec![body["text"].as_str().unwrap_or_default().to_owned()];
    walk(&body["blocks"], &mut out);
    out
}

#[tokio::test]
async fn an_alert_arrives_as_block_kit_that_slacks_spec_accepts() {
    let chat = sandbox().await;
    let server = start(&chat, CHANNEL, TOKEN).await;
    let event = send_ticket(
        &server,
        json!({
            "subject": "Checkout API returns 500",
            "description": "EU customers cannot pay since 09:00.",
            "priority": "urgent",
            "customer": {"name": "ACME & Co"},
        }),
    )
    .await;

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivery["attempts"], 1);
    let messages = chat.messages(Service::Slack);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].endpoint, "chat.postMessage");
    assert_eq!(messages[0].target, CHANNEL_ID);
    let body = &messages[0].body;
    assert_valid(Service::Slack, "ChatPostMessageRequest", body);
    assert_eq!(body["channel"], CHANNEL);
    assert_eq!(body["text"], "Checkout API returns 500");
    assert_eq!(
        (&body["unfurl_links"], &body["unfurl_media"]),
        (&json!(false), &json!(false))
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "header", "text": {"type": "plain_text", "text": "Checkout API returns 500", "emoji": false}})
    );
    assert_eq!(
        blocks[1]["text"]["text"],
        "EU customers cannot pay since 09:00."
    );
    let fields: Vec<&str> = blocks[2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Event*\nticket.created",
            "*Priority*\nurgent",
            "*Customer*\nACME &amp; Co"
        ]
    );
    let context = blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        context.starts_with("*urgent* · `ticket.created`"),
        "{context}"
    );

    // Slack's answer starts with `ok:true`; the token travels only in the header.
    let log = detail(&server, &delivery).await;
    assert_eq!(statuses(&log), [json!(200)]);
    let response = log["attempt_log"][0]["response"].as_str().unwrap();
    assert!(response.starts_with(r#"{"ok":true"#), "{response}");
    assert_eq!(
        chat.requests(Service::Slack)[0].path,
        "/slack/api/chat.postMessage"
    );
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["kind"], "slack");
    assert_eq!(
        destinations["data"][0]["target"],
        format!("slack {CHANNEL}")
    );
    assert_token_never_shown(&server, &event, TOKEN).await;
}

#[tokio::test]
async fn hostile_text_arrives_escaped_cut_to_block_kit_and_unable_to_ping() {
    let chat = sandbox().await;
    let server = start(&chat, CHANNEL_ID, TOKEN).await;
    let subject = "<!channel> deploy failed <@U123>";
    let event = send_ticket(
        &server,
        json!({
            "subject": subject,
            "description": format!(
                "<!here> <@U123> <https://evil.example|click> &amp; <>\n{}",
                "0123456789".repeat(1000)
            ),
            "priority": "<!everyone>",
            // Long enough that Slack's answer, which repeats the message, passes 4 KiB.
            "customer": {"name": format!("&<>{}", "y".repeat(1900))},
        }),
    )
    .await;
    // The sandbox refuses a block over Block Kit's limits: being accepted is that check.
    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    let body = &chat.messages(Service::Slack)[0].body;
    assert_valid(Service::Slack, "ChatPostMessageRequest", body);

    // The header is plain_text, where Slack parses nothing: shown as written.
    assert_eq!(body["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(body["blocks"][0]["text"]["text"], subject);
    assert_eq!(body["text"], "&lt;!channel&gt; deploy failed &lt;@U123&gt;");
    let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.starts_with(
            "&lt;!here&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp;amp; &lt;&gt;\n0123"
        ),
        "{section}"
    );
    assert!(
        section.chars().count() <= 3000,
        "{}",
        section.chars().count()
    );
    assert!(section.ends_with('…'), "a long text is cut, not refused");
    let fields = body["blocks"][2]["fields"].to_string();
    assert!(
        fields.contains(r"*Priority*\n&lt;!everyone&gt;"),
        "{fields}"
    );
    assert!(fields.contains(r"*Customer*\n&amp;&lt;&gt;"), "{fields}");
    // Nowhere Slack parses mrkdwn is there a mention, a forged link or a bare `&`.
    for text in mrkdwn_texts(body) {
        for ping in ["<!", "<@", "<http", "&<"] {
            assert!(!text.contains(ping), "{ping} in {text}");
        }
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
    .expect("a 429 can be scripted");
    let server = start(&chat, CHANNEL, TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Disk full"})).await;

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    let log = detail(&server, &delivery).await;
    assert_eq!(statuses(&log), [json!(429), json!(200)]);
    assert_eq!(log["attempt_log"][0]["error"], "rate limited by Slack");
    let times = chat.request_times(Service::Slack);
    let gap = times[1].duration_since(times[0]).unwrap();
    assert!(
        gap >= Duration::from_millis(990),
        "Retry-After honoured, not the 100 ms schedule: {gap:?}"
    );
    assert_eq!(chat.messages(Service::Slack).len(), 1);
}

#[tokio::test]
async fn outages_are_retried_then_dead_lettered_and_a_replay_delivers() {
    let chat = sandbox().await;
    chat.script(Service::Slack, Failure::Drop, 1).unwrap();
    chat.script(Service::Slack, Failure::ServerError { status: 503 }, 2)
        .unwrap();
    let server = start(&chat, CHANNEL, TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Queue backed up"})).await;

    // 1 attempt + 2 retries (the schedule), all failed: dead.
    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    let log = detail(&server, &dead).await;
    assert_eq!(statuses(&log), [Value::Null, json!(503), json!(503)]);
    assert_eq!(log["attempt_log"][1]["error"], "HTTP 503");
    assert!(chat.messages(Service::Slack).is_empty());

    replay(&server, &dead).await;
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 4);
    let messages = chat.messages(Service::Slack);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body["text"], "Queue backed up");
    assert_token_never_shown(&server, &event, TOKEN).await;
}

#[tokio::test]
async fn errors_no_retry_can_fix_are_dead_at_once_with_slacks_reason() {
    let chat = sandbox().await;
    let lost = start(&chat, "#nowhere", TOKEN).await;
    let revoked_token = "xoxb-4812-revoked-token_0000";
    let revoked = start(&chat, CHANNEL, revoked_token).await;
    for (server, reason, token) in [
        (&lost, "channel_not_found", TOKEN),
        (&revoked, "invalid_auth", revoked_token),
    ] {
        let event = send_ticket(server, json!({"subject": "Lost"})).await;
        let dead = delivery_in_state(server, &event, "dead").await;
        assert_eq!(dead["attempts"], 1, "not retried: {dead}");
        let (_, dlq) = server.get("/v1/deliveries?state=dead").await;
        assert_eq!(dlq["data"][0]["id"], dead["id"], "{dlq}");
        assert_eq!(dlq["data"][0]["last_error"], format!("Slack said {reason}"));
        let log = detail(server, &dead).await;
        assert_eq!(
            statuses(&log),
            [json!(200)],
            "Slack's errors come with a 200"
        );
        assert_token_never_shown(server, &event, token).await;
    }
    assert_eq!(chat.request_count(Service::Slack), 2);
    assert!(chat.messages(Service::Slack).is_empty());
}

#[tokio::test]
async fn without_a_webhook_url_sandbox_mode_posts_to_the_built_in_sandbox_hook() {
    let toml = r#"
[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
slack = { webhook_url_env = "SLACK_WEBHOOK_URL" }
"#;
    let server = TestServer::start_with_toml(toml, &[]).await;
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(
        destinations["data"][0]["target"],
        "slack incoming webhook (sandbox)"
    );
    let event = send_ticket(&server, json!({"subject": "Sandboxed"})).await;
    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    let log = detail(&server, &delivery).await;
    assert_eq!(statuses(&log), [json!(200)]);
    assert_eq!(log["attempt_log"][0]["response"], "ok", "the hook's answer");
}

/// A burst to one channel paced at Klaxon's own 1 message/s: most sends would wait longer in
/// line than a worker may hold a slot, so they are postponed to their turn. A postponement
/// is no attempt: with a single retry in the schedule, every message still arrives on its
/// first attempt, and none is dead-lettered for having waited.
#[tokio::test]
async fn a_burst_to_a_paced_channel_waits_its_turn_without_using_attempts() {
    const BURST: usize = 15;
    const DESTINATION: &str = "paced-burst.slack";
    let chat = sandbox().await;
    let toml = format!(
        r#"
[delivery]
retry_schedule = ["100ms"]

[[pipelines]]
name = "paced-burst"
on = "ticket.*"
[[pipelines.destinations]]
name = "slack"
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "{CHANNEL}", api_base = "{}", max_per_second = 1 }}
"#,
        chat.service_base(Service::Slack)
    );
    let server = TestServer::start_with_toml(&toml, &[("SLACK_BOT_TOKEN", TOKEN)]).await;
    for n in 0..BURST {
        send_ticket(&server, json!({"subject": format!("Alert {n}")})).await;
    }
    let listing = format!("/v1/deliveries?destination={DESTINATION}&limit=100");

    // While it waits its turn, a postponed delivery is shown pending, unattempted, with the
    // time its turn comes.
    let waiting = eventually(WAIT, || async {
        let (_, page) = server.get(&listing).await;
        page["data"].as_array()?.iter().find_map(|d| {
            let created = klaxon::clock::rfc3339_to_ms(d["created_at"].as_str()?)?;
            let due = klaxon::clock::rfc3339_to_ms(d["next_attempt_at"].as_str()?)?;
            (d["state"] == "pending" && due - created >= 1_000).then(|| d.clone())
        })
    })
    .await;
    assert_eq!(waiting["attempts"], 0, "{waiting}");
    assert_eq!(waiting["last_error"], Value::Null, "{waiting}");

    // 15 messages at 1/s take 14 s; the deadline leaves room for a loaded machine.
    let finished = eventually(Duration::from_secs(120), || async {
        let (_, page) = server.get(&listing).await;
        let data = page["data"].as_array()?.clone();
        let done = data.len() == BURST
            && data
                .iter()
                .all(|d| d["state"] == "succeeded" || d["state"] == "dead");
        done.then_some(data)
    })
    .await;
    for delivery in &finished {
        assert_eq!(delivery["state"], "succeeded", "{delivery}");
        assert_eq!(
            delivery["attempts"], 1,
            "no attempt used up waiting: {delivery}"
        );
        let log = detail(&server, delivery).await;
        assert_eq!(statuses(&log), [json!(200)], "{log}");
    }
    assert_eq!(chat.messages(Service::Slack).len(), BURST);
    assert!(
        klaxon::metrics::metrics()
            .delivery_postponements
            .get(&[DESTINATION])
            > 0,
        "the pace postponed some sends"
    );
}
