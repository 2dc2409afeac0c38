//! The engine's view of the carrier: the handful of call operations an escalation needs,
//! each mapped to one Telnyx command with a deterministic `command_id` and an opaque
//! `client_state` (escalation id, attempt, leg: never a number or a name).

use std::fmt;

use super::escalation::machine::Leg;
use super::telnyx::commands::{
    AmdConfig, Answer, AnsweringMachineDetection, Bridge, Command, Dial, GatherUsingSpeak, Hangup,
    RecordStart, Speak, TranscriptionStart,
};
use super::telnyx::{
    CallControlId, ClientState, CommandId, LegRole, Message, SentMessage, TelnyxClient, TelnyxError,
};

/// The voice used for every prompt (docs/telnyx.md §3.2: plain `female` needs
/// `service_level: basic`).
pub const VOICE: &str = "Telnyx.KokoroTTS.af";

/// Identifies one command: its `command_id` and the `client_state` to attach.
#[derive(Debug, Clone)]
pub struct CommandRef {
    pub command_id: String,
    pub leg: Leg,
    client_state: Option<ClientState>,
}

impl CommandRef {
    /// `{escalation}:{attempt}:{tag}` for dials of leg A (one per attempt, so a re-send
    /// after a crash is the same command), `{escalation}:{attempt}:{seq}:{tag}` otherwise.
    pub fn new(
        escalation: &str,
        attempt: u32,
        seq: Option<u32>,
        tag: &str,
        leg: Leg,
    ) -> CommandRef {
        let command_id = match seq {
            Some(seq) => format!("{escalation}:{attempt}:{seq}:{tag}"),
            None => format!("{escalation}:{attempt}:{tag}"),
        };
        let role = match leg {
            Leg::A => LegRole::A,
            Leg::B => LegRole::B,
        };
        CommandRef {
            command_id,
            leg,
            client_state: ClientState::new(escalation, attempt, role).ok(),
        }
    }

    fn id(&self) -> CommandId {
        CommandId::from_raw(self.command_id.clone())
    }
}

/// Why a call operation failed.
#[derive(Debug, Clone)]
pub enum CarrierError {
    /// The leg has ended (Telnyx 90018/90015).
    Gone,
    Failed(String),
}

impl fmt::Display for CarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CarrierError::Gone => f.write_str("the call has already ended"),
            CarrierError::Failed(reason) => f.write_str(reason),
        }
    }
}

impl From<TelnyxError> for CarrierError {
    fn from(error: TelnyxError) -> Self {
        if error.is_call_gone() {
            CarrierError::Gone
        } else {
            CarrierError::Failed(error.to_string())
        }
    }
}

/// What answering-machine detection reports on a dialled leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Person or machine.
    Verdict,
    /// That, and for a machine the end of its greeting (to leave a message after it).
    VerdictAndBeep,
}

/// Call operations over a Telnyx client (the real API or the sandbox carrier).
#[derive(Clone)]
pub struct Carrier {
    client: TelnyxClient,
    /// Where this call's webhooks go: built from `PUBLIC_URL` (or the sandbox's loopback
    /// address), never from a request's Host header. `None`: the Call Control app's own
    /// webhook URL, as configured at Telnyx.
    webhook_url: Option<String>,
    messaging: Messaging,
}

/// How texts are sent (docs/sms.md §2): from which number or profile, and where their
/// delivery receipts go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messaging {
    pub from: Option<String>,
    pub profile_id: Option<String>,
    /// `{PUBLIC_URL}/webhooks/messaging` (or the sandbox's loopback address); `None`: the
    /// messaging profile's own webhook URL.
    pub webhook_url: Option<String>,
}

impl Carrier {
    /// A carrier that calls; texts need [`Carrier::with_messaging`].
    pub fn new(client: TelnyxClient, webhook_url: Option<String>) -> Carrier {
        Carrier {
            client,
            webhook_url,
            messaging: Messaging::default(),
        }
    }

    /// The same carrier, texting as `messaging` says.
    pub fn with_messaging(mut self, messaging: Messaging) -> Carrier {
        self.messaging = messaging;
        self
    }

    /// Sends `text` to `to` as an SMS; the answer is Telnyx's message id and status.
    pub async fn text(&self, to: &str, text: &str) -> Result<SentMessage, CarrierError> {
        let mut message = Message::sms(to, text);
        message.from = self.messaging.from.clone();
        message.messaging_profile_id = self.messaging.profile_id.clone();
        message.webhook_url = self.messaging.webhook_url.clone();
        Ok(self.client.send_message(&message).await?)
    }

    /// Dials `to`; with `link_to`, the new leg joins that call's session (the warm
    /// transfer's leg B). Answering-machine detection is always on.
    pub async fn dial(
        &self,
        command: &CommandRef,
        to: &str,
        timeout_secs: u32,
        link_to: Option<&str>,
        detection: Detection,
    ) -> Result<String, CarrierError> {
        let mut dial = Dial::new(to, command.id());
        dial.timeout_secs = Some(timeout_secs);
        dial.answering_machine_detection = Some(match detection {
            Detection::Verdict => AnsweringMachineDetection::Detect,
            // `detect_beep` adds `call.machine.greeting.ended` when the greeting is over.
            Detection::VerdictAndBeep => AnsweringMachineDetection::DetectBeep,
        });
        dial.answering_machine_detection_config = Some(AmdConfig {
            total_analysis_time_millis: Some(5_000),
            greeting_duration_millis: None,
        });
        dial.link_to = link_to.map(CallControlId::from);
        dial.webhook_url = self.webhook_url.clone();
        dial.client_state = command.client_state.clone();
        let leg = self.client.dial(&dial).await?;
        Ok(leg.call_control_id.as_str().to_owned())
    }

    pub async fn speak(
        &self,
        command: &CommandRef,
        call: &str,
        text: &str,
    ) -> Result<(), CarrierError> {
        let mut speak = Speak::new(text, command.id());
        speak.voice = VOICE.to_owned();
        speak.client_state = command.client_state.clone();
        self.send(call, Command::Speak(speak)).await
    }

    /// Starts speech recognition on the call, so "connect me" is heard alongside the keypad.
    pub async fn listen(&self, command: &CommandRef, call: &str) -> Result<(), CarrierError> {
        let mut start = TranscriptionStart::new(command.id());
        start.client_state = command.client_state.clone();
        self.send(call, Command::TranscriptionStart(start)).await
    }

    /// Speaks `text` and collects one key: 1 connect, 2 acknowledge, 3 pass, * repeat.
    pub async fn menu(
        &self,
        command: &CommandRef,
        call: &str,
        text: &str,
    ) -> Result<(), CarrierError> {
        let mut gather = GatherUsingSpeak::new(text, command.id());
        gather.voice = VOICE.to_owned();
        gather.valid_digits = Some("123*".into());
        gather.minimum_digits = Some(1);
        gather.maximum_digits = Some(1);
        gather.timeout_millis = Some(8_000);
        gather.maximum_tries = Some(1);
        gather.client_state = command.client_state.clone();
        self.send(call, Command::GatherUsingSpeak(gather)).await
    }

    /// Answers a call to Klaxon's number (docs/telnyx.md §3.10); its webhooks then go where
    /// the dials' go.
    pub async fn answer(&self, command: &CommandRef, call: &str) -> Result<(), CarrierError> {
        let mut answer = Answer::new(command.id());
        answer.webhook_url = self.webhook_url.clone();
        answer.client_state = command.client_state.clone();
        self.send(call, Command::Answer(answer)).await
    }

    /// Speaks `text` and collects one key among `digits`, asking twice before giving up.
    pub async fn ask(
        &self,
        command: &CommandRef,
        call: &str,
        text: &str,
        digits: &str,
    ) -> Result<(), CarrierError> {
        let mut gather = GatherUsingSpeak::new(text, command.id());
        gather.voice = VOICE.to_owned();
        gather.valid_digits = Some(digits.to_owned());
        gather.minimum_digits = Some(1);
        gather.maximum_digits = Some(1);
        gather.timeout_millis = Some(6_000);
        gather.maximum_tries = Some(2);
        gather.client_state = command.client_state.clone();
        self.send(call, Command::GatherUsingSpeak(gather)).await
    }

    /// Records a message after a beep, transcribed by Telnyx once saved (docs/telnyx.md
    /// §3.10): it stops after `silence_secs` of silence following speech, at `max_secs`, or
    /// when the caller hangs up.
    pub async fn record_message(
        &self,
        command: &CommandRef,
        call: &str,
        max_secs: u32,
        silence_secs: u32,
    ) -> Result<(), CarrierError> {
        let mut record = RecordStart::new(command.id());
        record.play_beep = Some(true);
        record.max_length = Some(max_secs);
        record.timeout_secs = Some(silence_secs);
        record.transcription = true;
        record.transcription_engine = Some("B");
        record.client_state = command.client_state.clone();
        self.send(call, Command::RecordStart(record)).await
    }

    pub async fn bridge(&self, command: &CommandRef, a: &str, b: &str) -> Result<(), CarrierError> {
        let mut bridge = Bridge::new(CallControlId::from(b), command.id());
        bridge.client_state = command.client_state.clone();
        self.send(a, Command::Bridge(bridge)).await
    }

    pub async fn hangup(&self, command: &CommandRef, call: &str) -> Result<(), CarrierError> {
        let mut hangup = Hangup::new(command.id());
        hangup.client_state = command.client_state.clone();
        self.send(call, Command::Hangup(hangup)).await
    }

    /// Whether a leg is still up; unknown counts as ended (Telnyx keeps ended legs for 10
    /// minutes, after that the id is simply unknown).
    pub async fn is_alive(&self, call: &str) -> bool {
        self.client
            .call_status(&CallControlId::from(call))
            .await
            .is_ok_and(|status| status.is_alive)
    }

    async fn send(&self, call: &str, command: Command) -> Result<(), CarrierError> {
        self.client
            .command(&CallControlId::from(call), &command)
            .await
            .map_err(CarrierError::from)
    }
}
