//! The Discord destination end to end: Klaxon in process routes events to a Discord webhook
//! served by the chat sandbox on loopback (`api_base`), with a real-looking webhook URL in
//! the environment. What arrives must validate against Discord's own description; each kind
//! of answer (429, 5xx, a dropped connection, an unknown webhook) must lead to the delivery
//! state Discord means; hostile event text must arrive escaped, cut to Discord's limits and
//! unable to ping.

use std::time::Duration;

use klaxon::sandbox::chat::{
    ChatConfig, DiscordWebhook, DiscordWebhookToken, Failure, SandboxChat, Service,
};
use serde_json::{Value, json};

use crate::support::chat_spec::assert_valid;
use crate::support::{TestServer, apply_toml, eventually};

const WAIT: Duration = Duration::from_secs(15);
/// A webhook the sandbox knows besides its default one, with a token that cannot be
/// mistaken for another word, so "never shown" can be checked by searching for it.
const WEBHOOK_ID: &str = "223704706495545344";
const TOKEN: &str = "kx7Tq-discord-it-token_93f1";

async fn sandbox() -> SandboxChat {
    let mut config = ChatConfig::default();
    config.discord.webhooks.push(DiscordWebhook {
        id: WEBHOOK_ID.into(),
        token: DiscordWebhookToken::new(TOKEN),
        channel_id: "100000000000000002".into(),
        name: "Alerts".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox chat");
    SandboxChat::start(listener, config).expect("sandbox chat starts")
}

fn hook_url(id: &str, token: &str) -> String {
    format!("https://discord.com/api/webhooks/{id}/{token}")
}

/// One pipeline for `ticket.*` with a Discord destination at the sandbox; `extra` is added
/// to its table.
fn settings(chat: &SandboxChat, extra: &str) -> String {
    format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
name = "discord"
discord = {{ webhook_url_env = "DISCORD_WEBHOOK_URL", api_base = "{}"{extra} }}
"#,
        chat.service_base(Service::Discord)
    )
}

async fn start(chat: &SandboxChat, extra: &str, url: &str) -> TestServer {
    TestServer::start_with_toml(&settings(chat, extra), &[("DISCORD_WEBHOOK_URL", url)]).await
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

/// Nothing Klaxon shows about its destinations or deliveries holds the webhook token.
async fn assert_token_never_shown(server: &TestServer, event: &str) {
    let (_, destinations) = server.get("/v1/destinations").await;
    let (_, event_detail) = server.get(&format!("/v1/events/{event}")).await;
    let (_, deliveries) = server.get("/v1/deliveries").await;
    let mut shown = vec![destinations, event_detail.clone(), deliveries];
    for delivery in event_detail["deliveries"].as_array().into_iter().flatten() {
        shown.push(detail(server, delivery).await);
    }
    for answer in shown {
        assert!(
            !answer.to_string().contains(TOKEN),
            "token shown in {answer}"
        );
    }
}

#[tokio::test]
async fn an_alert_arrives_as_one_embed_that_discords_spec_accepts() {
    let chat = sandbox().await;
    let server = start(
        &chat,
        r#", username = "Klaxon""#,
        &hook_url(WEBHOOK_ID, TOKEN),
    )
    .await;
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
    let messages = chat.messages(Service::Discord);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].target, WEBHOOK_ID);
    let body = &messages[0].body;
    assert_valid(Service::Discord, "ExecuteWebhookRequest", body);
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    assert_eq!(body["username"], "Klaxon");
    let embed = &body["embeds"][0];
    assert_valid(Service::Discord, "RichEmbed", embed);
    assert_eq!(embed["title"], "Checkout API returns 500");
    assert_eq!(embed["description"], "EU customers cannot pay since 09:00.");
    assert_eq!(embed["color"], 0xE74C3C, "urgent is red");
    assert_eq!(embed["footer"]["text"], "ticket.created");
    assert!(embed["timestamp"].is_string(), "{embed}");
    let fields: Vec<(&str, &str)> = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("Event", "ticket.created"),
            ("Priority", "urgent"),
            ("Customer", "ACME")
        ]
    );

    // `?wait=true`: 200 and the message, where a plain execute answers 204.
    let log = detail(&server, &delivery).await;
    assert_eq!(statuses(&log), [json!(200)]);
    let response = log["attempt_log"][0]["response"].as_str().unwrap();
    assert!(response.contains(r#""embeds":[{"#), "{response}");
    assert_eq!(
        chat.requests(Service::Discord)[0].path,
        format!("/discord/api/v10/webhooks/{WEBHOOK_ID}/[redacted]")
    );
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["kind"], "discord");
    assert_eq!(
        destinations["data"][0]["target"],
        format!("discord webhook {WEBHOOK_ID}")
    );
    assert_token_never_shown(&server, &event).await;
}

#[tokio::test]
async fn a_429_is_waited_out_for_discords_retry_after() {
    let chat = sandbox().await;
    chat.script(
        Service::Discord,
        Failure::RateLimited {
            retry_after: Duration::from_millis(1500),
        },
        1,
    )
    .expect("a 429 can be scripted");
    let server = start(&chat, "", &hook_url(WEBHOOK_ID, TOKEN)).await;
    let event = send_ticket(&server, json!({"subject": "Disk full"})).await;

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    let detail = detail(&server, &delivery).await;
    assert_eq!(statuses(&detail), [json!(429), json!(200)]);
    let error = detail["attempt_log"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("rate limited by Discord"), "{error}");
    let times = chat.request_times(Service::Discord);
    let gap = times[1].duration_since(times[0]).unwrap();
    assert!(
        gap >= Duration::from_millis(1450),
        "retry_after 1.5 s honoured, not the 100 ms schedule: {gap:?}"
    );
    assert_eq!(chat.messages(Service::Discord).len(), 1);
}

#[tokio::test]
async fn outages_are_retried_then_dead_lettered_and_a_replay_delivers() {
    let chat = sandbox().await;
    chat.script(Service::Discord, Failure::Drop, 1).unwrap();
    chat.script(Service::Discord, Failure::ServerError { status: 503 }, 2)
        .unwrap();
    let server = start(&chat, "", &hook_url(WEBHOOK_ID, TOKEN)).await;
    let event = send_ticket(&server, json!({"subject": "Queue backed up"})).await;

    // 1 attempt + 2 retries (the schedule), all failed: dead.
    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    let log = detail(&server, &dead).await;
    assert_eq!(statuses(&log), [Value::Null, json!(503), json!(503)]);
    assert!(
        log["attempt_log"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 503"),
        "{log}"
    );
    assert!(chat.messages(Service::Discord).is_empty());

    replay(&server, &dead).await;
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 4);
    assert_eq!(chat.messages(Service::Discord).len(), 1);
    assert_token_never_shown(&server, &event).await;
}

#[tokio::test]
async fn a_refused_request_is_dead_at_once_with_discords_message() {
    let chat = sandbox().await;
    // An `api_base` that is not Discord's API root: Discord's plain 404, which no retry fixes.
    let base = chat.service_base(Service::Discord);
    let toml = settings(&chat, "").replace(&base, &format!("{base}/nowhere"));
    let server = TestServer::start_with_toml(
        &toml,
        &[("DISCORD_WEBHOOK_URL", &hook_url(WEBHOOK_ID, TOKEN))],
    )
    .await;
    let event = send_ticket(&server, json!({"subject": "Lost"})).await;
    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 1, "a 4xx is not retried: {dead}");
    assert_eq!(dead["last_error"], "Discord said 404: Not Found");
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(
        destinations["data"][0]["enabled"], true,
        "a plain 404 is not a deleted webhook"
    );
}

#[tokio::test]
async fn a_deleted_webhook_disables_the_destination_until_fixed_and_enabled() {
    let chat = sandbox().await;
    let toml = settings(&chat, "");
    // Discord answers `10015 Unknown Webhook` for a webhook that was deleted.
    let deleted = hook_url("999999999999999999", TOKEN);
    let server = TestServer::start_with_toml(&toml, &[("DISCORD_WEBHOOK_URL", &deleted)]).await;
    let first = send_ticket(&server, json!({"subject": "First"})).await;
    let dead = delivery_in_state(&server, &first, "dead").await;
    assert_eq!(dead["attempts"], 1, "{dead}");
    let error = dead["last_error"].as_str().unwrap();
    assert!(
        error.contains("Unknown Webhook") && error.contains("disabled"),
        "{error}"
    );

    // Later deliveries are dead-lettered without a request.
    let second = send_ticket(&server, json!({"subject": "Second"})).await;
    let buried = delivery_in_state(&server, &second, "dead").await;
    assert_eq!(buried["attempts"], 0, "{buried}");
    assert_eq!(chat.request_count(Service::Discord), 1);
    let (_, destinations) = server.get("/v1/destinations").await;
    let destination = &destinations["data"][0];
    assert_eq!(destination["enabled"], false, "{destinations}");
    let name = destination["name"].as_str().unwrap().to_owned();

    // The webhook URL is fixed and Klaxon restarted: enabled again, the replay goes through.
    let dir = server.stop_keeping_files().await;
    let url = hook_url(WEBHOOK_ID, TOKEN);
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| {
        apply_toml(s, &toml, &[("DISCORD_WEBHOOK_URL", &url)])
    })
    .await;
    let enabled = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/destinations/{name}/enable"))),
        )
        .await;
    assert_eq!(enabled.0, 200, "{}", enabled.1);
    replay(&server, &buried).await;
    delivery_in_state(&server, &second, "succeeded").await;
    let messages = chat.messages(Service::Discord);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body["embeds"][0]["title"], "Second");
    assert_token_never_shown(&server, &second).await;
}

#[tokio::test]
async fn hostile_text_arrives_escaped_cut_to_the_limits_and_unable_to_ping() {
    let chat = sandbox().await;
    let server = start(&chat, "", &hook_url(WEBHOOK_ID, TOKEN)).await;
    let description = format!(
        "@everyone @here <@123> <@&456> [click](https://evil.example) </b> **bold** ||spoiler||\n# Heading\n{}",
        "0123456789".repeat(1000)
    );
    let event = send_ticket(
        &server,
        json!({
            "subject": "@everyone <script>alert(1)</script> `code`",
            "description": description,
            "priority": "<@&789>",
            "customer": {"name": "x".repeat(5000)},
        }),
    )
    .await;
    delivery_in_state(&server, &event, "succeeded").await;

    let messages = chat.messages(Service::Discord);
    let body = &messages[0].body;
    assert_valid(Service::Discord, "ExecuteWebhookRequest", body);
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let embed = &body["embeds"][0];
    assert_eq!(
        embed["title"],
        "\\@everyone \\<script\\>alert\\(1\\)\\</script\\> \\`code\\`"
    );
    let text = embed["description"].as_str().unwrap();
    assert!(
        text.starts_with(
            "\\@everyone \\@here \\<\\@123\\> \\<\\@&456\\> \\[click\\]\\(https://evil.example\\) \\</b\\> \\*\\*bold\\*\\* \\|\\|spoiler\\|\\|\n\\# Heading\n0123"
        ),
        "{text}"
    );
    assert!(text.chars().count() <= 4096);
    assert!(text.ends_with('…'), "a long text is cut, not refused");
    let priority = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Priority")
        .unwrap();
    assert_eq!(priority["value"], "\\<\\@&789\\>");
    // Every text counted toward Discord's 6,000-character total (the sandbox checks it too).
    let total: usize = [
        &embed["title"],
        &embed["description"],
        &embed["footer"]["text"],
    ]
    .iter()
    .map(|v| v.as_str().map_or(0, |s| s.chars().count()))
    .sum::<usize>()
        + embed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["name"].as_str().unwrap().chars().count()
                    + f["value"].as_str().unwrap().chars().count()
            })
            .sum::<usize>();
    assert!(total <= 6000, "{total}");
}

#[tokio::test]
async fn alerts_to_one_webhook_are_paced() {
    let chat = sandbox().await;
    let server = start(&chat, ", max_per_second = 4", &hook_url(WEBHOOK_ID, TOKEN)).await;
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(send_ticket(&server, json!({"subject": format!("Alert {n}")})).await);
    }
    for event in &events {
        delivery_in_state(&server, event, "succeeded").await;
    }
    let times = chat.request_times(Service::Discord);
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= Duration::from_millis(200), "4 a second: {gap:?}");
    }
}

#[tokio::test]
async fn without_a_webhook_url_sandbox_mode_posts_to_the_built_in_sandbox() {
    let toml = r#"
[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
discord = { webhook_url_env = "DISCORD_WEBHOOK_URL" }
"#;
    let server = TestServer::start_with_toml(toml, &[]).await;
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(
        destinations["data"][0]["target"],
        "discord webhook 1 (sandbox)"
    );
    let event = send_ticket(&server, json!({"subject": "Sandboxed"})).await;
    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    let detail = detail(&server, &delivery).await;
    assert_eq!(statuses(&detail), [json!(200)]);
}
