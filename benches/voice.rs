//! Phone escalation benchmark: Klaxon in process against the sandbox carrier (fast timing),
//! with a model that takes 2 s to write each briefing.
//!
//! 1. Steady load: 100 critical tickets at 5/s. For each escalation it measures
//!    - dead air: from the moment the callee answers (the carrier's clock) to the first
//!      command Klaxon sends on that call (the opening), and
//!    - event committed → dial: from the 202 of the ticket to the dial's arrival at the
//!      carrier.
//! 2. Parallel ring: 100 critical tickets at 5/s to a policy whose first step rings three
//!    people at once (`ring = "parallel"`; all three press 2, the first human takes it and
//!    the others hear "someone answered"). For each escalation it measures event committed
//!    → all parallel dials sent: from the 202 of the ticket to the arrival at the carrier of
//!    the last of its three dials. Dead air is measured on every answered leg too.
//! 3. Merge: 100 signed `Ticket.changed` webhooks (each a different ticket turning URGENT)
//!    from the sandbox Merge to `/webhooks/merge`, at 5/s, through the built-in
//!    `merge-ticket-escalation` pipeline: from just before the webhook is sent to the dial's
//!    arrival at the carrier. No Merge call is on that path (the webhook carries the ticket;
//!    the contact is looked up while the phone rings).
//! 4. Burst: 200 tickets at once (dials paced at 25/s, Telnyx's sustainable rate). Every
//!    escalation must reach its outcome (the callee presses 2: acknowledged); prints how many
//!    did and how long the last took.
//!
//! Run: `cargo bench --bench voice`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use klaxon::sandbox::carrier::Timing;
use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge, sample};
use klaxon::signing::Secret;
use serde_json::{Value, json};

const MODEL_DELAY: Duration = Duration::from_secs(2);

/// Policy `oncall` rings three people at once, each of whom answers and presses 2.
const PARALLEL: &str = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall" }

[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000002", "+15551000012", "+15551000022"]
ring = "parallel"
"#;
/// The dials of one parallel step.
const PARALLEL_TARGETS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let model = start_slow_model().await;
        println!("klaxon voice benchmark (sandbox carrier, fast timing; model answers after {MODEL_DELAY:?})");

        let steady = Klaxon::oncall(&model, 10.0).await;
        let started = Instant::now();
        let mut accepted = Vec::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(200));
        for n in 0..100 {
            ticks.tick().await;
            accepted.push(steady.send_ticket(n).await);
        }
        steady.wait_all_ended(accepted.len(), Duration::from_secs(120)).await;
        let (mut dead_air, mut to_dial) = steady.latencies(&accepted).await;
        dead_air.sort_unstable();
        to_dial.sort_unstable();
        println!("  steady: 100 tickets at 5/s, done in {:.1} s", started.elapsed().as_secs_f64());
        print_percentiles("dead air (answer → first command)", &dead_air);
        print_percentiles("event committed → dial sent", &to_dial);
        common::record("voice", "dead air p99 (model takes 2 s)", common::percentile(&dead_air, 0.99), "ms", "≤ 50 ms");
        common::record("voice", "event committed → dial p99", common::percentile(&to_dial, 0.99), "ms", "≤ 10 ms");

        // 3 dials per ticket at 5 tickets/s: 15 dials/s, under the 25/s pace (burst 25).
        let parallel = Klaxon::configured(&model, 25.0, PARALLEL, &[]).await;
        let started = Instant::now();
        let mut accepted = Vec::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(200));
        for n in 0..100 {
            ticks.tick().await;
            accepted.push(parallel.send_ticket(n).await);
        }
        let ended = parallel.wait_all_ended(accepted.len(), Duration::from_secs(120)).await;
        let (mut dead_air, _) = parallel.latencies(&accepted).await;
        let mut to_all = parallel.to_last_dial(&accepted, PARALLEL_TARGETS).await;
        dead_air.sort_unstable();
        to_all.sort_unstable();
        println!(
            "  parallel: 100 tickets at 5/s, 3 people rung at once each, done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        print_percentiles("dead air (answer → first command)", &dead_air);
        print_percentiles("event committed → all 3 dials sent", &to_all);
        common::record("voice", "event committed → all 3 parallel dials p99", common::percentile(&to_all, 0.99), "ms", "≤ 15 ms");
        assert_eq!(to_all.len(), 100, "every escalation rang its three people once each");
        let acknowledged = ended.iter().filter(|s| s.as_str() == "acknowledged").count();
        assert_eq!(acknowledged, 100, "every parallel escalation was acknowledged: {ended:?}");

        let merge = MergeRig::start(&model).await;
        let mut sent = HashMap::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(200));
        for n in 0..100 {
            ticks.tick().await;
            let (ticket, at) = merge.send_urgent_ticket(n).await;
            sent.insert(ticket, at);
        }
        merge.klaxon.wait_all_ended(sent.len(), Duration::from_secs(120)).await;
        let mut to_dial = merge.webhook_to_dial(&sent).await;
        to_dial.sort_unstable();
        print_percentiles("Merge webhook sent → dial sent", &to_dial);
        common::record("voice", "signed Merge webhook → dial p99", common::percentile(&to_dial, 0.99), "ms", "≤ 10 ms");
        assert_eq!(to_dial.len(), 100, "every webhook rang once");

        let burst = Klaxon::oncall(&model, 25.0).await;
        let started = Instant::now();
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..200 {
            let (http, url) = (burst.http.clone(), burst.url.clone());
            sends.spawn(async move { send_ticket(&http, &url, n).await });
        }
        let accepted = sends.join_all().await;
        let ended = burst.wait_all_ended(accepted.len(), Duration::from_secs(180)).await;
        let acknowledged = ended.iter().filter(|s| s.as_str() == "acknowledged").count();
        println!(
            "  burst: 200 tickets at once: {acknowledged}/200 acknowledged, the last after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        common::record(
            "voice",
            "200 escalations at once: all acknowledged after",
            started.elapsed().as_secs_f64(),
            "s",
            "none lost",
        );
        assert_eq!(acknowledged, 200, "every escalation reached its outcome: {ended:?}");
    });
}

/// Klaxon in process with its own sandbox carrier at fast timing.
type Klaxon = common::in_process::InProcess;

struct Accepted {
    event_id: String,
    at: SystemTime,
}

impl Klaxon {
    /// The default `oncall` policy: one person, who presses 2.
    async fn oncall(model: &str, dials_per_second: f64) -> Klaxon {
        let toml = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall" }
"#;
        Klaxon::configured(model, dials_per_second, toml, &[]).await
    }

    /// Klaxon with these settings, its own sandbox carrier and a fresh database.
    async fn configured(
        model: &str,
        dials_per_second: f64,
        toml: &str,
        extra_env: &[(&'static str, String)],
    ) -> Klaxon {
        let mut env = vec![
            // Presses 2: acknowledged.
            ("ONCALL_NUMBER", "+15551000002".to_owned()),
            ("AI_BASE_URL", model.to_owned()),
            ("KLAXON_DIALS_PER_SECOND", dials_per_second.to_string()),
        ];
        env.extend_from_slice(extra_env);
        Klaxon::start(toml, Timing::fast(), &env).await
    }

    async fn send_ticket(&self, n: u32) -> Accepted {
        send_ticket(&self.http, &self.url, n).await
    }

    /// Waits until `n` escalations exist and none is active; returns their statuses.
    async fn wait_all_ended(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let page: Value = self
                .http
                .get(format!("{}/v1/escalations?limit=500", self.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let statuses: Vec<String> = page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["status"].as_str().unwrap_or("").to_owned())
                .collect();
            if statuses.len() >= n && statuses.iter().all(|s| s != "active") {
                return statuses;
            }
            assert!(
                Instant::now() < deadline,
                "escalations did not end: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Escalation id → when its ticket's 202 arrived.
    async fn committed_at(&self, accepted: &[Accepted]) -> HashMap<String, SystemTime> {
        let page: Value = self
            .http
            .get(format!("{}/v1/escalations?limit=500", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let event_of: HashMap<String, String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    e["event_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let accepted_at: HashMap<&str, SystemTime> = accepted
            .iter()
            .map(|a| (a.event_id.as_str(), a.at))
            .collect();
        event_of
            .into_iter()
            .filter_map(|(escalation, event)| Some((escalation, *accepted_at.get(event.as_str())?)))
            .collect()
    }

    /// Per escalation that sent exactly `dials` dials: from its ticket's 202 to the arrival
    /// of the last of them at the carrier, in microseconds.
    async fn to_last_dial(&self, accepted: &[Accepted], dials: usize) -> Vec<u32> {
        let committed = self.committed_at(accepted).await;
        let mut arrivals: HashMap<String, Vec<SystemTime>> = HashMap::new();
        let requests = self.carrier.requests();
        for dial in requests.iter().filter(|r| r.path.ends_with("/calls")) {
            if let Some(escalation) = escalation_of(&dial.body) {
                arrivals.entry(escalation).or_default().push(dial.at);
            }
        }
        arrivals
            .into_iter()
            .filter(|(_, at)| at.len() == dials)
            .filter_map(|(escalation, at)| {
                let from = committed.get(&escalation)?;
                let last = at.into_iter().max()?;
                Some(micros(last.duration_since(*from).unwrap_or_default()))
            })
            .collect()
    }

    /// Per escalation: dead air and commit-to-dial, in microseconds.
    async fn latencies(&self, accepted: &[Accepted]) -> (Vec<u32>, Vec<u32>) {
        let committed_at = self.committed_at(accepted).await;
        let observed = self.carrier.observe();
        let mut to_dial = Vec::new();
        for request in &observed.requests {
            if !request.path.ends_with("/calls") {
                continue;
            }
            let Some(escalation) = escalation_of(&request.body) else {
                continue;
            };
            let Some(committed) = committed_at.get(&escalation) else {
                continue;
            };
            to_dial.push(micros(
                request.at.duration_since(*committed).unwrap_or_default(),
            ));
        }
        let mut dead_air = Vec::new();
        for leg in &observed.legs {
            let Some(answered) = leg.answered_at else {
                continue;
            };
            let encoded = leg.call_control_id.as_str().replace(':', "%3A");
            let first = observed
                .requests
                .iter()
                .filter(|r| {
                    r.path.contains(leg.call_control_id.as_str()) || r.path.contains(&encoded)
                })
                .map(|r| r.at)
                .filter(|at| *at >= answered)
                .min();
            if let Some(first) = first {
                dead_air.push(micros(first.duration_since(answered).unwrap_or_default()));
            }
        }
        (dead_air, to_dial)
    }
}

/// Klaxon with its built-in pipelines, fed by a sandbox Merge's signed webhooks.
struct MergeRig {
    klaxon: Klaxon,
    merge: SandboxMerge,
}

const MERGE_SECRET: &str = "bench-merge-webhook-key";

impl MergeRig {
    async fn start(model: &str) -> MergeRig {
        let merge = SandboxMerge::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            MergeSandboxConfig {
                webhook_secret: Some(Secret::new(MERGE_SECRET)),
                ..MergeSandboxConfig::default()
            },
        )
        .expect("sandbox Merge");
        let env = [
            ("MERGE_WEBHOOK_SECRET", MERGE_SECRET.to_owned()),
            ("MERGE_API_KEY", "bench-key".to_owned()),
            ("MERGE_API_BASE", merge.base_url()),
            (
                "MERGE_ACCOUNT_TOKEN",
                sample::ZENDESK_ACCOUNT_TOKEN.to_owned(),
            ),
        ];
        let klaxon = Klaxon::configured(model, 25.0, "", &env).await;
        MergeRig { klaxon, merge }
    }

    /// Makes ticket `n` URGENT at the sandbox and sends its signed webhook; returns the
    /// ticket's id and when the webhook was about to be sent.
    async fn send_urgent_ticket(&self, n: u32) -> (String, SystemTime) {
        let mut ticket = self
            .merge
            .ticket(sample::TICKET_URGENT)
            .expect("sample ticket");
        ticket.id = format!("1c000000-0000-4000-8000-{:012}", 1000 + n);
        ticket.priority = Some("URGENT".into());
        let id = ticket.id.clone();
        self.merge.set_ticket(ticket);
        let url = format!("{}/webhooks/merge", self.klaxon.url);
        let at = SystemTime::now();
        let status = self
            .merge
            .send_webhook(&url, "Ticket.changed", &id, sample::LINKED_ZENDESK)
            .await
            .expect("webhook sent");
        assert_eq!(status, 200);
        (id, at)
    }

    /// Per ticket: webhook sent → dial at the carrier, in microseconds.
    async fn webhook_to_dial(&self, sent: &HashMap<String, SystemTime>) -> Vec<u32> {
        let klaxon = &self.klaxon;
        let get = |path: String| async move {
            klaxon
                .http
                .get(format!("{}{path}", klaxon.url))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        };
        let page = get("/v1/escalations?limit=500".into()).await;
        let mut ticket_of = HashMap::new();
        for escalation in page["data"].as_array().unwrap() {
            let event = get(format!(
                "/v1/events/{}",
                escalation["event_id"].as_str().unwrap()
            ))
            .await;
            let ticket = event["payload"]["id"].as_str().unwrap().to_owned();
            ticket_of.insert(escalation["id"].as_str().unwrap().to_owned(), ticket);
        }
        let observed = klaxon.carrier.observe();
        observed
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/calls"))
            .filter_map(|r| {
                let ticket = ticket_of.get(&escalation_of(&r.body)?)?;
                let at = sent.get(ticket)?;
                Some(micros(r.at.duration_since(*at).unwrap_or_default()))
            })
            .collect()
    }
}

fn escalation_of(dial: &Value) -> Option<String> {
    let state = dial["client_state"].as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(state)
        .ok()?;
    let state: Value = serde_json::from_slice(&decoded).ok()?;
    state["e"].as_str().map(String::from)
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

fn print_percentiles(name: &str, sorted_us: &[u32]) {
    let at = |p: f64| common::percentile(sorted_us, p);
    println!(
        "    {name:<36} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={})",
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0),
        sorted_us.len()
    );
}

/// An OpenAI-compatible endpoint that takes 2 s per answer.
async fn start_slow_model() -> String {
    let app = Router::new().route(
        "/chat/completions",
        post(|Json(_): Json<Value>| async {
            tokio::time::sleep(MODEL_DELAY).await;
            Json(json!({"choices": [{"index": 0, "message": {"role": "assistant",
                "content": "Checkout is failing for every EU customer since 09:12. Acme is affected."},
                "finish_reason": "stop"}]}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Posts one critical ticket; returns its event id and when the 202 arrived.
async fn send_ticket(http: &reqwest::Client, url: &str, n: u32) -> Accepted {
    let response = http
        .post(format!("{url}/v1/events"))
        .json(&json!({"type": "support.ticket.created", "payload": {
                "subject": format!("Checkout down #{n}"), "customer": "Acme"}}))
        .send()
        .await
        .expect("ingest");
    let at = SystemTime::now();
    let body: Value = response.json().await.expect("json");
    Accepted {
        event_id: body["id"].as_str().expect("id").to_owned(),
        at,
    }
}
