//! What is said to the person and heard back: `speak`, the two gathers and transcription.
//!
//! Hearing "connect me" takes [`GatherUsingAi`] or [`TranscriptionStart`];
//! [`GatherUsingSpeak`] only collects keypad digits and is the "press 1" fallback
//! (docs/telnyx.md §3.2).

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::voice::telnyx::{ClientState, CommandId};

/// The voice used when none is chosen: Telnyx's own TTS, the `gather_using_ai` default. Plain
/// `female`/`male` only works with `service_level: basic` (docs/telnyx.md §3.2, and §8 #13 for the
/// defect of sending it with premium).
pub const DEFAULT_VOICE: &str = "Telnyx.KokoroTTS.af";
/// Telnyx's ceiling for spoken text (`payload`, `greeting`, …), in characters.
pub const MAX_SPEECH_CHARS: usize = 3000;

/// `text` or `ssml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadType {
    Text,
    Ssml,
}

/// `basic` allows only en-US text and the plain `male`/`female` voices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevel {
    Basic,
    Premium,
}

/// Which legs of a bridged call hear a `speak`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetLegs {
    #[serde(rename = "self")]
    This,
    Opposite,
    Both,
}

/// `speak`: text-to-speech on the leg. Consecutive speaks queue up. Ends with
/// `call.speak.ended`, whose `completed` status is the cue for the next step (the bridge
/// after a whisper, docs/telnyx.md §7).
#[derive(Debug, Clone, Serialize)]
pub struct Speak {
    /// Text or SSML, at most [`MAX_SPEECH_CHARS`].
    pub payload: String,
    /// `<Provider>.<Model>.<VoiceId>`; [`DEFAULT_VOICE`] unless chosen.
    pub voice: String,
    /// A `SpeakRequest` language such as `en-US`; ignored for Polly voices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<PayloadType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_level: Option<ServiceLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_legs: Option<TargetLegs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl Speak {
    pub fn new(payload: impl Into<String>, command_id: CommandId) -> Self {
        Speak {
            payload: payload.into(),
            voice: DEFAULT_VOICE.to_owned(),
            language: None,
            payload_type: None,
            service_level: None,
            target_legs: None,
            client_state: None,
            command_id,
        }
    }
}

/// `gather_using_speak`: a prompt, then **keypad digits only** (docs/telnyx.md §3.2). It cannot
/// hear speech; for "connect me" use [`GatherUsingAi`] or [`TranscriptionStart`]. Needs an answered
/// leg (90034 otherwise). Ends with `call.gather.ended` (`digits`, `status`).
#[derive(Debug, Clone, Serialize)]
pub struct GatherUsingSpeak {
    /// Text or SSML, at most [`MAX_SPEECH_CHARS`]; a keypress interrupts it.
    pub payload: String,
    pub voice: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<PayloadType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_level: Option<ServiceLevel>,
    /// Played after invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_digits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_digits: Option<u32>,
    /// Keys accepted (Telnyx default `0123456789#*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_digits: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminating_digit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inter_digit_timeout_millis: Option<u32>,
    /// Wait after the prompt before replaying it (Telnyx default 60000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_millis: Option<u32>,
    /// Prompt replays (Telnyx default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_tries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl GatherUsingSpeak {
    /// A prompt with Telnyx's defaults for the digits.
    pub fn new(payload: impl Into<String>, command_id: CommandId) -> Self {
        GatherUsingSpeak {
            payload: payload.into(),
            voice: DEFAULT_VOICE.to_owned(),
            language: None,
            payload_type: None,
            service_level: None,
            invalid_payload: None,
            minimum_digits: None,
            maximum_digits: None,
            valid_digits: None,
            terminating_digit: None,
            inter_digit_timeout_millis: None,
            timeout_millis: None,
            maximum_tries: None,
            client_state: None,
            command_id,
        }
    }

    /// Klaxon's fallback menu (docs/telnyx.md §3.2): one key of `1` (connect), `2` (acknowledge) or
    /// `*` (repeat), 8 s to answer, two tries.
    pub fn fallback_menu(payload: impl Into<String>, command_id: CommandId) -> Self {
        GatherUsingSpeak {
            valid_digits: Some("12*".to_owned()),
            minimum_digits: Some(1),
            maximum_digits: Some(1),
            timeout_millis: Some(8000),
            maximum_tries: Some(2),
            ..GatherUsingSpeak::new(payload, command_id)
        }
    }
}

/// `gather_using_ai`: speaks `greeting`, then lets an AI assistant collect the fields described
/// by `parameters` from what the person says. Ends with `call.ai_gather.ended`; only status
/// `valid` with a known value counts as a decision (docs/telnyx.md §3.4).
#[derive(Debug, Clone, Serialize)]
pub struct GatherUsingAi {
    /// A JSON Schema *object* of the fields to collect; see [`GatherUsingAi::intent`].
    pub parameters: Value,
    /// Spoken first, at most [`MAX_SPEECH_CHARS`]: the briefing and the question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Telnyx default [`DEFAULT_VOICE`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// A Google transcription language code such as `en` (not `en-US` as for speak).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistant: Option<AiAssistant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription: Option<AiTranscription>,
    /// Earlier turns, as context for the assistant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_history: Vec<AiMessage>,
    /// How long to wait for the person to speak (Telnyx default 10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_response_timeout_ms: Option<u32>,
    /// Said when gathering ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gather_ended_speech: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interruption_settings: Option<InterruptionSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_partial_results: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_message_history_updates: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl GatherUsingAi {
    /// Collects the fields of `parameters`, with Telnyx's defaults for everything else.
    pub fn new(parameters: Value, command_id: CommandId) -> Self {
        GatherUsingAi {
            parameters,
            greeting: None,
            voice: None,
            language: None,
            assistant: None,
            transcription: None,
            message_history: Vec::new(),
            user_response_timeout_ms: None,
            gather_ended_speech: None,
            interruption_settings: None,
            send_partial_results: None,
            send_message_history_updates: None,
            client_state: None,
            command_id,
        }
    }

    /// Klaxon's "what next?" question (docs/telnyx.md §3.4): `greeting`, then one required `intent`
    /// out of `intents` (e.g. `connect`, `acknowledge`, `repeat`), read back from `result.intent`.
    pub fn intent(greeting: impl Into<String>, intents: &[&str], command_id: CommandId) -> Self {
        GatherUsingAi {
            greeting: Some(greeting.into()),
            ..GatherUsingAi::new(intent_parameters(intents), command_id)
        }
    }
}

/// The `parameters` schema of [`GatherUsingAi::intent`].
pub fn intent_parameters(intents: &[&str]) -> Value {
    json!({
        "type": "object",
        "required": ["intent"],
        "properties": {
            "intent": {
                "type": "string",
                "enum": intents,
                "description": "What the person wants to do next",
            }
        }
    })
}

/// The model behind `gather_using_ai` and how it should behave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AiAssistant {
    /// Telnyx default `Qwen/Qwen3-235B-A22B`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// Speech recognition for `gather_using_ai`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AiTranscription {
    /// One of the spec's model ids, e.g. `deepgram/nova-3` (Telnyx default
    /// `distil-whisper/distil-large-v2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Telnyx default `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One earlier turn given to the assistant.
#[derive(Debug, Clone, Serialize)]
pub struct AiMessage {
    pub role: AiRole,
    pub content: String,
}

/// The two roles the spec allows in `message_history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AiRole {
    Assistant,
    User,
}

/// Whether the person may talk over the assistant (Telnyx default: yes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InterruptionSettings {
    pub enable: bool,
}

/// `transcription_start`: `call.transcription` events until hangup. An alternative to
/// [`GatherUsingAi`] for hearing "connect me": speak the briefing, then match final
/// transcripts. Starting twice gives 90054, which the client treats as success.
#[derive(Debug, Clone)]
pub struct TranscriptionStart {
    /// `None`: Telnyx's default engine (Google) with its defaults.
    pub engine: Option<TranscriptionEngine>,
    /// Telnyx default `inbound`, the leg that started the transcription.
    pub tracks: Option<TranscriptionTracks>,
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl TranscriptionStart {
    pub fn new(command_id: CommandId) -> Self {
        TranscriptionStart {
            engine: None,
            tracks: None,
            client_state: None,
            command_id,
        }
    }
}

impl Serialize for TranscriptionStart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The engine is named twice on the wire: at the top level and inside its config. The
        /// spec's config is a `oneOf` in which the Google branch requires nothing, so a config
        /// without its own `transcription_engine` matches several branches and is invalid.
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            transcription_engine: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            transcription_engine_config: Option<&'a TranscriptionEngine>,
            #[serde(skip_serializing_if = "Option::is_none")]
            transcription_tracks: Option<TranscriptionTracks>,
            #[serde(skip_serializing_if = "Option::is_none")]
            client_state: Option<&'a ClientState>,
            command_id: &'a CommandId,
        }
        Wire {
            transcription_engine: self.engine.as_ref().map(TranscriptionEngine::name),
            transcription_engine_config: self.engine.as_ref(),
            transcription_tracks: self.tracks,
            client_state: self.client_state.as_ref(),
            command_id: &self.command_id,
        }
        .serialize(serializer)
    }
}

/// A transcription engine and its settings; the tag is the spec's `transcription_engine`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "transcription_engine")]
pub enum TranscriptionEngine {
    Google(GoogleTranscription),
    Telnyx(TelnyxTranscription),
}

impl TranscriptionEngine {
    fn name(&self) -> &'static str {
        match self {
            TranscriptionEngine::Google(_) => "Google",
            TranscriptionEngine::Telnyx(_) => "Telnyx",
        }
    }
}

/// Google settings; `hints` bias recognition towards our phrases ("connect me").
#[derive(Debug, Clone, Default, Serialize)]
pub struct GoogleTranscription {
    /// A short code such as `en` (Telnyx default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Also send non-final results (Telnyx default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interim_results: Option<bool>,
    /// e.g. `phone_call`, `latest_short`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// Telnyx's own engine (Whisper models).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TelnyxTranscription {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `openai/whisper-tiny` (Telnyx default) or `openai/whisper-large-v3-turbo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription_model: Option<String>,
}

/// Which legs are transcribed, relative to the leg that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptionTracks {
    Inbound,
    Outbound,
    Both,
}
