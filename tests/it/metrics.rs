//! `/metrics`: the Prometheus text moves when events are ingested, routed and delivered.
//!
//! Counters are process-wide and tests run in parallel, so this test uses an event type and
//! a pipeline of its own and compares before with after.

use std::time::Duration;

use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::{TestServer, eventually};

async fn scrape(server: &TestServer) -> String {
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample line that starts with `series` (name and labels), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_ingest_decisions_and_deliveries() {
    let receiver = Receiver::start().await;
    let toml = format!(
        r#"
[[pipelines]]
name = "metrics-probe"
on = "metrics.probe"
[[pipelines.destinations]]
name = "hook"
webhook = {{ url = "{}", signing = "none", allow_private = true }}
"#,
        receiver.url()
    );
    let server = TestServer::start_with_toml(&toml, &[]).await;
    let ingested = r#"klaxon_events_ingested_total{source="api",type="metrics.probe"}"#;
    let routed = r#"klaxon_pipeline_decisions_total{pipeline="metrics-probe",outcome="routed"}"#;
    let delivered =
        r#"klaxon_delivery_attempts_total{destination="metrics-probe.hook",outcome="succeeded"}"#;
    let before = scrape(&server).await;
    for name in [
        "klaxon_delivery_attempt_seconds",
        "klaxon_delivery_postponements_total",
        "klaxon_escalations_total",
        "klaxon_dead_air_seconds",
        "klaxon_model_calls_total",
        "klaxon_classifications_total",
        "klaxon_jobs_due",
        "klaxon_oldest_due_job_age_seconds",
    ] {
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "{name} in {before}"
        );
    }

    let (status, _) = server
        .post_event(&json!({"type": "metrics.probe", "payload": {"n": 1}}))
        .await;
    assert_eq!(status, 202);
    let after = eventually(Duration::from_secs(10), || async {
        let text = scrape(&server).await;
        (value(&text, delivered) > value(&before, delivered)).then_some(text)
    })
    .await;
    assert_eq!(value(&after, ingested), value(&before, ingested) + 1.0);
    assert_eq!(value(&after, routed), value(&before, routed) + 1.0);
    assert!(
        value(&after, "klaxon_delivery_attempt_seconds_count")
            > value(&before, "klaxon_delivery_attempt_seconds_count")
    );
}

#[tokio::test]
async fn metrics_need_the_api_token_when_one_is_set() {
    let server =
        TestServer::start_with_toml("", &[("KLAXON_API_TOKEN", "metrics-token-0123456789")]).await;
    let anonymous = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let scraped = reqwest::Client::new()
        .get(server.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
}
