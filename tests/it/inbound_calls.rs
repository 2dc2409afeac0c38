//! Live call routing: a caller rings Klaxon's number on the sandbox carrier, over real HTTP.
//! They press 1 and are bridged, on their own leg, to whoever takes the escalation; or
//! nobody is reached, they are told and leave a message; or they press 2 (or nothing) and
//! leave one; or they hang up while on-call rings. Every request Klaxon sends and every
//! webhook the carrier sends are validated against the Telnyx spec.

use std::collections::HashMap;
use std::time::Duration;

use klaxon::sandbox::carrier::{
    Delivery, IncomingCall, LegSnapshot, LegState, RecordedRequest, Script, SentWebhook,
};
use serde_json::Value;

use crate::support::eventually;
use crate::support::telnyx_spec::assert_valid;
use crate::support::voice_rig::{Rig, RigConfig, WAIT, action};

/// Klaxon's number in the rig (`TELNYX_PHONE_NUMBER`).
const KLAXON: &str = "+15550100000";
const CALLER: &str = "+15557770001";
const MESSAGE: &str = "The payment page is down again, please call me back";

impl Rig {
    /// A call to Klaxon's number from [`CALLER`], acting out `script`; its leg's id.
    fn call_klaxon(&self, script: Script) -> String {
        self.carrier
            .place_call(IncomingCall {
                from: CALLER.to_owned(),
                to: KLAXON.to_owned(),
                script,
                webhook_url: Some(self.server.url("/webhooks/voice")),
            })
            .expect("a webhook URL is given")
    }

    /// The one `call.message` event, once stored.
    async fn message_event(&self) -> Value {
        eventually(WAIT, || async {
            let (_, page) = self.server.get("/v1/events?type=call.message").await;
            page["data"][0].is_object().then(|| page["data"][0].clone())
        })
        .await
    }

    /// The leg with this id, once it has ended.
    async fn ended_leg(&self, id: &str) -> LegSnapshot {
        self.carrier
            .wait_until(WAIT, |seen| {
                seen.leg(id)
                    .filter(|leg| leg.state == LegState::Ended)
                    .cloned()
            })
            .await
            .expect("the leg ends")
    }
}

/// Requests on one leg, by action name.
fn on_leg(requests: &[RecordedRequest], leg: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path.contains(&format!("/calls/{leg}/")))
        .map(action)
        .collect()
}

/// What was said on one leg (speaks and menu prompts).
fn said_on(requests: &[RecordedRequest], leg: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path.contains(&format!("/calls/{leg}/")))
        .filter_map(|r| r.body["payload"].as_str().map(str::to_owned))
        .collect()
}

/// Every webhook of the call types live routing adds or relies on, validated.
fn assert_webhooks_valid(webhooks: &[SentWebhook]) {
    for webhook in webhooks {
        let schema = match webhook.event_type.as_str() {
            "call.initiated" => "CallInitiatedEvent",
            "call.answered" => "CallAnsweredEvent",
            "call.gather.ended" => "CallGatherEndedEvent",
            "call.bridged" => "CallBridgedEvent",
            "call.hangup" => "CallHangupEvent",
            "call.recording.saved" => "CallRecordingSavedEvent",
            "call.recording.transcription.saved" => "callRecordingTranscriptionSavedEvent",
            _ => continue,
        };
        assert_valid(schema, &webhook.body);
    }
}

fn dials(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path.ends_with("/calls"))
        .map(action)
        .collect()
}

#[tokio::test]
async fn pressing_1_rings_on_call_and_bridges_the_callers_own_leg() {
    // …01 answers and presses 1: "connect me".
    let rig = Rig::start(&["+15551000001"], Delivery::InOrder).await;
    let caller = rig.call_klaxon(Script::caller("1", None));
    let (engineer, bridge) = rig
        .carrier
        .wait_until(WAIT, |seen| {
            seen.requests
                .iter()
                .find(|r| r.path.ends_with("/actions/bridge"))
                .map(|r| (r.path.clone(), r.body.clone()))
        })
        .await
        .expect("a bridge is asked for");
    assert_eq!(
        bridge["call_control_id"], caller,
        "the caller's own leg is bridged"
    );
    let engineer_leg = rig
        .carrier
        .legs()
        .into_iter()
        .find(|l| l.to == "+15551000001")
        .expect("the engineer was rung");
    assert!(engineer.contains(&engineer_leg.call_control_id));
    rig.carrier
        .wait_until(WAIT, |seen| {
            seen.leg(&caller)
                .filter(|l| l.bridged_with.as_deref() == Some(&engineer_leg.call_control_id))
                .map(|_| ())
        })
        .await
        .expect("the carrier bridged the two legs");
    let (_, escalations) = rig.server.get("/v1/escalations").await;
    let escalation = &escalations["data"][0];
    assert_eq!(escalation["policy"], "oncall");
    let escalation = rig.ended(escalation["id"].as_str().unwrap()).await;
    assert_eq!(escalation["status"], "connected");
    // The conversation ends; both legs go down.
    rig.ended_leg(&caller).await;
    rig.ended_leg(&engineer_leg.call_control_id).await;
    let requests = rig.requests();
    assert_eq!(
        dials(&requests),
        ["dial +15551000001"],
        "one dial, to the engineer: none to the caller"
    );
    let caller_actions = on_leg(&requests, &caller);
    assert_eq!(caller_actions[..2], ["answer", "gather_using_speak"]);
    assert!(
        said_on(&requests, &caller)
            .iter()
            .any(|s| s.starts_with("Please hold while Klaxon reaches the on-call engineer")),
        "{:?}",
        said_on(&requests, &caller)
    );
    assert!(
        !caller_actions.contains(&"record_start".to_owned()),
        "{caller_actions:?}"
    );
    assert_webhooks_valid(&rig.carrier.webhooks_sent());
}

#[tokio::test]
async fn nobody_reached_the_caller_is_told_and_their_message_becomes_an_event() {
    // …04 never answers: the chain ends unreached.
    let rig = Rig::start(&["+15551000004"], Delivery::InOrder).await;
    let caller = rig.call_klaxon(Script::caller("1", Some(MESSAGE)));
    let event = rig.message_event().await;
    let message = &event["payload"];
    assert_eq!(message["transcript"], MESSAGE);
    assert_eq!(message["caller"], CALLER);
    assert_eq!(message["reason"], "unreached");
    assert_eq!(message["escalation_outcome"], "unreached");
    assert!(
        message["recording_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{message}"
    );
    let escalation = message["escalation_id"].as_str().expect("the escalation");
    assert_eq!(rig.ended(escalation).await["status"], "unreached");
    // Thanked and hung up by Klaxon.
    let leg = rig.ended_leg(&caller).await;
    assert!(leg.ended_by_command, "{leg:?}");
    let requests = rig.requests();
    let said = said_on(&requests, &caller);
    let told = said
        .iter()
        .position(|s| s.starts_with("Sorry, we could not reach the on-call engineer"))
        .expect("the caller is told");
    assert!(said[told + 1..].iter().any(|s| s.starts_with("Thank you")));
    let actions = on_leg(&requests, &caller);
    assert_eq!(actions.last().map(String::as_str), Some("hangup"));
    let record = requests
        .iter()
        .find(|r| r.path.ends_with("/actions/record_start"))
        .expect("the message is recorded");
    assert_eq!(record.body["transcription"], true);
    assert_webhooks_valid(&rig.carrier.webhooks_sent());
}

#[tokio::test]
async fn pressing_2_or_nothing_leaves_a_message_without_ringing_anyone() {
    for (keys, reason) in [("2", "chose_message"), ("", "no_choice")] {
        let rig = Rig::start(&["+15551000001"], Delivery::InOrder).await;
        let caller = rig.call_klaxon(Script::caller(keys, Some(MESSAGE)));
        let event = rig.message_event().await;
        assert_eq!(event["payload"]["transcript"], MESSAGE, "{keys:?}");
        assert_eq!(event["payload"]["reason"], reason);
        assert_eq!(event["payload"]["escalation_id"], Value::Null);
        rig.ended_leg(&caller).await;
        let requests = rig.requests();
        assert!(dials(&requests).is_empty(), "{keys:?}: nobody is rung");
        let actions = on_leg(&requests, &caller);
        assert_eq!(
            actions,
            [
                "answer",
                "gather_using_speak",
                "speak",
                "record_start",
                "speak",
                "hangup"
            ],
            "{keys:?}"
        );
        assert_webhooks_valid(&rig.carrier.webhooks_sent());
    }
}

#[tokio::test]
async fn the_caller_hanging_up_while_on_call_rings_cancels_the_escalation() {
    const SLOW: &str = "+15551000031";
    let toml = r#"
[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000031"]
ring_timeout_secs = 600
"#;
    let rig = Rig::start_with(RigConfig {
        toml,
        scripts: HashMap::from([(
            SLOW.to_owned(),
            Script::caller("1", None).answering_after(Duration::from_secs(30)),
        )]),
        ..RigConfig::default()
    })
    .await;
    let caller =
        rig.call_klaxon(Script::caller("1", None).hanging_up_after(Duration::from_millis(900)));
    let engineer = rig
        .carrier
        .wait_until(WAIT, |seen| {
            seen.legs.iter().find(|l| l.to == SLOW).cloned()
        })
        .await
        .expect("on-call is rung");
    assert_eq!(
        engineer.state,
        LegState::Ringing,
        "still ringing when the caller leaves"
    );
    let engineer = rig.ended_leg(&engineer.call_control_id).await;
    assert!(
        engineer.ended_by_command,
        "Klaxon ends the engineer's call: {engineer:?}"
    );
    let (_, escalations) = rig.server.get("/v1/escalations").await;
    let id = escalations["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.ended(&id).await["status"], "cancelled");
    let leg = rig.ended_leg(&caller).await;
    assert!(!leg.ended_by_command, "the caller hung up: {leg:?}");
    // No message: they left before any was asked for.
    let (_, messages) = rig.server.get("/v1/events?type=call.message").await;
    assert_eq!(messages["data"].as_array().map(Vec::len), Some(0));
    rig.requests();
}

#[tokio::test]
async fn duplicated_webhooks_change_nothing() {
    // Every webhook is delivered twice (same `data.id`, freshly signed).
    let rig = Rig::start(&["+15551000004"], Delivery::Duplicated).await;
    let caller = rig.call_klaxon(Script::caller("1", Some(MESSAGE)));
    let event = rig.message_event().await;
    assert_eq!(event["payload"]["transcript"], MESSAGE);
    rig.ended_leg(&caller).await;
    // Let every late copy arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = rig.requests();
    let actions = on_leg(&requests, &caller);
    for once in ["answer", "gather_using_speak", "record_start", "hangup"] {
        assert_eq!(
            actions.iter().filter(|a| *a == once).count(),
            1,
            "{once} once: {actions:?}"
        );
    }
    assert_eq!(dials(&requests), ["dial +15551000004"]);
    let (_, messages) = rig.server.get("/v1/events?type=call.message").await;
    assert_eq!(messages["data"].as_array().map(Vec::len), Some(1));
    let (_, escalations) = rig.server.get("/v1/escalations").await;
    assert_eq!(escalations["data"].as_array().map(Vec::len), Some(1));
    let copies = rig
        .carrier
        .webhooks_sent()
        .iter()
        .filter(|w| w.event_type == "call.initiated" && w.call_control_id == caller)
        .count();
    assert!(
        copies >= 2,
        "the carrier did send duplicates ({copies} copies)"
    );
}
