//! The runner against a real SQLite store in a temporary directory: what it commits for an
//! event, how it finds events the hand-off missed, what it leaves alone, and that it lets
//! runs in flight finish on shutdown.
//!
//! The delivery worker here has already stopped, so the deliveries a run planned stay in the
//! store exactly as the runner committed them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::{PipelineRunner, RunnerParts};
use crate::Settings;
use crate::delivery::DeliveryWorker;
use crate::destinations::Outbox;
use crate::destinations::webhook::WebhookSender;
use crate::intake::Incoming;
use crate::intake::Intake;
use crate::llm::{ChatModel, ModelConfig};
use crate::pipeline::StepServices;
use crate::pipeline::classify::Classifier;
use crate::pipeline::spec::PipelineSpec;
use crate::settings::Raw;
use crate::store::{
    DatabaseUrl, Delivery, DeliveryQuery, EventId, Inserted, NewEvent, PendingEvent, Source, Store,
};

const WAIT: Duration = Duration::from_secs(10);

const TICKETS: &str = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
steps = [{ classify = { field = "urgency", labels = ["low", "critical"] } }]
[[pipelines.destinations]]
name = "oncall"
webhook = { url = "http://127.0.0.1:9/in", signing = "none", allow_private = true }
"#;

/// A runner over a fresh store, and what a test needs to drive it.
struct Rig {
    store: Store,
    /// Hands events over on a queue of one, so a burst of two fills it.
    intake: Intake,
    /// `None` once stopped.
    runner: Option<PipelineRunner>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Starts a runner for the pipelines of `toml`; `model` is the classifier's model URL
    /// (`None`: the built-in rules decide).
    async fn start(toml: &str, model: Option<String>) -> Rig {
        Rig::start_with(toml, model, Vec::new()).await
    }

    /// [`Rig::start`] with `built_in` pipelines after the declared ones, as the server adds
    /// the Merge write-back.
    async fn start_with(toml: &str, model: Option<String>, built_in: Vec<PipelineSpec>) -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let raw = Raw::from_toml(Path::new("test.toml"), toml)
            .unwrap_or_else(|e| panic!("test settings parse: {e}"));
        let mut settings = Settings::resolve(raw, |_| None)
            .unwrap_or_else(|e| panic!("test settings are valid: {e:?}"));
        settings.pipelines.extend(built_in);
        let url = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
        let store = Store::open(&url, &settings.store)
            .await
            .expect("the store opens");
        let model = model.map(|base_url| {
            ChatModel::new(ModelConfig {
                base_url,
                model: "test-model".to_owned(),
                api_key: None,
                timeout: Duration::from_secs(5),
            })
            .expect("a model client")
        });
        let (stop, stopped) = watch::channel(false);
        let (intake, arrivals) = Intake::with_capacity(
            store.clone(),
            crate::pipeline::takes(&settings.pipelines),
            1,
        );
        let runner = PipelineRunner::start(
            RunnerParts {
                pipelines: settings.pipelines.clone(),
                policies: settings.voice.policies.clone(),
                services: StepServices::new(Classifier::new(model, None)),
                store: store.clone(),
                worker: stopped_worker(&store, &settings).await,
                escalations: None,
            },
            arrivals,
            stopped,
        );
        Rig {
            store,
            intake,
            runner: Some(runner),
            stop,
            _dir: dir,
        }
    }

    /// Signals shutdown and waits for the runner to stop.
    async fn shut_down(&mut self) {
        self.stop.send(true).expect("the runner listens");
        let runner = self.runner.take().expect("running");
        tokio::time::timeout(WAIT, runner.join())
            .await
            .expect("the runner stops within its grace");
    }

    /// Stores an event as intake does (pending when some pipeline takes its type), without
    /// handing it over: the test decides how the runner learns of it.
    async fn store_event(&self, event_type: &str, payload: Value) -> PendingEvent {
        let payload = payload.to_string();
        let event = NewEvent {
            id: EventId::new(),
            source: Source::Api,
            event_type: event_type.to_owned(),
            request_hash: format!("hash-{}", EventId::new()),
            payload: payload.clone(),
            occurred_at: "2026-11-23T10:00:00.000Z".to_owned(),
            received_at: "2026-11-23T10:00:00.000Z".to_owned(),
            idempotency_key: None,
            pipeline_pending: self.intake.wants(event_type),
        };
        let pending = PendingEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            payload,
            occurred_at: event.occurred_at.clone(),
            from_klaxon: false,
        };
        self.store.insert_event(event).await.expect("stored");
        pending
    }

    /// The event's pipeline state and trace.
    async fn event(&self, id: EventId) -> (Option<String>, Value) {
        let event = self
            .store
            .get_event(id)
            .await
            .expect("readable")
            .expect("stored");
        let trace = event
            .pipeline
            .map(|raw| serde_json::from_str(raw.get()).expect("a JSON trace"))
            .unwrap_or(Value::Null);
        (event.pipeline_state, trace)
    }

    /// The event's trace once its pipelines ran.
    async fn done(&self, id: EventId) -> Value {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                if let (Some(state), trace) = self.event(id).await
                    && state == "done"
                {
                    return trace;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        waited.await.expect("the event was run in time")
    }
}

/// A delivery worker that has already stopped: it sends nothing.
async fn stopped_worker(store: &Store, settings: &Settings) -> crate::delivery::WorkerHandle {
    let (_, stopped) = watch::channel(true);
    let outbox = Outbox::new(
        HashMap::new(),
        WebhookSender::new().expect("a webhook client"),
        None,
    )
    .expect("an outbox");
    let worker = DeliveryWorker::start(store.clone(), outbox, &settings.delivery, stopped)
        .await
        .expect("the worker starts");
    worker.handle()
}

#[tokio::test]
async fn a_submitted_event_is_run_and_its_trace_and_deliveries_are_committed_together() {
    let rig = Rig::start(TICKETS, None).await;
    let event = rig
        .store_event("support.ticket.created", json!({"subject": "outage"}))
        .await;
    let id = event.id;

    rig.intake.hand_on(event);

    let trace = rig.done(id).await;
    assert_eq!(trace["runs"][0]["pipeline"], "tickets", "{trace:#}");
    assert_eq!(trace["runs"][0]["outcome"], "routed");
    assert_eq!(trace["labels"]["urgency"], "critical", "the built-in rules");
    let planned = &trace["runs"][0]["destinations"][0];
    assert_eq!(planned["name"], "tickets.oncall");
    let deliveries = deliveries_of(&rig, id).await;
    let [delivery] = deliveries.as_slice() else {
        panic!("one delivery for the event: {deliveries:?}")
    };
    assert_eq!(planned["delivery_id"], delivery.id.to_string());
    assert_eq!(delivery.destination, "tickets.oncall");
    assert_eq!(delivery.pipeline, "tickets");
}

#[tokio::test]
async fn an_event_the_full_queue_missed_is_found_by_the_scan() {
    let rig = Rig::start(TICKETS, None).await;
    // The runner takes from its queue only after its start-up scan: once an event handed
    // over that way is done, only a new scan can find what the store holds.
    let probe = rig
        .store_event("support.ticket.created", json!({"subject": "probe"}))
        .await;
    let probe_id = probe.id;
    rig.intake.hand_on(probe);
    rig.done(probe_id).await;
    let first = rig
        .store_event("support.ticket.created", json!({"subject": "outage"}))
        .await;
    let second = rig
        .store_event("support.ticket.created", json!({"subject": "another"}))
        .await;
    let (first_id, second_id) = (first.id, second.id);

    // Two in a row, with no await between: the queue of one is full for the second (the
    // runner, on this single-threaded runtime, has not run since).
    rig.intake.hand_on(first);
    rig.intake.hand_on(second);

    for id in [first_id, second_id] {
        let trace = rig.done(id).await;
        assert_eq!(trace["runs"][0]["outcome"], "routed", "{trace:#}");
    }
}

#[tokio::test]
async fn an_event_no_pipeline_takes_is_never_pending_and_left_alone() {
    let rig = Rig::start(TICKETS, None).await;
    let ignored = rig
        .store_event("billing.invoice.paid", json!({"amount": 10}))
        .await;
    let taken = rig
        .store_event("support.ticket.created", json!({"subject": "outage"}))
        .await;
    rig.intake.hand_on(taken.clone());
    rig.done(taken.id).await;

    assert_eq!(rig.event(ignored.id).await, (None, Value::Null));
}

/// A model that answers "critical" after `delay`, and says when it was asked.
async fn slow_model(delay: Duration) -> (String, Arc<Notify>) {
    let asked = Arc::new(Notify::new());
    let told = asked.clone();
    let app = Router::new().route(
        "/chat/completions",
        post(move |Json(_): Json<Value>| {
            let told = told.clone();
            async move {
                told.notify_one();
                tokio::time::sleep(delay).await;
                Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "critical"}, "finish_reason": "stop"}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the model");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), asked)
}

#[tokio::test]
async fn shutdown_lets_a_run_in_flight_finish_and_commit() {
    let (model, asked) = slow_model(Duration::from_millis(300)).await;
    let mut rig = Rig::start(TICKETS, Some(model)).await;
    let event = rig
        .store_event("support.ticket.created", json!({"subject": "outage"}))
        .await;
    let id = event.id;
    rig.intake.hand_on(event);
    tokio::time::timeout(WAIT, asked.notified())
        .await
        .expect("the run asked the model");

    rig.shut_down().await;

    let (state, trace) = rig.event(id).await;
    assert_eq!(
        state.as_deref(),
        Some("done"),
        "not left for the next start"
    );
    assert_eq!(trace["labels"]["urgency"], "critical", "the model's answer");
}

/// The deliveries planned for an event.
async fn deliveries_of(rig: &Rig, id: EventId) -> Vec<Delivery> {
    rig.store
        .list_deliveries(DeliveryQuery {
            state: None,
            destination: None,
            event_id: Some(id),
            after: None,
            limit: 10,
        })
        .await
        .expect("readable")
        .data
}

/// The destinations an event's deliveries go to.
async fn destinations_of(rig: &Rig, id: EventId) -> Vec<String> {
    deliveries_of(rig, id)
        .await
        .into_iter()
        .map(|d| d.destination)
        .collect()
}

#[tokio::test]
async fn only_klaxon_s_own_escalation_events_write_back_to_merge() {
    let rig = Rig::start_with(
        TICKETS,
        None,
        vec![crate::pipeline::settings::merge_writeback()],
    )
    .await;
    let payload = json!({
        "escalation_id": "esc_1",
        "event_id": EventId::new().to_string(),
        "outcome": "acknowledged",
        "merge_ticket": {"linked_account_id": "acct", "ticket_id": "T-1"},
        "person": "Ana",
        "calls": 1,
        "timeline": "",
    });

    let accept = |source: Source, key: &str| Incoming {
        source,
        event_type: "escalation.acknowledged".into(),
        payload: payload.to_string(),
        occurred_at: None,
        idempotency_key: Some(key.into()),
        request_hash: key.into(),
    };
    let Inserted::Created(posted) = rig
        .intake
        .accept(accept(Source::Api, "posted"))
        .await
        .expect("stored")
    else {
        panic!("a new event")
    };
    let Inserted::Created(own) = rig
        .intake
        .accept(accept(Source::Klaxon, "esc_1"))
        .await
        .expect("stored")
    else {
        panic!("a new event")
    };

    rig.done(posted).await;
    rig.done(own).await;
    assert_eq!(
        destinations_of(&rig, posted).await,
        Vec::<String>::new(),
        "posted to the API"
    );
    assert_eq!(
        destinations_of(&rig, own).await,
        vec!["merge.ticket-writeback".to_owned()]
    );
}
