//! Ingest benchmark: the release binary on a fresh SQLite file on disk, driven over loopback
//! by 64 keep-alive connections, each sending one event at a time.
//!
//! Prints start-up time (spawn to first 202), idle RSS, durable events/s with p50/p99/max
//! latency, and the server's peak RSS; then checks that the store holds exactly as many
//! events as were acknowledged, so the figure is never for work that was not done.
//!
//! Run: `cargo bench --bench ingest` (KLAXON_BENCH_SECS changes the 10 s load phase,
//! KLAXON_BENCH_CONNECTIONS the 64 connections).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

const BINARY: &str = env!("CARGO_BIN_EXE_klaxon");
const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let secs: u64 = env_number("KLAXON_BENCH_SECS", 10);
    let connections: usize = env_number("KLAXON_BENCH_CONNECTIONS", 64);
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir on the target disk");

    let startup = (0..5)
        .map(|run| {
            let (server, _, took) = start_server(&dir.path().join(format!("startup-{run}.db")));
            drop(server);
            took
        })
        .min()
        .expect("five runs");

    let db = dir.path().join("load.db");
    let (mut server, addr, _) = start_server(&db);
    let idle_rss = rss_kib(server.child.id(), "VmRSS");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let load = runtime.block_on(drive(addr, connections, Duration::from_secs(secs)));
    let peak_rss = rss_kib(server.child.id(), "VmHWM");
    server.child.kill().ok();
    server.child.wait().ok();

    let stored = count_events(&db);
    let mut latencies = load.latencies_us;
    latencies.sort_unstable();
    let measured = latencies.len();
    let rate = measured as f64 / load.measured_for.as_secs_f64();

    println!(
        "klaxon ingest benchmark ({connections} connections, {secs} s, SQLite synchronous=FULL, group commit)"
    );
    println!(
        "  start-up to first 202   {:>10.1} ms (best of 5)",
        startup.as_secs_f64() * 1e3
    );
    println!(
        "  idle RSS                {:>10.1} MiB",
        idle_rss as f64 / 1024.0
    );
    println!("  durable events/s        {rate:>10.0}");
    println!(
        "  latency p50             {:>10.2} ms",
        percentile(&latencies, 0.50)
    );
    println!(
        "  latency p99             {:>10.2} ms",
        percentile(&latencies, 0.99)
    );
    println!(
        "  latency max             {:>10.2} ms",
        percentile(&latencies, 1.0)
    );
    println!(
        "  peak RSS                {:>10.1} MiB",
        peak_rss as f64 / 1024.0
    );
    println!("  errors                  {:>10}", load.errors);
    println!(
        "  acknowledged / stored   {:>10} / {stored}",
        load.acknowledged
    );
    assert_eq!(load.errors, 0, "every request should succeed");
    assert_eq!(
        load.acknowledged, stored,
        "every acknowledged event is in the store, once"
    );
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Spawns the server and returns once it has accepted an event, with the time that took.
fn start_server(db: &Path) -> (Server, SocketAddr, Duration) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    let child = Command::new(BINARY)
        .arg("serve")
        .env_clear()
        .env("PORT", port.to_string())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn klaxon");
    let server = Server { child };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        loop {
            if let Ok(mut sender) = connect(addr).await
                && let Ok((StatusCode::ACCEPTED, _)) = post(&mut sender, "startup-probe").await
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    let took = started.elapsed();
    (server, addr, took)
}

struct Load {
    latencies_us: Vec<u32>,
    measured_for: Duration,
    acknowledged: i64,
    errors: u64,
}

/// Runs `connections` closed-loop clients for `duration` after a warm-up. Only requests that
/// start after the warm-up count toward rate and latency; all count toward `acknowledged`.
async fn drive(addr: SocketAddr, connections: usize, duration: Duration) -> Load {
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
                match post(&mut sender, &format!("c{c}-{n}")).await {
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

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One realistic event: a support ticket with an idempotency key, as a webhook would send.
async fn post(
    sender: &mut Sender,
    key: &str,
) -> Result<(StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let body = format!(
        r#"{{"type":"support.ticket.created","idempotency_key":"{key}","payload":{{"ticket_id":"{key}","subject":"Checkout returns 500 for EU customers","body":"Since 09:12 UTC every EU checkout fails with a 500; about 40 orders lost so far.","customer_tier":"enterprise","channel":"email"}}}}"#
    );
    sender.ready().await?;
    let request = Request::post("/v1/events")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1e3
}

/// A memory figure of a process from /proc, in KiB (VmRSS now, VmHWM peak).
fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .expect("field present in /proc status")
}

fn count_events(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the benchmark database");
    conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .expect("count")
}

fn env_number<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
