//! The escalation state machine: pure, with no I/O, so every path can be tested as a table.
//!
//! An escalation walks a list of call slots (policy steps × targets × attempts × repeats,
//! flattened in [`super::plan`]). For the current slot it dials leg A, briefs whoever answers,
//! and acts on what they choose; anything short of an explicit choice (no answer, busy,
//! rejected, voicemail, hang-up during the briefing, silence after the menu) is *not reached*
//! and moves to the next slot. [`Machine::handle`] takes one input and returns the actions to
//! perform; the caller persists the new state before performing them, so a crash repeats at
//! most an action whose `command_id` makes it idempotent at Telnyx.
//!
//! Inputs from stale attempts (a late webhook of a previous call) are ignored, and inputs
//! that make no sense in the current phase are ignored too: Telnyx delivers out of order and
//! more than once, and none of that may move an escalation backwards.

use serde::{Deserialize, Serialize};

/// A call slot: who to ring, for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub number: String,
    pub name: Option<String>,
    pub ring_timeout_secs: u32,
}

/// How an escalation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Someone said or pressed "connect" and was bridged to the connect target.
    Connected,
    /// Someone pressed 2 / said "acknowledge".
    Acknowledged,
    /// Every slot was tried; nobody took it.
    Unreached,
    /// Cancelled through the API.
    Cancelled,
    /// A configuration or carrier error made ringing impossible.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Acknowledged => "acknowledged",
            Outcome::Unreached => "unreached",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }
}

/// Where the current attempt stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Dial sent for the current attempt; waiting for the answer or the hang-up.
    Ringing,
    /// Answered; the opening is playing while answering-machine detection decides.
    Answered,
    /// A human (or "not sure"): the briefing and menu are playing; waiting for a choice.
    Menu,
    /// The connect target (leg B) is being dialled, whispered to, then bridged.
    Connecting { b_answered: bool },
    /// A and B are bridged: the escalation is connected.
    Bridged,
    /// Saying goodbye to A before hanging up; `then` is what comes next.
    Closing { then: AfterClose },
    /// Finished.
    Done { outcome: Outcome },
}

/// What follows a polite hang-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterClose {
    Finish(Outcome),
    NextSlot,
}

/// Which leg of the current attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leg {
    /// The person being escalated to.
    A,
    /// The connect target (customer, account executive).
    B,
}

/// The persisted state of one escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// 1-based index into the slots; 0 before the first dial.
    pub attempt: u32,
    pub phase: Phase,
    /// The briefing, once generated; until then the opening plays.
    pub briefing: Option<String>,
    /// Call control ids of the current attempt's legs.
    pub a_leg: Option<String>,
    pub b_leg: Option<String>,
    /// Times the menu was offered in this attempt (silence twice ends the attempt).
    pub menus: u32,
    /// A connect target found after the escalation started (a Merge contact's phone).
    #[serde(default)]
    pub connect_to: Option<String>,
    /// Connect tries (leg B dials) in this attempt: numbers each B dial's claim in the store.
    #[serde(default)]
    pub connects: u32,
}

impl State {
    pub fn new() -> State {
        State {
            attempt: 0,
            phase: Phase::Ringing,
            briefing: None,
            a_leg: None,
            b_leg: None,
            menus: 0,
            connect_to: None,
            connects: 0,
        }
    }

    /// The outcome, once decided (an acknowledgement is decided before the goodbye ends).
    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Done { outcome }
            | Phase::Closing {
                then: AfterClose::Finish(outcome),
            } => Some(outcome),
            _ => None,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// What the person chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// "connect me" / 1
    Connect,
    /// "acknowledge" / 2
    Acknowledge,
    /// "next" / 3
    Pass,
    /// "repeat" / *
    Repeat,
}

impl Choice {
    pub fn from_digit(digit: &str) -> Option<Choice> {
        match digit {
            "1" => Some(Choice::Connect),
            "2" => Some(Choice::Acknowledge),
            "3" => Some(Choice::Pass),
            "*" => Some(Choice::Repeat),
            _ => None,
        }
    }

    /// Matches a final speech transcript against the menu's phrases.
    pub fn from_speech(transcript: &str) -> Option<Choice> {
        let text = transcript.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if has(&["connect", "put me through", "transfer"]) {
            Some(Choice::Connect)
        } else if has(&["acknowledge", "got it", "i'm on it", "on it"]) {
            Some(Choice::Acknowledge)
        } else if has(&["next", "pass", "someone else"]) {
            Some(Choice::Pass)
        } else if has(&["repeat", "again"]) {
            Some(Choice::Repeat)
        } else {
            None
        }
    }
}

/// Answering-machine detection's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amd {
    Human,
    Machine,
    NotSure,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin: dial the first slot.
    Start,
    /// The briefing text is ready (or its templated fallback).
    BriefingReady(String),
    /// A connect target was found while the phone rang (e.g. the ticket's contact).
    ConnectTargetKnown(String),
    /// The dial request for `attempt` succeeded; this is leg A's call control id (or B's).
    Dialed {
        attempt: u32,
        leg: Leg,
        call_control_id: String,
    },
    /// The dial request failed; `retryable: false` means the number or settings are bad.
    DialFailed {
        attempt: u32,
        leg: Leg,
        reason: String,
    },
    Answered {
        attempt: u32,
        leg: Leg,
    },
    MachineDetection {
        attempt: u32,
        leg: Leg,
        result: Amd,
    },
    /// Leg hung up (before or after answering), with Telnyx's cause.
    HungUp {
        attempt: u32,
        leg: Leg,
        cause: String,
    },
    /// The person chose (keypad or speech).
    Chose {
        attempt: u32,
        choice: Choice,
    },
    /// The menu ended without a choice (silence, invalid input).
    MenuTimedOut {
        attempt: u32,
    },
    /// A speak on leg B (the whisper) finished.
    WhisperDone {
        attempt: u32,
    },
    Bridged {
        attempt: u32,
    },
    /// A speak on leg A finished (the goodbye before a hang-up).
    GoodbyeDone {
        attempt: u32,
    },
    Cancel,
}

impl Input {
    /// The attempt an input belongs to, if it is about a call.
    fn attempt(&self) -> Option<u32> {
        match self {
            Input::Dialed { attempt, .. }
            | Input::DialFailed { attempt, .. }
            | Input::Answered { attempt, .. }
            | Input::MachineDetection { attempt, .. }
            | Input::HungUp { attempt, .. }
            | Input::Chose { attempt, .. }
            | Input::MenuTimedOut { attempt }
            | Input::WhisperDone { attempt }
            | Input::Bridged { attempt }
            | Input::GoodbyeDone { attempt } => Some(*attempt),
            Input::Start
            | Input::BriefingReady(_)
            | Input::ConnectTargetKnown(_)
            | Input::Cancel => None,
        }
    }
}

/// Something to do. `tag` values are stable: with the escalation id and attempt they form
/// the Telnyx `command_id`, so a repeated action is dropped by Telnyx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial leg A of `attempt` to the slot's number.
    DialA {
        attempt: u32,
        slot: Slot,
    },
    /// Dial the connect target, linked to leg A; `connect` counts the tries in this attempt.
    DialB {
        attempt: u32,
        connect: u32,
    },
    /// Speak on a leg.
    Speak {
        attempt: u32,
        leg: Leg,
        tag: &'static str,
        text: Speech,
    },
    /// Offer the menu on leg A: the briefing and "say connect me or press 1 …", keypad and
    /// speech both listened to.
    Menu {
        attempt: u32,
        round: u32,
    },
    Bridge {
        attempt: u32,
    },
    Hangup {
        attempt: u32,
        leg: Leg,
    },
    /// The escalation ended.
    Finish(Outcome),
}

/// What to say; the executor renders the words (names and numbers stay out of the machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speech {
    /// "This is Klaxon with an urgent escalation." Said the moment A answers: no dead air.
    Opening,
    /// "Connecting you now, please hold."
    Connecting,
    /// One sentence of context for the connect target.
    Whisper,
    /// "We could not reach them." followed by the menu again.
    ConnectFailed,
    /// "Thank you, it is acknowledged. Goodbye."
    AcknowledgedGoodbye,
    /// "Passing this to the next person. Goodbye."
    PassGoodbye,
    /// "There is no one to connect you to." (connect offered without a target)
    NoConnectTarget,
}

/// The escalation machine over a fixed list of slots.
pub struct Machine<'a> {
    pub slots: &'a [Slot],
    /// Whether there is someone to connect to; without, "connect" is not offered.
    pub can_connect: bool,
}

/// Silence after this many menus ends the attempt.
pub const MAX_MENUS: u32 = 2;

impl Machine<'_> {
    /// Applies `input` to `state`, returning the actions to perform in order.
    pub fn handle(&self, state: &mut State, input: Input) -> Vec<Action> {
        if matches!(state.phase, Phase::Done { .. }) {
            return Vec::new();
        }
        if let Some(attempt) = input.attempt()
            && attempt != state.attempt
        {
            return Vec::new(); // a late event of an earlier call
        }
        let attempt = state.attempt;
        match input {
            Input::Start if attempt == 0 => self.next_slot(state),
            Input::Start => Vec::new(),
            // Too late: the outcome is decided, only the goodbye is still playing.
            Input::Cancel if state.outcome().is_some() => Vec::new(),
            Input::Cancel => {
                let mut actions = self.hang_up_legs(state);
                state.phase = Phase::Done {
                    outcome: Outcome::Cancelled,
                };
                actions.push(Action::Finish(Outcome::Cancelled));
                actions
            }
            Input::BriefingReady(text) => {
                state.briefing = Some(text);
                Vec::new()
            }
            Input::ConnectTargetKnown(number) => {
                state.connect_to.get_or_insert(number);
                Vec::new()
            }
            Input::Dialed {
                leg,
                call_control_id,
                ..
            } => {
                match leg {
                    Leg::A => state.a_leg = Some(call_control_id),
                    Leg::B => state.b_leg = Some(call_control_id),
                }
                Vec::new()
            }
            Input::DialFailed { leg: Leg::A, .. } => self.next_slot(state),
            Input::DialFailed { leg: Leg::B, .. } => self.connect_failed(state),
            Input::Answered { leg: Leg::A, .. } => match state.phase {
                Phase::Ringing => {
                    state.phase = Phase::Answered;
                    vec![Action::Speak {
                        attempt,
                        leg: Leg::A,
                        tag: "opening",
                        text: Speech::Opening,
                    }]
                }
                _ => Vec::new(),
            },
            Input::Answered { leg: Leg::B, .. } => match state.phase {
                Phase::Connecting { b_answered: false } => {
                    state.phase = Phase::Connecting { b_answered: true };
                    vec![Action::Speak {
                        attempt,
                        leg: Leg::B,
                        tag: "whisper",
                        text: Speech::Whisper,
                    }]
                }
                _ => Vec::new(),
            },
            Input::MachineDetection {
                leg: Leg::A,
                result,
                ..
            } => match (&state.phase, result) {
                (Phase::Answered, Amd::Machine) => {
                    // Never brief a voicemail box, never count it as reached.
                    self.abandon_attempt(state)
                }
                (Phase::Answered, Amd::Human | Amd::NotSure) => self.offer_menu(state),
                _ => Vec::new(),
            },
            Input::MachineDetection {
                leg: Leg::B,
                result: Amd::Machine,
                ..
            } => match state.phase {
                Phase::Connecting { .. } => {
                    let mut actions = vec![Action::Hangup {
                        attempt,
                        leg: Leg::B,
                    }];
                    actions.extend(self.connect_failed(state));
                    actions
                }
                _ => Vec::new(),
            },
            Input::MachineDetection { leg: Leg::B, .. } => Vec::new(),
            Input::HungUp { leg: Leg::A, .. } => match state.phase {
                Phase::Bridged => {
                    // A hung up after the bridge: the conversation happened.
                    state.phase = Phase::Done {
                        outcome: Outcome::Connected,
                    };
                    vec![Action::Finish(Outcome::Connected)]
                }
                Phase::Closing { then } => self.after_close(state, then),
                Phase::Connecting { .. } => {
                    // A gave up while B rang: hang B up, and A was reached but did not
                    // finish; count it as not reached and go on.
                    let mut actions = vec![Action::Hangup {
                        attempt,
                        leg: Leg::B,
                    }];
                    state.b_leg = None;
                    actions.extend(self.next_slot(state));
                    actions
                }
                _ => self.next_slot(state),
            },
            Input::HungUp { leg: Leg::B, .. } => match state.phase {
                Phase::Connecting { .. } => self.connect_failed(state),
                _ => Vec::new(),
            },
            Input::Chose { choice, .. } => match state.phase {
                Phase::Menu | Phase::Answered => self.on_choice(state, choice),
                _ => Vec::new(),
            },
            Input::MenuTimedOut { .. } => match state.phase {
                Phase::Menu if state.menus < MAX_MENUS => self.offer_menu(state),
                Phase::Menu => self.abandon_attempt(state),
                _ => Vec::new(),
            },
            Input::WhisperDone { .. } => match state.phase {
                Phase::Connecting { b_answered: true } => vec![Action::Bridge { attempt }],
                _ => Vec::new(),
            },
            Input::Bridged { .. } => match state.phase {
                Phase::Connecting { .. } => {
                    state.phase = Phase::Bridged;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Input::GoodbyeDone { .. } => match state.phase {
                Phase::Closing { .. } => vec![Action::Hangup {
                    attempt,
                    leg: Leg::A,
                }],
                _ => Vec::new(),
            },
        }
    }

    fn on_choice(&self, state: &mut State, choice: Choice) -> Vec<Action> {
        let attempt = state.attempt;
        match choice {
            Choice::Connect if self.can_connect => {
                state.phase = Phase::Connecting { b_answered: false };
                state.connects += 1;
                vec![
                    Action::Speak {
                        attempt,
                        leg: Leg::A,
                        tag: "connecting",
                        text: Speech::Connecting,
                    },
                    Action::DialB {
                        attempt,
                        connect: state.connects,
                    },
                ]
            }
            Choice::Connect => {
                let mut actions = vec![Action::Speak {
                    attempt,
                    leg: Leg::A,
                    tag: "no_target",
                    text: Speech::NoConnectTarget,
                }];
                actions.extend(self.offer_menu(state));
                actions
            }
            Choice::Acknowledge => {
                state.phase = Phase::Closing {
                    then: AfterClose::Finish(Outcome::Acknowledged),
                };
                // The decision is final now; the goodbye and hang-up are courtesy.
                vec![
                    Action::Speak {
                        attempt,
                        leg: Leg::A,
                        tag: "ack_goodbye",
                        text: Speech::AcknowledgedGoodbye,
                    },
                    Action::Finish(Outcome::Acknowledged),
                ]
            }
            Choice::Pass => {
                state.phase = Phase::Closing {
                    then: AfterClose::NextSlot,
                };
                vec![Action::Speak {
                    attempt,
                    leg: Leg::A,
                    tag: "pass_goodbye",
                    text: Speech::PassGoodbye,
                }]
            }
            Choice::Repeat => {
                state.menus = 0;
                self.offer_menu(state)
            }
        }
    }

    fn offer_menu(&self, state: &mut State) -> Vec<Action> {
        state.phase = Phase::Menu;
        state.menus += 1;
        vec![Action::Menu {
            attempt: state.attempt,
            round: state.menus,
        }]
    }

    /// B could not be reached: tell A and offer the menu again.
    fn connect_failed(&self, state: &mut State) -> Vec<Action> {
        state.b_leg = None;
        let mut actions = vec![Action::Speak {
            attempt: state.attempt,
            leg: Leg::A,
            tag: "connect_failed",
            text: Speech::ConnectFailed,
        }];
        actions.extend(self.offer_menu(state));
        actions
    }

    /// Ends the current call without a decision and moves on.
    fn abandon_attempt(&self, state: &mut State) -> Vec<Action> {
        let mut actions = self.hang_up_legs(state);
        actions.extend(self.next_slot(state));
        actions
    }

    fn after_close(&self, state: &mut State, then: AfterClose) -> Vec<Action> {
        match then {
            AfterClose::Finish(outcome) => {
                // `Finish` was announced when the choice was made.
                state.phase = Phase::Done { outcome };
                Vec::new()
            }
            AfterClose::NextSlot => self.next_slot(state),
        }
    }

    fn hang_up_legs(&self, state: &State) -> Vec<Action> {
        let attempt = state.attempt;
        let mut actions = Vec::new();
        if state.b_leg.is_some() {
            actions.push(Action::Hangup {
                attempt,
                leg: Leg::B,
            });
        }
        if state.a_leg.is_some() && !matches!(state.phase, Phase::Done { .. }) {
            actions.push(Action::Hangup {
                attempt,
                leg: Leg::A,
            });
        }
        actions
    }

    /// Dials the next slot, or ends `unreached` when none is left.
    fn next_slot(&self, state: &mut State) -> Vec<Action> {
        state.a_leg = None;
        state.b_leg = None;
        state.menus = 0;
        state.connects = 0;
        let next = state.attempt as usize;
        match self.slots.get(next) {
            Some(slot) => {
                state.attempt += 1;
                state.phase = Phase::Ringing;
                vec![Action::DialA {
                    attempt: state.attempt,
                    slot: slot.clone(),
                }]
            }
            None => {
                state.phase = Phase::Done {
                    outcome: Outcome::Unreached,
                };
                vec![Action::Finish(Outcome::Unreached)]
            }
        }
    }
}

#[cfg(test)]
mod tests;
