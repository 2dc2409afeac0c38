//! Destination benchmark: the release binary on SQLite, pacing off, delivering to loopback
//! sinks that are real servers: the sandbox Slack, Discord, Telegram and Notion (in this
//! process, checking every request against the providers' rules), a PostgreSQL table, and
//! aiosmtpd for e-mail. The signed webhook of `cargo bench --bench delivery` runs in the same
//! run as the yardstick: every figure is also printed as a ratio to it, so a slower machine
//! shows as a slower yardstick, not as a regression of one kind.
//!
//! 1. Throughput per kind: KLAXON_BENCH_EVENTS events (10,000) are ingested over 64
//!    connections as fast as they go, on a fresh server and database per kind; the figure is
//!    deliveries seen by the sink divided by the time from the first event sent to the last
//!    delivery seen, so ingest is part of it. Chat is one pipeline with three destinations
//!    (Slack `chat.postMessage`, a Discord webhook, Telegram `sendMessage`): three deliveries
//!    per event. The table is the `postgres` kind (`KLAXON_BENCH_TABLE_URL`, by default the
//!    local server; skipped with a notice when it does not answer). E-mail needs a Python with
//!    aiosmtpd (as the tests do: `KLAXON_TEST_SMTP_PYTHON`, `target/smtp-venv`, or `python3`)
//!    and sends KLAXON_BENCH_EMAILS (3,000); skipped with a notice without one.
//! 2. Latency: events at a fixed 1,000/s for KLAXON_BENCH_SECS (5 s) to Slack alone, and to
//!    the webhook; for each event, the time from its 202 (the event is committed before the
//!    202 is sent) to the request's arrival at the sink; p50/p99/max.
//!
//! 3. A backlog, for the webhook (the yardstick) and the table: KLAXON_BENCH_BACKLOG events
//!    (20,000) are ingested while every send hangs, Klaxon is SIGKILLed and restarted with a
//!    sink that answers; deliveries/s from the first to the last after the restart, with no
//!    ingest competing (the batched insert's own pace, as in `delivery`'s backlog phase).
//!
//! Every phase then checks in Klaxon's store that every delivery succeeded.
//!
//! KLAXON_BENCH_MAX_IN_FLIGHT sets the server's KLAXON_MAX_IN_FLIGHT (64).
//!
//! Run: `cargo bench --bench destinations`. Template rendering is measured in process by
//! `cargo bench --bench pipeline` (pipeline overhead with a message).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::load::{MakeEvent, fixed_rate, ingest, sorted_micros};
use common::receiver::Receiver;
use common::{
    BenchDb, Server, check_all_delivered, database, env_number, percentile, record, start_server,
};
use klaxon::sandbox::chat::{ChatConfig, SandboxChat, Service};

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
const TABLE_SCHEMA: &str = "klaxon_bench_table";
const CHAT: [Service; 3] = [Service::Slack, Service::Discord, Service::Telegram];

fn main() {
    let events: u64 = env_number("KLAXON_BENCH_EVENTS", 10_000);
    let emails: u64 = env_number("KLAXON_BENCH_EMAILS", 3_000);
    let backlog_events: u64 = env_number("KLAXON_BENCH_BACKLOG", 20_000);
    let secs: u64 = env_number("KLAXON_BENCH_SECS", 5);
    let dir =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir on the target disk");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = runtime.block_on(Receiver::start());
    // Started inside the runtime, whose worker threads keep serving it.
    let chat = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sandbox chat");
        let config = ChatConfig {
            log_capacity: 4 * events as usize,
            ..ChatConfig::default()
        };
        SandboxChat::start(listener, config).expect("sandbox chat starts")
    });
    let table = runtime.block_on(Table::connect());
    let smtp = Smtp::start(dir.path());

    let settings = dir.path().join("klaxon.toml");
    std::fs::write(&settings, settings_toml(&receiver, &chat, &table, &smtp))
        .expect("write settings");
    let mut env = vec![
        // The servers' start-up warnings (sandbox mode, no API token) would bury the figures.
        ("RUST_LOG", "error".to_owned()),
        ("KLAXON_CONFIG", settings.display().to_string()),
        (
            "KLAXON_MAX_IN_FLIGHT",
            env_number("KLAXON_BENCH_MAX_IN_FLIGHT", 64u32).to_string(),
        ),
        ("BENCH_SECRET", SECRET.to_owned()),
        ("SLACK_BOT_TOKEN", "xoxb-sandbox".to_owned()),
        (
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/sandbox".to_owned(),
        ),
        ("TELEGRAM_BOT_TOKEN", "123456:sandbox".to_owned()),
        ("NOTION_TOKEN", "secret_sandbox".to_owned()),
    ];
    if let Some(table) = &table {
        env.push(("BENCH_TABLE_URL", table.url.clone()));
    }
    let start = |name: &str, make: MakeEvent| {
        let db = database(dir.path(), name);
        let (server, _) = start_server(&db, &env, &make("probe"));
        (db, server)
    };

    println!(
        "klaxon destination benchmark (release binary, SQLite, pacing off, loopback sinks; {events} events per kind)"
    );
    println!("  throughput: deliveries/s from the first event sent to the last delivery seen");

    // 1. Throughput, the webhook first: the yardstick.
    let (db, server) = start("webhook", hook_event);
    let webhook = runtime.block_on(burst(&server, events, hook_event, 1, || async {
        receiver.count() as u64
    }));
    check_all_delivered(&db, 1);
    drop(server);
    print_rate("signed webhook (yardstick)", webhook, webhook, "—");
    // The same for a backlog: the yardstick of the table's backlog below.
    receiver.set_delay(Duration::from_secs(3600));
    let webhook_backlog = runtime.block_on(backlog(
        &dir.path().join("webhook-backlog.db"),
        &env,
        &env,
        backlog_events,
        hook_event,
        || {
            receiver.set_delay(Duration::ZERO);
            receiver.reset();
        },
        || async { receiver.count() as u64 },
    ));
    print_rate(
        "  a backlog, after a restart",
        webhook_backlog,
        webhook_backlog,
        "—",
    );

    let chat_sent = || CHAT.iter().map(|s| chat.request_count(*s)).sum::<u64>();
    let (db, server) = start("chat", chat_event);
    let before = chat_sent();
    let chat_rate = runtime.block_on(burst(&server, events, chat_event, 3, || async {
        chat_sent() - before
    }));
    check_all_delivered(&db, 3);
    drop(server);
    print_rate(
        "Slack + Discord + Telegram",
        chat_rate,
        webhook,
        "≥ 5,000 /s in all",
    );
    record(
        "destinations",
        "chat deliveries/s (Slack + Discord + Telegram)",
        chat_rate,
        "/s",
        "≥ 5,000",
    );

    let (db, server) = start("notion", notion_event);
    let before = chat.request_count(Service::Notion);
    let notion_rate = runtime.block_on(burst(&server, events, notion_event, 1, || async {
        chat.request_count(Service::Notion) - before
    }));
    check_all_delivered(&db, 1);
    drop(server);
    print_rate("Notion pages", notion_rate, webhook, "—");

    match &table {
        Some(table) => {
            let (db, server) = start("table", table_event);
            let rows = runtime.block_on(burst(&server, events, table_event, 1, || table.rows()));
            check_all_delivered(&db, 1);
            drop(server);
            print_rate(
                "PostgreSQL table rows",
                rows,
                webhook,
                "≥ 20,000 rows/s batched",
            );
            let silent = runtime.block_on(silent_server());
            let stuck = with_var(
                &env,
                "BENCH_TABLE_URL",
                &format!("postgres://root@{silent}/postgres"),
            );
            let drained = runtime.block_on(backlog(
                &dir.path().join("table-backlog.db"),
                &stuck,
                &env,
                backlog_events,
                table_event,
                || {},
                || table.rows(),
            ));
            print_rate(
                "  a backlog, after a restart",
                drained,
                webhook_backlog,
                "≥ 20,000 rows/s batched",
            );
            record(
                "destinations",
                "PostgreSQL table rows/s draining a backlog",
                drained,
                "/s",
                "≥ 20,000",
            );
        }
        None => println!(
            "  PostgreSQL table: skipped, no server at KLAXON_BENCH_TABLE_URL ({})",
            Table::url()
        ),
    }

    match &smtp {
        Some(smtp) => {
            let (db, server) = start("email", mail_event);
            let before = smtp.received();
            let mails = runtime.block_on(burst(&server, emails, mail_event, 1, || async {
                smtp.received() - before
            }));
            check_all_delivered(&db, 1);
            drop(server);
            print_rate("e-mails (aiosmtpd)", mails, webhook, "≥ 500 /s");
            record("destinations", "e-mails/s over SMTP", mails, "/s", "≥ 500");
        }
        None => println!(
            "  e-mail: skipped, no Python with aiosmtpd (set KLAXON_TEST_SMTP_PYTHON or run .ci/run once)"
        ),
    }

    // 2. Latency at 1,000 events/s.
    let duration = Duration::from_secs(secs);
    receiver.reset();
    let (_, server) = start("hook-latency", hook_event);
    let acked = runtime.block_on(fixed_rate(server.addr, 1_000, duration, hook_event));
    let hook_latency = runtime.block_on(async {
        // + the probe
        wait_for(acked.len() + 1, || async { receiver.count() }).await;
        let arrived = receiver.arrivals.lock().unwrap();
        sorted_micros(acked.iter().map(|acked| {
            let seen = arrived.get(&acked.id).expect("every event delivered");
            seen.saturating_duration_since(acked.at)
        }))
    });
    drop(server);

    chat.reset();
    let (_, server) = start("slack-latency", slack_event);
    let acked = runtime.block_on(fixed_rate(server.addr, 1_000, duration, slack_event));
    let slack_latency = runtime.block_on(async {
        wait_for(acked.len() + 1, || async {
            chat.messages(Service::Slack).len()
        })
        .await;
        let arrived: std::collections::HashMap<String, SystemTime> = chat
            .messages(Service::Slack)
            .into_iter()
            .filter_map(|m| Some((key_in(&m.body.to_string())?, m.received_at)))
            .collect();
        sorted_micros(acked.iter().map(|acked| {
            let seen = arrived.get(&acked.key).expect("every event reached Slack");
            seen.duration_since(acked.wall).unwrap_or_default()
        }))
    });
    drop(server);

    println!("  latency at 1,000 events/s for {secs} s, from the 202 to the request at the sink:");
    println!("                                        p50        p99        max");
    for (name, sorted) in [
        ("signed webhook (yardstick)", &hook_latency),
        ("Slack chat.postMessage", &slack_latency),
    ] {
        println!(
            "    {name:<30} {:>7.2} ms {:>7.2} ms {:>7.2} ms   ({} events)",
            percentile(sorted, 0.5),
            percentile(sorted, 0.99),
            percentile(sorted, 1.0),
            sorted.len()
        );
    }
    println!(
        "    Slack p99 / webhook p99: {:.2} (goal: p99 ≤ 10 ms)",
        percentile(&slack_latency, 0.99) / percentile(&hook_latency, 0.99)
    );
    record(
        "destinations",
        "202 → Slack request p99 at 1,000 events/s",
        percentile(&slack_latency, 0.99),
        "ms",
        "≤ 10 ms",
    );
}

fn print_rate(name: &str, rate: f64, yardstick: f64, goal: &str) {
    println!(
        "    {name:<30} {rate:>9.0} /s   {:>5.2} × webhook   goal {goal}",
        rate / yardstick
    );
}

/// Ingests `n` events and waits until the sink has seen all `n × per_event` deliveries (plus
/// the probe's); deliveries per second over the whole time.
async fn burst<F, Fut>(server: &Server, n: u64, make: MakeEvent, per_event: u64, seen: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64>,
{
    // The probe that started the server is delivered first: wait for it, then count from it.
    wait_for(per_event, &seen).await;
    let before = seen().await;
    let started = Instant::now();
    ingest(server.addr, n, make).await;
    wait_for(before + n * per_event, &seen).await;
    (n * per_event) as f64 / started.elapsed().as_secs_f64()
}

/// Deliveries/s without ingest competing: `n` events are ingested while every send hangs
/// (`stuck_env` leads the destination to a server that never answers), Klaxon is SIGKILLed,
/// `unstick` runs, and Klaxon starts again on the same store with `env`; counted from the
/// first delivery the sink sees after the restart to the last.
#[allow(clippy::too_many_arguments)]
async fn backlog<F, Fut>(
    store: &Path,
    stuck_env: &[(&str, String)],
    env: &[(&str, String)],
    n: u64,
    make: MakeEvent,
    unstick: impl FnOnce(),
    seen: F,
) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64>,
{
    let db = BenchDb::Sqlite(store.to_owned());
    let (stuck, _) = tokio::task::block_in_place(|| start_server(&db, stuck_env, &make("probe")));
    ingest(stuck.addr, n, make).await;
    drop(stuck); // SIGKILL
    unstick();
    let before = seen().await;
    let (server, _) = tokio::task::block_in_place(|| start_server(&db, env, &make("probe-2")));
    wait_for(before + 1, &seen).await;
    let first = Instant::now();
    let first_seen = seen().await;
    // The backlog and both probes.
    wait_for(before + n + 2, &seen).await;
    let rate = (before + n + 2 - first_seen) as f64 / first.elapsed().as_secs_f64();
    tokio::task::block_in_place(|| check_all_delivered(&db, 1));
    drop(server);
    rate
}

/// A loopback server that accepts connections and never answers: a destination sending to
/// it waits out its timeout.
async fn silent_server() -> SocketAddr {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the silent server");
    let addr = silent.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    addr
}

/// `env` with `var` set to `value`.
fn with_var<'a>(env: &[(&'a str, String)], var: &str, value: &str) -> Vec<(&'a str, String)> {
    env.iter()
        .map(|(k, v)| {
            (
                *k,
                if *k == var {
                    value.to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

/// Polls until `seen()` reaches `target`; panics after two minutes without progress.
async fn wait_for<T, F, Fut>(target: T, seen: F)
where
    T: PartialOrd + Copy + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let mut last = seen().await;
    let mut progress = Instant::now();
    while last < target {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = seen().await;
        if now > last {
            progress = Instant::now();
        }
        last = now;
        assert!(
            progress.elapsed() < Duration::from_secs(120),
            "deliveries stalled at {last:?} of {target:?}"
        );
    }
}

fn settings_toml(
    receiver: &Receiver,
    chat: &SandboxChat,
    table: &Option<Table>,
    smtp: &Option<Smtp>,
) -> String {
    let base = |service| chat.service_base(service);
    let mut toml = format!(
        r#"
[[pipelines]]
name = "hook"
on = "hook.*"
[[pipelines.destinations]]
webhook = {{ url = "http://{hook}/hook", signing = "standard", secret_env = "BENCH_SECRET", allow_private = true }}

[[pipelines]]
name = "chat"
on = "chat.*"
[[pipelines.destinations]]
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "C0SANDBOX", max_per_second = 0, api_base = "{slack}" }}
[[pipelines.destinations]]
discord = {{ webhook_url_env = "DISCORD_WEBHOOK_URL", max_per_second = 0, api_base = "{discord}" }}
[[pipelines.destinations]]
telegram = {{ token_env = "TELEGRAM_BOT_TOKEN", chat_id = -1001, max_per_second = 0, api_base = "{telegram}" }}

[[pipelines]]
name = "slack"
on = "slack.*"
[[pipelines.destinations]]
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "C0SANDBOX", max_per_second = 0, api_base = "{slack}" }}

[[pipelines]]
name = "notion"
on = "notion.*"
[[pipelines.destinations]]
notion = {{ token_env = "NOTION_TOKEN", database_id = "00000000000000000000000000000001", max_per_second = 0, api_base = "{notion}" }}
"#,
        hook = receiver.addr,
        slack = base(Service::Slack),
        discord = base(Service::Discord),
        telegram = base(Service::Telegram),
        notion = base(Service::Notion),
    );
    if table.is_some() {
        toml.push_str(&format!(
            r#"
[[pipelines]]
name = "table"
on = "table.*"
[[pipelines.destinations]]
postgres = {{ url_env = "BENCH_TABLE_URL", table = "{TABLE_SCHEMA}.events", create_table = true }}
"#
        ));
    }
    if let Some(smtp) = smtp {
        toml.push_str(&format!(
            r#"
[[pipelines]]
name = "mail"
on = "mail.*"
[[pipelines.destinations]]
email = {{ host = "127.0.0.1", port = {}, tls = "none", from = "Klaxon <alerts@example.com>", to = ["oncall@example.com"] }}
"#,
            smtp.addr.port()
        ));
    }
    toml
}

/// A support ticket of type `<kind>.ticket.created`; its subject carries `key=<key> end`, so
/// a message can be matched to its event.
fn event(kind: &str, key: &str) -> String {
    format!(
        r#"{{"type":"{kind}.ticket.created","idempotency_key":"{key}","payload":{{"ticket_id":"{key}","subject":"Checkout returns 500 for EU customers key={key} end","description":"Since 09:12 UTC every checkout from the EU storefront fails after the payment step.","priority":"urgent","customer":{{"name":"Example Shop EU"}},"customer_tier":"enterprise"}}}}"#
    )
}

fn hook_event(key: &str) -> String {
    event("hook", key)
}
fn chat_event(key: &str) -> String {
    event("chat", key)
}
fn slack_event(key: &str) -> String {
    event("slack", key)
}
fn notion_event(key: &str) -> String {
    event("notion", key)
}
fn table_event(key: &str) -> String {
    event("table", key)
}
fn mail_event(key: &str) -> String {
    event("mail", key)
}

/// The `key=<key> end` in a message.
fn key_in(text: &str) -> Option<String> {
    let rest = &text[text.find("key=")? + 4..];
    Some(rest[..rest.find(" end")?].to_owned())
}

/// The PostgreSQL server the table kind writes to, with a fresh schema.
struct Table {
    url: String,
    client: tokio_postgres::Client,
}

impl Table {
    fn url() -> String {
        std::env::var("KLAXON_BENCH_TABLE_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
    }

    async fn connect() -> Option<Table> {
        let url = Table::url();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .ok()?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {TABLE_SCHEMA} CASCADE; CREATE SCHEMA {TABLE_SCHEMA}"
            ))
            .await
            .expect("create the benchmark's table schema");
        Some(Table { url, client })
    }

    /// Rows in the table so far (0 before Klaxon created it).
    async fn rows(&self) -> u64 {
        let sql = format!("SELECT COUNT(*) FROM {TABLE_SCHEMA}.events");
        match self.client.query_one(&sql, &[]).await {
            Ok(row) => u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            Err(_) => 0,
        }
    }
}

/// aiosmtpd on loopback with a handler that only counts (the figure is Klaxon's, not a
/// parser's); stopped when dropped.
struct Smtp {
    addr: SocketAddr,
    child: Child,
    received: Arc<AtomicU64>,
}

const SMTP_SINK: &str = r#"
import sys
from aiosmtpd.controller import Controller

class Count:
    async def handle_DATA(self, server, session, envelope):
        sys.stdout.write("m\n")
        sys.stdout.flush()
        return "250 2.0.0 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("listening", flush=True)
sys.stdin.read()
controller.stop()
"#;

impl Smtp {
    fn start(dir: &Path) -> Option<Smtp> {
        let python = smtp_python()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let script = dir.join("smtp_sink.py");
        std::fs::write(&script, SMTP_SINK).expect("write the SMTP sink");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let mut lines = BufReader::new(child.stdout.take()?).lines();
        if !matches!(lines.next(), Some(Ok(line)) if line == "listening") {
            return None;
        }
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        std::thread::spawn(move || {
            for _ in lines.map_while(Result::ok) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        Some(Smtp {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            received,
        })
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the sink stops when its input closes
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The first Python that imports aiosmtpd, looked for as the e-mail tests do.
fn smtp_python() -> Option<String> {
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/target/smtp-venv/bin/python");
    std::env::var("KLAXON_TEST_SMTP_PYTHON")
        .ok()
        .into_iter()
        .chain([local.to_owned(), "python3".to_owned()])
        .find(|python| {
            Command::new(python)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
}
