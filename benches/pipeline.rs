//! Pipeline overhead: one support-ticket event of about 2 KB through classify (answered from
//! the cache), a CEL filter and redaction of its body, in process, without I/O.
//!
//! The classification cache is warmed by one real call to a local OpenAI-compatible server;
//! every measured run is then a cache hit, as it is for repeated tickets in production. The
//! run includes building the delivery body, so the figure is everything between "event
//! stored" and "deliveries planned". Prints µs per event for the whole pipeline and for
//! each step alone, then for the whole pipeline delivering a message (Slack, Discord,
//! Telegram, e-mail, Notion), whose body is rendered from the default templates when the
//! event is routed.
//!
//! Run: `cargo bench --bench pipeline` (KLAXON_BENCH_ITERATIONS, default 200,000).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use klaxon::Settings;
use klaxon::llm::{ApiKey, ChatModel, ModelConfig};
use klaxon::pipeline::classify::Classifier;
use klaxon::pipeline::run::{EventView, StepServices, run};
use klaxon::pipeline::spec::PipelineSpec;
use klaxon::settings::Raw;
use klaxon::store::EventId;
use serde_json::{Value, json};

const CLASSIFY: &str = r#"{ classify = { field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body", "customer_tier"] } }"#;
const FILTER: &str = r#"{ filter = 'urgency == "critical" && customer_tier == "enterprise"' }"#;
const FILTER_ON_PAYLOAD: &str =
    r#"{ filter = 'priority == "urgent" && customer_tier == "enterprise"' }"#;
const REDACT: &str = r#"{ redact = { fields = ["body"] } }"#;

const WEBHOOK: &str = r#"webhook = { url = "https://hooks.example.com/in", signing = "none" }"#;
/// The message kinds, each with its default template; credentials come from [`bench_env`].
const MESSAGE_KINDS: [(&str, &str); 5] = [
    (
        "Slack",
        r##"slack = { channel = "#alerts", token_env = "SLACK_BOT_TOKEN" }"##,
    ),
    (
        "Discord",
        r#"discord = { webhook_url_env = "DISCORD_WEBHOOK_URL" }"#,
    ),
    (
        "Telegram",
        r#"telegram = { token_env = "TELEGRAM_BOT_TOKEN", chat_id = -1001 }"#,
    ),
    (
        "e-mail",
        r#"email = { host = "smtp.example.com", from = "alerts@example.com", to = ["oncall@example.com"] }"#,
    ),
    (
        "Notion",
        r#"notion = { token_env = "NOTION_TOKEN", database_id = "00000000000000000000000000000001" }"#,
    ),
];

fn main() {
    let iterations: u32 = std::env::var("KLAXON_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let model_url = start_model().await;
        let payload = ticket();
        let size = payload.to_string().len();
        println!("klaxon pipeline overhead ({size}-byte payload, {iterations} runs, one core)");
        if std::env::var("ONLY").is_err() {
            for (name, steps, model) in [
                (
                    "classify (cache) + filter + redact",
                    vec![CLASSIFY, FILTER, REDACT],
                    true,
                ),
                ("classify from cache alone", vec![CLASSIFY], true),
                ("classify by the built-in rules", vec![CLASSIFY], false),
                ("filter alone", vec![FILTER_ON_PAYLOAD], true),
                ("redact alone", vec![REDACT], true),
                ("no steps (delivery body only)", vec![], true),
            ] {
                let model_url = model.then_some(model_url.as_str());
                let per_event = measure(model_url, &steps, WEBHOOK, &payload, iterations).await;
                println!(
                    "  {name:<44} {:>8.2} µs/event",
                    per_event.as_secs_f64() * 1e6
                );
                if steps.len() == 3 {
                    common::record(
                        "pipeline",
                        "pipeline overhead: classify (cache) + filter + redact",
                        per_event.as_secs_f64() * 1e6,
                        "µs/event",
                        "≤ 20 µs",
                    );
                }
            }
        }
        println!("  the same three steps, then a message rendered from the default templates:");
        let only = std::env::var("ONLY").ok();
        for (kind, destination) in MESSAGE_KINDS {
            if only.as_deref().is_some_and(|o| o != kind) {
                continue;
            }
            let steps = [CLASSIFY, FILTER, REDACT];
            let per_event =
                measure(Some(&model_url), &steps, destination, &payload, iterations).await;
            println!(
                "  {:<44} {:>8.2} µs/event",
                format!("  → {kind}"),
                per_event.as_secs_f64() * 1e6
            );
            if kind == "Slack" {
                common::record(
                    "pipeline",
                    "pipeline overhead with a Slack message (templates)",
                    per_event.as_secs_f64() * 1e6,
                    "µs/event",
                    "≤ 20 µs",
                );
            }
        }
    });
}

/// Mean time of one pipeline run; `model_url: None` classifies with the built-in rules.
async fn measure(
    model_url: Option<&str>,
    steps: &[&str],
    destination: &str,
    payload: &Value,
    iterations: u32,
) -> Duration {
    let pipeline = pipeline(steps, destination);
    let destinations: Vec<_> = pipeline
        .destinations
        .iter()
        .cloned()
        .map(Arc::new)
        .collect();
    let model = model_url.map(|url| {
        ChatModel::new(ModelConfig {
            base_url: url.to_owned(),
            model: "bench-model".into(),
            api_key: Some(ApiKey::new("bench")),
            timeout: Duration::from_secs(5),
        })
        .expect("model client")
    });
    let services = StepServices::new(Classifier::new(model, None));
    let view = EventView {
        id: EventId::new(),
        event_type: "support.ticket.created",
        occurred_at: "2026-11-23T10:00:00.000Z",
        payload,
    };
    // Warm-up: the first run asks the model and fills the cache.
    let warm = run(
        &pipeline,
        &destinations,
        view,
        &services,
        &Default::default(),
        None,
    )
    .await;
    assert_eq!(
        warm.deliveries.len(),
        1,
        "the event passes the filter: {:?}",
        warm.trace
    );
    let started = Instant::now();
    let mut planned = 0;
    for _ in 0..iterations {
        let result = run(
            &pipeline,
            &destinations,
            view,
            &services,
            &Default::default(),
            None,
        )
        .await;
        planned += result.deliveries.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(
        planned, iterations as usize,
        "every run planned its delivery"
    );
    elapsed / iterations
}

fn pipeline(steps: &[&str], destination: &str) -> PipelineSpec {
    let toml = format!(
        r#"
[[pipelines]]
name = "bench"
on = "support.ticket.*"
steps = [{}]
[[pipelines.destinations]]
{destination}
"#,
        steps.join(", ")
    );
    let raw = Raw::from_toml(Path::new("bench.toml"), &toml).expect("bench settings parse");
    let settings = Settings::resolve(raw, bench_env).expect("bench settings are valid");
    settings.pipelines.into_iter().next().expect("one pipeline")
}

/// Credentials for the message kinds (nothing is sent).
fn bench_env(var: &str) -> Option<String> {
    let value = match var {
        "SLACK_BOT_TOKEN" => "xoxb-bench",
        "DISCORD_WEBHOOK_URL" => "https://discord.com/api/webhooks/1/bench",
        "TELEGRAM_BOT_TOKEN" => "123456:bench",
        "NOTION_TOKEN" => "secret_bench",
        _ => return None,
    };
    Some(value.to_owned())
}

/// A realistic ticket of about 2 KB, with an e-mail address and a phone number in its body.
fn ticket() -> Value {
    let body = "Since 09:12 UTC every checkout from our EU storefront fails with an HTTP 500 \
        after the payment step. Customers see the spinner for about thirty seconds and then a \
        generic error page. Our own logs show the payment provider callback arriving, but the \
        order service never acknowledges it. We have lost roughly forty orders so far and the \
        number keeps growing; our peak traffic starts in two hours. We already rolled back \
        yesterday's deploy of the storefront and cleared the CDN cache, without any change. \
        The US storefront, which uses the same account, works normally. Please escalate this \
        to whoever is on call for the payments integration. You can reach me directly at \
        maria.lopez@example-shop.eu or on my mobile +49 151 23456789 at any time today. Our \
        account id is ACME-EU-7731 and the first failing order was 2026-11-23-000481. \
        Attached are two HAR files and the request ids from our side. ";
    json!({
        "ticket_id": "TCK-88213",
        "subject": "Production outage: EU checkout fails with 500 for every customer",
        "body": body.repeat(2),
        "customer_tier": "enterprise",
        "priority": "urgent",
        "channel": "email",
        "requester": {"name": "Maria Lopez", "company": "Example Shop EU"},
        "tags": ["checkout", "payments", "eu"],
    })
}

/// A local OpenAI-compatible endpoint that always answers "critical".
async fn start_model() -> String {
    let app = Router::new().route(
        "/chat/completions",
        post(|Json(_): Json<Value>| async {
            Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "critical"}, "finish_reason": "stop"}]}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind model");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
