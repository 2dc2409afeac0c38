//! The PostgreSQL table destination against the real server: rows land typed and exactly
//! once, odd names and values are stored as given, failures are judged (retry, dead, one
//! row alone), and concurrent sends share statements. Each test has its own schema
//! (`klaxon_test_pgtable_<random>`, dropped afterwards, or by the next run's clean-up when a
//! test fails). Without `KLAXON_TEST_POSTGRES_URL` these are skipped with a notice, except
//! the server-that-is-down test, which needs no server.
//!
//! The throughput figure: `KLAXON_TEST_POSTGRES_URL=postgres://root@127.0.0.1:5432/postgres
//! cargo test --release --test it postgres_table::throughput -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use klaxon::destinations::Verdict;
use klaxon::destinations::postgres_table::{
    self, PostgresTableSender, PostgresTableSettings, RawPostgresTable,
};
use klaxon::store::PostgresUrl;
use serde_json::{Value, json};

use crate::support::postgres;

/// The variable the test settings name for the URL.
const URL_ENV: &str = "PGTABLE_TEST_URL";

/// This test's schema on the test server.
struct Db {
    url: PostgresUrl,
    client: tokio_postgres::Client,
    schema: String,
}

impl Db {
    /// A fresh schema, or `None` (with the suite's notice) when there is no test server.
    async fn new() -> Option<Db> {
        let url = postgres::server()?;
        postgres::drop_old_schemas_once(&url);
        let client = postgres::connect(&url).await;
        let schema = format!(
            "klaxon_test_pgtable_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create the test schema");
        Some(Db {
            url,
            client,
            schema,
        })
    }

    /// Validated settings for `fields` (the TOML of `postgres = { … }` without `url_env`).
    fn settings(&self, fields: &str) -> PostgresTableSettings {
        settings_for(self.url.connection_string(), fields)
    }

    async fn execute(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    async fn count(&self, table: &str) -> i64 {
        self.client
            .query_one(
                &format!("SELECT count(*) FROM {}.{table}", self.schema),
                &[],
            )
            .await
            .expect("count rows")
            .get(0)
    }

    async fn drop(self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await;
    }
}

fn settings_for(url: &str, fields: &str) -> PostgresTableSettings {
    let raw: RawPostgresTable = toml::from_str(&format!("url_env = \"{URL_ENV}\"\n{fields}"))
        .expect("test settings are well-formed");
    let url = url.to_owned();
    postgres_table::settings(raw, &|name| (name == URL_ENV).then(|| url.clone()))
        .unwrap_or_else(|problems| panic!("test settings are valid: {problems:?}"))
}

/// The document a webhook would receive for an event.
fn document(id: &str, labels: Value, payload: Value) -> Value {
    json!({
        "id": id,
        "type": "support.ticket.created",
        "occurred_at": "2025-03-01T12:34:56.789Z",
        "labels": labels,
        "payload": payload,
    })
}

fn event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// Sends every body at once and returns the reports in order.
async fn send_all(
    sender: &Arc<PostgresTableSender>,
    bodies: Vec<String>,
) -> Vec<klaxon::destinations::Report> {
    let mut sends = tokio::task::JoinSet::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let sender = sender.clone();
        sends.spawn(async move { (i, sender.send(&body).await) });
    }
    let mut reports = sends.join_all().await;
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, report)| report).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_columns_round_trip_with_their_types() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!(
        "CREATE TABLE {s}.typed (event_id text PRIMARY KEY, kind text, urgency text, amount numeric, \
         count integer, vip boolean, at timestamptz, body jsonb, tags jsonb, first_tag text, \
         missing text, untouched text DEFAULT 'default')"
    ))
    .await;
    let settings = db.settings(&format!(
        r#"table = "{s}.typed"
columns = {{ event_id = "id", kind = "type", urgency = "labels.urgency", amount = "payload.amount", count = "payload.count", vip = "payload.vip", at = "occurred_at", body = "payload", tags = "payload.tags", first_tag = "payload.tags.0", missing = "payload.nope" }}"#
    ));
    let id = event_id();
    let payload =
        json!({"amount": 12.5, "count": 3, "vip": true, "tags": ["a", "b"], "nested": {"x": null}});
    let doc = document(&id, json!({"urgency": "high"}), payload.clone());
    let body = postgres_table::render(&settings, &doc);
    let row: Value = serde_json::from_str(&body).expect("the body is JSON");
    assert_eq!(
        row,
        json!({"event_id": id, "kind": "support.ticket.created", "urgency": "high", "amount": 12.5,
               "count": 3, "vip": true, "at": "2025-03-01T12:34:56.789Z", "body": payload,
               "tags": ["a", "b"], "first_tag": "a", "missing": null})
    );

    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let report = sender.send(&body).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    assert_eq!(report.response.as_deref(), Some("stored"));

    let stored = db
        .client
        .query_one(
            &format!(
                "SELECT event_id, kind, urgency, amount::text, count, vip, \
                 at = '2025-03-01T12:34:56.789Z'::timestamptz, body, tags, first_tag, missing, untouched \
                 FROM {s}.typed"
            ),
            &[],
        )
        .await
        .expect("read the row back");
    assert_eq!(stored.get::<_, String>(0), id);
    assert_eq!(stored.get::<_, String>(1), "support.ticket.created");
    assert_eq!(stored.get::<_, String>(2), "high");
    assert_eq!(stored.get::<_, String>(3), "12.5");
    assert_eq!(stored.get::<_, i32>(4), 3);
    assert!(stored.get::<_, bool>(5));
    assert!(stored.get::<_, bool>(6), "the time is the event's");
    assert_eq!(stored.get::<_, Value>(7), payload);
    assert_eq!(stored.get::<_, Value>(8), json!(["a", "b"]));
    assert_eq!(stored.get::<_, String>(9), "a");
    assert_eq!(
        stored.get::<_, Option<String>>(10),
        None,
        "a missing path is NULL"
    );
    assert_eq!(
        stored.get::<_, Option<String>>(11).as_deref(),
        Some("default"),
        "a column the settings do not map keeps its default"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_values_are_stored_as_given() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!("CREATE TABLE {s}.victims (x int)"))
        .await;
    let table = r#"ev"il; DROP TABLE victims; --"#;
    let settings = db.settings(&format!(
        r#"table = '{s}.{table}'
columns = {{ 'id"; DROP TABLE victims; --' = "id", "'); DROP TABLE victims; --" = "payload.text", "Big Text" = "payload.big", "ünï" = "payload.unicode" }}
create_table = true"#
    ));
    let id = format!("{}'; DROP TABLE victims; --\"", event_id());
    let text = "Robert'); DROP TABLE victims; -- \" $1 \\ %s";
    let big = "x".repeat(10_000);
    let unicode = "日本語 🚨 \u{200b}";
    let body = postgres_table::render(
        &settings,
        &document(
            &id,
            json!({}),
            json!({"text": text, "big": big, "unicode": unicode}),
        ),
    );
    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let report = sender.send(&body).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");

    let stored = db
        .client
        .query_one(
            &format!(
                r#"SELECT "id""; DROP TABLE victims; --", "'); DROP TABLE victims; --", "Big Text", "ünï"
                   FROM {s}."ev""il; DROP TABLE victims; --""#
            ),
            &[],
        )
        .await
        .expect("the table has the names as written");
    assert_eq!(stored.get::<_, String>(0), id);
    assert_eq!(stored.get::<_, Value>(1), json!(text));
    assert_eq!(stored.get::<_, Value>(2), json!(big));
    assert_eq!(stored.get::<_, Value>(3), json!(unicode));
    assert_eq!(
        db.count("victims").await,
        0,
        "the other table is still there"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_text_is_dead_with_the_reason() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!(
        "CREATE TABLE {s}.nul (event_id text PRIMARY KEY, note text, body json)"
    ))
    .await;
    let settings = db.settings(&format!(
        r#"table = "{s}.nul"
columns = {{ event_id = "id", note = "payload.note", body = "payload" }}"#
    ));
    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let payload = json!({"note": "before\u{0}after"});
    let report = sender
        .send(&postgres_table::render(
            &settings,
            &document(&event_id(), json!({}), payload),
        ))
        .await;
    assert_eq!(report.verdict, Verdict::Dead, "{report:?}");
    let error = report.error.unwrap_or_default();
    assert!(error.contains("22P05") && error.contains("NUL"), "{error}");
    assert!(!error.contains(db.url.connection_string()), "{error}");
    assert_eq!(db.count("nul").await, 0);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_stores_the_row_once() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    let settings = db.settings(&format!("table = \"{s}.once\"\ncreate_table = true"));
    let sender = Arc::new(PostgresTableSender::new(&settings).expect("a sender"));
    let body = postgres_table::render(
        &settings,
        &document(&event_id(), json!({}), json!({"n": 1})),
    );
    let first = sender.send(&body).await;
    assert_eq!(first.verdict, Verdict::Delivered, "{first:?}");
    assert_eq!(first.response.as_deref(), Some("stored"));
    let again = sender.send(&body).await;
    assert_eq!(again.verdict, Verdict::Delivered, "{again:?}");
    assert_eq!(
        again.response.as_deref(),
        Some("already stored (same event id)")
    );
    // The same row twice in one batch, as two racing attempts would send it.
    let twin = postgres_table::render(
        &settings,
        &document(&event_id(), json!({}), json!({"n": 2})),
    );
    let reports = send_all(&sender, vec![twin.clone(), twin.clone(), twin]).await;
    assert!(
        reports.iter().all(|r| r.verdict == Verdict::Delivered),
        "{reports:?}"
    );
    assert_eq!(db.count("once").await, 2);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_makes_a_typed_table_at_first_use() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    let settings = db.settings(&format!("table = \"{s}.made\"\ncreate_table = true"));
    let sender = Arc::new(PostgresTableSender::new(&settings).expect("a sender"));
    let bodies: Vec<String> = (0..20)
        .map(|i| {
            postgres_table::render(
                &settings,
                &document(&event_id(), json!({"urgency": "high"}), json!({"i": i})),
            )
        })
        .collect();
    let reports = send_all(&sender, bodies).await;
    assert!(
        reports.iter().all(|r| r.verdict == Verdict::Delivered),
        "{reports:?}"
    );
    let columns: Vec<(String, String)> = db
        .client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'made' ORDER BY ordinal_position",
            &[&db.schema],
        )
        .await
        .expect("read the columns")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected = [
        ("event_id", "text"),
        ("type", "text"),
        ("occurred_at", "timestamp with time zone"),
        ("labels", "jsonb"),
        ("payload", "jsonb"),
    ];
    assert_eq!(
        columns,
        expected.map(|(c, t)| (c.to_owned(), t.to_owned())).to_vec()
    );
    let urgency: String = db
        .client
        .query_one(
            &format!("SELECT labels->>'urgency' FROM {s}.made LIMIT 1"),
            &[],
        )
        .await
        .expect("read a row")
        .get(0);
    assert_eq!(urgency, "high");
    assert_eq!(db.count("made").await, 20);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_cannot_take_the_row_is_dead_with_the_servers_reason() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!(
        "CREATE TABLE {s}.no_key (event_id text, body jsonb); \
         CREATE TABLE {s}.keyed (event_id text PRIMARY KEY)"
    ))
    .await;
    let cases = [
        ("missing", "event_id = \"id\"", "does not exist"),
        ("keyed", "event_id = \"id\", body = \"payload\"", "42703"),
        ("no_key", "event_id = \"id\", body = \"payload\"", "42P10"),
    ];
    for (table, columns, code) in cases {
        let settings = db.settings(&format!(
            "table = \"{s}.{table}\"\ncolumns = {{ {columns} }}"
        ));
        let sender = PostgresTableSender::new(&settings).expect("a sender");
        let report = sender
            .send(&postgres_table::render(
                &settings,
                &document(&event_id(), json!({}), json!({})),
            ))
            .await;
        assert_eq!(report.verdict, Verdict::Dead, "{table}: {report:?}");
        let error = report.error.unwrap_or_default();
        assert!(error.contains(code), "{table}: {error}");
        if table == "missing" {
            assert!(error.contains("create_table = true"), "{error}");
        }
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_is_dead() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    let role = format!("{s}_reader");
    db.execute(&format!(
        "CREATE TABLE {s}.guarded (event_id text PRIMARY KEY); CREATE ROLE {role} LOGIN; \
         GRANT USAGE ON SCHEMA {s} TO {role}"
    ))
    .await;
    // The test server trusts local logins: connect as the role without a password.
    let connect = db.url.connection_string();
    let as_role = match connect.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{role}@{rest}")
        }
        None => panic!("the test URL is a URL"),
    };
    let settings = settings_for(
        &as_role,
        &format!("table = \"{s}.guarded\"\ncolumns = {{ event_id = \"id\" }}"),
    );
    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let report = sender
        .send(&postgres_table::render(
            &settings,
            &document(&event_id(), json!({}), json!({})),
        ))
        .await;
    drop(sender);
    db.execute(&format!("DROP OWNED BY {role}; DROP TABLE {s}.guarded"))
        .await;
    // The pool's connections are closed once the sender is gone; the role can then go.
    for _ in 0..50 {
        if db
            .client
            .batch_execute(&format!("DROP ROLE {role}"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report.verdict, Verdict::Dead, "{report:?}");
    assert!(
        report.error.as_deref().unwrap_or("").contains("42501"),
        "{report:?}"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_does_not_condemn_its_batch() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!(
        "CREATE TABLE {s}.strict (event_id text PRIMARY KEY, amount integer NOT NULL)"
    ))
    .await;
    let settings = db.settings(&format!(
        "table = \"{s}.strict\"\ncolumns = {{ event_id = \"id\", amount = \"payload.amount\" }}"
    ));
    let sender = Arc::new(PostgresTableSender::new(&settings).expect("a sender"));
    let amounts: Vec<Value> = (0..300)
        .map(|i| match i {
            17 => json!("not a number"),
            150 => Value::Null,
            299 => json!(3_000_000_000i64),
            i => json!(i),
        })
        .collect();
    let bodies: Vec<String> = amounts
        .iter()
        .map(|amount| {
            postgres_table::render(
                &settings,
                &document(&event_id(), json!({}), json!({"amount": amount})),
            )
        })
        .collect();
    let reports = send_all(&sender, bodies).await;
    for (i, report) in reports.iter().enumerate() {
        match i {
            17 | 150 | 299 => {
                assert_eq!(report.verdict, Verdict::Dead, "row {i}: {report:?}");
            }
            _ => assert_eq!(report.verdict, Verdict::Delivered, "row {i}: {report:?}"),
        }
    }
    assert!(
        reports[17].error.as_deref().unwrap_or("").contains("22P02"),
        "{:?}",
        reports[17]
    );
    assert!(
        reports[150]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("23502"),
        "{:?}",
        reports[150]
    );
    assert!(
        reports[299]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("22003"),
        "{:?}",
        reports[299]
    );
    assert_eq!(db.count("strict").await, 297);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_statements() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    let settings = db.settings(&format!("table = \"{s}.many\"\ncreate_table = true"));
    let sender = Arc::new(PostgresTableSender::new(&settings).expect("a sender"));
    let rows = 2_000;
    let bodies: Vec<String> = (0..rows)
        .map(|i| {
            postgres_table::render(
                &settings,
                &document(&event_id(), json!({}), json!({"i": i})),
            )
        })
        .collect();
    let reports = send_all(&sender, bodies).await;
    assert!(
        reports.iter().all(|r| r.verdict == Verdict::Delivered),
        "{:?}",
        reports.iter().find(|r| r.verdict != Verdict::Delivered)
    );
    let stats = sender.stats();
    assert_eq!(stats.rows, rows);
    assert!(
        stats.statements * 5 <= stats.rows,
        "{} statements for {} rows: not batched",
        stats.statements,
        stats.rows
    );
    assert_eq!(db.count("many").await, rows as i64);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_times_out_is_retried() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    db.execute(&format!(
        "CREATE TABLE {s}.locked (event_id text PRIMARY KEY)"
    ))
    .await;
    let settings = db.settings(&format!(
        "table = \"{s}.locked\"\ncolumns = {{ event_id = \"id\" }}\ntimeout_secs = 1"
    ));
    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let body = postgres_table::render(&settings, &document(&event_id(), json!({}), json!({})));
    // Another session holds the table: the insert waits until its timeout.
    let holder = postgres::connect(&db.url).await;
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {s}.locked IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .expect("lock the table");
    let started = Instant::now();
    let report = sender.send(&body).await;
    assert!(
        matches!(report.verdict, Verdict::Retry { .. }),
        "{report:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    holder.batch_execute("ROLLBACK").await.expect("unlock");
    let again = sender.send(&body).await;
    assert_eq!(again.verdict, Verdict::Delivered, "{again:?}");
    assert_eq!(db.count("locked").await, 1);
    db.drop().await;
}

/// Needs no PostgreSQL: nothing listens on port 1.
#[tokio::test]
async fn a_server_that_is_down_is_retried_without_showing_the_url() {
    let settings = settings_for(
        "postgres://klaxon:s3cret@127.0.0.1:1/analytics?sslmode=disable",
        "table = \"events\"\ntimeout_secs = 5",
    );
    let sender = PostgresTableSender::new(&settings).expect("a sender");
    let body = postgres_table::render(&settings, &document("evt_1", json!({}), json!({})));
    let report = sender.send(&body).await;
    assert!(
        matches!(report.verdict, Verdict::Retry { .. }),
        "{report:?}"
    );
    let shown = format!("{report:?} {settings:?} {}", settings.summary());
    assert!(
        !shown.contains("s3cret") && !shown.contains("klaxon:"),
        "{shown}"
    );
    assert!(
        report.error.as_deref().unwrap_or("").contains("connect"),
        "{report:?}"
    );
}

/// Rows per second through the batcher: 10,000 rows sent all at once, then 10,000 by 64,
/// 256 and 1,024 senders that each wait for their answer (as the delivery worker does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn throughput() {
    let Some(db) = Db::new().await else { return };
    let s = &db.schema;
    let settings = db.settings(&format!(
        "table = \"{s}.throughput\"\ncolumns = {{ event_id = \"id\", type = \"type\", occurred_at = \"occurred_at\", urgency = \"labels.urgency\", body = \"payload\" }}\ncreate_table = true"
    ));
    let sender = Arc::new(PostgresTableSender::new(&settings).expect("a sender"));
    let rows = 10_000;
    let bodies = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                postgres_table::render(
                    &settings,
                    &document(
                        &event_id(),
                        json!({"urgency": "high"}),
                        json!({"ticket": {"id": i, "subject": "Printer on fire", "priority": "urgent", "requester": "ops@example.com"}}),
                    ),
                )
            })
            .collect()
    };
    // Warm up: the table, the pool's connections, the prepared statements.
    send_all(&sender, bodies(2_000)).await;

    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    let before = sender.stats();
    let all = bodies(rows);
    let started = Instant::now();
    let reports = send_all(&sender, all).await;
    let took = started.elapsed();
    assert!(reports.iter().all(|r| r.verdict == Verdict::Delivered));
    let statements = sender.stats().statements - before.statements;
    println!(
        "postgres_table throughput: {rows} rows sent at once: {took:?} = {:.0} rows/s \
         ({statements} statements)",
        rate(took)
    );

    // A closed loop, as the delivery worker sends: each sender waits for its answer.
    for senders in [64, 256, 1024] {
        let before = sender.stats();
        let queue = Arc::new(std::sync::Mutex::new(bodies(rows)));
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..senders {
            let (sender, queue) = (sender.clone(), queue.clone());
            workers.spawn(async move {
                loop {
                    let next = queue.lock().expect("no sender panicked").pop();
                    let Some(body) = next else { break };
                    let report = sender.send(&body).await;
                    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
                }
            });
        }
        workers.join_all().await;
        let took = started.elapsed();
        let statements = sender.stats().statements - before.statements;
        println!(
            "postgres_table throughput: {rows} rows by {senders} senders: {took:?} = {:.0} rows/s \
             ({statements} statements, {:.0} rows each)",
            rate(took),
            rows as f64 / statements as f64
        );
    }
    assert_eq!(db.count("throughput").await, 2_000 + 4 * rows as i64);
    db.drop().await;
}

/// Klaxon in process with one pipeline for `ticket.*` that redacts `payload.body` and
/// delivers to `table` in `db`'s schema through a `postgres` destination; `extra` is added to
/// its table.
async fn klaxon_for(db: &Db, table: &str, extra: &str) -> crate::support::TestServer {
    let toml = format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "analytics"
on = "ticket.*"
steps = [{{ redact = {{ fields = ["body"] }} }}]
[[pipelines.destinations]]
name = "events-log"
postgres = {{ url_env = "{URL_ENV}", table = "{}.{table}", columns = {{ event_id = "id", kind = "type", subject = "payload.subject", body = "payload.body" }}{extra} }}
"#,
        db.schema
    );
    crate::support::TestServer::start_with_toml(&toml, &[(URL_ENV, db.url.connection_string())])
        .await
}

/// Ingests a ticket event and returns its id.
async fn ingest(server: &crate::support::TestServer, subject: &str) -> String {
    let (status, body) = server
        .post_event(&json!({
            "type": "ticket.created",
            "payload": {"subject": subject, "body": "card 4242 4242 4242 4242"},
        }))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("an event id").to_owned()
}

/// The event's one delivery, once it reached `state`.
async fn delivery_in_state(server: &crate::support::TestServer, event: &str, state: &str) -> Value {
    crate::support::eventually(Duration::from_secs(15), || async {
        let (_, detail) = server.get(&format!("/v1/events/{event}")).await;
        let delivery = detail["deliveries"].get(0)?.clone();
        (delivery["state"] == state).then_some(delivery)
    })
    .await
}

async fn replay(server: &crate::support::TestServer, delivery: &Value) {
    let id = delivery["id"].as_str().expect("a delivery id");
    let path = format!("/v1/deliveries/{id}/replay");
    let (status, body) = server.send(server.http.post(server.url(&path))).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn routed_events_become_one_redacted_row_each_and_a_replay_adds_none() {
    let Some(db) = Db::new().await else { return };
    let server = klaxon_for(&db, "tickets", ", create_table = true").await;
    let (_, destinations) = server.get("/v1/destinations").await;
    let listed = destinations.to_string();
    assert!(listed.contains("\"postgres\""), "{listed}");
    assert!(listed.contains("tickets"), "{listed}");

    let mut events = Vec::new();
    for subject in [
        "Checkout down",
        "Refund stuck",
        "<script>alert(1)</script> '; DROP",
    ] {
        events.push(ingest(&server, subject).await);
    }
    let mut delivered = Vec::new();
    for event in &events {
        delivered.push(delivery_in_state(&server, event, "succeeded").await);
    }
    assert_eq!(db.count("tickets").await, 3);
    let rows = db
        .client
        .query(
            &format!(
                "SELECT event_id, kind, subject::text, body::text FROM {}.tickets",
                db.schema
            ),
            &[],
        )
        .await
        .expect("read the rows");
    let mut subjects: Vec<String> = rows.iter().map(|r| r.get::<_, String>(2)).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "<script>alert(1)</script> '; DROP",
            "Checkout down",
            "Refund stuck"
        ]
        .map(|s| format!("\"{s}\""))
    );
    for row in &rows {
        let id: String = row.get(0);
        assert!(events.contains(&id), "{id} is one of the events");
        assert_eq!(row.get::<_, String>(1), "ticket.created");
        let body: String = row.get(3);
        assert!(
            !body.contains("4242"),
            "the pipeline's redacted payload: {body}"
        );
    }

    // A replay sends the same row again: it is already there, so it is delivered and the
    // table still holds one row per event.
    replay(&server, &delivered[0]).await;
    crate::support::eventually(Duration::from_secs(15), || async {
        let (_, detail) = server.get(&format!("/v1/events/{}", events[0])).await;
        let delivery = detail["deliveries"].get(0)?.clone();
        (delivery["state"] == "succeeded" && delivery["attempts"] == 2).then_some(())
    })
    .await;
    assert_eq!(db.count("tickets").await, 3);
    db.drop().await;
}

#[tokio::test]
async fn a_missing_table_is_dead_with_the_servers_reason_until_created_and_replayed() {
    let Some(db) = Db::new().await else { return };
    let server = klaxon_for(&db, "later", "").await;
    let event = ingest(&server, "Checkout down").await;

    let dead = delivery_in_state(&server, &event, "dead").await;
    assert_eq!(dead["attempts"], 1, "dead at once, not retried: {dead}");
    let id = dead["id"].as_str().expect("a delivery id");
    let (_, detail) = server.get(&format!("/v1/deliveries/{id}")).await;
    let error = detail["attempt_log"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("does not exist"), "{detail}");
    assert!(
        !detail.to_string().contains(db.url.connection_string()),
        "never the URL: {detail}"
    );

    db.execute(&format!(
        "CREATE TABLE {}.later (event_id text PRIMARY KEY, kind text, subject text, body jsonb)",
        db.schema
    ))
    .await;
    replay(&server, &dead).await;
    delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(db.count("later").await, 1);
    db.drop().await;
}
