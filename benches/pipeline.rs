//! Pipeline overhead: one support-ticket event of about 2 KB through classify (answered from
//! the cache), a CEL filter and redaction of its body, in process, without I/O.
//!
//! The classification cache is warmed by one real call to a local OpenAI-compatible server;
//! every measured run is then a cache hit, as it is for repeated tickets in production. The
//! run includes building the delivery body, so the figure is everything between "event
//! stored" and "deliveries planned". Prints µs per event for the whole pipeline and for
//! each step alone.
//!
//! Run: `cargo bench --bench pipeline` (KLAXON_BENCH_ITERATIONS, default 200,000).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use klaxon::Settings;
use klaxon::config::Raw;
use klaxon::llm::{ApiKey, ChatModel, ModelConfig};
use klaxon::pipeline::classify::Classifier;
use klaxon::pipeline::run::{EventView, StepServices, run};
use klaxon::pipeline::spec::PipelineSpec;
use klaxon::store::EventId;
use serde_json::{Value, json};

const CLASSIFY: &str = r#"{ classify = { field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body", "customer_tier"] } }"#;
const FILTER: &str = r#"{ filter = 'urgency == "critical" && customer_tier == "enterprise"' }"#;
const FILTER_ON_PAYLOAD: &str =
    r#"{ filter = 'priority == "urgent" && customer_tier == "enterprise"' }"#;
const REDACT: &str = r#"{ redact = { fields = ["body"] } }"#;

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
            let per_event = measure(model_url, &steps, &payload, iterations).await;
            println!(
                "  {name:<36} {:>8.2} µs/event",
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
    });
}

/// Mean time of one pipeline run; `model_url: None` classifies with the built-in rules.
async fn measure(
    model_url: Option<&str>,
    steps: &[&str],
    payload: &Value,
    iterations: u32,
) -> Duration {
    let pipeline = pipeline(steps);
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

fn pipeline(steps: &[&str]) -> PipelineSpec {
    let toml = format!(
        r#"
[[pipelines]]
name = "bench"
on = "support.ticket.*"
steps = [{}]
[[pipelines.destinations]]
webhook = {{ url = "https://hooks.example.com/in", signing = "none" }}
"#,
        steps.join(", ")
    );
    let raw = Raw::from_toml(Path::new("bench.toml"), &toml).expect("bench settings parse");
    let settings = Settings::resolve(raw, |_| None).expect("bench settings are valid");
    settings.pipelines.into_iter().next().expect("one pipeline")
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
