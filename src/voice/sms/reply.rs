//! What a text reply means, decided from its words and the escalations open for the number
//! it came from (pure).
//!
//! "1", "ack", "acknowledge" (any case, punctuation around ignored) acknowledge the one open
//! escalation texted to that number; with several open, the reply must quote the code the
//! text gave ("ack k4q7", or the code alone). Anything else acknowledges nothing: it is
//! written on the timelines of the open escalations, so whoever looks sees it.

use crate::store::{EscalationId, OpenText};

/// What the words of a reply ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Acknowledge; with the code quoted, if any.
    Acknowledge { code: Option<String> },
    /// Anything else.
    Other,
}

/// What to do about a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The number has no open escalation texted to it: nothing to record.
    NotOurs,
    /// Acknowledge this escalation.
    Acknowledge(EscalationId),
    /// Acknowledges nothing; note it on these escalations, saying why.
    Note {
        escalations: Vec<EscalationId>,
        why: &'static str,
    },
}

/// Reads a reply's words. `open_codes` lets a bare code count as an acknowledgement.
pub fn read(text: &str, open_codes: &[&str]) -> Asked {
    let lowered = text.to_lowercase();
    let words: Vec<&str> = lowered
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let is_ack = |w: &str| matches!(w, "1" | "ack" | "acknowledge" | "acknowledged");
    match words.as_slice() {
        [word] if is_ack(word) => Asked::Acknowledge { code: None },
        [word, code] if is_ack(word) => Asked::Acknowledge {
            code: Some((*code).to_owned()),
        },
        [code] if open_codes.contains(code) => Asked::Acknowledge {
            code: Some((*code).to_owned()),
        },
        _ => Asked::Other,
    }
}

/// Decides what a reply `text` does, given the texts sent to its number for escalations
/// still open (newest first, as the store lists them).
pub fn decide(text: &str, open: &[OpenText]) -> Decision {
    let mut escalations: Vec<EscalationId> = Vec::new();
    for t in open {
        if !escalations.contains(&t.escalation) {
            escalations.push(t.escalation);
        }
    }
    if escalations.is_empty() {
        return Decision::NotOurs;
    }
    let codes: Vec<&str> = open.iter().map(|t| t.code.as_str()).collect();
    match read(text, &codes) {
        Asked::Acknowledge { code: Some(code) } => match open.iter().find(|t| t.code == code) {
            Some(t) => Decision::Acknowledge(t.escalation),
            None => Decision::Note {
                escalations,
                why: "the reply quotes a code of no open escalation",
            },
        },
        Asked::Acknowledge { code: None } if escalations.len() == 1 => {
            Decision::Acknowledge(escalations[0])
        }
        Asked::Acknowledge { code: None } => Decision::Note {
            escalations,
            why: "several escalations are open for this number and the reply quotes no code",
        },
        Asked::Other => Decision::Note {
            escalations,
            why: "the reply is not an acknowledgement",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(escalation: EscalationId, code: &str) -> OpenText {
        OpenText {
            escalation,
            attempt: 1,
            code: code.into(),
        }
    }

    #[test]
    fn the_acknowledging_words_in_any_case_and_with_punctuation() {
        for text in ["1", " ACK ", "Ack!", "acknowledge.", "1."] {
            assert_eq!(read(text, &[]), Asked::Acknowledge { code: None }, "{text}");
        }
        assert_eq!(
            read("ACK K4Q7", &[]),
            Asked::Acknowledge {
                code: Some("k4q7".into())
            }
        );
        assert_eq!(
            read("k4q7", &["k4q7"]),
            Asked::Acknowledge {
                code: Some("k4q7".into())
            }
        );
        for text in ["", "2", "who is this?", "ack me later please", "k4q7", "11"] {
            assert_eq!(read(text, &[]), Asked::Other, "{text:?}");
        }
    }

    #[test]
    fn one_open_escalation_is_acknowledged_without_a_code() {
        let a = EscalationId::new();
        let texts = [open(a, "k4q7"), open(a, "k4q7")];
        assert_eq!(decide("1", &texts), Decision::Acknowledge(a));
        assert_eq!(decide("ack k4q7", &texts), Decision::Acknowledge(a));
        assert!(matches!(
            decide("ack zzzz", &texts),
            Decision::Note { escalations, .. } if escalations == vec![a]
        ));
        assert!(matches!(
            decide("on my way", &texts),
            Decision::Note { escalations, why } if escalations == vec![a] && why.contains("not an ack")
        ));
    }

    #[test]
    fn with_several_open_only_a_code_acknowledges() {
        let (a, b) = (EscalationId::new(), EscalationId::new());
        let texts = [open(b, "mn3p"), open(a, "k4q7")];
        assert!(matches!(
            decide("ack", &texts),
            Decision::Note { escalations, why } if escalations == vec![b, a] && why.contains("several")
        ));
        assert_eq!(decide("ACK k4q7", &texts), Decision::Acknowledge(a));
        assert_eq!(decide("mn3p", &texts), Decision::Acknowledge(b));
    }

    #[test]
    fn a_number_with_nothing_open_is_not_ours() {
        assert_eq!(decide("1", &[]), Decision::NotOurs);
    }
}
