//! Texting on-call people: policy steps that send an SMS before (or instead of) a call, and
//! the replies that acknowledge an escalation (docs/sms.md).
//!
//! - [`Texting`]: a step's `sms = "before" | "instead"`, carried by each call slot.
//! - [`settings`]: the sending number and messaging profile (`TELNYX_SMS_NUMBER`,
//!   `TELNYX_MESSAGING_PROFILE_ID`), validated.
//! - [`words`]: the text sent, and the escalation's short code (pure).
//! - [`reply`]: what a reply means ("1", "ack", "ack <code>") for the escalations open for
//!   its number (pure).
//! - [`events`]: Telnyx message webhooks (`message.received`, `message.sent`,
//!   `message.finalized`) parsed into what Klaxon uses.
//!
//! What it does not do: send anything (the engine does, through
//! [`crate::voice::carrier::Carrier::text`] and the Telnyx client's
//! [`crate::voice::telnyx::TelnyxClient::send_message`]), verify signatures (the HTTP door
//! does, as for call webhooks), or end escalations (the engine's settlement does).

pub mod events;
pub mod reply;
pub mod settings;
pub mod words;

use serde::{Deserialize, Serialize};

pub use settings::SmsSettings;

/// When a policy step texts its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Texting {
    /// A text first, then the call as usual: the person knows why the phone rings, and can
    /// acknowledge by replying without picking up.
    Before,
    /// A text and no call: the step waits `ring_timeout_secs` for a reply, then moves on.
    Instead,
}
