//! SIGKILL mid-delivery loses nothing, for the e-mail, Notion and PostgreSQL table
//! destinations (Slack, Discord and Telegram have theirs in `process`). The real binary
//! accepts events while the destination fails in a way that is retried (a real SMTP server
//! answering 451, the sandbox Notion answering 503, inserts held past their timeout by a
//! lock another session holds), is killed once every delivery is on its retry schedule, and
//! is started again on the same database with the failure gone: every accepted event then
//! arrives exactly once, rows the killed process's last insert stored after it died included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use klaxon::sandbox::chat::{
    ChatConfig, Failure, NOTION_DATABASE_ID, NOTION_TOKEN, SandboxChat, Service,
};
use serde_json::{Value, json};

use crate::support::binary::KlaxonProcess;
use crate::support::postgres;
use crate::support::smtp::{SmtpServer, SmtpTls};

/// Events accepted before each kill.
const EVENTS: usize = 40;
/// How long each stage may take on a loaded 2-core CI box.
const WAIT: Duration = Duration::from_secs(60);

/// Writes `dir/klaxon.toml`: one pipeline for `order.*` with the one destination whose
/// `[[pipelines.destinations]]` lines are `destination`, retried every 200 ms for 20 s so
/// nothing is dead-lettered before the kill. Returns its path.
fn write_settings(dir: &Path, destination: &str) -> String {
    let retries = vec!["\"200ms\""; 100].join(", ");
    let path = dir.join("klaxon.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[delivery]
retry_schedule = [{retries}]
[[pipelines]]
name = "orders"
on = "order.*"
[[pipelines.destinations]]
{destination}
"#
        ),
    )
    .expect("write settings");
    path.display().to_string()
}

/// Posts [`EVENTS`] events and returns their ids, each acknowledged with a 202.
async fn post_events(http: &reqwest::Client, server: &KlaxonProcess) -> Vec<String> {
    let mut ids = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        let body = json!({"type": "order.created", "payload": {"subject": format!("order {n}")}});
        let response = http
            .post(format!("{}/v1/events", server.url))
            .json(&body)
            .send()
            .await
            .expect("klaxon answers");
        assert_eq!(response.status(), 202);
        let answer: Value = response.json().await.expect("a JSON answer");
        ids.push(answer["id"].as_str().expect("the event's id").to_owned());
    }
    ids
}

/// Every delivery, as Klaxon's API lists them.
async fn deliveries(http: &reqwest::Client, server: &KlaxonProcess) -> Vec<Value> {
    let page: Value = http
        .get(format!("{}/v1/deliveries?limit=500", server.url))
        .send()
        .await
        .expect("klaxon answers")
        .json()
        .await
        .expect("a JSON page");
    page["data"]
        .as_array()
        .expect("a list of deliveries")
        .clone()
}

/// How many deliveries are in each state, with how many attempts: for failure messages.
fn summary(deliveries: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for delivery in deliveries {
        let key = format!(
            "{} after {} attempt(s)",
            delivery["state"], delivery["attempts"]
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Waits until each event's delivery has failed at least twice, so the kill finds every
/// one on its retry schedule (some in flight). Panics if one was delivered or dead-lettered:
/// then the failure set up before the kill did not hold, and the test would prove nothing.
async fn wait_until_every_delivery_is_retrying(
    http: &reqwest::Client,
    server: &KlaxonProcess,
    events: &[String],
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = deliveries(http, server).await;
        if let Some(settled) = all
            .iter()
            .find(|d| d["state"] == "succeeded" || d["state"] == "dead")
        {
            panic!("a delivery settled before the kill: {settled:#}");
        }
        let retried: HashSet<&str> = all
            .iter()
            .filter(|d| d["attempts"].as_u64().is_some_and(|n| n >= 2))
            .filter_map(|d| d["event_id"].as_str())
            .collect();
        if events.iter().all(|e| retried.contains(e.as_str())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "within {WAIT:?}, not every delivery failed twice: {:?}",
            summary(&all)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until Klaxon reports exactly one delivery per event, each succeeded.
async fn wait_until_every_delivery_succeeded(
    http: &reqwest::Client,
    server: &KlaxonProcess,
    events: &[String],
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = deliveries(http, server).await;
        let succeeded: Vec<&str> = all
            .iter()
            .filter(|d| d["state"] == "succeeded")
            .filter_map(|d| d["event_id"].as_str())
            .collect();
        if all.len() == events.len() && succeeded.len() == events.len() {
            let expected: HashSet<&str> = events.iter().map(String::as_str).collect();
            assert_eq!(
                succeeded.into_iter().collect::<HashSet<_>>(),
                expected,
                "one delivery per accepted event"
            );
            return;
        }
        if let Some(dead) = all.iter().find(|d| d["state"] == "dead") {
            panic!("a delivery was dead-lettered after the restart: {dead:#}");
        }
        assert!(
            Instant::now() < deadline,
            "within {WAIT:?} of the restart, not every delivery succeeded: {} of {} listed, {:?}",
            all.len(),
            events.len(),
            summary(&all)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that `arrived` (event id → the copies that arrived) holds every accepted event
/// exactly once, and nothing else.
fn assert_each_arrived_once(events: &[String], arrived: &HashMap<String, Vec<String>>) {
    let expected: HashSet<&str> = events.iter().map(String::as_str).collect();
    let got: HashSet<&str> = arrived.keys().map(String::as_str).collect();
    let missing: Vec<&&str> = expected.difference(&got).collect();
    let unknown: Vec<&&str> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "lost: {missing:?}; not accepted, yet arrived: {unknown:?}"
    );
    let repeated: Vec<_> = arrived.iter().filter(|(_, c)| c.len() > 1).collect();
    assert!(repeated.is_empty(), "arrived more than once: {repeated:?}");
}

/// More 451 replies than the attempts before the kill use, so no message is accepted then.
const BUSY_REPLIES: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_is_emailed_once_after_sigkill() {
    let Some(smtp) = SmtpServer::start(SmtpTls::None, None) else {
        return;
    };
    for _ in 0..BUSY_REPLIES {
        smtp.answer_next("451 4.3.0 Mailbox busy, try again later");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let config = write_settings(
        dir.path(),
        &format!(
            r#"name = "mail"
email = {{ host = "127.0.0.1", port = {}, tls = "none", from = "Klaxon <alerts@example.com>", to = ["oncall@example.com"] }}"#,
            smtp.port
        ),
    );
    let env = [("KLAXON_CONFIG", config.as_str())];
    let http = reqwest::Client::new();
    let mut server = KlaxonProcess::start(&db, &env);
    let events = post_events(&http, &server).await;
    wait_until_every_delivery_is_retrying(&http, &server, &events).await;
    server.kill_hard();
    assert!(
        smtp.received().is_empty(),
        "the scripted 451s ran out: a message was accepted before the kill"
    );

    smtp.forget_queued_replies();
    let server = KlaxonProcess::start(&db, &env);
    wait_until_every_delivery_succeeded(&http, &server, &events).await;
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    for message in smtp.received() {
        // The text part ends with "Event <id> (<type>), <time>".
        let text = &message.part("text/plain").content;
        let event = text
            .rsplit_once("\nEvent ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the event's id in {text:?}"));
        arrived
            .entry(event.to_owned())
            .or_default()
            .push(message.header("Message-ID").to_owned());
    }
    // Nothing was accepted before the kill, so no send was cut off between the server
    // taking it and Klaxon recording that (the one case at-least-once allows a repeat in).
    assert_each_arrived_once(&events, &arrived);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_becomes_one_notion_page_after_sigkill() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the sandbox");
    let chat_config = ChatConfig {
        log_capacity: 10 * EVENTS,
        ..ChatConfig::default()
    };
    let chat = SandboxChat::start(listener, chat_config).expect("sandbox chat starts");
    chat.script(
        Service::Notion,
        Failure::ServerError { status: 503 },
        100_000,
    )
    .expect("a 5xx can be scripted");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let config = write_settings(
        dir.path(),
        &format!(
            r#"name = "board"
[pipelines.destinations.notion]
token_env = "NOTION_TOKEN"
database_id = "{NOTION_DATABASE_ID}"
api_base = "{}"
max_per_second = 0
properties = {{ Name = {{ title = "{}" }}, Event = {{ rich_text = "{}" }} }}"#,
            chat.service_base(Service::Notion),
            "{{ message.title }}",
            "{{ event.id }}",
        ),
    );
    let env = [
        ("KLAXON_CONFIG", config.as_str()),
        ("NOTION_TOKEN", NOTION_TOKEN),
    ];
    let http = reqwest::Client::new();
    let mut server = KlaxonProcess::start(&db, &env);
    let events = post_events(&http, &server).await;
    wait_until_every_delivery_is_retrying(&http, &server, &events).await;
    server.kill_hard();
    assert!(
        chat.messages(Service::Notion).is_empty(),
        "a page was made before the kill"
    );

    // Lifts the scripted failures.
    chat.reset();
    let server = KlaxonProcess::start(&db, &env);
    wait_until_every_delivery_succeeded(&http, &server, &events).await;
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    for page in chat.messages(Service::Notion) {
        let event: String = page.body["properties"]["Event"]["rich_text"]
            .as_array()
            .unwrap_or_else(|| panic!("an Event property in {:#}", page.body))
            .iter()
            .filter_map(|item| item["text"]["content"].as_str())
            .collect();
        arrived.entry(event).or_default().push(page.id);
    }
    // Nothing was accepted before the kill, so no send was cut off between the server
    // taking it and Klaxon recording that (the one case at-least-once allows a repeat in).
    assert_each_arrived_once(&events, &arrived);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_is_one_table_row_after_sigkill() {
    let Some(url) = postgres::server() else {
        return;
    };
    postgres::drop_old_schemas_once(&url);
    let client = postgres::connect(&url).await;
    // `klaxon_test_…`: a failed run's schema is dropped by the next run.
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let schema = format!("klaxon_test_sigkill_{suffix}");
    let table = format!("{schema}.orders");
    // Every insert waits at a gate (an advisory lock) that this test holds: past its 1 s
    // timeout it is cancelled and retried. The gate is in a trigger, not a table lock, so
    // the statement is already prepared and running when Klaxon dies, and still runs after.
    let gate = i64::from_str_radix(&suffix[..7], 16).expect("hex digits");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {table} (event_id text PRIMARY KEY, type text, payload jsonb);
             CREATE FUNCTION {schema}.wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_advisory_xact_lock_shared({gate}); RETURN NULL; END $$;
             CREATE TRIGGER gate BEFORE INSERT ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION {schema}.wait_at_gate();"
        ))
        .await
        .expect("create the table");
    let holder = postgres::connect(&url).await;
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({gate})"))
        .await
        .expect("close the gate");

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("klaxon.db");
    let config = write_settings(
        dir.path(),
        &format!(
            r#"name = "warehouse"
postgres = {{ url_env = "ORDERS_DATABASE_URL", table = "{table}", columns = {{ event_id = "id", type = "type", payload = "payload" }}, timeout_secs = 1 }}"#
        ),
    );
    // Klaxon's own store is SQLite here whatever the suite runs on, so the only PostgreSQL
    // in play is the destination's.
    let store = format!("sqlite://{}", db.display());
    let env = [
        ("KLAXON_CONFIG", config.as_str()),
        ("ORDERS_DATABASE_URL", url.connection_string()),
        ("DATABASE_URL", store.as_str()),
    ];
    let http = reqwest::Client::new();
    let mut server = KlaxonProcess::start(&db, &env);
    let events = post_events(&http, &server).await;
    wait_until_every_delivery_is_retrying(&http, &server, &events).await;
    // An insert waits at the gate most of the time; the kill comes while one does.
    let at_gate = format!(
        "SELECT count(*) FROM pg_locks \
         WHERE locktype = 'advisory' AND objid = {gate} AND objsubid = 1 AND NOT granted"
    );
    let waiting = async || -> i64 {
        client
            .query_one(&at_gate, &[])
            .await
            .expect("read the locks")
            .get(0)
    };
    let deadline = Instant::now() + WAIT;
    while waiting().await == 0 {
        assert!(Instant::now() < deadline, "no insert waited at the gate");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_hard();
    holder
        .batch_execute(&format!("SELECT pg_advisory_unlock({gate})"))
        .await
        .expect("open the gate");
    // The insert the dead Klaxon left runs on (unless its timeout came first): rows it may
    // store that Klaxon never heard of, which the restarted one must count as delivered.
    let running_insert = format!(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%INSERT INTO %{schema}%'"
    );
    loop {
        let running: i64 = client
            .query_one(&running_insert, &[])
            .await
            .expect("read the sessions")
            .get(0);
        if running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed Klaxon's insert runs on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rows_from_the_dead = count_rows(&client, &table).await;

    let server = KlaxonProcess::start(&db, &env);
    wait_until_every_delivery_succeeded(&http, &server, &events).await;
    let rows = client
        .query(&format!("SELECT event_id FROM {table}"), &[])
        .await
        .expect("read the rows");
    let mut arrived: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let event: String = row.get(0);
        arrived.entry(event.clone()).or_default().push(event);
    }
    // The primary key rules out a second row; what counts is that none is missing.
    assert_each_arrived_once(&events, &arrived);
    eprintln!("{rows_from_the_dead} row(s) were stored by the killed Klaxon's last insert");
    let _ = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}

async fn count_rows(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count the rows")
        .get(0)
}
