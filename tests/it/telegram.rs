//! The Telegram destination end to end: Klaxon in process routes events to a bot's
//! `sendMessage` served by the chat sandbox on loopback (`api_base`), with a real-looking
//! token in the environment. The sandbox parses the HTML as strictly as the Bot API asks and
//! counts the 4,096 characters after parsing; what is sent must also validate against the
//! Bot API's description. Each kind of answer (429, 5xx, a dropped connection, chat not
//! found, an unknown token) must lead to the delivery state Telegram means.

use std::time::Duration;

use klaxon::sandbox::chat::{
    ChatConfig, Failure, SandboxChat, Service, TELEGRAM_CHAT_ID, TelegramChat, TelegramToken,
};
use serde_json::{Value, json};

use crate::support::chat_spec::assert_valid;
use crate::support::{TestServer, apply_toml, eventually};

const WAIT: Duration = Duration::from_secs(15);
/// A bot the sandbox knows besides its default one, with a token that cannot be mistaken
/// for another word, so "never shown" can be checked by searching for it.
const TOKEN: &str = "7012345678:AAkx-telegram-it-token_5e2";
const CHANNEL: &str = "@klaxon_alerts";

async fn sandbox() -> SandboxChat {
    let mut config = ChatConfig::default();
    config.telegram.tokens.push(TelegramToken::new(TOKEN));
    config.telegram.chats.push(TelegramChat {
        id: -1_002_233_445_566,
        username: Some(CHANNEL.into()),
        title: "Klaxon alerts".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox chat");
    SandboxChat::start(listener, config).expect("sandbox chat starts")
}

/// One pipeline for `ticket.*` with a Telegram destination at the sandbox; `table` is the
/// rest of the destination's table.
fn settings(chat: &SandboxChat, table: &str) -> String {
    format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
name = "telegram"
telegram = {{ token_env = "TELEGRAM_BOT_TOKEN", api_base = "{}", {table} }}
"#,
        chat.service_base(Service::Telegram)
    )
}

async fn start(chat: &SandboxChat, table: &str, token: &str) -> TestServer {
    TestServer::start_with_toml(&settings(chat, table), &[("TELEGRAM_BOT_TOKEN", token)]).await
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

/// Nothing Klaxon shows about its destinations or deliveries holds `token`.
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
}

#[tokio::test]
async fn an_alert_arrives_as_html_that_the_bot_api_accepts() {
    let chat = sandbox().await;
    let server = start(&chat, &format!(r#"chat_id = "{CHANNEL}""#), TOKEN).await;
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
    let messages = chat.messages(Service::Telegram);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].target, "-1002233445566");
    let body = &messages[0].body;
    assert_valid(Service::Telegram, "sendMessage", body);
    assert_eq!(
        *body,
        json!({
            "chat_id": CHANNEL,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
            "text": "<b>Checkout API returns 500</b>\n\nEU customers cannot pay since 09:00.\n\n<b>Event:</b> ticket.created\n<b>Priority:</b> urgent\n<b>Customer:</b> ACME &amp; Co\n\n<code>ticket.created</code>",
        })
    );
    // Telegram's answer (the start of it is kept on the attempt) shows the text as parsed:
    // tags became entities.
    let log = detail(&server, &delivery).await;
    let response = log["attempt_log"][0]["response"].as_str().unwrap();
    assert!(
        response.contains(r#"{"length":24,"offset":0,"type":"bold"}"#)
            && response.contains(r#""text":"Checkout API returns 500\n\nEU"#),
        "{response}"
    );
    assert_eq!(
        chat.requests(Service::Telegram)[0].path,
        "/telegram/bot[redacted]/sendMessage"
    );
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["kind"], "telegram");
    assert_eq!(
        destinations["data"][0]["target"],
        format!("telegram chat {CHANNEL}")
    );
    assert_token_never_shown(&server, &event, TOKEN).await;
}

#[tokio::test]
async fn a_429_is_waited_out_for_telegrams_retry_after() {
    let chat = sandbox().await;
    chat.script(
        Service::Telegram,
        Failure::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    )
    .expect("a 429 can be scripted");
    let server = start(&chat, r#"chat_id = "-1002233445566""#, TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Disk full"})).await;

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    let log = detail(&server, &delivery).await;
    assert_eq!(statuses(&log), [json!(429), json!(200)]);
    assert_eq!(
        log["attempt_log"][0]["error"],
        "Telegram said Too Many Requests: retry after 1"
    );
    let times = chat.request_times(Service::Telegram);
    let gap = times[1].duration_since(times[0]).unwrap();
    assert!(
        gap >= Duration::from_millis(990),
        "parameters.retry_after honoured, not the 100 ms schedule: {gap:?}"
    );
}

#[tokio::test]
async fn outages_are_retried_then_dead_lettered_and_a_replay_delivers() {
    let chat = sandbox().await;
    chat.script(Service::Telegram, Failure::Drop, 1).unwrap();
    chat.script(Service::Telegram, Failure::ServerError { status: 502 }, 2)
        .unwrap();
    let server = start(&chat, "chat_id = -1001, max_per_second = 0", TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Queue backed up"})).await;

    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 3, "{dead}");
    let log = detail(&server, &dead).await;
    assert_eq!(statuses(&log), [Value::Null, json!(502), json!(502)]);
    assert_eq!(
        log["attempt_log"][1]["error"],
        "HTTP 502: Telegram said Bad Gateway"
    );
    assert!(chat.messages(Service::Telegram).is_empty());

    replay(&server, &dead).await;
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 4);
    let messages = chat.messages(Service::Telegram);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].target, TELEGRAM_CHAT_ID.to_string());
    assert_eq!(
        messages[0].body["chat_id"],
        json!(TELEGRAM_CHAT_ID),
        "a number"
    );
    assert_token_never_shown(&server, &event, TOKEN).await;
}

#[tokio::test]
async fn an_unknown_chat_is_dead_at_once_with_telegrams_description() {
    let chat = sandbox().await;
    let server = start(&chat, r#"chat_id = "-100999""#, TOKEN).await;
    let event = send_ticket(&server, json!({"subject": "Lost"})).await;
    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 1, "not retried: {dead}");
    assert_eq!(
        dead["last_error"],
        "Telegram said Bad Request: chat not found"
    );
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["enabled"], true);
}

#[tokio::test]
async fn a_rejected_token_disables_the_destination_until_fixed_and_enabled() {
    let chat = sandbox().await;
    let table = format!(r#"chat_id = "{CHANNEL}""#);
    let toml = settings(&chat, &table);
    let revoked = "7012345678:AArevoked-token_0000";
    let server = TestServer::start_with_toml(&toml, &[("TELEGRAM_BOT_TOKEN", revoked)]).await;
    let first = send_ticket(&server, json!({"subject": "First"})).await;
    let dead = delivery_in_state(&server, &first, "dead").await;
    assert_eq!(dead["attempts"], 1, "{dead}");
    let error = dead["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("Telegram said Unauthorized") && error.contains("disabled"),
        "{error}"
    );
    let second = send_ticket(&server, json!({"subject": "Second"})).await;
    let buried = delivery_in_state(&server, &second, "dead").await;
    assert_eq!(buried["attempts"], 0, "{buried}");
    assert_eq!(chat.request_count(Service::Telegram), 1);
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["enabled"], false, "{destinations}");
    let name = destinations["data"][0]["name"].as_str().unwrap().to_owned();
    assert_token_never_shown(&server, &first, revoked).await;

    // A new token and a restart; enabled again, the replay goes through.
    let dir = server.stop_keeping_files().await;
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| {
        apply_toml(s, &toml, &[("TELEGRAM_BOT_TOKEN", TOKEN)])
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
    assert_eq!(chat.messages(Service::Telegram).len(), 1);
}

#[tokio::test]
async fn hostile_text_arrives_escaped_and_within_4096_characters_after_parsing() {
    let chat = sandbox().await;
    let server = start(&chat, "chat_id = \"-1001\", max_per_second = 0", TOKEN).await;
    let description = format!(
        "</b><script>alert(1)</script> <a href=\"https://evil.example\">click</a> &amp; &lt; @everyone 🔥\n{}",
        "<i>0123456789</i>".repeat(700)
    );
    let event = send_ticket(
        &server,
        json!({
            "subject": "<b>@everyone</b> \"quoted\" & more",
            "description": description,
            "priority": "</code><pre>",
        }),
    )
    .await;
    // The sandbox refuses any tag Telegram does not know, any bare `&`, `<` or `>`, and a
    // text over 4,096 characters once parsed: being accepted is the check.
    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    // Once: the answer echoing a long text is cut at 4 KiB, which must not read as a failure.
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    let messages = chat.messages(Service::Telegram);
    assert_eq!(messages.len(), 1);
    let body = &messages[0].body;
    assert_valid(Service::Telegram, "sendMessage", body);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "<b>&lt;b&gt;@everyone&lt;/b&gt; &quot;quoted&quot; &amp; more</b>\n\n&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt; &amp;amp; &amp;lt; @everyone 🔥\n&lt;i&gt;0123456789&lt;/i&gt;"
        ),
        "{text}"
    );
    assert!(
        text.contains("<b>Priority:</b> &lt;/code&gt;&lt;pre&gt;"),
        "{text}"
    );
    for tag in ["<script", "<a ", "<i>", "<pre>", "</b><script"] {
        assert!(!text.contains(tag), "{tag} in {text}");
    }
    assert!(text.contains("…"), "a long text is cut, not refused");
}

#[tokio::test]
async fn alerts_to_one_chat_go_out_a_second_apart() {
    let chat = sandbox().await;
    let server = start(&chat, &format!(r#"chat_id = "{CHANNEL}""#), TOKEN).await;
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(send_ticket(&server, json!({"subject": format!("Alert {n}")})).await);
    }
    for event in &events {
        delivery_in_state(&server, event, "succeeded").await;
    }
    let times = chat.request_times(Service::Telegram);
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert!(gap >= Duration::from_millis(950), "one a second: {gap:?}");
    }
}

#[tokio::test]
async fn without_a_token_sandbox_mode_posts_to_the_built_in_sandbox() {
    let toml = r#"
[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
telegram = { token_env = "TELEGRAM_BOT_TOKEN" }
"#;
    let server = TestServer::start_with_toml(toml, &[]).await;
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(
        destinations["data"][0]["target"],
        "telegram chat -1001 (sandbox)"
    );
    let event = send_ticket(&server, json!({"subject": "Sandboxed"})).await;
    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(statuses(&detail(&server, &delivery).await), [json!(200)]);
}
