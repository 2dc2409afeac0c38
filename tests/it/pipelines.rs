//! Pipelines end to end: classify (model, cache, built-in, fallback), CEL filters, `when`
//! fan-out and redaction, seen from the receivers and from `GET /v1/events/{id}`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::model::ModelServer;
use crate::support::receiver::Receiver;
use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(10);

fn ticket(subject: &str, body: &str, tier: &str) -> Value {
    json!({
        "type": "support.ticket.created",
        "payload": {"subject": subject, "body": body, "customer_tier": tier},
    })
}

async fn send(server: &TestServer, event: &Value) -> String {
    let (status, body) = server.post_event(event).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The event once its pipelines ran.
async fn processed(server: &TestServer, id: &str) -> Value {
    eventually(WAIT, || async {
        let (_, event) = server.get(&format!("/v1/events/{id}")).await;
        (event["pipeline_state"] == "done").then_some(event)
    })
    .await
}

fn escalations(oncall: &str, enterprise: &str) -> String {
    format!(
        r#"
[[pipelines]]
name = "support-escalations"
on = "support.ticket.*"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body", "customer_tier"] }} }},
  {{ filter = 'urgency == "critical"' }},
  {{ redact = {{ fields = ["body"] }} }},
]
[[pipelines.destinations]]
name = "oncall"
webhook = {{ url = "{oncall}", signing = "none", allow_private = true }}
[[pipelines.destinations]]
name = "enterprise"
when = 'customer_tier == "enterprise"'
webhook = {{ url = "{enterprise}", signing = "none", allow_private = true }}
[[pipelines.destinations]]
log = true
"#
    )
}

#[tokio::test]
async fn critical_tickets_fan_out_by_condition_and_leave_redacted() {
    let oncall = Receiver::start().await;
    let enterprise = Receiver::start().await;
    let server =
        TestServer::start_with_toml(&escalations(&oncall.url(), &enterprise.url()), &[]).await;

    let outage = send(
        &server,
        &ticket(
            "Production outage: checkout down",
            "Every EU checkout fails with 500 since 09:12. Call me at +1 415 555 0123 or mail ops@acme.com",
            "enterprise",
        ),
    )
    .await;
    let startup = send(
        &server,
        &ticket(
            "Site down for all customers",
            "Outage, data loss suspected",
            "startup",
        ),
    )
    .await;
    let question = send(
        &server,
        &ticket(
            "How do I export invoices?",
            "Just a question, thanks!",
            "enterprise",
        ),
    )
    .await;

    let to_oncall = oncall.wait_for(2, WAIT).await;
    let to_enterprise = enterprise.wait_for(1, WAIT).await;
    let quiet = processed(&server, &question).await;
    processed(&server, &startup).await;
    assert_eq!(
        to_oncall.len(),
        2,
        "both critical tickets, not the question"
    );
    assert_eq!(to_enterprise.len(), 1, "only the enterprise customer's");

    let body = to_enterprise[0].json();
    assert_eq!(body["id"], outage.as_str());
    assert_eq!(body["labels"], json!({"urgency": "critical"}));
    let text = body["payload"]["body"].as_str().unwrap();
    assert!(
        text.contains("[REDACTED:phone]") && text.contains("[REDACTED:email]"),
        "{text}"
    );
    assert!(
        !text.contains("ops@acme.com") && !text.contains("555"),
        "{text}"
    );
    assert_eq!(
        body["payload"]["subject"], "Production outage: checkout down",
        "fields not listed are kept"
    );

    // The stored event keeps the original payload and shows the whole trace.
    let event = processed(&server, &outage).await;
    assert!(
        event["payload"]["body"]
            .as_str()
            .unwrap()
            .contains("ops@acme.com")
    );
    let run = &event["pipeline"]["runs"][0];
    assert_eq!(run["outcome"], "routed");
    assert_eq!(run["steps"][0]["step"], "classify");
    assert_eq!(run["steps"][0]["label"], "critical");
    assert_eq!(run["steps"][0]["source"], "builtin", "no model configured");
    assert!(run["steps"][0]["reason"].is_string());
    assert_eq!(run["steps"][1]["matched"], true);
    assert_eq!(run["steps"][2]["replacements"], 2);
    let chosen: Vec<(Value, Value)> = run["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].clone(), d["chosen"].clone()))
        .collect();
    assert_eq!(
        chosen,
        vec![
            (json!("support-escalations.oncall"), json!(true)),
            (json!("support-escalations.enterprise"), json!(true)),
            (json!("support-escalations.log"), json!(true)),
        ]
    );
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 2);

    let quiet_run = &quiet["pipeline"]["runs"][0];
    assert_eq!(quiet_run["outcome"], "filtered");
    assert_eq!(quiet_run["labels"]["urgency"], "low");
    assert_eq!(quiet["deliveries"], json!([]));
}

#[tokio::test]
async fn identical_tickets_cost_one_model_call_even_across_restarts() {
    let model = ModelServer::start("critical").await;
    let env = [
        ("AI_BASE_URL", model.base_url()),
        ("AI_API_KEY", "test-key".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let toml = r#"
[[pipelines]]
name = "triage"
on = "support.ticket.*"
steps = [{ classify = { field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body"] } }]
[[pipelines.destinations]]
log = true
"#;
    let server = TestServer::start_with_toml(toml, &env).await;
    let same = ticket("Checkout broken", "Nothing works", "enterprise");
    // Sent at once, so the pipelines run concurrently and must share one model call.
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let request = server.http.post(server.url("/v1/events")).json(&same);
        sends.spawn(async move {
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer["id"].as_str().unwrap().to_owned()
        });
    }
    let ids = sends.join_all().await;
    let mut sources = Vec::new();
    for id in &ids {
        let event = processed(&server, id).await;
        let step = &event["pipeline"]["runs"][0]["steps"][0];
        assert_eq!(step["label"], "critical");
        sources.push(step["source"].as_str().unwrap().to_owned());
    }
    assert_eq!(model.calls(), 1, "20 identical tickets, one model call");
    assert_eq!(
        sources.iter().filter(|s| *s == "model").count(),
        1,
        "{sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| *s == "cache").count(),
        19,
        "{sources:?}"
    );

    // The cache is in the store: a restarted server does not ask again.
    let dir = server.stop_keeping_files().await;
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| {
        crate::support::apply_toml(s, toml, &env)
    })
    .await;
    let again = send(&server, &same).await;
    let event = processed(&server, &again).await;
    assert_eq!(event["pipeline"]["runs"][0]["steps"][0]["source"], "cache");
    assert_eq!(model.calls(), 1);

    // A different ticket is a new question.
    let other = send(&server, &ticket("Invoice question", "How?", "free")).await;
    processed(&server, &other).await;
    assert_eq!(model.calls(), 2);
}

#[tokio::test]
async fn a_failing_model_falls_back_and_says_so() {
    let model = ModelServer::start("high").await;
    model.fail_with(500);
    let base = model.base_url();
    let toml = r#"
[[pipelines]]
name = "triage"
on = "support.ticket.*"
steps = [
  { classify = { field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body"] } },
  { classify = { field = "team", labels = ["billing", "platform"], default = "platform" } },
]
[[pipelines.destinations]]
log = true
"#;
    let server = TestServer::start_with_toml(toml, &[("AI_BASE_URL", &base)]).await;
    let id = send(
        &server,
        &ticket("Outage: site down", "All customers affected", "free"),
    )
    .await;
    let event = processed(&server, &id).await;
    let steps = &event["pipeline"]["runs"][0]["steps"];
    assert_eq!(steps[0]["source"], "fallback");
    assert_eq!(
        steps[0]["label"], "critical",
        "built-in rules decided: {steps}"
    );
    assert!(
        steps[0]["reason"].as_str().unwrap().contains("500"),
        "{steps}"
    );
    assert_eq!(steps[1]["source"], "fallback");
    assert_eq!(steps[1]["label"], "platform", "the step's default");
    assert_eq!(
        event["pipeline"]["labels"],
        json!({"urgency": "critical", "team": "platform"})
    );
    assert!(model.calls() >= 2);
}

#[tokio::test]
async fn the_built_in_pipeline_triages_support_tickets_with_no_settings() {
    let server = TestServer::start().await;
    let id = send(
        &server,
        &ticket(
            "URGENT: production down",
            "Payments failing for every customer",
            "enterprise",
        ),
    )
    .await;
    let event = processed(&server, &id).await;
    assert_eq!(
        event["pipeline"]["runs"][0]["pipeline"],
        "support-escalations"
    );
    assert_eq!(event["pipeline"]["labels"]["urgency"], "critical");

    // Types no pipeline takes are stored and left alone.
    let (_, other) = server
        .post_event(&json!({"type": "user.signed_up", "payload": {}}))
        .await;
    let (_, stored) = server
        .get(&format!("/v1/events/{}", other["id"].as_str().unwrap()))
        .await;
    assert!(stored["pipeline_state"].is_null(), "{stored}");
}

#[tokio::test]
async fn a_transition_step_passes_once_per_change_into_the_condition() {
    let receiver = Receiver::start().await;
    let toml = format!(
        r#"
[[pipelines]]
name = "tickets"
on = "merge.ticket.*"
steps = [{{ transition = {{ key = "id", when = 'priority in ["URGENT", "HIGH"] && status != "CLOSED"', repage_after = "1s" }} }}]
[[pipelines.destinations]]
webhook = {{ url = "{}", signing = "none", allow_private = true }}
"#,
        receiver.url()
    );
    let server = TestServer::start_with_toml(&toml, &[]).await;
    let change = |id: &str, priority: &str, status: &str| json!({"type": "merge.ticket.changed", "payload": {"id": id, "priority": priority, "status": status}});

    // Ten "changed" webhooks for one urgent ticket, all at once: one passes.
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let request = server
            .http
            .post(server.url("/v1/events"))
            .json(&change("T-1", "URGENT", "OPEN"));
        sends.spawn(async move { request.send().await.unwrap().status() });
    }
    for status in sends.join_all().await {
        assert_eq!(status, 202);
    }
    receiver.wait_for(1, WAIT).await;
    let ids: Vec<String> = {
        let (_, page) = server
            .get("/v1/events?type=merge.ticket.changed&limit=20")
            .await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for id in &ids {
        processed(&server, id).await;
    }
    assert_eq!(receiver.received().len(), 1, "one delivery for ten changes");

    // Closing and reopening as urgent is a new transition; another ticket is its own.
    for event in [
        change("T-1", "URGENT", "CLOSED"),
        change("T-1", "URGENT", "OPEN"),
        change("T-2", "HIGH", "OPEN"),
        change("T-2", "LOW", "OPEN"),
    ] {
        let id = send(&server, &event).await;
        processed(&server, &id).await;
    }
    receiver.wait_for(3, WAIT).await;
    // Still urgent after `repage_after`: paged again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let id = send(&server, &change("T-1", "URGENT", "OPEN")).await;
    let event = processed(&server, &id).await;
    assert_eq!(
        event["pipeline"]["runs"][0]["steps"][0]["passed"], true,
        "{event:#}"
    );
    receiver.wait_for(4, WAIT).await;
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn the_model_sees_the_redacted_payload_when_redact_comes_first() {
    // The same ticket through two pipelines: redact then classify, and classify then redact.
    // The model is shown the customer's e-mail and card only by the second.
    let model = ModelServer::start("critical").await;
    let env = [
        ("AI_BASE_URL", model.base_url()),
        ("AI_API_KEY", "test-key".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receiver = Receiver::start().await;
    let toml = format!(
        r#"
[[pipelines]]
name = "private"
on = "support.ticket.private"
steps = [
  {{ redact = {{ fields = ["subject", "body"], kinds = ["email", "card"] }} }},
  {{ classify = {{ field = "urgency", labels = ["low", "critical"], input = ["subject", "body"] }} }},
]
[[pipelines.destinations]]
webhook = {{ url = "{url}", signing = "none", allow_private = true }}

[[pipelines]]
name = "late"
on = "support.ticket.late"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "critical"], input = ["subject", "body"] }} }},
  {{ redact = {{ fields = ["subject", "body"], kinds = ["email", "card"] }} }},
]
[[pipelines.destinations]]
log = true
"#,
        url = receiver.url()
    );
    let server = TestServer::start_with_toml(&toml, &env).await;
    let pii = |event_type: &str| {
        json!({
            "type": event_type,
            "payload": {
                "subject": "Refund for jane.doe@example.com",
                "body": "Card 4111 1111 1111 1111 was charged twice",
            },
        })
    };
    let private = send(&server, &pii("support.ticket.private")).await;
    let event = processed(&server, &private).await;
    assert_eq!(
        event["pipeline"]["runs"][0]["steps"][1]["label"],
        "critical"
    );
    let shown = model.requests();
    assert_eq!(shown.len(), 1);
    let prompt = shown[0].to_string();
    assert!(
        !prompt.contains("jane.doe@example.com") && !prompt.contains("4111 1111"),
        "the model saw the original: {prompt}"
    );
    assert!(prompt.contains("[REDACTED:email]"), "{prompt}");
    // The destination receives what the pipeline produced, never the raw event.
    let delivered = eventually(WAIT, || async {
        receiver.received().first().map(|r| r.json())
    })
    .await;
    assert_eq!(
        delivered["payload"]["subject"],
        "Refund for [REDACTED:email]"
    );

    // Classified before redaction: the model is shown the original (the order is the user's).
    let late = send(&server, &pii("support.ticket.late")).await;
    processed(&server, &late).await;
    let shown = model.requests();
    assert_eq!(shown.len(), 2);
    assert!(shown[1].to_string().contains("jane.doe@example.com"));
}
