//! The Notion destination end to end: events posted to Klaxon become pages in the sandbox
//! Notion (real HTTP on loopback), each request valid against Notion's `CreatePageParameters`;
//! a 429 is waited out, a wrong token or an unshared database is dead with Notion's own
//! message and can be replayed once fixed, and without a token the built-in sandbox is used.

use std::collections::BTreeMap;
use std::time::Duration;

use klaxon::sandbox::chat::{
    ChatConfig, Failure, NOTION_DATABASE_ID, NOTION_TOKEN, NotionPropertyType, SandboxChat, Service,
};
use serde_json::{Value, json};

use crate::support::chat_spec::assert_valid;
use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(15);
/// A database the sandbox does not know, as one not shared with the integration.
const UNSHARED_DATABASE: &str = "99999999-9999-4999-8999-999999999999";

async fn sandbox(config: ChatConfig) -> SandboxChat {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox chat");
    SandboxChat::start(listener, config).expect("sandbox chat starts")
}

/// The sandbox with its database's properties declared, so a misnamed or mistyped property
/// is refused as Notion refuses it.
fn typed_database() -> ChatConfig {
    let mut config = ChatConfig::default();
    let properties: BTreeMap<String, NotionPropertyType> = [
        ("Name", NotionPropertyType::Title),
        ("Urgency", NotionPropertyType::Select),
        ("Summary", NotionPropertyType::RichText),
        ("Occurred", NotionPropertyType::Date),
        ("Link", NotionPropertyType::Url),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_owned(), kind))
    .collect();
    config.notion.databases[0].properties = Some(properties);
    config
}

/// One pipeline with Notion destinations, each `(name, extra settings lines)`, posting to
/// the sandbox at `api_base` (none: the built-in one).
fn settings(api_base: Option<&str>, destinations: &[(&str, &str)]) -> String {
    let mut toml = String::from(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "alerts"
on = "support.*"
"#,
    );
    for (name, extra) in destinations {
        toml.push_str(&format!(
            "[[pipelines.destinations]]\nname = \"{name}\"\n[pipelines.destinations.notion]\n"
        ));
        if let Some(base) = api_base {
            toml.push_str(&format!("api_base = \"{base}\"\n"));
        }
        toml.push_str(extra);
        toml.push('\n');
    }
    toml
}

const PROPERTIES: &str = r#"token_env = "NOTION_TOKEN"
database_id = "00000000000000000000000000000001"
[pipelines.destinations.notion.properties]
Name = { title = "{{ message.title }}" }
Urgency = { select = "{{ payload.urgency }}" }
Summary = { rich_text = "{{ payload.description }}" }
Occurred = { date = "{{ event.occurred_at }}" }
Link = { url = "{{ message.link }}" }
Unused = { rich_text = "{{ payload.not_there }}" }"#;

async fn send(server: &TestServer, payload: Value) -> String {
    let (status, body) = server
        .post_event(&json!({"type": "support.ticket.created", "payload": payload}))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The event's delivery to `destination` once it reached `state`, with its attempt log.
async fn delivery(server: &TestServer, event: &str, destination: &str, state: &str) -> Value {
    let id = eventually(WAIT, || async {
        let (_, detail) = server.get(&format!("/v1/events/{event}")).await;
        let delivery = detail["deliveries"]
            .as_array()?
            .iter()
            .find(|d| {
                // Deliveries name their destination with or without its pipeline.
                let name = d["destination"].as_str().unwrap_or_default();
                name == destination || name == format!("alerts.{destination}")
            })?
            .clone();
        (delivery["state"] == state).then(|| delivery["id"].as_str().unwrap().to_owned())
    })
    .await;
    server.get(&format!("/v1/deliveries/{id}")).await.1
}

fn statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

fn rich_text(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"]["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_event_becomes_a_valid_page_with_typed_properties_and_hostile_text_stays_text() {
    let chat = sandbox(typed_database()).await;
    let base = chat.service_base(Service::Notion);
    let server = TestServer::start_with_toml(
        &settings(Some(&base), &[("board", PROPERTIES)]),
        &[
            ("NOTION_TOKEN", NOTION_TOKEN),
            ("PUBLIC_URL", "https://klaxon.example.com"),
        ],
    )
    .await;
    let long: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let hostile =
        "@everyone <script>alert(1)</script> **bold** [click](javascript:alert(1)) \u{0}\u{1b}[2J";
    let event = send(
        &server,
        json!({
            "subject": format!("{hostile}\nCheckout down"),
            "urgency": "critical, really",
            "description": format!("{hostile}\n\n{long}"),
        }),
    )
    .await;

    let delivered = delivery(&server, &event, "board", "succeeded").await;
    let pages = chat.messages(Service::Notion);
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_valid(Service::Notion, "CreatePageParameters", &page.body);
    // The page id the sandbox answered with is kept on the attempt (its URL comes after
    // the properties, past the part of a long page's answer that is read).
    let response: Value =
        serde_json::from_str(delivered["attempt_log"][0]["response"].as_str().unwrap()).unwrap();
    assert_eq!(response, json!({"id": page.id}));

    let body = &page.body;
    assert_eq!(
        body["parent"],
        json!({"type": "database_id", "database_id": "00000000-0000-0000-0000-000000000001"})
    );
    let p = &body["properties"];
    assert_eq!(
        rich_text(&p["Name"]["title"]).concat(),
        "@everyone <script>alert(1)</script> **bold** [click](javascript:alert(1)) [2J Checkout down"
    );
    assert_eq!(p["Urgency"], json!({"select": {"name": "critical really"}}));
    let summary = rich_text(&p["Summary"]["rich_text"]);
    assert_eq!(
        summary.len(),
        6,
        "the 10,000 characters and the line before them"
    );
    assert!(summary.iter().all(|c| c.encode_utf16().count() <= 2000));
    assert!(summary.concat().ends_with(&long));
    let occurred = p["Occurred"]["date"]["start"].as_str().unwrap();
    assert!(
        occurred.ends_with('Z') && occurred.len() >= 20,
        "{occurred}"
    );
    assert_eq!(
        p["Link"]["url"],
        format!("https://klaxon.example.com/#{event}")
    );
    assert!(p.get("Unused").is_none(), "an empty property is left out");
    let serialized = body.to_string();
    for forbidden in ["mention", "\\u0000", "\\u001b", "\"url\":\"javascript"] {
        assert!(!serialized.contains(forbidden), "{forbidden} sent");
    }
    let children = body["children"].as_array().unwrap();
    assert_eq!(
        rich_text(&children[1]["paragraph"]["rich_text"]).concat(),
        long,
        "the text's paragraphs are the page's body"
    );

    let (_, destinations) = server.get("/v1/destinations").await;
    let summary = destinations["data"][0]["target"].as_str().unwrap();
    assert_eq!(
        summary,
        "notion database 00000000-0000-0000-0000-000000000001"
    );
    assert!(!destinations.to_string().contains(NOTION_TOKEN));
    assert!(!delivered.to_string().contains(NOTION_TOKEN));
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_for_as_long_as_notion_asks() {
    let chat = sandbox(ChatConfig::default()).await;
    chat.script(
        Service::Notion,
        Failure::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        1,
    )
    .unwrap();
    let server = TestServer::start_with_toml(
        &settings(
            Some(&chat.service_base(Service::Notion)),
            &[(
                "board",
                "token_env = \"NOTION_TOKEN\"\ndata_source_id = \"00000000-0000-0000-0000-000000000002\"",
            )],
        ),
        &[("NOTION_TOKEN", NOTION_TOKEN)],
    )
    .await;
    let event = send(&server, json!({"subject": "Refund requested"})).await;

    let delivered = delivery(&server, &event, "board", "succeeded").await;
    assert_eq!(statuses(&delivered), [json!(429), json!(200)]);
    assert_eq!(
        delivered["attempt_log"][0]["error"],
        "Notion said rate_limited: You have been rate limited. Please try again in a few minutes."
    );
    let times = chat.request_times(Service::Notion);
    let gap = times[1].duration_since(times[0]).unwrap();
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 honoured, not the 100 ms schedule: {gap:?}"
    );
    let page = &chat.messages(Service::Notion)[0];
    let response: Value =
        serde_json::from_str(delivered["attempt_log"][1]["response"].as_str().unwrap()).unwrap();
    assert_eq!(
        response,
        json!({"id": page.id, "url": format!("https://www.notion.so/{}", page.id.replace('-', ""))})
    );
    assert_eq!(
        page.body["parent"],
        json!({"type": "data_source_id", "data_source_id": "00000000-0000-0000-0000-000000000002"})
    );
    assert_valid(Service::Notion, "CreatePageParameters", &page.body);
}

#[tokio::test]
async fn a_wrong_token_or_an_unshared_database_is_dead_and_replayed_once_fixed() {
    let chat = sandbox(ChatConfig::default()).await;
    let base = chat.service_base(Service::Notion);
    let toml = settings(
        Some(&base),
        &[
            (
                "board",
                "token_env = \"NOTION_TOKEN\"\ndatabase_id = \"00000000000000000000000000000001\"",
            ),
            (
                "unshared",
                &format!("token_env = \"GOOD_TOKEN\"\ndatabase_id = \"{UNSHARED_DATABASE}\""),
            ),
        ],
    );
    let wrong = [
        ("NOTION_TOKEN", "secret_wrong_token"),
        ("GOOD_TOKEN", NOTION_TOKEN),
    ];
    let server = TestServer::start_with_toml(&toml, &wrong).await;
    let event = send(&server, json!({"subject": "Disk full"})).await;

    let dead = delivery(&server, &event, "board", "dead").await;
    assert_eq!(statuses(&dead), [json!(401)], "no retry can fix a token");
    assert_eq!(
        dead["attempt_log"][0]["error"],
        "Notion said unauthorized: API token is invalid."
    );
    assert!(!dead.to_string().contains("secret_wrong_token"));
    let unshared = delivery(&server, &event, "unshared", "dead").await;
    assert_eq!(statuses(&unshared), [json!(404)]);
    let reason = unshared["attempt_log"][0]["error"].as_str().unwrap();
    assert!(
        reason.starts_with("Notion said object_not_found: Could not find database with ID: 99999999-9999-4999-8999-999999999999.")
            && reason.contains("shared with your integration"),
        "{reason}"
    );
    assert!(chat.messages(Service::Notion).is_empty());

    // The token is fixed and Klaxon restarted: the stored page is sent again as it was.
    let dir = server.stop_keeping_files().await;
    let fixed = [("NOTION_TOKEN", NOTION_TOKEN), ("GOOD_TOKEN", NOTION_TOKEN)];
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| {
        crate::support::apply_toml(s, &toml, &fixed)
    })
    .await;
    let id = dead["id"].as_str().unwrap();
    let replay = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    assert_eq!(replay.0, 202, "{}", replay.1);
    let delivered = delivery(&server, &event, "board", "succeeded").await;
    assert_eq!(statuses(&delivered), [json!(401), json!(200)]);
    let pages = chat.messages(Service::Notion);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].target, NOTION_DATABASE_ID);
    assert_eq!(
        rich_text(&pages[0].body["properties"]["Name"]["title"]).concat(),
        "Disk full"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_dead_then_replayed() {
    let chat = sandbox(ChatConfig::default()).await;
    chat.script(Service::Notion, Failure::ServerError { status: 503 }, 3)
        .unwrap();
    let server = TestServer::start_with_toml(
        &settings(
            Some(&chat.service_base(Service::Notion)),
            &[(
                "board",
                "token_env = \"NOTION_TOKEN\"\ndatabase_id = \"00000000000000000000000000000001\"",
            )],
        ),
        &[("NOTION_TOKEN", NOTION_TOKEN)],
    )
    .await;
    let event = send(&server, json!({"subject": "Queue backed up"})).await;
    let dead = delivery(&server, &event, "board", "dead").await;
    assert_eq!(statuses(&dead), [json!(503), json!(503), json!(503)]);
    assert!(
        dead["attempt_log"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("Notion said service_unavailable:")
    );
    let id = dead["id"].as_str().unwrap();
    let replay = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    assert_eq!(replay.0, 202, "{}", replay.1);
    let delivered = delivery(&server, &event, "board", "succeeded").await;
    assert_eq!(statuses(&delivered).len(), 4);
    assert_eq!(chat.messages(Service::Notion).len(), 1);
}

#[tokio::test]
async fn without_a_token_pages_go_to_the_built_in_sandbox() {
    let server = TestServer::start_with_toml(
        &settings(None, &[("board", "token_env = \"NOTION_TOKEN\"")]),
        &[],
    )
    .await;
    let event = send(&server, json!({"subject": "Demo alert"})).await;
    let delivered = delivery(&server, &event, "board", "succeeded").await;
    let response: Value =
        serde_json::from_str(delivered["attempt_log"][0]["response"].as_str().unwrap()).unwrap();
    assert!(response["id"].is_string(), "{response}");
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(
        destinations["data"][0]["target"],
        "notion database 00000000-0000-0000-0000-000000000001 (sandbox)"
    );
}
