//! Telnyx call webhooks, parsed into a typed [`CallEvent`] (docs/telnyx.md §4).
//!
//! Run [`parse`] only on a body whose signature `crate::signing::telnyx::verify` has accepted;
//! this module trusts its input's origin but not its shape. The envelope must have `data.id`
//! (the dedupe key) and `data.event_type`; everything in `payload` is read leniently, as the doc
//! asks: unknown fields are ignored, unknown enum values become `Other(..)`, unknown event
//! types become [`CallEventKind::Other`], and a field of the wrong type reads as absent. Telnyx
//! adds fields and values over time, and a webhook we cannot fully read must still be stored
//! and answered with 200, not bounced into redelivery.
//!
//! Meaning is not decided here: whether a hangup is "no answer" or a digit an acknowledgement
//! is the escalation state machine's call. The helpers on the enums only name the groupings
//! of docs/telnyx.md §4.2 so they are spelled once.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CallControlId, CallLegId, CallSessionId, ClientState};
use crate::wire_enum::wire_enum;

/// One call webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// `data.id`: unique per event and the dedupe key (keep seen ids at least a day).
    pub id: String,
    /// `data.event_type` as sent, e.g. `call.answered`; also kept for unknown kinds.
    pub event_type: String,
    /// `None` if absent or not RFC 3339. Informational: Telnyx does not order deliveries,
    /// and this is Telnyx's clock.
    pub occurred_at: Option<OffsetDateTime>,
    /// The leg the event is about. Every call event should carry it (the spec's own AMD
    /// examples omit it); without it, `client_state` is the only route to the leg.
    pub call_control_id: Option<CallControlId>,
    pub call_leg_id: Option<CallLegId>,
    pub call_session_id: Option<CallSessionId>,
    /// Our hint, when the event carries a `client_state` that follows our convention; a
    /// foreign or damaged value is ignored (`None`), never an error.
    pub client_state: Option<ClientState>,
    pub kind: CallEventKind,
}

/// What happened, with the fields Klaxon uses for each kind.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEventKind {
    /// `call.initiated`: Telnyx is placing (or received) the call.
    Initiated {
        direction: Option<Direction>,
        /// Who calls and who is called: for a call to Klaxon's number, the caller and ours.
        from: Option<String>,
        to: Option<String>,
    },
    /// `call.answered`. Not a human yet: wait for AMD when it was requested.
    Answered,
    /// `call.hangup`: terminal for the leg; later events for it are stale.
    Hangup {
        /// `unspecified` when absent.
        cause: HangupCause,
        /// `unknown` when absent.
        source: HangupSource,
        /// `sip_hangup_cause` as a number, e.g. 486 (busy) or 403 (maybe the concurrent-call
        /// limit); `None` for `"unspecified"`.
        sip_code: Option<u16>,
    },
    /// `call.machine.detection.ended` (AMD `detect`).
    MachineDetectionEnded {
        result: MachineDetection,
    },
    /// `call.machine.premium.detection.ended` (AMD `premium`).
    MachinePremiumDetectionEnded {
        result: MachineDetection,
    },
    /// `call.machine.greeting.ended` / `call.machine.premium.greeting.ended`: a voicemail
    /// box's greeting is over (`result`: `beep_detected`, `ended`, `not_sure`,
    /// `no_beep_detected`): a message left now is recorded.
    GreetingEnded {
        result: String,
    },
    SpeakStarted,
    /// `call.speak.ended`; `completed` is the cue to bridge after a whisper (docs/telnyx.md §7).
    SpeakEnded {
        status: SpeakStatus,
    },
    /// `call.gather.ended` from `gather_using_speak`/`gather`: keypad digits only.
    GatherEnded {
        digits: String,
        status: GatherStatus,
    },
    /// `call.dtmf.received`: one key, sent as it is pressed.
    DtmfReceived {
        digit: String,
    },
    /// `call.ai_gather.ended`: `result` is shaped by the gather's `parameters`, e.g.
    /// `{"intent":"connect"}`; only `valid` counts as a decision.
    AiGatherEnded {
        result: Value,
        status: AiGatherStatus,
    },
    /// `call.transcription`: act only on `is_final`.
    Transcription {
        text: String,
        is_final: bool,
        confidence: Option<f64>,
    },
    /// `call.bridged`: sent once for each leg.
    Bridged,
    /// `call.recording.saved` (docs/telnyx.md §3.10): a recording ended. `url` is its mp3
    /// (else wav) download, valid for 10 minutes.
    RecordingSaved {
        url: Option<String>,
    },
    /// `call.recording.transcription.saved`: the text of a recording made with
    /// `transcription: true`.
    RecordingTranscribed {
        text: String,
    },
    /// Any other event type, e.g. `call.playback.ended`.
    Other(String),
}

wire_enum! {
    /// `call.initiated` `direction`.
    pub enum Direction {
        Incoming = "incoming",
        Outgoing = "outgoing",
    }
}

wire_enum! {
    /// `hangup_cause` (docs/telnyx.md §4.2).
    pub enum HangupCause {
        CallRejected = "call_rejected",
        NormalClearing = "normal_clearing",
        OriginatorCancel = "originator_cancel",
        Timeout = "timeout",
        TimeLimit = "time_limit",
        UserBusy = "user_busy",
        NotFound = "not_found",
        NoAnswer = "no_answer",
        Unspecified = "unspecified",
    }
}

wire_enum! {
    /// `hangup_source`.
    pub enum HangupSource {
        Caller = "caller",
        Callee = "callee",
        Unknown = "unknown",
    }
}

wire_enum! {
    /// The `result` of both AMD events: standard detection sends the first three values,
    /// premium detection the rest (and `machine`, `not_sure`).
    pub enum MachineDetection {
        Human = "human",
        Machine = "machine",
        NotSure = "not_sure",
        HumanResidence = "human_residence",
        HumanBusiness = "human_business",
        Silence = "silence",
        FaxDetected = "fax_detected",
    }
}

impl MachineDetection {
    /// A person, by either detector.
    pub fn is_human(&self) -> bool {
        matches!(
            self,
            MachineDetection::Human
                | MachineDetection::HumanResidence
                | MachineDetection::HumanBusiness
        )
    }

    /// The results docs/telnyx.md §4.2 treats as "no answer": hang up, never brief a voicemail.
    pub fn is_no_answer(&self) -> bool {
        matches!(
            self,
            MachineDetection::Machine | MachineDetection::Silence | MachineDetection::FaxDetected
        )
    }
}

wire_enum! {
    /// `call.speak.ended` `status`.
    pub enum SpeakStatus {
        Completed = "completed",
        CallHangup = "call_hangup",
        CancelledAmd = "cancelled_amd",
    }
}

wire_enum! {
    /// `call.gather.ended` `status`.
    pub enum GatherStatus {
        Valid = "valid",
        Invalid = "invalid",
        CallHangup = "call_hangup",
        Cancelled = "cancelled",
        CancelledAmd = "cancelled_amd",
        Timeout = "timeout",
    }
}

wire_enum! {
    /// `call.ai_gather.ended` `status`.
    pub enum AiGatherStatus {
        Valid = "valid",
        Invalid = "invalid",
    }
}

/// Why a webhook body is not a Telnyx event at all. Answer such a body 400: it did not come
/// from Telnyx's call webhooks (or the signature check would have stopped it).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the webhook body is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("the webhook body has no `data.{0}` string")]
    Missing(&'static str),
    /// An id that becomes a stored key (`data.id`) or a lookup key (the call ids) holds a
    /// control character, which PostgreSQL cannot store (see [`crate::stored_text`]).
    #[error("`{field}` {found}")]
    ControlCharacter {
        field: &'static str,
        found: crate::stored_text::ControlCharacter,
    },
}

impl CallEvent {
    /// `call.hangup`: nothing more will happen on this leg.
    pub fn is_terminal(&self) -> bool {
        matches!(self.kind, CallEventKind::Hangup { .. })
    }
}

/// Parses one webhook body (the raw bytes, already verified).
pub fn parse(body: &[u8]) -> Result<CallEvent, EventError> {
    let root: Value = serde_json::from_slice(body).map_err(EventError::NotJson)?;
    let data = root
        .get("data")
        .filter(|d| d.is_object())
        .ok_or(EventError::Missing("data"))?;
    let id = text(data, "id")
        .filter(|id| !id.is_empty())
        .ok_or(EventError::Missing("id"))?;
    let event_type = text(data, "event_type").ok_or(EventError::Missing("event_type"))?;
    let null = Value::Null;
    let payload = data.get("payload").unwrap_or(&null);
    let checked = [
        ("data.id", Some(id)),
        ("data.event_type", Some(event_type)),
        (
            "data.payload.call_control_id",
            text(payload, "call_control_id"),
        ),
        ("data.payload.call_leg_id", text(payload, "call_leg_id")),
        (
            "data.payload.call_session_id",
            text(payload, "call_session_id"),
        ),
    ];
    for (field, value) in checked {
        if let Some(value) = value {
            crate::stored_text::check(value)
                .map_err(|found| EventError::ControlCharacter { field, found })?;
        }
    }
    Ok(CallEvent {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        occurred_at: text(data, "occurred_at")
            .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok()),
        call_control_id: text(payload, "call_control_id").map(CallControlId::from),
        call_leg_id: text(payload, "call_leg_id").map(CallLegId::from),
        call_session_id: text(payload, "call_session_id").map(CallSessionId::from),
        client_state: text(payload, "client_state").and_then(|s| ClientState::decode(s).ok()),
        kind: kind(event_type, payload),
    })
}

fn kind(event_type: &str, payload: &Value) -> CallEventKind {
    let field = |key| text(payload, key).unwrap_or_default();
    match event_type {
        "call.initiated" => CallEventKind::Initiated {
            direction: text(payload, "direction").map(Direction::from_wire),
            from: text(payload, "from").map(str::to_owned),
            to: text(payload, "to").map(str::to_owned),
        },
        "call.answered" => CallEventKind::Answered,
        "call.hangup" => CallEventKind::Hangup {
            cause: HangupCause::from_wire(text(payload, "hangup_cause").unwrap_or("unspecified")),
            source: HangupSource::from_wire(text(payload, "hangup_source").unwrap_or("unknown")),
            sip_code: text(payload, "sip_hangup_cause").and_then(|c| c.parse().ok()),
        },
        "call.machine.detection.ended" => CallEventKind::MachineDetectionEnded {
            result: MachineDetection::from_wire(field("result")),
        },
        "call.machine.premium.detection.ended" => CallEventKind::MachinePremiumDetectionEnded {
            result: MachineDetection::from_wire(field("result")),
        },
        "call.machine.greeting.ended" | "call.machine.premium.greeting.ended" => {
            CallEventKind::GreetingEnded {
                result: field("result").to_owned(),
            }
        }
        "call.speak.started" => CallEventKind::SpeakStarted,
        "call.speak.ended" => CallEventKind::SpeakEnded {
            status: SpeakStatus::from_wire(field("status")),
        },
        "call.gather.ended" => CallEventKind::GatherEnded {
            digits: field("digits").to_owned(),
            status: GatherStatus::from_wire(field("status")),
        },
        "call.dtmf.received" => CallEventKind::DtmfReceived {
            digit: field("digit").to_owned(),
        },
        "call.ai_gather.ended" => CallEventKind::AiGatherEnded {
            result: payload.get("result").cloned().unwrap_or(Value::Null),
            status: AiGatherStatus::from_wire(field("status")),
        },
        "call.transcription" => {
            let data = payload.get("transcription_data").unwrap_or(&Value::Null);
            CallEventKind::Transcription {
                text: text(data, "transcript").unwrap_or_default().to_owned(),
                is_final: data
                    .get("is_final")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                confidence: data.get("confidence").and_then(Value::as_f64),
            }
        }
        "call.bridged" => CallEventKind::Bridged,
        "call.recording.saved" => {
            let urls = payload.get("recording_urls").unwrap_or(&Value::Null);
            CallEventKind::RecordingSaved {
                url: text(urls, "mp3")
                    .or_else(|| text(urls, "wav"))
                    .map(str::to_owned),
            }
        }
        "call.recording.transcription.saved" => CallEventKind::RecordingTranscribed {
            text: field("transcription_text").to_owned(),
        },
        other => CallEventKind::Other(other.to_owned()),
    }
}

fn text<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::telnyx::LegRole;

    macro_rules! fixture {
        ($name:literal) => {
            parse(include_bytes!(concat!(
                "../../../tests/fixtures/telnyx/events/",
                $name,
                ".json"
            )))
            .expect(concat!($name, " parses"))
        };
    }

    const LEG_A: &str = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";

    #[test]
    fn the_envelope_gives_ids_time_and_our_state() {
        let event = fixture!("call_answered");
        assert_eq!(event.id, "0ccc7b54-4df3-4bca-a65a-3da1ecc70002");
        assert_eq!(event.event_type, "call.answered");
        assert_eq!(event.kind, CallEventKind::Answered);
        assert_eq!(event.call_control_id, Some(CallControlId::new(LEG_A)));
        assert_eq!(
            event.call_leg_id.as_ref().map(CallLegId::as_str),
            Some("428c31b6-7af4-4bcb-b7f5-5013ef9657c1")
        );
        assert!(event.call_session_id.is_some());
        assert_eq!(
            event.occurred_at.map(OffsetDateTime::unix_timestamp),
            Some(1_795_442_702)
        );
        let state = event
            .client_state
            .clone()
            .expect("our client_state decodes");
        assert_eq!(
            (state.escalation(), state.attempt(), state.leg()),
            ("esc_01JD7Q3M5V", 1, LegRole::A)
        );
        assert!(!event.is_terminal());
    }

    #[test]
    fn every_kind_reads_its_fields() {
        assert_eq!(
            fixture!("call_initiated").kind,
            CallEventKind::Initiated {
                direction: Some(Direction::Outgoing),
                from: Some("+15557650000".into()),
                to: Some("+15551230001".into()),
            }
        );
        let hangup = fixture!("call_hangup");
        assert!(hangup.is_terminal());
        assert_eq!(
            hangup.kind,
            CallEventKind::Hangup {
                cause: HangupCause::UserBusy,
                source: HangupSource::Callee,
                sip_code: Some(486)
            }
        );
        assert_eq!(hangup.client_state.unwrap().leg(), LegRole::B);
        assert_eq!(
            fixture!("call_machine_detection_ended").kind,
            CallEventKind::MachineDetectionEnded {
                result: MachineDetection::Machine
            }
        );
        let premium = fixture!("call_machine_premium_detection_ended");
        assert_eq!(
            premium.kind,
            CallEventKind::MachinePremiumDetectionEnded {
                result: MachineDetection::HumanResidence
            }
        );
        assert_eq!(
            fixture!("call_speak_started").kind,
            CallEventKind::SpeakStarted
        );
        assert_eq!(
            fixture!("call_speak_ended").kind,
            CallEventKind::SpeakEnded {
                status: SpeakStatus::Completed
            }
        );
        assert_eq!(
            fixture!("call_gather_ended").kind,
            CallEventKind::GatherEnded {
                digits: "1".to_owned(),
                status: GatherStatus::Valid
            }
        );
        assert_eq!(
            fixture!("call_dtmf_received").kind,
            CallEventKind::DtmfReceived {
                digit: "*".to_owned()
            }
        );
        assert_eq!(
            fixture!("call_ai_gather_ended").kind,
            CallEventKind::AiGatherEnded {
                result: serde_json::json!({"intent": "connect"}),
                status: AiGatherStatus::Valid
            }
        );
        assert_eq!(
            fixture!("call_transcription").kind,
            CallEventKind::Transcription {
                text: "yes connect me please".to_owned(),
                is_final: true,
                confidence: Some(0.977219)
            }
        );
        assert_eq!(fixture!("call_bridged").kind, CallEventKind::Bridged);
        assert_eq!(
            fixture!("call_machine_greeting_ended").kind,
            CallEventKind::GreetingEnded {
                result: "beep_detected".to_owned()
            }
        );
    }

    #[test]
    fn a_foreign_client_state_is_ignored_and_unspecified_sip_is_none() {
        let event = fixture!("call_hangup_foreign_state");
        assert_eq!(event.client_state, None);
        assert_eq!(
            event.kind,
            CallEventKind::Hangup {
                cause: HangupCause::NormalClearing,
                source: HangupSource::Caller,
                sip_code: None
            }
        );
    }

    #[test]
    fn unknown_values_and_odd_payloads_do_not_fail() {
        let event = parse(
            br#"{"data":{"id":"e1","event_type":"call.hangup","payload":{
                "hangup_cause":"carrier_melted","sip_hangup_cause":486,"digits":7}}}"#,
        )
        .unwrap();
        assert_eq!(
            event.kind,
            CallEventKind::Hangup {
                cause: HangupCause::Other("carrier_melted".to_owned()),
                source: HangupSource::Unknown,
                sip_code: None
            }
        );
        assert_eq!(event.call_control_id, None);
        assert_eq!(event.occurred_at, None);
        let bare = parse(br#"{"data":{"id":"e2","event_type":"call.speak.ended"}}"#).unwrap();
        assert_eq!(
            bare.kind,
            CallEventKind::SpeakEnded {
                status: SpeakStatus::Other(String::new())
            }
        );
        let conference =
            parse(br#"{"data":{"id":"e3","event_type":"conference.created","payload":{}}}"#)
                .unwrap();
        assert_eq!(
            conference.kind,
            CallEventKind::Other("conference.created".to_owned())
        );
        let hangup_without_cause =
            parse(br#"{"data":{"id":"e4","event_type":"call.hangup","payload":{}}}"#).unwrap();
        assert!(matches!(
            hangup_without_cause.kind,
            CallEventKind::Hangup {
                cause: HangupCause::Unspecified,
                ..
            }
        ));
    }

    #[test]
    fn control_characters_in_ids_are_errors() {
        for (body, field) in [
            (
                &br#"{"data":{"id":"a\u0000b","event_type":"call.answered"}}"#[..],
                "data.id",
            ),
            (
                br#"{"data":{"id":"e1","event_type":"call.\u001fanswered"}}"#,
                "data.event_type",
            ),
            (
                br#"{"data":{"id":"e1","event_type":"call.answered","payload":{"call_control_id":"v3:\u0000"}}}"#,
                "data.payload.call_control_id",
            ),
        ] {
            assert!(
                matches!(parse(body), Err(EventError::ControlCharacter { field: f, .. }) if f == field),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn only_a_missing_envelope_is_an_error() {
        assert!(matches!(parse(b"not json"), Err(EventError::NotJson(_))));
        for (body, missing) in [
            (&br#"{"event_type":"call.answered"}"#[..], "data"),
            (br#"{"data":[]}"#, "data"),
            (br#"{"data":{"event_type":"call.answered"}}"#, "id"),
            (br#"{"data":{"id":"","event_type":"call.answered"}}"#, "id"),
            (br#"{"data":{"id":"e1"}}"#, "event_type"),
            (br#"{"data":{"id":"e1","event_type":7}}"#, "event_type"),
        ] {
            assert!(
                matches!(parse(body), Err(EventError::Missing(m)) if m == missing),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn detection_groupings() {
        for human in ["human", "human_residence", "human_business"] {
            assert!(MachineDetection::from_wire(human).is_human());
        }
        for gone in ["machine", "silence", "fax_detected"] {
            let result = MachineDetection::from_wire(gone);
            assert!(result.is_no_answer() && !result.is_human());
        }
        let unsure = MachineDetection::from_wire("not_sure");
        assert!(!unsure.is_human() && !unsure.is_no_answer());
        assert_eq!(MachineDetection::from_wire("beep").as_str(), "beep");
    }

    #[test]
    fn recordings_and_their_transcripts_are_read() {
        let saved = parse(
            br#"{"data":{"id":"e1","event_type":"call.recording.saved","payload":{"call_leg_id":"l","client_state":"eyJlIjoiaW5iXzEiLCJhIjowLCJsIjoiQSJ9","recording_urls":{"mp3":null,"wav":"https://r/1.wav"}}}}"#,
        )
        .expect("an event");
        assert_eq!(
            saved.kind,
            CallEventKind::RecordingSaved {
                url: Some("https://r/1.wav".into())
            }
        );
        assert_eq!(saved.call_control_id, None);
        assert_eq!(
            saved
                .client_state
                .map(|s| s.escalation().to_owned())
                .as_deref(),
            Some("inb_1")
        );
        let text = parse(
            br#"{"data":{"id":"e2","event_type":"call.recording.transcription.saved","payload":{"call_control_id":"v3:x","transcription_text":"Call me back","status":"completed"}}}"#,
        )
        .expect("an event");
        assert_eq!(
            text.kind,
            CallEventKind::RecordingTranscribed {
                text: "Call me back".into()
            }
        );
    }
}
