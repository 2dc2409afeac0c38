//! Validated voice settings: the carrier account (or the sandbox), escalation policies and the
//! people directory. Built by [`resolve`] (in `raw.rs`) from `[voice]`, `[people.*]`,
//! `[[policies]]` and the reference apps' environment variables.

use std::collections::BTreeMap;
use std::fmt;

mod raw;

pub use raw::{
    DEFAULT_DIALS_PER_SECOND, DEFAULT_RING_TIMEOUT_SECS, DEFAULT_TELNYX_API_BASE, RawPerson,
    RawPolicy, RawStep, RawVoice, RawVoiceInput, SANDBOX_FROM_NUMBER, resolve,
};

use crate::people::PhoneBook;
use crate::signing::telnyx::PublicKey;

/// Where calls go.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    /// `None`: no `TELNYX_API_KEY`, so Klaxon runs its built-in sandbox carrier.
    pub telnyx: Option<TelnyxAccount>,
    /// Keys that sign `/webhooks/voice` (`TELNYX_PUBLIC_KEY`, several during a rotation).
    /// Empty with a real account means webhooks are refused: fail closed.
    pub public_keys: Vec<PublicKey>,
    /// The base URL Telnyx reaches Klaxon at (`PUBLIC_URL`); webhook URLs are built from it,
    /// never from a request's Host header.
    pub public_url: Option<String>,
    /// Our caller id (`TELNYX_PHONE_NUMBER`).
    pub from_number: String,
    /// Dial pacing (Telnyx allows 30/s sustained).
    pub dials_per_second: f64,
    /// Escalation policies by name.
    pub policies: BTreeMap<String, Policy>,
    /// `[people]` with an `email`: how a CRM deal's owner (who has no phone in Merge) is
    /// reached.
    pub people_by_email: PhoneBook,
    /// How fast the sandbox carrier's callees act (`KLAXON_SANDBOX_TIMING`).
    pub sandbox_timing: SandboxTiming,
    /// Where texts are sent from (`TELNYX_SMS_NUMBER`, `TELNYX_MESSAGING_PROFILE_ID`).
    pub sms: crate::voice::sms::SmsSettings,
    /// The policy a caller to Klaxon's number reaches by pressing 1 (`INBOUND_POLICY`,
    /// `[voice] inbound_policy`; default `oncall`).
    pub inbound_policy: String,
}

/// The sandbox carrier's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxTiming {
    /// Seconds of ringing and speech, like a real call: for demos.
    #[default]
    Realistic,
    /// Milliseconds: for tests and benchmarks.
    Fast,
}

/// A Telnyx account.
#[derive(Clone)]
pub struct TelnyxAccount {
    pub api_base: String,
    pub api_key: String,
    pub connection_id: String,
}

impl fmt::Debug for TelnyxAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxAccount")
            .field("api_base", &self.api_base)
            .field("api_key", &"[redacted]")
            .field("connection_id", &self.connection_id)
            .finish()
    }
}

/// Who to ring, in order, and how their calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub steps: Vec<PolicyStep>,
    /// How many times the whole chain runs again after the first pass.
    pub repeat: u32,
    /// Who the policy rings, as the calls say it: "the on-call engineer", "the VP of Sales".
    pub role: String,
    /// What to do when a voicemail box answers.
    pub voicemail: Voicemail,
    /// Menu rounds offered on one call (repeats included) before Klaxon says goodbye.
    pub max_menu_rounds: u32,
}

impl Policy {
    /// A policy with the default role and call rules.
    pub fn new(steps: Vec<PolicyStep>, repeat: u32) -> Policy {
        Policy {
            steps,
            repeat,
            role: DEFAULT_ROLE.to_owned(),
            voicemail: Voicemail::HangUp,
            max_menu_rounds: DEFAULT_MAX_MENU_ROUNDS,
        }
    }
}

/// The role a policy names when it does not say.
pub const DEFAULT_ROLE: &str = "the on-call engineer";
/// Menu rounds per call when a policy does not say.
pub const DEFAULT_MAX_MENU_ROUNDS: u32 = 3;

/// What a call answered by a voicemail box gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Voicemail {
    /// Hang up the moment detection says "machine" (nothing is recorded).
    #[default]
    HangUp,
    /// Wait for the greeting to end, leave a short message naming only the subject, hang up.
    LeaveMessage,
}

/// How the targets of one step are rung.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ring {
    /// One after another, each `attempts` times.
    #[default]
    Sequential,
    /// All at once; the first person to answer gets the briefing, the others are hung up.
    Parallel,
}

/// One step: its targets, rung one after another (or all at once), each `attempts` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStep {
    pub targets: Vec<Target>,
    pub ring_timeout_secs: u32,
    pub attempts: u32,
    pub ring: Ring,
    /// Whether the step texts its targets before calling them, or instead.
    pub sms: Option<crate::voice::sms::Texting>,
}

/// A resolved target: a number, with the person's name when it came from `[people]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub number: String,
    pub name: Option<String>,
    /// `schedule:<name>`: whoever the schedule has on call when the call is placed
    /// (`number` is then empty).
    pub schedule: Option<String>,
}

impl VoiceSettings {
    /// The phone of the person with this e-mail address in `[people]`.
    pub fn phone_by_email(&self, email: &str) -> Option<String> {
        self.people_by_email.phone(email)
    }
}
