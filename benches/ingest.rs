//! Ingest benchmark: the release binary on a fresh SQLite file on disk, driven over loopback
//! by 64 keep-alive connections, each sending one event at a time.
//!
//! Prints start-up time (spawn to first 202), then for two phases (an event type no pipeline
//! takes; support tickets, which the built-in pipeline classifies in the background) the idle
//! RSS, durable events/s with p50/p99/max latency, and the server's peak RSS; each phase checks
//! that the store holds exactly as many events as were acknowledged, so the figure is never
//! for work that was not done.
//!
//! Run: `cargo bench --bench ingest` (KLAXON_BENCH_SECS changes the 10 s load phase,
//! KLAXON_BENCH_CONNECTIONS the 64 connections). With
//! `KLAXON_BENCH_POSTGRES_URL=postgres://…` the same runs on PostgreSQL (a fresh schema per
//! phase).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    connect, count_rows, database, describe, env_number, percentile, post, record, rss_kib,
    start_server,
};
use hyper::StatusCode;

const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let secs: u64 = env_number("KLAXON_BENCH_SECS", 10);
    let connections: usize = env_number("KLAXON_BENCH_CONNECTIONS", 64);
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir on the target disk");

    let startup = (0..5)
        .map(|run| {
            let (server, took) = start_server(
                &database(dir.path(), &format!("startup-{run}")),
                &[],
                &ticket("startup-probe"),
            );
            drop(server);
            took
        })
        .min()
        .expect("five runs");

    println!(
        "klaxon ingest benchmark ({connections} connections, {secs} s per phase, {})",
        describe(&database(dir.path(), "describe"))
    );
    println!(
        "  start-up to first 202   {:>10.1} ms (best of 5)",
        startup.as_secs_f64() * 1e3
    );
    record(
        "ingest",
        "start-up to first 202",
        startup.as_secs_f64() * 1e3,
        "ms",
        "≤ 100 ms",
    );
    // Ingest alone: an event type no pipeline takes. Then the same load of support tickets,
    // which the built-in pipeline classifies and records in the background meanwhile.
    for (phase, label, event_type) in [
        (
            "ingest only (no pipeline takes the type)",
            "ingest alone",
            "order.created",
        ),
        (
            "support tickets through the built-in pipeline",
            "ingest with the built-in pipeline",
            "support.ticket.created",
        ),
    ] {
        let db = database(dir.path(), event_type);
        let (mut server, _) = start_server(&db, &[], &ticket("startup-probe"));
        let idle_rss = rss_kib(server.child.id(), "VmRSS");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let load = runtime.block_on(drive(
            server.addr,
            event_type,
            connections,
            Duration::from_secs(secs),
        ));
        let peak_rss = rss_kib(server.child.id(), "VmHWM");
        server.child.kill().ok();
        server.child.wait().ok();

        let stored = count_rows(&db, "SELECT COUNT(*) FROM events");
        let mut latencies = load.latencies_us;
        latencies.sort_unstable();
        let rate = latencies.len() as f64 / load.measured_for.as_secs_f64();
        println!("  {phase}:");
        println!(
            "    idle RSS              {:>10.1} MiB",
            idle_rss as f64 / 1024.0
        );
        println!("    durable events/s      {rate:>10.0}");
        println!(
            "    latency p50           {:>10.2} ms",
            percentile(&latencies, 0.50)
        );
        println!(
            "    latency p99           {:>10.2} ms",
            percentile(&latencies, 0.99)
        );
        println!(
            "    latency max           {:>10.2} ms",
            percentile(&latencies, 1.0)
        );
        println!(
            "    peak RSS              {:>10.1} MiB",
            peak_rss as f64 / 1024.0
        );
        println!("    errors                {:>10}", load.errors);
        let alone = event_type == "order.created";
        let goal = |g: &'static str| if alone { g } else { "—" };
        record(
            "ingest",
            &format!("{label}: durable events/s"),
            rate,
            "/s",
            goal("≥ 30,000"),
        );
        let p99 = percentile(&latencies, 0.99);
        record(
            "ingest",
            &format!("{label}: latency p99"),
            p99,
            "ms",
            goal("≤ 10 ms"),
        );
        if alone {
            record(
                "ingest",
                "RSS idle",
                idle_rss as f64 / 1024.0,
                "MiB",
                "≤ 30 MiB",
            );
            record(
                "ingest",
                "RSS peak under load",
                peak_rss as f64 / 1024.0,
                "MiB",
                "—",
            );
        }
        println!(
            "    acknowledged / stored {:>10} / {stored}",
            load.acknowledged
        );
        assert_eq!(load.errors, 0, "every request should succeed");
        assert_eq!(
            load.acknowledged, stored,
            "every acknowledged event is in the store, once"
        );
    }
}

struct Load {
    latencies_us: Vec<u32>,
    measured_for: Duration,
    acknowledged: i64,
    errors: u64,
}

/// Runs `connections` closed-loop clients for `duration` after a warm-up. Only requests that
/// start after the warm-up count toward rate and latency; all count toward `acknowledged`.
async fn drive(
    addr: SocketAddr,
    event_type: &'static str,
    connections: usize,
    duration: Duration,
) -> Load {
    let begin = Instant::now();
    let measure_from = begin + WARM_UP;
    let end = measure_from + duration;
    let clients = (0..connections).map(|c| {
        tokio::spawn(async move {
            let mut sender = connect(addr).await.expect("connect");
            let (mut latencies, mut acknowledged, mut errors) = (Vec::new(), 0i64, 0u64);
            for n in 0u64.. {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let body =
                    ticket(&format!("c{c}-{n}")).replace("support.ticket.created", event_type);
                match post(&mut sender, body).await {
                    Ok((StatusCode::ACCEPTED, _)) => acknowledged += 1,
                    Ok((status, body)) => {
                        errors += 1;
                        eprintln!("unexpected {status}: {body}");
                    }
                    Err(e) => {
                        errors += 1;
                        eprintln!("request failed: {e}");
                        sender = connect(addr).await.expect("reconnect");
                    }
                }
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            (latencies, acknowledged, errors)
        })
    });
    let clients: Vec<_> = clients.collect();
    let mut load = Load {
        latencies_us: Vec::new(),
        measured_for: duration,
        acknowledged: 1, // the start-up probe
        errors: 0,
    };
    for client in clients {
        let (latencies, acknowledged, errors) = client.await.expect("client task");
        load.latencies_us.extend(latencies);
        load.acknowledged += acknowledged;
        load.errors += errors;
    }
    load
}

/// One realistic event: a support ticket with an idempotency key, as a webhook would send.
fn ticket(key: &str) -> String {
    format!(
        r#"{{"type":"support.ticket.created","idempotency_key":"{key}","payload":{{"ticket_id":"{key}","subject":"Checkout returns 500 for EU customers","body":"Since 09:12 UTC every EU checkout fails with a 500; about 40 orders lost so far.","customer_tier":"enterprise","channel":"email"}}}}"#
    )
}
