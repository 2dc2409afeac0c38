//! Intake against a real SQLite store: what it stores, what it hands over, and what it asks
//! the runner to scan for.

use serde_json::json;

use super::{Arrival, Arrivals, Incoming, Intake};
use crate::settings::Settings;
use crate::store::{DatabaseUrl, Inserted, Source, Store};

async fn intake(capacity: usize) -> (Intake, Arrivals, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
    let store = Store::open(&url, &Settings::for_database(url.clone()).store)
        .await
        .expect("the store opens");
    let (intake, arrivals) =
        Intake::with_capacity(store.clone(), |t| t.starts_with("support."), capacity);
    (intake, arrivals, store, dir)
}

fn ticket(key: &str, subject: &str) -> Incoming {
    Incoming {
        source: Source::Api,
        event_type: "support.ticket.created".into(),
        payload: json!({ "subject": subject }).to_string(),
        occurred_at: None,
        idempotency_key: Some(key.into()),
        request_hash: format!("hash-{subject}"),
    }
}

#[tokio::test]
async fn the_first_arrival_is_a_scan_for_what_the_last_run_left_pending() {
    let (_intake, mut arrivals, _store, _dir) = intake(8).await;
    assert!(matches!(arrivals.next().await, Arrival::ScanDue));
}

#[tokio::test]
async fn an_accepted_event_is_stored_pending_and_handed_over_once() {
    let (intake, mut arrivals, store, _dir) = intake(8).await;
    let _scan = arrivals.next().await;

    let Inserted::Created(id) = intake
        .accept(ticket("T-1", "outage"))
        .await
        .expect("stored")
    else {
        panic!("a new event")
    };
    let again = intake.accept(ticket("T-1", "outage")).await.expect("read");
    let conflict = intake.accept(ticket("T-1", "other")).await.expect("read");

    assert_eq!(again, Inserted::Duplicate(id));
    assert_eq!(conflict, Inserted::Conflict(id));
    let Arrival::Event(event) = arrivals.next().await else {
        panic!("the event is handed over")
    };
    assert_eq!(event.id, id);
    let stored = store
        .get_event(id)
        .await
        .expect("readable")
        .expect("stored");
    assert_eq!(stored.pipeline_state.as_deref(), Some("pending"));
}

#[tokio::test]
async fn an_event_no_pipeline_wants_is_stored_but_not_handed_over() {
    let (intake, _arrivals, store, _dir) = intake(8).await;
    let published = intake
        .publish(
            Source::Klaxon,
            "billing.paid",
            &json!({"amount": 1}),
            "k".into(),
        )
        .await
        .expect("stored");
    assert!(published);
    let page = store.pending_events(0, 10).await.expect("readable");
    assert!(page.is_empty(), "{page:?}");
}

#[tokio::test]
async fn an_event_the_full_queue_cannot_take_asks_for_a_scan() {
    let (intake, mut arrivals, _store, _dir) = intake(1).await;
    let _scan = arrivals.next().await;

    intake.accept(ticket("T-1", "one")).await.expect("stored");
    intake.accept(ticket("T-2", "two")).await.expect("stored");

    assert!(matches!(arrivals.next().await, Arrival::ScanDue));
    assert!(matches!(arrivals.next().await, Arrival::Event(_)));
}
