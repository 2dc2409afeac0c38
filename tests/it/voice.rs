//! Phone escalation end to end: Klaxon against the sandbox carrier over real HTTP, signed
//! webhooks both ways, every request Klaxon sends checked against the Telnyx spec.
//!
//! The sandbox's number plan picks each callee's behaviour from the last digit of the
//! number: 0 says "connect me", 1/2/3 press that key, 4 never answers, 5 is busy, 6
//! rejects, 7 is a voicemail, 8 hangs up during the briefing, 9 stays silent.

use std::time::Duration;

use klaxon::sandbox::carrier::Delivery;
use serde_json::{Value, json};

use crate::support::eventually;
use crate::support::voice_rig::{Rig, WAIT, actions};

#[tokio::test]
async fn connect_me_is_a_briefed_warm_transfer() {
    let rig = Rig::start(&["+15551000000"], Delivery::InOrder).await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "connected", "{escalation:#}");

    let requests = rig.requests();
    let seen = actions(&requests);
    let expected = [
        "dial +15551000000",
        "speak",
        "transcription_start",
        "gather_using_speak",
        "speak",
        "dial +15552000001",
        "speak",
        "bridge",
    ];
    assert_eq!(&seen[..expected.len()], expected, "{seen:?}");

    let dial_a = &requests[0].body;
    assert_eq!(dial_a["from"], "+15550100000");
    assert_ne!(dial_a["answering_machine_detection"], Value::Null);
    assert!(
        dial_a["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/voice")
    );
    let dial_b = &requests[5].body;
    assert_eq!(
        dial_b["from"], "+15550100000",
        "our number, not the engineer's"
    );
    assert!(
        dial_b["link_to"].is_string(),
        "leg B joins the engineer's call"
    );
    // client_state is opaque: no phone number or name in it.
    for request in &requests {
        if let Some(state) = request.body["client_state"].as_str() {
            let decoded = String::from_utf8(
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, state).unwrap(),
            )
            .unwrap();
            assert!(
                !decoded.contains("+1555") && !decoded.contains("Acme"),
                "{decoded}"
            );
        }
    }
    // Every command carries its own command_id.
    let ids: std::collections::HashSet<&str> = requests
        .iter()
        .map(|r| r.body["command_id"].as_str().expect("command_id"))
        .collect();
    assert_eq!(ids.len(), requests.len());
}

#[tokio::test]
async fn keypad_choices_connect_and_acknowledge() {
    let rig = Rig::start(&["+15551000001"], Delivery::InOrder).await;
    assert_eq!(rig.escalate().await["status"], "connected");

    let rig = Rig::start(&["+15551000002"], Delivery::InOrder).await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "acknowledged");
    let seen = actions(&rig.requests());
    assert!(!seen.iter().any(|a| a == "bridge"), "{seen:?}");
    assert_eq!(
        seen.iter().filter(|a| a.starts_with("dial")).count(),
        1,
        "nobody else is rung: {seen:?}"
    );
}

#[tokio::test]
async fn every_not_reached_outcome_moves_on_to_the_next_person() {
    for (digit, what) in [
        ('4', "no answer"),
        ('5', "busy"),
        ('6', "rejected"),
        ('7', "voicemail"),
        ('8', "hang-up during the briefing"),
        ('9', "silence after the menu"),
        ('3', "passed on"),
    ] {
        let first = format!("+1555100000{digit}");
        let rig = Rig::start(&[&first, "+15551000012"], Delivery::InOrder).await;
        let escalation = rig.escalate().await;
        assert_eq!(
            escalation["status"], "acknowledged",
            "{what}: {escalation:#}"
        );
        assert_eq!(
            escalation["state"]["attempt"], 2,
            "{what}: the second person took it"
        );
        let seen = actions(&rig.requests());
        let second = seen
            .iter()
            .position(|a| a == "dial +15551000012")
            .expect("second dial");
        if digit == '7' {
            assert!(
                !seen[..second].iter().any(|a| a == "gather_using_speak"),
                "{what}: the briefing is never played to a voicemail: {seen:?}"
            );
        }
        assert!(
            !seen[..second].iter().any(|a| a.starts_with("dial +15552")),
            "{what}: nobody is connected: {seen:?}"
        );
    }
}

#[tokio::test]
async fn an_exhausted_chain_ends_unreached_and_says_so_as_an_event() {
    let rig = Rig::start(&["+15551000004", "+15551000005"], Delivery::InOrder).await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "unreached");
    // The outcome is an event of its own, for pipelines to route (e.g. to a webhook),
    // published just after the final state is committed.
    let events = eventually(Duration::from_secs(5), || async {
        let (_, events) = rig.server.get("/v1/events?type=escalation.unreached").await;
        (events["data"].as_array()?.len() == 1).then_some(events)
    })
    .await;
    assert_eq!(events["data"][0]["source"], "klaxon", "{events:#}");
    assert_eq!(
        events["data"][0]["payload"]["escalation_id"],
        escalation["id"]
    );
    assert_eq!(
        events["data"][0]["payload"]["event_id"],
        escalation["event_id"]
    );
    // The outcome's own timeline line is written just after the final state.
    let id = escalation["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(5), || async {
        let (_, escalation) = rig.server.get(&format!("/v1/escalations/{id}")).await;
        let timeline = escalation["timeline"].as_array()?.clone();
        timeline
            .iter()
            .any(|t| t["detail"]["outcome"] == "unreached")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn duplicated_and_reordered_webhooks_still_dial_once_per_attempt() {
    for delivery in [Delivery::Duplicated, Delivery::Shuffled] {
        let rig = Rig::start(&["+15551000004", "+15551000002"], delivery).await;
        let escalation = rig.escalate().await;
        assert_eq!(
            escalation["status"], "acknowledged",
            "{delivery:?}: {escalation:#}"
        );
        let seen = actions(&rig.requests());
        assert_eq!(
            seen.iter().filter(|a| a.starts_with("dial")).count(),
            2,
            "{delivery:?}: one dial per attempt: {seen:?}"
        );
    }
}

#[tokio::test]
async fn forged_or_stale_call_webhooks_are_refused_and_change_nothing() {
    let rig = Rig::start(&["+15551000004"], Delivery::InOrder).await;
    let body = json!({"data": {"record_type": "event", "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "event_type": "call.answered", "occurred_at": "2026-11-23T10:00:00Z",
        "payload": {"call_control_id": "v3:forged", "call_leg_id": "l", "call_session_id": "s", "connection_id": "c"}}});
    // A key that is not the carrier's.
    let stranger = [7u8; 32];
    let now = klaxon::clock::now_secs().to_string();
    let body_text = body.to_string();
    let signed_by_stranger = klaxon::signing::telnyx::sign(&stranger, &now, body_text.as_bytes());
    let cases = [
        (None, None, "missing_signature"),
        (
            Some(signed_by_stranger.clone()),
            Some(now.clone()),
            "invalid_signature",
        ),
        (
            Some(signed_by_stranger),
            Some("1000000000".to_owned()),
            "invalid_signature",
        ),
    ];
    for (signature, timestamp, code) in cases {
        let mut request = rig
            .server
            .http
            .post(rig.server.url("/webhooks/voice"))
            .header("content-type", "application/json")
            .body(body_text.clone());
        if let Some(signature) = signature {
            request = request.header("telnyx-signature-ed25519", signature);
        }
        if let Some(timestamp) = timestamp {
            request = request.header("telnyx-timestamp", timestamp);
        }
        let answer = rig.server.send(request).await;
        crate::support::assert_error(&answer, 401, code);
    }
    let (_, escalations) = rig.server.get("/v1/escalations").await;
    assert_eq!(
        escalations["data"],
        json!([]),
        "nothing was created or changed"
    );
}

#[tokio::test]
async fn cancel_stops_a_running_escalation() {
    let rig = Rig::start(&["+15551000004"; 3], Delivery::InOrder).await;
    let (status, accepted) = rig
        .server
        .post_event(&json!({"type": "support.ticket.created", "payload": {"subject": "Down"}}))
        .await;
    assert_eq!(status, 202);
    let event = accepted["id"].as_str().unwrap().to_owned();
    let id = eventually(WAIT, || async {
        let (_, e) = rig.server.get(&format!("/v1/events/{event}")).await;
        e["pipeline"]["runs"][0]["destinations"][0]["escalation_id"]
            .as_str()
            .map(String::from)
    })
    .await;
    let cancel = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url(&format!("/v1/escalations/{id}/cancel"))),
        )
        .await;
    assert_eq!(cancel.0, 200, "{}", cancel.1);
    assert_eq!(cancel.1["status"], "cancelled");
    let again = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url(&format!("/v1/escalations/{id}/cancel"))),
        )
        .await;
    crate::support::assert_error(&again, 409, "escalation_ended");
    let (_, listed) = rig.server.get("/v1/escalations?state=cancelled").await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (_, reference) = rig.server.get("/escalations").await;
    assert_eq!(reference["data"][0]["status"], "cancelled");
    crate::support::assert_error(
        &rig.server.get("/v1/escalations?state=lost").await,
        400,
        "invalid_state",
    );
}

#[tokio::test]
async fn call_events_are_kept_until_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = klaxon::store::Store::open(
        &klaxon::store::DatabaseUrl::Sqlite(dir.path().join("k.db")),
        &klaxon::Settings::for_database(klaxon::store::DatabaseUrl::Sqlite(
            dir.path().join("k.db"),
        ))
        .store,
    )
    .await
    .unwrap();
    assert!(
        store
            .first_sight_of_webhook("e1".into(), "{\"a\":1}".into())
            .await
            .unwrap()
    );
    assert!(
        !store
            .first_sight_of_webhook("e1".into(), "{\"a\":1}".into())
            .await
            .unwrap(),
        "a redelivery is recognised"
    );
    assert!(
        store
            .first_sight_of_webhook("e2".into(), "{\"b\":2}".into())
            .await
            .unwrap()
    );
    store.webhook_processed("e1".into()).await.unwrap();
    // What a restart would replay: only the event not yet acted on.
    assert_eq!(
        store.unprocessed_webhooks().await.unwrap(),
        vec![("e2".to_owned(), "{\"b\":2}".to_owned())]
    );
    store.close().await;
}
