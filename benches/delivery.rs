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

use std::time::{Duration, Instant};

use common::load::{closed_loop, fixed_rate, ingest, sorted_micros};
use common::receiver::Receiver;
use common::{
    BenchDb, check_all_delivered, count_rows, database, describe, env_number, percentile, record,
    start_server,
};

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
    let throughput = runtime.block_on(closed_loop(server.addr, 64, duration, event, 1, || async {
        receiver.count() as u64
    }));
    check_all_delivered(&db, 1);
    drop(server);

    // 2. Latency at a fixed rate.
    receiver.reset();
    let db = database(dir.path(), "latency");
    let (server, _) = start_server(&db, &env, &event("probe-2"));
    let latencies = runtime.block_on(latencies(server.addr, &receiver, duration));
    check_all_delivered(&db, 1);
    drop(server);

    // 3. Backlog drain after a crash.
    let backlog: u64 = env_number("KLAXON_BENCH_BACKLOG", 50_000);
    receiver.reset();
    receiver.set_delay(Duration::from_secs(1));
    let db = database(dir.path(), "backlog");
    let (server, _) = start_server(&db, &env, &event("probe-3"));
    runtime.block_on(ingest(server.addr, backlog, event));
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
    check_all_delivered(&db, 1);
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
        runtime.block_on(ingest(doomed.addr, 500, event));
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
        check_all_delivered(&db, 1);
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

fn event(key: &str) -> String {
    format!(
        r#"{{"type":"bench.event","idempotency_key":"{key}","payload":{{"ticket_id":"{key}","subject":"Checkout returns 500 for EU customers","customer_tier":"enterprise"}}}}"#
    )
}

/// Events at a fixed 1,000/s; microseconds from each 202 to its delivery, sorted.
async fn latencies(
    addr: std::net::SocketAddr,
    receiver: &Receiver,
    duration: Duration,
) -> Vec<u32> {
    let acked = fixed_rate(addr, 1_000, duration, event).await;
    let expected = acked.len() + 1; // + the probe
    let drain_from = Instant::now();
    while receiver.count() < expected {
        assert!(
            drain_from.elapsed() < Duration::from_secs(60),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = receiver.arrivals.lock().unwrap();
    sorted_micros(acked.iter().map(|acked| {
        let seen = arrived.get(&acked.id).expect("every event delivered");
        seen.saturating_duration_since(acked.at)
    }))
}
