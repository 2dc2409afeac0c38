//! Load generators: many keep-alive clients posting events as fast as they can (throughput),
//! or at a fixed rate (latency), against a running server. What counts as "delivered" is
//! the caller's: a receiver's count, rows in a table, messages in the sandbox.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use hyper::StatusCode;

use super::{connect, post};

/// An event body for an idempotency key (every event of a run has its own).
pub type MakeEvent = fn(&str) -> String;

/// What a closed-loop run measured.
pub struct Throughput {
    /// Events accepted per second over the whole run.
    pub ingested: f64,
    /// Deliveries per second the sink saw while the load ran (after a 1 s warm-up).
    pub delivered: f64,
    /// How long the sink took to see the rest once the load stopped.
    pub drain: Duration,
}

/// `connections` clients ingest as fast as they can for 1 s of warm-up plus `duration`; each
/// event makes `per_event` deliveries, and `delivered()` says how many the sink has seen.
pub async fn closed_loop<F, Fut>(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: MakeEvent,
    per_event: u64,
    delivered: F,
) -> Throughput
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64>,
{
    let warm_up = Duration::from_secs(1);
    let end = Instant::now() + warm_up + duration;
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                let mut sent = 0u64;
                while Instant::now() < end {
                    let (status, body) = post(&mut sender, make(&format!("t{c}-{sent}")))
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
    let before = delivered().await;
    tokio::time::sleep(duration).await;
    let during = delivered().await - before;
    let mut total = 0;
    for client in clients {
        total += client.await.expect("client");
    }
    let ingested = total as f64 / (warm_up + duration).as_secs_f64();
    let drain_from = Instant::now();
    // The probe that started the server was delivered too.
    while delivered().await < (total + 1) * per_event {
        assert!(
            drain_from.elapsed() < Duration::from_secs(300),
            "deliveries stalled at {} of {}",
            delivered().await,
            (total + 1) * per_event
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Throughput {
        ingested,
        delivered: during as f64 / duration.as_secs_f64(),
        drain: drain_from.elapsed(),
    }
}

/// Ingests `n` events over 64 connections as fast as possible.
pub async fn ingest(addr: SocketAddr, n: u64, make: MakeEvent) {
    let connections = 64;
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                for i in (c..n).step_by(connections as usize) {
                    let (status, body) = post(&mut sender, make(&format!("b{i}")))
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

/// One event of a fixed-rate run: when its 202 arrived (the event is committed before the
/// 202 is sent).
pub struct Acked {
    /// The event id from the answer.
    pub id: String,
    /// The idempotency key it was made with.
    pub key: String,
    pub at: Instant,
    pub wall: SystemTime,
}

/// Sends `rate` events per second over 16 connections for `duration`.
pub async fn fixed_rate(
    addr: SocketAddr,
    rate: u64,
    duration: Duration,
    make: MakeEvent,
) -> Vec<Acked> {
    let connections = 16u64;
    let per_connection = Duration::from_micros(1_000_000 * connections / rate);
    let total = rate * duration.as_secs() / connections;
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut sender = connect(addr).await.expect("connect");
                // Staggered so the connections together send one event per 1/rate.
                tokio::time::sleep(per_connection / connections as u32 * c as u32).await;
                let mut ticks = tokio::time::interval(per_connection);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut acked = Vec::with_capacity(total as usize);
                for n in 0..total {
                    ticks.tick().await;
                    let key = format!("l{c}-{n}");
                    let (status, body) = post(&mut sender, make(&key)).await.expect("ingest");
                    let (at, wall) = (Instant::now(), SystemTime::now());
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                    let id = body.split('"').nth(3).expect("id in the answer").to_owned();
                    acked.push(Acked { id, key, at, wall });
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for client in clients {
        acked.extend(client.await.expect("client"));
    }
    acked
}

/// Microseconds from each 202 to its arrival, sorted; a delivery that beat its 202 to the
/// client counts as zero.
pub fn sorted_micros(gaps: impl Iterator<Item = Duration>) -> Vec<u32> {
    let mut micros: Vec<u32> = gaps
        .map(|gap| gap.as_micros().min(u128::from(u32::MAX)) as u32)
        .collect();
    micros.sort_unstable();
    micros
}
