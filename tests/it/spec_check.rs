//! The spec checker itself: it must accept a correct request and catch the mistakes it exists
//! to catch, or every "validated against the spec" assertion would prove nothing.

use serde_json::json;

use crate::support::telnyx_spec::{assert_valid, validate};

#[test]
fn a_correct_dial_passes_and_typical_mistakes_fail() {
    let dial = json!({
        "connection_id": "1234567890",
        "to": "+15551230001",
        "from": "+15559870000",
        "timeout_secs": 30,
        "answering_machine_detection": "premium",
        "command_id": "esc_1:1:dial",
        "client_state": "eyJlIjoiZXNjXzEifQ==",
        "webhook_url": "https://klaxon.example.com/webhooks/voice",
    });
    assert_valid("CallRequest", &dial);

    let mut missing = dial.clone();
    missing.as_object_mut().unwrap().remove("connection_id");
    assert!(
        validate("CallRequest", &missing).is_err(),
        "connection_id is required"
    );
    let mut misspelt = dial.clone();
    misspelt["timeout_sec"] = json!(30);
    assert!(
        validate("CallRequest", &misspelt).is_err(),
        "unknown fields are caught"
    );
    let mut bad_enum = dial.clone();
    bad_enum["answering_machine_detection"] = json!("on");
    assert!(
        validate("CallRequest", &bad_enum).is_err(),
        "enum values are checked"
    );
    // The spec states the 5-600 s range only in prose, so types are what can be checked.
    let mut bad_type = dial;
    bad_type["timeout_secs"] = json!("30");
    assert!(
        validate("CallRequest", &bad_type).is_err(),
        "types are checked"
    );
}
