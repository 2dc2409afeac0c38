//! What the benchmarks share: the database (a SQLite file, or with
//! `KLAXON_BENCH_POSTGRES_URL` a fresh PostgreSQL schema), starting the release binary, a raw
//! HTTP/1 client, percentiles and memory figures from /proc.

#![allow(dead_code)] // each benchmark uses a different part

pub mod in_process;
pub mod load;
pub mod receiver;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

pub const BINARY: &str = env!("CARGO_BIN_EXE_klaxon");
/// Set to a PostgreSQL URL to benchmark on PostgreSQL instead of SQLite.
pub const POSTGRES_ENV: &str = "KLAXON_BENCH_POSTGRES_URL";

/// Where a benchmark keeps its events.
#[derive(Clone)]
pub enum BenchDb {
    Sqlite(PathBuf),
    /// A schema of its own on the server; `url` selects it through `search_path`.
    Postgres {
        url: klaxon::store::PostgresUrl,
    },
}

/// The database named `name`: `<dir>/<name>.db`, or on PostgreSQL the fresh schema
/// `klaxon_bench_<name>` (dropped first if an earlier run left it).
pub fn database(dir: &Path, name: &str) -> BenchDb {
    let Some(server) = postgres_server() else {
        return BenchDb::Sqlite(dir.join(format!("{name}.db")));
    };
    let schema = format!(
        "klaxon_bench_{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    block_on(async {
        let client = pg_connect(&server).await;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .expect("create the benchmark schema");
    });
    BenchDb::Postgres {
        url: server.with_options(&format!("-csearch_path={schema}")),
    }
}

pub fn postgres_server() -> Option<klaxon::store::PostgresUrl> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url.parse().expect("KLAXON_BENCH_POSTGRES_URL")),
        _ => None,
    }
}

/// "SQLite synchronous=FULL" or "PostgreSQL <version>, synchronous_commit=…".
pub fn describe(db: &BenchDb) -> String {
    match db {
        BenchDb::Sqlite(_) => "SQLite synchronous=FULL, group commit".to_owned(),
        BenchDb::Postgres { url } => block_on(async {
            let client = pg_connect(url).await;
            let version: String = client
                .query_one("SHOW server_version", &[])
                .await
                .expect("server version")
                .get(0);
            let sync: String = client
                .query_one("SHOW synchronous_commit", &[])
                .await
                .expect("synchronous_commit")
                .get(0);
            format!("PostgreSQL {version}, synchronous_commit={sync}, batched multi-row commits")
        }),
    }
}

impl BenchDb {
    /// `DATABASE_URL` for the server.
    pub fn url(&self) -> String {
        match self {
            BenchDb::Sqlite(path) => format!("sqlite://{}", path.display()),
            BenchDb::Postgres { url } => url.connection_string().to_owned(),
        }
    }
}

async fn pg_connect(url: &klaxon::store::PostgresUrl) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("connect to the benchmark PostgreSQL");
    tokio::spawn(connection);
    client
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

/// The server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Spawns `klaxon serve` on `db` with `env`, and returns once it accepted `probe` (a JSON
/// event body), with the time from spawn to that 202.
pub fn start_server(db: &BenchDb, env: &[(&str, String)], probe: &str) -> (Server, Duration) {
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
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn klaxon");
    let server = Server { child, addr };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        loop {
            if let Ok(mut sender) = connect(addr).await
                && let Ok((StatusCode::ACCEPTED, _)) = post(&mut sender, probe.to_owned()).await
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
    (server, started.elapsed())
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive HTTP/1 connection.
pub async fn connect(addr: SocketAddr) -> Result<Sender, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Posts a JSON event to `/v1/events`; returns the status and body.
pub async fn post(sender: &mut Sender, body: String) -> Result<(StatusCode, String), BoxError> {
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

/// The `p` quantile (0..=1) of sorted microseconds, in milliseconds.
pub fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1e3
}

/// A memory figure of a process from /proc, in KiB (VmRSS now, VmHWM peak).
pub fn rss_kib(pid: u32, field: &str) -> u64 {
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

/// The one number `sql` (a `SELECT COUNT(*) …`) returns on the benchmark database.
pub fn count_rows(db: &BenchDb, sql: &str) -> i64 {
    match db {
        BenchDb::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).expect("open the benchmark database");
            conn.query_row(sql, [], |row| row.get(0)).expect("count")
        }
        BenchDb::Postgres { url } => block_on(async {
            pg_connect(url)
                .await
                .query_one(sql, &[])
                .await
                .expect("count")
                .get(0)
        }),
    }
}

/// Waits (10 s at most) until every event in `db` has `per_event` succeeded deliveries: the
/// sink has seen them all, but their results may still be committing.
pub fn check_all_delivered(db: &BenchDb, per_event: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = count_rows(db, "SELECT COUNT(*) FROM events");
        let succeeded = count_rows(
            db,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'succeeded'",
        );
        if events * per_event == succeeded || Instant::now() > deadline {
            assert_eq!(events * per_event, succeeded, "every delivery succeeded");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn env_number<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Records one figure for `cargo bench --bench report`: when `KLAXON_BENCH_FIGURES` names a
/// file, a JSON line `{bench, name, value, unit, goal}` is appended to it. Each benchmark
/// still prints its own detail.
pub fn record(bench: &str, name: &str, value: f64, unit: &str, goal: &str) {
    let Ok(path) = std::env::var("KLAXON_BENCH_FIGURES") else {
        return;
    };
    let line = serde_json::json!({
        "bench": bench, "name": name, "value": value, "unit": unit, "goal": goal,
    });
    use std::io::Write as _;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(error) = written {
        eprintln!("cannot record figure {name:?} in {path}: {error}");
    }
}
