//! Delivery benchmark: the release binary with one webhook pipeline (Standard Webhooks
//! signing) delivering to a local receiver that answers 200.
//!
//! 1. Throughput: 64 keep-alive clients ingest as fast as they can for KLAXON_BENCH_SECS
//!    (10 s); Klaxon delivers with at most 64 deliveries in flight. Prints deliveries/s seen
//!    by the receiver while the load ran, and the drain time of any backlog afterwards.
//! 2. Latency: events at a fixed 1,000/s for the same time, on a fresh server. For each
//!    event, the time from its 202 (the event is committed before the 202 is sent) to the
//!    receiver seeing its delivery; prints p50/p99/max.
//!
//! 3. Backlog drain: 50,000 events (KLAXON_BENCH_BACKLOG) are ingested while the receiver
//!    takes a second per request, so almost all deliveries wait; the server is then killed
//!    (SIGKILL), the receiver made instant, and a new server started on the same database.
//!    Prints the rate at which it delivers the backlog: claim, sign, send, record, with no
//!    ingest competing for the two cores.
//!
//! 4. Take-over (PostgreSQL only): two servers on one database; the first is killed while
//!    its attempts hang at the receiver; prints how long until the survivor delivered every
//!    job the dead one held (its lease is KLAXON_BENCH_LEASE_SECS, 5 s).
//!
//! Every phase then checks in the store that every event's delivery succeeded.
//!
//! KLAXON_BENCH_MAX_IN_FLIGHT and KLAXON_BENCH_POOL_SIZE set the server's
//! KLAXON_MAX_IN_FLIGHT (64) and KLAXON_DB_POOL_SIZE (12).
//!
//! Run: `cargo bench --bench delivery`; with `KLAXON_BENCH_POSTGRES_URL=postgres://…` on
//! PostgreSQL (a fresh schema per phase).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use common::{
    BenchDb, connect, count_rows, database, describe, env_number, percentile, post, record,
    start_server,
};
use hyper::StatusCode;

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

fn main() {
    let secs: u64 = env_number("KLAXON_BENCH_SECS", 10);
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir on the target disk");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = runtime.block_on(Receiver::start());
    let config = dir.path().join("klaxon.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[pipelines]]
name = "bench"
on = "bench.*"
[[pipelines.destinations]]
name = "receiver"
webhook = {{ url = "http://{}/hook", signing = "standard", secret_env = "BENCH_SECRET", allow_private = true }}
"#,
            receiver.addr
        ),
    )
    .expect("write settings");
    // A short lease on PostgreSQL, so the restart in phase 3 does not wait out a long one.
    let lease: u64 = env_number("KLAXON_BENCH_LEASE_SECS", 5);
    let env = [
        ("KLAXON_CONFIG", config.display().to_string()),
        ("BENCH_SECRET", SECRET.to_owned()),
        ("KLAXON_LEASE_SECS", lease.to_string()),
        (
            "KLAXON_MAX_IN_FLIGHT",
            env_number("KLAXON_BENCH_MAX_IN_FLIGHT", 64u32).to_string(),
        ),
        (
            "KLAXON_DB_POOL_SIZE",
            env_number("KLAXON_BENCH_POOL_SIZE", 12u32).to_string(),
        ),
    ];
    let duration = Duration::from_secs(secs);

    // 1. Throughput.
    let db = database(dir.path(), "throughput");
    let (server, _) = start_server(&db, &env, &event("probe-1"));
    let throughput = runtime.block_on(closed_loop(server.addr, &receiver, 64, duration));
    check_all_delivered(&db);
    drop(server);

    // 2. Latency at a fixed rate.
    receiver.reset();
    let db = database(dir.path(), "latency");
    let (server, _) = start_server(&db, &env, &event("probe-2"));
    let mut latencies = runtime.block_on(fixed_rate(server.addr, &receiver, 1_000, duration));
    check_all_delivered(&db);
    drop(server);
    latencies.sort_unstable();

    // 3. Backlog drain after a crash.
    let backlog: u64 = env_number("KLAXON_BENCH_BACKLOG", 50_000);
    receiver.reset();
    receiver.set_delay(Duration::from_secs(1));
    let db = database(dir.path(), "backlog");
    let (server, _) = start_server(&db, &env, &event("probe-3"));
    runtime.block_on(ingest(server.addr, backlog));
    drop(server); // SIGKILL
    receiver.set_delay(Duration::ZERO);
    receiver.reset();
    let waiting = count_rows(&db, "SELECT COUNT(*) FROM events")
        - count_rows(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'succeeded'",
        );
    let restarted = Instant::now();
    let (server, _) = start_server(&db, &env, &event("probe-4"));
    let waiting = usize::try_from(waiting + 1).unwrap_or(usize::MAX); // + the new probe
    // On PostgreSQL the killed node's jobs are free only once its liveness runs out (one
    // lease): the drain rate is counted from the first backlog delivery, after that wait.
    let first = runtime.block_on(async {
        let mut first = None;
        while receiver.count() < waiting {
            if first.is_none() && receiver.count() >= 2 {
                first = Some(restarted.elapsed());
            }
            assert!(
                restarted.elapsed() < Duration::from_secs(300),
                "backlog stalled"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        first.unwrap_or_default()
    });
    let drain = restarted.elapsed();
    let drain_rate = (waiting - 1) as f64 / (drain - first).as_secs_f64();
    check_all_delivered(&db);
    drop(server);

    // 4. Take-over by a second node (PostgreSQL).
    let takeover = matches!(db, BenchDb::Postgres { .. }).then(|| {
        receiver.reset();
        let db = database(dir.path(), "takeover");
        let (survivor, _) = start_server(&db, &env, &event("probe-5"));
        let (doomed, _) = start_server(&db, &env, &event("probe-6"));
        // Both probes delivered first, so only the doomed node's 500 jobs are left hanging.
        runtime.block_on(async {
            while receiver.count() < 2 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        receiver.set_delay(Duration::from_secs(3600));
        runtime.block_on(ingest(doomed.addr, 500));
        std::thread::sleep(Duration::from_millis(500));
        let held = count_rows(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE state <> 'succeeded' AND lease_owner IS NOT NULL",
        );
        drop(doomed); // SIGKILL, with its attempts hanging at the receiver
        let killed = Instant::now();
        receiver.set_delay(Duration::ZERO);
        receiver.reset();
        // The receiver runs on `runtime`: wait inside it.
        let first = runtime.block_on(async {
            let mut first = None;
            while receiver.count() < 500 {
                if first.is_none() && receiver.count() > 0 {
                    first = Some(killed.elapsed());
                }
                assert!(killed.elapsed() < Duration::from_secs(120), "take-over stalled");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            first
        });
        let all = killed.elapsed();
        check_all_delivered(&db);
        drop(survivor);
        (held, first.unwrap_or(all), all)
    });

    println!(
        "klaxon delivery benchmark (Standard Webhooks signing, receiver answers 200, {secs} s per phase, {})",
        describe(&db)
    );
    println!(
        "  ingested events/s (64 clients)   {:>10.0}",
        throughput.ingested
    );
    println!(
        "  deliveries/s at the receiver     {:>10.0}",
        throughput.delivered
    );
    println!(
        "  backlog drained after the load   {:>10.2} s",
        throughput.drain.as_secs_f64()
    );
    println!("  latency at 1,000 events/s, from 202 to the receiver:");
    println!(
        "    p50                            {:>10.2} ms",
        percentile(&latencies, 0.50)
    );
    println!(
        "    p99                            {:>10.2} ms",
        percentile(&latencies, 0.99)
    );
    println!(
        "    max                            {:>10.2} ms",
        percentile(&latencies, 1.0)
    );
    println!("    events measured                {:>10}", latencies.len());
    println!("  backlog after a crash: {waiting} deliveries");
    println!(
        "    drained in                     {:>10.2} s (from restart)",
        drain.as_secs_f64()
    );
    println!(
        "    first delivered after          {:>10.2} s (the dead node's lease on PostgreSQL)",
        first.as_secs_f64()
    );
    println!("    deliveries/s after that        {:>10.0}", drain_rate);
    record(
        "delivery",
        "deliveries/s while 64 clients ingest",
        throughput.delivered,
        "/s",
        "≥ 10,000",
    );
    record(
        "delivery",
        "202 → receiver p99 at 1,000 events/s",
        percentile(&latencies, 0.99),
        "ms",
        "≤ 50 ms",
    );
    record(
        "delivery",
        "backlog drain after SIGKILL",
        drain_rate,
        "/s",
        "—",
    );
    if let Some((held, first, all)) = takeover {
        println!("  take-over of a SIGKILLed node's {held} leased deliveries (lease {lease} s):");
        println!(
            "    first delivered by the survivor {:>9.2} s after the kill",
            first.as_secs_f64()
        );
        println!(
            "    all delivered by the survivor   {:>9.2} s after the kill",
            all.as_secs_f64()
        );
    }
}

/// Ingests `n` events over 64 connections as fast as possible.
async fn ingest(addr: SocketAddr, n: u64) {
    let connections = 64;
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                for i in (c..n).step_by(connections as usize) {
                    let (status, body) = post(&mut sender, event(&format!("b{i}")))
                        .await
                        .expect("ingest");
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
}

fn event(key: &str) -> String {
    format!(
        r#"{{"type":"bench.event","idempotency_key":"{key}","payload":{{"ticket_id":"{key}","subject":"Checkout returns 500 for EU customers","customer_tier":"enterprise"}}}}"#
    )
}

fn check_all_delivered(db: &BenchDb) {
    // The receiver has seen every delivery; their results may still be committing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = count_rows(db, "SELECT COUNT(*) FROM events");
        let succeeded = count_rows(
            db,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'succeeded'",
        );
        if events == succeeded || Instant::now() > deadline {
            assert_eq!(events, succeeded, "every event's delivery succeeded");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Throughput {
    ingested: f64,
    delivered: f64,
    drain: Duration,
}

async fn closed_loop(
    addr: SocketAddr,
    receiver: &Receiver,
    connections: usize,
    duration: Duration,
) -> Throughput {
    let warm_up = Duration::from_secs(1);
    let begin = Instant::now();
    let end = begin + warm_up + duration;
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                let mut sent = 0u64;
                while Instant::now() < end {
                    let (status, body) = post(&mut sender, event(&format!("t{c}-{sent}")))
                        .await
                        .expect("ingest");
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    tokio::time::sleep(warm_up).await;
    let delivered_before = receiver.count();
    tokio::time::sleep(duration).await;
    let delivered_during = receiver.count() - delivered_before;
    let mut total = 1; // the probe
    for client in clients {
        total += client.await.expect("client");
    }
    let ingested = total as f64 / (warm_up + duration).as_secs_f64();
    let drain_from = Instant::now();
    while receiver.count() < total as usize {
        assert!(
            drain_from.elapsed() < Duration::from_secs(120),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Throughput {
        ingested,
        delivered: delivered_during as f64 / duration.as_secs_f64(),
        drain: drain_from.elapsed(),
    }
}

/// Sends `rate` events per second over 16 connections; returns per-event microseconds from
/// the 202 to the delivery's arrival.
async fn fixed_rate(
    addr: SocketAddr,
    receiver: &Receiver,
    rate: u64,
    duration: Duration,
) -> Vec<u32> {
    let connections = 16u64;
    let per_connection = Duration::from_micros(1_000_000 * connections / rate);
    let total = rate * duration.as_secs() / connections;
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            let acked = acked.clone();
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                // Staggered so the connections together send one event per 1/rate.
                tokio::time::sleep(per_connection / connections as u32 * c as u32).await;
                let mut ticks = tokio::time::interval(per_connection);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                for n in 0..total {
                    ticks.tick().await;
                    let (status, body) = post(&mut sender, event(&format!("l{c}-{n}")))
                        .await
                        .expect("ingest");
                    let at = Instant::now();
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                    let id = body.split('"').nth(3).expect("id in the answer").to_owned();
                    acked.lock().unwrap().insert(id, at);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
    let expected = (total * connections) as usize + 1;
    let drain_from = Instant::now();
    while receiver.count() < expected {
        assert!(
            drain_from.elapsed() < Duration::from_secs(60),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = receiver.arrivals.lock().unwrap();
    let acked = acked.lock().unwrap();
    acked
        .iter()
        .map(|(id, at)| {
            let seen = arrived.get(id).expect("every event delivered");
            // A delivery can beat the 202 to the client; that counts as zero.
            seen.saturating_duration_since(*at)
                .as_micros()
                .min(u32::MAX as u128) as u32
        })
        .collect()
}

/// The receiving end: answers 200 and notes when each event's delivery arrived.
struct Receiver {
    addr: SocketAddr,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    delay: Arc<AtomicU64>,
}

#[derive(Clone)]
struct ReceiverState {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    /// Milliseconds to wait before answering.
    delay: Arc<AtomicU64>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = ReceiverState {
            arrivals: Arc::default(),
            delay: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().fallback(receive).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            arrivals: state.arrivals,
            delay: state.delay,
        }
    }

    fn set_delay(&self, delay: Duration) {
        self.delay.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    fn reset(&self) {
        self.arrivals.lock().unwrap().clear();
    }
}

async fn receive(State(state): State<ReceiverState>, body: Bytes) -> &'static str {
    let delay = state.delay.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let at = Instant::now();
    // The body starts `{"id":"<event id>",…` (`id` is the first field).
    let id = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| text.split('"').nth(3))
        .unwrap_or_default()
        .to_owned();
    state.arrivals.lock().unwrap().entry(id).or_insert(at);
    "ok"
}
