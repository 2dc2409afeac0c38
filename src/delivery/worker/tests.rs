//! The worker's own decisions, against a real SQLite store and a receiver on loopback: one
//! send per due delivery, the retry schedule and the dead letter after it, a pace that
//! postpones without using an attempt, and leases that free a job only when they run out.
//!
//! End-to-end delivery through `klaxon serve` (signatures, `Retry-After`, replay, `410`,
//! restarts) is `tests/it/delivery.rs`; here attempts are driven one at a time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tokio::sync::{Notify, watch};

use super::{DeliveryWorker, Shared, attempt};
use crate::Settings;
use crate::clock;
use crate::destinations::Outbox;
use crate::destinations::webhook::WebhookSender;
use crate::pipeline::spec::DestinationKind;
use crate::settings::Raw;
use crate::store::{
    DELIVERY_LEASE as LEASE, DatabaseUrl, Delivery, DeliveryId, DeliveryJob, DeliveryState,
    EventId, NewDelivery, NewEvent, Source, Store, lease_until,
};

const WAIT: Duration = Duration::from_secs(10);

/// A receiver on loopback that answers every request with one status and counts them.
#[derive(Clone)]
struct Receiver {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        let status = StatusCode::from_u16(status).expect("a status code");
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        let app = Router::new().fallback(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { status }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}"),
            requests,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A store, the destinations of a settings file, and the worker's state.
struct Rig {
    store: Store,
    settings: Settings,
    shared: Shared,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// `toml`'s destinations, retried after `retry_schedule`.
    async fn start(toml: &str, env: &[(&str, &str)], retry_schedule: &[Duration]) -> Rig {
        let dir = tempfile::tempdir().expect("a temp dir");
        let raw = Raw::from_toml(Path::new("test.toml"), toml)
            .unwrap_or_else(|e| panic!("test settings parse: {e}"));
        let settings = Settings::resolve(raw, |var| {
            env.iter()
                .find(|(name, _)| *name == var)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap_or_else(|e| panic!("test settings are valid: {e:?}"));
        let url = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
        let store = Store::open(&url, &settings.store)
            .await
            .expect("the store opens");
        let shared = Shared {
            store: store.clone(),
            outbox: outbox(&settings),
            retry_schedule: retry_schedule.to_vec(),
            disabled: Arc::new(Mutex::new(HashMap::new())),
            poke: Arc::new(Notify::new()),
        };
        Rig {
            store,
            settings,
            shared,
            _dir: dir,
        }
    }

    /// A delivery of a new event to `destination`, due now and not leased.
    async fn due_delivery(&self, destination: &str) -> DeliveryId {
        let event = EventId::new();
        self.store
            .insert_event(NewEvent {
                id: event,
                source: Source::Api,
                event_type: "support.ticket.created".to_owned(),
                payload: "{}".to_owned(),
                occurred_at: clock::now_rfc3339(),
                received_at: clock::now_rfc3339(),
                idempotency_key: None,
                request_hash: format!("hash-{event}"),
                pipeline_pending: false,
            })
            .await
            .expect("the event is stored");
        let kind = self
            .settings
            .pipelines
            .iter()
            .flat_map(|p| &p.destinations)
            .find(|d| d.name == destination)
            .map(|d| match &d.kind {
                DestinationKind::Deliver(kind) => kind.target(),
                other => panic!("{destination} delivers nothing: {}", other.as_str()),
            })
            .unwrap_or_else(|| panic!("no destination {destination}"));
        let id = DeliveryId::new();
        let now = clock::now_ms();
        let delivery = NewDelivery {
            id,
            event_id: event,
            pipeline: "tickets".to_owned(),
            destination: destination.to_owned(),
            target: kind,
            body: r#"{"content":"checkout is down"}"#.to_owned(),
        };
        self.store
            .insert_deliveries(vec![delivery], now, now)
            .await
            .expect("the delivery is stored");
        id
    }

    /// Claims what is due at `now_ms` as the poller does.
    async fn claim(&self, now_ms: i64) -> Vec<DeliveryJob> {
        self.store
            .claim_due(now_ms, lease_until(now_ms), 16)
            .await
            .expect("claimable")
    }

    /// Claims the one job due at `now_ms`.
    async fn claim_one(&self, now_ms: i64) -> DeliveryJob {
        let mut jobs = self.claim(now_ms).await;
        assert_eq!(jobs.len(), 1, "one job due: {jobs:?}");
        jobs.remove(0)
    }

    async fn delivery(&self, id: DeliveryId) -> Delivery {
        self.store
            .get_delivery(id)
            .await
            .expect("readable")
            .expect("stored")
    }
}

/// Every delivering destination of the settings, by name, as `serve` builds the outbox.
fn outbox(settings: &Settings) -> Outbox {
    let destinations = settings
        .pipelines
        .iter()
        .flat_map(|p| &p.destinations)
        .filter_map(|d| match &d.kind {
            DestinationKind::Deliver(kind) => Some((d.name.clone(), kind.clone())),
            DestinationKind::Log | DestinationKind::Voice(_) => None,
        })
        .collect();
    Outbox::new(
        destinations,
        WebhookSender::new().expect("a webhook client"),
        None,
    )
    .expect("an outbox")
}

fn webhook_to(receiver: &Receiver) -> String {
    format!(
        r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
name = "hook"
webhook = {{ url = "{}/in", signing = "none", allow_private = true }}
"#,
        receiver.url
    )
}

#[tokio::test]
async fn the_running_worker_sends_a_due_delivery_once_and_records_it_delivered() {
    let receiver = Receiver::start(200).await;
    let rig = Rig::start(&webhook_to(&receiver), &[], &[Duration::from_secs(60)]).await;
    let id = rig.due_delivery("tickets.hook").await;
    let (stop, stopped) = watch::channel(false);

    let worker = DeliveryWorker::start(
        rig.store.clone(),
        outbox(&rig.settings),
        &rig.settings.delivery,
        stopped,
    )
    .await
    .expect("the worker starts");
    let delivered = tokio::time::timeout(WAIT, async {
        loop {
            let delivery = rig.delivery(id).await;
            if delivery.state == DeliveryState::Succeeded {
                return delivery;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivered in time");
    // Another round of the poller finds nothing more to do.
    worker.handle().poke();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(true).expect("the worker listens");
    worker.join().await;

    assert_eq!(receiver.requests(), 1);
    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.next_attempt_at, None);
    let log = rig.delivery(id).await.attempt_log.unwrap_or_default();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].status, Some(200));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_schedule_then_dead_lettered() {
    let receiver = Receiver::start(503).await;
    let schedule = [Duration::from_secs(10), Duration::from_secs(20)];
    let rig = Rig::start(&webhook_to(&receiver), &[], &schedule).await;
    let id = rig.due_delivery("tickets.hook").await;

    let mut now = clock::now_ms();
    for (attempt_number, delay) in schedule.iter().enumerate() {
        attempt(&rig.shared, rig.claim_one(now).await).await;

        let failed = rig.delivery(id).await;
        assert_eq!(failed.state, DeliveryState::Failed);
        assert_eq!(failed.attempts as usize, attempt_number + 1);
        let due = rig.store.next_due().await.expect("readable").expect("due");
        let waits = Duration::from_millis(u64::try_from(due - clock::now_ms()).unwrap_or(0));
        // The schedule's delay, give or take its 10 % jitter.
        assert!(
            waits >= delay.mul_f64(0.85) && waits <= delay.mul_f64(1.1),
            "attempt {} waits {waits:?} for {delay:?}",
            attempt_number + 1
        );
        assert!(
            rig.claim(due - 1).await.is_empty(),
            "not due before its time"
        );
        now = due;
    }
    attempt(&rig.shared, rig.claim_one(now).await).await;

    let dead = rig.delivery(id).await;
    assert_eq!(dead.state, DeliveryState::Dead, "the schedule is used up");
    assert_eq!(dead.attempts, 3);
    assert_eq!(rig.store.next_due().await.expect("readable"), None);
    assert_eq!(receiver.requests(), 3);
}

#[tokio::test]
async fn a_send_held_back_by_the_pace_is_postponed_without_using_an_attempt() {
    let receiver = Receiver::start(200).await;
    // One message per ten seconds: the second waits longer than a send may wait in line.
    let toml = format!(
        r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
name = "chat"
discord = {{ webhook_url_env = "DISCORD_WEBHOOK_URL", api_base = "{}", max_per_second = 0.1 }}
"#,
        receiver.url
    );
    let env = [(
        "DISCORD_WEBHOOK_URL",
        "https://discord.com/api/webhooks/1/test-token",
    )];
    let rig = Rig::start(&toml, &env, &[Duration::from_secs(1)]).await;
    let first = rig.due_delivery("tickets.chat").await;
    let second = rig.due_delivery("tickets.chat").await;
    let jobs = rig.claim(clock::now_ms()).await;
    assert_eq!(jobs.len(), 2);

    for job in jobs {
        attempt(&rig.shared, job).await;
    }

    assert_eq!(rig.delivery(first).await.state, DeliveryState::Succeeded);
    let postponed = rig.delivery(second).await;
    assert_eq!(postponed.state, DeliveryState::Pending, "{postponed:?}");
    assert_eq!(postponed.attempts, 0, "nothing was sent");
    assert_eq!(postponed.attempt_log.unwrap_or_default().len(), 0);
    let due = rig.store.next_due().await.expect("readable").expect("due");
    assert!(
        due - clock::now_ms() > 5_000,
        "due when its turn comes, not at once"
    );
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn a_leased_job_is_taken_by_another_worker_only_once_its_lease_runs_out() {
    let receiver = Receiver::start(200).await;
    let rig = Rig::start(&webhook_to(&receiver), &[], &[Duration::from_secs(60)]).await;
    let id = rig.due_delivery("tickets.hook").await;
    let now = clock::now_ms();
    let lease = i64::try_from(LEASE.as_millis()).expect("a lease in ms");

    let taken = rig.claim_one(now).await;
    assert_eq!(taken.id, id);
    // The worker that took it died without recording an attempt.
    assert!(
        rig.claim(now + lease - 1).await.is_empty(),
        "a live lease keeps the job"
    );
    let again = rig.claim_one(lease_until(now)).await;

    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 0, "the lost attempt was never recorded");
    attempt(&rig.shared, again).await;
    assert_eq!(rig.delivery(id).await.state, DeliveryState::Succeeded);
    assert_eq!(receiver.requests(), 1);
}

#[tokio::test]
async fn a_job_for_a_destination_no_longer_configured_is_dead_lettered_unsent() {
    let receiver = Receiver::start(200).await;
    let rig = Rig::start(&webhook_to(&receiver), &[], &[Duration::from_secs(60)]).await;
    let id = rig.due_delivery("tickets.hook").await;
    let mut job = rig.claim_one(clock::now_ms()).await;
    job.destination = "tickets.removed".to_owned();

    attempt(&rig.shared, job).await;

    let dead = rig.delivery(id).await;
    assert_eq!(dead.state, DeliveryState::Dead);
    assert_eq!(dead.attempts, 0);
    let reason = dead.last_error.unwrap_or_default();
    assert!(reason.contains("not in the settings"), "{reason}");
    assert_eq!(receiver.requests(), 0);
}

#[tokio::test]
async fn a_job_for_a_disabled_destination_is_dead_lettered_with_how_to_enable_it() {
    let receiver = Receiver::start(200).await;
    let rig = Rig::start(&webhook_to(&receiver), &[], &[Duration::from_secs(60)]).await;
    let id = rig.due_delivery("tickets.hook").await;
    rig.shared
        .disabled
        .lock()
        .expect("not poisoned")
        .insert("tickets.hook".to_owned(), "410 Gone".to_owned());

    attempt(&rig.shared, rig.claim_one(clock::now_ms()).await).await;

    let dead = rig.delivery(id).await;
    assert_eq!(dead.state, DeliveryState::Dead);
    let reason = dead.last_error.unwrap_or_default();
    assert!(reason.contains("410 Gone"), "{reason}");
    assert!(
        reason.contains("/v1/destinations/tickets.hook/enable"),
        "{reason}"
    );
    assert_eq!(receiver.requests(), 0);
}
