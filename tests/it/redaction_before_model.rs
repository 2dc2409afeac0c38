//! A `redact` step before `classify`: the model endpoint is a place data leaves Klaxon, so it
//! must see only what redaction left, never the original PII; the webhook destination
//! receives the same redacted payload, while the stored event keeps the original.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::model::ModelServer;
use crate::support::receiver::Receiver;
use crate::support::{TestServer, eventually};

const WAIT: Duration = Duration::from_secs(10);
const EMAIL: &str = "jane.doe@example.com";
/// A Visa test number: passes Luhn, so the card detector finds it.
const CARD: &str = "4111 1111 1111 1111";

fn settings(hook: &str) -> String {
    format!(
        r#"
[[pipelines]]
name = "billing"
on = "billing.*"
steps = [
  {{ redact = {{}} }},
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"] }} }},
]
[[pipelines.destinations]]
name = "hook"
webhook = {{ url = "{hook}", signing = "none", allow_private = true }}
"#
    )
}

/// True when `text` holds any piece of the original PII, in any of its written forms.
fn holds_pii(text: &str) -> bool {
    [EMAIL, "jane.doe", CARD, "4111111111111111", "1111 1111"]
        .iter()
        .any(|pii| text.contains(pii))
}

#[tokio::test]
async fn the_model_and_the_webhook_see_only_the_redacted_payload() {
    let model = ModelServer::start("critical").await;
    let hook = Receiver::start().await;
    let base_url = model.base_url();
    let env = [
        ("AI_BASE_URL", base_url.as_str()),
        ("AI_API_KEY", "test-key"),
    ];
    let server = TestServer::start_with_toml(&settings(&hook.url()), &env).await;

    let (status, answer) = server
        .post_event(&json!({
            "type": "billing.dispute",
            "payload": {
                "subject": format!("Charged twice, write to {EMAIL}"),
                "body": format!("My card {CARD} was charged twice for order 8812."),
                "customer": {"email": EMAIL, "plan": "team"},
            },
        }))
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();

    let received = hook.wait_for(1, WAIT).await;
    let delivered = received[0].json();

    // The model was asked (its label is on the delivery), once, and saw the ticket's words
    // with every piece of PII replaced.
    assert_eq!(delivered["labels"], json!({"urgency": "critical"}));
    let asked = model.requests();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    let prompt = asked[0].to_string();
    assert!(!holds_pii(&prompt), "the model saw PII: {prompt}");
    assert!(
        prompt.contains("[REDACTED:email]") && prompt.contains("[REDACTED:card]"),
        "{prompt}"
    );
    assert!(
        prompt.contains("was charged twice for order 8812"),
        "the model still sees the text around the PII: {prompt}"
    );

    // The webhook gets the same redacted payload.
    let payload = &delivered["payload"];
    assert!(!holds_pii(&payload.to_string()), "{payload}");
    assert_eq!(
        payload["subject"],
        "Charged twice, write to [REDACTED:email]"
    );
    assert_eq!(
        payload["body"],
        "My card [REDACTED:card] was charged twice for order 8812."
    );
    assert_eq!(payload["customer"]["email"], "[REDACTED:email]");
    assert_eq!(payload["customer"]["plan"], "team", "no PII, kept");

    // The run shows the order: redaction first, then the model's answer.
    let event: Value = eventually(WAIT, || async {
        let (_, event) = server.get(&format!("/v1/events/{id}")).await;
        (event["pipeline_state"] == "done").then_some(event)
    })
    .await;
    let steps = &event["pipeline"]["runs"][0]["steps"];
    assert_eq!(steps[0]["step"], "redact");
    assert_eq!(steps[0]["replacements"], 3);
    assert_eq!(steps[1]["step"], "classify");
    assert_eq!(steps[1]["source"], "model");
    assert_eq!(steps[1]["label"], "critical");
    // Klaxon's own record keeps the original: redaction is for what leaves.
    assert_eq!(event["payload"]["customer"]["email"], EMAIL);
}
