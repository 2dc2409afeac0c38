//! Alert storm: 10,000 Alertmanager notifications in 60 s over 100 distinct fingerprints, as a
//! flapping rule or a noisy exporter sends them, must start exactly 100 escalations (one per
//! alert), and each notification must still be answered fast.
//!
//! Klaxon runs in process against its sandbox carrier at the fast test pace (what
//! `KLAXON_SANDBOX_TIMING=fast` gives `klaxon serve`), on a fresh SQLite file; an alert
//! source `prom` rings policy `oncall`, whose one number answers and acknowledges. 16
//! keep-alive connections post version-4 webhook bodies to `/webhooks/alerts/prom/<key>`
//! at a fixed rate; notification n carries fingerprint n mod 100. It prints the ingest
//! latency (request sent → 200 received, which is after the commit) at p50/p99/max, then
//! counts the escalations and `alert.firing` events through the API once the pipelines are
//! done: both must be exactly 100.
//!
//! Run: `cargo bench --bench alert_storm` (`KLAXON_BENCH_STORM_NOTIFICATIONS`,
//! `KLAXON_BENCH_STORM_SECS` and `KLAXON_BENCH_STORM_ALERTS` change the storm).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use klaxon::sandbox::carrier::Timing;
use serde_json::{Value, json};

use common::in_process::InProcess;
use common::{connect, env_number, percentile, record};

const KEY: &str = "storm-integration-key-0123456789";
const CONNECTIONS: u64 = 16;
const GOAL_P99_MS: f64 = 10.0;

const SETTINGS: &str = r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000002"]

[[alert_sources]]
name = "prom"
kind = "alertmanager"
key_env = "STORM_KEY"
policy = "oncall"
"#;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(storm());
}

async fn storm() {
    let notifications: u64 = env_number("KLAXON_BENCH_STORM_NOTIFICATIONS", 10_000);
    let secs: u64 = env_number("KLAXON_BENCH_STORM_SECS", 60);
    let alerts: u64 = env_number("KLAXON_BENCH_STORM_ALERTS", 100);
    let klaxon = InProcess::start(SETTINGS, Timing::fast(), &[("STORM_KEY", KEY.to_owned())]).await;
    let addr: SocketAddr = klaxon
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    println!(
        "alert storm: {notifications} Alertmanager notifications in {secs} s over {alerts} fingerprints, {CONNECTIONS} connections"
    );

    let started = Instant::now();
    let per_connection = notifications / CONNECTIONS;
    let gap = Duration::from_micros(1_000_000 * secs * CONNECTIONS / notifications.max(1));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                tokio::time::sleep(gap / CONNECTIONS as u32 * c as u32).await;
                let mut ticks = tokio::time::interval(gap);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut latencies = Vec::with_capacity(per_connection as usize);
                for n in 0..per_connection {
                    ticks.tick().await;
                    let fingerprint = (n * CONNECTIONS + c) % alerts;
                    let body = notification(fingerprint).to_string();
                    let sent = Instant::now();
                    let (status, answer) = post(&mut sender, body).await.expect("notify");
                    latencies.push(sent.elapsed());
                    assert_eq!(status, StatusCode::OK, "{answer}");
                }
                latencies
            })
        })
        .collect();
    let mut micros = Vec::new();
    for client in clients {
        micros.extend(client.await.expect("client"));
    }
    let sent_in = started.elapsed();
    let micros = common::load::sorted_micros(micros.into_iter());
    let (p50, p99, max) = (
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        percentile(&micros, 1.0),
    );
    println!(
        "  sent {} notifications in {:.1} s ({:.0}/s)",
        micros.len(),
        sent_in.as_secs_f64(),
        micros.len() as f64 / sent_in.as_secs_f64()
    );
    println!(
        "  ingest latency: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms (goal p99 ≤ {GOAL_P99_MS} ms)"
    );

    // Every notification is committed; the last escalations may still be being created.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (escalations, firing) = loop {
        let escalations = count(&klaxon, "/v1/escalations").await;
        let firing = count(&klaxon, "/v1/events?type=alert.firing").await;
        if escalations >= alerts as usize || Instant::now() > deadline {
            break (escalations, firing);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("  escalations: {escalations} (must be {alerts}); alert.firing events: {firing}");
    record("alert_storm", "ingest p50", p50, "ms", "");
    record(
        "alert_storm",
        "ingest p99",
        p99,
        "ms",
        &format!("≤ {GOAL_P99_MS} ms"),
    );
    record(
        "alert_storm",
        "escalations",
        escalations as f64,
        "",
        &format!("= {alerts}"),
    );
    assert_eq!(escalations, alerts as usize, "one escalation per alert");
    assert_eq!(firing, alerts as usize, "one alert.firing event per alert");
    if p99 > GOAL_P99_MS {
        println!("  GOAL MISSED: ingest p99 {p99:.2} ms > {GOAL_P99_MS} ms");
    }
}

/// An Alertmanager notification of one firing alert, as `webhook_config` posts it.
fn notification(fingerprint: u64) -> Value {
    json!({
        "version": "4",
        "status": "firing",
        "receiver": "klaxon",
        "groupKey": format!("{{}}:{{alertname=\"Storm{fingerprint}\"}}"),
        "truncatedAlerts": 0,
        "externalURL": "http://alertmanager.example:9093",
        "groupLabels": {"alertname": format!("Storm{fingerprint}")},
        "commonLabels": {"alertname": format!("Storm{fingerprint}"), "severity": "critical"},
        "commonAnnotations": {},
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": format!("Storm{fingerprint}"), "instance": format!("node{fingerprint}:9100"), "severity": "critical"},
            "annotations": {"summary": format!("Node {fingerprint} is flapping")},
            "startsAt": "2026-12-06T04:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": format!("{fingerprint:016x}"),
        }],
    })
}

async fn post(
    sender: &mut common::Sender,
    body: String,
) -> Result<(StatusCode, String), common::BoxError> {
    sender.ready().await?;
    let request = Request::post(format!("/webhooks/alerts/prom/{KEY}"))
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// How many items a list endpoint has, following its cursor.
async fn count(klaxon: &InProcess, path: &str) -> usize {
    let mut total = 0;
    let mut after: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{path}{separator}limit=500", klaxon.url);
        if let Some(cursor) = &after {
            url.push_str(&format!("&after={cursor}"));
        }
        let page: Value = klaxon
            .http
            .get(url)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON page");
        total += page["data"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => return total,
        }
    }
}
