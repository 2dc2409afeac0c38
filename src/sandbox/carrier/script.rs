//! Who answers a simulated call, and how: the [`Script`] of a callee, the default number plan
//! and how a spoken reply becomes a `gather_using_ai` result.
//!
//! A script is data, not code: whether the phone is picked up, who picks it up (a person or a
//! voicemail), what the person says when something listens and which keys they press when a
//! keypad menu runs. The leg simulation in `call.rs` reads it; nothing here touches time or I/O.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// How the callee's phone reacts to the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pickup {
    /// Picked up after [`Timing::ring`](super::Timing::ring).
    Answers,
    /// Rings until the dial's `timeout_secs` runs out (`hangup_cause` `timeout`, or
    /// `no_answer` when the dial set `retry_on_timeout: false`).
    NoAnswer,
    /// `hangup_cause` `user_busy` (SIP 486) after the ring time.
    Busy,
    /// Declined: `hangup_cause` `call_rejected` (SIP 603) after the ring time.
    Rejects,
}

/// What answering machine detection concludes about whoever picked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnsweredBy {
    Human,
    Machine,
    /// AMD cannot tell (`not_sure`).
    NotSure,
}

/// When the callee's phone stops ringing and they react (answer, busy or decline), instead of
/// [`Timing::ring`](super::Timing::ring) after the dial. Still cut short by the dial's
/// `timeout_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// This long after the dial.
    For(Duration),
    /// At this moment (at once if it has passed when the leg is dialled): two callees given
    /// the same instant answer in the same timer tick, however far apart they were dialled.
    Until(Instant),
}

/// How the webhooks of a leg reach the receiver. Real Telnyx guarantees no order and may
/// deliver twice (docs/telnyx.md §4.3); these modes let a client prove it copes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// One delivery per event, in the order the events happened.
    #[default]
    InOrder,
    /// Every event is delivered twice: same body and `data.id`, each copy freshly signed.
    Duplicated,
    /// Adjacent events are swapped: an event waits up to
    /// [`Timing::reorder_window`](super::Timing::reorder_window) for the next one, which is
    /// then delivered first. An event with no successor inside the window goes out alone.
    Shuffled,
}

/// The callee at the other end of a dialled number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub pickup: Pickup,
    /// How long the phone rings; `None`: [`Timing::ring`](super::Timing::ring).
    pub ring: Option<Ring>,
    /// The AMD verdict, reported only when the dial asked for detection. A
    /// [`AnsweredBy::Machine`] is a voicemail box: it plays [`says`](Script::says) as its
    /// greeting from the moment it answers, beeps, records for at most
    /// [`VOICEMAIL_RECORDING_SECS`] and hangs up by itself.
    pub answered_by: AnsweredBy,
    /// Said after each prompt while `gather_using_ai` or a transcription listens.
    pub says: Option<String>,
    /// Pressed, one key at a time, after each keypad prompt (`gather_using_speak`, `gather`).
    pub presses: Option<String>,
    /// Hangs up halfway through the first prompt played to them (speak, gather prompt or AI
    /// greeting).
    pub hangs_up_during_first_prompt: bool,
    /// Hangs up this long after the call is answered, whatever is playing (a caller to
    /// Klaxon who gives up while on hold).
    pub hangs_up_after: Option<Duration>,
    /// Overrides the carrier's [`CarrierConfig::delivery`](super::CarrierConfig::delivery)
    /// for this callee's legs.
    pub delivery: Option<Delivery>,
}

/// The spoken reply of the `connect me` callee.
pub const CONNECT_ME: &str = "connect me";

/// What the voicemail of the default plan says; a transcription hears it like any speech.
/// It lasts its 13 words times [`Timing::per_word`](super::Timing::per_word).
pub const VOICEMAIL_GREETING: &str =
    "Hi, you have reached my voicemail. Please leave a message after the tone.";

/// How long a voicemail box records after its beep before hanging up by itself (hangup
/// cause `normal_clearing`, source `callee`), in Telnyx seconds: 40 s with
/// [`Timing::realistic`](super::Timing::realistic), 400 ms with
/// [`Timing::fast`](super::Timing::fast).
pub const VOICEMAIL_RECORDING_SECS: u32 = 40;

impl Script {
    fn answering() -> Script {
        Script {
            pickup: Pickup::Answers,
            ring: None,
            answered_by: AnsweredBy::Human,
            says: None,
            presses: None,
            hangs_up_during_first_prompt: false,
            hangs_up_after: None,
            delivery: None,
        }
    }

    fn unanswered(pickup: Pickup) -> Script {
        Script {
            pickup,
            ..Script::answering()
        }
    }

    /// A person who answers and, when something listens, says `text`.
    pub fn says(text: impl Into<String>) -> Script {
        Script {
            says: Some(text.into()),
            ..Script::answering()
        }
    }

    /// A person who answers and presses `keys` at every keypad menu, at every try of it,
    /// whatever the menu offers: with a key that is not among `valid_digits` (pressing 1 when
    /// connect is not offered) each try is refused, and the gather ends `invalid` with those
    /// digits after `maximum_tries` (the "keeps pressing an unavailable key" callee).
    pub fn presses(keys: impl Into<String>) -> Script {
        Script {
            presses: Some(keys.into()),
            ..Script::answering()
        }
    }

    /// A person who answers and never says or presses anything.
    pub fn silent() -> Script {
        Script::answering()
    }

    pub fn no_answer() -> Script {
        Script::unanswered(Pickup::NoAnswer)
    }

    pub fn busy() -> Script {
        Script::unanswered(Pickup::Busy)
    }

    pub fn rejects() -> Script {
        Script::unanswered(Pickup::Rejects)
    }

    /// A voicemail box: answers, AMD says `machine`, it plays [`VOICEMAIL_GREETING`], beeps
    /// (`call.machine.greeting.ended` `beep_detected` where the dial's AMD mode reports it),
    /// records what is spoken for up to [`VOICEMAIL_RECORDING_SECS`] and hangs up. It
    /// presses nothing.
    pub fn voicemail() -> Script {
        Script {
            answered_by: AnsweredBy::Machine,
            says: Some(VOICEMAIL_GREETING.to_owned()),
            ..Script::answering()
        }
    }

    /// A person who answers and hangs up halfway through the first prompt.
    pub fn hangs_up_mid_briefing() -> Script {
        Script {
            hangs_up_during_first_prompt: true,
            ..Script::answering()
        }
    }

    /// The same callee, whose phone rings for `ring` instead of
    /// [`Timing::ring`](super::Timing::ring) (then answers, or is busy or declines, as
    /// scripted).
    pub fn answering_after(self, ring: Duration) -> Script {
        Script {
            ring: Some(Ring::For(ring)),
            ..self
        }
    }

    /// The same callee, whose phone rings until `at`: give two callees the same instant to
    /// make them answer together.
    pub fn answering_at(self, at: Instant) -> Script {
        Script {
            ring: Some(Ring::Until(at)),
            ..self
        }
    }

    /// The same person, who hangs up `after` the call is answered.
    pub fn hanging_up_after(self, after: Duration) -> Script {
        Script {
            hangs_up_after: Some(after),
            ..self
        }
    }

    /// A caller (see [`SandboxCarrier::place_call`](super::SandboxCarrier::place_call)) who
    /// presses `keys` at the greeting's menu and, when a recording listens, says `message`.
    pub fn caller(keys: &str, message: Option<&str>) -> Script {
        Script {
            presses: (!keys.is_empty()).then(|| keys.to_owned()),
            says: message.map(str::to_owned),
            ..Script::answering()
        }
    }

    /// The same callee, with its webhooks delivered in `mode`.
    pub fn with_delivery(self, mode: Delivery) -> Script {
        Script {
            delivery: Some(mode),
            ..self
        }
    }

    /// The default number plan: the last digit of `number` picks the callee (see the
    /// module documentation of [`carrier`](super)). A SIP URI uses the last digit it
    /// contains; an address without digits reaches a silent callee.
    pub fn for_number(number: &str) -> Script {
        match number.chars().rev().find(char::is_ascii_digit) {
            Some('0') => Script::says(CONNECT_ME),
            Some('1') => Script::presses("1"),
            Some('2') => Script::presses("2"),
            Some('3') => Script::presses("3"),
            Some('4') => Script::no_answer(),
            Some('5') => Script::busy(),
            Some('6') => Script::rejects(),
            Some('7') => Script::voicemail(),
            Some('8') => Script::hangs_up_mid_briefing(),
            _ => Script::silent(),
        }
    }
}

/// The `result` of `call.ai_gather.ended` when the callee said `said` to an assistant asked to
/// collect `parameters` (a JSON Schema object), or `None` when the answer does not fill the
/// schema (the event then has `status: "invalid"`).
///
/// The simulated assistant is a keyword matcher, not a model: a property with an `enum` of
/// strings takes the first value that appears as a word in the reply ("connect me" fills
/// `{"enum":["connect","acknowledge"]}` with `connect`); a free string property takes the whole
/// reply. The result is valid when every `required` property got a value.
pub fn ai_gather_result(parameters: &Value, said: &str) -> Option<Map<String, Value>> {
    let words = normalise(said);
    let mut result = Map::new();
    let properties = parameters.get("properties").and_then(Value::as_object)?;
    for (name, property) in properties {
        if let Some(choices) = property.get("enum").and_then(Value::as_array) {
            let chosen = choices
                .iter()
                .filter_map(Value::as_str)
                .find(|choice| mentions(&words, choice));
            if let Some(choice) = chosen {
                result.insert(name.clone(), Value::String(choice.to_owned()));
            }
        } else if property.get("type").and_then(Value::as_str) == Some("string") {
            result.insert(name.clone(), Value::String(said.to_owned()));
        }
    }
    let required = parameters
        .get("required")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let complete = required
        .iter()
        .filter_map(Value::as_str)
        .all(|name| result.contains_key(name));
    (complete && !result.is_empty()).then_some(result)
}

/// Lower-case words of `text`, punctuation dropped.
fn normalise(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the words of `choice` appear, in order and adjacent, in `words`.
fn mentions(words: &[String], choice: &str) -> bool {
    let wanted = normalise(choice);
    !wanted.is_empty() && words.windows(wanted.len()).any(|window| window == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_digit_picks_the_callee() {
        assert_eq!(Script::for_number("+15551230000"), Script::says(CONNECT_ME));
        assert_eq!(Script::for_number("+15551230001"), Script::presses("1"));
        assert_eq!(Script::for_number("+15551230002"), Script::presses("2"));
        assert_eq!(Script::for_number("+15551230003"), Script::presses("3"));
        assert_eq!(Script::for_number("+15551230004").pickup, Pickup::NoAnswer);
        assert_eq!(Script::for_number("+15551230005").pickup, Pickup::Busy);
        assert_eq!(Script::for_number("+15551230006").pickup, Pickup::Rejects);
        assert_eq!(
            Script::for_number("+15551230007").answered_by,
            AnsweredBy::Machine
        );
        assert!(Script::for_number("+15551230008").hangs_up_during_first_prompt);
        assert_eq!(Script::for_number("+15551230009"), Script::silent());
        assert_eq!(
            Script::for_number("sip:oncall3@example.com"),
            Script::presses("3")
        );
        assert_eq!(
            Script::for_number("sip:oncall@example.com"),
            Script::silent()
        );
    }

    #[test]
    fn a_spoken_reply_fills_the_enum_it_mentions() {
        let parameters = json!({
            "type": "object",
            "required": ["intent"],
            "properties": {"intent": {"type": "string", "enum": ["connect", "acknowledge", "repeat"]}}
        });
        assert_eq!(
            ai_gather_result(&parameters, "Connect me, please!"),
            Some(json!({"intent": "connect"}).as_object().unwrap().clone())
        );
        assert_eq!(
            ai_gather_result(&parameters, "I acknowledge"),
            Some(
                json!({"intent": "acknowledge"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(ai_gather_result(&parameters, VOICEMAIL_GREETING), None);
        assert_eq!(
            ai_gather_result(&parameters, "reconnected"),
            None,
            "whole words only"
        );
    }

    #[test]
    fn a_free_text_property_takes_the_whole_reply() {
        let parameters = json!({"type": "object", "properties": {"note": {"type": "string"}}});
        assert_eq!(
            ai_gather_result(&parameters, "call me later"),
            Some(
                json!({"note": "call me later"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        assert_eq!(ai_gather_result(&json!({"type": "object"}), "hello"), None);
    }
}
