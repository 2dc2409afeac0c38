//! The engine against a real SQLite store in a temporary directory and the in-process
//! sandbox carrier; the carrier's webhooks are not listened to: each test feeds the inputs
//! those webhooks would bring, as `on_call_event` would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::Settings;
use crate::destinations::merge_writeback::{Object, job};
use crate::intake::{Arrival, Arrivals, Intake};
use crate::merge::writeback::Job;
use crate::pipeline::run::{EventView, run};
use crate::pipeline::settings::merge_writeback;
use crate::pipeline::{StepServices, classify::Classifier};
use crate::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
use crate::store::{DatabaseUrl, EventId, EventQuery, NewEscalation, NewEvent, Source, Target};
use crate::voice::escalation::machine::{Leg, Slot};
use crate::voice::escalation::plan::Plan;
use crate::voice::telnyx::{ApiKey, TelnyxClient, TelnyxConfig};

/// The sandbox's number plan: a number ending in 4 rings and is never answered.
const NEVER_ANSWERS: &str = "+15551000004";

/// A store in a temporary directory and a sandbox carrier, as one Klaxon process has them.
struct Rig {
    dir: tempfile::TempDir,
    store: Store,
    carrier: SandboxCarrier,
}

impl Rig {
    async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(&dir).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let carrier = SandboxCarrier::start(
            listener,
            CarrierConfig {
                signing_seed: SigningSeed::generate(),
                timing: Timing::fast(),
                ..CarrierConfig::default()
            },
        )
        .expect("the sandbox carrier starts");
        Rig {
            dir,
            store,
            carrier,
        }
    }

    /// An engine whose recorded events go to the pipelines through `intake`.
    fn engine(&self, intake: Intake) -> EngineHandle {
        let mut config = TelnyxConfig::new(
            ApiKey::new("KEY_TEST".to_owned()),
            "1494404757140276705",
            "+15550100000",
        );
        config.api_base = self.carrier.base_url();
        let client = TelnyxClient::new(config).expect("a valid test config");
        EngineHandle::builder(self.store.clone(), Carrier::new(client, None))
            .intake(intake)
            .build()
    }

    /// The intake of a process whose pipelines take every escalation event.
    fn intake(&self) -> (Intake, Arrivals) {
        Intake::new(self.store.clone(), |t: &str| t.starts_with("escalation."))
    }

    /// An escalation of a Merge ticket that rings one person who never answers.
    async fn ticket_escalation(&self) -> EscalationId {
        let event = EventId::new();
        let now = crate::clock::now_rfc3339();
        self.store
            .insert_event(NewEvent {
                id: event,
                source: Source::Merge,
                event_type: "merge.ticket.changed".into(),
                payload: "{}".into(),
                occurred_at: now.clone(),
                received_at: now,
                idempotency_key: None,
                request_hash: "hash".into(),
                pipeline_pending: false,
            })
            .await
            .expect("store the event");
        let id = EscalationId::new();
        let now_ms = crate::clock::now_ms();
        self.store
            .complete_pipeline(
                event,
                "{}".into(),
                Vec::new(),
                vec![NewEscalation {
                    id,
                    event_id: event,
                    pipeline: "merge-ticket-escalation".into(),
                    destination: "voice".into(),
                    policy: "oncall".into(),
                    plan: serde_json::to_string(&ticket_plan()).expect("plain data"),
                    state: serde_json::to_string(&Persisted::default()).expect("plain data"),
                }],
                now_ms,
                now_ms,
            )
            .await
            .expect("create the escalation");
        id
    }

    /// Stops this process's store and opens the file again, as a restart does.
    async fn restart(&mut self) {
        self.store.close().await;
        self.store = open(&self.dir).await;
    }
}

async fn open(dir: &tempfile::TempDir) -> Store {
    let database = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
    let settings = Settings::for_database(database.clone()).store;
    Store::open(&database, &settings)
        .await
        .expect("open the store")
}

fn ticket_plan() -> Plan {
    Plan::for_merge_ticket(vec![Slot {
        number: NEVER_ANSWERS.into(),
        name: Some("Ana".into()),
        ring_timeout_secs: 30,
        group: None,
        sms: None,
        schedule: None,
    }])
}

/// Rings the escalation's one person, whose phone then rings out.
async fn ring_out(engine: &EngineHandle, id: EscalationId) {
    engine.feed(id, Input::Start).await;
    engine
        .feed(
            id,
            Input::HungUp {
                attempt: 1,
                leg: Leg::A,
                cause: "timeout".into(),
            },
        )
        .await;
}

/// The escalation events of `event_type` in the store.
async fn stored(store: &Store, event_type: &str) -> Vec<crate::store::Event> {
    store
        .list_events(EventQuery {
            event_type: Some(event_type.into()),
            after: None,
            limit: 10,
        })
        .await
        .expect("list events")
        .data
}

/// The next event handed on, skipping the scan every intake starts with.
async fn handed_on(arrivals: &mut Arrivals) -> Option<crate::store::PendingEvent> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(1), arrivals.next()).await;
        match next.ok()? {
            Arrival::ScanDue => continue,
            Arrival::Event(event) => return Some(event),
            Arrival::Closed => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_escalation_records_its_outcome_with_the_transition_and_hands_it_on() {
    let rig = Rig::start().await;
    let (intake, mut arrivals) = rig.intake();
    let engine = rig.engine(intake);
    let id = rig.ticket_escalation().await;

    ring_out(&engine, id).await;

    let record = rig
        .store
        .load_escalation(id)
        .await
        .unwrap()
        .expect("it exists");
    assert_eq!(record.status, "unreached");
    let events = stored(&rig.store, "escalation.unreached").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.source, "klaxon");
    assert_eq!(
        event.idempotency_key.as_deref(),
        Some(id.to_string().as_str())
    );
    assert_eq!(event.pipeline_state.as_deref(), Some("pending"));
    let payload: Value = serde_json::from_str(event.payload.get()).unwrap();
    assert_eq!(payload["escalation_id"], id.to_string());
    assert_eq!(payload["event_id"], record.event_id);
    assert_eq!(payload["merge_ticket"]["ticket_id"], "1c");
    assert_eq!(payload["person"], "Ana");
    assert!(
        payload["timeline"].as_str().unwrap().contains("rang"),
        "{payload:#}"
    );
    let handed = handed_on(&mut arrivals).await.expect("handed on");
    assert_eq!(handed.id.to_string(), event.id);
    assert_eq!(handed.event_type, "escalation.unreached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_survives_a_crash_between_the_transition_and_its_delivery() {
    let mut rig = Rig::start().await;
    // The process dies right after the commit: nothing runs what it handed on.
    let (intake, arrivals) = rig.intake();
    drop(arrivals);
    let engine = rig.engine(intake);
    let id = rig.ticket_escalation().await;
    ring_out(&engine, id).await;
    drop(engine);

    rig.restart().await;
    // The runner's first scan finds the outcome, pending ...
    let pending = rig.store.pending_events(0, 10).await.unwrap();
    let [(_, event)] = pending.as_slice() else {
        panic!("one pending event: {pending:?}");
    };
    assert_eq!(event.event_type, "escalation.unreached");
    // ... and the built-in route makes it the ticket's write-back.
    let route = merge_writeback();
    let destinations: Vec<_> = route.destinations.iter().cloned().map(Arc::new).collect();
    let payload: Value = serde_json::from_str(&event.payload).unwrap();
    let services = StepServices::new(Classifier::new(None, None));
    let view = EventView {
        id: event.id,
        event_type: &event.event_type,
        occurred_at: &event.occurred_at,
        payload: &payload,
    };
    let result = run(
        &route,
        &destinations,
        view,
        &services,
        &Default::default(),
        None,
    )
    .await;
    let [delivery] = result.deliveries.as_slice() else {
        panic!("one write-back: {:?}", result.deliveries);
    };
    assert_eq!(delivery.destination.name, "merge.ticket-writeback");
    assert_eq!(delivery.target, Target::MergeTicket);
    let Some(Ok(Job::Ticket(ticket))) =
        crate::destinations::merge_writeback::stored_job(delivery.target, &delivery.body)
    else {
        panic!("a ticket job: {}", delivery.body);
    };
    assert_eq!(
        (ticket.ticket_id.as_str(), ticket.outcome.as_str()),
        ("1c", "unreached")
    );
    assert!(
        ticket.comment.starts_with(&format!(
            "Klaxon escalation {id}: nobody on the escalation policy"
        )),
        "{}",
        ticket.comment
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_without_pipelines_for_its_events_stores_them_not_pending() {
    let rig = Rig::start().await;
    let (intake, mut arrivals) = Intake::new(rig.store.clone(), |_: &str| false);
    let engine = rig.engine(intake);
    let id = rig.ticket_escalation().await;
    assert!(engine.cancel(id).await.unwrap(), "it was active");

    let events = stored(&rig.store, "escalation.cancelled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].pipeline_state, None);
    assert!(
        handed_on(&mut arrivals).await.is_none(),
        "nothing to hand on"
    );
    assert!(!engine.cancel(id).await.unwrap(), "cancelled once");
    assert_eq!(stored(&rig.store, "escalation.cancelled").await.len(), 1);
}

#[test]
fn what_the_engine_records_is_what_the_write_back_reads() {
    // The engine's payload, read by the destination as any consumer would.
    let plan = ticket_plan();
    let state = State {
        attempt: 1,
        ..State::new()
    };
    let stage = published::Stage::Outcome(crate::voice::escalation::machine::Outcome::Unreached);
    let id = EscalationId::new();
    let report = published::report((id, "e"), &plan, &state, &[], stage);
    let event = published::new_event(&report, stage, true);
    let payload: Value = serde_json::from_str(&event.payload).unwrap();
    let Some(Job::Ticket(ticket)) = job(
        Object::Ticket,
        &event.event_type,
        &event.occurred_at,
        &payload,
    ) else {
        panic!("a ticket job");
    };
    assert_eq!(ticket.escalation_id, id.to_string());
    assert_eq!(ticket.linked_account_id, "9c");
    assert!(
        ticket.comment.contains("(1 call(s), "),
        "{}",
        ticket.comment
    );
    assert_eq!(
        crate::voice::escalation::event::CALL_ENDED,
        crate::destinations::merge_writeback::CALL_ENDED_EVENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_escalation_records_its_outcome_and_its_cause_once() {
    let rig = Rig::start().await;
    let (intake, _arrivals) = rig.intake();
    let engine = rig.engine(intake);
    let id = rig.ticket_escalation().await;
    let resolved = Settlement::Resolved {
        source: "alertmanager".into(),
    };
    assert!(
        engine.settle(id, resolved.clone()).await.unwrap(),
        "it was active"
    );

    let row = rig.store.load_escalation(id).await.unwrap().unwrap();
    assert_eq!(row.status, "resolved");
    assert_eq!(stored(&rig.store, "escalation.resolved").await.len(), 1);
    let escalation = rig.store.get_escalation(id).await.unwrap().unwrap();
    let timeline = escalation.timeline.unwrap_or_default();
    assert!(
        timeline
            .iter()
            .any(|e| e.detail["event"] == "alert resolved at alertmanager"
                && e.detail["source"] == "alertmanager"),
        "{timeline:?}"
    );
    // Settled once: neither another settlement nor a cancel changes it.
    let acknowledged = Settlement::Acknowledged {
        by: "PagerDuty".into(),
    };
    assert!(!engine.settle(id, acknowledged).await.unwrap());
    assert!(!engine.cancel(id).await.unwrap());
    assert_eq!(stored(&rig.store, "escalation.resolved").await.len(), 1);
}
