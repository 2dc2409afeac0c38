//! The inbound call machine: pure, like the escalation machine, so every path is a table.
//!
//! A call to Klaxon's number is answered and greeted: press 1 to reach whoever is on call,
//! press 2 (or say nothing) to leave a message. Pressing 1 starts an escalation whose
//! "connect" bridges this very leg; meanwhile the caller hears that Klaxon is reaching
//! someone. If nobody takes it, the caller is told so and may leave a message. A message is
//! recorded with `record_start` and transcribed by Telnyx; its text becomes a `call.message`
//! event. The caller hanging up ends what they started: a ringing escalation is cancelled,
//! a conversation is ended on the other side.
//!
//! Inputs that make no sense where the call stands (a late or repeated webhook) change
//! nothing.

use serde::{Deserialize, Serialize};

use crate::voice::escalation::machine::Outcome;

/// Hold messages said while the escalation rings, at most: a bound, not a schedule (the
/// escalation ends long before, and a caller who waits that long hears silence after).
pub const MAX_HOLD_MESSAGES: u32 = 60;

/// Where the call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Ringing at Klaxon, just recorded.
    Ringing,
    /// The answer is sent.
    Answering,
    /// The greeting and its keypad menu play.
    Greeting,
    /// Pressed 1: the escalation rings people; the caller hears hold messages.
    Waiting,
    /// Bridged to the person who took the escalation.
    Connected,
    /// Told that a message can be left; recording starts once that is heard.
    Prompting,
    /// Recording the message.
    Recording,
    /// The recording ended with the caller still there: a goodbye, then the hang-up.
    Closing,
    /// The caller's leg has ended (a transcription may still come).
    Ended,
}

/// Why the caller leaves a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Pressed 2.
    Chose,
    /// Pressed nothing at the greeting.
    NoChoice,
    /// Pressed 1, and nobody was reached.
    Unreached,
    /// Pressed 1, and the person reached acknowledged instead of connecting.
    Acknowledged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Chose => "chose_message",
            Reason::NoChoice => "no_choice",
            Reason::Unreached => "unreached",
            Reason::Acknowledged => "acknowledged",
        }
    }
}

/// The persisted state of one inbound call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub phase: Phase,
    /// Why a message is taken, once one is.
    pub reason: Option<Reason>,
    /// How the escalation the caller started ended, once it has.
    pub outcome: Option<Outcome>,
    /// Speeches sent and not yet heard to the end.
    pub speaking: u32,
    /// Hold messages said so far.
    pub holds: u32,
    /// Whether `record_start` was sent: only then can a recording's events mean anything.
    pub recording: bool,
    pub recording_url: Option<String>,
    pub transcript: Option<String>,
    /// Whether the `call.message` event has been recorded (once per call).
    pub message_recorded: bool,
    /// Commands issued, numbering each `command_id` so a replay reuses the ids.
    pub commands: u32,
}

impl State {
    pub fn new() -> State {
        State {
            phase: Phase::Ringing,
            reason: None,
            outcome: None,
            speaking: 0,
            holds: 0,
            recording: false,
            recording_url: None,
            transcript: None,
            message_recorded: false,
            commands: 0,
        }
    }

    /// `active` while the caller is on the line, then how the call ended.
    pub fn status(&self) -> &'static str {
        match self.phase {
            Phase::Ended if self.message_recorded => "message",
            Phase::Ended if self.outcome == Some(Outcome::Connected) => "connected",
            Phase::Ended => "hung_up",
            _ => "active",
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Something that happened to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The call rang Klaxon's number (`call.initiated`, incoming).
    Arrived,
    /// Our answer took (`call.answered`).
    Answered,
    /// The greeting's menu ended with these digits (empty: nothing pressed).
    Pressed(String),
    /// A speech on the caller's leg was heard to the end.
    SpeechEnded,
    /// The caller's leg and the person who took the escalation are bridged.
    Bridged,
    /// The escalation the caller started has an outcome.
    EscalationEnded(Outcome),
    /// The recording ended (`call.recording.saved`).
    RecordingSaved { url: Option<String> },
    /// The recording's text (`call.recording.transcription.saved`).
    Transcribed(String),
    /// The caller's leg ended.
    HungUp,
}

/// What the caller hears; [`super::words`] has the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// "Please hold while Klaxon reaches …" (first) and "Still trying …" (later).
    Hold { first: bool },
    /// "Please leave a message after the tone."
    LeaveMessage,
    /// "We could not reach … Please leave a message after the tone."
    NobodyReached,
    /// "… has been alerted and will call you back. Leave a message after the tone."
    Acknowledged,
    /// "Thank you, your message has been passed on. Goodbye."
    Thanks,
}

/// Something to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Answer,
    /// The greeting with its keypad menu (1 or 2).
    Greet,
    Say(Say),
    /// Start the escalation whose "connect" bridges this leg (stored with this transition).
    StartEscalation,
    /// The caller left while it rang: cancel it (its calls hear a goodbye).
    CancelEscalation,
    /// The caller left a conversation: end the other side.
    EndConversation,
    /// `record_start` with transcription.
    Record,
    Hangup,
    /// Record the `call.message` event (stored with this transition).
    RecordMessage,
}

/// Applies `input` to `state`; returns the actions to perform in order.
pub fn handle(state: &mut State, input: Input) -> Vec<Action> {
    match (state.phase, input) {
        (_, Input::HungUp) => hung_up(state),
        (Phase::Ringing, Input::Arrived) => {
            state.phase = Phase::Answering;
            vec![Action::Answer]
        }
        (Phase::Answering, Input::Answered) => {
            state.phase = Phase::Greeting;
            vec![Action::Greet]
        }
        (Phase::Greeting, Input::Pressed(digits)) => match digits.get(..1) {
            Some("1") => {
                state.phase = Phase::Waiting;
                let mut actions = vec![Action::StartEscalation];
                actions.extend(hold(state));
                actions
            }
            Some("2") => take_message(state, Reason::Chose, Say::LeaveMessage),
            _ => take_message(state, Reason::NoChoice, Say::LeaveMessage),
        },
        (Phase::Waiting, Input::SpeechEnded) => {
            state.speaking = state.speaking.saturating_sub(1);
            if state.speaking == 0 {
                hold(state)
            } else {
                Vec::new()
            }
        }
        (Phase::Waiting, Input::Bridged) => {
            // The bridge is what decides an escalation "connected".
            state.phase = Phase::Connected;
            state.outcome = Some(Outcome::Connected);
            Vec::new()
        }
        (Phase::Waiting, Input::EscalationEnded(outcome)) => {
            state.outcome = Some(outcome);
            match outcome {
                Outcome::Connected => {
                    state.phase = Phase::Connected;
                    Vec::new()
                }
                // Taken in hand without a conversation (on the menu, by text, at the source).
                Outcome::Acknowledged | Outcome::Resolved => {
                    take_message(state, Reason::Acknowledged, Say::Acknowledged)
                }
                Outcome::Unreached | Outcome::Cancelled | Outcome::Failed => {
                    take_message(state, Reason::Unreached, Say::NobodyReached)
                }
            }
        }
        (Phase::Connected, Input::EscalationEnded(outcome)) => {
            state.outcome = Some(outcome);
            Vec::new()
        }
        (Phase::Prompting | Phase::Closing, Input::SpeechEnded) => {
            state.speaking = state.speaking.saturating_sub(1);
            match (state.phase, state.speaking) {
                (Phase::Prompting, 0) => {
                    state.phase = Phase::Recording;
                    state.recording = true;
                    vec![Action::Record]
                }
                (Phase::Closing, 0) => vec![Action::Hangup],
                _ => Vec::new(),
            }
        }
        // Silence ran out or the time limit came with the caller still there.
        (Phase::Recording, Input::RecordingSaved { url }) => {
            state.recording_url = url;
            state.phase = Phase::Closing;
            state.speaking += 1;
            let mut actions = vec![Action::Say(Say::Thanks)];
            actions.extend(message(state));
            actions
        }
        // The caller hung up while recording: the recording is saved after the hang-up.
        (Phase::Ended, Input::RecordingSaved { url }) if state.recording => {
            state.recording_url = url;
            message(state)
        }
        (_, Input::Transcribed(text)) if state.recording && state.transcript.is_none() => {
            state.transcript = Some(text);
            message(state)
        }
        _ => Vec::new(),
    }
}

/// The caller's leg ended.
fn hung_up(state: &mut State) -> Vec<Action> {
    let before = state.phase;
    state.phase = Phase::Ended;
    state.speaking = 0;
    match before {
        Phase::Waiting => vec![Action::CancelEscalation],
        Phase::Connected => vec![Action::EndConversation],
        // A recording is saved (and transcribed) after the hang-up: the message follows.
        _ => Vec::new(),
    }
}

/// One more hold message, within the bound.
fn hold(state: &mut State) -> Vec<Action> {
    if state.holds >= MAX_HOLD_MESSAGES {
        return Vec::new();
    }
    state.holds += 1;
    state.speaking += 1;
    vec![Action::Say(Say::Hold {
        first: state.holds == 1,
    })]
}

fn take_message(state: &mut State, reason: Reason, say: Say) -> Vec<Action> {
    state.reason = Some(reason);
    state.phase = Phase::Prompting;
    state.speaking += 1;
    vec![Action::Say(say)]
}

/// The `call.message` event, once both the recording and its text are in (the text comes
/// last at Telnyx); once per call.
fn message(state: &mut State) -> Vec<Action> {
    let saved =
        state.recording_url.is_some() || matches!(state.phase, Phase::Closing | Phase::Ended);
    if state.message_recorded || state.transcript.is_none() || !saved {
        return Vec::new();
    }
    state.message_recorded = true;
    vec![Action::RecordMessage]
}

#[cfg(test)]
mod tests;
