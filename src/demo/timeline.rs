//! Turns an escalation's timeline entries (`GET /v1/escalations/{id}`, `timeline[]`) into the
//! short lines the demo prints: "dialled Riley Park, on-call (+15551000000)", "voicemail
//! detected", "pressed 2 → acknowledge", "bridged: they are talking".
//!
//! Pure functions over JSON, so the wording is unit-tested without a server. Entries that add
//! nothing for a watcher (command ids, the carrier's "dialled" echo) give no line.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::settings::{OTHERS, PEOPLE, Person};

/// Which call an entry is about: the person rung (A) or the party connected to them (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    A,
    B,
}

/// How a line should look: most are plain; outcomes are good or bad news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
}

/// One line for the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub leg: Option<Leg>,
    pub text: String,
    pub tone: Tone,
}

/// Reads one timeline at a time, telling each entry's own words (`detail.event`), with the
/// people's names put to the numbers dialled and the noise left out.
#[derive(Debug, Default)]
pub struct Narrator {
    /// The last line told, so a repeat (both legs report the bridge) is told once.
    last: Option<Described>,
}

impl Narrator {
    /// The line for `entry`, if it deserves one.
    pub fn describe(&mut self, entry: &Value) -> Option<Described> {
        let line = self.line(entry)?;
        if self.last.as_ref() == Some(&line) {
            return None;
        }
        self.last = Some(line.clone());
        Some(line)
    }

    fn line(&mut self, entry: &Value) -> Option<Described> {
        let detail = &entry["detail"];
        let leg = match detail["leg"].as_str() {
            Some("A") => Some(Leg::A),
            Some("B") => Some(Leg::B),
            _ => None,
        };
        let line = |text: String, tone| Some(Described { leg, text, tone });
        let event = detail["event"].as_str().unwrap_or("");
        if let Some(error) = detail["error"].as_str() {
            let what = detail["command"].as_str().unwrap_or(event);
            return line(format!("{what} failed: {error}"), Tone::Bad);
        }
        if let Some(outcome) = detail["outcome"].as_str() {
            let tone = match outcome {
                "connected" | "acknowledged" | "resolved" => Tone::Good,
                _ => Tone::Bad,
            };
            return line(format!("outcome: {outcome}"), tone);
        }
        if detail["command"] == "dial" {
            let to = detail["to"].as_str().unwrap_or("?");
            return match leg {
                Some(Leg::B) => line(format!("dialled {} to connect", who(to)), Tone::Plain),
                _ => line(format!("dialled {}", who(to)), Tone::Plain),
            };
        }
        let text = match event {
            ""
            | "opening spoken"
            | "call placed"
            | "connect target's call placed"
            | "speech heard"
            | "whisper heard" => return None,
            ignored if ignored.contains("(ignored") => return None,
            "started" => "escalation started".to_owned(),
            "briefing written by the model" => format!(
                "briefing written by the model ({} characters)",
                detail["chars"].as_u64().unwrap_or(0)
            ),
            "voicemail detected" | "no answer" | "busy" | "declined" => {
                return line(event.to_owned(), Tone::Bad);
            }
            "bridged" => return line("bridged: they are talking".into(), Tone::Good),
            "dial failed" => {
                return line(
                    format!("dial failed: {}", detail["reason"].as_str().unwrap_or("?")),
                    Tone::Bad,
                );
            }
            words => words.to_owned(),
        };
        line(text, Tone::Plain)
    }
}

/// "Riley Park, on-call (+15551000000)", or the bare number for someone not in the demo.
pub fn who(number: &str) -> String {
    let known = PEOPLE
        .iter()
        .map(
            |Person {
                 name, role, phone, ..
             }| (*phone, *name, *role),
        )
        .chain(OTHERS.iter().copied())
        .find(|(phone, _, _)| *phone == number);
    match known {
        Some((_, name, role)) => format!("{name}, {role} ({number})"),
        None => number.to_owned(),
    }
}

/// How long after `started` the RFC 3339 time `at` is; `None` if `at` does not parse.
/// An entry stamped a moment before `started` (clocks are read in different places) counts
/// as zero.
pub fn offset(at: &str, started: OffsetDateTime) -> Option<Duration> {
    let at = OffsetDateTime::parse(at, &Rfc3339).ok()?;
    Some(Duration::try_from(at - started).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &str, detail: Value) -> Value {
        json!({"at": "2026-11-23T10:00:00.000Z", "kind": kind, "detail": detail})
    }

    #[test]
    fn a_dial_names_the_person_and_their_choice_is_told_as_what_they_did() {
        let mut narrator = Narrator::default();
        let dial = narrator
            .describe(&entry(
                "command",
                json!({"event": "rang", "command": "dial", "leg": "A", "to": "+15551000002", "command_id": "x"}),
            ))
            .unwrap();
        assert_eq!(dial.leg, Some(Leg::A));
        assert_eq!(
            dial.text,
            "dialled Eli Navarro, second on-call (+15551000002)"
        );
        let chose = narrator
            .describe(&entry(
                "call",
                json!({"event": "pressed 2 → acknowledge", "attempt": 2, "choice": "acknowledge", "key": "2"}),
            ))
            .unwrap();
        assert_eq!(chose.text, "pressed 2 → acknowledge");
    }

    #[test]
    fn repeats_and_menu_input_after_the_bridge_are_not_told() {
        let mut narrator = Narrator::default();
        let bridged = entry("call", json!({"event": "bridged", "attempt": 1}));
        assert!(narrator.describe(&bridged).is_some());
        assert_eq!(narrator.describe(&bridged), None);
        let chose = entry(
            "call",
            json!({"event": "said \"connect me\" (ignored: no menu is open)", "attempt": 1}),
        );
        assert_eq!(narrator.describe(&chose), None);
        let contact = narrator
            .describe(&entry(
                "command",
                json!({"event": "rang the connect target", "command": "dial", "leg": "B", "to": "+15552000001"}),
            ))
            .unwrap();
        assert_eq!(
            contact.text,
            "dialled Anna Schmidt, the ticket's contact (+15552000001) to connect"
        );
    }

    #[test]
    fn voicemail_and_outcomes_carry_their_tone() {
        let mut narrator = Narrator::default();
        let machine = narrator
            .describe(&entry(
                "webhook",
                json!({"event": "voicemail detected", "attempt": 1, "leg": "A"}),
            ))
            .unwrap();
        assert_eq!(
            (machine.text.as_str(), machine.tone),
            ("voicemail detected", Tone::Bad)
        );
        let outcome = narrator
            .describe(&entry(
                "decision",
                json!({"event": "outcome: connected", "outcome": "connected"}),
            ))
            .unwrap();
        assert_eq!(
            (outcome.text.as_str(), outcome.tone),
            ("outcome: connected", Tone::Good)
        );
    }

    #[test]
    fn entries_are_placed_after_the_start() {
        let started = OffsetDateTime::parse("2026-11-23T10:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            offset("2026-11-23T10:00:03.250Z", started),
            Some(Duration::from_millis(3250))
        );
        assert_eq!(
            offset("2026-11-23T09:59:59.900Z", started),
            Some(Duration::ZERO)
        );
        assert_eq!(offset("yesterday", started), None);
    }

    #[test]
    fn noise_gives_no_line_and_errors_do() {
        let mut narrator = Narrator::default();
        let speak = entry(
            "command",
            json!({"event": "opening spoken", "command": "speak", "leg": "A", "command_id": "x"}),
        );
        assert_eq!(narrator.describe(&speak), None);
        let failed = entry(
            "command",
            json!({"event": "opening spoken", "command": "speak", "leg": "A", "command_id": "x", "error": "call ended"}),
        );
        assert_eq!(
            narrator.describe(&failed).unwrap().text,
            "speak failed: call ended"
        );
        assert_eq!(narrator.describe(&json!({})), None);
    }
}
