//! The words Klaxon says on a call. Kept apart from the state machine (which only names
//! what to say) so wording can change without touching the flow, and so nothing private
//! (numbers, e-mail addresses, ids) can slip into a speech by accident: only the policy's
//! role, the subject and the briefing (built from redacted data) appear.

use super::escalation::machine::Speech;

/// What the words of a call are made from.
#[derive(Debug, Clone, Copy)]
pub struct Words<'a> {
    /// Who the policy rings: "the on-call engineer", "the VP of Sales".
    pub role: &'a str,
    /// The subject, in a few words: "Checkout down for EU customers".
    pub subject: &'a str,
}

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

/// The words for a [`Speech`].
pub fn speech(speech: Speech, words: Words<'_>) -> String {
    let Words { role, subject } = words;
    match speech {
        Speech::Opening => format!("Hello, this is Klaxon with an urgent escalation for {role}."),
        Speech::Connecting => "Connecting you now, please hold.".to_owned(),
        Speech::Whisper => {
            format!(
                "This is Klaxon. {} is joining you about: {subject}",
                capitalised(role)
            )
        }
        Speech::ConnectFailed => "We could not reach them.".to_owned(),
        Speech::NoConnectTarget => "There is no one to connect you to for this alert.".to_owned(),
        // Goodbyes are three words at most: the line stays up (and is paid for) while they
        // play, and at a speaking pace three words take about a second.
        Speech::AcknowledgedGoodbye => "Acknowledged. Goodbye.".to_owned(),
        Speech::PassGoodbye => "Passed on. Goodbye.".to_owned(),
        Speech::NoChoiceGoodbye => "Nothing heard. Goodbye.".to_owned(),
        Speech::TakenElsewhere => "Someone answered. Goodbye.".to_owned(),
        Speech::CancelledGoodbye => "Alert cancelled. Goodbye.".to_owned(),
        Speech::ResolvedGoodbye => "Alert resolved. Goodbye.".to_owned(),
        Speech::AcknowledgedElsewhere => "Acknowledged elsewhere. Goodbye.".to_owned(),
        Speech::VoicemailMessage => format!(
            "This is Klaxon with an urgent escalation for {role} about: {subject}. Please check your alerts. Goodbye."
        ),
    }
}

/// "the VP of Sales" → "The VP of Sales", at the start of a sentence.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALES: Words<'static> = Words {
        role: "the VP of Sales",
        subject: "Globex platform renewal",
    };

    #[test]
    fn connect_is_offered_only_with_a_target() {
        assert!(menu("Checkout is down.", true).contains("connect me"));
        assert!(!menu("Checkout is down.", false).contains("connect"));
        assert!(menu("Checkout is down.", false).starts_with("Checkout is down."));
    }

    #[test]
    fn the_whisper_and_opening_name_the_policys_role() {
        assert_eq!(
            speech(Speech::Whisper, SALES),
            "This is Klaxon. The VP of Sales is joining you about: Globex platform renewal"
        );
        assert!(speech(Speech::Opening, SALES).ends_with("for the VP of Sales."));
    }

    #[test]
    fn the_voicemail_message_names_the_subject_only() {
        let message = speech(Speech::VoicemailMessage, SALES);
        assert!(message.contains("Globex platform renewal"), "{message}");
    }
}
