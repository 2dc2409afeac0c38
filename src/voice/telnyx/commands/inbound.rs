//! The two commands only a call *to* Klaxon needs (docs/telnyx.md §3.10): `answer`
//! (`AnswerRequest`) and `record_start` (`StartRecordingRequest`), whose recording Telnyx
//! transcribes after the call (`transcription: true`): `call.recording.saved` brings the
//! recording's URLs, `call.recording.transcription.saved` its text.

use serde::Serialize;

use super::super::{ClientState, CommandId};

/// `answer`: picks up a call that rang Klaxon's number (`call.initiated`, direction
/// `incoming`). Only inbound legs take it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// Where this leg's webhooks go from now on; `None`: the Call Control app's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl Answer {
    pub fn new(command_id: CommandId) -> Self {
        Answer {
            webhook_url: None,
            client_state: None,
            command_id,
        }
    }
}

/// `record_start` `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingFormat {
    Mp3,
    Wav,
}

/// `record_start` `channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingChannels {
    Single,
    Dual,
}

/// `record_start`: records the leg until it hangs up, `record_stop`, `max_length` or
/// `timeout_secs` of silence after speech; with `transcription`, Telnyx transcribes the
/// recording and sends `call.recording.transcription.saved`.
#[derive(Debug, Clone, Serialize)]
pub struct RecordStart {
    pub format: RecordingFormat,
    pub channels: RecordingChannels,
    /// A beep before recording: the caller's cue to speak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_beep: Option<bool>,
    /// Seconds, 0–14400 (0: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Seconds of silence after speech that stop the recording (0: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
    /// Transcribe the recording once saved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transcription: bool,
    /// `A` (Google) or `B` (Telnyx); `None`: Telnyx's default, `A`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription_engine: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<ClientState>,
    pub command_id: CommandId,
}

impl RecordStart {
    pub fn new(command_id: CommandId) -> Self {
        RecordStart {
            format: RecordingFormat::Mp3,
            channels: RecordingChannels::Single,
            play_beep: None,
            max_length: None,
            timeout_secs: None,
            transcription: false,
            transcription_engine: None,
            client_state: None,
            command_id,
        }
    }
}
