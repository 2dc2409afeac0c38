//! SMS escalation steps end to end on the sandbox carrier, over real HTTP: a step that texts
//! before calling (a reply "1" acknowledges and the ringing stops), one that texts instead of
//! calling, delivery receipts on the timeline, and replies that must change nothing (a bad
//! signature, an unknown number, words that are not an acknowledgement). Every request Klaxon
//! sends is validated against the Telnyx spec, and so is every message webhook the sandbox
//! sends. Runs on SQLite, and on PostgreSQL with `KLAXON_TEST_POSTGRES_URL`.

use klaxon::sandbox::carrier::{Delivery, LegState, TextSnapshot};
use klaxon::signing::telnyx::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use serde_json::{Value, json};

use crate::support::eventually;
use crate::support::telnyx_spec::assert_valid;
use crate::support::voice_rig::{Rig, RigConfig, WAIT};

/// Klaxon's number in the rig (`TELNYX_PHONE_NUMBER`).
const OURS: &str = "+15550100000";
/// The default number plan: rings until the ring timeout, never answers.
const NEVER_ANSWERS: &str = "+15551000004";
/// Replies "ack" to every text (and would press 2 on a call).
const ACKNOWLEDGER: &str = "+15551000002";
/// Answers and stays silent; never replies to texts.
const SILENT: &str = "+15551000009";
/// A text to it is not delivered.
const UNREACHABLE: &str = "+15551000005";

fn policy(steps: &str) -> String {
    format!(
        r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = {{ policy = "texting" }}

[[policies]]
name = "texting"
{steps}
"#
    )
}

async fn rig(steps: &str) -> Rig {
    Rig::start_with(RigConfig {
        toml: &policy(steps),
        ..RigConfig::default()
    })
    .await
}

async fn ticket(rig: &Rig) -> String {
    rig.send_ticket(json!({ "subject": "Checkout down for EU customers", "customer": "Acme GmbH" }))
        .await
}

async fn escalation(rig: &Rig, id: &str) -> Value {
    rig.server.get(&format!("/v1/escalations/{id}")).await.1
}

/// The `detail.event` of every timeline line.
fn events(escalation: &Value) -> Vec<String> {
    escalation["timeline"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l["detail"]["event"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the escalation's timeline has a line whose event starts with `prefix`.
async fn line(rig: &Rig, id: &str, prefix: &str) -> Value {
    eventually(WAIT, || async {
        let escalation = escalation(rig, id).await;
        events(&escalation)
            .iter()
            .any(|e| e.starts_with(prefix))
            .then_some(escalation)
    })
    .await
}

/// Every text Klaxon asked the carrier to send, its request validated against the spec.
fn texts(rig: &Rig) -> Vec<TextSnapshot> {
    for request in rig.carrier.requests() {
        if request.path.ends_with("/messages") {
            assert_valid("CreateMessageRequest", &request.body);
            assert_eq!(request.status, 200, "{request:?}");
        }
    }
    rig.carrier.texts()
}

/// Every message webhook the carrier sent, validated against the spec's event schemas.
fn check_message_webhooks(rig: &Rig) -> usize {
    let webhooks: Vec<_> = rig
        .carrier
        .webhooks_sent()
        .into_iter()
        .filter(|w| w.event_type.starts_with("message."))
        .collect();
    for webhook in &webhooks {
        let schema = if webhook.event_type == "message.received" {
            "InboundMessageEvent"
        } else {
            "OutboundMessageEvent"
        };
        assert_valid(schema, &webhook.body);
    }
    webhooks.len()
}

fn dials(rig: &Rig) -> usize {
    rig.carrier
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/calls"))
        .count()
}

#[tokio::test]
async fn a_text_instead_of_a_call_waits_for_a_reply_then_moves_on_without_calling() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000009"]
sms = "instead"
ring_timeout_secs = 5
"#)
    .await;
    let id = ticket(&rig).await;
    let sent = eventually(WAIT, || async {
        texts(&rig).into_iter().find(|t| t.status == "delivered")
    })
    .await;
    assert_eq!((sent.to.as_str(), sent.from.as_str()), (SILENT, OURS));
    assert!(
        sent.text.contains("Checkout down for EU customers"),
        "{}",
        sent.text
    );
    assert!(sent.text.contains("Reply 1 or ACK"), "{}", sent.text);
    line(&rig, &id, "text delivered").await;
    let ended = rig.ended(&id).await;
    assert_eq!(ended["status"], "unreached", "{ended:#}");
    let said = events(&escalation(&rig, &id).await);
    assert!(said.iter().any(|e| e == "text sent"), "{said:?}");
    assert!(said.iter().any(|e| e == "no reply to the text"), "{said:?}");
    assert_eq!(dials(&rig), 0, "texted instead of calling");
    assert_eq!(texts(&rig).len(), 1);
    assert!(check_message_webhooks(&rig) >= 2);
}

#[tokio::test]
async fn an_undelivered_text_is_on_the_timeline_and_the_call_still_goes_out() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000005"]
sms = "before"
"#)
    .await;
    let id = ticket(&rig).await;
    let failed = line(&rig, &id, "text not delivered").await;
    let said = events(&failed);
    let text = said
        .iter()
        .position(|e| e == "text sent")
        .expect("text sent");
    let call = said
        .iter()
        .position(|e| e == "call placed")
        .expect("call placed");
    assert!(text < call, "the text goes first: {said:?}");
    assert_eq!(texts(&rig)[0].to, UNREACHABLE);
    assert_eq!(texts(&rig)[0].status, "delivery_failed");
    check_message_webhooks(&rig);
}

#[tokio::test]
async fn replies_that_are_not_an_acknowledgement_change_nothing_but_the_timeline() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000004"]
sms = "before"
ring_timeout_secs = 600
"#)
    .await;
    let id = ticket(&rig).await;
    eventually(WAIT, || async {
        let legs = rig.carrier.legs();
        (legs.len() == 1 && legs[0].state == LegState::Ringing).then_some(())
    })
    .await;
    line(&rig, &id, "text delivered").await;

    // Someone Klaxon never texted: nothing is recorded anywhere.
    let before = escalation(&rig, &id).await;
    assert!(rig.carrier.text_from("+15557770001", OURS, "1").await);
    // The person texted, but not an acknowledgement: a line, nothing else.
    assert!(
        rig.carrier
            .text_from(NEVER_ANSWERS, OURS, "on my way")
            .await
    );
    let noted = line(&rig, &id, "text reply; not acknowledged").await;
    assert_eq!(noted["status"], "active");
    assert_eq!(
        events(&noted).len(),
        events(&before).len() + 1,
        "only the reply's line was added: {:?}",
        events(&noted)
    );
    let legs = rig.carrier.legs();
    assert_eq!(legs[0].state, LegState::Ringing, "still ringing");
    assert!(!legs[0].commands.iter().any(|c| c == "hangup"));
    let webhooks = rig.carrier.webhooks_sent();
    let replies: Vec<_> = webhooks
        .iter()
        .filter(|w| w.event_type == "message.received")
        .collect();
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|w| w.status == Some(200)), "{replies:?}");
    check_message_webhooks(&rig);
}

#[tokio::test]
async fn a_reply_with_a_bad_signature_is_refused_and_changes_nothing() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000004"]
sms = "before"
ring_timeout_secs = 600
"#)
    .await;
    let id = ticket(&rig).await;
    line(&rig, &id, "text delivered").await;
    let before = escalation(&rig, &id).await;
    let body = json!({"data": {
        "record_type": "event", "id": "0f0e8c52-5a1e-4c52-9a57-2c1b1d3c9a01",
        "event_type": "message.received", "occurred_at": "2026-12-06T04:00:00Z",
        "payload": {"record_type": "message", "direction": "inbound", "type": "SMS",
            "id": "7ee4241c-f127-47e5-9c34-3aac291f8058", "text": "1",
            "from": {"phone_number": NEVER_ANSWERS}, "to": [{"phone_number": OURS}]}}})
    .to_string();
    let timestamp = klaxon::clock::now_secs().to_string();
    let post = |signature: Option<String>| {
        let mut request = rig
            .server
            .http
            .post(rig.server.url("/webhooks/messaging"))
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        rig.server.send(request)
    };
    let forged = sign(&[7; 32], &timestamp, body.as_bytes());
    let answer = post(Some(forged)).await;
    crate::support::assert_error(&answer, 401, "invalid_signature");
    crate::support::assert_error(&post(None).await, 401, "missing_signature");
    let after = escalation(&rig, &id).await;
    assert_eq!(after["status"], "active");
    assert_eq!(events(&after), events(&before));
    assert_eq!(rig.carrier.legs()[0].state, LegState::Ringing);
}

#[tokio::test]
async fn a_text_before_the_call_then_the_reply_1_acknowledges_and_the_ringing_stops() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000004"]
sms = "before"
ring_timeout_secs = 600
"#)
    .await;
    let id = ticket(&rig).await;
    let ringing = eventually(WAIT, || async {
        let legs = rig.carrier.legs();
        (legs.len() == 1 && legs[0].state == LegState::Ringing).then(|| legs[0].clone())
    })
    .await;
    let text = texts(&rig).remove(0);
    assert_eq!(text.to, NEVER_ANSWERS);
    assert!(text.text.contains("Klaxon calls you next"), "{}", text.text);
    assert!(
        text.sent_at <= ringing.started_at,
        "the text went before the call"
    );

    assert!(rig.carrier.text_from(NEVER_ANSWERS, OURS, "1").await);
    let ended = rig.ended(&id).await;
    assert_eq!(ended["status"], "acknowledged", "{ended:#}");
    let leg = eventually(WAIT, || async {
        rig.carrier
            .leg(&ringing.call_control_id)
            .filter(|l| l.state == LegState::Ended)
    })
    .await;
    assert!(
        leg.commands.iter().any(|c| c == "hangup"),
        "the ringing call was hung up by Klaxon: {:?}",
        leg.commands
    );
    let said = events(&escalation(&rig, &id).await);
    assert!(said.iter().any(|e| e == "acknowledged by text"), "{said:?}");
    assert!(
        said.iter()
            .any(|e| e.starts_with("acknowledged by SMS from")),
        "{said:?}"
    );
    rig.requests();
    check_message_webhooks(&rig);
}

#[tokio::test]
async fn instead_texts_without_calling_and_a_reply_acknowledges() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000002"]
sms = "instead"
ring_timeout_secs = 600
"#)
    .await;
    let id = ticket(&rig).await;
    let ended = rig.ended(&id).await;
    assert_eq!(ended["status"], "acknowledged", "{ended:#}");
    let said = events(&line(&rig, &id, "text delivered").await);
    let sent = said.iter().position(|e| e == "text sent").expect("sent");
    let delivered = said
        .iter()
        .position(|e| e == "text delivered")
        .expect("delivered");
    assert!(sent < delivered, "{said:?}");
    assert!(
        said.iter().any(|e| e == "text sent by the carrier"),
        "{said:?}"
    );
    assert!(said.iter().any(|e| e == "acknowledged by text"), "{said:?}");
    assert_eq!(dials(&rig), 0, "no call");
    let texts = texts(&rig);
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].to, ACKNOWLEDGER);
    assert!(
        !texts[0].text.contains("calls you next"),
        "{}",
        texts[0].text
    );
    assert_eq!(
        check_message_webhooks(&rig),
        3,
        "sent, finalized, the reply"
    );
}

#[tokio::test]
async fn with_two_escalations_open_only_the_quoted_code_is_acknowledged() {
    let rig = rig(r#"[[policies.steps]]
targets = ["+15551000004"]
sms = "instead"
ring_timeout_secs = 600
"#)
    .await;
    let first = ticket(&rig).await;
    let second = rig
        .send_ticket(json!({ "subject": "Payments slow", "customer": "Globex" }))
        .await;
    eventually(WAIT, || async { (texts(&rig).len() == 2).then_some(()) }).await;
    rig.carrier.text_from(NEVER_ANSWERS, OURS, "ack").await;
    line(&rig, &first, "text reply; not acknowledged").await;
    line(&rig, &second, "text reply; not acknowledged").await;
    assert_eq!(escalation(&rig, &first).await["status"], "active");
    let code = texts(&rig)
        .iter()
        .find(|t| t.text.contains("Payments slow"))
        .and_then(|t| t.text.rsplit("(ACK ").next())
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .expect("the second text's code");
    rig.carrier
        .text_from(NEVER_ANSWERS, OURS, &format!("ACK {}", code.to_uppercase()))
        .await;
    assert_eq!(rig.ended(&second).await["status"], "acknowledged");
    assert_eq!(escalation(&rig, &first).await["status"], "active");
}

#[tokio::test]
async fn redelivered_receipts_and_replies_change_nothing() {
    let rig = Rig::start_with(RigConfig {
        toml: &policy(
            r#"[[policies.steps]]
targets = ["+15551000002"]
sms = "instead"
ring_timeout_secs = 600
"#,
        ),
        delivery: Delivery::Duplicated,
        ..RigConfig::default()
    })
    .await;
    let id = ticket(&rig).await;
    assert_eq!(rig.ended(&id).await["status"], "acknowledged");
    let webhooks = eventually(WAIT, || async {
        let sent: Vec<_> = rig
            .carrier
            .webhooks_sent()
            .into_iter()
            .filter(|w| w.event_type.starts_with("message."))
            .collect();
        (sent.len() == 6).then_some(sent)
    })
    .await;
    for pair in webhooks.chunks(2) {
        assert_eq!(pair[0].event_id, pair[1].event_id, "each event twice");
        assert!(pair.iter().all(|w| w.status == Some(200)), "{pair:?}");
    }
    let said = events(&escalation(&rig, &id).await);
    for once in [
        "text sent by the carrier",
        "text delivered",
        "acknowledged by text",
    ] {
        assert_eq!(
            said.iter().filter(|e| *e == once).count(),
            1,
            "{once}: {said:?}"
        );
    }
}

fn resolve(toml: &str, env: &[(&str, &str)]) -> Result<klaxon::Settings, String> {
    let raw = klaxon::settings::Raw::from_toml(std::path::Path::new("klaxon.toml"), toml)
        .map_err(|e| e.to_string())?;
    klaxon::Settings::resolve(raw, |var| {
        env.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    })
    .map_err(|e| e.to_string())
}

#[test]
fn sms_settings_default_to_the_caller_id_and_bad_values_are_reported_with_their_key() {
    let steps = "[[policies.steps]]\ntargets = [\"+15551000004\"]\nsms = \"instead\"\n";
    let settings = resolve(&policy(steps), &[("TELNYX_PHONE_NUMBER", "+15557650000")])
        .expect("valid settings");
    assert_eq!(settings.voice.sms.from_number, "+15557650000");
    assert_eq!(settings.voice.sms.messaging_profile_id, None);
    assert_eq!(
        settings.voice.policies["texting"].steps[0].sms,
        Some(klaxon::voice::sms::Texting::Instead)
    );
    let own = resolve(
        &policy(steps),
        &[
            ("TELNYX_SMS_NUMBER", "+15557650001"),
            (
                "TELNYX_MESSAGING_PROFILE_ID",
                "400176fe-2a4e-4c62-8654-356618b655c1",
            ),
        ],
    )
    .expect("valid settings");
    assert_eq!(own.voice.sms.from_number, "+15557650001");
    let bad = resolve(&policy(steps), &[("TELNYX_SMS_NUMBER", "5557650001")]).unwrap_err();
    assert!(bad.contains("voice.sms.from_number"), "{bad}");
    let bad = resolve(&policy(&steps.replace("instead", "after")), &[]).unwrap_err();
    assert!(bad.contains("sms"), "{bad}");
}

/// The store's rules for texts, on whichever backend the suite runs (SQLite, or PostgreSQL
/// with `KLAXON_TEST_POSTGRES_URL`): one claim per slot, a recovery re-sends only a text
/// Telnyx never accepted, a webhook counts once, and a final status is never moved back.
#[tokio::test]
async fn the_store_claims_a_text_once_and_records_each_webhook_once() {
    use klaxon::store::{Dialling, EscalationId, NewText, Receipt, Store, TextClaim};
    let dir = tempfile::tempdir().unwrap();
    let database = crate::support::postgres::database_for(&dir.path().join("klaxon.db"));
    let settings = klaxon::Settings::for_database(database.clone()).store;
    let store = Store::open(&database, &settings)
        .await
        .expect("open the store");
    let escalation = EscalationId::new();
    let text = |attempt, why| NewText {
        escalation,
        attempt,
        to: NEVER_ANSWERS.into(),
        code: "k4q7".into(),
        why,
    };
    let line = || klaxon::voice::timeline::entry("webhook", json!({ "event": "x" }));
    let claim = |t| store.claim_text(t);
    assert_eq!(
        claim(text(1, Dialling::Decided)).await.unwrap(),
        TextClaim::Claimed
    );
    assert_eq!(
        claim(text(1, Dialling::Decided)).await.unwrap(),
        TextClaim::Refused { message_id: None }
    );
    assert_eq!(
        claim(text(1, Dialling::Recovered)).await.unwrap(),
        TextClaim::Resend
    );
    assert_eq!(
        claim(text(2, Dialling::Decided)).await.unwrap(),
        TextClaim::Claimed
    );
    store
        .text_sent(escalation, 1, Some("m-1".into()), "queued".into(), line())
        .await
        .unwrap();
    assert_eq!(
        claim(text(1, Dialling::Recovered)).await.unwrap(),
        TextClaim::Refused {
            message_id: Some("m-1".into())
        }
    );
    let receipt = |webhook: &str, status: &str| {
        store.record_text_receipt(webhook.into(), "m-1".into(), status.into(), line())
    };
    assert_eq!(
        receipt("w-1", "delivered").await.unwrap(),
        Receipt::Recorded(escalation)
    );
    assert_eq!(
        receipt("w-1", "delivered").await.unwrap(),
        Receipt::Duplicate
    );
    assert_eq!(
        receipt("w-2", "sent").await.unwrap(),
        Receipt::Recorded(escalation)
    );
    let stored = store.texts_of(escalation).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        (stored[0].message_id.as_deref(), stored[0].status.as_str()),
        (Some("m-1"), "delivered"),
        "a late message.sent does not undo delivered"
    );
    assert_eq!(stored[1].status, "sending");
    let unknown = store
        .record_text_receipt("w-3".into(), "not-ours".into(), "sent".into(), line())
        .await
        .unwrap();
    assert_eq!(unknown, Receipt::Unknown);
    assert!(
        store
            .record_text_reply("w-4".into(), Vec::new())
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_text_reply("w-4".into(), Vec::new())
            .await
            .unwrap()
    );
}

/// `klaxon serve` with no Telnyx account: the built-in sandbox carrier texts, its receipts and
/// the acknowledger's reply reach Klaxon's own `/webhooks/messaging`, signed with its key.
#[tokio::test]
async fn in_sandbox_mode_a_text_and_its_reply_go_round_without_any_account() {
    let steps = "[[policies.steps]]\ntargets = [\"+15551000002\"]\nsms = \"instead\"\nring_timeout_secs = 600\n";
    let server = crate::support::TestServer::start_with_toml(
        &policy(steps),
        &[("KLAXON_SANDBOX_TIMING", "fast")],
    )
    .await;
    let (status, accepted) = server
        .post_event(&json!({ "type": "support.ticket.created",
            "payload": { "subject": "Checkout down for EU customers" } }))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let ended = server.ended_escalation(WAIT).await;
    assert_eq!(ended["status"], "acknowledged", "{ended:#}");
    let id = ended["id"].as_str().expect("an id");
    let said = eventually(WAIT, || async {
        let (_, e) = server.get(&format!("/v1/escalations/{id}")).await;
        let said = events(&e);
        said.iter().any(|l| l == "text delivered").then_some(said)
    })
    .await;
    assert!(said.iter().any(|e| e == "text sent"), "{said:?}");
    assert!(said.iter().any(|e| e == "acknowledged by text"), "{said:?}");
}
