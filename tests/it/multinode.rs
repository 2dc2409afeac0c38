//! Several `klaxon serve` processes on one PostgreSQL database, one of them killed with
//! SIGKILL in the middle of the load: nothing acknowledged is lost or stored twice, every
//! webhook delivery arrives (once after de-duplication on `webhook-id`), no escalation dials
//! an attempt twice, and the dead node's escalations finish on the survivors within a lease.
//!
//! Runs only with `KLAXON_TEST_POSTGRES_URL` (see `support::postgres`).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use klaxon::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
use klaxon::store::DatabaseUrl;
use klaxon::voice::telnyx::{ClientState, LegRole};
use serde_json::json;

use crate::support::binary::KlaxonProcess;
use crate::support::postgres;
use crate::support::receiver::Receiver;

const EVENTS: usize = 10_000;
const ESCALATIONS: usize = 50;
/// The nodes' lease (`KLAXON_LEASE_SECS`).
const LEASE: Duration = Duration::from_secs(3);
/// Requests in flight from the test's clients.
const CLIENTS: usize = 48;
const STANDARD_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

/// Calls at a tenth of human pace: an escalation takes a couple of seconds, so some are
/// mid-call when a node dies.
fn timing() -> Timing {
    Timing {
        ring: Duration::from_millis(300),
        second: Duration::from_millis(100),
        per_word: Duration::from_millis(3),
        amd: Duration::from_millis(200),
        response: Duration::from_millis(150),
        keypress: Duration::from_millis(25),
        conversation: Duration::from_secs(1),
        reorder_window: Duration::from_millis(100),
        webhook_retry: Duration::from_millis(200),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Posts `body` to the live nodes, starting with `first`, until one acknowledges it (the
/// same idempotency key every time, as a real client retries).
async fn deliver(
    http: &reqwest::Client,
    urls: &[String],
    alive: &[AtomicBool],
    first: usize,
    body: &serde_json::Value,
) {
    for round in 0..200 {
        let n = (first + round) % urls.len();
        if !alive[n].load(Ordering::Acquire) {
            continue;
        }
        let sent = http
            .post(format!("{}/v1/events", urls[n]))
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(response) = sent
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no node acknowledged {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_lose_nothing_and_ring_once() {
    let Some(_) = postgres::server() else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let DatabaseUrl::Postgres(database) = postgres::database_for(&db) else {
        unreachable!("PostgreSQL is enabled");
    };

    let receiver = Receiver::start().await;
    let seed = SigningSeed::from_bytes([7; 32]);
    let public_key = seed.public_key_base64();
    let carrier = SandboxCarrier::start(
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the carrier"),
        CarrierConfig {
            signing_seed: seed,
            timing: timing(),
            ..CarrierConfig::default()
        },
    )
    .expect("start the sandbox carrier");
    let config = dir.path().join("klaxon.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
name = "receiver"
webhook = {{ url = "{}", signing = "standard", secret_env = "HOOK_SECRET", allow_private = true }}

[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = {{ policy = "oncall" }}
"#,
            receiver.url()
        ),
    )
    .expect("write the settings");

    // Node 0 is killed. Every node sends its calls' webhooks to another node, as a load
    // balancer would, so call events are applied on nodes that did not dial.
    let ports = [free_port(), free_port(), free_port()];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let webhook_target = [1, 2, 1];
    let (config, api_base) = (config.display().to_string(), carrier.base_url());
    let lease = LEASE.as_secs().to_string();
    let mut nodes: Vec<KlaxonProcess> = (0..3)
        .map(|n| {
            let port = ports[n].to_string();
            KlaxonProcess::start(
                &db,
                &[
                    ("KLAXON_CONFIG", config.as_str()),
                    ("PORT", port.as_str()),
                    ("KLAXON_LEASE_SECS", lease.as_str()),
                    ("HOOK_SECRET", STANDARD_SECRET),
                    ("TELNYX_API_KEY", "KEY_TEST"),
                    ("TELNYX_API_BASE", api_base.as_str()),
                    ("TELNYX_CONNECTION_ID", "1494404757140276705"),
                    ("TELNYX_PHONE_NUMBER", "+15550100000"),
                    ("TELNYX_PUBLIC_KEY", public_key.as_str()),
                    ("PUBLIC_URL", urls[webhook_target[n]].as_str()),
                    // Answers, hears the briefing, presses 2 (acknowledge).
                    ("ONCALL_NUMBER", "+15551000002"),
                    ("KLAXON_DIALS_PER_SECOND", "30"),
                    ("RUST_LOG", "warn,klaxon::server=info"),
                ],
            )
        })
        .collect();
    let killed_pid = nodes[0].child.id();
    let killed_node = format!("node_{killed_pid}_");

    // The load: 10,000 orders over all nodes. At 40 % the 50 tickets go to node 0, which is
    // killed as soon as it has acknowledged them, in the middle of dialling.
    let http = reqwest::Client::new();
    let alive: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let urls = Arc::new(urls);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, urls, alive, next, done) = (
                http.clone(),
                urls.clone(),
                alive.clone(),
                next.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    if i >= EVENTS {
                        return;
                    }
                    let body = json!({
                        "type": "order.created",
                        "payload": {"order": i},
                        "idempotency_key": format!("order-{i}"),
                    });
                    deliver(&http, &urls, &alive, i, &body).await;
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    while done.load(Ordering::Acquire) < EVENTS * 2 / 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tickets: Vec<_> = (0..ESCALATIONS)
        .map(|i| {
            let (http, urls, alive) = (http.clone(), urls.clone(), alive.clone());
            tokio::spawn(async move {
                let body = json!({
                    "type": "support.ticket.created",
                    "payload": {"subject": format!("Checkout down #{i}")},
                    "idempotency_key": format!("ticket-{i}"),
                });
                deliver(&http, &urls, &alive, 0, &body).await;
            })
        })
        .collect();
    for ticket in tickets {
        ticket.await.expect("ticket sender did not panic");
    }
    // Kill once node 0 has created the escalations and is dialling them.
    let db_client = postgres::connect(&database).await;
    let wait_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_until {
        let dialling: i64 = db_client
            .query_one("SELECT COUNT(*) FROM call_legs", &[])
            .await
            .expect("count call legs")
            .get(0);
        if dialling >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // SIGKILL node 0 mid-load, then see what it held at that moment.
    alive[0].store(false, Ordering::Release);
    nodes[0].kill_hard();
    let killed_at = Instant::now();
    let killed_after = done.load(Ordering::Acquire);
    let owner_pattern = format!("{killed_node}%");
    let held_escalations: Vec<String> = db_client
        .query(
            "SELECT id FROM escalations WHERE lease_owner LIKE $1 AND status = 'active'",
            &[&owner_pattern],
        )
        .await
        .expect("escalations of the killed node")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let leased_escalations: Vec<String> = db_client
        .query(
            "SELECT id FROM escalations
             WHERE lease_owner LIKE $1 AND status = 'active' AND lease_until IS NOT NULL",
            &[&owner_pattern],
        )
        .await
        .expect("escalations the killed node was stepping")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let leased_deliveries: i64 = db_client
        .query_one(
            "SELECT COUNT(*) FROM deliveries
             WHERE lease_owner LIKE $1 AND state IN ('pending', 'failed')",
            &[&owner_pattern],
        )
        .await
        .expect("deliveries of the killed node")
        .get(0);

    // Watch the take-over: when the survivors have claimed everything the dead node held.
    let mut escalations_taken_over = None;
    let mut deliveries_taken_over = None;
    let watch_until = Instant::now() + LEASE * 4;
    while Instant::now() < watch_until
        && (escalations_taken_over.is_none() || deliveries_taken_over.is_none())
    {
        let stuck: i64 = db_client
            .query_one(
                "SELECT COUNT(*) FROM escalations
                 WHERE lease_owner LIKE $1 AND status = 'active' AND lease_until IS NOT NULL",
                &[&owner_pattern],
            )
            .await
            .expect("count escalations still held")
            .get(0);
        if stuck == 0 && escalations_taken_over.is_none() {
            escalations_taken_over = Some(killed_at.elapsed());
        }
        let stuck: i64 = db_client
            .query_one(
                "SELECT COUNT(*) FROM deliveries
                 WHERE lease_owner LIKE $1 AND state IN ('pending', 'failed')",
                &[&owner_pattern],
            )
            .await
            .expect("count deliveries still held")
            .get(0);
        if stuck == 0 && deliveries_taken_over.is_none() {
            deliveries_taken_over = Some(killed_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for client in clients {
        client.await.expect("client did not panic");
    }
    let load_done = started.elapsed();

    // Everything settles: every delivery succeeded, every escalation ended.
    let settle_until = Instant::now() + Duration::from_secs(40);
    loop {
        let row = db_client
            .query_one(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE state <> 'succeeded'),
                        (SELECT COUNT(*) FROM escalations WHERE status = 'active'),
                        (SELECT COUNT(*) FROM events WHERE pipeline_state = 'pending')",
                &[],
            )
            .await
            .expect("progress");
        let (open, active, pending): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if open == 0 && active == 0 && pending == 0 {
            break;
        }
        if Instant::now() >= settle_until {
            for (n, node) in nodes.iter().enumerate().skip(1) {
                for line in node
                    .logs
                    .try_iter()
                    .filter(|l| !l.contains("\"INFO\""))
                    .take(20)
                {
                    let _ = writeln!(std::io::stderr(), "node {n}: {line}");
                }
            }
        }
        assert!(
            Instant::now() < settle_until,
            "settled within 40 s: {open} deliveries not succeeded, {active} escalations active, \
             {pending} events pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A survivor's view of the cluster: the killed node is dead and holds nothing.
    let listed: serde_json::Value = http
        .get(format!("{}/v1/nodes", urls[1]))
        .send()
        .await
        .expect("GET /v1/nodes")
        .json()
        .await
        .expect("a JSON node list");
    let listed = listed["data"].as_array().expect("a list").clone();
    assert_eq!(listed.len(), 3, "three nodes: {listed:?}");
    for node in &listed {
        let killed = node["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&killed_node));
        assert_eq!(node["alive"], !killed, "{node}");
        if killed {
            assert_eq!(node["deliveries_held"], 0, "{node}");
            assert_eq!(node["escalations_held"], 0, "{node}");
        }
    }
    assert_eq!(
        listed.iter().filter(|n| n["this_node"] == true).count(),
        1,
        "{listed:?}"
    );

    // Every acknowledged event is stored once (the test re-sent until acknowledged, so
    // every event was acknowledged).
    let stored: Vec<(String, i64)> = db_client
        .query(
            "SELECT idempotency_key, COUNT(*) FROM events WHERE source = 'api' GROUP BY 1",
            &[],
        )
        .await
        .expect("stored events")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stored.len(), EVENTS + ESCALATIONS, "every event is stored");
    assert!(
        stored.iter().all(|(_, n)| *n == 1),
        "no event is stored twice"
    );

    // Every delivery reached the receiver; after de-duplication on webhook-id, once each.
    let deliveries: HashSet<String> = db_client
        .query(
            "SELECT id FROM deliveries WHERE destination = 'orders.receiver'",
            &[],
        )
        .await
        .expect("deliveries")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(deliveries.len(), EVENTS, "one delivery per order");
    let received = receiver.received();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in &received {
        *seen
            .entry(request.header("webhook-id").to_owned())
            .or_default() += 1;
    }
    let seen_ids: HashSet<String> = seen.keys().cloned().collect();
    assert_eq!(seen_ids, deliveries, "the receiver saw every delivery");
    let repeated = seen.values().filter(|n| **n > 1).count();

    // No escalation dialled the same attempt twice.
    let mut dials: HashMap<(String, u32), usize> = HashMap::new();
    for leg in carrier.legs() {
        let Some(state) = leg
            .client_state
            .as_deref()
            .and_then(|s| ClientState::decode(s).ok())
        else {
            continue;
        };
        if state.leg() == LegRole::A {
            *dials
                .entry((state.escalation().to_owned(), state.attempt()))
                .or_default() += 1;
        }
    }
    let escalations: Vec<(String, String)> = db_client
        .query("SELECT id, status FROM escalations", &[])
        .await
        .expect("escalations")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(escalations.len(), ESCALATIONS, "one escalation per ticket");
    assert!(
        escalations.iter().all(|(_, s)| s == "acknowledged"),
        "every escalation was acknowledged: {escalations:?}"
    );
    assert!(
        dials.values().all(|n| *n == 1),
        "one dial per attempt: {dials:?}"
    );

    // The dead node's work moved on within a lease (plus the take-over scan).
    let limit = LEASE + Duration::from_secs(1);
    if !leased_escalations.is_empty() {
        let took = escalations_taken_over.expect("the survivors took the escalations over");
        assert!(took <= limit, "escalations taken over in {took:?}");
    }
    if leased_deliveries > 0 {
        let took = deliveries_taken_over.expect("the survivors took the deliveries over");
        assert!(took <= limit, "deliveries taken over in {took:?}");
    }

    let report = format!(
        "multi-node: 3 nodes, node 0 SIGKILLed after {} of {EVENTS} events; {} events + {} \
         tickets stored once; {} deliveries, {} requests at the receiver ({} webhook-ids seen \
         more than once); {} escalations all acknowledged, {} A-leg dials, none repeated; the \
         killed node owned {} active escalations ({} mid-step) and {} leased deliveries; \
         escalations taken over after {:?}, deliveries after {:?} (lease {:?}); load done in \
         {:?}, all settled in {:?}",
        killed_after,
        EVENTS,
        ESCALATIONS,
        deliveries.len(),
        received.len(),
        repeated,
        escalations.len(),
        dials.len(),
        held_escalations.len(),
        leased_escalations.len(),
        leased_deliveries,
        escalations_taken_over,
        deliveries_taken_over,
        LEASE,
        load_done,
        started.elapsed(),
    );
    let _ = writeln!(std::io::stderr(), "{report}");
    drop(nodes);
}
