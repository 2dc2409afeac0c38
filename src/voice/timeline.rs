//! An escalation's timeline in words a person reads: "opening spoken", "menu offered (round
//! 2)", "pressed 1 → connect", "hung up by us", "voicemail message left". The same entries
//! are served by the API, drawn on the live page and summarised in the write-back, so each
//! entry's `detail.event` is a complete phrase; the other fields (`leg`, `attempt`, `to`,
//! `cause`, `command_id`, `error`, …) are there for machines and for the curious.

use serde_json::{Value, json};

use super::carrier::{CarrierError, CommandRef};
use super::escalation::machine::{
    Action, Amd, CallStatus, ChoiceBy, Heard, Input, Leg, Outcome, Phase, Settlement, State,
};
use crate::clock;
use crate::store::TimelineEntry;

/// An entry of `kind` with its detail, stamped now.
pub fn entry(kind: &str, detail: Value) -> TimelineEntry {
    TimelineEntry {
        at: clock::now_rfc3339(),
        kind: kind.to_owned(),
        detail,
    }
}

/// The entry for an input, told from the state it arrives in (before the machine acts).
pub fn input_line(input: &Input, state: &State) -> TimelineEntry {
    let kind = match input {
        Input::Start | Input::Cancel | Input::Settle(_) | Input::Enriched { .. } => "note",
        Input::BriefingReady(_) => "briefing",
        Input::Dialed { .. } | Input::DialFailed { .. } => "command",
        _ => "call",
    };
    let mut detail = json!({ "event": input_words(input, state) });
    if let Some(attempt) = input.attempt() {
        detail["attempt"] = json!(attempt);
        detail["leg"] = json!(leg_name(input.leg()));
    }
    match input {
        Input::BriefingReady(text) => detail["chars"] = json!(text.chars().count()),
        Input::DialFailed { reason, .. } => detail["reason"] = json!(reason),
        Input::HungUp { cause, .. } => detail["cause"] = json!(cause),
        Input::Settle(Settlement::Resolved { source }) => detail["source"] = json!(source),
        Input::Settle(Settlement::Acknowledged { by }) => detail["by"] = json!(by),
        Input::Chose { choice, by, .. } => {
            detail["choice"] = json!(choice);
            match by {
                ChoiceBy::Key(key) => detail["key"] = json!(key),
                ChoiceBy::Speech(said) => detail["said"] = json!(said),
            }
        }
        _ => {}
    }
    entry(kind, detail)
}

fn input_words(input: &Input, state: &State) -> String {
    let status = input
        .attempt()
        .and_then(|attempt| state.call(attempt))
        .map(|call| call.status);
    match input {
        Input::Start => "started".into(),
        Input::Cancel => "cancel requested".into(),
        Input::Settle(Settlement::Resolved { source }) => format!("alert resolved at {source}"),
        Input::Settle(Settlement::Acknowledged { by }) => format!("acknowledged by {by}"),
        Input::Enriched { connect_to, .. } => {
            if connect_to.is_some() {
                "customer looked up; connect target found".into()
            } else {
                "customer looked up".into()
            }
        }
        Input::BriefingReady(_) => "briefing written by the model".into(),
        Input::Dialed { leg: Leg::A, .. } => "call placed".into(),
        Input::Dialed { leg: Leg::B, .. } => "connect target's call placed".into(),
        Input::DialFailed { .. } => "dial failed".into(),
        Input::Answered { leg: Leg::A, .. } => "answered".into(),
        Input::Answered { leg: Leg::B, .. } => "connect target answered".into(),
        Input::MachineDetection { result, .. } => match result {
            Amd::Human => "a person is on the line".into(),
            Amd::Machine => "voicemail detected".into(),
            Amd::NotSure => "detection not sure; treated as a person".into(),
        },
        Input::GreetingEnded { .. } => "voicemail greeting ended".into(),
        Input::HungUp { cause, leg, .. } => {
            let ours = match leg {
                Leg::A => status.is_some(),
                Leg::B => state.b_leg.is_some(),
            };
            if !ours {
                return "call ended (hung up by us)".into();
            }
            match cause.as_str() {
                "timeout" | "no_answer" => "no answer".into(),
                "user_busy" => "busy".into(),
                "call_rejected" => "declined".into(),
                "normal_clearing" => "hung up by them".into(),
                "originator_cancel" => "ring cancelled".into(),
                "call already ended" => "call found ended".into(),
                "no_reply" => "no reply to the text".into(),
                other => format!("call ended ({other})"),
            }
        }
        Input::Chose { .. } | Input::MenuTimedOut { .. } if !on_the_menu(status, state) => {
            match input {
                Input::Chose { by, .. } => format!("{} (ignored: no menu is open)", by_words(by)),
                _ => "menu input ended (ignored: no menu is open)".into(),
            }
        }
        Input::Chose { choice, by, .. } => format!("{} → {}", by_words(by), choice.as_str()),
        Input::MenuTimedOut { .. } => format!("no choice (round {})", state.menus),
        Input::SpeechEnded { leg: Leg::B, .. } => "whisper heard".into(),
        Input::SpeechEnded { .. } => match status {
            Some(CallStatus::LeavingMessage) => "voicemail message left".into(),
            Some(CallStatus::SayingGoodbye) => "last words heard".into(),
            _ => "speech heard".into(),
        },
        Input::Bridged { .. } => "bridged".into(),
    }
}

/// Whether a call's choice counts: it is answering, or it took the escalation and the menu
/// is open.
fn on_the_menu(status: Option<CallStatus>, state: &State) -> bool {
    match status {
        Some(CallStatus::Answered) => true,
        Some(CallStatus::Taken) => state.phase == Phase::Menu,
        _ => false,
    }
}

fn by_words(by: &ChoiceBy) -> String {
    match by {
        ChoiceBy::Key(key) => format!("pressed {key}"),
        ChoiceBy::Speech(said) => format!("said \"{said}\""),
    }
}

/// The entry for an action that was carried out; `result` is the carrier's answer.
pub fn action_line(
    action: &Action,
    command: &CommandRef,
    result: Result<(), &CarrierError>,
) -> TimelineEntry {
    let (name, words) = match action {
        Action::DialA { .. } => ("dial", "rang".to_owned()),
        Action::DialB { .. } => ("dial", "rang the connect target".to_owned()),
        Action::Speak { tag, .. } => ("speak", speech_words(tag).to_owned()),
        Action::Menu {
            round, briefing, ..
        } => (
            "gather_using_speak",
            format!(
                "menu offered (round {round}, {} briefing)",
                match briefing {
                    Heard::Model => "model's",
                    Heard::Template => "template",
                }
            ),
        ),
        Action::Bridge { .. } => ("bridge", "bridging the two calls".to_owned()),
        Action::Hangup { .. } => ("hangup", "hung up by us".to_owned()),
        Action::Finish(_) | Action::CallEnded { .. } => ("note", String::new()),
    };
    let mut detail = json!({
        "event": words,
        "command": name,
        "leg": leg_name(command.leg),
        "command_id": command.command_id,
    });
    if let Err(error) = result {
        detail["error"] = json!(error.to_string());
    }
    entry("command", detail)
}

/// A dial's line says who was rung.
pub fn dial_line(
    action: &Action,
    command: &CommandRef,
    to: &str,
    result: Result<(), &CarrierError>,
) -> TimelineEntry {
    let mut line = action_line(action, command, result);
    line.detail["to"] = json!(to);
    line
}

/// The decision's line.
pub fn decision_line(outcome: Outcome) -> TimelineEntry {
    entry(
        "decision",
        json!({ "event": format!("outcome: {}", outcome.as_str()), "outcome": outcome }),
    )
}

/// The line of a bridged conversation that ended, with its length.
pub fn call_ended_line(seconds: Option<u64>) -> TimelineEntry {
    let words = match seconds {
        Some(s) => format!("conversation ended after {s} s"),
        None => "conversation ended".to_owned(),
    };
    entry("call", json!({ "event": words, "seconds": seconds }))
}

/// A note about a dial that was not sent.
pub fn dial_note(
    event: &str,
    leg: Leg,
    attempt: u32,
    command: &CommandRef,
    extra: Value,
) -> TimelineEntry {
    let mut detail = json!({
        "event": event,
        "leg": leg_name(leg),
        "attempt": attempt,
        "command_id": command.command_id,
    });
    if let (Some(line), Some(extra)) = (detail.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
    }
    entry("note", detail)
}

fn speech_words(tag: &str) -> &'static str {
    match tag {
        "opening" => "opening spoken",
        "connecting" => "told: connecting you now",
        "whisper" => "whisper to the connect target",
        "connect_failed" => "told: the connect target could not be reached",
        "no_target" => "told: there is no one to connect to",
        "ack_goodbye" => "goodbye (acknowledged)",
        "pass_goodbye" => "goodbye (passed on)",
        "no_choice_goodbye" => "goodbye (no choice)",
        "taken" => "told: someone answered",
        "cancel_goodbye" => "goodbye (cancelled)",
        "voicemail" => "voicemail message spoken",
        _ => "spoke",
    }
}

/// The timeline as short lines for a ticket comment or CRM note: time, what happened, leg.
pub fn summary(history: &[TimelineEntry]) -> String {
    const MAX_LINES: usize = 30;
    let mut lines: Vec<String> = history
        .iter()
        .filter(|e| e.kind != "note")
        .filter_map(|e| {
            let time = e.at.get(11..19).unwrap_or(&e.at);
            let detail = &e.detail;
            let what = detail["event"].as_str().filter(|w| !w.is_empty())?;
            let mut line = format!("{time} UTC {what}");
            if let Some(leg) = detail["leg"].as_str() {
                line.push_str(&format!(" (leg {leg})"));
            }
            if let Some(error) = detail["error"].as_str() {
                line.push_str(&format!(" error: {error}"));
            }
            Some(line)
        })
        .collect();
    if lines.len() > MAX_LINES {
        let cut = lines.len() - MAX_LINES;
        lines.drain(..cut);
        lines.insert(0, format!("… {cut} earlier line(s)"));
    }
    lines.join("\n")
}

/// A leg as `call_legs` and the timeline name it.
pub fn leg_name(leg: Leg) -> &'static str {
    match leg {
        Leg::A => "A",
        Leg::B => "B",
    }
}
