//! The words of a text, and the short code that names its escalation in a reply.
//!
//! The text says what is wrong in one line (the briefing template, which already leaves out
//! ids, addresses and phone numbers) and how to acknowledge. The code is derived from the
//! escalation id, so a re-sent text after a crash carries the same one.

use crate::store::EscalationId;
use crate::voice::escalation::plan::BriefingContext;

/// Letters and digits that cannot be misread for one another (no 0/o, 1/l/i).
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Characters in a code: 31⁴ ≈ 920,000 codes, so two escalations open for one person at
/// once share one with a chance of about one in a million.
pub const CODE_CHARS: usize = 4;
/// The most the "what is wrong" part of a text takes, leaving room for the instructions in
/// two SMS parts.
const MAX_SUBJECT_CHARS: usize = 200;

/// The escalation's short code, e.g. `k4q7`: the low bits of its id (a UUIDv7, random
/// there) written in [`ALPHABET`].
pub fn code(escalation: EscalationId) -> String {
    let text = escalation.to_string();
    let tail = &text[text.len().saturating_sub(8)..];
    let mut n = u32::from_str_radix(tail, 16).unwrap_or(0);
    let base = ALPHABET.len() as u32;
    let mut code = String::with_capacity(CODE_CHARS);
    for _ in 0..CODE_CHARS {
        code.push(char::from(ALPHABET[(n % base) as usize]));
        n /= base;
    }
    code
}

/// "Klaxon: Urgent support ticket: Checkout down, for Acme. Reply 1 or ACK to acknowledge
/// (ACK k4q7 if you have several open)."
pub fn text(briefing: &BriefingContext, code: &str, calls_follow: bool) -> String {
    let subject = truncate(&briefing.template(), MAX_SUBJECT_CHARS);
    let then = if calls_follow {
        " Klaxon calls you next."
    } else {
        ""
    };
    format!(
        "Klaxon: {subject}{then} Reply 1 or ACK to acknowledge (ACK {code} if you have several open)."
    )
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn briefing(title: &str) -> BriefingContext {
        BriefingContext {
            event_type: "support.ticket.created".into(),
            prompt: String::new(),
            title: Some(title.into()),
            customer: Some("Acme".into()),
            facts: vec![("urgency".into(), "critical".into())],
        }
    }

    #[test]
    fn a_code_is_four_unambiguous_characters_and_stable_per_escalation() {
        let id = EscalationId::new();
        let first = code(id);
        assert_eq!(first.len(), CODE_CHARS);
        assert!(first.bytes().all(|b| ALPHABET.contains(&b)), "{first}");
        assert_eq!(code(id), first);
        let others: std::collections::HashSet<String> =
            (0..200).map(|_| code(EscalationId::new())).collect();
        assert!(others.len() > 190, "codes spread: {}", others.len());
    }

    #[test]
    fn the_text_says_what_is_wrong_and_how_to_acknowledge() {
        let text = text(&briefing("Checkout down"), "k4q7", true);
        assert_eq!(
            text,
            "Klaxon: Critical support ticket: Checkout down, for Acme. Klaxon calls you next. \
             Reply 1 or ACK to acknowledge (ACK k4q7 if you have several open)."
        );
        let long = super::text(&briefing(&"word ".repeat(100)), "k4q7", false);
        assert!(long.chars().count() < 320, "{}", long.chars().count());
        assert!(long.ends_with("(ACK k4q7 if you have several open)."));
    }
}
