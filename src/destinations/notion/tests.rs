use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;
use crate::destinations::http_post::Answer;
use crate::destinations::report::Verdict;
use crate::destinations::template::MessageTemplate;
use crate::destinations::{Message, MessageField, Routed};
use crate::store::EventId;

const DATABASE: &str = "0123456789abcdef0123456789ABCDEF";

fn context<'a>(env: &'a dyn Fn(&str) -> Option<String>, sandbox: bool) -> SettingsContext<'a> {
    SettingsContext {
        env,
        public_url: None,
        sandbox,
    }
}

fn raw(toml_text: &str) -> RawNotion {
    toml::from_str(toml_text).unwrap()
}

fn with_token(toml_text: &str) -> NotionSettings {
    let env = |_: &str| Some("ntn_real_token_123".to_owned());
    settings(raw(toml_text), &context(&env, false))
        .unwrap_or_else(|p| panic!("valid settings: {p:?}"))
}

/// The request body for `payload` and `labels`, as JSON.
fn render_body(settings: &NotionSettings, payload: Value, labels: Value) -> Value {
    let labels: Map<String, Value> = labels.as_object().cloned().unwrap_or_default();
    let trace = json!({"pipeline": "support", "steps": []});
    let id: EventId = "0190f1c2-a3b4-7c8d-9e0f-112233445566".parse().unwrap();
    let event = Routed::new(
        id,
        "support.ticket.created",
        "2026-12-05T08:00:00Z",
        &payload,
        &labels,
        &trace,
    );
    let template = MessageTemplate::compile(None, Some("https://klaxon.example.com")).unwrap();
    let message = template.render(&event);
    serde_json::from_str(&render(settings, &message, &event)).unwrap()
}

fn keys(problems: Problems) -> Vec<String> {
    problems.into_inner().into_iter().map(|(k, _)| k).collect()
}

#[test]
fn settings_need_a_token_unless_in_sandbox_mode_and_never_show_it() {
    let none = |_: &str| None;
    let problems = settings(
        raw(&format!(
            "token_env = \"NOTION_TOKEN\"\ndatabase_id = \"{DATABASE}\""
        )),
        &context(&none, false),
    )
    .unwrap_err()
    .into_inner();
    assert_eq!(problems[0].0, "token_env");
    assert!(
        problems[0].1.contains("NOTION_TOKEN is not set"),
        "{problems:?}"
    );

    let sandboxed = settings(raw("token_env = \"NOTION_TOKEN\""), &context(&none, true)).unwrap();
    assert!(sandboxed.uses_sandbox());
    assert_eq!(
        sandboxed.summary(),
        "notion database 00000000-0000-0000-0000-000000000001 (sandbox)"
    );
    // A configured id is shown, but the sandbox's own database is where pages go.
    let configured = settings(
        raw(&format!("data_source_id = \"{DATABASE}\"")),
        &context(&none, true),
    )
    .unwrap();
    assert_eq!(
        configured.request_parent(),
        Parent::DataSource("00000000-0000-0000-0000-000000000002".into())
    );

    let real = with_token(&format!(
        "token_env = \"NOTION_TOKEN\"\ndatabase_id = \"{DATABASE}\""
    ));
    assert!(!real.uses_sandbox());
    assert_eq!(
        real.summary(),
        "notion database 01234567-89ab-cdef-0123-456789abcdef"
    );
    assert_eq!(real.request_parent(), real.parent);
    assert!(
        !format!("{real:?}").contains("ntn_real"),
        "no token in Debug"
    );
    assert_eq!(real.pace, Some(DEFAULT_PER_SECOND));
}

#[test]
fn every_settings_problem_is_keyed() {
    let env = |_: &str| Some("ntn_x".to_owned());
    let problems = settings(
        raw(r#"
token_env = "NOTION_TOKEN"
database_id = "https://www.notion.so/Alerts"
max_per_second = 500
timeout_secs = 0
api_base = "ftp://notion"
[properties]
Name = { title = "{{ payload.subject " }
Task = { title = "{{ payload.subject }}" }
Who = { people = "{{ payload.owner }}" }
Count = { number = 3 }
Loose = "{{ payload.x }}"
Both = { select = "a", status = "b" }
"#),
        &context(&env, false),
    )
    .unwrap_err();
    assert_eq!(
        keys(problems),
        [
            "database_id",
            // Property problems come in name order (TOML tables are sorted).
            "properties.Both",
            "properties.Count.number",
            "properties.Loose",
            "properties.Who.people",
            "properties.Name.title",
            "properties.Task.title",
            "max_per_second",
            "timeout_secs",
            "api_base",
        ]
    );

    let both = settings(
        raw(&format!(
            "token_env = \"T\"\ndatabase_id = \"{DATABASE}\"\ndata_source_id = \"{DATABASE}\""
        )),
        &context(&env, false),
    )
    .unwrap_err();
    assert_eq!(keys(both), ["data_source_id"]);
    let neither = settings(raw("token_env = \"T\""), &context(&env, false)).unwrap_err();
    assert_eq!(keys(neither), ["database_id"]);
}

#[test]
fn properties_are_typed_and_empty_ones_left_out() {
    let notion = with_token(&format!(
        r#"
token_env = "NOTION_TOKEN"
data_source_id = "{DATABASE}"
max_per_second = 0
[properties]
Name = {{ title = "{{{{ message.title }}}}" }}
Urgency = {{ select = "{{{{ labels.urgency }}}}" }}
Customer = {{ select = "{{{{ payload.customer }}}}" }}
Tags = {{ multi_select = "{{{{ payload.tags | join(',') }}}}" }}
Summary = {{ rich_text = "{{{{ payload.description }}}}" }}
Occurred = {{ date = "{{{{ event.occurred_at }}}}" }}
Due = {{ date = "{{{{ payload.due }}}}" }}
Link = {{ url = "{{{{ message.link }}}}" }}
Evil = {{ url = "{{{{ payload.evil }}}}" }}
Amount = {{ number = "{{{{ payload.amount }}}}" }}
Paid = {{ checkbox = "{{{{ payload.paid }}}}" }}
Contact = {{ email = "{{{{ payload.email }}}}" }}
Missing = {{ rich_text = "{{{{ payload.nothing.here }}}}" }}
"#
    ));
    assert_eq!(notion.pace, None);
    let body = render_body(
        &notion,
        json!({
            "subject": "Checkout is down",
            "customer": "Acme, Inc.",
            "tags": ["eu", "checkout", "eu"],
            "description": "500s since 09:12",
            "due": "next week",
            "evil": "javascript:alert(1)",
            "amount": "120.5",
            "paid": "yes",
            "email": "ops@acme.example",
        }),
        json!({"urgency": "critical"}),
    );
    assert_eq!(
        body["parent"],
        json!({"type": "data_source_id", "data_source_id": "01234567-89ab-cdef-0123-456789abcdef"})
    );
    let p = &body["properties"];
    assert_eq!(
        p["Name"],
        json!({"title": [{"type": "text", "text": {"content": "[CRITICAL] Checkout is down"}}]})
    );
    assert_eq!(p["Urgency"], json!({"select": {"name": "critical"}}));
    assert_eq!(p["Customer"], json!({"select": {"name": "Acme Inc."}}));
    assert_eq!(
        p["Tags"],
        json!({"multi_select": [{"name": "eu"}, {"name": "checkout"}]})
    );
    assert_eq!(
        p["Summary"]["rich_text"][0]["text"]["content"],
        "500s since 09:12"
    );
    assert_eq!(
        p["Occurred"],
        json!({"date": {"start": "2026-12-05T08:00:00Z"}})
    );
    assert_eq!(
        p["Link"],
        json!({"url": "https://klaxon.example.com/#0190f1c2-a3b4-7c8d-9e0f-112233445566"})
    );
    assert_eq!(p["Amount"], json!({"number": 120.5}));
    assert_eq!(p["Paid"], json!({"checkbox": true}));
    assert_eq!(p["Contact"], json!({"email": "ops@acme.example"}));
    // Empty, or not a value of its type: left out rather than refused by Notion.
    for absent in ["Due", "Evil", "Missing"] {
        assert!(p.get(absent).is_none(), "{absent}: {p}");
    }
}

#[test]
fn the_defaults_read_well() {
    let none = |_: &str| None;
    let notion = settings(RawNotion::default(), &context(&none, true)).unwrap();
    let body = render_body(
        &notion,
        json!({"subject": "Refund requested", "description": "Order 1042.\n\nThe customer called twice.", "priority": "high"}),
        json!({}),
    );
    assert_eq!(
        body["parent"],
        json!({"type": "database_id", "database_id": "00000000-0000-0000-0000-000000000001"})
    );
    assert_eq!(
        body["properties"],
        json!({"Name": {"title": [{"type": "text", "text": {"content": "Refund requested"}}]}})
    );
    let blocks = body["children"].as_array().unwrap();
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "paragraph",
            "paragraph",
            "bulleted_list_item",
            "bulleted_list_item",
            "paragraph"
        ]
    );
    assert_eq!(
        blocks[1]["paragraph"]["rich_text"][0]["text"]["content"],
        "The customer called twice."
    );
    assert_eq!(
        blocks[3]["bulleted_list_item"]["rich_text"],
        json!([
            {"type": "text", "text": {"content": "Priority"}, "annotations": {"bold": true}},
            {"type": "text", "text": {"content": ": "}},
            {"type": "text", "text": {"content": "high"}},
        ])
    );
    assert_eq!(
        blocks[4]["paragraph"]["rich_text"][0]["text"]["link"]["url"],
        "https://klaxon.example.com/#0190f1c2-a3b4-7c8d-9e0f-112233445566"
    );

    let bare = with_token(&format!(
        "token_env = \"T\"\ndatabase_id = \"{DATABASE}\"\ncontent = false"
    ));
    let body = render_body(&bare, json!({"description": "text"}), json!({}));
    assert!(body.get("children").is_none(), "{body}");
    assert_eq!(
        body["properties"]["Name"]["title"][0]["text"]["content"], "support.ticket.created",
        "no title: the event type"
    );
}

fn contents(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"]["content"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rich_text_is_split_at_2000_characters() {
    let notion = with_token(&format!(
        r#"
token_env = "T"
database_id = "{DATABASE}"
[properties]
Name = {{ title = "{{{{ payload.subject }}}}" }}
Details = {{ rich_text = "{{{{ payload.description }}}}" }}
"#
    ));
    let text: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let body = render_body(
        &notion,
        json!({"subject": "x".repeat(5000), "description": text}),
        json!({}),
    );
    let details = contents(&body["properties"]["Details"]["rich_text"]);
    assert_eq!(details.len(), 5);
    assert!(details.iter().all(|c| c.chars().count() == 2000));
    assert_eq!(details.concat(), text, "nothing lost, nothing added");
    let title = contents(&body["properties"]["Name"]["title"]);
    assert_eq!(
        title.iter().map(|c| c.len()).collect::<Vec<_>>(),
        [2000, 2000, 1000]
    );
    let paragraph = contents(&body["children"][0]["paragraph"]["rich_text"]);
    assert_eq!(paragraph.concat(), text);
    assert_eq!(paragraph.len(), 5);

    // Notion counts UTF-16 units: 1,500 emoji are 3,000 units, two items.
    let emoji = "😀".repeat(1500);
    let items = text::rich_text(&emoji, text::MAX_ITEMS);
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["text"]["content"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1000
    );

    // Beyond 100 items the text is cut, with an ellipsis in the last item.
    let huge = "y".repeat(250_000);
    let items = text::rich_text(&huge, text::MAX_ITEMS);
    assert_eq!(items.len(), 100);
    let last = items[99]["text"]["content"].as_str().unwrap();
    assert_eq!(last.chars().count(), 2000);
    assert!(last.ends_with("y…"));

    // A page body is cut at MAX_CONTENT characters, and stays within 100 blocks.
    let many_paragraphs = (0..300)
        .map(|i| format!("paragraph {i}"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let message = Message {
        text: format!("{many_paragraphs}\n\n{}", "z".repeat(80_000)),
        ..Message::default()
    };
    let blocks = page::blocks(&message);
    assert_eq!(blocks.len(), 100);
    let total: usize = blocks
        .iter()
        .map(|b| {
            contents(&b["paragraph"]["rich_text"])
                .concat()
                .chars()
                .count()
        })
        .sum();
    assert!(total <= page::MAX_CONTENT, "{total}");
    assert!(
        contents(&blocks[99]["paragraph"]["rich_text"])
            .concat()
            .starts_with("paragraph 99\n\nparagraph 100"),
        "the paragraphs past the budget share the last block"
    );
}

#[test]
fn hostile_content_stays_plain_text() {
    let notion = with_token(&format!(
        r#"
token_env = "T"
database_id = "{DATABASE}"
[properties]
Name = {{ title = "{{{{ payload.subject }}}}" }}
Urgency = {{ select = "{{{{ payload.urgency }}}}" }}
"#
    ));
    let hostile = "@everyone <script>alert(1)</script> **bold** [x](javascript:alert(1)) \u{0}\u{7}\u{1b}[31m";
    let body = render_body(
        &notion,
        json!({
            "subject": format!("{hostile}\r\nsecond line"),
            "urgency": format!("{}, high", "p".repeat(300)),
            "description": format!("{hostile}\n{}", "x".repeat(10_000)),
        }),
        json!({}),
    );
    let title = contents(&body["properties"]["Name"]["title"]).concat();
    assert_eq!(
        title,
        "@everyone <script>alert(1)</script> **bold** [x](javascript:alert(1)) [31m second line"
    );
    let option = body["properties"]["Urgency"]["select"]["name"]
        .as_str()
        .unwrap();
    assert!(!option.contains(','));
    assert_eq!(option.encode_utf16().count(), text::MAX_OPTION);
    let serialized = body.to_string();
    for forbidden in [
        "mention",
        "\\u0000",
        "\\u0007",
        "\\u001b",
        "\"link\":{\"url\":\"javascript",
    ] {
        assert!(
            !serialized.contains(forbidden),
            "{forbidden} in {serialized}"
        );
    }
    // Every item within Notion's limits.
    for block in body["children"].as_array().unwrap() {
        let kind = block["type"].as_str().unwrap();
        for item in block[kind]["rich_text"].as_array().unwrap() {
            assert!(
                item["text"]["content"]
                    .as_str()
                    .unwrap()
                    .encode_utf16()
                    .count()
                    <= 2000
            );
        }
    }

    let message = Message {
        link: Some("javascript:alert(1)".into()),
        fields: vec![MessageField {
            name: "A\nB".into(),
            value: "\u{0}".into(),
        }],
        ..Message::default()
    };
    assert!(
        page::blocks(&message).is_empty(),
        "no unsafe link, no empty field"
    );
}

#[test]
fn values_are_made_valid_or_left_out() {
    assert_eq!(
        text::iso_date("2026-01-05T09:00:00+02:00").as_deref(),
        Some("2026-01-05T09:00:00+02:00")
    );
    assert_eq!(text::iso_date("2026-01-05").as_deref(), Some("2026-01-05"));
    assert_eq!(
        text::iso_date("1767225600").as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    assert_eq!(text::iso_date("05/01/2026"), None);
    assert_eq!(text::number("3"), Some(json!(3)));
    assert_eq!(text::number("NaN"), None);
    assert_eq!(text::checkbox("No"), Some(false));
    assert_eq!(text::checkbox("maybe"), None);
    assert_eq!(text::email("not an address"), None);
    assert_eq!(text::web_url("https://"), None);
    assert_eq!(
        text::option_names(" a, b ,,a , "),
        vec!["a".to_owned(), "b".to_owned()]
    );
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        retry_after: None,
        body: body.to_string(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    answer(
        status,
        json!({"object": "error", "status": status, "code": code, "message": message}),
    )
}

#[test]
fn answers_are_judged_as_notion_means_them() {
    let created = send::judge(answer(
        200,
        json!({"object": "page", "id": "p1", "url": "https://www.notion.so/p1", "properties": {}}),
    ));
    assert_eq!(created.verdict, Verdict::Delivered);
    assert_eq!(
        created.response.as_deref(),
        Some(r#"{"id":"p1","url":"https://www.notion.so/p1"}"#)
    );

    // Only the start of an answer is read: the id comes first, the URL after the properties.
    let page = json!({"object": "page", "id": "p2", "properties": {"Notes": "x".repeat(5000)}, "url": "https://www.notion.so/p2"});
    let cut_off = send::judge(Answer {
        status: 200,
        retry_after: None,
        body: page.to_string().chars().take(4096).collect(),
    });
    assert_eq!(cut_off.response.as_deref(), Some(r#"{"id":"p2"}"#));

    let limited = send::judge(Answer {
        retry_after: Some(Duration::from_secs(7)),
        ..error(429, "rate_limited", "You have been rate limited.")
    });
    assert_eq!(
        limited.verdict,
        Verdict::Retry {
            after: Some(Duration::from_secs(7))
        }
    );

    for (status, code) in [
        (400, "validation_error"),
        (401, "unauthorized"),
        (403, "restricted_resource"),
        (404, "object_not_found"),
    ] {
        let dead = send::judge(error(status, code, "Could not find database."));
        assert_eq!(dead.verdict, Verdict::Dead, "{status}");
        assert_eq!(
            dead.error.as_deref(),
            Some(format!("Notion said {code}: Could not find database.").as_str())
        );
        assert_eq!(dead.status, Some(status));
    }
    for (status, code) in [
        (409, "conflict_error"),
        (500, "internal_server_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
        (504, "gateway_timeout"),
    ] {
        let again = send::judge(error(status, code, "try again"));
        assert_eq!(again.verdict, Verdict::Retry { after: None }, "{status}");
    }
    let html = send::judge(Answer {
        status: 502,
        retry_after: None,
        body: "<html>bad gateway</html>".into(),
    });
    assert_eq!(html.error.as_deref(), Some("HTTP 502"));
}
