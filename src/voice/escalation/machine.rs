//! The escalation state machine: pure, with no I/O, so every path can be tested as a table.
//!
//! An escalation walks a list of call slots (policy steps × targets × attempts × repeats,
//! flattened in [`super::plan`]). Slots that share a `group` are rung at once (a parallel
//! step); a sequential step is a group of one. Every call Klaxon starts is a [`Call`] in the
//! state until it is seen to end, so each one is ended by Klaxon's hand when Klaxon is done
//! with it: a ringing call that lost the race is hung up, a voicemail box is hung up (or left
//! a message after its greeting), and an answered call Klaxon gives up on hears a one-line
//! goodbye before the hang-up.
//!
//! The first person whose call answering-machine detection calls human (or who chooses
//! something during the opening) *takes* the escalation: the briefing and the menu play to
//! them alone, and every other call of the group is ended. Anything short of an explicit
//! choice (no answer, busy, rejected, voicemail, hang-up, silence for every menu round) is
//! *not reached* and moves to the next group.
//!
//! [`Machine::handle`] takes one input and returns the actions to perform; the caller
//! persists the new state before performing them, so a crash repeats at most an action whose
//! `command_id` makes it idempotent at Telnyx. Inputs of calls that are no longer ours (a late
//! webhook of an ended call) are ignored, and so are inputs that make no sense in a call's
//! status: Telnyx delivers out of order and more than once, and none of that may move an
//! escalation backwards.

use serde::{Deserialize, Serialize};

use crate::voice::enrich::Found;
use crate::voice::settings::Voicemail;

/// A call slot: who to ring, for how long, and with whom at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub number: String,
    pub name: Option<String>,
    pub ring_timeout_secs: u32,
    /// Consecutive slots with the same group are rung together (a parallel step); a slot
    /// without one is rung alone.
    #[serde(default)]
    pub group: Option<u32>,
    /// Whether this call is preceded by a text, or replaced by one (the slot then "rings"
    /// until a reply or `ring_timeout_secs` without one).
    #[serde(default)]
    pub sms: Option<crate::voice::sms::Texting>,
    /// Rings whoever this schedule has on call when the call is placed (resolved then, and
    /// again by a take-over after a crash); `number` is then empty. Plans stored before
    /// schedules existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
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
    /// The alert behind it resolved at its source before anyone took it.
    Resolved,
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
            Outcome::Resolved => "resolved",
            Outcome::Failed => "failed",
        }
    }
}

/// Where the escalation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The current group is ringing (or answering); nobody has taken the escalation yet.
    Ringing,
    /// Someone took it: the briefing and menu play to them; waiting for a choice.
    Menu,
    /// The connect target (leg B) is being dialled, whispered to, then bridged.
    Connecting { b_answered: bool },
    /// A and B are bridged: the escalation is connected; the call goes on until one side
    /// hangs up, and then the other is hung up.
    Bridged,
    /// The outcome is decided. Calls still being ended (a goodbye) remain in the state.
    Done { outcome: Outcome },
}

/// Which leg of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leg {
    /// The person being escalated to.
    A,
    /// The connect target (customer, account executive).
    B,
}

/// One call to a person (leg A) that Klaxon placed and has not yet seen end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The slot it rings (1-based); numbers its commands and its webhooks' `client_state`.
    pub attempt: u32,
    /// Telnyx's `call_control_id`, once the dial answered.
    pub call: Option<String>,
    pub status: CallStatus,
    /// Speeches sent and not yet heard to the end: a goodbye hangs up after the last.
    #[serde(default)]
    pub speaking: u32,
}

/// Where one call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Dialled, not answered.
    Ringing,
    /// Answered; the opening plays while answering-machine detection decides.
    Answered,
    /// This person took the escalation; [`Phase`] says where it stands.
    Taken,
    /// A voicemail box: waiting for its greeting to end, to leave a message.
    AwaitingBeep,
    /// Leaving the message on a voicemail box; hung up once it has been spoken.
    LeavingMessage,
    /// Saying a last line (goodbye, "someone answered", the voicemail message): hung up
    /// as soon as it has been heard.
    SayingGoodbye,
}

/// Which briefing the person who took the escalation heard last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Heard {
    /// The model's briefing.
    Model,
    /// The template built from the event (no model, or it had not answered yet).
    Template,
}

/// The persisted state of one escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Slots started so far: the 1-based index of the last slot dialled; 0 before the first.
    pub attempt: u32,
    pub phase: Phase,
    /// The model's briefing, once written; until then the template is used.
    pub briefing: Option<String>,
    /// Every call placed and not yet seen to end.
    #[serde(default)]
    pub calls: Vec<Call>,
    /// Leg B of the call that took the escalation.
    pub b_leg: Option<String>,
    /// Menu rounds offered on the call that took the escalation (repeats included).
    pub menus: u32,
    /// A connect target found after the escalation started (a Merge contact's phone).
    #[serde(default)]
    pub connect_to: Option<String>,
    /// What the enrichment found about the customer (names for the briefing).
    #[serde(default)]
    pub found: Option<Found>,
    /// Connect tries (leg B dials) on the call that took it: numbers each B dial's claim.
    #[serde(default)]
    pub connects: u32,
    #[serde(default)]
    pub heard: Option<Heard>,
    /// "There is no one to connect you to" is said once per call, not at every press of 1.
    #[serde(default)]
    pub told_no_target: bool,
    /// The leg of a caller waiting on the line (live call routing, `crate::voice::inbound`):
    /// "connect" bridges to it instead of dialling anyone, and the caller's leg is the
    /// caller's to end, not the escalation's (unless the conversation with them is over).
    #[serde(default)]
    pub caller: Option<String>,
}

impl State {
    pub fn new() -> State {
        State {
            attempt: 0,
            phase: Phase::Ringing,
            briefing: None,
            calls: Vec::new(),
            b_leg: None,
            menus: 0,
            connect_to: None,
            found: None,
            connects: 0,
            heard: None,
            told_no_target: false,
            caller: None,
        }
    }

    /// The outcome, once decided (a connection is decided when the bridge is made).
    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Done { outcome } => Some(outcome),
            Phase::Bridged => Some(Outcome::Connected),
            _ => None,
        }
    }

    /// The call that took the escalation, if any.
    pub fn taken(&self) -> Option<&Call> {
        self.taken_index().map(|index| &self.calls[index])
    }

    /// Where in `calls` the call that took the escalation is.
    fn taken_index(&self) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.status == CallStatus::Taken)
    }

    /// A call of this escalation by attempt.
    pub fn call(&self, attempt: u32) -> Option<&Call> {
        self.calls.iter().find(|c| c.attempt == attempt)
    }

    /// Whether a call or leg B that Klaxon placed may still be up.
    pub fn has_live_legs(&self) -> bool {
        !self.calls.is_empty() || self.b_leg.is_some()
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

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Connect => "connect",
            Choice::Acknowledge => "acknowledge",
            Choice::Pass => "pass",
            Choice::Repeat => "repeat",
        }
    }
}

/// How a choice was made, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceBy {
    /// Pressed on the keypad.
    Key(String),
    /// Said; the final transcript.
    Speech(String),
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
    /// Begin: dial the first group.
    Start,
    /// The model's briefing is ready.
    BriefingReady(String),
    /// The event's enrichment found who "connect me" reaches and who the customer is.
    Enriched {
        connect_to: Option<String>,
        found: Option<Found>,
    },
    /// The dial request for `attempt` succeeded; this is the leg's call control id.
    Dialed {
        attempt: u32,
        leg: Leg,
        call_control_id: String,
    },
    /// The dial request failed.
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
    /// A voicemail box's greeting ended (its beep): a message can be left now.
    GreetingEnded {
        attempt: u32,
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
        by: ChoiceBy,
    },
    /// The menu ended without a usable choice (silence, a key that means nothing).
    MenuTimedOut {
        attempt: u32,
    },
    /// A speech on a leg was heard to the end.
    SpeechEnded {
        attempt: u32,
        leg: Leg,
    },
    Bridged {
        attempt: u32,
    },
    Cancel,
    /// The escalation was settled outside its calls.
    Settle(Settlement),
}

/// How an escalation can end outside its calls: at the source of the alert behind it, or
/// by a text message. Ringing stops; a person on the menu is told why and hung up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Settlement {
    /// The alert resolved at its source (`source` names it, e.g. "alertmanager").
    Resolved { source: String },
    /// Someone acknowledged it elsewhere (`by` says who and where, e.g. "PagerDuty" or
    /// "SMS from +15550100").
    Acknowledged { by: String },
}

impl Settlement {
    pub fn outcome(&self) -> Outcome {
        match self {
            Settlement::Resolved { .. } => Outcome::Resolved,
            Settlement::Acknowledged { .. } => Outcome::Acknowledged,
        }
    }
}

impl Input {
    /// The call an input is about, if any.
    pub fn attempt(&self) -> Option<u32> {
        match self {
            Input::Dialed { attempt, .. }
            | Input::DialFailed { attempt, .. }
            | Input::Answered { attempt, .. }
            | Input::MachineDetection { attempt, .. }
            | Input::GreetingEnded { attempt }
            | Input::HungUp { attempt, .. }
            | Input::Chose { attempt, .. }
            | Input::MenuTimedOut { attempt }
            | Input::SpeechEnded { attempt, .. }
            | Input::Bridged { attempt } => Some(*attempt),
            Input::Start
            | Input::BriefingReady(_)
            | Input::Enriched { .. }
            | Input::Cancel
            | Input::Settle(_) => None,
        }
    }

    /// The leg an input is about; `Bridged` concerns both and counts as A.
    pub fn leg(&self) -> Leg {
        match self {
            Input::Dialed { leg, .. }
            | Input::DialFailed { leg, .. }
            | Input::Answered { leg, .. }
            | Input::MachineDetection { leg, .. }
            | Input::HungUp { leg, .. }
            | Input::SpeechEnded { leg, .. } => *leg,
            _ => Leg::A,
        }
    }
}

/// Something to do. `tag` values are stable: with the escalation id, attempt and sequence
/// number they form the Telnyx `command_id`, so a repeated action is dropped by Telnyx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial leg A of `attempt` to the slot's number.
    DialA {
        attempt: u32,
        slot: Slot,
    },
    /// Dial the connect target, linked to leg A; `connect` counts the tries on this call.
    DialB {
        attempt: u32,
        connect: u32,
        link_to: String,
    },
    /// Speak on a leg.
    Speak {
        attempt: u32,
        leg: Leg,
        call: String,
        tag: &'static str,
        text: Speech,
    },
    /// Offer the menu on leg A: the briefing it names and "say connect me or press 1 …",
    /// keypad and speech both listened to.
    Menu {
        attempt: u32,
        call: String,
        round: u32,
        briefing: Heard,
    },
    Bridge {
        attempt: u32,
        a: String,
        b: String,
    },
    Hangup {
        attempt: u32,
        leg: Leg,
        call: String,
    },
    /// The outcome is decided.
    Finish(Outcome),
    /// The bridged conversation ended (its length goes into the write-back).
    CallEnded {
        attempt: u32,
    },
}

/// What to say; the executor renders the words (names and numbers stay out of the machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speech {
    /// "This is Klaxon with an urgent escalation for …": said the moment a call is
    /// answered (no dead air), safe for a voicemail greeting.
    Opening,
    /// "Connecting you now, please hold."
    Connecting,
    /// One sentence of context for the connect target, naming who is joining.
    Whisper,
    /// "We could not reach them." followed by the menu again.
    ConnectFailed,
    /// "There is no one to connect you to." (said once; "connect" is not offered)
    NoConnectTarget,
    /// "Acknowledged. Goodbye."
    AcknowledgedGoodbye,
    /// "Passed on. Goodbye."
    PassGoodbye,
    /// No choice after the last menu round.
    NoChoiceGoodbye,
    /// Another person of a parallel step took it first.
    TakenElsewhere,
    /// The escalation was cancelled while this call was up.
    CancelledGoodbye,
    /// The alert resolved at its source while this call was up.
    ResolvedGoodbye,
    /// Someone acknowledged it elsewhere (at the alert's source, by text) while this call
    /// was up.
    AcknowledgedElsewhere,
    /// Left on a voicemail box after its greeting: the subject only.
    VoicemailMessage,
}

/// What a policy decides about its calls, fixed in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRules {
    /// Who the policy rings, as the calls say it.
    pub role: String,
    pub voicemail: Voicemail,
    pub max_menu_rounds: u32,
}

impl Default for CallRules {
    fn default() -> Self {
        CallRules {
            role: crate::voice::settings::DEFAULT_ROLE.to_owned(),
            voicemail: Voicemail::HangUp,
            max_menu_rounds: crate::voice::settings::DEFAULT_MAX_MENU_ROUNDS,
        }
    }
}

/// The escalation machine over a fixed list of slots.
pub struct Machine<'a> {
    pub slots: &'a [Slot],
    /// Whether there is someone to connect to; without, "connect" is not offered.
    pub can_connect: bool,
    pub rules: &'a CallRules,
}

impl Machine<'_> {
    /// Applies `input` to `state`, returning the actions to perform in order.
    pub fn handle(&self, state: &mut State, input: Input) -> Vec<Action> {
        if let Some(attempt) = input.attempt() {
            return match state.calls.iter().position(|c| c.attempt == attempt) {
                Some(index) => match input.leg() {
                    Leg::A => self.on_call(state, index, input),
                    Leg::B => self.on_connect_leg(state, index, input),
                },
                // A late event of a call that has ended (or was never ours).
                None => Vec::new(),
            };
        }
        match input {
            // A cancel can come before the start (a caller who hangs up at once): no dial.
            Input::Start if state.attempt == 0 && state.outcome().is_none() => {
                self.next_group(state)
            }
            Input::Start => Vec::new(),
            Input::Cancel if state.outcome().is_some() => Vec::new(),
            Input::Cancel => self.end_outside(
                state,
                Outcome::Cancelled,
                "cancel_goodbye",
                Speech::CancelledGoodbye,
            ),
            Input::Settle(_) if state.outcome().is_some() => Vec::new(),
            Input::Settle(settlement) => {
                let (tag, speech) = match settlement {
                    Settlement::Resolved { .. } => ("resolved_goodbye", Speech::ResolvedGoodbye),
                    Settlement::Acknowledged { .. } => {
                        ("acknowledged_elsewhere", Speech::AcknowledgedElsewhere)
                    }
                };
                self.end_outside(state, settlement.outcome(), tag, speech)
            }
            Input::BriefingReady(text) => {
                // A menu already playing keeps its words; the next round speaks this.
                state.briefing = Some(text);
                Vec::new()
            }
            Input::Enriched { connect_to, found } => {
                if state.connect_to.is_none() {
                    state.connect_to = connect_to;
                }
                if state.found.is_none() {
                    state.found = found;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// An input about leg A of `state.calls[index]`.
    fn on_call(&self, state: &mut State, index: usize, input: Input) -> Vec<Action> {
        let status = state.calls[index].status;
        match (status, input) {
            (
                _,
                Input::Dialed {
                    call_control_id, ..
                },
            ) => {
                state.calls[index].call = Some(call_control_id);
                Vec::new()
            }
            (_, Input::HungUp { .. }) => self.on_hung_up(state, index),
            (CallStatus::Ringing, Input::DialFailed { .. }) => {
                state.calls.remove(index);
                self.after_loss(state)
            }
            (CallStatus::Ringing, Input::Answered { .. }) => {
                state.calls[index].status = CallStatus::Answered;
                self.say(state, index, "opening", Speech::Opening)
            }
            (
                CallStatus::Answered,
                Input::MachineDetection {
                    result: Amd::Human | Amd::NotSure,
                    ..
                },
            ) => {
                let mut actions = self.take(state, index);
                actions.extend(self.offer_menu(state));
                actions
            }
            (
                CallStatus::Answered,
                Input::MachineDetection {
                    result: Amd::Machine,
                    ..
                },
            ) => self.on_voicemail(state, index),
            (CallStatus::Answered, Input::Chose { choice, .. }) => {
                // A choice during the opening: a person, who takes it.
                let mut actions = self.take(state, index);
                actions.extend(self.on_choice(state, choice));
                actions
            }
            (CallStatus::Taken, Input::Chose { choice, .. }) if state.phase == Phase::Menu => {
                self.on_choice(state, choice)
            }
            (CallStatus::Taken, Input::MenuTimedOut { .. }) if state.phase == Phase::Menu => {
                self.next_round(state)
            }
            (CallStatus::Taken, Input::Bridged { .. }) => match state.phase {
                Phase::Connecting { .. } => {
                    state.phase = Phase::Bridged;
                    vec![Action::Finish(Outcome::Connected)]
                }
                _ => Vec::new(),
            },
            (CallStatus::AwaitingBeep, Input::GreetingEnded { .. }) => {
                state.calls[index].status = CallStatus::LeavingMessage;
                self.say(state, index, "voicemail", Speech::VoicemailMessage)
            }
            (_, Input::SpeechEnded { .. }) => {
                let call = &mut state.calls[index];
                call.speaking = call.speaking.saturating_sub(1);
                let last_words = matches!(
                    call.status,
                    CallStatus::SayingGoodbye | CallStatus::LeavingMessage
                );
                if last_words && call.speaking == 0 {
                    return self.hang_up(state, index);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// An input about leg B of the call that took the escalation.
    fn on_connect_leg(&self, state: &mut State, index: usize, input: Input) -> Vec<Action> {
        if state.calls[index].status != CallStatus::Taken {
            return Vec::new();
        }
        let attempt = state.calls[index].attempt;
        match (&state.phase, input) {
            (
                Phase::Connecting { .. },
                Input::Dialed {
                    call_control_id, ..
                },
            ) => {
                state.b_leg = Some(call_control_id);
                Vec::new()
            }
            (Phase::Connecting { .. }, Input::DialFailed { .. }) => self.connect_failed(state),
            (Phase::Connecting { b_answered: false }, Input::Answered { .. }) => {
                state.phase = Phase::Connecting { b_answered: true };
                match state.b_leg.clone() {
                    Some(call) => vec![Action::Speak {
                        attempt,
                        leg: Leg::B,
                        call,
                        tag: "whisper",
                        text: Speech::Whisper,
                    }],
                    None => Vec::new(),
                }
            }
            (
                Phase::Connecting { .. },
                Input::MachineDetection {
                    result: Amd::Machine,
                    ..
                },
            ) => {
                // Never connect anyone to a voicemail box.
                let mut actions = self.hang_up_b(state, attempt);
                actions.extend(self.connect_failed(state));
                actions
            }
            (Phase::Connecting { b_answered: true }, Input::SpeechEnded { .. }) => {
                match (state.calls[index].call.clone(), state.b_leg.clone()) {
                    (Some(a), Some(b)) => vec![Action::Bridge { attempt, a, b }],
                    _ => Vec::new(),
                }
            }
            (Phase::Connecting { .. }, Input::HungUp { .. }) => {
                state.b_leg = None;
                self.connect_failed(state)
            }
            (Phase::Bridged, Input::HungUp { .. }) => {
                // The conversation is over: the person who took it is hung up too.
                state.b_leg = None;
                let mut actions = self.hang_up(state, index);
                actions.push(Action::CallEnded { attempt });
                state.phase = Phase::Done {
                    outcome: Outcome::Connected,
                };
                actions
            }
            _ => Vec::new(),
        }
    }

    /// Leg A of `state.calls[index]` ended.
    fn on_hung_up(&self, state: &mut State, index: usize) -> Vec<Action> {
        let call = state.calls.remove(index);
        match call.status {
            CallStatus::Ringing | CallStatus::Answered => self.after_loss(state),
            // Already given up on; its group moved on then.
            CallStatus::AwaitingBeep | CallStatus::LeavingMessage | CallStatus::SayingGoodbye => {
                Vec::new()
            }
            CallStatus::Taken => match state.phase {
                Phase::Bridged => {
                    let mut actions = self.hang_up_b(state, call.attempt);
                    actions.push(Action::CallEnded {
                        attempt: call.attempt,
                    });
                    state.phase = Phase::Done {
                        outcome: Outcome::Connected,
                    };
                    actions
                }
                Phase::Connecting { .. } => {
                    // They gave up while the connect target rang: not reached; go on.
                    let mut actions = self.hang_up_b(state, call.attempt);
                    actions.extend(self.next_group(state));
                    actions
                }
                Phase::Menu => self.next_group(state),
                Phase::Ringing | Phase::Done { .. } => Vec::new(),
            },
        }
    }

    /// A voicemail box answered: never briefed, never counted as reached.
    fn on_voicemail(&self, state: &mut State, index: usize) -> Vec<Action> {
        let mut actions = match self.rules.voicemail {
            Voicemail::HangUp => self.hang_up(state, index),
            Voicemail::LeaveMessage => {
                state.calls[index].status = CallStatus::AwaitingBeep;
                Vec::new()
            }
        };
        actions.extend(self.after_loss(state));
        actions
    }

    /// `state.calls[index]` takes the escalation; every other call of its group is ended.
    fn take(&self, state: &mut State, index: usize) -> Vec<Action> {
        state.calls[index].status = CallStatus::Taken;
        state.phase = Phase::Menu;
        state.menus = 0;
        state.connects = 0;
        state.heard = None;
        state.told_no_target = false;
        let taker = state.calls[index].attempt;
        let others: Vec<u32> = state
            .calls
            .iter()
            .filter(|c| c.attempt != taker)
            .filter(|c| matches!(c.status, CallStatus::Ringing | CallStatus::Answered))
            .map(|c| c.attempt)
            .collect();
        let mut actions = Vec::new();
        for attempt in others {
            if let Some(other) = state.calls.iter().position(|c| c.attempt == attempt) {
                actions.extend(self.give_up(state, other, "taken", Speech::TakenElsewhere));
            }
        }
        actions
    }

    fn on_choice(&self, state: &mut State, choice: Choice) -> Vec<Action> {
        let Some(index) = state.taken_index() else {
            return Vec::new();
        };
        let attempt = state.calls[index].attempt;
        match choice {
            Choice::Connect if state.caller.is_some() => self.connect_caller(state, index),
            Choice::Connect if self.can_connect => {
                let Some(link_to) = state.calls[index].call.clone() else {
                    return Vec::new();
                };
                state.phase = Phase::Connecting { b_answered: false };
                state.connects += 1;
                let mut actions = self.say(state, index, "connecting", Speech::Connecting);
                actions.push(Action::DialB {
                    attempt,
                    connect: state.connects,
                    link_to,
                });
                actions
            }
            Choice::Connect => {
                // Not offered; pressed anyway. Say why once, then the menu goes on (bounded).
                let mut actions = Vec::new();
                if !state.told_no_target {
                    state.told_no_target = true;
                    actions = self.say(state, index, "no_target", Speech::NoConnectTarget);
                }
                actions.extend(self.next_round(state));
                actions
            }
            Choice::Acknowledge => {
                state.phase = Phase::Done {
                    outcome: Outcome::Acknowledged,
                };
                // The decision is final now; the goodbye and hang-up are courtesy.
                let mut actions =
                    self.give_up(state, index, "ack_goodbye", Speech::AcknowledgedGoodbye);
                actions.push(Action::Finish(Outcome::Acknowledged));
                actions
            }
            Choice::Pass => {
                let mut actions = self.give_up(state, index, "pass_goodbye", Speech::PassGoodbye);
                actions.extend(self.next_group(state));
                actions
            }
            Choice::Repeat => self.next_round(state),
        }
    }

    /// "Connect" with a caller on the line: no dial, the caller's leg is bridged at once.
    fn connect_caller(&self, state: &mut State, index: usize) -> Vec<Action> {
        let (Some(a), Some(b)) = (state.calls[index].call.clone(), state.caller.clone()) else {
            return Vec::new();
        };
        let attempt = state.calls[index].attempt;
        state.phase = Phase::Connecting { b_answered: true };
        state.connects += 1;
        state.b_leg = Some(b.clone());
        let mut actions = self.say(state, index, "connecting", Speech::Connecting);
        actions.push(Action::Bridge { attempt, a, b });
        actions
    }

    /// Offers the menu again, unless the call has had its rounds: then goodbye, next group.
    fn next_round(&self, state: &mut State) -> Vec<Action> {
        if state.menus < self.rules.max_menu_rounds {
            return self.offer_menu(state);
        }
        let Some(index) = state.taken_index() else {
            return Vec::new();
        };
        let mut actions = self.give_up(state, index, "no_choice_goodbye", Speech::NoChoiceGoodbye);
        actions.extend(self.next_group(state));
        actions
    }

    fn offer_menu(&self, state: &mut State) -> Vec<Action> {
        let Some(taken) = state.taken() else {
            return Vec::new();
        };
        let (attempt, call) = (taken.attempt, taken.call.clone());
        state.phase = Phase::Menu;
        state.menus += 1;
        let briefing = if state.briefing.is_some() {
            Heard::Model
        } else {
            Heard::Template
        };
        state.heard = Some(briefing);
        match call {
            Some(call) => vec![Action::Menu {
                attempt,
                call,
                round: state.menus,
                briefing,
            }],
            None => Vec::new(),
        }
    }

    /// B could not be reached: tell A and offer the menu again.
    fn connect_failed(&self, state: &mut State) -> Vec<Action> {
        state.b_leg = None;
        state.phase = Phase::Menu;
        let Some(index) = state.taken_index() else {
            return Vec::new();
        };
        let mut actions = self.say(state, index, "connect_failed", Speech::ConnectFailed);
        actions.extend(self.next_round(state));
        actions
    }

    /// Ends the escalation from outside its calls (the API, the alert's source, a text):
    /// the connect target's leg is hung up, an answered call hears `speech` and goodbye,
    /// a ringing one is hung up.
    fn end_outside(
        &self,
        state: &mut State,
        outcome: Outcome,
        tag: &'static str,
        speech: Speech,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(taken) = state.taken() {
            let attempt = taken.attempt;
            actions.extend(self.hang_up_b(state, attempt));
        }
        let live: Vec<(u32, CallStatus)> =
            state.calls.iter().map(|c| (c.attempt, c.status)).collect();
        for (attempt, status) in live {
            let Some(index) = state.calls.iter().position(|c| c.attempt == attempt) else {
                continue;
            };
            actions.extend(match status {
                CallStatus::Answered | CallStatus::Taken => self.give_up(state, index, tag, speech),
                CallStatus::Ringing | CallStatus::AwaitingBeep => self.hang_up(state, index),
                CallStatus::LeavingMessage | CallStatus::SayingGoodbye => Vec::new(),
            });
        }
        state.phase = Phase::Done { outcome };
        actions.push(Action::Finish(outcome));
        actions
    }

    /// Ends a call politely: an answered call hears `speech` and is hung up once it has
    /// been heard; a call that is not answered is hung up now.
    fn give_up(
        &self,
        state: &mut State,
        index: usize,
        tag: &'static str,
        speech: Speech,
    ) -> Vec<Action> {
        match state.calls[index].status {
            CallStatus::Ringing | CallStatus::AwaitingBeep => self.hang_up(state, index),
            _ => {
                state.calls[index].status = CallStatus::SayingGoodbye;
                let actions = self.say(state, index, tag, speech);
                if actions.is_empty() {
                    // No call id to speak on: nothing to wait for.
                    return self.hang_up(state, index);
                }
                actions
            }
        }
    }

    /// Speaks on leg A of `state.calls[index]`.
    fn say(&self, state: &mut State, index: usize, tag: &'static str, text: Speech) -> Vec<Action> {
        let call = &mut state.calls[index];
        let Some(id) = call.call.clone() else {
            return Vec::new();
        };
        call.speaking += 1;
        vec![Action::Speak {
            attempt: call.attempt,
            leg: Leg::A,
            call: id,
            tag,
            text,
        }]
    }

    /// Hangs up leg A of `state.calls[index]` and forgets it: its later events are stale.
    fn hang_up(&self, state: &mut State, index: usize) -> Vec<Action> {
        let call = state.calls.remove(index);
        match call.call {
            Some(id) => vec![Action::Hangup {
                attempt: call.attempt,
                leg: Leg::A,
                call: id,
            }],
            None => Vec::new(),
        }
    }

    fn hang_up_b(&self, state: &mut State, attempt: u32) -> Vec<Action> {
        if state.b_leg.is_some() && state.b_leg == state.caller && state.phase != Phase::Bridged {
            // A caller still waiting is told and looked after by the inbound call.
            state.b_leg = None;
            return Vec::new();
        }
        match state.b_leg.take() {
            Some(call) => vec![Action::Hangup {
                attempt,
                leg: Leg::B,
                call,
            }],
            None => Vec::new(),
        }
    }

    /// A call of the ringing group is out (no answer, busy, voicemail, …): when it was the
    /// last and nobody took the escalation, the next group is rung.
    fn after_loss(&self, state: &mut State) -> Vec<Action> {
        let still_ringing = state
            .calls
            .iter()
            .any(|c| matches!(c.status, CallStatus::Ringing | CallStatus::Answered));
        if state.phase == Phase::Ringing && !still_ringing {
            self.next_group(state)
        } else {
            Vec::new()
        }
    }

    /// Dials every slot of the next group, or ends `unreached` when none is left.
    fn next_group(&self, state: &mut State) -> Vec<Action> {
        state.b_leg = None;
        state.menus = 0;
        state.connects = 0;
        state.heard = None;
        let first = state.attempt as usize;
        let Some(group) = self.slots.get(first).map(|s| s.group) else {
            state.phase = Phase::Done {
                outcome: Outcome::Unreached,
            };
            return vec![Action::Finish(Outcome::Unreached)];
        };
        state.phase = Phase::Ringing;
        let mut actions = Vec::new();
        let together = |slot: &&Slot| group.is_some() && slot.group == group;
        let rest = self.slots[first + 1..].iter().take_while(together);
        for slot in std::iter::once(&self.slots[first]).chain(rest) {
            state.attempt += 1;
            state.calls.push(Call {
                attempt: state.attempt,
                call: None,
                status: CallStatus::Ringing,
                speaking: 0,
            });
            actions.push(Action::DialA {
                attempt: state.attempt,
                slot: slot.clone(),
            });
        }
        actions
    }
}

#[cfg(test)]
mod tests;
