//! The words Klaxon says on a call. Kept apart from the state machine (which only names
//! what to say) so wording can change without touching the flow, and so nothing private
//! (numbers, e-mail addresses) can slip into a speech by accident: only the briefing, built
//! from redacted data, and the target's name appear.

use super::escalation::machine::Speech;

/// Said the moment the call is answered: short, no details, safe for a voicemail greeting.
pub const OPENING: &str = "Hello, this is Klaxon with an urgent escalation.";

/// The menu after the briefing; `can_connect` decides whether "connect" is offered.
pub fn menu(briefing: &str, can_connect: bool) -> String {
    let connect = if can_connect {
        "Say connect me, or press 1, to be connected now. "
    } else {
        ""
    };
    format!(
        "{briefing} {connect}Press 2 to acknowledge. Press 3 to pass it to the next person. Press star to hear this again."
    )
}

/// The words for a [`Speech`]; `briefing` is the one-line context used in the whisper.
pub fn speech(speech: Speech, headline: &str) -> String {
    match speech {
        Speech::Opening => OPENING.to_owned(),
        Speech::Connecting => "Connecting you now, please hold.".to_owned(),
        Speech::Whisper => {
            format!("This is Klaxon. The on-call engineer is joining you about: {headline}")
        }
        Speech::ConnectFailed => "We could not reach them.".to_owned(),
        Speech::AcknowledgedGoodbye => "Thank you, it is acknowledged. Goodbye.".to_owned(),
        Speech::PassGoodbye => "Passing this to the next person. Goodbye.".to_owned(),
        Speech::NoConnectTarget => "There is no one to connect you to for this alert.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_is_offered_only_with_a_target() {
        assert!(menu("Checkout is down.", true).contains("connect me"));
        assert!(!menu("Checkout is down.", false).contains("connect"));
        assert!(menu("Checkout is down.", false).starts_with("Checkout is down."));
    }
}
