//! "Never ring twice" from the engine's side: two engines on one database (as two processes or
//! nodes) stepping the same escalation place one dial between them, and a recovery never
//! re-rings a dial whose leg the store recorded. The sandbox carrier counts every dial request
//! it receives, repeats of a `command_id` included, so the carrier's own de-duplication hides
//! nothing. Runs on SQLite, and on PostgreSQL with `KLAXON_TEST_POSTGRES_URL` where noted.

use std::time::Duration;

use klaxon::Settings;
use klaxon::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
use klaxon::store::DatabaseUrl;
use klaxon::store::{
    DialClaim, Dialling, EscalationId, EscalationUpdate, EventId, NewDial, NewEscalation, NewEvent,
    NewLeg, Source, Store,
};
use klaxon::voice::EngineHandle;
use klaxon::voice::carrier::Carrier;
use klaxon::voice::engine::Persisted;
use klaxon::voice::escalation::machine::{Call, CallRules, CallStatus, Input, Slot, State};
use klaxon::voice::escalation::plan::{BriefingContext, Plan};
use klaxon::voice::telnyx::{ApiKey, TelnyxClient, TelnyxConfig};

use crate::support::eventually;
use crate::support::postgres;
use crate::support::receiver::Receiver;

/// The sandbox's number plan: a number ending in 4 rings and is never answered, so the
/// escalation stays on its first dial for the whole test.
const NEVER_ANSWERS: &str = "+15551000004";
const WAIT: Duration = Duration::from_secs(10);

struct Rig {
    carrier: SandboxCarrier,
    /// Where the carrier's call webhooks go (nobody acts on them here).
    webhooks: Receiver,
}

impl Rig {
    async fn start() -> Rig {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let carrier = SandboxCarrier::start(
            listener,
            CarrierConfig {
                signing_seed: SigningSeed::generate(),
                timing: Timing::fast(),
                ..CarrierConfig::default()
            },
        )
        .expect("sandbox carrier starts");
        Rig {
            carrier,
            webhooks: Receiver::start().await,
        }
    }

    /// An engine on `store`, as one process would run it.
    fn engine(&self, store: &Store) -> EngineHandle {
        let mut config = TelnyxConfig::new(
            ApiKey::new("KEY_TEST".to_owned()),
            "1494404757140276705",
            "+15550100000",
        );
        config.api_base = self.carrier.base_url();
        let client = TelnyxClient::new(config).expect("test config is valid");
        EngineHandle::new(
            store.clone(),
            Carrier::new(client, Some(self.webhooks.url())),
            None,
        )
    }

    /// Dial requests the carrier received, repeats included.
    fn dials(&self) -> usize {
        self.carrier
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/calls"))
            .count()
    }
}

async fn open(database: &DatabaseUrl) -> Store {
    let mut settings = Settings::for_database(database.clone()).store;
    settings.lease = Duration::from_secs(1);
    Store::open(database, &settings)
        .await
        .expect("open the store")
}

/// Creates an escalation that rings `NEVER_ANSWERS`, in `state`.
async fn escalation(store: &Store, state: &Persisted) -> EscalationId {
    let event = EventId::new();
    let now = klaxon::clock::now_rfc3339();
    store
        .insert_event(NewEvent {
            id: event,
            source: Source::Api,
            event_type: "support.ticket.created".into(),
            payload: "{}".into(),
            occurred_at: now.clone(),
            received_at: now,
            idempotency_key: None,
            request_hash: "hash".into(),
            pipeline_pending: false,
        })
        .await
        .expect("store the event");
    let plan = Plan {
        slots: vec![Slot {
            number: NEVER_ANSWERS.into(),
            name: None,
            ring_timeout_secs: 30,
            group: None,
            sms: None,
            schedule: None,
        }],
        rules: CallRules::default(),
        connect_to: None,
        briefing: BriefingContext {
            event_type: "support.ticket.created".into(),
            prompt: "Brief the engineer.".into(),
            title: Some("Checkout down".into()),
            customer: None,
            facts: Vec::new(),
        },
        merge_ticket: None,
        merge_deal: None,
    };
    let id = EscalationId::new();
    let now_ms = klaxon::clock::now_ms();
    let (_, created) = store
        .complete_pipeline(
            event,
            "{}".into(),
            Vec::new(),
            vec![NewEscalation {
                id,
                event_id: event,
                pipeline: "tickets".into(),
                destination: "voice".into(),
                policy: "oncall".into(),
                plan: serde_json::to_string(&plan).unwrap(),
                state: serde_json::to_string(state).unwrap(),
            }],
            now_ms,
            now_ms,
        )
        .await
        .expect("create the escalation");
    assert_eq!(created, vec![id]);
    id
}

async fn state_of(store: &Store, id: EscalationId) -> Persisted {
    let record = store.load_escalation(id).await.unwrap().expect("it exists");
    serde_json::from_str(&record.state).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_starting_one_escalation_place_one_dial() {
    let dir = tempfile::tempdir().unwrap();
    let database = postgres::database_for(&dir.path().join("klaxon.db"));
    let (a, b) = (open(&database).await, open(&database).await);
    let rig = Rig::start().await;
    let id = escalation(&a, &Persisted::default()).await;
    // On SQLite nothing but the dial's claim stands between the two: each engine has its own
    // lock and there is no lease. Both may decide the first dial; one claim wins.
    let (one, two) = (rig.engine(&a), rig.engine(&b));
    // Each feed returns once its step, dial included, is done.
    tokio::join!(one.feed(id, Input::Start), two.feed(id, Input::Start));
    assert_eq!(rig.dials(), 1, "{:?}", rig.carrier.requests());
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_resends_an_unplaced_dial_once_and_never_a_placed_one() {
    // Resuming at start-up is what a lone (SQLite) process does; on PostgreSQL the same
    // recovery runs on take-over, which `multinode` covers.
    let dir = tempfile::tempdir().unwrap();
    let database = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
    let store = open(&database).await;
    let rig = Rig::start().await;
    // A step decided the first dial, claimed it and died before the carrier answered.
    let ringing = Persisted {
        machine: State {
            attempt: 1,
            calls: vec![Call {
                attempt: 1,
                call: None,
                status: CallStatus::Ringing,
                speaking: 0,
            }],
            ..State::new()
        },
        commands: 1,
    };
    let id = escalation(&store, &ringing).await;
    let command_id = format!("{id}:1:dial_a");
    let claim = NewDial {
        escalation: id,
        attempt: 1,
        leg: "A",
        n: 1,
        command_id: command_id.clone(),
        why: Dialling::Decided,
    };
    assert_eq!(store.claim_dial(claim).await.unwrap(), DialClaim::Claimed);

    let engine = rig.engine(&store);
    engine.resume_all().await.unwrap();
    let leg = eventually(WAIT, || async {
        placed_leg(&state_of(&store, id).await.machine)
    })
    .await;
    assert_eq!(rig.dials(), 1, "the claimed dial is re-sent, once");
    let sent = &rig.carrier.requests()[0];
    assert_eq!(sent.body["command_id"], command_id.as_str());

    // Later a stale writer loses the leg from the state, though the store recorded it: a
    // recovery picks the recorded leg up instead of ringing again.
    let update = EscalationUpdate {
        id,
        state: serde_json::to_string(&ringing).unwrap(),
        status: "active".into(),
        ended: false,
        timeline: Vec::new(),
        new_legs: vec![NewLeg {
            call_control_id: leg.clone(),
            attempt: 1,
            leg: "A",
            command_id,
        }],
        events: Vec::new(),
    };
    store.save_escalation(update).await.unwrap();
    assert_eq!(placed_leg(&state_of(&store, id).await.machine), None);
    engine.resume_all().await.unwrap();
    let recovered = eventually(WAIT, || async {
        placed_leg(&state_of(&store, id).await.machine)
    })
    .await;
    assert_eq!(recovered, leg);
    assert_eq!(
        rig.dials(),
        1,
        "no second dial: {:?}",
        rig.carrier.requests()
    );
    store.close().await;
}

/// The call id the first call's dial placed, as the state knows it.
fn placed_leg(state: &State) -> Option<String> {
    state.call(1)?.call.clone()
}
