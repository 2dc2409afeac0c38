//! Request bodies of the simulated API, checked as Telnyx checks them and turned into typed
//! commands for the leg simulation.
//!
//! What is checked: required fields (10004), JSON types and enum values (10032), documented
//! ranges (10033), +E.164 numbers (10016), base64 `client_state` (10032). The simulator is
//! stricter than Telnyx in one way, on purpose: a field that the official schema does not list
//! is refused (10032, "Unknown parameter") instead of ignored, so a misspelt `timeout_sec` or
//! the `input_type` that the reference Flask apps send to `gather_using_speak`
//! (docs/telnyx.md §8) fails loudly in tests; the lists are in `known_fields.rs`. Fields that
//! are accepted but play no part in the simulation (recording, codecs, SIP headers…) are only
//! checked for being known.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::known_fields::*;
use super::rejection::Rejection;

const AMD_MODES: &[&str] = &[
    "premium",
    "detect",
    "detect_beep",
    "detect_words",
    "greeting_end",
    "disabled",
];

const TRANSCRIPTION_ENGINES: &[&str] = &[
    "Google",
    "Telnyx",
    "Deepgram",
    "Azure",
    "xAI",
    "AssemblyAI",
    "Speechmatics",
    "Soniox",
    "Parakeet",
    "A",
    "B",
];

/// The `POST …/actions/{action}` names the simulator knows; anything else is a 404.
pub(crate) const ACTIONS: &[&str] = &[
    "speak",
    "gather_using_speak",
    "gather",
    "gather_using_ai",
    "transcription_start",
    "transcription_stop",
    "transfer",
    "bridge",
    "hangup",
    "answer",
    "record_start",
];

/// TTS payloads, greetings and invalid-input prompts: at most this many characters.
const MAX_SPEECH_CHARS: usize = 3000;

/// Answering machine detection as requested on a dial or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amd {
    Disabled,
    /// `detect`, `detect_words`: `call.machine.detection.ended` only.
    Detect,
    /// `detect_beep`, `greeting_end`: also `call.machine.greeting.ended` for a machine.
    DetectGreeting,
    /// `premium`: the `call.machine.premium.*` events.
    Premium,
}

/// What a leg is dialled with, from `POST /calls` or from `transfer`.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub connection_id: String,
    pub to: String,
    pub from: String,
    pub client_state: Option<String>,
    pub command_id: Option<String>,
    pub timeout_secs: u32,
    pub retry_on_timeout: bool,
    pub time_limit_secs: u32,
    pub amd: Amd,
    pub link_to: Option<String>,
    pub bridge_intent: bool,
    pub bridge_on_answer: bool,
    pub park_after_unbridge: bool,
    pub webhook_url: Option<String>,
    pub webhook_urls: HashMap<String, String>,
    /// Started when the leg is answered (`transcription: true`).
    pub transcription: Option<Transcription>,
}

/// `transcription_start`, or a dial's `transcription_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcription {
    /// Whether events carry `transcription_track` (engine `B` only, docs/telnyx.md §3.5).
    pub reports_track: bool,
    /// `interim_results: true`: a partial transcript precedes each final one.
    pub interim: bool,
}

/// Digit collection: `gather_using_speak` (with a prompt) or `gather` (without).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigitGather {
    /// Words of the prompt; `None` for `gather`.
    pub prompt_words: Option<usize>,
    /// Words of `invalid_payload`, replayed after invalid input.
    pub invalid_prompt_words: usize,
    pub minimum_digits: usize,
    pub maximum_digits: usize,
    pub valid_digits: String,
    pub terminating_digit: Option<char>,
    /// Silence allowed before the attempt times out: `timeout_millis` after a prompt,
    /// `initial_timeout_millis` for `gather`.
    pub timeout_millis: u32,
    pub inter_digit_timeout_millis: u32,
    /// Prompt plays; always 1 for `gather`.
    pub maximum_tries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AiGather {
    pub greeting: Option<String>,
    pub parameters: Value,
    pub user_response_timeout_ms: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub to: String,
    pub from: Option<String>,
    pub timeout_secs: u32,
    pub time_limit_secs: u32,
    pub amd: Amd,
    pub target_leg_client_state: Option<String>,
    pub park_after_unbridge: bool,
    pub webhook_url: Option<String>,
    pub webhook_urls: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bridge {
    pub other: String,
    pub park_after_unbridge: bool,
}

/// A command addressed to one leg, after validation.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// The spoken text of the payload ([`spoken_text`]).
    Speak {
        text: String,
    },
    Gather(DigitGather),
    AiGather(AiGather),
    TranscriptionStart(Transcription),
    TranscriptionStop,
    Transfer(Box<Transfer>),
    Bridge(Bridge),
    Hangup,
    /// Picks up an incoming call; later webhooks go to `webhook_url` when given.
    Answer {
        webhook_url: Option<String>,
    },
    RecordStart(Recording),
}

/// `record_start` as far as the simulation cares (docs/telnyx.md §3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recording {
    /// Seconds; 0: until the call ends.
    pub max_length_secs: u32,
    /// Silence after speech that stops the recording, in seconds; 0: never.
    pub timeout_secs: u32,
    /// `call.recording.transcription.saved` follows `call.recording.saved`.
    pub transcription: bool,
    pub format: String,
}

impl Command {
    /// Whether Telnyx refuses the command on a leg that has not been answered (90034).
    /// Only hangup (it cancels the call) and answer are allowed while ringing.
    pub(crate) fn needs_answer(&self) -> bool {
        !matches!(self, Command::Hangup | Command::Answer { .. })
    }
}

/// The fields every command carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Common {
    pub client_state: Option<String>,
    pub command_id: Option<String>,
}

/// Parses `body` as the `action` command. `None` when there is no such action.
pub(crate) fn command(action: &str, body: &Value) -> Option<Result<(Common, Command), Rejection>> {
    let parsed = match action {
        "speak" => speak(body),
        "gather_using_speak" => gather(body, true),
        "gather" => gather(body, false),
        "gather_using_ai" => ai_gather(body),
        "transcription_start" => transcription_start(body),
        "transcription_stop" => {
            Fields::new(body, TRANSCRIPTION_STOP_FIELDS).map(|f| (f, Command::TranscriptionStop))
        }
        "transfer" => transfer(body),
        "bridge" => bridge(body),
        "hangup" => Fields::new(body, HANGUP_FIELDS).map(|f| (f, Command::Hangup)),
        "answer" => answer(body),
        "record_start" => record_start(body),
        _ => return None,
    };
    Some(parsed.and_then(|(fields, command)| Ok((fields.common()?, command))))
}

/// The body of `PUT …/actions/client_state_update`: the new `client_state`.
pub(crate) fn client_state_update(body: &Value) -> Result<String, Rejection> {
    let fields = Fields::new(body, CLIENT_STATE_UPDATE_FIELDS)?;
    fields
        .client_state("client_state")?
        .ok_or_else(|| Rejection::missing("client_state"))
}

/// The body of `POST /calls`.
pub(crate) fn dial(body: &Value) -> Result<Dial, Rejection> {
    let f = Fields::new(body, CALL_REQUEST_FIELDS)?;
    let connection_id = f.required_str("connection_id")?.to_owned();
    let to = match f.get("to") {
        None | Some(Value::Null) => return Err(Rejection::missing("to")),
        // Several destinations ring in an undocumented way; the simulator rings the first.
        Some(Value::Array(items)) => match items.first() {
            Some(Value::String(first)) => first.as_str(),
            Some(_) => return Err(Rejection::invalid("to", "must be a string or strings")),
            None => return Err(Rejection::missing("to")),
        },
        Some(Value::String(to)) => to.as_str(),
        Some(_) => return Err(Rejection::invalid("to", "must be a string or strings")),
    };
    check_destination("to", to)?;
    let from = f.required_str("from")?;
    check_e164("from", from)?;
    let link_to = f.str("link_to")?.map(str::to_owned);
    let bridge_intent = f.bool("bridge_intent")?.unwrap_or(false);
    let bridge_on_answer = f.bool("bridge_on_answer")?.unwrap_or(false);
    let park_after_unbridge = f.park_after_unbridge()?;
    if link_to.is_none() {
        for (flag, set) in [
            ("bridge_intent", bridge_intent),
            ("bridge_on_answer", bridge_on_answer),
            ("park_after_unbridge", park_after_unbridge),
        ] {
            if set {
                return Err(Rejection::Missing {
                    field: format!("link_to (required by {flag})"),
                });
            }
        }
    }
    let transcription = if f.bool("transcription")?.unwrap_or(false) {
        let config = match f.get("transcription_config") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(config) => config.clone(),
        };
        let nested = Fields::new(&config, TRANSCRIPTION_START_FIELDS)
            .map_err(|r| nest("transcription_config", r))?;
        Some(
            nested
                .transcription()
                .map_err(|r| nest("transcription_config", r))?,
        )
    } else {
        None
    };
    Ok(Dial {
        connection_id,
        to: to.to_owned(),
        from: from.to_owned(),
        client_state: f.client_state("client_state")?,
        command_id: f.str("command_id")?.map(str::to_owned),
        timeout_secs: f.int("timeout_secs", 5..=600)?.unwrap_or(30),
        retry_on_timeout: f.bool("retry_on_timeout")?.unwrap_or(true),
        time_limit_secs: f.int("time_limit_secs", 30..=14_400)?.unwrap_or(14_400),
        amd: f.amd()?,
        link_to,
        bridge_intent,
        bridge_on_answer,
        park_after_unbridge,
        webhook_url: f.url("webhook_url")?,
        webhook_urls: f.webhook_urls()?,
        transcription,
    })
}

fn speak(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, SPEAK_FIELDS)?;
    let text = f.speech()?;
    f.one_of("target_legs", &["self", "opposite", "both"])?;
    f.one_of("stop", &["current", "all"])?;
    match f.get("loop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "infinity" => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {}
        Some(_) => {
            return Err(Rejection::invalid(
                "loop",
                "must be a positive integer or \"infinity\"",
            ));
        }
    }
    Ok((f, Command::Speak { text }))
}

fn gather(body: &Value, with_prompt: bool) -> Result<(Fields<'_>, Command), Rejection> {
    let known = if with_prompt {
        GATHER_USING_SPEAK_FIELDS
    } else {
        GATHER_FIELDS
    };
    let f = Fields::new(body, known)?;
    let prompt_words = if with_prompt {
        Some(word_count(&f.speech()?))
    } else {
        None
    };
    let invalid_prompt_words = match f.str("invalid_payload")? {
        Some(text) if text.chars().count() > MAX_SPEECH_CHARS => {
            return Err(Rejection::out_of_range(
                "invalid_payload",
                format!("must be at most {MAX_SPEECH_CHARS} characters"),
            ));
        }
        Some(text) => word_count(text),
        None => 0,
    };
    let minimum_digits = f.int("minimum_digits", 1..=128)?.unwrap_or(1);
    let maximum_digits = f.int("maximum_digits", 1..=128)?.unwrap_or(128);
    if minimum_digits > maximum_digits {
        return Err(Rejection::out_of_range(
            "minimum_digits",
            "must not exceed maximum_digits",
        ));
    }
    let valid_digits = f.str("valid_digits")?.unwrap_or("0123456789#*");
    if valid_digits.is_empty() || !valid_digits.chars().all(is_dtmf) {
        return Err(Rejection::invalid(
            "valid_digits",
            "may contain only 0-9, A-D, * and #",
        ));
    }
    let terminating_digit = match f.str("terminating_digit")? {
        None => Some('#'),
        Some(t) => {
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if is_dtmf(c) => Some(c),
                _ => {
                    return Err(Rejection::invalid(
                        "terminating_digit",
                        "must be one of 0-9, A-D, * and #",
                    ));
                }
            }
        }
    };
    if let Some(id) = f.str("gather_id")?
        && !(1..=40).contains(&id.chars().count())
    {
        return Err(Rejection::out_of_range(
            "gather_id",
            "must be 1 to 40 characters",
        ));
    }
    let timeout_field = if with_prompt {
        "timeout_millis"
    } else {
        "initial_timeout_millis"
    };
    let default_timeout = if with_prompt { 60_000 } else { 5_000 };
    // On `gather`, `timeout_millis` bounds the whole collection; the simulated callee presses
    // its keys at once or never, so only the wait before the first digit matters. It is still
    // checked for its type.
    f.int::<u32>("timeout_millis", 0..=u32::MAX)?;
    let gather = DigitGather {
        prompt_words,
        invalid_prompt_words,
        minimum_digits,
        maximum_digits,
        valid_digits: valid_digits.to_owned(),
        terminating_digit,
        timeout_millis: f
            .int(timeout_field, 0..=u32::MAX)?
            .unwrap_or(default_timeout),
        inter_digit_timeout_millis: f
            .int("inter_digit_timeout_millis", 0..=u32::MAX)?
            .unwrap_or(5_000),
        maximum_tries: if with_prompt {
            f.int("maximum_tries", 1..=u32::MAX)?.unwrap_or(3)
        } else {
            1
        },
    };
    Ok((f, Command::Gather(gather)))
}

fn ai_gather(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, GATHER_USING_AI_FIELDS)?;
    let parameters = match f.get("parameters") {
        None | Some(Value::Null) => return Err(Rejection::missing("parameters")),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(Rejection::invalid(
                "parameters",
                "must be a JSON Schema object",
            ));
        }
    };
    let greeting = f.str("greeting")?.map(str::to_owned);
    for field in ["greeting", "gather_ended_speech"] {
        if f.str(field)?
            .is_some_and(|t| t.chars().count() > MAX_SPEECH_CHARS)
        {
            return Err(Rejection::out_of_range(
                field,
                format!("must be at most {MAX_SPEECH_CHARS} characters"),
            ));
        }
    }
    f.str("voice")?;
    f.array("message_history")?;
    Ok((
        f,
        Command::AiGather(AiGather {
            greeting,
            parameters,
            user_response_timeout_ms: f
                .int("user_response_timeout_ms", 0..=u32::MAX)?
                .unwrap_or(10_000),
        }),
    ))
}

fn transcription_start(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, TRANSCRIPTION_START_FIELDS)?;
    let transcription = f.transcription()?;
    Ok((f, Command::TranscriptionStart(transcription)))
}

fn transfer(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, TRANSFER_FIELDS)?;
    let to = f.required_str("to")?;
    check_destination("to", to)?;
    let from = f.str("from")?;
    if let Some(from) = from {
        check_e164("from", from)?;
    }
    let transfer = Transfer {
        to: to.to_owned(),
        from: from.map(str::to_owned),
        timeout_secs: f.int("timeout_secs", 5..=600)?.unwrap_or(30),
        time_limit_secs: f.int("time_limit_secs", 30..=14_400)?.unwrap_or(14_400),
        amd: f.amd()?,
        target_leg_client_state: f.client_state("target_leg_client_state")?,
        park_after_unbridge: f.park_after_unbridge()?,
        webhook_url: f.url("webhook_url")?,
        webhook_urls: f.webhook_urls()?,
    };
    f.one_of("mute_dtmf", &["none", "both", "self", "opposite"])?;
    Ok((f, Command::Transfer(Box::new(transfer))))
}

fn bridge(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, BRIDGE_FIELDS)?;
    let other = f.required_str("call_control_id")?.to_owned();
    f.one_of("mute_dtmf", &["none", "both", "self", "opposite"])?;
    f.bool("play_ringtone")?;
    let park_after_unbridge = f.park_after_unbridge()?;
    Ok((
        f,
        Command::Bridge(Bridge {
            other,
            park_after_unbridge,
        }),
    ))
}

/// A text to send, from `POST /v2/messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutgoingText {
    pub to: String,
    /// Our number; the profile's pool when absent.
    pub from: Option<String>,
    pub text: String,
    pub messaging_profile_id: Option<String>,
    pub webhook_url: Option<String>,
}

/// `CreateMessageRequest` as Telnyx checks it for an SMS: `to` (+E.164) required, `from` or
/// `messaging_profile_id`, a non-empty `text` (no media: the sandbox sends no MMS), enums
/// and URLs typed as the schema says.
pub(crate) fn message(body: &Value) -> Result<OutgoingText, Rejection> {
    let f = Fields::new(body, MESSAGE_REQUEST_FIELDS)?;
    let to = f.required_str("to")?;
    check_e164("to", to)?;
    let from = f.str("from")?;
    if let Some(from) = from {
        check_e164("from", from)?;
    }
    let messaging_profile_id = f.str("messaging_profile_id")?.map(str::to_owned);
    if from.is_none() && messaging_profile_id.is_none() {
        return Err(Rejection::missing("from"));
    }
    if f.one_of("type", &["SMS", "MMS"])? == Some("MMS") || f.array("media_urls")?.is_some() {
        return Err(Rejection::invalid(
            "type",
            "the sandbox carrier sends SMS only",
        ));
    }
    let text = f.required_str("text")?.to_owned();
    if text.chars().count() > 1530 {
        return Err(Rejection::out_of_range("text", "must fit in 10 parts"));
    }
    f.one_of("encoding", &["auto", "gsm7", "ucs2"])?;
    f.bool("auto_detect")?;
    f.bool("use_profile_webhooks")?;
    f.str("subject")?;
    f.str("send_at")?;
    f.url("webhook_failover_url")?;
    Ok(OutgoingText {
        to: to.to_owned(),
        from: from.map(str::to_owned),
        text,
        messaging_profile_id,
        webhook_url: f.url("webhook_url")?,
    })
}

fn answer(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, ANSWER_FIELDS)?;
    let webhook_url = f.url("webhook_url")?;
    f.webhook_urls()?;
    f.bool("send_silence_when_idle")?;
    Ok((f, Command::Answer { webhook_url }))
}

fn record_start(body: &Value) -> Result<(Fields<'_>, Command), Rejection> {
    let f = Fields::new(body, RECORD_START_FIELDS)?;
    let format = f
        .one_of("format", &["wav", "mp3"])?
        .ok_or_else(|| Rejection::missing("format"))?
        .to_owned();
    f.one_of("channels", &["single", "dual"])?
        .ok_or_else(|| Rejection::missing("channels"))?;
    f.one_of("recording_track", &["both", "inbound", "outbound"])?;
    f.one_of("trim", &["trim-silence"])?;
    f.one_of("transcription_engine", &["A", "B", "deepgram/nova-3"])?;
    f.bool("play_beep")?;
    f.str("transcription_language")?;
    let recording = Recording {
        max_length_secs: f.int("max_length", 0..=14_400)?.unwrap_or(0),
        timeout_secs: f.int("timeout_secs", 0..=u32::MAX)?.unwrap_or(0),
        transcription: f.bool("transcription")?.unwrap_or(false),
        format,
    };
    Ok((f, Command::RecordStart(recording)))
}

/// The object fields of one request body, checked against the schema's property names.
#[derive(Clone, Copy)]
struct Fields<'a> {
    map: &'a Map<String, Value>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Fields<'a> {
    /// `body` must be an object (an empty body counts as `{}`) whose fields are all `known`.
    fn new(body: &'a Value, known: &[&str]) -> Result<Fields<'a>, Rejection> {
        let map = match body {
            Value::Object(map) => map,
            Value::Null => &*EMPTY,
            _ => return Err(Rejection::Malformed("expected a JSON object".into())),
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Rejection::UnknownParameter {
                field: unknown.clone(),
            });
        }
        Ok(Fields { map })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn common(&self) -> Result<Common, Rejection> {
        Ok(Common {
            client_state: self.client_state("client_state")?,
            command_id: self.str("command_id")?.map(str::to_owned),
        })
    }

    /// An optional string; `null` counts as absent.
    fn str(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Rejection::invalid(name, "must be a string")),
        }
    }

    /// A string that must be present and non-empty.
    fn required_str(&self, name: &str) -> Result<&'a str, Rejection> {
        match self.str(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(Rejection::missing(name)),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, Rejection> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Rejection::invalid(name, "must be a boolean")),
        }
    }

    fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, Rejection> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(Rejection::invalid(name, "must be an array")),
        }
    }

    /// An integer within `range` (10033 outside it).
    fn int<T>(&self, name: &str, range: RangeInclusive<T>) -> Result<Option<T>, Rejection>
    where
        T: TryFrom<u64> + PartialOrd + Copy + std::fmt::Display,
    {
        let value = match self.map.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| Rejection::out_of_range(name, "must not be negative"))?,
            Some(_) => return Err(Rejection::invalid(name, "must be an integer")),
        };
        let out_of_range = || {
            Rejection::out_of_range(
                name,
                format!("must be between {} and {}", range.start(), range.end()),
            )
        };
        let value = T::try_from(value).map_err(|_| out_of_range())?;
        if range.contains(&value) {
            Ok(Some(value))
        } else {
            Err(out_of_range())
        }
    }

    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, Rejection> {
        match self.str(name)? {
            Some(v) if !allowed.contains(&v) => Err(Rejection::invalid(
                name,
                format!("must be one of {}", allowed.join(", ")),
            )),
            other => Ok(other),
        }
    }

    /// A base64 string; Telnyx refuses anything else, which catches raw JSON by mistake.
    fn client_state(&self, name: &str) -> Result<Option<String>, Rejection> {
        match self.str(name)? {
            Some(s) if STANDARD.decode(s).is_err() => {
                Err(Rejection::invalid(name, "must be a base64 encoded string"))
            }
            other => Ok(other.map(str::to_owned)),
        }
    }

    fn url(&self, name: &str) -> Result<Option<String>, Rejection> {
        let Some(text) = self.str(name)? else {
            return Ok(None);
        };
        match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(text.to_owned())),
            _ => Err(Rejection::invalid(name, "must be an http(s) URL")),
        }
    }

    fn webhook_urls(&self) -> Result<HashMap<String, String>, Rejection> {
        self.one_of("webhook_url_method", &["POST", "GET"])?;
        self.one_of("webhook_urls_method", &["POST", "GET"])?;
        let mut urls = HashMap::new();
        match self.map.get("webhook_urls") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                let nested = Fields { map };
                for event in map.keys() {
                    match nested.url(event) {
                        Ok(Some(url)) => {
                            urls.insert(event.clone(), url);
                        }
                        _ => {
                            return Err(Rejection::invalid(
                                &format!("webhook_urls/{event}"),
                                "must be an http(s) URL",
                            ));
                        }
                    }
                }
            }
            Some(_) => {
                return Err(Rejection::invalid(
                    "webhook_urls",
                    "must map event types to URLs",
                ));
            }
        }
        Ok(urls)
    }

    fn amd(&self) -> Result<Amd, Rejection> {
        Ok(
            match self.one_of("answering_machine_detection", AMD_MODES)? {
                None | Some("disabled") => Amd::Disabled,
                Some("premium") => Amd::Premium,
                Some("detect_beep" | "greeting_end") => Amd::DetectGreeting,
                Some(_) => Amd::Detect,
            },
        )
    }

    fn park_after_unbridge(&self) -> Result<bool, Rejection> {
        Ok(self.one_of("park_after_unbridge", &["self"])?.is_some())
    }

    /// `payload` + `voice` of speak and gather_using_speak; returns the payload's spoken text.
    fn speech(&self) -> Result<String, Rejection> {
        let payload = self.required_str("payload")?;
        if payload.chars().count() > MAX_SPEECH_CHARS {
            return Err(Rejection::out_of_range(
                "payload",
                format!("must be at most {MAX_SPEECH_CHARS} characters"),
            ));
        }
        let voice = self.required_str("voice")?;
        let service_level = self
            .one_of("service_level", &["basic", "premium"])?
            .unwrap_or("premium");
        self.one_of("payload_type", &["text", "ssml"])?;
        let plain = matches!(voice, "male" | "female");
        if plain && service_level != "basic" {
            return Err(Rejection::invalid(
                "voice",
                "`male` and `female` need service_level `basic`; use a provider voice such as Telnyx.KokoroTTS.af",
            ));
        }
        if !plain && !voice.contains('.') {
            return Err(Rejection::invalid(
                "voice",
                "must be <Provider>.<Model>.<VoiceId>, for example Telnyx.KokoroTTS.af",
            ));
        }
        Ok(spoken_text(payload))
    }

    fn transcription(&self) -> Result<Transcription, Rejection> {
        let engine = self
            .one_of("transcription_engine", TRANSCRIPTION_ENGINES)?
            .unwrap_or("Google");
        self.one_of("transcription_tracks", &["inbound", "outbound", "both"])?;
        let interim = match self.map.get("transcription_engine_config") {
            None | Some(Value::Null) => false,
            Some(Value::Object(config)) => {
                config.get("interim_results").and_then(Value::as_bool) == Some(true)
            }
            Some(_) => {
                return Err(Rejection::invalid(
                    "transcription_engine_config",
                    "must be an object",
                ));
            }
        };
        Ok(Transcription {
            reports_track: engine == "B",
            interim,
        })
    }
}

/// Prefixes the field of a rejection found inside the object `parent`.
fn nest(parent: &str, rejection: Rejection) -> Rejection {
    let prefix = |field: String| format!("{parent}/{field}");
    match rejection {
        Rejection::Missing { field } => Rejection::Missing {
            field: prefix(field),
        },
        Rejection::UnknownParameter { field } => Rejection::UnknownParameter {
            field: prefix(field),
        },
        Rejection::Invalid { field, reason } => Rejection::Invalid {
            field: prefix(field),
            reason,
        },
        Rejection::OutOfRange { field, reason } => Rejection::OutOfRange {
            field: prefix(field),
            reason,
        },
        Rejection::Malformed(_) => Rejection::invalid(parent, "must be an object"),
        other => other,
    }
}

/// `+` then 2 to 15 digits, the first not zero.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn check_e164(field: &str, number: &str) -> Result<(), Rejection> {
    if is_e164(number) {
        Ok(())
    } else {
        Err(Rejection::NotE164 {
            field: field.to_owned(),
            allow_sip: false,
        })
    }
}

/// A destination: +E.164, or a SIP URI.
fn check_destination(field: &str, to: &str) -> Result<(), Rejection> {
    let sip = to
        .strip_prefix("sip:")
        .is_some_and(|rest| rest.contains('@') && !rest.contains(char::is_whitespace));
    if sip || is_e164(to) {
        Ok(())
    } else {
        Err(Rejection::NotE164 {
            field: field.to_owned(),
            allow_sip: true,
        })
    }
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, 'A'..='D' | '*' | '#')
}

/// Spoken words of a text or SSML payload: SSML tags are not spoken. At least one, so that
/// every prompt takes some time.
pub(crate) fn word_count(payload: &str) -> usize {
    spoken_text(payload).split_whitespace().count().max(1)
}

/// What a text or SSML payload says: tags removed, words separated by single spaces.
pub(crate) fn spoken_text(payload: &str) -> String {
    let mut text = String::with_capacity(payload.len());
    let mut in_tag = false;
    for c in payload.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
