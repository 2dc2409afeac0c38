//! A simulated Telnyx Call Control carrier, served over real HTTP on loopback.
//!
//! With no `TELNYX_API_KEY`, Klaxon points its real Telnyx client at this server
//! (`TELNYX_API_BASE=`[`SandboxCarrier::base_url`]) and verifies its webhooks with
//! [`SandboxCarrier::public_key_base64`], so demos and tests exercise the same code as
//! production. It owns the whole phone side: the HTTP API, the calls it places, the scripted
//! people who answer them and the signed webhooks it sends back. It does not own anything of
//! Klaxon's: it knows nothing about escalations and keeps no durable state.
//!
//! # What it simulates
//!
//! - **The API** (`api.rs`), as in docs/telnyx.md §1–3: `POST /v2/calls`,
//!   `POST /v2/calls/{call_control_id}/actions/{speak, gather_using_speak, gather,
//!   gather_using_ai, transcription_start, transcription_stop, transfer, bridge, hangup,
//!   answer, record_start}`,
//!   `PUT …/actions/client_state_update` and `GET /v2/calls/{call_control_id}`. Every request
//!   needs `Authorization: Bearer <any non-empty key>`. Bodies are validated like Telnyx does
//!   (`validate.rs`), a little more strictly: unknown fields are refused. Errors use Telnyx's
//!   body and codes (`rejection.rs`): 10004, 10016, 10032, 10033, 10015 (no webhook URL),
//!   90015 (unknown call), 90018 (ended), 90034 (not answered), 90054, 90061. A repeated
//!   `command_id` on a leg, or on dial, within 60 s is ignored and answered as the first one
//!   was (docs/telnyx.md §2).
//! - **Messaging** (`texts.rs`): `POST /v2/messages` validated against `CreateMessageRequest`,
//!   signed `message.sent` and `message.finalized` receipts, and the people who reply
//!   (docs/sms.md §4).
//! - **The calls** (`call.rs`): one task per leg plays the callee's [`Script`] against the
//!   commands it receives, in simulated time ([`Timing`]).
//! - **The webhooks** (`webhooks.rs`): docs/telnyx.md §4.1 envelopes without `meta`, whose payloads
//!   carry exactly the fields of the official schemas, including the leg's latest `client_state`;
//!   signed with Ed25519 as in docs/telnyx.md §5; POSTed to the dial's `webhook_url` (or the
//!   per-event `webhook_urls` entry, or [`CarrierConfig::default_webhook_url`]); retried twice on a
//!   non-2xx answer or a network error. Per leg they leave in order, unless the callee's
//!   [`Delivery`] mode duplicates or shuffles them.
//!
//! - **Calls to the client** ([`SandboxCarrier::place_call`], a test control): a scripted
//!   caller rings the client's number; `call.initiated` (direction `incoming`) goes to the
//!   given webhook URL (the Call Control app's), and the call rings until `answer`, then
//!   plays like any answered leg. `record_start` records what the caller [`Script::says`]
//!   (after [`Timing::response`]) until `timeout_secs` of silence, `max_length` or the
//!   hang-up, then sends `call.recording.saved` (no `call_control_id`, as in its schema) and,
//!   with `transcription`, `call.recording.transcription.saved` with those words
//!   (docs/telnyx.md §3.10).
//!
//! # Event order
//!
//! `call.initiated` → `call.answered` (or `call.hangup` with `timeout`, `no_answer`,
//! `user_busy`, `call_rejected` or `originator_cancel`) → `call.machine.detection.ended` (the
//! `premium` variant under `premium`) when the dial asked for AMD → per command:
//! `speak`: `call.speak.started`, `call.speak.ended`; `gather_using_speak`/`gather`:
//! `call.dtmf.received` per key, then `call.gather.ended`; `gather_using_ai`:
//! `call.ai_gather.ended`; a transcription: `call.transcription` after each prompt the callee
//! hears → `call.bridged` on both legs when bridged → `call.hangup`, always last.
//! Commands queue: a speak sent during another one plays after it. A voicemail box's
//! `call.machine.greeting.ended` (premium: `call.machine.premium.greeting.ended`), under
//! `detect_beep`, `greeting_end` or `premium`, comes when its greeting really ends, after the
//! detection event and possibly between the events of commands already playing.
//!
//! # Voicemail boxes
//!
//! A callee whose script says [`AnsweredBy::Machine`] (the plan's digit 7) greets from the
//! moment it answers: [`Script::says`] (default [`VOICEMAIL_GREETING`]) for its words times
//! [`Timing::per_word`]. AMD's verdict comes after [`Timing::amd`], while it greets. At the
//! greeting's end it beeps (`result: beep_detected`), records for at most
//! [`VOICEMAIL_RECORDING_SECS`] and hangs up by itself (`normal_clearing`, source `callee`).
//! A `speak` that starts after the beep and finishes before the box hangs up is recorded
//! ([`LegSnapshot::voicemail_message`]); one that starts during the greeting is lost.
//!
//! A `transfer` or a dial with `link_to` rings a second leg in the same `call_session_id`,
//! which follows the script of its own number. After a bridge the second leg's callee talks
//! for [`Timing::conversation`] and hangs up, and the hangup ends the other leg too (unless it
//! asked for `park_after_unbridge: "self"`).
//!
//! # The default number plan
//!
//! A number listed in [`CarrierConfig::scripts`] gets that script. Any other number is decided
//! by its **last digit** ([`Script::for_number`]), so a demo works without configuration:
//!
//! | Last digit | Callee | What the client sees |
//! |---|---|---|
//! | 0 | answers and says "connect me" | AMD `human`; `gather_using_ai` → `valid` with the enum value "connect"; a transcription → "connect me"; keypad menus time out |
//! | 1 | answers and presses 1 | AMD `human`; keypad menus → `call.dtmf.received` 1, `call.gather.ended` digits `1`; where 1 is not among `valid_digits`, every try is refused and every menu ends `invalid` with digits `1` (the callee who keeps pressing an unavailable key); `gather_using_ai` → `invalid` |
//! | 2 | answers and presses 2 (acknowledge) | as 1, with `2` |
//! | 3 | answers and presses 3 (pass) | as 1, with `3` (`invalid` unless `3` is among `valid_digits`) |
//! | 4 | never answers | rings until `timeout_secs`, then `call.hangup` `timeout` (`no_answer` with `retry_on_timeout: false`) |
//! | 5 | busy | `call.hangup` `user_busy`, SIP 486 |
//! | 6 | declines | `call.hangup` `call_rejected`, SIP 603 |
//! | 7 | voicemail | answered; AMD `machine`; a box (see above): greets for 13 words, `beep_detected` where asked, records up to 40 s, hangs up; presses nothing; its greeting is what a transcription or `gather_using_ai` hears (→ `invalid`) |
//! | 8 | hangs up mid-briefing | answered; halfway through the first prompt: `call.speak.ended` `call_hangup` (or `call.gather.ended` `call_hangup`), then `call.hangup` `normal_clearing` from the callee |
//! | 9 | answers and stays silent | keypad menus replay `maximum_tries` times then end with `timeout`; `gather_using_ai` → `invalid` after `user_response_timeout_ms` |
//!
//! Every other callee that answers stays on the line until the client hangs up, the dial's
//! `time_limit_secs` passes (`time_limit`) or, once bridged, the conversation ends.
//! [`Script::answering_after`] and [`Script::answering_at`] change one callee's ring time,
//! to stage races between legs rung in parallel.
//! Duplicated or shuffled webhooks are chosen per callee ([`Script::with_delivery`]) or for
//! the whole carrier ([`CarrierConfig::delivery`]).
//!
//! # Timing
//!
//! Telnyx durations in requests (`timeout_secs`, `timeout_millis`, `user_response_timeout_ms`,
//! `time_limit_secs`…) are scaled by [`Timing::second`], so a 30 s ring-out takes 30 s with
//! [`Timing::realistic`] and 300 ms with [`Timing::fast`]; so is a voicemail's
//! [`VOICEMAIL_RECORDING_SECS`]. Speech lasts [`Timing::per_word`] per spoken word.
//!
//! # Observing it
//!
//! [`SandboxCarrier::requests`], [`SandboxCarrier::webhooks_sent`] and
//! [`SandboxCarrier::legs`] show what happened, and [`SandboxCarrier::wait_until`] waits for
//! a condition without sleeping. A leg's [`LegSnapshot::hangup_source`] and
//! [`LegSnapshot::ended_by_command`] tell who ended it; "line time after the outcome was
//! known" is [`LegSnapshot::line_time_after`] the [`Observed::first_event_at`] of the
//! deciding event. All state is in memory, behind one `std::sync::Mutex`: no
//! lock is held across an `.await`, and every critical section is a few map operations.

mod api;
mod call;
mod known_fields;
mod rejection;
mod script;
mod state;
mod texts;
mod validate;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use tokio::net::TcpListener;

pub use script::{
    AnsweredBy, CONNECT_ME, Delivery, Pickup, Ring, Script, VOICEMAIL_GREETING,
    VOICEMAIL_RECORDING_SECS,
};

pub use texts::{ACKNOWLEDGER_REPLY, TextSnapshot};

use state::Inner;

pub use super::background::StartError;
use super::background::{BackgroundServer, webhook_client};

/// The carrier's Ed25519 private key seed. Its `Debug` is redacted.
#[derive(Clone)]
pub struct SigningSeed([u8; 32]);

impl SigningSeed {
    pub fn from_bytes(seed: [u8; 32]) -> SigningSeed {
        SigningSeed(seed)
    }

    /// A random seed. `fastrand` is not a cryptographic generator, which is fine for a key
    /// that only ever signs simulated webhooks on loopback.
    pub fn generate() -> SigningSeed {
        let mut seed = [0u8; 32];
        fastrand::fill(&mut seed);
        SigningSeed(seed)
    }

    /// The public key as Telnyx shows it in Mission Control: standard base64 of 32 bytes.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(SigningKey::from_bytes(&self.0).verifying_key().as_bytes())
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SigningSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSeed([redacted])")
    }
}

/// How long things take on the simulated phone network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From `call.initiated` until the callee answers, is busy or declines.
    pub ring: Duration,
    /// How long one Telnyx second lasts. Every duration a request states (`timeout_secs`,
    /// `timeout_millis`, `inter_digit_timeout_millis`, `user_response_timeout_ms`,
    /// `time_limit_secs`) is scaled by it.
    pub second: Duration,
    /// Speaking time per word of a prompt or reply.
    pub per_word: Duration,
    /// From `call.answered` until the AMD verdict (and again until the greeting's end).
    pub amd: Duration,
    /// The callee's reaction time after a prompt ends, before pressing or speaking.
    pub response: Duration,
    /// Between two keypresses.
    pub keypress: Duration,
    /// How long bridged parties talk before the second leg's callee hangs up.
    pub conversation: Duration,
    /// [`Delivery::Shuffled`]: how long an event waits for a successor to swap with.
    pub reorder_window: Duration,
    /// The pause before a webhook redelivery, times the attempt number.
    pub webhook_retry: Duration,
}

impl Timing {
    /// Human pace, for demos.
    pub fn realistic() -> Timing {
        Timing {
            ring: Duration::from_secs(3),
            second: Duration::from_secs(1),
            per_word: Duration::from_millis(330),
            amd: Duration::from_secs(2),
            response: Duration::from_millis(1500),
            keypress: Duration::from_millis(250),
            conversation: Duration::from_secs(20),
            reorder_window: Duration::from_millis(300),
            webhook_retry: Duration::from_secs(1),
        }
    }

    /// Fast enough for tests: a 30 s ring-out lasts 300 ms, a 20-word briefing 200 ms.
    pub fn fast() -> Timing {
        Timing {
            ring: Duration::from_millis(50),
            second: Duration::from_millis(10),
            per_word: Duration::from_millis(10),
            amd: Duration::from_millis(20),
            response: Duration::from_millis(20),
            keypress: Duration::from_millis(5),
            conversation: Duration::from_millis(200),
            reorder_window: Duration::from_millis(100),
            webhook_retry: Duration::from_millis(20),
        }
    }

    pub(crate) fn secs(&self, secs: u32) -> Duration {
        self.second.saturating_mul(secs)
    }

    pub(crate) fn millis(&self, millis: u32) -> Duration {
        self.second.saturating_mul(millis) / 1000
    }

    pub(crate) fn speech(&self, words: usize) -> Duration {
        self.per_word
            .saturating_mul(u32::try_from(words).unwrap_or(u32::MAX))
    }
}

impl Default for Timing {
    fn default() -> Timing {
        Timing::realistic()
    }
}

/// Everything the carrier is started with.
#[derive(Debug, Clone)]
pub struct CarrierConfig {
    /// The Call Control App's webhook URL, used when a dial names none. With neither, a dial
    /// is refused with 10015, as Telnyx refuses an app without a webhook URL.
    pub default_webhook_url: Option<String>,
    pub signing_seed: SigningSeed,
    pub timing: Timing,
    /// Callees by exact dialled number (`+15551230001`, or a SIP URI); any other number
    /// follows the default plan.
    pub scripts: HashMap<String, Script>,
    /// Delivery mode for callees whose script names none.
    pub delivery: Delivery,
    /// The messaging profile's webhook URL: where replies (`message.received`) go, and the
    /// receipts of a text that names no `webhook_url` (docs/sms.md §4).
    pub messaging_webhook_url: Option<String>,
}

impl Default for CarrierConfig {
    /// No default webhook URL, a random key, realistic timing, the default number plan.
    fn default() -> CarrierConfig {
        CarrierConfig {
            default_webhook_url: None,
            signing_seed: SigningSeed::generate(),
            timing: Timing::realistic(),
            scripts: HashMap::new(),
            delivery: Delivery::InOrder,
            messaging_webhook_url: None,
        }
    }
}

/// A call to place to the client, as a caller would: [`SandboxCarrier::place_call`].
#[derive(Debug, Clone)]
pub struct IncomingCall {
    /// The caller's number.
    pub from: String,
    /// The number called: the client's.
    pub to: String,
    /// What the caller does: keys pressed at each keypad menu, what they say into a
    /// recording ([`Script::caller`]), when they hang up ([`Script::hanging_up_after`]).
    pub script: Script,
    /// The Call Control app's webhook URL; `None`: [`CarrierConfig::default_webhook_url`].
    pub webhook_url: Option<String>,
}

/// [`SandboxCarrier::place_call`] had nowhere to send the call's webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call needs a webhook URL, or the carrier a default one")]
pub struct NoWebhookUrl;

/// [`SandboxCarrier::wait_until`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the condition was not reached within {0:?}")]
pub struct WaitTimedOut(pub Duration);

/// One request the API received, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The JSON body; `Null` when empty, a JSON string holding the text when not JSON.
    pub body: Value,
    pub at: SystemTime,
    /// The status the carrier answered with.
    pub status: u16,
}

/// One webhook delivery attempt, in the order they were made.
#[derive(Debug, Clone, PartialEq)]
pub struct SentWebhook {
    /// `data.id`, shared by the copies and retries of one event.
    pub event_id: String,
    pub event_type: String,
    pub call_control_id: String,
    pub url: String,
    pub body: Value,
    /// 1 for the first delivery of a copy, then 2, 3 for retries.
    pub attempt: u32,
    /// The receiver's status, or `None` when no answer came back (see `error`).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// When the POST started: from then on the receiver could know of the event.
    pub sent_at: SystemTime,
    /// When the attempt ended (the answer came back, or the POST failed).
    pub at: SystemTime,
}

/// Where a leg is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    Ringing,
    Answered,
    Ended,
}

/// Why a leg ended, as `call.hangup` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupCause {
    CallRejected,
    NormalClearing,
    OriginatorCancel,
    Timeout,
    TimeLimit,
    UserBusy,
    NoAnswer,
}

impl HangupCause {
    /// The `hangup_cause` text of `call.hangup`.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::CallRejected => "call_rejected",
            HangupCause::NormalClearing => "normal_clearing",
            HangupCause::OriginatorCancel => "originator_cancel",
            HangupCause::Timeout => "timeout",
            HangupCause::TimeLimit => "time_limit",
            HangupCause::UserBusy => "user_busy",
            HangupCause::NoAnswer => "no_answer",
        }
    }
}

/// Who ended a leg, as `call.hangup` reports it in `hangup_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupSource {
    /// The calling side: the client's `hangup` command, a ring-out (`timeout`, `no_answer`),
    /// the dial's `time_limit_secs`. See [`LegSnapshot::ended_by_command`] to tell them apart.
    Caller,
    /// The person or machine called: busy, declined, hung up, or a voicemail box that
    /// finished recording.
    Callee,
    /// Telnyx's third value; the sandbox never reports it.
    Unknown,
}

impl HangupSource {
    /// The `hangup_source` text of `call.hangup`.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSource::Caller => "caller",
            HangupSource::Callee => "callee",
            HangupSource::Unknown => "unknown",
        }
    }
}

/// A leg as the carrier sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct LegSnapshot {
    pub call_control_id: String,
    pub call_leg_id: String,
    pub call_session_id: String,
    pub connection_id: String,
    pub from: String,
    pub to: String,
    pub script: Script,
    pub state: LegState,
    pub client_state: Option<String>,
    pub webhook_url: String,
    /// The leg this one was dialled against (`link_to`, or the leg a `transfer` came from).
    pub link_to: Option<String>,
    pub bridged_with: Option<String>,
    pub hangup_cause: Option<HangupCause>,
    /// Who ended the leg; `None` while it is up.
    pub hangup_source: Option<HangupSource>,
    /// Whether the client's `hangup` command ended the leg (ring-outs and the time limit are
    /// also [`HangupSource::Caller`], but not commands).
    pub ended_by_command: bool,
    /// What a voicemail box recorded: the text of every `speak` that played entirely after
    /// its greeting ended and before it hung up, SSML tags removed, joined with a space.
    /// `None` when nothing was recorded (or the callee is not a voicemail).
    pub voicemail_message: Option<String>,
    /// Accepted commands in order: `dial`, `speak`, `hangup`… (ignored duplicates excluded).
    pub commands: Vec<String>,
    pub started_at: SystemTime,
    pub answered_at: Option<SystemTime>,
    pub ended_at: Option<SystemTime>,
}

impl LegSnapshot {
    /// How long the leg stayed up after `known`, typically the moment the event that decided
    /// its outcome was sent ([`Observed::first_event_at`]): zero when it ended before, `None`
    /// while it is still up.
    pub fn line_time_after(&self, known: SystemTime) -> Option<Duration> {
        let ended = self.ended_at?;
        Some(ended.duration_since(known).unwrap_or(Duration::ZERO))
    }
}

/// Everything observable at one moment, handed to [`SandboxCarrier::wait_until`].
#[derive(Debug, Clone)]
pub struct Observed {
    pub requests: Vec<RecordedRequest>,
    pub webhooks: Vec<SentWebhook>,
    pub legs: Vec<LegSnapshot>,
}

impl Observed {
    /// When the first delivery of the first `event_type` event of leg `call_control_id`
    /// started ([`SentWebhook::sent_at`]): the earliest moment the client could know of it.
    pub fn first_event_at(&self, call_control_id: &str, event_type: &str) -> Option<SystemTime> {
        first_event_at(&self.webhooks, call_control_id, event_type)
    }

    pub fn leg(&self, call_control_id: &str) -> Option<&LegSnapshot> {
        self.legs
            .iter()
            .find(|leg| leg.call_control_id == call_control_id)
    }
}

fn first_event_at(
    webhooks: &[SentWebhook],
    call_control_id: &str,
    event_type: &str,
) -> Option<SystemTime> {
    webhooks
        .iter()
        .find(|w| w.call_control_id == call_control_id && w.event_type == event_type)
        .map(|w| w.sent_at)
}

/// The running carrier. Dropping it stops the server and every call simulation.
pub struct SandboxCarrier {
    inner: Arc<Inner>,
    server: BackgroundServer,
}

impl SandboxCarrier {
    /// Serves the simulated API on `listener` in the background.
    pub fn start(
        listener: TcpListener,
        config: CarrierConfig,
    ) -> Result<SandboxCarrier, StartError> {
        let http = webhook_client(Duration::from_secs(10))?;
        let inner = Arc::new(Inner::new(config, http));
        let server =
            BackgroundServer::start(listener, api::router(Arc::clone(&inner)), "sandbox carrier")?;
        tracing::info!(addr = %server.addr(), "sandbox carrier listening");
        Ok(SandboxCarrier { inner, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The API base to configure as `TELNYX_API_BASE`, e.g. `http://127.0.0.1:40123/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr())
    }

    /// The webhook verification key to configure in Klaxon (standard base64, 32 bytes).
    pub fn public_key_base64(&self) -> String {
        self.inner.settings.seed.public_key_base64()
    }

    /// A test control: a call rings the client's number, from `call.from`, as Telnyx
    /// delivers one to a Call Control app (`call.initiated` with direction `incoming`). It
    /// rings until the client answers (`POST …/actions/answer`) or 60 Telnyx seconds pass.
    /// Returns the leg's `call_control_id`.
    pub fn place_call(&self, call: IncomingCall) -> Result<String, NoWebhookUrl> {
        let webhook_url = call
            .webhook_url
            .or_else(|| self.inner.settings.default_webhook_url.clone())
            .ok_or(NoWebhookUrl)?;
        let id = {
            let mut state = self.inner.lock();
            call::spawn_incoming(
                &self.inner,
                &mut state,
                (call.from, call.to),
                call.script,
                webhook_url,
            )
        };
        self.inner.touch();
        Ok(id)
    }

    /// Every API request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Every webhook delivery attempt so far, in the order they were made.
    pub fn webhooks_sent(&self) -> Vec<SentWebhook> {
        self.inner.lock().webhooks.clone()
    }

    /// Every leg, in the order they were dialled.
    pub fn legs(&self) -> Vec<LegSnapshot> {
        self.inner.lock().snapshots()
    }

    pub fn leg(&self, call_control_id: &str) -> Option<LegSnapshot> {
        self.inner
            .lock()
            .legs
            .get(call_control_id)
            .map(state::Leg::snapshot)
    }

    /// Every text accepted so far, in order, with its status now.
    pub fn texts(&self) -> Vec<TextSnapshot> {
        self.inner.lock().texts.clone()
    }

    /// The person at `from` texts `text` to our number `to`: a signed `message.received`
    /// goes to the messaging webhook URL (else to where the last text sent its receipts). Returns once it was delivered (or its retries were spent); false when
    /// there was nowhere to send it.
    pub async fn text_from(&self, from: &str, to: &str, text: &str) -> bool {
        texts::reply(&self.inner, from, to, text).await
    }

    /// See [`Observed::first_event_at`].
    pub fn first_event_at(&self, call_control_id: &str, event_type: &str) -> Option<SystemTime> {
        first_event_at(&self.inner.lock().webhooks, call_control_id, event_type)
    }

    /// Everything observable now.
    pub fn observe(&self) -> Observed {
        let state = self.inner.lock();
        Observed {
            requests: state.requests.clone(),
            webhooks: state.webhooks.clone(),
            legs: state.snapshots(),
        }
    }

    /// Waits until `check` returns `Some`, re-checking after every change (a request, a leg
    /// transition, a webhook attempt); gives up after `timeout`.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Observed) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        let mut changes = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Marked as seen before looking, so a change made while `check` runs wakes us.
            changes.borrow_and_update();
            if let Some(found) = check(&self.observe()) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(WaitTimedOut(timeout)),
            }
        }
    }

    /// Stops serving (letting in-flight requests finish) and ends every call simulation
    /// without further webhooks.
    pub async fn shutdown(mut self) {
        self.inner.abort_tasks();
        self.server.stop().await;
    }
}

impl Drop for SandboxCarrier {
    fn drop(&mut self) {
        self.inner.abort_tasks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_durations_are_scaled_by_the_simulated_second() {
        let fast = Timing::fast();
        assert_eq!(fast.secs(30), Duration::from_millis(300));
        assert_eq!(fast.millis(8000), Duration::from_millis(80));
        assert_eq!(fast.speech(20), Duration::from_millis(200));
        let real = Timing::realistic();
        assert_eq!(real.secs(30), Duration::from_secs(30));
        assert_eq!(real.millis(1500), Duration::from_millis(1500));
    }

    #[test]
    fn the_seed_never_prints_and_gives_a_telnyx_shaped_key() {
        let seed = SigningSeed::from_bytes([7; 32]);
        assert_eq!(format!("{seed:?}"), "SigningSeed([redacted])");
        assert!(format!("{:?}", CarrierConfig::default()).contains("[redacted]"));
        let key = seed.public_key_base64();
        assert_eq!(key.len(), 44);
        assert!(key.parse::<crate::signing::telnyx::PublicKey>().is_ok());
    }
}
