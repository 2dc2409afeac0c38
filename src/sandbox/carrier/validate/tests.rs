use super::*;
use serde_json::json;

fn dial_body() -> Value {
    json!({
        "connection_id": "app-1",
        "to": "+15551230001",
        "from": "+15559870000",
        "webhook_url": "http://127.0.0.1:9/hook",
    })
}

fn code(result: Result<Dial, Rejection>) -> (&'static str, String) {
    let rejection = result.expect_err("the dial is refused");
    (
        rejection.code(),
        rejection.body()["errors"][0]["source"]["pointer"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

#[test]
fn e164_is_a_plus_and_up_to_fifteen_digits() {
    for good in ["+15551230001", "+44", "+123456789012345"] {
        assert!(is_e164(good), "{good}");
    }
    for bad in [
        "15551230001",
        "+0555",
        "+1",
        "+1234567890123456",
        "+1 555 123",
        "+1555-123",
        "",
    ] {
        assert!(!is_e164(bad), "{bad}");
    }
}

#[test]
fn a_minimal_dial_gets_telnyx_defaults() {
    let dial = dial(&dial_body()).expect("valid dial");
    assert_eq!(dial.timeout_secs, 30);
    assert_eq!(dial.time_limit_secs, 14_400);
    assert!(dial.retry_on_timeout);
    assert_eq!(dial.amd, Amd::Disabled);
    assert_eq!(dial.to, "+15551230001");
}

#[test]
fn dial_errors_name_the_field() {
    let mut body = dial_body();
    body.as_object_mut().unwrap().remove("connection_id");
    assert_eq!(code(dial(&body)), ("10004", "/connection_id".into()));

    let mut body = dial_body();
    body["to"] = json!("5551230001");
    assert_eq!(code(dial(&body)), ("10016", "/to".into()));

    let mut body = dial_body();
    body["from"] = json!("sip:me@example.com");
    assert_eq!(code(dial(&body)), ("10016", "/from".into()));

    let mut body = dial_body();
    body["timeout_secs"] = json!(3);
    assert_eq!(code(dial(&body)), ("10033", "/timeout_secs".into()));

    let mut body = dial_body();
    body["timeout_secs"] = json!("30");
    assert_eq!(code(dial(&body)), ("10032", "/timeout_secs".into()));

    let mut body = dial_body();
    body["answering_machine_detection"] = json!("on");
    assert_eq!(
        code(dial(&body)),
        ("10032", "/answering_machine_detection".into())
    );

    let mut body = dial_body();
    body["timeout_sec"] = json!(30);
    assert_eq!(code(dial(&body)), ("10032", "/timeout_sec".into()));

    let mut body = dial_body();
    body["client_state"] = json!("{\"e\":1}");
    assert_eq!(code(dial(&body)), ("10032", "/client_state".into()));

    let mut body = dial_body();
    body["bridge_on_answer"] = json!(true);
    assert_eq!(code(dial(&body)).0, "10004");

    let mut body = dial_body();
    body["transcription"] = json!(true);
    body["transcription_config"] = json!({"transcription_engine": "C"});
    assert_eq!(
        code(dial(&body)),
        ("10032", "/transcription_config/transcription_engine".into())
    );
}

#[test]
fn a_sip_uri_or_a_list_is_a_destination() {
    let mut body = dial_body();
    body["to"] = json!("sip:oncall@example.com");
    assert_eq!(dial(&body).expect("sip").to, "sip:oncall@example.com");
    body["to"] = json!(["+15551230002", "+15551230003"]);
    assert_eq!(dial(&body).expect("list").to, "+15551230002");
}

fn command_code(action: &str, body: Value) -> &'static str {
    match command(action, &body).expect("known action") {
        Ok(_) => "ok",
        Err(rejection) => rejection.code(),
    }
}

#[test]
fn commands_are_checked_like_telnyx() {
    let speak = json!({"payload": "Hello there", "voice": "Telnyx.KokoroTTS.af"});
    assert_eq!(command_code("speak", speak.clone()), "ok");
    assert_eq!(
        command_code("speak", json!({"voice": "Telnyx.KokoroTTS.af"})),
        "10004"
    );
    assert_eq!(
        command_code("speak", json!({"payload": "Hi", "voice": "female"})),
        "10032",
        "plain voices need the basic service level"
    );
    assert_eq!(
        command_code(
            "speak",
            json!({"payload": "Hi", "voice": "female", "service_level": "basic"})
        ),
        "ok"
    );
    assert_eq!(
        command_code(
            "gather_using_speak",
            json!({"payload": "Press 1", "voice": "Telnyx.KokoroTTS.af", "input_type": "speech"})
        ),
        "10032",
        "gather_using_speak cannot listen for speech"
    );
    assert_eq!(
        command_code(
            "gather_using_speak",
            json!({"payload": "Press 1", "voice": "Telnyx.KokoroTTS.af", "maximum_digits": 200})
        ),
        "10033"
    );
    assert_eq!(
        command_code("gather_using_ai", json!({"greeting": "Hi"})),
        "10004"
    );
    assert_eq!(
        command_code(
            "transcription_start",
            json!({"transcription_engine": "Whisper"})
        ),
        "10032"
    );
    assert_eq!(command_code("transfer", json!({"to": "555"})), "10016");
    assert_eq!(command_code("bridge", json!({})), "10004");
    assert_eq!(command_code("hangup", Value::Null), "ok");
    assert!(command("join", &json!({})).is_none());
}

#[test]
fn a_gather_keeps_its_digit_rules() {
    let body = json!({
        "payload": "Press 1 to connect, 2 to acknowledge.",
        "voice": "Telnyx.KokoroTTS.af",
        "valid_digits": "12*",
        "minimum_digits": 1,
        "maximum_digits": 1,
        "timeout_millis": 8000,
        "maximum_tries": 2,
    });
    let Some(Ok((_, Command::Gather(gather)))) = command("gather_using_speak", &body) else {
        panic!("a valid gather");
    };
    assert_eq!(gather.prompt_words, Some(7));
    assert_eq!(gather.valid_digits, "12*");
    assert_eq!(gather.timeout_millis, 8000);
    assert_eq!(gather.maximum_tries, 2);
    assert_eq!(gather.terminating_digit, Some('#'));

    let Some(Ok((_, Command::Gather(plain)))) = command("gather", &json!({})) else {
        panic!("a valid gather");
    };
    assert_eq!(plain.prompt_words, None);
    assert_eq!(plain.timeout_millis, 5000, "initial_timeout_millis applies");
    assert_eq!(plain.maximum_tries, 1);
}

#[test]
fn ssml_tags_are_not_words() {
    assert_eq!(
        word_count("<speak>Hello <break time=\"1s\"/>world</speak>"),
        2
    );
    assert_eq!(
        spoken_text("<speak>Hello <break time=\"1s\"/>world,\n  bye</speak>"),
        "Hello world, bye"
    );
    assert_eq!(word_count(""), 1);
}
