//! The simulated Slack, Discord, Telegram and Notion APIs, driven over real HTTP as the chat
//! destinations drive the real ones: a valid message is accepted, answered in the provider's
//! shape and validates against the official description; each typical mistake is refused the
//! provider's way; scripted rate limits carry the real retry fields; the message log returns
//! what was accepted.

use std::time::Duration;

use klaxon::sandbox::chat::{
    ChatConfig, DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, Failure, NOTION_DATA_SOURCE_ID,
    NOTION_DATABASE_ID, NOTION_TOKEN, NOTION_VERSION, SLACK_BOT_TOKEN, SLACK_CHANNEL_ID,
    SLACK_HOOK_PATH, SandboxChat, Service, SlackHook, SlackHookPath, TELEGRAM_BOT_TOKEN,
    TELEGRAM_CHAT_ID,
};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::chat_spec::{assert_valid, validate};

struct Chat {
    sandbox: SandboxChat,
    http: reqwest::Client,
}

/// An answer: status, headers, and the body as JSON (or a JSON string of a text body, or
/// `null` when empty).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Chat {
    async fn start() -> Chat {
        Chat::start_with(ChatConfig::default()).await
    }

    async fn start_with(config: ChatConfig) -> Chat {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox chat");
        let sandbox = SandboxChat::start(listener, config).expect("sandbox chat starts");
        Chat {
            sandbox,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, service: Service, path: &str) -> String {
        format!("{}{path}", self.sandbox.service_base(service))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("an answer body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn slack(&self, token: Option<&str>, body: &Value) -> Answer {
        let mut request = self
            .http
            .post(self.url(Service::Slack, "/api/chat.postMessage"))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn slack_hook(&self, path: &str, body: &Value) -> Answer {
        self.send(self.http.post(self.sandbox.slack_hook_url(path)).json(body))
            .await
    }

    async fn discord(&self, id: &str, token: &str, query: &str, body: &Value) -> Answer {
        let url = format!("{}{query}", self.sandbox.discord_webhook_url(id, token));
        self.send(self.http.post(url).json(body)).await
    }

    async fn telegram(&self, token: &str, body: &Value) -> Answer {
        let url = self.url(Service::Telegram, &format!("/bot{token}/sendMessage"));
        self.send(self.http.post(url).json(body)).await
    }

    async fn notion(&self, token: &str, version: Option<&str>, body: &Value) -> Answer {
        let mut request = self
            .http
            .post(self.url(Service::Notion, "/v1/pages"))
            .bearer_auth(token)
            .json(body);
        if let Some(version) = version {
            request = request.header("Notion-Version", version);
        }
        self.send(request).await
    }
}

fn slack_message() -> Value {
    json!({
        "channel": "#alerts",
        "text": "P1: Checkout API returns 500 for all EU customers",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "P1: Checkout API down"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*EU* customers get 500s"},
             "fields": [{"type": "mrkdwn", "text": "*Ticket*\n1001"}]},
            {"type": "actions", "elements": [{"type": "button", "style": "primary",
              "text": {"type": "plain_text", "text": "Open"}, "url": "https://klaxon.example.com/e/1"}]},
        ],
        "unfurl_links": false,
    })
}

fn discord_message() -> Value {
    json!({
        "content": "P1: Checkout API down",
        "username": "Klaxon",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": "Checkout API returns 500 for all EU customers",
            "description": "Ticket 1001, Acme GmbH",
            "url": "https://klaxon.example.com/e/1",
            "color": 15_158_332,
            "timestamp": "2026-01-05T09:00:00Z",
            "fields": [{"name": "Severity", "value": "P1", "inline": true}],
            "footer": {"text": "Klaxon"},
        }],
    })
}

fn telegram_message() -> Value {
    json!({
        "chat_id": TELEGRAM_CHAT_ID,
        "text": "<b>P1</b>: Checkout API returns 500 &amp; EU customers are affected\n<a href=\"https://klaxon.example.com/e/1\">Open</a>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    })
}

fn notion_page() -> Value {
    json!({
        "parent": {"type": "database_id", "database_id": NOTION_DATABASE_ID},
        "properties": {
            "Name": {"title": [{"text": {"content": "Checkout API returns 500"}}]},
            "Severity": {"select": {"name": "P1"}},
            "Status": {"status": {"name": "Open"}},
            "Opened": {"date": {"start": "2026-01-05T09:00:00Z"}},
            "Link": {"url": "https://klaxon.example.com/e/1"},
            "Summary": {"rich_text": [{"type": "text", "text": {"content": "EU customers"},
                "annotations": {"bold": true}}]},
            "Acknowledged": {"checkbox": false},
        },
        "children": [{"object": "block", "type": "paragraph",
            "paragraph": {"rich_text": [{"text": {"content": "Raised by Klaxon."}}]}}],
    })
}

#[tokio::test]
async fn slack_accepts_a_valid_message_and_answers_in_slacks_shape() {
    let chat = Chat::start().await;
    let body = slack_message();
    assert_valid(Service::Slack, "ChatPostMessageRequest", &body);

    let answer = chat.slack(Some(SLACK_BOT_TOKEN), &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    assert_eq!(answer.body["channel"], SLACK_CHANNEL_ID);
    assert_valid(Service::Slack, "ChatPostMessageResponse", &answer.body);

    let accepted = chat.sandbox.messages(Service::Slack);
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].target, SLACK_CHANNEL_ID);
    assert_eq!(accepted[0].endpoint, "chat.postMessage");
    assert_eq!(accepted[0].body, body);
    assert_eq!(accepted[0].id, answer.body["ts"].as_str().expect("ts"));
}

#[tokio::test]
async fn slack_refuses_typical_mistakes_as_slack_does() {
    let chat = Chat::start().await;
    let good = slack_message();

    let unauthenticated = chat.slack(None, &good).await;
    assert_eq!(
        (unauthenticated.status, &unauthenticated.body),
        (200, &json!({"ok": false, "error": "not_authed"}))
    );
    let wrong_token = chat.slack(Some("xoxb-wrong"), &good).await;
    assert_eq!(wrong_token.body["error"], "invalid_auth");

    let mut elsewhere = good.clone();
    elsewhere["channel"] = json!("#nowhere");
    let not_found = chat.slack(Some(SLACK_BOT_TOKEN), &elsewhere).await;
    assert_eq!(not_found.body["error"], "channel_not_found");
    assert_valid(Service::Slack, "ChatPostMessageError", &not_found.body);

    let mut misspelt = good.clone();
    misspelt["unfurl_link"] = json!(false);
    let unknown = chat.slack(Some(SLACK_BOT_TOKEN), &misspelt).await;
    assert_eq!(unknown.body["error"], "invalid_arguments");
    assert!(
        unknown.body["response_metadata"]["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("unfurl_link")),
        "{}",
        unknown.body
    );
    assert!(validate(Service::Slack, "ChatPostMessageRequest", &misspelt).is_err());

    let mut long_header = good.clone();
    long_header["blocks"][0]["text"]["text"] = json!("x".repeat(151));
    let invalid = chat.slack(Some(SLACK_BOT_TOKEN), &long_header).await;
    assert_eq!(invalid.body["error"], "invalid_blocks");
    assert_eq!(
        invalid.body["response_metadata"]["messages"][0],
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    );

    let empty = chat
        .slack(Some(SLACK_BOT_TOKEN), &json!({"channel": SLACK_CHANNEL_ID}))
        .await;
    assert_eq!(empty.body["error"], "no_text");

    assert!(chat.sandbox.messages(Service::Slack).is_empty());
    assert_eq!(chat.sandbox.request_count(Service::Slack), 6);
}

#[tokio::test]
async fn slack_incoming_webhooks_answer_in_plain_text() {
    let mut config = ChatConfig::default();
    config.slack.hooks.push(SlackHook {
        path: SlackHookPath::new("T000/B999/ORPHAN"),
        channel: "C0DELETED".into(),
    });
    let chat = Chat::start_with(config).await;
    let mut body = slack_message();
    body.as_object_mut().expect("object").remove("channel");
    assert_valid(Service::Slack, "IncomingWebhookRequest", &body);

    let ok = chat.slack_hook(SLACK_HOOK_PATH, &body).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, Some("ok")));
    assert_eq!(ok.header("content-type"), Some("text/plain; charset=utf-8"));

    let unknown = chat.slack_hook("T000/B000/WRONG", &body).await;
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, Some("no_service"))
    );

    let orphan = chat.slack_hook("T000/B999/ORPHAN", &body).await;
    assert_eq!(
        (orphan.status, orphan.body.as_str()),
        (404, Some("channel_not_found"))
    );

    let with_channel = chat.slack_hook(SLACK_HOOK_PATH, &slack_message()).await;
    assert_eq!(
        (with_channel.status, with_channel.body.as_str()),
        (400, Some("invalid_payload"))
    );
    assert!(validate(Service::Slack, "IncomingWebhookRequest", &slack_message()).is_err());

    let accepted = chat.sandbox.messages(Service::Slack);
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].endpoint, "incoming-webhook");
    assert_eq!(accepted[0].target, SLACK_CHANNEL_ID);
    let logged: Vec<String> = chat
        .sandbox
        .requests(Service::Slack)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert!(logged.iter().all(|p| !p.contains("XXXX")), "{logged:?}");
}

#[tokio::test]
async fn discord_executes_a_webhook_and_returns_the_message_on_wait() {
    let chat = Chat::start().await;
    let body = discord_message();
    assert_valid(Service::Discord, "ExecuteWebhookRequest", &body);

    let quiet = chat
        .discord(DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, "", &body)
        .await;
    assert_eq!(quiet.status, 204);
    assert_eq!(quiet.header("x-ratelimit-limit"), Some("5"));
    assert!(quiet.header("x-ratelimit-bucket").is_some());

    let waited = chat
        .discord(
            DISCORD_WEBHOOK_ID,
            DISCORD_WEBHOOK_TOKEN,
            "?wait=true",
            &body,
        )
        .await;
    assert_eq!(waited.status, 200);
    assert_valid(Service::Discord, "MessageResponse", &waited.body);
    assert_eq!(waited.body["content"], body["content"]);
    assert_eq!(
        waited.body["embeds"][0]["title"],
        body["embeds"][0]["title"]
    );

    let accepted = chat.sandbox.messages(Service::Discord);
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[1].target, DISCORD_WEBHOOK_ID);
    assert_eq!(accepted[1].id, waited.body["id"].as_str().expect("id"));
}

#[tokio::test]
async fn discord_refuses_typical_mistakes_as_discord_does() {
    let chat = Chat::start().await;
    let good = discord_message();

    let unknown = chat.discord("999", DISCORD_WEBHOOK_TOKEN, "", &good).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        json!({"code": 10015, "message": "Unknown Webhook"})
    );
    assert_valid(Service::Discord, "ErrorResponse", &unknown.body);
    let bad_token = chat.discord(DISCORD_WEBHOOK_ID, "wrong", "", &good).await;
    assert_eq!(
        (bad_token.status, &bad_token.body["code"]),
        (401, &json!(50027))
    );

    let mut long_title = good.clone();
    long_title["embeds"][0]["title"] = json!("x".repeat(257));
    let refused = chat
        .discord(DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, "", &long_title)
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], 50035);
    assert_eq!(refused.body["message"], "Invalid Form Body");
    assert_eq!(
        refused.body["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    // Not checked against `ErrorResponse`: the spec types a field error's `code` as an
    // integer, where Discord sends strings such as BASE_TYPE_MAX_LENGTH.
    assert!(validate(Service::Discord, "ExecuteWebhookRequest", &long_title).is_err());

    // Each part within its own limit, but more than 6000 characters together.
    let mut too_big = good.clone();
    too_big["embeds"] = json!([
        {"description": "a".repeat(4000)},
        {"description": "b".repeat(2100)},
    ]);
    let total = chat
        .discord(DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, "", &too_big)
        .await;
    assert_eq!(
        total.body["errors"]["embeds"]["_errors"][0]["code"],
        "MAX_EMBED_SIZE_EXCEEDED"
    );

    let mut misspelt = good.clone();
    misspelt["embeds"][0]["colour"] = json!(1);
    let unknown_field = chat
        .discord(DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN, "", &misspelt)
        .await;
    assert_eq!(unknown_field.status, 400);
    assert!(unknown_field.body["errors"]["embeds"]["0"]["colour"].is_object());
    assert!(validate(Service::Discord, "ExecuteWebhookRequest", &misspelt).is_err());

    let empty = chat
        .discord(
            DISCORD_WEBHOOK_ID,
            DISCORD_WEBHOOK_TOKEN,
            "",
            &json!({"content": ""}),
        )
        .await;
    assert_eq!(
        (empty.status, &empty.body),
        (
            400,
            &json!({"code": 50006, "message": "Cannot send an empty message"})
        )
    );
    assert!(chat.sandbox.messages(Service::Discord).is_empty());
}

#[tokio::test]
async fn telegram_sends_a_message_with_the_entities_it_parsed() {
    let chat = Chat::start().await;
    let body = telegram_message();
    assert_valid(Service::Telegram, "sendMessage", &body);

    let answer = chat.telegram(TELEGRAM_BOT_TOKEN, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_valid(Service::Telegram, "SendMessageResponse", &answer.body);
    let message = &answer.body["result"];
    assert_eq!(
        message["text"],
        "P1: Checkout API returns 500 & EU customers are affected\nOpen"
    );
    assert_eq!(
        message["entities"],
        json!([
            {"type": "bold", "offset": 0, "length": 2},
            {"type": "text_link", "offset": 57, "length": 4, "url": "https://klaxon.example.com/e/1"},
        ])
    );
    assert_eq!(message["chat"]["id"], TELEGRAM_CHAT_ID);

    let by_username = chat
        .telegram(
            TELEGRAM_BOT_TOKEN,
            &json!({"chat_id": "@alerts", "text": "Disk at 95\\.5%", "parse_mode": "MarkdownV2"}),
        )
        .await;
    assert_eq!(by_username.body["result"]["text"], "Disk at 95.5%");

    let accepted = chat.sandbox.messages(Service::Telegram);
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[0].target, TELEGRAM_CHAT_ID.to_string());
    assert_eq!(accepted[0].id, "1");
    let paths: Vec<String> = chat
        .sandbox
        .requests(Service::Telegram)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths[0], "/telegram/bot[redacted]/sendMessage");
}

#[tokio::test]
async fn telegram_refuses_typical_mistakes_as_telegram_does() {
    let chat = Chat::start().await;
    let good = telegram_message();

    let unauthorized = chat.telegram("123456:wrong", &good).await;
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        unauthorized.body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    assert_valid(Service::Telegram, "ErrorResponse", &unauthorized.body);

    let mut elsewhere = good.clone();
    elsewhere["chat_id"] = json!(-42);
    let not_found = chat.telegram(TELEGRAM_BOT_TOKEN, &elsewhere).await;
    assert_eq!(
        (not_found.status, &not_found.body["description"]),
        (400, &json!("Bad Request: chat not found"))
    );

    let mut bad_html = good.clone();
    bad_html["text"] = json!("<b>P1</b> <div>Checkout</div>");
    let unparsable = chat.telegram(TELEGRAM_BOT_TOKEN, &bad_html).await;
    assert_eq!(
        unparsable.body["description"],
        "Bad Request: can't parse entities: Unsupported start tag \"div\" at byte offset 10"
    );
    let mut unclosed = good.clone();
    unclosed["text"] = json!("<b>P1: Checkout");
    let unclosed = chat.telegram(TELEGRAM_BOT_TOKEN, &unclosed).await;
    assert_eq!(
        unclosed.body["description"],
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
    );

    // 4096 characters after parsing is the limit; tags do not count.
    let mut longest = good.clone();
    longest["text"] = json!(format!("<b>{}</b>", "x".repeat(4096)));
    assert_eq!(
        chat.telegram(TELEGRAM_BOT_TOKEN, &longest).await.status,
        200
    );
    let mut too_long = good.clone();
    too_long["text"] = json!("x".repeat(4097));
    let refused = chat.telegram(TELEGRAM_BOT_TOKEN, &too_long).await;
    assert_eq!(
        refused.body["description"],
        "Bad Request: message is too long"
    );

    let mut retired = good.clone();
    retired["disable_web_page_preview"] = json!(true);
    let unknown = chat.telegram(TELEGRAM_BOT_TOKEN, &retired).await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body["description"]
            .as_str()
            .is_some_and(|d| d.contains("disable_web_page_preview")),
        "{}",
        unknown.body
    );
    assert!(validate(Service::Telegram, "sendMessage", &retired).is_err());

    let unescaped = chat
        .telegram(
            TELEGRAM_BOT_TOKEN,
            &json!({"chat_id": TELEGRAM_CHAT_ID, "text": "Disk at 95.5%", "parse_mode": "MarkdownV2"}),
        )
        .await;
    assert_eq!(
        unescaped.body["description"],
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
    );
    assert_eq!(chat.sandbox.messages(Service::Telegram).len(), 1);
}

#[tokio::test]
async fn notion_creates_a_page_in_a_known_database() {
    let chat = Chat::start().await;
    let body = notion_page();
    assert_valid(Service::Notion, "CreatePageParameters", &body);

    let answer = chat.notion(NOTION_TOKEN, Some(NOTION_VERSION), &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["object"], "page");
    assert_eq!(
        answer.body["parent"]["data_source_id"],
        "00000000-0000-0000-0000-000000000002"
    );
    assert_eq!(
        answer.body["properties"]["Name"]["title"][0]["plain_text"],
        "Checkout API returns 500"
    );

    let by_data_source = json!({
        "parent": {"data_source_id": NOTION_DATA_SOURCE_ID},
        "properties": {"Name": {"title": [{"text": {"content": "Second"}}]}},
    });
    let second = chat
        .notion(NOTION_TOKEN, Some(NOTION_VERSION), &by_data_source)
        .await;
    assert_eq!(second.status, 200, "{}", second.body);

    let accepted = chat.sandbox.messages(Service::Notion);
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[0].target, NOTION_DATABASE_ID);
    assert_eq!(accepted[0].id, answer.body["id"].as_str().expect("page id"));
}

#[tokio::test]
async fn notion_refuses_typical_mistakes_as_notion_does() {
    let chat = Chat::start().await;
    let good = notion_page();

    let no_version = chat.notion(NOTION_TOKEN, None, &good).await;
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.body["code"], "missing_version");
    assert_valid(Service::Notion, "ErrorResponse", &no_version.body);

    let unauthorized = chat
        .notion("secret_wrong", Some(NOTION_VERSION), &good)
        .await;
    assert_eq!(
        (unauthorized.status, &unauthorized.body["code"]),
        (401, &json!("unauthorized"))
    );

    let mut unknown_database = good.clone();
    unknown_database["parent"]["database_id"] = json!("0000000000000000000000000000ffff");
    let not_found = chat
        .notion(NOTION_TOKEN, Some(NOTION_VERSION), &unknown_database)
        .await;
    assert_eq!(
        (not_found.status, &not_found.body["code"]),
        (404, &json!("object_not_found"))
    );

    let mut long = good.clone();
    long["properties"]["Name"]["title"][0]["text"]["content"] = json!("x".repeat(2001));
    let refused = chat.notion(NOTION_TOKEN, Some(NOTION_VERSION), &long).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], "validation_error");
    assert_eq!(
        refused.body["message"],
        "body failed validation: body.properties.Name.title[0].text.content.length should be ≤ `2000`, instead was `2001`."
    );
    assert_valid(Service::Notion, "ErrorResponse", &refused.body);
    assert!(validate(Service::Notion, "CreatePageParameters", &long).is_err());

    let mut misspelt = good.clone();
    misspelt["properties"]["Name"]["title"][0]["text"]["contents"] = json!("x");
    let unknown = chat
        .notion(NOTION_TOKEN, Some(NOTION_VERSION), &misspelt)
        .await;
    assert_eq!(unknown.body["code"], "validation_error");
    assert!(validate(Service::Notion, "CreatePageParameters", &misspelt).is_err());

    assert!(chat.sandbox.messages(Service::Notion).is_empty());
}

#[tokio::test]
async fn scripted_rate_limits_carry_each_services_retry_fields() {
    let chat = Chat::start().await;
    let half_a_second = Failure::RateLimited {
        retry_after: Duration::from_millis(500),
    };
    for service in Service::ALL {
        chat.sandbox
            .script(service, half_a_second, 1)
            .expect("a rate limit can be scripted");
    }

    let slack = chat.slack(Some(SLACK_BOT_TOKEN), &slack_message()).await;
    assert_eq!(slack.status, 429);
    assert_eq!(slack.header("retry-after"), Some("1"));
    assert_eq!(slack.body, json!({"ok": false, "error": "ratelimited"}));

    let discord = chat
        .discord(
            DISCORD_WEBHOOK_ID,
            DISCORD_WEBHOOK_TOKEN,
            "",
            &discord_message(),
        )
        .await;
    assert_eq!(discord.status, 429);
    assert_eq!(
        discord.body,
        json!({"message": "You are being rate limited.", "retry_after": 0.5, "global": false})
    );
    assert_eq!(discord.header("retry-after"), Some("1"));
    assert_eq!(discord.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(discord.header("x-ratelimit-reset-after"), Some("0.500"));
    assert!(discord.header("x-ratelimit-reset").is_some());

    let telegram = chat.telegram(TELEGRAM_BOT_TOKEN, &telegram_message()).await;
    assert_eq!(telegram.status, 429);
    assert_eq!(
        telegram.body,
        json!({"ok": false, "error_code": 429,
               "description": "Too Many Requests: retry after 1",
               "parameters": {"retry_after": 1}})
    );
    assert_valid(Service::Telegram, "ErrorResponse", &telegram.body);

    let notion = chat
        .notion(NOTION_TOKEN, Some(NOTION_VERSION), &notion_page())
        .await;
    assert_eq!(notion.status, 429);
    assert_eq!(notion.header("retry-after"), Some("1"));
    assert_eq!(notion.body["code"], "rate_limited");
    assert_valid(Service::Notion, "ErrorResponse", &notion.body);

    // The script is used up: the next request of each goes through.
    assert_eq!(
        chat.slack(Some(SLACK_BOT_TOKEN), &slack_message())
            .await
            .body["ok"],
        true
    );
    for service in Service::ALL {
        let requests = chat.sandbox.requests(service);
        assert_eq!(requests[0].scripted, Some(half_a_second), "{service:?}");
        assert_eq!(requests[0].status, Some(429));
    }
}

#[tokio::test]
async fn a_client_that_honours_retry_after_is_seen_to_wait() {
    let chat = Chat::start().await;
    chat.sandbox
        .script(
            Service::Telegram,
            Failure::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            1,
        )
        .expect("scripted");

    // A minimal well-behaved client: on 429, wait `parameters.retry_after`, then retry.
    let mut answer = chat.telegram(TELEGRAM_BOT_TOKEN, &telegram_message()).await;
    if answer.status == 429 {
        let wait = answer.body["parameters"]["retry_after"]
            .as_u64()
            .expect("retry_after");
        tokio::time::sleep(Duration::from_secs(wait)).await;
        answer = chat.telegram(TELEGRAM_BOT_TOKEN, &telegram_message()).await;
    }
    assert_eq!(answer.status, 200);

    let times = chat.sandbox.request_times(Service::Telegram);
    assert_eq!(times.len(), 2);
    let waited = times[1].duration_since(times[0]).expect("in order");
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn scripted_outages_fail_the_way_networks_do() {
    let chat = Chat::start().await;
    chat.sandbox
        .script(Service::Notion, Failure::ServerError { status: 503 }, 1)
        .expect("a 5xx can be scripted");
    let unavailable = chat
        .notion(NOTION_TOKEN, Some(NOTION_VERSION), &notion_page())
        .await;
    assert_eq!(
        (unavailable.status, &unavailable.body["code"]),
        (503, &json!("service_unavailable"))
    );
    assert!(
        chat.sandbox
            .script(Service::Notion, Failure::ServerError { status: 404 }, 1)
            .is_err()
    );

    chat.sandbox
        .script(Service::Slack, Failure::Drop, 1)
        .expect("a drop can be scripted");
    let dropped = chat
        .http
        .post(chat.url(Service::Slack, "/api/chat.postMessage"))
        .bearer_auth(SLACK_BOT_TOKEN)
        .json(&slack_message())
        .send()
        .await;
    assert!(dropped.is_err(), "the connection closed without an answer");
    assert_eq!(chat.sandbox.requests(Service::Slack)[0].status, None);

    chat.sandbox
        .script(
            Service::Discord,
            Failure::Hang {
                duration: Duration::from_millis(800),
            },
            1,
        )
        .expect("a hang can be scripted");
    let impatient = chat
        .http
        .post(
            chat.sandbox
                .discord_webhook_url(DISCORD_WEBHOOK_ID, DISCORD_WEBHOOK_TOKEN),
        )
        .timeout(Duration::from_millis(200))
        .json(&discord_message())
        .send()
        .await;
    assert!(impatient.is_err_and(|e| e.is_timeout()));
    // Like a slow real service, it still takes the message after the hang.
    let accepted = chat
        .sandbox
        .wait_until(Duration::from_secs(5), |seen| {
            seen.messages(Service::Discord).first().cloned()
        })
        .await
        .expect("the hung request is handled in the end");
    assert_eq!(accepted.body, discord_message());
}

#[tokio::test]
async fn the_message_log_and_scripts_work_over_http() {
    let chat = Chat::start().await;
    let http = &chat.http;
    let base = chat.sandbox.base_url();

    let scripted = http
        .post(format!("{base}/_sandbox/script"))
        .json(&json!({"service": "discord", "times": 2,
                      "failure": {"kind": "rate_limit", "retry_after_ms": 250}}))
        .send()
        .await
        .expect("script answered");
    assert_eq!(scripted.status(), 204);
    let refused = http
        .post(format!("{base}/_sandbox/script"))
        .json(&json!({"service": "teams", "failure": {"kind": "drop"}}))
        .send()
        .await
        .expect("script answered");
    assert_eq!(refused.status(), 400);

    for _ in 0..3 {
        chat.discord(
            DISCORD_WEBHOOK_ID,
            DISCORD_WEBHOOK_TOKEN,
            "",
            &discord_message(),
        )
        .await;
    }
    chat.slack(Some(SLACK_BOT_TOKEN), &slack_message()).await;

    let log: Value = http
        .get(format!("{base}/_sandbox/messages?service=discord"))
        .send()
        .await
        .expect("log answered")
        .json()
        .await
        .expect("JSON log");
    let messages = log["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{log}");
    assert_eq!(messages[0]["service"], "discord");
    assert_eq!(messages[0]["target"], DISCORD_WEBHOOK_ID);
    assert_eq!(messages[0]["body"], discord_message());
    assert!(messages[0]["received_at"].is_string());

    let all: Value = http
        .get(format!("{base}/_sandbox/messages"))
        .send()
        .await
        .expect("log answered")
        .json()
        .await
        .expect("JSON log");
    assert_eq!(all["messages"].as_array().map(Vec::len), Some(2));

    let requests: Value = http
        .get(format!("{base}/_sandbox/requests?service=discord"))
        .send()
        .await
        .expect("requests answered")
        .json()
        .await
        .expect("JSON requests");
    assert_eq!(requests["count"], 3);
    let statuses: Vec<&Value> = requests["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!(429), &json!(429), &json!(204)]);
    assert_eq!(requests["requests"][0]["scripted"], "rate_limit");
    assert_eq!(
        requests["requests"][0]["path"],
        "/discord/api/v10/webhooks/1/[redacted]"
    );

    let reset = http
        .post(format!("{base}/_sandbox/reset"))
        .send()
        .await
        .expect("reset answered");
    assert_eq!(reset.status(), 204);
    assert!(chat.sandbox.messages(Service::Discord).is_empty());
    assert_eq!(chat.sandbox.request_count(Service::Discord), 0);
}

/// As spec_check.rs does for Telnyx: the extracted schemas must refuse wrong bodies, or every
/// "validates against the official description" above would prove nothing.
#[test]
fn the_schema_validators_refuse_wrong_bodies() {
    let wrong = [
        (
            Service::Slack,
            "ChatPostMessageRequest",
            json!({"text": "no channel"}),
        ),
        (
            Service::Slack,
            "ChatPostMessageRequest",
            json!({"channel": "C1", "unfurl_links": "no"}),
        ),
        (
            Service::Slack,
            "ChatPostMessageRequest",
            json!({"channel": "C1", "blocks": [{"text": "no type"}]}),
        ),
        (
            Service::Slack,
            "ChatPostMessageResponse",
            json!({"ok": true, "channel": "#alerts", "ts": "1", "message": {}}),
        ),
        (
            Service::Discord,
            "ExecuteWebhookRequest",
            json!({"content": "x".repeat(2001)}),
        ),
        (
            Service::Discord,
            "ExecuteWebhookRequest",
            json!({"embeds": [{"fields": [{"name": "only a name"}]}]}),
        ),
        (
            Service::Discord,
            "ExecuteWebhookRequest",
            json!({"embeds": [{"color": 16_777_216}]}),
        ),
        (
            Service::Discord,
            "ExecuteWebhookRequest",
            json!({"allowed_mentions": {"parse": ["here"]}}),
        ),
        (
            Service::Discord,
            "ExecuteWebhookRequest",
            json!({"embeds": [{"timestamp": "yesterday"}]}),
        ),
        (Service::Telegram, "sendMessage", json!({"text": "no chat"})),
        (
            Service::Telegram,
            "sendMessage",
            json!({"chat_id": 1, "text": "x", "parse_mode": "html"}),
        ),
        (
            Service::Telegram,
            "sendMessage",
            json!({"chat_id": 1.5, "text": "x"}),
        ),
        (
            Service::Telegram,
            "sendMessage",
            json!({"chat_id": 1, "text": "x", "link_preview_options": {"disabled": true}}),
        ),
        (
            Service::Notion,
            "CreatePageParameters",
            json!({"parent": {"database_id": "x", "page_id": "y"}}),
        ),
        (
            Service::Notion,
            "CreatePageParameters",
            json!({"parent": {"database_id": "x"},
            "properties": {"Sev": {"select": {"name": "P1", "color": "crimson"}}}}),
        ),
        (
            Service::Notion,
            "CreatePageParameters",
            json!({"parent": {"database_id": "x"},
            "properties": {"Name": {"title": [{"text": {"content": "x"}}], "rich_text": []}}}),
        ),
    ];
    for (service, schema, body) in wrong {
        assert!(
            validate(service, schema, &body).is_err(),
            "{service:?} {schema} accepted {body}"
        );
    }
    // …and accept right ones, or the refusals above would prove nothing either.
    assert_valid(Service::Slack, "ChatPostMessageRequest", &slack_message());
    assert_valid(
        Service::Discord,
        "ExecuteWebhookRequest",
        &discord_message(),
    );
    assert_valid(Service::Telegram, "sendMessage", &telegram_message());
    assert_valid(Service::Notion, "CreatePageParameters", &notion_page());
}
