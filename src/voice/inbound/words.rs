//! The words a caller to Klaxon's number hears. Only the policy's role appears in them: never
//! a name, a number or anything the caller said.

use super::machine::Say;

/// The greeting and its menu.
pub fn greeting(role: &str) -> String {
    format!(
        "Hello, you have reached Klaxon. Press 1 to be put through to {role}. Press 2 to leave a message."
    )
}

/// What the caller hears for `say`.
pub fn say(say: Say, role: &str) -> String {
    match say {
        Say::Hold { first: true } => {
            format!("Please hold while Klaxon reaches {role}.")
        }
        Say::Hold { first: false } => format!("Still trying to reach {role}. Please hold."),
        Say::LeaveMessage => {
            "Please leave your message after the tone. Hang up or stay silent when you are done."
                .to_owned()
        }
        Say::NobodyReached => format!(
            "Sorry, we could not reach {role}. Please leave your message after the tone, and it will be passed on."
        ),
        Say::Acknowledged => format!(
            "{} has been alerted and will get back to you. You can leave a message after the tone.",
            capitalised(role)
        ),
        Say::Thanks => "Thank you. Your message has been passed on. Goodbye.".to_owned(),
    }
}

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

    #[test]
    fn the_words_name_the_role_and_nothing_else() {
        let role = "the on-call engineer";
        assert!(greeting(role).contains("Press 1 to be put through to the on-call engineer"));
        assert!(say(Say::Hold { first: true }, role).contains(role));
        assert!(say(Say::Acknowledged, role).starts_with("The on-call engineer"));
        assert_ne!(
            say(Say::Hold { first: true }, role),
            say(Say::Hold { first: false }, role)
        );
    }
}
