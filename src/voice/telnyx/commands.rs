//! The request bodies Klaxon sends to Telnyx, one type per command (docs/telnyx.md §3).
//!
//! Each type serializes to exactly its schema in the official spec (`CallRequest`,
//! `SpeakRequest`, `GatherUsingSpeakRequest`, `GatherUsingAIRequest`,
//! `TranscriptionStartRequest`, `TransferCallRequest`, `BridgeRequest`, `HangupRequest`); the
//! integration tests validate what goes on the wire against those schemas with unknown fields
//! forbidden. Unset options are left out rather than sent as `null`, so Telnyx's documented
//! defaults apply. Only the fields Klaxon has a use for are modelled.
//!
//! Every command carries a required [`CommandId`] (retries resend it, so a duplicate is
//! dropped) and an optional [`ClientState`]. Simple range checks from the doc run before
//! anything is sent ([`Dial::validate`], [`Command::validate`]), so a bug surfaces as
//! [`super::TelnyxError::InvalidRequest`] instead of a 422 in production.

mod inbound;
mod speech;

use serde::{Serialize, Serializer};

use super::{CallControlId, ClientState, CommandId};

pub use inbound::{Answer, RecordStart, RecordingChannels, RecordingFormat};
pub use speech::{
    AiAssistant, AiMessage, AiRole, AiTranscription, DEFAULT_VOICE, GatherUsingAi,
    GatherUsingSpeak, GoogleTranscription, InterruptionSettings, MAX_SPEECH_CHARS, PayloadType,
    ServiceLevel, Speak, TargetLegs, TelnyxTranscription, TranscriptionEngine, TranscriptionStart,
    TranscriptionTracks, intent_parameters,
};

fn is_false(value: &bool) -> bool {
    !*value
}

/// `park_after_unbridge` takes only the value `"self"`; a bool is the honest Rust shape.
fn park_self<S: Serializer>(_: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("self")
}

/// `answering_machine_detection` on a dial or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweringMachineDetection {
    /// Telnyx's premium model: `call.machine.premium.detection.ended` with human
    /// residence/business, machine, silence, fax.
    Premium,
    /// Standard detection: `call.machine.detection.ended` with human/machine/not_sure.
    Detect,
    DetectBeep,
    DetectWords,
    GreetingEnd,
    Disabled,
}

/// The two detection timings that also apply to `premium` (docs/telnyx.md §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AmdConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_analysis_time_millis: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting_duration_millis: Option<u32>,
}

/// `POST /v2/calls`: ring one number. `connection_id` comes from the client's configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Dial {
    /// One +E.164 number or SIP URI. Klaxon dials one destination per leg: Telnyx's ringing
    /// behaviour for an array is undocumented.
    pub to: String,
    /// `None` uses the configured number; sent by the client, never `null`.
    #[serde(skip)]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_display_name: Option<String>,
    /// Ring time, 5–600 s (Telnyx default 30). When it runs out: `call.hangup` with cause
    /// `timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
    /// 30–14400 s (Telnyx default 14400).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering_machine_detection: Option<AnsweringMachineDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering_machine_detection_config: Option<AmdConfig>,
    /// Another leg; the new leg joins its `call_session_id`. Required by the three options
    /// below.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_to: Option<CallControlId>,
    /// Announces that this leg will be bridged to `link_to`. Telnyx then overwrites `from`
    /// with the linked call's `from`.
    #[serde(skip_serializing_if = "is_false")]
    pub bridge_intent: bool,
    /// Telnyx bridges to `link_to` the moment this leg answers: no whisper possible.
    #[serde(skip_serializing_if = "is_false")]
    pub bridge_on_answer: bool,
    /// Keep this leg alive (parked) after the bridge ends instead of hanging it up.
    #[serde(skip_serializing_if = "is_false", serialize_with = "park_self")]
    pub park_after_unbridge: bool,
    /// Hang up instead of bridging into a leg that is already bridged.
    #[serde(skip_serializing_if = "is_false")]
    pub prevent_double_bridge: bool,
    /// `false`: the timeout ends the attempt (cause `no_answer`) instead of trying other
    /// routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on_timeout: Option<bool>,
    /// Where this leg's webhooks go; built from configuration, never from a request's Host
    /// header (docs/telnyx.md §8 #9). `None`: the Call Control App's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    /// Required: without it a retried dial could ring the same person twice.
    pub command_id: CommandId,
}

impl Dial {
    /// A dial to `to` with Telnyx's defaults for everything else.
    pub fn new(to: impl Into<String>, command_id: CommandId) -> Self {
        Dial {
            to: to.into(),
            from: None,
            from_display_name: None,
            timeout_secs: None,
            time_limit_secs: None,
            answering_machine_detection: None,
            answering_machine_detection_config: None,
            link_to: None,
            bridge_intent: false,
            bridge_on_answer: false,
            park_after_unbridge: false,
            prevent_double_bridge: false,
            retry_on_timeout: None,
            webhook_url: None,
            client_state: None,
            command_id,
        }
    }

    /// The documented limits a 422 would otherwise report.
    pub fn validate(&self) -> Result<(), &'static str> {
        check_destination(&self.to)?;
        check_range(self.timeout_secs, 5, 600, "timeout_secs must be 5 to 600")?;
        check_range(
            self.time_limit_secs,
            30,
            14_400,
            "time_limit_secs must be 30 to 14400",
        )?;
        if self.link_to.is_none()
            && (self.bridge_intent || self.bridge_on_answer || self.park_after_unbridge)
        {
            return Err("bridge_intent, bridge_on_answer and park_after_unbridge need link_to");
        }
        check_display_name(self.from_display_name.as_deref())
    }

    /// The wire body: this dial plus the configured `connection_id` and default `from`.
    pub(super) fn body<'a>(
        &'a self,
        connection_id: &'a str,
        default_from: &'a str,
    ) -> DialBody<'a> {
        DialBody {
            connection_id,
            from: self.from.as_deref().unwrap_or(default_from),
            dial: self,
        }
    }
}

#[derive(Serialize)]
pub(super) struct DialBody<'a> {
    connection_id: &'a str,
    from: &'a str,
    #[serde(flatten)]
    dial: &'a Dial,
}

/// A command on a live leg: `POST /v2/calls/{call_control_id}/actions/{action}`.
#[derive(Debug, Clone)]
pub enum Command {
    Speak(Speak),
    GatherUsingSpeak(GatherUsingSpeak),
    GatherUsingAi(GatherUsingAi),
    TranscriptionStart(TranscriptionStart),
    Transfer(Transfer),
    Bridge(Bridge),
    Hangup(Hangup),
    Answer(Answer),
    RecordStart(RecordStart),
}

impl Command {
    /// The last path segment, which is also the name logs use.
    pub fn action(&self) -> &'static str {
        match self {
            Command::Speak(_) => "speak",
            Command::GatherUsingSpeak(_) => "gather_using_speak",
            Command::GatherUsingAi(_) => "gather_using_ai",
            Command::TranscriptionStart(_) => "transcription_start",
            Command::Transfer(_) => "transfer",
            Command::Bridge(_) => "bridge",
            Command::Hangup(_) => "hangup",
            Command::Answer(_) => "answer",
            Command::RecordStart(_) => "record_start",
        }
    }

    pub fn command_id(&self) -> &CommandId {
        match self {
            Command::Speak(c) => &c.command_id,
            Command::GatherUsingSpeak(c) => &c.command_id,
            Command::GatherUsingAi(c) => &c.command_id,
            Command::TranscriptionStart(c) => &c.command_id,
            Command::Transfer(c) => &c.command_id,
            Command::Bridge(c) => &c.command_id,
            Command::Hangup(c) => &c.command_id,
            Command::Answer(c) => &c.command_id,
            Command::RecordStart(c) => &c.command_id,
        }
    }

    /// The documented limits a 422 would otherwise report.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            Command::Speak(c) => {
                check_speech(Some(&c.payload), true)?;
                check_voice(&c.voice)
            }
            Command::GatherUsingSpeak(c) => {
                check_speech(Some(&c.payload), true)?;
                check_speech(c.invalid_payload.as_deref(), false)?;
                check_voice(&c.voice)?;
                check_range(c.minimum_digits, 1, 128, "minimum_digits must be 1 to 128")?;
                check_range(c.maximum_digits, 1, 128, "maximum_digits must be 1 to 128")
            }
            Command::GatherUsingAi(c) => {
                if !c.parameters.is_object() {
                    return Err("gather_using_ai parameters must be a JSON Schema object");
                }
                check_speech(c.greeting.as_deref(), false)?;
                check_speech(c.gather_ended_speech.as_deref(), false)
            }
            Command::TranscriptionStart(_) | Command::Hangup(_) | Command::Answer(_) => Ok(()),
            Command::RecordStart(c) => {
                check_range(c.max_length, 0, 14_400, "max_length must be 0 to 14400")
            }
            Command::Transfer(c) => {
                check_destination(&c.to)?;
                check_range(c.timeout_secs, 5, 600, "timeout_secs must be 5 to 600")?;
                check_range(
                    c.time_limit_secs,
                    30,
                    14_400,
                    "time_limit_secs must be 30 to 14400",
                )?;
                check_display_name(c.from_display_name.as_deref())
            }
            Command::Bridge(c) => {
                if c.call_control_id.as_str().is_empty() {
                    return Err("bridge needs the other leg's call_control_id");
                }
                Ok(())
            }
        }
    }

    /// The JSON body. `default_from` fills a transfer's `from`: without it Telnyx would show
    /// the engineer's own number to the callee (docs/telnyx.md §8 #4).
    pub(super) fn body(&self, default_from: &str) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Command::Speak(c) => serde_json::to_vec(c),
            Command::GatherUsingSpeak(c) => serde_json::to_vec(c),
            Command::GatherUsingAi(c) => serde_json::to_vec(c),
            Command::TranscriptionStart(c) => serde_json::to_vec(c),
            Command::Transfer(c) => serde_json::to_vec(&TransferBody {
                from: c.from.as_deref().unwrap_or(default_from),
                transfer: c,
            }),
            Command::Bridge(c) => serde_json::to_vec(c),
            Command::Hangup(c) => serde_json::to_vec(c),
            Command::Answer(c) => serde_json::to_vec(c),
            Command::RecordStart(c) => serde_json::to_vec(c),
        }
    }
}

macro_rules! into_command {
    ($($variant:ident),+) => {
        $(impl From<$variant> for Command {
            fn from(command: $variant) -> Self {
                Command::$variant(command)
            }
        })+
    };
}
into_command!(
    Speak,
    GatherUsingSpeak,
    GatherUsingAi,
    TranscriptionStart,
    Transfer,
    Bridge,
    Hangup,
    Answer,
    RecordStart
);

/// `transfer`: a **blind** transfer of this leg to `to` (docs/telnyx.md §3.6). If the target does
/// not answer, `call.hangup` comes for the new leg and this one stays up. For a briefed hand-off,
/// dial with `link_to` and [`Bridge`] instead (docs/telnyx.md §7).
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub to: String,
    /// `None` uses the configured number, never Telnyx's default (the original call's `to`).
    #[serde(skip)]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering_machine_detection: Option<AnsweringMachineDetection>,
    /// A WAV/MP3 played to the target before bridging: a pre-rendered whisper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_url: Option<String>,
    /// `false`: this leg does not hear the target's ringback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_media: Option<bool>,
    #[serde(skip_serializing_if = "is_false", serialize_with = "park_self")]
    pub park_after_unbridge: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// For *this* leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    /// For the new leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_leg_client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl Transfer {
    pub fn new(to: impl Into<String>, command_id: CommandId) -> Self {
        Transfer {
            to: to.into(),
            from: None,
            from_display_name: None,
            timeout_secs: None,
            time_limit_secs: None,
            answering_machine_detection: None,
            audio_url: None,
            early_media: None,
            park_after_unbridge: false,
            webhook_url: None,
            client_state: None,
            target_leg_client_state: None,
            command_id,
        }
    }
}

#[derive(Serialize)]
struct TransferBody<'a> {
    from: &'a str,
    #[serde(flatten)]
    transfer: &'a Transfer,
}

/// `bridge`: joins the path's leg (A) with `call_control_id` (B). Both get `call.bridged`.
#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    /// The *other* leg.
    pub call_control_id: CallControlId,
    /// Keep the path's leg parked when the other one leaves, instead of hanging it up.
    #[serde(skip_serializing_if = "is_false", serialize_with = "park_self")]
    pub park_after_unbridge: bool,
    /// Put the path's leg on hold when the other one leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_after_unbridge: Option<bool>,
    /// Ring the path's leg while the other one is not answered yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_ringtone: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevent_double_bridge: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl Bridge {
    pub fn new(other_leg: CallControlId, command_id: CommandId) -> Self {
        Bridge {
            call_control_id: other_leg,
            park_after_unbridge: false,
            hold_after_unbridge: None,
            play_ringtone: None,
            prevent_double_bridge: None,
            client_state: None,
            command_id,
        }
    }
}

/// `hangup`. A leg that is already gone counts as hung up: the client returns `Ok`.
#[derive(Debug, Clone, Serialize)]
pub struct Hangup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl Hangup {
    pub fn new(command_id: CommandId) -> Self {
        Hangup {
            client_state: None,
            command_id,
        }
    }
}

fn check_range(
    value: Option<u32>,
    min: u32,
    max: u32,
    reason: &'static str,
) -> Result<(), &'static str> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(reason),
        _ => Ok(()),
    }
}

fn check_destination(to: &str) -> Result<(), &'static str> {
    if to.trim().is_empty() {
        return Err("`to` must not be empty");
    }
    // Telnyx reads `+1555…,123` as "dial, then send 123 as DTMF on answer"; contact data
    // must not be able to do that.
    if to.contains(',') {
        return Err("`to` must be a single number or SIP URI, without a comma");
    }
    Ok(())
}

fn check_display_name(name: Option<&str>) -> Result<(), &'static str> {
    match name {
        Some(name)
            if name.chars().count() > 128
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -_~!.+".contains(c)) =>
        {
            Err("from_display_name must be at most 128 letters, digits, spaces or -_~!.+")
        }
        _ => Ok(()),
    }
}

fn check_speech(text: Option<&str>, required: bool) -> Result<(), &'static str> {
    match text {
        Some(t) if t.chars().count() > MAX_SPEECH_CHARS => {
            Err("spoken text must be at most 3000 characters")
        }
        Some(t) if required && t.trim().is_empty() => Err("spoken text must not be empty"),
        None if required => Err("spoken text must not be empty"),
        _ => Ok(()),
    }
}

fn check_voice(voice: &str) -> Result<(), &'static str> {
    if voice.trim().is_empty() {
        Err("voice must not be empty")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
