//! Every call ends well: each call Klaxon places is ended by Klaxon's hand once it is done
//! with it (a voicemail box at once, a call it gives up on after a one-line goodbye, the other
//! side of a finished conversation), menus are honest and bounded, the calls name the
//! policy's role, a parallel step rings everyone at once and gives the escalation to one
//! person, and the timeline says all of it in words. Klaxon against the sandbox carrier over
//! real HTTP; every request validated against the Telnyx spec.

use std::collections::HashMap;
use std::time::Duration;

use klaxon::sandbox::carrier::{Delivery, LegState, Script, Timing};
use serde_json::{Value, json};

use crate::support::voice_rig::{Rig, RigConfig, actions, endings};

/// What the next person in every chain does: presses 2, acknowledged.
const ACKNOWLEDGES: &str = "+15551000012";

#[tokio::test]
async fn no_call_is_left_up_by_us_in_any_scenario() {
    // (first callee, what it does, whether Klaxon must be the one that ends its call)
    for (first, what, ours) in [
        ("+15551000004", "never answers", false),
        ("+15551000005", "busy", false),
        ("+15551000007", "voicemail", true),
        ("+15551000008", "hangs up during the briefing", false),
        ("+15551000009", "silent through every menu round", true),
        ("+15551000003", "passes it on", true),
    ] {
        let rig = Rig::start(&[first, ACKNOWLEDGES], Delivery::InOrder).await;
        let escalation = rig.escalate().await;
        assert_eq!(escalation["status"], "acknowledged", "{what}");
        let id = escalation["id"].as_str().unwrap();
        rig.settled(id).await;
        let ended = endings(&rig.carrier.legs());
        let leg = ended.iter().find(|e| e.to == first).expect("first leg");
        assert_eq!(leg.by_us, ours, "{what}: {leg:?}");
        let second = ended.iter().find(|e| e.to == ACKNOWLEDGES).unwrap();
        assert!(
            second.by_us,
            "the acknowledged call is hung up after its goodbye"
        );
        if what == "voicemail" {
            let voicemail = rig
                .carrier
                .legs()
                .into_iter()
                .find(|l| l.to == first)
                .expect("the voicemail leg");
            let detected = rig
                .carrier
                .first_event_at(&voicemail.call_control_id, "call.machine.detection.ended")
                .expect("the machine verdict");
            let up = voicemail
                .line_time_after(detected)
                .expect("the voicemail leg ended");
            assert!(
                up < Duration::from_millis(500),
                "voicemail up {up:?} after detection"
            );
            let spoken = rig.spoken();
            assert_eq!(
                spoken.iter().filter(|s| s.contains("Press 2")).count(),
                1,
                "the box is never briefed: {spoken:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_call_given_up_on_hears_one_goodbye_and_is_hung_up() {
    let rig = Rig::start(&["+15551000009", ACKNOWLEDGES], Delivery::InOrder).await;
    let escalation = rig.escalate().await;
    let id = escalation["id"].as_str().unwrap();
    let escalation = rig.settled(id).await;
    let requests = rig.requests();
    let silent: Vec<String> = requests
        .iter()
        .filter(|r| r.path.contains("/calls/"))
        .filter(|r| {
            let first = rig
                .carrier
                .legs()
                .into_iter()
                .find(|l| l.to == "+15551000009");
            first.is_some_and(|l| r.path.contains(&l.call_control_id))
        })
        .map(crate::support::voice_rig::action)
        .collect();
    let menus = silent.iter().filter(|a| *a == "gather_using_speak").count();
    assert_eq!(menus, 3, "three rounds by default: {silent:?}");
    assert_eq!(
        &silent[silent.len() - 2..],
        ["speak", "hangup"],
        "a goodbye, then the hang-up: {silent:?}"
    );
    let words = timeline_words(&escalation);
    for line in [
        "menu offered (round 3, template briefing)",
        "no choice (round 3)",
        "goodbye (no choice)",
        "last words heard",
        "hung up by us",
    ] {
        assert!(words.iter().any(|w| w == line), "{line:?} in {words:#?}");
    }
}

#[tokio::test]
async fn escalate_without_a_customer_offers_no_connect_and_the_menu_ends() {
    // …1 presses 1 at every menu: "connect" it is not offered, and it keeps asking.
    let rig = Rig::start_with(RigConfig {
        oncall: &["+15551000001"],
        toml: "",
        ..RigConfig::default()
    })
    .await;
    let (status, accepted) =
        rig.server
            .send(
                rig.server.http.post(rig.server.url("/escalate")).json(
                    &json!({"subject": "Checkout down", "description": "All EU orders fail"}),
                ),
            )
            .await;
    assert_eq!(status, 202, "{accepted}");
    let escalation = crate::support::eventually(Duration::from_secs(15), || async {
        let (_, all) = rig.server.get("/v1/escalations").await;
        let first = all["data"][0].clone();
        (first["status"] != "active" && first["ended_at"].is_string()).then_some(first)
    })
    .await;
    assert_eq!(escalation["status"], "unreached", "{escalation:#}");
    let id = escalation["id"].as_str().unwrap();
    rig.settled(id).await;
    let spoken = rig.spoken();
    let menus: Vec<&String> = spoken.iter().filter(|s| s.contains("Press 2")).collect();
    assert_eq!(menus.len(), 3, "bounded: {spoken:#?}");
    assert!(menus.iter().all(|m| !m.contains("connect")), "{menus:#?}");
    assert_eq!(
        spoken
            .iter()
            .filter(|s| s.contains("no one to connect"))
            .count(),
        1,
        "said once: {spoken:#?}"
    );
    assert!(
        endings(&rig.carrier.legs()).iter().all(|e| e.by_us),
        "the call is ended by us"
    );
}

#[tokio::test]
async fn a_connected_call_ends_both_sides_and_the_timeline_tells_it() {
    let rig = Rig::start(&["+15551000000"], Delivery::InOrder).await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "connected");
    let id = escalation["id"].as_str().unwrap();
    let escalation = rig.settled(id).await;
    let legs = endings(&rig.carrier.legs());
    let customer = legs.iter().find(|e| e.to != "+15551000000").unwrap();
    assert!(!customer.by_us, "the customer ended the conversation");
    // Telnyx ends a bridged leg whose peer hangs up; Klaxon asks too, in case it does not.
    let engineer_leg = rig
        .carrier
        .legs()
        .into_iter()
        .find(|l| l.to == "+15551000000")
        .unwrap();
    let engineer_id = &engineer_leg.call_control_id;
    let asked = rig
        .requests()
        .iter()
        .any(|r| r.path.contains(engineer_id) && r.path.ends_with("/hangup"));
    assert!(asked, "the engineer's leg is hung up by us: {legs:?}");
    let after = engineer_leg
        .line_time_after(customer.ended_at.unwrap())
        .expect("the engineer's leg ended");
    assert!(after < Duration::from_millis(500), "{after:?}");
    let words = timeline_words(&escalation);
    for line in [
        "opening spoken",
        "menu offered (round 1, template briefing)",
        "said \"connect me\" → connect",
        "whisper to the connect target",
        "bridged",
        "outcome: connected",
        "hung up by them",
    ] {
        assert!(words.iter().any(|w| w == line), "{line:?} in {words:#?}");
    }
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("conversation ended after")),
        "{words:#?}"
    );
    assert!(
        !words.iter().any(|w| w == "goodbye done"),
        "nothing is mislabelled as a goodbye: {words:#?}"
    );
}

#[tokio::test]
async fn the_deal_flow_whispers_the_vp_of_sales_not_the_engineer() {
    let toml = r#"
[[policies]]
name = "vp_sales"
[[policies.steps]]
targets = ["+15551000000"]
"#;
    let rig = Rig::start_with(RigConfig {
        toml,
        ..RigConfig::default()
    })
    .await;
    let (status, accepted) = rig
        .server
        .send(rig.server.http.post(rig.server.url("/alert")).json(&json!({
            "deal_name": "Globex platform renewal",
            "amount": 120000,
            "stage": "negotiation",
            "owner_phone": "+15552000001",
        })))
        .await;
    assert_eq!(status, 202, "{accepted}");
    crate::support::eventually(Duration::from_secs(15), || async {
        rig.carrier
            .legs()
            .iter()
            .any(|l| l.to == "+15552000001" && l.state == LegState::Ended)
            .then_some(())
    })
    .await;
    let spoken = rig.spoken();
    let whisper = spoken
        .iter()
        .find(|s| s.contains("is joining you"))
        .expect("a whisper");
    assert!(
        whisper.starts_with(
            "This is Klaxon. The VP of Sales is joining you about: Globex platform renewal"
        ),
        "{whisper}"
    );
    assert!(
        spoken[0].contains("for the VP of Sales"),
        "the opening names the role: {spoken:?}"
    );
}

#[tokio::test]
async fn a_policy_names_its_own_role_and_leaves_voicemail_messages() {
    let toml = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "db", connect_to = "customer_phone" }

[[policies]]
name = "db"
role = "the database on-call"
voicemail = "leave_message"
[[policies.steps]]
targets = ["+15551000007", "+15551000012"]
"#;
    // A box records for 40 carrier seconds; at the fast 10 ms each that is 0.4 s, about as
    // long as the message takes to speak, so under load the box could end the call before
    // Klaxon hangs up. 50 ms seconds give it 2 s; nothing in this call waits on a timeout.
    let rig = Rig::start_with(RigConfig {
        toml,
        timing: Timing {
            second: Duration::from_millis(50),
            ..Timing::fast()
        },
        ..RigConfig::default()
    })
    .await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "acknowledged");
    let id = escalation["id"].as_str().unwrap();
    let escalation = rig.settled(id).await;
    let spoken = rig.spoken();
    assert!(
        spoken[0].ends_with("for the database on-call."),
        "{spoken:?}"
    );
    let message = spoken
        .iter()
        .find(|s| s.contains("Please check your alerts"))
        .expect("a voicemail message");
    assert!(
        message.contains("Checkout down for EU customers") && !message.contains("Acme"),
        "the subject only: {message}"
    );
    let boxes = endings(&rig.carrier.legs());
    let voicemail = boxes.iter().find(|e| e.to == "+15551000007").unwrap();
    assert!(voicemail.by_us, "hung up after the message: {boxes:?}");
    // The box recorded it: the message started after the beep, not during the greeting.
    let recorded = rig
        .carrier
        .legs()
        .into_iter()
        .find(|l| l.to == "+15551000007")
        .and_then(|l| l.voicemail_message)
        .unwrap_or_default();
    assert!(
        recorded.contains("Checkout down for EU customers"),
        "recorded: {recorded:?}"
    );
    let words = timeline_words(&escalation);
    assert!(
        words.iter().any(|w| w == "voicemail message left"),
        "{words:#?}"
    );
    // The chain did not wait for the box: the second person was rung before the beep.
    let requests = actions(&rig.requests());
    let second = requests
        .iter()
        .position(|a| a == "dial +15551000012")
        .unwrap();
    let message_at = requests
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "speak")
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    assert!(second < *message_at.last().unwrap(), "{requests:?}");
}

#[tokio::test]
async fn a_parallel_step_rings_everyone_and_one_person_gets_the_menu() {
    // Two people who both answer at the same moment and press 2, a voicemail and a busy line.
    let toml = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "team", connect_to = "customer_phone" }

[[policies]]
name = "team"
[[policies.steps]]
targets = ["+15551000002", "+15551000022", "+15551000007", "+15551000005"]
ring = "parallel"
"#;
    // The box's greeting runs long, so under load it is still open when someone acknowledges
    // and Klaxon hangs up on it (a default box records for 0.4 s of test time, then ends
    // the call itself).
    let long_greeting = "Please leave a message after the tone. ".repeat(40);
    let scripts = HashMap::from([(
        "+15551000007".to_owned(),
        Script {
            says: Some(long_greeting),
            ..Script::voicemail()
        },
    )]);
    for _ in 0..3 {
        let rig = Rig::start_with(RigConfig {
            toml,
            scripts: scripts.clone(),
            ..RigConfig::default()
        })
        .await;
        let escalation = rig.escalate().await;
        assert_eq!(escalation["status"], "acknowledged", "{escalation:#}");
        let id = escalation["id"].as_str().unwrap();
        rig.settled(id).await;
        let requests = rig.requests();
        let dials: Vec<String> = actions(&requests)
            .into_iter()
            .filter(|a| a.starts_with("dial"))
            .collect();
        assert_eq!(dials.len(), 4, "everyone rung once: {dials:?}");
        let legs = rig.carrier.legs();
        let briefed: Vec<&str> = legs
            .iter()
            .filter(|l| l.commands.iter().any(|c| c == "gather_using_speak"))
            .map(|l| l.to.as_str())
            .collect();
        assert_eq!(
            briefed.len(),
            1,
            "never two people on the menu: {briefed:?}"
        );
        let loser = if briefed[0] == "+15551000002" {
            "+15551000022"
        } else {
            "+15551000002"
        };
        let loser_leg = legs.iter().find(|l| l.to == loser).unwrap();
        assert!(
            loser_leg.commands.iter().any(|c| c == "hangup"),
            "the other person is hung up: {loser_leg:?}"
        );
        assert!(
            rig.spoken().iter().any(|s| s.contains("Someone answered")),
            "and told why"
        );
        for ending in endings(&legs) {
            if ending.to == "+15551000005" {
                assert_eq!(ending.cause, "user_busy");
            } else {
                assert!(ending.by_us, "{ending:?}");
            }
        }
    }
}

/// The timeline's `detail.event` words, in order.
fn timeline_words(escalation: &Value) -> Vec<String> {
    escalation["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|e| e["detail"]["event"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A model on loopback that answers every chat completion with `text`, after `delay`.
async fn slow_model(text: &'static str, delay: Duration) -> String {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = move || async move {
        tokio::time::sleep(delay).await;
        axum::Json(json!({
            "id": "chatcmpl-slow",
            "object": "chat.completion",
            "model": "slow",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
        }))
    };
    let app = axum::Router::new().route("/v1/chat/completions", post(answer));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_briefing_that_arrives_after_the_menu_started_is_spoken_on_the_next_round() {
    const BRIEFING: &str = "Checkout fails for every EU customer since ten.";
    let model = slow_model(BRIEFING, Duration::from_millis(400)).await;
    let rig = Rig::start_with(RigConfig {
        oncall: &["+15551000009"],
        env: &[("AI_BASE_URL", &model), ("AI_API_KEY", "test-key")],
        ..RigConfig::default()
    })
    .await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "unreached", "{escalation:#}");
    let menus: Vec<String> = rig
        .spoken()
        .into_iter()
        .filter(|s| s.contains("Press 2"))
        .collect();
    assert!(
        !menus[0].contains(BRIEFING),
        "round 1 had only the template"
    );
    assert!(
        menus.last().unwrap().starts_with(BRIEFING),
        "a later round speaks the model's briefing: {menus:#?}"
    );
    let words = timeline_words(&escalation);
    assert!(
        words.iter().any(|w| w.ends_with("model's briefing)")),
        "{words:#?}"
    );
}
