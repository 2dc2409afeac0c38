//! The store used by two handles at once, as two nodes use one database: idempotency and job
//! claims are decided by the database, never by one process's memory. Runs on SQLite, and on
//! PostgreSQL with `KLAXON_TEST_POSTGRES_URL`.

use std::collections::HashSet;
use std::time::Duration;

use klaxon::Settings;
use klaxon::store::{
    AfterAttempt, Attempt, DeliveryId, DeliveryState, DialClaim, Dialling, EscalationId,
    EscalationUpdate, EventId, Inserted, NewDelivery, NewDial, NewEvent, NewLeg, Source, Store,
};

use crate::support::postgres;

/// A handle ("node") on the test's database, with a one-second lease.
async fn node(dir: &tempfile::TempDir) -> Store {
    let database = postgres::database_for(&dir.path().join("klaxon.db"));
    let mut settings = Settings::for_database(database.clone()).store;
    settings.lease = Duration::from_secs(1);
    Store::open(&database, &settings)
        .await
        .expect("open the store")
}

async fn two_nodes(dir: &tempfile::TempDir) -> (Store, Store) {
    (node(dir).await, node(dir).await)
}

fn event(key: &str, payload: &str) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        source: Source::Api,
        event_type: "order.created".into(),
        payload: payload.into(),
        occurred_at: klaxon::clock::now_rfc3339(),
        received_at: klaxon::clock::now_rfc3339(),
        idempotency_key: Some(key.into()),
        request_hash: format!("hash of {payload}"),
        pipeline_pending: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_is_stored_once_whichever_node_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&dir).await;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.insert_event(event("order-1", "{}")).await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Inserted::Created(id) => created.push(id),
            Inserted::Duplicate(_) => {}
            Inserted::Conflict(id) => panic!("same request seen as a conflict with {id}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one node stored the event");
    let other = b.insert_event(event("order-1", "{\"x\":1}")).await.unwrap();
    assert_eq!(other, Inserted::Conflict(created[0]));
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&dir).await;
    let now = klaxon::clock::now_ms();
    let mut jobs = Vec::new();
    for n in 0..200 {
        let Inserted::Created(event) = a
            .insert_event(event(&format!("order-{n}"), "{}"))
            .await
            .unwrap()
        else {
            panic!("a fresh key is stored");
        };
        jobs.push(NewDelivery {
            id: klaxon::store::DeliveryId::new(),
            event_id: event,
            pipeline: "p".into(),
            destination: "d".into(),
            target: klaxon::destinations::Target::Webhook,
            body: "{}".into(),
        });
    }
    // Created leased: on SQLite until `now`, on PostgreSQL to node a, whose lease runs out
    // a second after it stops renewing it (it is closed here, as if it had died).
    let created = a.insert_deliveries(jobs, now, now).await.unwrap();
    assert_eq!(created.len(), 200);
    a.close().await;
    let a = node(&dir).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let claim = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let now = klaxon::clock::now_ms();
            let batch = store.claim_due(now, now + 60_000, 7).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|j| j.id));
        }
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(claim(a.clone())),
        tokio::spawn(claim(b.clone()))
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    let all: HashSet<_> = from_a.iter().chain(&from_b).collect();
    assert_eq!(
        from_a.len() + from_b.len(),
        200,
        "every job claimed exactly once"
    );
    assert_eq!(all.len(), 200);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_transition_passes_once_but_again_for_the_same_event_run_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = node(&dir).await;
    let decide = |holds: bool, event: &'static str| {
        let store = store.clone();
        async move {
            store
                .transition(
                    "tickets/0".into(),
                    "ticket-1".into(),
                    holds,
                    None,
                    klaxon::clock::now_ms(),
                    event.into(),
                )
                .await
                .expect("the store decides")
        }
    };
    assert!(decide(true, "event-1").await, "became true: passes");
    assert!(
        !decide(true, "event-2").await,
        "still true: another event does not pass"
    );
    // event-1's pipeline result was lost in a crash, so it runs again: it must still ring.
    assert!(decide(true, "event-1").await, "the same event passes again");
    assert!(!decide(false, "event-3").await);
    assert!(
        decide(true, "event-4").await,
        "true again after false: passes"
    );
}

fn dial(
    escalation: EscalationId,
    attempt: u32,
    leg: &'static str,
    n: u32,
    why: Dialling,
) -> NewDial {
    NewDial {
        escalation,
        attempt,
        leg,
        n,
        command_id: format!("{escalation}:{attempt}:{n}:dial_{leg}"),
        why,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_is_claimed_once_whichever_node_claims_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&dir).await;
    let escalation = EscalationId::new();
    let first = dial(escalation, 1, "A", 1, Dialling::Decided);
    assert_eq!(
        a.claim_dial(first.clone()).await.unwrap(),
        DialClaim::Claimed
    );

    let DialClaim::Refused(claim) = b.claim_dial(first.clone()).await.unwrap() else {
        panic!("a second claim of the same dial is refused, even of the same command");
    };
    assert_eq!(claim.command_id, first.command_id);
    assert!(claim.node.starts_with("node_"), "{claim:?}");
    assert_eq!(claim.placed, None);
    let other_command = NewDial {
        command_id: "another command for the same dial".into(),
        why: Dialling::Recovered,
        ..first.clone()
    };
    assert!(matches!(
        b.claim_dial(other_command).await.unwrap(),
        DialClaim::Refused(_)
    ));
    // A crash between the claim and the carrier's answer: the recovery re-sends the same
    // command, without a claim of its own.
    let resend = NewDial {
        why: Dialling::Recovered,
        ..first.clone()
    };
    assert_eq!(
        b.claim_dial(resend.clone()).await.unwrap(),
        DialClaim::Resend
    );

    // Once its leg is recorded, the dial went out: not even a recovery sends it again.
    a.save_escalation(EscalationUpdate {
        id: escalation,
        state: "{}".into(),
        status: "active".into(),
        ended: false,
        timeline: Vec::new(),
        new_legs: vec![NewLeg {
            call_control_id: "v3:leg-a-1".into(),
            attempt: 1,
            leg: "A",
            command_id: first.command_id.clone(),
        }],
        events: Vec::new(),
    })
    .await
    .unwrap();
    let DialClaim::Refused(claim) = b.claim_dial(resend).await.unwrap() else {
        panic!("a placed dial is not re-sent");
    };
    assert_eq!(claim.placed.as_deref(), Some("v3:leg-a-1"));

    // Another attempt, and each connect try of leg B, are dials of their own.
    for (attempt, leg, n) in [(2, "A", 1), (2, "B", 1), (2, "B", 2)] {
        assert_eq!(
            b.claim_dial(dial(escalation, attempt, leg, n, Dialling::Decided))
                .await
                .unwrap(),
            DialClaim::Claimed,
            "attempt {attempt} leg {leg} try {n}"
        );
    }
    assert_eq!(
        a.claim_dial(dial(EscalationId::new(), 1, "A", 1, Dialling::Decided))
            .await
            .unwrap(),
        DialClaim::Claimed,
        "another escalation's first attempt"
    );

    // Many claims of one dial at once, from both nodes: exactly one wins.
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let claim = dial(escalation, 3, "A", 1, Dialling::Decided);
        tasks.push(tokio::spawn(async move { store.claim_dial(claim).await }));
    }
    let mut claimed = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == DialClaim::Claimed {
            claimed += 1;
        }
    }
    assert_eq!(claimed, 1, "exactly one claim of attempt 3 won");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_node_keeps_its_deliveries_and_a_stopped_one_frees_them_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&dir).await;
    if !a.is_shared() {
        eprintln!("PostgreSQL only: a single SQLite node holds no claims against others");
        return;
    }
    let now = klaxon::clock::now_ms();
    let mut jobs = Vec::new();
    for n in 0..20 {
        let Inserted::Created(event) = a
            .insert_event(event(&format!("held-{n}"), "{}"))
            .await
            .unwrap()
        else {
            panic!("a fresh key is stored");
        };
        jobs.push(NewDelivery {
            id: klaxon::store::DeliveryId::new(),
            event_id: event,
            pipeline: "p".into(),
            destination: "d".into(),
            target: klaxon::destinations::Target::Webhook,
            body: "{}".into(),
        });
    }
    assert_eq!(a.insert_deliveries(jobs, now, now).await.unwrap().len(), 20);
    // Two and a half leases later node a is still alive (its heartbeat renews one row, not
    // each job), so node b may not take its jobs.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let now = klaxon::clock::now_ms();
    assert!(b.claim_due(now, now, 100).await.unwrap().is_empty());
    // A clean stop frees them at once, without waiting out a lease.
    a.close().await;
    let now = klaxon::clock::now_ms();
    assert_eq!(b.claim_due(now, now, 100).await.unwrap().len(), 20);
    b.close().await;
}

/// A delivery whose send our own pacing held back (see `Store::postpone`): due again at its
/// turn, lease freed, and nothing about its attempts changed, whether it was never attempted
/// or had failed before. The two settle together, as a postponement and an attempt share the
/// attempt batches on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postponed_delivery_keeps_its_attempts_and_falls_due_at_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let store = node(&dir).await;
    let now = klaxon::clock::now_ms();
    let turn = now + 3_600_000;
    let mut ids = Vec::new();
    for key in ["paced-fresh", "paced-failed"] {
        let Inserted::Created(event) = store.insert_event(event(key, "{}")).await.unwrap() else {
            panic!("a fresh key is stored");
        };
        let id = DeliveryId::new();
        let new = NewDelivery {
            id,
            event_id: event,
            pipeline: "p".into(),
            destination: "d".into(),
            target: klaxon::destinations::Target::Slack,
            body: "{}".into(),
        };
        // Created leased, as the pipeline runner hands them to the worker.
        let created = store
            .insert_deliveries(vec![new], now, now + 60_000)
            .await
            .unwrap();
        assert_eq!(created, [id]);
        ids.push(id);
    }
    let (fresh, failed) = (ids[0], ids[1]);
    let attempt = Attempt {
        number: 1,
        started_at: klaxon::clock::now_rfc3339(),
        duration_ms: 3,
        status: Some(503),
        error: Some("HTTP 503".into()),
        response: None,
    };
    let (postponed, recorded) = tokio::join!(
        store.postpone(fresh, turn),
        store.record_attempt(failed, attempt, AfterAttempt::RetryAt(now))
    );
    postponed.unwrap();
    recorded.unwrap();

    let shown = store.get_delivery(fresh).await.unwrap().unwrap();
    assert_eq!(shown.state, DeliveryState::Pending);
    assert_eq!(shown.attempts, 0);
    assert_eq!(shown.last_error, None);
    assert_eq!(shown.attempt_log.unwrap().len(), 0);
    assert_eq!(
        shown.next_attempt_at,
        Some(klaxon::clock::ms_to_rfc3339(turn))
    );

    // The failed one is due for its retry; its retry is postponed in turn.
    let claimed = store.claim_due(now + 1, now + 60_000, 10).await.unwrap();
    let ids: Vec<DeliveryId> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(
        ids,
        [failed],
        "the postponed one is not due before its turn"
    );
    store.postpone(failed, turn).await.unwrap();
    let shown = store.get_delivery(failed).await.unwrap().unwrap();
    assert_eq!(shown.state, DeliveryState::Failed);
    assert_eq!(shown.attempts, 1);
    assert_eq!(shown.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(shown.attempt_log.unwrap().len(), 1);
    assert!(
        store
            .claim_due(now + 2, now + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // At their turn both come back, their attempt counts and schedule where they were.
    let mut claimed = store.claim_due(turn, turn + 60_000, 10).await.unwrap();
    claimed.sort_by_key(|j| j.attempts);
    let counts: Vec<(DeliveryId, u32, u32)> = claimed
        .iter()
        .map(|j| (j.id, j.attempts, j.run_attempts))
        .collect();
    assert_eq!(counts, [(fresh, 0, 0), (failed, 1, 1)]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transitions_events_are_stored_with_it_once_whichever_node_saves_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(&dir).await;
    let escalation = EscalationId::new();
    // What the engine records when an escalation ends: its outcome, keyed by its id.
    let outcome = |pending| NewEvent {
        source: Source::Klaxon,
        event_type: "escalation.unreached".into(),
        idempotency_key: Some(escalation.to_string()),
        pipeline_pending: pending,
        ..event("unused", r#"{"outcome":"unreached"}"#)
    };
    let transition = |events| EscalationUpdate {
        id: escalation,
        state: "{}".into(),
        status: "unreached".into(),
        ended: true,
        timeline: Vec::new(),
        new_legs: Vec::new(),
        events,
    };
    let first = outcome(true);
    let created = a
        .save_escalation(transition(vec![first.clone()]))
        .await
        .unwrap();
    assert_eq!(created, vec![first.id]);
    // The same step replayed after a crash, on another node: nothing new.
    let again = b
        .save_escalation(transition(vec![outcome(true)]))
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let stored = b.get_event(first.id).await.unwrap().expect("stored");
    assert_eq!(stored.source, "klaxon");
    assert_eq!(
        stored.pipeline_state.as_deref(),
        Some("pending"),
        "for the runner, should the hand-off after the commit never happen"
    );
}
