//! One leg's life, simulated by one task: ring, answer (or not), detect a machine, play what
//! the client sends, let the scripted callee react, hang up.
//!
//! The task is a sequence of awaits over simulated time. Everything that can interrupt it (a
//! hangup command, the bridged peer leaving, the time limit, the callee hanging up
//! mid-prompt, the end of a bridged conversation) surfaces as a [`Stop`] from the single
//! waiting primitive [`LegTask::wait`], so each step only says what it emits when cut short.
//! Media commands that arrive while something plays are queued, as Telnyx queues speaks.
//!
//! The HTTP handler has already decided whether a command is allowed (answered, not ended);
//! a command that races with the end of the call is dropped with the task, as a real call
//! would drop it.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use super::script::{
    AnsweredBy, Pickup, Ring, Script, VOICEMAIL_GREETING, VOICEMAIL_RECORDING_SECS,
    ai_gather_result,
};
use super::state::{Inner, Leg, LegInput, Media, State};
use super::validate::{AiGather, Amd, Dial, DigitGather, Recording, Transcription, word_count};
use super::webhooks::{self, Outgoing};
use super::{HangupCause, HangupSource, LegState, Timing};
use crate::clock;

/// A leg to create: the validated dial plus what the handler resolved around it.
pub(crate) struct NewLeg {
    pub dial: Dial,
    pub webhook_url: String,
    /// The linked leg's session, or `None` for a new one.
    pub session_id: Option<String>,
    pub bridge_on_answer: Option<String>,
    /// `state` of `call.initiated`: `parked` for a dial, `bridging` for a transfer's leg.
    pub initiated_state: &'static str,
}

/// How long an incoming call rings unanswered before its caller gives up, in Telnyx seconds.
const INCOMING_RING_SECS: u32 = 60;

/// Records a call *to* the client, from `from` to `to`, played by `script`, and starts its
/// simulation; returns its `call_control_id`. It rings until the client answers.
pub(crate) fn spawn_incoming(
    inner: &Arc<Inner>,
    state: &mut State,
    (from, to): (String, String),
    script: Script,
    webhook_url: String,
) -> String {
    let dial = Dial {
        connection_id: "sandbox-inbound".to_owned(),
        to,
        from,
        client_state: None,
        command_id: None,
        timeout_secs: INCOMING_RING_SECS,
        retry_on_timeout: true,
        time_limit_secs: 14_400,
        amd: Amd::Disabled,
        link_to: None,
        bridge_intent: false,
        bridge_on_answer: false,
        park_after_unbridge: false,
        webhook_url: None,
        webhook_urls: HashMap::new(),
        transcription: None,
    };
    let new = NewLeg {
        dial,
        webhook_url,
        session_id: None,
        bridge_on_answer: None,
        initiated_state: "parked",
    };
    let data = start(inner, state, new, Some(script));
    data["call_control_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Records a new leg and starts its simulation; returns the `data` of the dial's answer.
pub(crate) fn spawn(inner: &Arc<Inner>, state: &mut State, new: NewLeg) -> Value {
    start(inner, state, new, None)
}

/// A dialled leg (`incoming: None`, its script by number) or an incoming call's.
fn start(inner: &Arc<Inner>, state: &mut State, new: NewLeg, incoming: Option<Script>) -> Value {
    let is_incoming = incoming.is_some();
    let NewLeg {
        dial,
        webhook_url,
        session_id,
        bridge_on_answer,
        initiated_state,
    } = new;
    let call_control_id = new_call_control_id();
    let script = incoming.unwrap_or_else(|| {
        inner
            .settings
            .scripts
            .get(&dial.to)
            .cloned()
            .unwrap_or_else(|| Script::for_number(&dial.to))
    });
    let delivery = script.delivery.unwrap_or(inner.settings.delivery);
    let (inputs, receiver) = mpsc::unbounded_channel();
    let leg = Leg {
        call_control_id: call_control_id.clone(),
        call_leg_id: Uuid::now_v7().to_string(),
        call_session_id: session_id.unwrap_or_else(|| Uuid::now_v7().to_string()),
        connection_id: dial.connection_id.clone(),
        from: dial.from.clone(),
        to: dial.to.clone(),
        script: script.clone(),
        state: LegState::Ringing,
        client_state: dial.client_state.clone(),
        webhook_url,
        webhook_urls: dial.webhook_urls.clone(),
        link_to: dial.link_to.clone(),
        bridged_with: None,
        bridge_on_answer,
        park_after_unbridge: dial.park_after_unbridge,
        hangup_cause: None,
        hangup_source: None,
        ended_by_command: false,
        voicemail_message: Vec::new(),
        commands: vec!["dial".to_owned()],
        command_ids: HashMap::new(),
        transcribing: false,
        ai_gathering: false,
        incoming: is_incoming,
        started_at: SystemTime::now(),
        answered_at: None,
        ended_at: None,
        inputs,
    };
    let task = LegTask {
        inner: Arc::clone(inner),
        id: call_control_id.clone(),
        script,
        timing: inner.settings.timing,
        plan: Plan {
            timeout_secs: dial.timeout_secs,
            retry_on_timeout: dial.retry_on_timeout,
            time_limit_secs: dial.time_limit_secs,
            amd: dial.amd,
            transcription: dial.transcription,
            initiated_state,
        },
        inputs: receiver,
        outbox: webhooks::spawn_outbox(inner, state, delivery),
        pending: VecDeque::new(),
        answered_at: None,
        prompts_heard: 0,
        in_prompt: false,
        transcription: None,
        utterance_at: None,
        time_limit_at: None,
        callee_hangup_at: None,
        conversation_end_at: None,
        greeting_ends_at: None,
        greeting_report: None,
        recording_ends_at: None,
        hung_up_by_command: false,
        incoming: is_incoming,
        answer_requested: false,
        recording: None,
    };
    tracing::debug!(call_control_id, to = %dial.to, "sandbox leg dialled");
    let answer = dial_answer(&leg);
    state.order.push(call_control_id.clone());
    // Recorded before the task starts, so its first webhook finds the leg.
    state.legs.insert(call_control_id, leg);
    let handle = tokio::spawn(task.run());
    state.keep_task(handle.abort_handle());
    answer
}

/// The `data` of a successful dial (docs/telnyx.md §1).
fn dial_answer(leg: &Leg) -> Value {
    let mut data = fields([
        ("call_control_id", json!(leg.call_control_id)),
        ("call_leg_id", json!(leg.call_leg_id)),
        ("call_session_id", json!(leg.call_session_id)),
        ("is_alive", json!(false)),
        ("record_type", json!("call")),
        (
            "start_time",
            json!(clock::format_rfc3339(leg.started_at.into())),
        ),
    ]);
    if let Some(client_state) = &leg.client_state {
        data.insert("client_state".into(), json!(client_state));
    }
    Value::Object(data)
}

/// An opaque id shaped like Telnyx's (`v3:` then URL-safe base64 with `=` padding), so that a
/// client that fails to percent-encode it, or parses it, finds out in the sandbox.
fn new_call_control_id() -> String {
    let mut random = [0u8; 32];
    fastrand::fill(&mut random);
    format!("v3:{}", URL_SAFE.encode(random))
}

/// What the dial asked for, as far as the simulation cares.
struct Plan {
    timeout_secs: u32,
    retry_on_timeout: bool,
    time_limit_secs: u32,
    amd: Amd,
    transcription: Option<Transcription>,
    initiated_state: &'static str,
}

/// Why the simulation of a leg stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Hangup {
        cause: HangupCause,
        source: HangupSource,
    },
    /// The carrier is shutting down: stop without a word.
    Shutdown,
}

fn hangup(cause: HangupCause, source: HangupSource) -> Stop {
    Stop::Hangup { cause, source }
}

struct LegTask {
    inner: Arc<Inner>,
    id: String,
    script: Script,
    timing: Timing,
    plan: Plan,
    inputs: mpsc::UnboundedReceiver<LegInput>,
    /// Dropped with the task, which lets the sender finish the queue and end.
    outbox: mpsc::UnboundedSender<Outgoing>,
    pending: VecDeque<Media>,
    answered_at: Option<Instant>,
    /// Prompts played to the end; the mid-briefing callee hangs up during the first one.
    prompts_heard: u32,
    in_prompt: bool,
    transcription: Option<Transcription>,
    /// When the callee's reply to the last prompt reaches the transcription.
    utterance_at: Option<Instant>,
    time_limit_at: Option<Instant>,
    callee_hangup_at: Option<Instant>,
    conversation_end_at: Option<Instant>,
    /// A voicemail box: when its greeting ends (the beep); speech that starts later is
    /// recorded.
    greeting_ends_at: Option<Instant>,
    /// The greeting-ended event to send and when, armed once AMD has given its verdict.
    greeting_report: Option<(&'static str, Instant)>,
    /// A voicemail box: when it stops recording and hangs up.
    recording_ends_at: Option<Instant>,
    /// The client's `hangup` command ended the leg.
    hung_up_by_command: bool,
    /// A call to the client: it rings until answered, and its person is the caller.
    incoming: bool,
    /// The client sent `answer`.
    answer_requested: bool,
    /// A `record_start` under way: saved (and transcribed) when it ends, hang-up included.
    recording: Option<ActiveRecording>,
}

/// A recording under way.
struct ActiveRecording {
    recording: Recording,
    started_at: SystemTime,
    /// What the person said into it, once said in full.
    heard: Option<String>,
}

impl LegTask {
    async fn run(mut self) {
        let started = self.start_time();
        let direction = if self.incoming {
            "incoming"
        } else {
            "outgoing"
        };
        self.emit(
            "call.initiated",
            fields([
                ("direction", json!(direction)),
                ("state", json!(self.plan.initiated_state)),
                ("start_time", json!(started)),
            ]),
        );
        let stop = match self.live().await {
            Ok(never) => match never {},
            Err(stop) => stop,
        };
        if let Stop::Hangup { cause, source } = stop {
            self.finish(cause, source);
            // A recording ends with the call and is saved after the hang-up.
            self.save_recording();
        }
    }

    async fn live(&mut self) -> Result<Infallible, Stop> {
        if self.incoming {
            self.await_answer().await?;
        } else {
            self.ring().await?;
        }
        self.answer();
        self.detect_machine().await?;
        loop {
            let media = self.next_media().await?;
            match media {
                Media::Speak { text } => self.speak(text).await?,
                Media::Gather(gather) => self.gather(gather).await?,
                Media::AiGather(ai) => self.ai_gather(ai).await?,
                Media::Record(recording) => self.record(recording).await?,
            }
        }
    }

    /// An incoming call rings until the client answers it, or its caller gives up.
    async fn await_answer(&mut self) -> Result<(), Stop> {
        let gives_up = Instant::now() + self.timing.secs(self.plan.timeout_secs);
        while !self.answer_requested {
            if self.wait(Some(gives_up)).await? {
                // `Callee` is the person of the script: here, the caller (see `finish`).
                return Err(hangup(HangupCause::OriginatorCancel, HangupSource::Callee));
            }
        }
        Ok(())
    }

    /// `record_start`: the person says their script's `says` after a moment, then falls
    /// silent; the recording stops `timeout_secs` into the silence or at `max_length`.
    async fn record(&mut self, recording: Recording) -> Result<(), Stop> {
        let limit = (recording.max_length_secs > 0)
            .then(|| Instant::now() + self.timing.secs(recording.max_length_secs));
        let capped = |at: Instant| limit.map_or(at, |limit| at.min(limit));
        let timeout_secs = recording.timeout_secs;
        self.recording = Some(ActiveRecording {
            recording,
            started_at: SystemTime::now(),
            heard: None,
        });
        if let Some(said) = self.script.says.clone() {
            let spoken =
                Instant::now() + self.timing.response + self.timing.speech(word_count(&said));
            self.pause_until(capped(spoken)).await?;
            if let Some(active) = &mut self.recording {
                active.heard = Some(said);
            }
            if timeout_secs > 0 {
                let quiet = Instant::now() + self.timing.secs(timeout_secs);
                self.pause_until(capped(quiet)).await?;
                self.save_recording();
                return Ok(());
            }
        }
        match limit {
            Some(limit) => self.pause_until(limit).await?,
            // No limit and no silence timeout: it records until the call ends.
            None => loop {
                self.wait(None).await?;
            },
        }
        self.save_recording();
        Ok(())
    }

    /// `call.recording.saved`, then `call.recording.transcription.saved` with what was heard
    /// when the recording asked for a transcription.
    fn save_recording(&mut self) {
        let Some(active) = self.recording.take() else {
            return;
        };
        let recording_id = Uuid::now_v7().to_string();
        let format = active.recording.format.as_str();
        let url = format!("https://recordings.sandbox.invalid/{recording_id}.{format}");
        let urls = if format == "wav" {
            json!({"mp3": null, "wav": url})
        } else {
            json!({"mp3": url, "wav": null})
        };
        self.emit(
            "call.recording.saved",
            fields([
                ("channels", json!("single")),
                (
                    "recording_started_at",
                    json!(clock::format_rfc3339(active.started_at.into())),
                ),
                ("recording_ended_at", json!(clock::now_rfc3339())),
                ("recording_urls", urls.clone()),
                ("public_recording_urls", urls),
            ]),
        );
        if active.recording.transcription {
            self.emit(
                "call.recording.transcription.saved",
                fields([
                    ("calling_party_type", json!("pstn")),
                    ("recording_id", json!(recording_id)),
                    (
                        "recording_transcription_id",
                        json!(Uuid::now_v7().to_string()),
                    ),
                    ("status", json!("completed")),
                    (
                        "transcription_text",
                        json!(active.heard.unwrap_or_default()),
                    ),
                ]),
            );
        }
    }

    async fn ring(&mut self) -> Result<(), Stop> {
        let started = Instant::now();
        let gives_up = started + self.timing.secs(self.plan.timeout_secs);
        let ring_out = hangup(
            if self.plan.retry_on_timeout {
                HangupCause::Timeout
            } else {
                HangupCause::NoAnswer
            },
            HangupSource::Caller,
        );
        let picks_up = match self.script.ring {
            None => started + self.timing.ring,
            Some(Ring::For(ring)) => started + ring,
            Some(Ring::Until(at)) => Instant::from_std(at),
        };
        if self.script.pickup == Pickup::NoAnswer || picks_up >= gives_up {
            self.pause_until(gives_up).await?;
            return Err(ring_out);
        }
        self.pause_until(picks_up).await?;
        match self.script.pickup {
            Pickup::Busy => Err(hangup(HangupCause::UserBusy, HangupSource::Callee)),
            Pickup::Rejects => Err(hangup(HangupCause::CallRejected, HangupSource::Callee)),
            // `NoAnswer` rang out above and never gets here.
            Pickup::Answers | Pickup::NoAnswer => Ok(()),
        }
    }

    fn answer(&mut self) {
        let now = Instant::now();
        self.answered_at = Some(now);
        if let Some(after) = self.script.hangs_up_after {
            self.callee_hangup_at = Some(now + after);
        }
        self.time_limit_at = Some(now + self.timing.secs(self.plan.time_limit_secs));
        if self.script.answered_by == AnsweredBy::Machine {
            // The box greets from the moment it picks up, whether or not AMD listens.
            let greeting = self.script.says.as_deref().unwrap_or(VOICEMAIL_GREETING);
            let beep = now + self.timing.speech(word_count(greeting));
            self.greeting_ends_at = Some(beep);
            self.recording_ends_at = Some(beep + self.timing.secs(VOICEMAIL_RECORDING_SECS));
        }
        self.transcription = self.plan.transcription.clone();
        {
            let mut state = self.inner.lock();
            let mut bridge_with = None;
            if let Some(leg) = state.legs.get_mut(&self.id) {
                leg.state = LegState::Answered;
                leg.answered_at = Some(SystemTime::now());
                leg.transcribing = self.transcription.is_some();
                bridge_with = leg.bridge_on_answer.take();
            }
            if let Some(caller) = bridge_with {
                // Queued on this task's own input, so `call.bridged` follows `call.answered`.
                state.bridge(&caller, &self.id);
            }
        }
        self.inner.touch();
        let started = self.start_time();
        self.emit(
            "call.answered",
            fields([("state", json!("answered")), ("start_time", json!(started))]),
        );
    }

    async fn detect_machine(&mut self) -> Result<(), Stop> {
        if self.plan.amd == Amd::Disabled {
            return Ok(());
        }
        self.pause(self.timing.amd).await?;
        let premium = self.plan.amd == Amd::Premium;
        let result = match (self.script.answered_by, premium) {
            (AnsweredBy::Human, true) => "human_residence",
            (AnsweredBy::Human, false) => "human",
            (AnsweredBy::Machine, _) => "machine",
            (AnsweredBy::NotSure, _) => "not_sure",
        };
        let (detection, greeting) = if premium {
            (
                "call.machine.premium.detection.ended",
                "call.machine.premium.greeting.ended",
            )
        } else {
            (
                "call.machine.detection.ended",
                "call.machine.greeting.ended",
            )
        };
        self.emit(detection, fields([("result", json!(result))]));
        if self.plan.amd != Amd::Detect
            && let Some(beep) = self.greeting_ends_at
        {
            // Sent from `wait` at the greeting's end, while commands play: the client may
            // speak over the greeting (and lose it) or wait for the beep.
            self.greeting_report = Some((greeting, beep.max(Instant::now())));
        }
        Ok(())
    }

    async fn speak(&mut self, text: String) -> Result<(), Stop> {
        self.emit("call.speak.started", Map::new());
        let started = Instant::now();
        let played = self.play_prompt(word_count(&text)).await;
        let status = match played {
            Ok(()) => "completed",
            Err(Stop::Hangup { .. }) => "call_hangup",
            Err(Stop::Shutdown) => return played,
        };
        if played.is_ok() && self.greeting_ends_at.is_some_and(|beep| started >= beep) {
            if let Some(leg) = self.inner.lock().legs.get_mut(&self.id) {
                leg.voicemail_message.push(text);
            }
            self.inner.touch();
        }
        self.emit("call.speak.ended", fields([("status", json!(status))]));
        played
    }

    async fn gather(&mut self, gather: DigitGather) -> Result<(), Stop> {
        let (digits, status) = match self.collect_digits(&gather).await {
            Ok(outcome) => outcome,
            Err(stop @ Stop::Hangup { .. }) => {
                self.emit(
                    "call.gather.ended",
                    fields([("digits", json!("")), ("status", json!("call_hangup"))]),
                );
                return Err(stop);
            }
            Err(Stop::Shutdown) => return Err(Stop::Shutdown),
        };
        self.emit(
            "call.gather.ended",
            fields([("digits", json!(digits)), ("status", json!(status))]),
        );
        Ok(())
    }

    /// Plays the menu up to `maximum_tries` times; returns the digits and the final status.
    async fn collect_digits(
        &mut self,
        gather: &DigitGather,
    ) -> Result<(String, &'static str), Stop> {
        let keys = self.script.presses.clone().filter(|k| !k.is_empty());
        for attempt in 1..=gather.maximum_tries {
            if let Some(words) = gather.prompt_words {
                self.play_prompt(words).await?;
            }
            let Some(keys) = &keys else {
                self.pause(self.timing.millis(gather.timeout_millis))
                    .await?;
                continue;
            };
            self.pause(self.timing.response).await?;
            let mut pressed = String::new();
            let mut valid = true;
            let mut complete = false;
            for (n, key) in keys.chars().enumerate() {
                if n > 0 {
                    self.pause(self.timing.keypress).await?;
                }
                self.emit(
                    "call.dtmf.received",
                    fields([("digit", json!(key.to_string()))]),
                );
                if Some(key) == gather.terminating_digit {
                    complete = true;
                    break;
                }
                valid &= gather.valid_digits.contains(key);
                pressed.push(key);
                if pressed.chars().count() >= gather.maximum_digits {
                    complete = true;
                    break;
                }
            }
            if !complete {
                // Neither the terminator nor the last allowed digit: Telnyx waits for more.
                self.pause(self.timing.millis(gather.inter_digit_timeout_millis))
                    .await?;
            }
            if valid && pressed.chars().count() >= gather.minimum_digits {
                return Ok((pressed, "valid"));
            }
            if attempt == gather.maximum_tries {
                return Ok((pressed, "invalid"));
            }
            if gather.invalid_prompt_words > 0 {
                self.play_prompt(gather.invalid_prompt_words).await?;
            }
        }
        Ok((String::new(), "timeout"))
    }

    async fn ai_gather(&mut self, ai: AiGather) -> Result<(), Stop> {
        let outcome = self.converse(&ai).await;
        if let Some(leg) = self.inner.lock().legs.get_mut(&self.id) {
            leg.ai_gathering = false;
        }
        let (result, history) = outcome?;
        let status = if result.is_some() { "valid" } else { "invalid" };
        self.emit(
            "call.ai_gather.ended",
            fields([
                ("status", json!(status)),
                ("result", Value::Object(result.unwrap_or_default())),
                ("message_history", Value::Array(history)),
            ]),
        );
        Ok(())
    }

    /// The assistant's greeting and the callee's answer: the filled result (if any) and the
    /// message history.
    async fn converse(
        &mut self,
        ai: &AiGather,
    ) -> Result<(Option<Map<String, Value>>, Vec<Value>), Stop> {
        let mut history = Vec::new();
        if let Some(greeting) = &ai.greeting {
            self.play_prompt(word_count(greeting)).await?;
            history.push(json!({"role": "assistant", "content": greeting}));
        }
        match self.script.says.clone() {
            Some(said) => {
                let speaking = self.timing.speech(word_count(&said));
                self.pause(self.timing.response + speaking).await?;
                history.push(json!({"role": "user", "content": said}));
                Ok((ai_gather_result(&ai.parameters, &said), history))
            }
            None => {
                self.pause(self.timing.millis(ai.user_response_timeout_ms))
                    .await?;
                Ok((None, history))
            }
        }
    }

    /// Plays a prompt of `words` to the callee; the mid-briefing callee hangs up halfway
    /// through the first one.
    async fn play_prompt(&mut self, words: usize) -> Result<(), Stop> {
        let length = self.timing.speech(words);
        if self.script.hangs_up_during_first_prompt
            && self.prompts_heard == 0
            && self.callee_hangup_at.is_none()
        {
            self.callee_hangup_at = Some(Instant::now() + length / 2);
        }
        self.in_prompt = true;
        let played = self.pause(length).await;
        self.in_prompt = false;
        played?;
        self.prompts_heard += 1;
        self.schedule_utterance();
        Ok(())
    }

    /// The callee answers the prompt just heard, if a transcription listens and they talk.
    fn schedule_utterance(&mut self) {
        if self.transcription.is_some() && self.script.says.is_some() {
            self.utterance_at = Some(Instant::now() + self.timing.response);
        }
    }

    fn utter(&self) {
        let (Some(transcription), Some(said)) = (&self.transcription, &self.script.says) else {
            return;
        };
        let track = transcription.reports_track;
        let mut results = Vec::new();
        if transcription.interim
            && let Some(first) = said.split_whitespace().next()
            && first != said
        {
            results.push((first.to_owned(), false, 0.62));
        }
        results.push((said.clone(), true, 0.94));
        for (transcript, is_final, confidence) in results {
            let mut data = Map::new();
            data.insert("transcript".into(), json!(transcript));
            data.insert("is_final".into(), json!(is_final));
            data.insert("confidence".into(), json!(confidence));
            if track {
                data.insert("transcription_track".into(), json!("inbound"));
            }
            self.emit(
                "call.transcription",
                fields([("transcription_data", Value::Object(data))]),
            );
        }
    }

    async fn next_media(&mut self) -> Result<Media, Stop> {
        loop {
            if let Some(media) = self.pending.pop_front() {
                return Ok(media);
            }
            self.wait(None).await?;
        }
    }

    async fn pause(&mut self, length: std::time::Duration) -> Result<(), Stop> {
        self.pause_until(Instant::now() + length).await
    }

    async fn pause_until(&mut self, until: Instant) -> Result<(), Stop> {
        while !self.wait(Some(until)).await? {}
        Ok(())
    }

    /// Waits until `until` (or for the next media command when `None`), handling whatever
    /// happens meanwhile. `Ok(true)`: the time came; `Ok(false)`: media was queued.
    async fn wait(&mut self, until: Option<Instant>) -> Result<bool, Stop> {
        loop {
            let now = Instant::now();
            if until.is_some_and(|t| now >= t) {
                return Ok(true);
            }
            if self.time_limit_at.is_some_and(|t| now >= t) {
                return Err(hangup(HangupCause::TimeLimit, HangupSource::Caller));
            }
            let callee_leaves = [
                self.callee_hangup_at,
                self.conversation_end_at,
                self.recording_ends_at,
            ];
            if callee_leaves.iter().flatten().any(|t| now >= *t) {
                return Err(hangup(HangupCause::NormalClearing, HangupSource::Callee));
            }
            if self.utterance_at.is_some_and(|t| now >= t) {
                self.utterance_at = None;
                self.utter();
                continue;
            }
            if let Some((event_type, at)) = self.greeting_report
                && now >= at
            {
                self.greeting_report = None;
                self.emit(event_type, fields([("result", json!("beep_detected"))]));
                continue;
            }
            let wake = [
                until,
                self.time_limit_at,
                self.callee_hangup_at,
                self.conversation_end_at,
                self.recording_ends_at,
                self.utterance_at,
                self.greeting_report.map(|(_, at)| at),
            ]
            .into_iter()
            .flatten()
            .min();
            let timer = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = self.inputs.recv() => match input {
                    None => return Err(Stop::Shutdown),
                    Some(LegInput::Media(media)) => {
                        self.pending.push_back(media);
                        return Ok(false);
                    }
                    Some(LegInput::Answer) => {
                        self.answer_requested = true;
                        return Ok(false);
                    }
                    Some(LegInput::Hangup) => {
                        self.hung_up_by_command = true;
                        let cause = if self.answered_at.is_some() {
                            HangupCause::NormalClearing
                        } else {
                            HangupCause::OriginatorCancel
                        };
                        return Err(hangup(cause, HangupSource::Caller));
                    }
                    Some(LegInput::PeerHungUp { source }) => {
                        return Err(hangup(HangupCause::NormalClearing, source));
                    }
                    Some(LegInput::Bridged { peer, ends_conversation }) => {
                        tracing::debug!(call_control_id = %self.id, %peer, "sandbox legs bridged");
                        self.emit("call.bridged", Map::new());
                        if ends_conversation {
                            self.conversation_end_at = Some(Instant::now() + self.timing.conversation);
                        }
                    }
                    Some(LegInput::Transcription(started)) => {
                        self.transcription = started;
                        self.utterance_at = None;
                        // Started after a prompt already ended: the reply to it is heard.
                        if self.prompts_heard > 0 && !self.in_prompt {
                            self.schedule_utterance();
                        }
                    }
                },
                () = timer => {}
            }
        }
    }

    /// Records the end, releases the bridged peer and sends `call.hangup`.
    fn finish(&mut self, cause: HangupCause, source: HangupSource) {
        // The script's person is the callee of a dialled leg but the caller of an incoming
        // one, and the client that sends `hangup` the other way round.
        let source = match (self.incoming, source) {
            (true, HangupSource::Caller) => HangupSource::Callee,
            (true, HangupSource::Callee) => HangupSource::Caller,
            (_, source) => source,
        };
        {
            let mut state = self.inner.lock();
            let mut peer = None;
            if let Some(leg) = state.legs.get_mut(&self.id) {
                leg.state = LegState::Ended;
                leg.hangup_cause = Some(cause);
                leg.hangup_source = Some(source);
                leg.ended_by_command = self.hung_up_by_command;
                leg.ended_at = Some(SystemTime::now());
                leg.transcribing = false;
                leg.ai_gathering = false;
                leg.bridge_on_answer = None;
                peer = leg.bridged_with.take();
            }
            if let Some(peer) = peer.and_then(|p| state.legs.get_mut(&p)) {
                peer.bridged_with = None;
                if !peer.park_after_unbridge && peer.state != LegState::Ended {
                    let _ = peer.inputs.send(LegInput::PeerHungUp { source });
                }
            }
            // A leg still ringing towards this one has nobody left to be bridged with.
            for leg in state.legs.values_mut() {
                if leg.bridge_on_answer.as_deref() == Some(self.id.as_str()) {
                    leg.bridge_on_answer = None;
                }
            }
        }
        self.inner.touch();
        let sip = match cause {
            HangupCause::UserBusy => "486",
            HangupCause::CallRejected => "603",
            HangupCause::OriginatorCancel => "487",
            _ => "unspecified",
        };
        let stats = match self.answered_at {
            Some(at) => quality_stats(at.elapsed()),
            None => Value::Null,
        };
        let started = self.start_time();
        self.emit(
            "call.hangup",
            fields([
                ("hangup_cause", json!(cause.as_str())),
                ("hangup_source", json!(source.as_str())),
                ("sip_hangup_cause", json!(sip)),
                ("state", json!("hangup")),
                ("start_time", json!(started)),
                ("call_quality_stats", stats),
            ]),
        );
        tracing::debug!(call_control_id = %self.id, cause = cause.as_str(), "sandbox leg ended");
    }

    fn start_time(&self) -> String {
        let started = self
            .inner
            .lock()
            .legs
            .get(&self.id)
            .map_or_else(SystemTime::now, |leg| leg.started_at);
        clock::format_rfc3339(started.into())
    }

    /// Builds `event_type` from the leg as it is now (its latest `client_state`) and queues it.
    fn emit(&self, event_type: &str, extra: Map<String, Value>) {
        let (url, payload) = {
            let state = self.inner.lock();
            let Some(leg) = state.legs.get(&self.id) else {
                return;
            };
            let url = leg
                .webhook_urls
                .get(event_type)
                .unwrap_or(&leg.webhook_url)
                .clone();
            (url, webhooks::payload(leg, event_type, extra))
        };
        let event_id = Uuid::now_v7().to_string();
        let body = webhooks::envelope(&event_id, event_type, &clock::now_rfc3339(), payload);
        let _ = self.outbox.send(Outgoing {
            event_id,
            event_type: event_type.to_owned(),
            call_control_id: self.id.clone(),
            url,
            body: body.to_string().into_bytes(),
        });
    }
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Plausible `call_quality_stats` for `talked` of audio (20 ms packets). The spec types every
/// value as a string.
fn quality_stats(talked: std::time::Duration) -> Value {
    let packets = (talked.as_millis() / 20).to_string();
    json!({
        "inbound": {
            "jitter_max_variance": "0.42",
            "jitter_packet_count": "0",
            "mos": "4.40",
            "packet_count": packets,
            "skip_packet_count": "0",
        },
        "outbound": {
            "packet_count": packets,
            "skip_packet_count": "0",
        }
    })
}
