//! Serialization of every command: exact JSON for the shapes Klaxon sends, and the checks
//! that run before anything is sent. Spec validity is proven on the wire in `tests/it`.

use super::*;
use serde_json::{Value, json};

use crate::voice::telnyx::LegRole;

fn id(step: &str) -> CommandId {
    CommandId::new("esc_1", 1, step)
}

fn state(leg: LegRole) -> ClientState {
    ClientState::new("esc_1", 1, leg).unwrap()
}

fn command_json(command: impl Into<Command>) -> Value {
    let bytes = command.into().body("+15557650000").unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_minimal_dial_is_the_doc_example() {
    let dial = Dial {
        timeout_secs: Some(30),
        answering_machine_detection: Some(AnsweringMachineDetection::Detect),
        webhook_url: Some("https://klaxon.example.com/telnyx/webhooks".to_owned()),
        client_state: Some(state(LegRole::A)),
        ..Dial::new("+15551230001", id("dial"))
    };
    assert_eq!(dial.validate(), Ok(()));
    let body = serde_json::to_value(dial.body("app-1", "+15557650000")).unwrap();
    assert_eq!(
        body,
        json!({"connection_id":"app-1","to":"+15551230001","from":"+15557650000",
               "timeout_secs":30,"answering_machine_detection":"detect",
               "webhook_url":"https://klaxon.example.com/telnyx/webhooks",
               "client_state":"eyJlIjoiZXNjXzEiLCJhIjoxLCJsIjoiQSJ9",
               "command_id":"esc_1:1:dial"})
    );
}

#[test]
fn a_warm_transfer_dial_links_and_overrides_from() {
    let dial = Dial {
        from: Some("+15550001111".to_owned()),
        link_to: Some(CallControlId::new("v3:leg-a")),
        bridge_intent: true,
        park_after_unbridge: true,
        ..Dial::new("+15551230002", id("dial_b"))
    };
    let body = serde_json::to_value(dial.body("app-1", "+15557650000")).unwrap();
    assert_eq!(body["from"], "+15550001111");
    assert_eq!(body["link_to"], "v3:leg-a");
    assert_eq!(body["bridge_intent"], true);
    assert_eq!(body["park_after_unbridge"], "self");
    assert!(body.get("bridge_on_answer").is_none(), "false is left out");
    assert!(body.get("prevent_double_bridge").is_none());
}

#[test]
fn dial_limits_are_checked_before_sending() {
    let bad = |change: fn(&mut Dial)| {
        let mut dial = Dial::new("+15551230001", id("dial"));
        change(&mut dial);
        dial.validate()
    };
    assert!(bad(|d| d.timeout_secs = Some(4)).is_err());
    assert!(bad(|d| d.timeout_secs = Some(601)).is_err());
    assert!(bad(|d| d.time_limit_secs = Some(29)).is_err());
    assert!(bad(|d| d.bridge_on_answer = true).is_err());
    assert!(bad(|d| d.to = "+15551230001,1234".to_owned()).is_err());
    assert!(bad(|d| d.to = " ".to_owned()).is_err());
    assert!(bad(|d| d.from_display_name = Some("Klaxon <on-call>".to_owned())).is_err());
    assert!(bad(|d| d.from_display_name = Some("Klaxon on-call".to_owned())).is_ok());
}

#[test]
fn speak_uses_a_provider_voice_by_default() {
    let speak = Speak {
        client_state: Some(state(LegRole::B)),
        ..Speak::new("Klaxon: Dana is calling about ticket 42.", id("whisper"))
    };
    assert_eq!(
        command_json(speak),
        json!({"payload":"Klaxon: Dana is calling about ticket 42.",
               "voice":"Telnyx.KokoroTTS.af",
               "client_state":ClientState::new("esc_1", 1, LegRole::B).unwrap().encode(),
               "command_id":"esc_1:1:whisper"})
    );
    let both = Speak {
        target_legs: Some(TargetLegs::This),
        payload_type: Some(PayloadType::Ssml),
        service_level: Some(ServiceLevel::Premium),
        ..Speak::new("<speak>hi</speak>", id("speak"))
    };
    let body = command_json(both);
    assert_eq!(body["target_legs"], "self");
    assert_eq!(body["payload_type"], "ssml");
    assert_eq!(body["service_level"], "premium");
}

#[test]
fn the_fallback_menu_collects_one_key() {
    assert_eq!(
        command_json(GatherUsingSpeak::fallback_menu(
            "Press 1 to connect.",
            id("menu")
        )),
        json!({"payload":"Press 1 to connect.","voice":"Telnyx.KokoroTTS.af",
               "valid_digits":"12*","minimum_digits":1,"maximum_digits":1,
               "timeout_millis":8000,"maximum_tries":2,"command_id":"esc_1:1:menu"})
    );
}

#[test]
fn the_ai_gather_asks_for_one_intent() {
    let gather = GatherUsingAi {
        user_response_timeout_ms: Some(10_000),
        ..GatherUsingAi::intent(
            "Database down. Say connect me, or acknowledge.",
            &["connect", "acknowledge", "repeat"],
            id("ai_gather"),
        )
    };
    assert_eq!(
        command_json(gather),
        json!({"greeting":"Database down. Say connect me, or acknowledge.",
               "parameters":{"type":"object","required":["intent"],
                 "properties":{"intent":{"type":"string",
                   "enum":["connect","acknowledge","repeat"],
                   "description":"What the person wants to do next"}}},
               "user_response_timeout_ms":10000,"command_id":"esc_1:1:ai_gather"})
    );
    let not_an_object = Command::from(GatherUsingAi::new(json!("intent"), id("x")));
    assert!(not_an_object.validate().is_err());
}

#[test]
fn transcription_names_its_engine_twice() {
    let start = TranscriptionStart {
        engine: Some(TranscriptionEngine::Google(GoogleTranscription {
            language: Some("en".to_owned()),
            hints: vec!["connect me".to_owned(), "acknowledge".to_owned()],
            ..GoogleTranscription::default()
        })),
        tracks: Some(TranscriptionTracks::Inbound),
        ..TranscriptionStart::new(id("transcribe"))
    };
    assert_eq!(
        command_json(start),
        json!({"transcription_engine":"Google",
               "transcription_engine_config":{"transcription_engine":"Google",
                 "language":"en","hints":["connect me","acknowledge"]},
               "transcription_tracks":"inbound","command_id":"esc_1:1:transcribe"})
    );
    assert_eq!(
        command_json(TranscriptionStart::new(id("t"))),
        json!({"command_id":"esc_1:1:t"})
    );
}

#[test]
fn transfer_always_sends_from_and_both_states() {
    let transfer = Transfer {
        timeout_secs: Some(30),
        client_state: Some(state(LegRole::A)),
        target_leg_client_state: Some(state(LegRole::B)),
        ..Transfer::new("+15551230002", id("transfer"))
    };
    let body = command_json(transfer);
    assert_eq!(body["from"], "+15557650000");
    assert_eq!(body["to"], "+15551230002");
    assert_eq!(
        body["target_leg_client_state"],
        state(LegRole::B).encode().as_str()
    );
    assert_eq!(body.as_object().unwrap().len(), 6);
}

#[test]
fn bridge_and_hangup() {
    assert_eq!(
        command_json(Bridge::new(CallControlId::new("v3:leg-b"), id("bridge"))),
        json!({"call_control_id":"v3:leg-b","command_id":"esc_1:1:bridge"})
    );
    assert_eq!(
        command_json(Hangup::new(id("hangup"))),
        json!({"command_id":"esc_1:1:hangup"})
    );
    let names: Vec<&str> = [
        Command::from(Speak::new("x", id("a"))),
        GatherUsingSpeak::new("x", id("a")).into(),
        GatherUsingAi::new(json!({}), id("a")).into(),
        TranscriptionStart::new(id("a")).into(),
        Transfer::new("+1555", id("a")).into(),
        Bridge::new("v3:b".into(), id("a")).into(),
        Hangup::new(id("a")).into(),
    ]
    .iter()
    .map(Command::action)
    .collect();
    assert_eq!(
        names,
        [
            "speak",
            "gather_using_speak",
            "gather_using_ai",
            "transcription_start",
            "transfer",
            "bridge",
            "hangup"
        ]
    );
}

#[test]
fn spoken_text_limits() {
    let long = "a".repeat(MAX_SPEECH_CHARS + 1);
    assert!(
        Command::from(Speak::new(long.clone(), id("a")))
            .validate()
            .is_err()
    );
    assert!(Command::from(Speak::new("", id("a"))).validate().is_err());
    let mut gather = GatherUsingAi::intent(long, &["connect"], id("a"));
    assert!(Command::from(gather.clone()).validate().is_err());
    gather.greeting = None;
    assert!(Command::from(gather).validate().is_ok());
}
