//! The carrier's memory: every leg, the dial `command_id`s seen, and the request and webhook
//! logs that tests read.
//!
//! One `std::sync::Mutex` guards it all. The HTTP handler does its whole job (validate, check
//! the leg, record, hand the command to the leg task) in one critical section, so two
//! commands on one leg are decided in a definite order, and no section ever awaits. Leg tasks
//! take the lock only to read a leg for a webhook or to record a transition.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use super::script::Script;
use super::validate::{AiGather, DigitGather, Recording, Transcription};
use super::{
    CarrierConfig, HangupCause, HangupSource, LegSnapshot, LegState, RecordedRequest, SentWebhook,
};
use super::{Delivery, SigningSeed, Timing};

/// How long a `command_id` is remembered: Telnyx ignores a repeat within 60 s (docs/telnyx.md §2).
pub(crate) const COMMAND_ID_WINDOW: Duration = Duration::from_secs(60);

/// The configuration, fixed at start.
pub(crate) struct Settings {
    pub default_webhook_url: Option<String>,
    pub seed: SigningSeed,
    pub timing: Timing,
    pub scripts: HashMap<String, Script>,
    pub delivery: Delivery,
    pub messaging_webhook_url: Option<String>,
}

/// Shared by the HTTP handler, the leg tasks and the webhook senders.
pub(crate) struct Inner {
    pub settings: Settings,
    state: Mutex<State>,
    /// Bumped after every observable change; [`super::SandboxCarrier::wait_until`] watches it.
    pub changed: watch::Sender<u64>,
    pub http: reqwest::Client,
}

impl Inner {
    pub(crate) fn new(config: CarrierConfig, http: reqwest::Client) -> Inner {
        Inner {
            settings: Settings {
                default_webhook_url: config.default_webhook_url,
                seed: config.signing_seed,
                timing: config.timing,
                scripts: config.scripts,
                delivery: config.delivery,
                messaging_webhook_url: config.messaging_webhook_url,
            },
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
            http,
        }
    }

    /// The state. A panic while it was held cannot leave it half-updated in a way that
    /// matters to a simulator, so poisoning is ignored rather than spread to every request.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes whoever waits for a change.
    pub(crate) fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn abort_tasks(&self) {
        for task in self.lock().tasks.drain(..) {
            task.abort();
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub legs: HashMap<String, Leg>,
    /// Leg ids in dial order, for listing.
    pub order: Vec<String>,
    /// Dial `command_id` → when it was seen and the answer it got, replayed to a repeat.
    pub dials: HashMap<String, (Instant, serde_json::Value)>,
    pub requests: Vec<RecordedRequest>,
    pub webhooks: Vec<SentWebhook>,
    /// Texts accepted by `POST /v2/messages`, in order.
    pub texts: Vec<super::TextSnapshot>,
    /// Leg and webhook tasks, aborted when the carrier stops.
    pub tasks: Vec<AbortHandle>,
}

impl State {
    pub(crate) fn snapshots(&self) -> Vec<LegSnapshot> {
        self.order
            .iter()
            .filter_map(|id| self.legs.get(id))
            .map(Leg::snapshot)
            .collect()
    }

    pub(crate) fn keep_task(&mut self, task: AbortHandle) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(task);
    }

    /// Bridges `caller` and `callee`: each gets `call.bridged`, and `callee`'s party is the
    /// one who later ends the conversation. Only two answered legs can be bridged; otherwise
    /// nothing happens (a linked leg that answers while its partner still rings stays alone).
    pub(crate) fn bridge(&mut self, caller: &str, callee: &str) {
        let answered = |id: &str| {
            self.legs
                .get(id)
                .is_some_and(|leg| leg.state == LegState::Answered)
        };
        if caller == callee || !answered(caller) || !answered(callee) {
            return;
        }
        for (this, peer, ends_conversation) in [(caller, callee, false), (callee, caller, true)] {
            if let Some(leg) = self.legs.get_mut(this) {
                leg.bridged_with = Some(peer.to_owned());
                let _ = leg.inputs.send(LegInput::Bridged {
                    peer: peer.to_owned(),
                    ends_conversation,
                });
            }
        }
    }
}

/// Something played to the callee, in queue order.
#[derive(Debug, Clone)]
pub(crate) enum Media {
    /// The spoken text, SSML tags removed.
    Speak {
        text: String,
    },
    Gather(DigitGather),
    AiGather(AiGather),
    /// `record_start`: the caller speaks (their script's `says`) and the recording ends.
    Record(Recording),
}

/// What a leg task is told by the HTTP handler or by another leg.
#[derive(Debug, Clone)]
pub(crate) enum LegInput {
    Media(Media),
    /// `Some` starts a transcription, `None` stops it.
    Transcription(Option<Transcription>),
    Hangup,
    /// `answer` on an incoming call.
    Answer,
    Bridged {
        peer: String,
        ends_conversation: bool,
    },
    /// The bridged peer hung up; this leg ends with it.
    PeerHungUp {
        source: HangupSource,
    },
}

/// One leg as the carrier tracks it. The leg task owns the simulation; this record is what
/// the handler checks commands against and what webhooks are built from.
pub(crate) struct Leg {
    pub call_control_id: String,
    pub call_leg_id: String,
    pub call_session_id: String,
    pub connection_id: String,
    pub from: String,
    pub to: String,
    pub script: Script,
    pub state: LegState,
    /// Replaced by every accepted command that carries one; echoed on every later webhook.
    pub client_state: Option<String>,
    pub webhook_url: String,
    pub webhook_urls: HashMap<String, String>,
    pub link_to: Option<String>,
    pub bridged_with: Option<String>,
    /// A leg to bridge with once this one answers (`bridge_on_answer`, `transfer`, or a
    /// `bridge` command sent while this leg was still ringing).
    pub bridge_on_answer: Option<String>,
    /// Stays up when the bridged peer hangs up.
    pub park_after_unbridge: bool,
    pub hangup_cause: Option<HangupCause>,
    pub hangup_source: Option<HangupSource>,
    pub ended_by_command: bool,
    /// What a voicemail box recorded so far, one entry per speak.
    pub voicemail_message: Vec<String>,
    pub commands: Vec<String>,
    /// Accepted `command_id`s and when; a repeat within [`COMMAND_ID_WINDOW`] is ignored.
    pub command_ids: HashMap<String, Instant>,
    pub transcribing: bool,
    pub ai_gathering: bool,
    /// A call placed *to* the client ([`super::SandboxCarrier::place_call`]): it rings until
    /// the client answers.
    pub incoming: bool,
    pub started_at: SystemTime,
    pub answered_at: Option<SystemTime>,
    pub ended_at: Option<SystemTime>,
    pub inputs: mpsc::UnboundedSender<LegInput>,
}

impl Leg {
    pub(crate) fn snapshot(&self) -> LegSnapshot {
        LegSnapshot {
            call_control_id: self.call_control_id.clone(),
            call_leg_id: self.call_leg_id.clone(),
            call_session_id: self.call_session_id.clone(),
            connection_id: self.connection_id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            script: self.script.clone(),
            state: self.state,
            client_state: self.client_state.clone(),
            webhook_url: self.webhook_url.clone(),
            link_to: self.link_to.clone(),
            bridged_with: self.bridged_with.clone(),
            hangup_cause: self.hangup_cause,
            hangup_source: self.hangup_source,
            ended_by_command: self.ended_by_command,
            voicemail_message: (!self.voicemail_message.is_empty())
                .then(|| self.voicemail_message.join(" ")),
            commands: self.commands.clone(),
            started_at: self.started_at,
            answered_at: self.answered_at,
            ended_at: self.ended_at,
        }
    }

    /// Whether `command_id` repeats an accepted command of the last 60 s.
    pub(crate) fn is_repeat(&self, command_id: &str, now: Instant) -> bool {
        self.command_ids
            .get(command_id)
            .is_some_and(|at| now.duration_since(*at) < COMMAND_ID_WINDOW)
    }
}
