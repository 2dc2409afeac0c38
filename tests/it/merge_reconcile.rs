//! Reconciliation polls end to end: a sandbox Merge on loopback, Klaxon pointed at it with
//! `MERGE_ACCOUNT_TOKEN` (so the `default` account, both models), and the built-in sandbox
//! carrier. Polls are triggered with `POST /v1/merge/poll`; the timer's first poll is five
//! minutes away, so it never interferes.

use std::time::Duration;

use klaxon::sandbox::merge::{MergeSandboxConfig, SandboxMerge, sample};
use klaxon::signing::Secret;
use serde_json::Value;
use tempfile::TempDir;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{TestServer, apply_toml, assert_error, eventually};

const SECRET: &str = "merge-webhook-signing-key";

async fn sandbox() -> SandboxMerge {
    SandboxMerge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MergeSandboxConfig {
            webhook_secret: Some(Secret::new(SECRET)),
            ..MergeSandboxConfig::default()
        },
    )
    .unwrap()
}

fn env<'a>(base: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("MERGE_WEBHOOK_SECRET", SECRET),
        ("MERGE_API_KEY", "test-key"),
        ("MERGE_API_BASE", base),
        ("MERGE_ACCOUNT_TOKEN", sample::ZENDESK_ACCOUNT_TOKEN),
        // The sandbox carrier's ...1 answers and presses 1.
        ("ONCALL_NUMBER", "+15551000001"),
        ("KLAXON_SANDBOX_TIMING", "fast"),
    ];
    env.extend_from_slice(extra);
    env
}

async fn poll(server: &TestServer) -> (reqwest::StatusCode, Value) {
    server
        .send(server.http.post(server.url("/v1/merge/poll")))
        .await
}

/// What the poll of `model` for the `default` account stored.
fn stored(answer: &Value, model: &str) -> u64 {
    answer["polled"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == "default" && p["model"] == model)
        .unwrap_or_else(|| panic!("no {model} poll in {answer:#}"))["stored"]
        .as_u64()
        .unwrap()
}

/// The `modified_after` of each ticket listing Merge received, in order.
fn ticket_windows(merge: &SandboxMerge) -> Vec<OffsetDateTime> {
    merge
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/ticketing/v1/tickets")
        .map(|r| {
            let after = r.query_param("modified_after").expect("modified_after");
            OffsetDateTime::parse(after, &Rfc3339).expect("an RFC 3339 modified_after")
        })
        .collect()
}

async fn escalations(server: &TestServer) -> Vec<Value> {
    let (_, page) = server.get("/v1/escalations").await;
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_missed_webhook_is_picked_up_by_reconciliation_and_rings_once() {
    let merge = sandbox().await;
    let base = merge.base_url();
    let server = TestServer::start_with_toml("", &env(&base, &[])).await;
    // The ticket becomes urgent in Zendesk; Merge syncs it but its webhook never comes.
    merge
        .update_ticket(sample::TICKET_LOW, |t| t.priority = Some("URGENT".into()))
        .unwrap();

    let (status, answer) = poll(&server).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["status"], "ok", "{answer:#}");
    assert_eq!(stored(&answer, "ticket"), 1, "{answer:#}");
    assert_eq!(stored(&answer, "opportunity"), 0, "{answer:#}");
    let escalation = eventually(Duration::from_secs(15), || async {
        let all = escalations(&server).await;
        all.first().cloned()
    })
    .await;
    assert_eq!(escalation["policy"], "oncall", "{escalation:#}");

    // The same version polled again, then the late webhook for the same change: no new call.
    let (_, again) = poll(&server).await;
    assert_eq!(stored(&again, "ticket"), 0, "{again:#}");
    let status = merge
        .send_webhook(
            &server.url("/webhooks/merge"),
            "Ticket.changed",
            sample::TICKET_LOW,
            sample::LINKED_ZENDESK,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let events = eventually(Duration::from_secs(10), || async {
        let (_, page) = server
            .get("/v1/events?type=merge.ticket.changed&limit=100")
            .await;
        let events = page["data"].as_array()?.clone();
        (events.len() == 2 && events.iter().all(|e| e["pipeline_state"] == "done"))
            .then_some(events)
    })
    .await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["payload"]["merge_event"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"poll") && kinds.contains(&"Ticket.changed"),
        "{kinds:?}"
    );
    let polled = events
        .iter()
        .find(|e| e["payload"]["merge_event"] == "poll")
        .unwrap();
    assert_eq!(polled["source"], "merge");
    assert_eq!(polled["payload"]["id"], sample::TICKET_LOW);
    assert_eq!(polled["payload"]["linked_account_id"], "default");
    assert_eq!(polled["payload"]["account_name"], "Acme GmbH", "expanded");
    assert_eq!(
        escalations(&server).await.len(),
        1,
        "one call for one change"
    );
}

#[tokio::test]
async fn the_poll_cursor_moves_to_what_was_read_and_survives_a_restart() {
    let merge = sandbox().await;
    let base = merge.base_url();
    let env = env(&base, &[]);
    let started = OffsetDateTime::now_utc();
    let server = TestServer::start_with_toml("", &env).await;
    let changed = merge
        .update_ticket(sample::TICKET_HIGH, |t| {
            t.description = Some("worse".into())
        })
        .unwrap();

    let (_, first) = poll(&server).await;
    assert_eq!(stored(&first, "ticket"), 1, "{first:#}");
    let (_, second) = poll(&server).await;
    assert_eq!(stored(&second, "ticket"), 0, "{second:#}");
    let windows = ticket_windows(&merge);
    assert_eq!(windows.len(), 2, "{windows:?}");
    // No cursor yet: one interval (5 min) back. Then the newest `modified_at` read, less
    // a minute of overlap because `modified_at` is Merge's sync time.
    let five_minutes_before = started - time::Duration::minutes(5);
    assert!(
        windows[0] >= five_minutes_before - time::Duration::milliseconds(1)
            && windows[0] <= five_minutes_before + time::Duration::seconds(5),
        "{windows:?}"
    );
    let overlap = time::Duration::minutes(1);
    assert_eq!(windows[1], changed.modified_at - overlap, "{windows:?}");
    assert!(windows[1] > windows[0]);

    // The cursor is in the database: a restarted Klaxon resumes from it.
    let dir: TempDir = server.stop_keeping_files().await;
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| apply_toml(s, "", &env)).await;
    let (_, third) = poll(&server).await;
    assert_eq!(stored(&third, "ticket"), 0, "{third:#}");
    let windows = ticket_windows(&merge);
    assert_eq!(windows.len(), 3);
    assert_eq!(windows[2], windows[1]);
}

#[tokio::test]
async fn a_poll_interval_of_zero_turns_reconciliation_off() {
    let merge = sandbox().await;
    let base = merge.base_url();
    let extra = [
        ("MERGE_POLL_INTERVAL", "0"),
        ("KLAXON_API_TOKEN", "api-token-0123456789"),
    ];
    let server = TestServer::start_with_toml("", &env(&base, &extra)).await;
    merge
        .update_ticket(sample::TICKET_LOW, |t| t.priority = Some("URGENT".into()))
        .unwrap();
    // Like every /v1 route, the trigger needs the API token.
    assert_eq!(poll(&server).await.0, 401);
    let authorized = server
        .http
        .post(server.url("/v1/merge/poll"))
        .bearer_auth("api-token-0123456789");
    assert_error(
        &server.send(authorized).await,
        409,
        "reconciliation_disabled",
    );
    let listed = merge
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tickets") || r.path.ends_with("/opportunities"))
        .count();
    assert_eq!(listed, 0, "nothing polls Merge");
    assert_eq!(server.count_events().await, 0);
}

#[tokio::test]
async fn a_deal_moved_to_negotiation_without_a_webhook_rings_the_vp_once() {
    let merge = sandbox().await;
    let base = merge.base_url();
    // The sandbox carrier's ...1 answers and presses 1.
    let extra = [("VP_SALES_NUMBER", "+15551000011")];
    let server = TestServer::start_with_toml("", &env(&base, &extra)).await;
    merge
        .update_opportunity(sample::OPPORTUNITY_DISCOVERY, |o| {
            o.stage = Some(sample::STAGE_NEGOTIATION.into())
        })
        .unwrap();

    let (_, answer) = poll(&server).await;
    assert_eq!(stored(&answer, "opportunity"), 1, "{answer:#}");
    let escalation = eventually(Duration::from_secs(15), || async {
        escalations(&server)
            .await
            .into_iter()
            .find(|e| e["policy"] == "vp_sales")
    })
    .await;
    let (_, page) = server
        .get("/v1/events?type=merge.opportunity.changed")
        .await;
    let payload = &page["data"][0]["payload"];
    assert_eq!(payload["stage_name"], "negotiation", "{payload:#}");
    assert_eq!(payload["merge_event"], "poll");

    let (_, again) = poll(&server).await;
    assert_eq!(stored(&again, "opportunity"), 0, "{again:#}");
    let vp_calls = escalations(&server)
        .await
        .iter()
        .filter(|e| e["policy"] == "vp_sales")
        .count();
    assert_eq!(vp_calls, 1, "{escalation:#}");
}
