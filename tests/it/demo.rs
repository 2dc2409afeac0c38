//! `klaxon demo --fast`, the real binary with its output piped, as CI runs it: every scenario
//! reaches its outcome, the output is plain text, and nothing is left behind. Without
//! PostgreSQL the chat scenario's table half is skipped with a hint; with
//! `KLAXON_TEST_POSTGRES_URL` a second run writes every event to a table in a schema of its
//! own, and the rows are checked.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::binary::BINARY;
use crate::support::postgres;

/// The demo's five scenarios, as its summary names them.
const SCENARIOS: [&str; 5] = [
    "Urgent Merge ticket, on-call says \"connect me\"",
    "Critical ticket: voicemail, then second on-call",
    "Deal in negotiation: VP warm-transferred to AE",
    "Billing event to a failing webhook receiver",
    "Critical ticket in Slack, every event in a table",
];

/// The event types the scenarios send, one event each.
const EVENT_TYPES: [&str; 5] = [
    "merge.ticket.changed",
    "support.ticket.created",
    "merge.opportunity.changed",
    "billing.invoice.payment_failed",
    "support.ticket.escalated",
];

/// Runs `klaxon demo --fast <extra>` in an empty directory with a hostile environment and
/// returns its output once every scenario passed, and the directory's leftovers were none.
fn run_demo(extra: &[&str]) -> String {
    let workdir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = std::process::Command::new(BINARY)
        .arg("demo")
        .arg("--fast")
        .args(extra)
        // A clean environment, plus the variables that would leave sandbox mode if the demo
        // read them: it must not.
        .env_clear()
        .env("TELNYX_API_KEY", "KEY_REAL_ACCOUNT")
        .env("MERGE_API_KEY", "real-merge-key")
        .env("SLACK_BOT_TOKEN", "xoxb-real-workspace")
        .env("DATABASE_URL", "sqlite://should-not-exist.db")
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run klaxon demo");
    let took = started.elapsed();
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // Piped: no colour, no progress line redrawn with \r.
    assert!(
        !stdout.contains('\x1b'),
        "ANSI escapes in piped output:\n{stdout}"
    );
    assert!(!stdout.contains('\r'), "carriage returns in piped output");

    let summary = stdout
        .split("\nSummary\n")
        .nth(1)
        .unwrap_or_else(|| panic!("a summary:\n{stdout}"));
    for scenario in SCENARIOS {
        let row = summary
            .lines()
            .find(|line| line.contains(scenario))
            .unwrap_or_else(|| panic!("{scenario} in the summary:\n{summary}"));
        assert!(row.trim_end().ends_with("passed"), "{row}");
    }
    assert!(summary.contains("All 5 scenarios reached their expected outcome."));

    // Its own temporary database, not the working directory's.
    let left: Vec<_> = std::fs::read_dir(workdir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "files left in the working directory: {left:?}"
    );
    stdout
}

#[test]
fn the_demo_plays_every_scenario_to_its_expected_outcome() {
    let stdout = run_demo(&[]);

    // The timelines were printed as they happened.
    for line in [
        "said \"connect me\" → connect",
        "voicemail detected",
        "hung up by us",
        "pressed 2 → acknowledge",
        "bridged",
        "write-back: ticket status → IN_PROGRESS",
        "CRM note added to the deal",
        "attempt 1: 503, will retry",
        "http://127.0.0.1:",
        // The critical ticket as it arrived in the demo's sandbox Slack.
        "the model classified it: urgency critical → Slack #alerts",
        "Slack #alerts (C0SANDBOX): \"[CRITICAL] Checkout is down for every EU customer\"",
        "delivery succeeded after 1 attempt(s)",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    // No PostgreSQL: the table half is skipped, saying how to see it, and still passes.
    let skipped: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("table skipped:"))
        .collect();
    assert_eq!(skipped.len(), 1, "one skip line:\n{stdout}");
    assert!(
        skipped[0].contains("klaxon demo --table-url postgres://user@host/db"),
        "{}",
        skipped[0]
    );
    let summary_row = stdout
        .lines()
        .find(|line| line.contains(SCENARIOS[4]) && line.trim_end().ends_with("passed"))
        .unwrap_or_else(|| panic!("the chat row:\n{stdout}"));
    assert!(
        summary_row.contains("in Slack #alerts; table skipped (no --table-url)"),
        "{summary_row}"
    );
}

#[tokio::test]
async fn with_a_table_url_every_event_is_a_row_in_a_fresh_table() {
    let Some(server) = postgres::server() else {
        return;
    };
    let raw_url = std::env::var(postgres::ENV).expect("set when server() is Some");
    postgres::drop_old_schemas_once(&server);
    let client = postgres::connect(&server).await;
    let schema = format!(
        "klaxon_test_demo_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    // A stale demo table (the demo must drop it, not append to it) and a table of someone
    // else's (the demo must not touch it).
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.klaxon_demo_events (id text PRIMARY KEY, stale boolean);
             INSERT INTO {schema}.klaxon_demo_events VALUES ('evt_from_an_earlier_run', true);
             CREATE TABLE {schema}.analytics (id text);
             INSERT INTO {schema}.analytics VALUES ('keep me');"
        ))
        .await
        .expect("set up the test schema");

    // The demo's table lands in the test's schema: the URL's search_path puts it first.
    let separator = if raw_url.contains('?') { '&' } else { '?' };
    let table_url = format!("{raw_url}{separator}options=-csearch_path%3D{schema}");
    let stdout = tokio::task::spawn_blocking(move || run_demo(&["--table-url", &table_url]))
        .await
        .expect("the demo ran");

    let rows = client
        .query(
            &format!(
                "SELECT id, type, urgency #>> '{{}}', payload FROM {schema}.klaxon_demo_events"
            ),
            &[],
        )
        .await
        .expect("the demo's table, with the columns it was created with");
    let ids: BTreeSet<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    assert_eq!(ids.len(), rows.len());
    assert!(
        !ids.contains("evt_from_an_earlier_run"),
        "the earlier run's row was dropped with its table"
    );
    let types: BTreeSet<String> = rows.iter().map(|r| r.get::<_, String>(1)).collect();
    for event_type in EVENT_TYPES {
        assert!(types.contains(event_type), "{event_type} in {types:?}");
    }
    let chat = rows
        .iter()
        .find(|r| r.get::<_, String>(1) == "support.ticket.escalated")
        .expect("the chat scenario's row");
    assert_eq!(
        chat.get::<_, Option<String>>(2).as_deref(),
        Some("critical")
    );
    let payload: serde_json::Value = chat.get(3);
    assert_eq!(payload["subject"], "Checkout is down for every EU customer");

    // What the demo printed is what the table holds.
    let count = format!(
        "SELECT count(*) FROM klaxon_demo_events → {n} rows for {n} events",
        n = rows.len()
    );
    assert!(stdout.contains(&count), "{count:?} in:\n{stdout}");
    assert!(
        stdout.contains("table:      klaxon_demo_events at postgres://"),
        "the table and its database are named:\n{stdout}"
    );
    assert!(stdout.contains("dropped first"), "{stdout}");
    assert!(!stdout.contains("table skipped"), "{stdout}");
    let summary_row = stdout
        .lines()
        .find(|line| line.contains(SCENARIOS[4]) && line.trim_end().ends_with("passed"))
        .unwrap_or_else(|| panic!("the chat row:\n{stdout}"));
    assert!(
        summary_row.contains(&format!(
            "in Slack #alerts; {n} table rows for {n} events",
            n = rows.len()
        )),
        "{summary_row}"
    );

    let kept: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.analytics"), &[])
        .await
        .expect("the other table is still there")
        .get(0);
    assert_eq!(kept, 1);
    let _ = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}
