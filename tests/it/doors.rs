//! Issue 15 items 1 and 5, "safe to expose": every door that can ring a phone fails closed.
//!
//! Unsigned Merge webhooks from another host (the tester's `POST /webhooks/merge` from outside
//! dialled the on-call engineer) and plain bodies on the reference apps' alias paths are
//! refused unless the operator chose otherwise; a replayed signed event without a key is one
//! event, one escalation, also across a restart. Dials are counted at a sandbox carrier that
//! Klaxon reaches as a real Telnyx account, so "nobody was rung" is what the carrier saw.
//! Each test prints how many distinct requests (probes) it tried.

use std::net::IpAddr;
use std::time::Duration;

use klaxon::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
use klaxon::signing::{Secret, ingest};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::auth::{non_loopback_ip, sign_now};
use crate::support::{TestServer, apply_toml, assert_error, eventually, postgres};

const TOKEN: &str = "test-token-0123456789";
const MERGE_SECRET: &str = "merge-webhook-signing-key";
const INGEST_SECRET: &str = "klaxon-ingest-test-secret";
/// The sandbox's number plan: ...4 rings and is never answered, so one escalation is one dial.
const ONCALL: &str = "+15551000004";
const WAIT: Duration = Duration::from_secs(10);

/// The tester's body: an urgent, open ticket from a linked account nobody checks.
fn tester_envelope() -> Value {
    json!({"hook": {"event": "Ticket.changed"}, "linked_account": {"id": "x"},
           "data": {"id": "outside-1", "priority": "URGENT", "status": "OPEN"}})
}

/// Every body form a door takes: Merge envelopes (ticket and deal), the reference apps'
/// plain ticket and deal bodies, and JSON that is neither.
fn body_forms() -> Vec<(&'static str, Value)> {
    vec![
        ("ticket envelope", tester_envelope()),
        (
            "deal envelope",
            json!({"hook": {"event": "Opportunity.added"}, "linked_account": {"id": "x"},
                   "data": {"id": "outside-2", "amount": 900000, "status": "OPEN"}}),
        ),
        (
            "plain ticket",
            json!({"subject": "Checkout down", "priority": "CRITICAL"}),
        ),
        (
            "plain deal",
            json!({"deal_name": "Acme", "amount": 900000, "stage": "closing"}),
        ),
        ("not an object", json!([1, 2])),
    ]
}

const PATHS: [&str; 3] = ["/webhooks/merge", "/webhooks/ticket", "/webhooks/crm"];

/// Klaxon on `ip` with a real-looking Telnyx account that is the sandbox carrier, the on-call
/// policy set, and `env` on top.
struct Rig {
    server: TestServer,
    carrier: SandboxCarrier,
    probes: usize,
}

impl Rig {
    async fn start(ip: IpAddr, env: &[(&str, &str)]) -> Rig {
        let carrier = SandboxCarrier::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            CarrierConfig {
                signing_seed: SigningSeed::generate(),
                timing: Timing::fast(),
                ..CarrierConfig::default()
            },
        )
        .expect("sandbox carrier starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let env = Rig::env(&carrier, env);
        let server =
            TestServer::start_in(dir, &format!("{ip}:0"), |s| apply_toml(s, "", &refs(&env))).await;
        Rig {
            server,
            carrier,
            probes: 0,
        }
    }

    /// The environment: the carrier as a Telnyx account, a model nobody answers for (so the
    /// Telnyx key does not send briefings to the real model), the policies, and `extra`.
    fn env(carrier: &SandboxCarrier, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let (base, key) = (carrier.base_url(), carrier.public_key_base64());
        let fixed = [
            ("TELNYX_API_KEY", "KEY_TEST"),
            ("TELNYX_API_BASE", base.as_str()),
            ("TELNYX_CONNECTION_ID", "1494404757140276705"),
            ("TELNYX_PHONE_NUMBER", "+15550100000"),
            ("TELNYX_PUBLIC_KEY", key.as_str()),
            ("AI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("ONCALL_NUMBER", ONCALL),
            ("VP_SALES_NUMBER", ONCALL),
        ];
        fixed
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A JSON POST to `path`, as another host sends it (the server listens on that address).
    fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.server
            .http
            .post(self.server.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    async fn probe(&mut self, request: RequestBuilder) -> (StatusCode, Value) {
        self.probes += 1;
        self.server.send(request).await
    }

    /// Dial requests the carrier received.
    fn dials(&self) -> usize {
        self.carrier
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/calls"))
            .count()
    }

    async fn escalations(&self, token: Option<&str>) -> usize {
        let mut request = self.server.http.get(self.server.url("/v1/escalations"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (status, page) = self.server.send(request).await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().map_or(0, Vec::len)
    }

    fn report(&self, test: &str) {
        println!("{test}: {} probes", self.probes);
    }
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

macro_rules! from_another_host {
    () => {
        match non_loopback_ip() {
            Some(ip) => ip,
            None => {
                eprintln!("NOTICE: skipped: this machine has no non-loopback address to test from");
                return;
            }
        }
    };
}

#[tokio::test]
async fn unsigned_webhooks_from_another_host_ring_nobody_even_with_a_token_configured() {
    let ip = from_another_host!();
    // The tester's set-up: HOST beyond loopback, a token, ONCALL_NUMBER, no Merge secret.
    let mut rig = Rig::start(ip, &[("KLAXON_API_TOKEN", TOKEN)]).await;
    for path in PATHS {
        for (form, body) in body_forms() {
            let plain = rig.probe(rig.post(path, &body)).await;
            assert_error(&plain, 401, "unsigned_webhook");
            let message = plain.1["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("MERGE_WEBHOOK_SECRET"),
                "{path} {form}: {message}"
            );
            // A signature nobody can check, and a wrong token, change nothing.
            let forged =
                klaxon::signing::merge::sign(&Secret::new("guess"), body.to_string().as_bytes());
            let answer = rig
                .probe(
                    rig.post(path, &body)
                        .header("x-merge-webhook-signature", forged),
                )
                .await;
            assert_error(&answer, 401, "unsigned_webhook");
            let answer = rig
                .probe(rig.post(path, &body).bearer_auth("wrong-token-0123456789"))
                .await;
            assert_error(&answer, 401, "unsigned_webhook");
        }
    }
    assert_eq!(rig.server.count_events().await, 0, "nothing stored");
    assert_eq!(rig.escalations(Some(TOKEN)).await, 0, "nothing escalated");
    assert_eq!(rig.dials(), 0, "nobody rung");

    // The API's rule still admits the token holder, and then the carrier does ring: the
    // zeros above are not a rig that cannot dial.
    let answer = rig
        .probe(
            rig.post("/webhooks/merge", &tester_envelope())
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    eventually(WAIT, || async { (rig.dials() == 1).then_some(()) }).await;
    rig.report("unsigned_webhooks_from_another_host");
}

#[tokio::test]
async fn plain_bodies_from_another_host_without_a_token_are_refused_whatever_else_is_set() {
    let ip = from_another_host!();
    let plain_bodies = [
        (
            "/webhooks/ticket",
            json!({"subject": "Checkout down", "priority": "CRITICAL"}),
        ),
        (
            "/webhooks/crm",
            json!({"deal_name": "Acme", "amount": 900000, "stage": "closing"}),
        ),
    ];
    let mut probes = 0;
    // No token, no secret; then a secret (plain bodies are never Merge's); then the
    // allow-unsigned switch (it speaks for Merge envelopes only).
    let configs: [(&[(&str, &str)], &str); 3] = [
        (&[], "unsigned_webhook"),
        (&[("MERGE_WEBHOOK_SECRET", MERGE_SECRET)], "loopback_only"),
        (
            &[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true")],
            "loopback_only",
        ),
    ];
    for (env, code) in configs {
        let mut rig = Rig::start(ip, env).await;
        for (path, body) in &plain_bodies {
            let answer = rig.probe(rig.post(path, body)).await;
            assert_error(&answer, 403, code);
            let message = answer.1["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("KLAXON_API_TOKEN"),
                "{env:?} {path}: {message}"
            );
        }
        assert_eq!(rig.server.count_events().await, 0, "{env:?}");
        assert_eq!(rig.dials(), 0);
        probes += rig.probes;
    }
    println!("plain_bodies_from_another_host: {probes} probes");
}

#[tokio::test]
async fn a_signed_webhook_from_another_host_rings_and_an_unsigned_one_does_not() {
    let ip = from_another_host!();
    let mut rig = Rig::start(
        ip,
        &[
            ("KLAXON_API_TOKEN", TOKEN),
            ("MERGE_WEBHOOK_SECRET", MERGE_SECRET),
        ],
    )
    .await;
    let body = tester_envelope().to_string();
    // With a secret, the token is no substitute for Merge's signature (as before).
    let unsigned = rig
        .probe(
            rig.post("/webhooks/merge", &tester_envelope())
                .bearer_auth(TOKEN),
        )
        .await;
    assert_error(&unsigned, 401, "missing_signature");
    let signature = klaxon::signing::merge::sign(&Secret::new(MERGE_SECRET), body.as_bytes());
    for path in PATHS {
        let signed = rig
            .server
            .http
            .post(rig.server.url(path))
            .header("content-type", "application/json")
            .header("x-merge-webhook-signature", &signature)
            .body(body.clone());
        let answer = rig.probe(signed).await;
        assert_eq!(answer.0, 200, "{path}: {}", answer.1);
    }
    // Klaxon's own `escalation.*` events are left out: with the fast carrier the call may
    // already have ended, and its outcome recorded, by the time this counts.
    let received =
        postgres::count_rows(&rig.server.database, "events WHERE source <> 'klaxon'").await;
    assert_eq!(received, 1, "one delivery, three paths");
    eventually(WAIT, || async { (rig.dials() == 1).then_some(()) }).await;
    rig.report("a_signed_webhook_from_another_host");
}

#[tokio::test]
async fn allowing_unsigned_webhooks_is_a_choice_that_works() {
    let ip = from_another_host!();
    let mut rig = Rig::start(
        ip,
        &[
            ("KLAXON_API_TOKEN", TOKEN),
            ("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true"),
        ],
    )
    .await;
    let answer = rig
        .probe(rig.post("/webhooks/ticket", &tester_envelope()))
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    eventually(WAIT, || async { (rig.dials() == 1).then_some(()) }).await;
    rig.report("allowing_unsigned_webhooks");
}

#[tokio::test]
async fn a_replayed_signed_event_without_a_key_is_one_event_and_one_call_across_a_restart() {
    let carrier = SandboxCarrier::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CarrierConfig {
            signing_seed: SigningSeed::generate(),
            timing: Timing::fast(),
            ..CarrierConfig::default()
        },
    )
    .expect("sandbox carrier starts");
    let env = Rig::env(&carrier, &[("KLAXON_INGEST_SECRETS", INGEST_SECRET)]);
    let configure = |s: &mut klaxon::Settings| apply_toml(s, "", &refs(&env));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start_in(dir, "127.0.0.1:0", configure).await;
    // No `id`, no `idempotency_key`, no `Idempotency-Key`: only the signature says what it is.
    let body = r#"{"type":"ticket.escalate","subject":"Checkout down","description":"EU"}"#;
    let header = sign_now(INGEST_SECRET, body);
    let replay = |server: &TestServer| {
        server
            .http
            .post(server.url("/v1/events"))
            .header("content-type", "application/json")
            .header("x-klaxon-signature", header.clone())
            .body(body)
    };
    let mut probes = 0;
    let mut answers = Vec::new();
    for _ in 0..3 {
        probes += 1;
        answers.push(server.send(replay(&server)).await);
    }
    assert_eq!(answers[0].0, 202, "{}", answers[0].1);
    for (status, answer) in &answers[1..] {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["duplicate"], true);
        assert_eq!(answer["id"], answers[0].1["id"]);
    }
    let id = answers[0].1["id"].as_str().unwrap().to_owned();
    let (_, event) = server.get(&format!("/v1/events/{id}")).await;
    let key = event["idempotency_key"].as_str().unwrap();
    let t = header.split(',').next().unwrap().trim_start_matches("t=");
    assert!(key.starts_with(&format!("sig:{t}:")), "{key}");
    eventually(WAIT, || async {
        (carrier_dials(&carrier) == 1).then_some(())
    })
    .await;

    // The key is in the database, not in memory: a restart still knows the replay.
    let dir = server.stop_keeping_files().await;
    let server = TestServer::start_in(dir, "127.0.0.1:0", configure).await;
    probes += 1;
    let (status, answer) = server.send(replay(&server)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], id.as_str());
    // A new signature (another `t`) over the same bytes is a new request: a new event.
    let later = ingest::sign(
        &[Secret::new(INGEST_SECRET)],
        t.parse::<i64>().unwrap() + 1,
        body.as_bytes(),
    );
    probes += 1;
    let (status, answer) = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", "application/json")
                .header("x-klaxon-signature", later)
                .body(body),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    // (Escalation outcomes are events too: count the ones sent.)
    let (_, sent) = server.get("/v1/events?type=ticket.escalate").await;
    assert_eq!(sent["data"].as_array().map(Vec::len), Some(2), "{sent:#}");
    let (_, escalations) = server.get("/v1/escalations").await;
    let for_first = escalations["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_id"] == id.as_str())
        .count();
    assert_eq!(for_first, 1, "{escalations:#}");
    println!("a_replayed_signed_event: {probes} probes");
}

fn carrier_dials(carrier: &SandboxCarrier) -> usize {
    carrier
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/calls"))
        .count()
}

#[test]
fn klaxon_check_lists_the_risks_and_still_exits_zero() {
    use crate::support::binary::command;
    let risky = command()
        .arg("check")
        .env("HOST", "0.0.0.0")
        .env("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true")
        .env("PUBLIC_URL", "http://klaxon.example.com")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&risky.stdout);
    assert_eq!(
        risky.status.code(),
        Some(0),
        "risks are not errors: {stdout}"
    );
    assert!(stdout.contains("risks (3):"), "{stdout}");
    for needle in [
        "warning: listening on 0.0.0.0 without KLAXON_API_TOKEN",
        "Fix: set KLAXON_API_TOKEN",
        "MERGE_ALLOW_UNSIGNED_WEBHOOKS is on",
        "Fix: set MERGE_WEBHOOK_SECRET",
        "PUBLIC_URL http://klaxon.example.com is plain http",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in {stdout}");
    }

    let safe = command()
        .arg("check")
        .env("HOST", "0.0.0.0")
        .env("KLAXON_API_TOKEN", TOKEN)
        .env("MERGE_WEBHOOK_SECRET", MERGE_SECRET)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&safe.stdout);
    assert_eq!(safe.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("risks: none found"), "{stdout}");
    assert!(!stdout.contains(TOKEN) && !stdout.contains(MERGE_SECRET));

    // Invalid settings keep exit code 2.
    let invalid = command()
        .arg("check")
        .env("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "perhaps")
        .output()
        .expect("run");
    assert_eq!(invalid.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(stderr.contains("MERGE_ALLOW_UNSIGNED_WEBHOOKS"), "{stderr}");
    println!("klaxon_check_lists_the_risks: 3 probes");
}

#[test]
fn serve_warns_of_each_risk_at_start() {
    use crate::support::binary::KlaxonProcess;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = KlaxonProcess::start(
        &dir.path().join("klaxon.db"),
        &[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true")],
    );
    let warned = server.startup_logs.iter().any(|line| {
        let entry: Value = serde_json::from_str(line).unwrap_or_default();
        entry["level"] == "WARN"
            && entry["fields"]["risk"] == "UnsignedWebhooksAllowed"
            && entry["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Fix: set MERGE_WEBHOOK_SECRET"))
    });
    assert!(warned, "{:#?}", server.startup_logs);
    println!("serve_warns_of_each_risk_at_start: 1 probe");
}
