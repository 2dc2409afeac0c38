//! The Telnyx Call Control client and the typed reading of Telnyx call webhooks.
//!
//! What lives here (`docs/telnyx.md` is the reference for every field and code):
//!
//! - [`TelnyxClient`]: `POST /v2/calls` ([`TelnyxClient::dial`]), the per-leg actions
//!   ([`TelnyxClient::command`] with a [`Command`]) and `GET /v2/calls/{id}`
//!   ([`TelnyxClient::call_status`]) for reconciliation after a restart.
//! - The request types in [`commands`], serialized exactly as the official schemas want:
//!   unset optional fields are left out, so Telnyx applies its own defaults.
//! - [`ClientState`] and [`CommandId`], the two Klaxon conventions of docs/telnyx.md §2: an opaque,
//!   base64 JSON hint echoed on webhooks, and a deterministic id that lets Telnyx drop a
//!   duplicate command.
//! - [`TelnyxError`]: what went wrong, as variants a caller branches on ([`TelnyxError::CallGone`],
//!   [`TelnyxError::NotAnsweredYet`], [`TelnyxError::RateLimited`], …).
//! - Retries ([`RetryPolicy`]): 408, 429, 5xx and network failures are retried inside one call
//!   with the *same* body, hence the same `command_id`, so Telnyx ignores a duplicate that did
//!   get through. Other 4xx are never retried.
//! - Dial pacing: every `POST /v2/calls` attempt takes a token from a bucket refilled at
//!   `dials_per_second`, so a burst of escalations stays under the account's dials-per-second
//!   limit (docs/telnyx.md §1.2) instead of collecting 429/90103. Commands on live legs are not
//!   paced.
//! - [`messages`]: `POST /v2/messages` ([`TelnyxClient::send_message`]), the texts of SMS
//!   escalation steps; retried only when nothing went out, since a message has no `command_id`.
//! - [`events`]: the webhook envelope parsed into a [`CallEvent`]. Unknown event types and enum
//!   values are kept as `Other(..)`, never an error.
//!
//! What it deliberately does not do: verify webhook signatures (`crate::signing::telnyx` does,
//! on the raw bytes, before [`events::parse`] runs), dedupe events, keep call state, or decide
//! what an event means for an escalation. It knows nothing of axum, the store or settings
//! files. It never logs the API key, request bodies (they hold phone numbers) or error details.

pub mod commands;
pub mod events;
pub mod messages;

mod client;
mod errors;
mod pacing;
mod retry;
mod state;

use crate::redacted::redacted_string;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use client::TelnyxClient;
pub use commands::{
    AnsweringMachineDetection, Bridge, Command, Dial, GatherUsingAi, GatherUsingSpeak, Hangup,
    Speak, TranscriptionStart, Transfer,
};
pub use errors::{ApiError, ApiErrorSource, TelnyxError, codes};
pub use events::{CallEvent, CallEventKind, EventError};
pub use messages::{Message, SentMessage};
pub use retry::RetryPolicy;
pub use state::{ClientState, ClientStateError, CommandId, LegRole};

/// Telnyx API v2.
pub const DEFAULT_API_BASE: &str = "https://api.telnyx.com/v2";
/// Dials per second when none is configured: a third of Telnyx's default account limit
/// (30/s), so Klaxon leaves room for anything else dialing on the same account.
pub const DEFAULT_DIALS_PER_SECOND: f64 = 10.0;
/// Deadline for one HTTP attempt. Telnyx suggests resending a command after about 500 ms
/// without an answer; we wait longer because a resend of a dial costs a DPS token, and the
/// retry budget ([`RetryPolicy::budget`]) still bounds the whole call.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

redacted_string! {
    /// A Telnyx API v2 key, sent as `Authorization: Bearer <key>`.
    #[derive(PartialEq, Eq)]
    pub struct ApiKey;
}

/// Where and how to reach Telnyx. `Debug` is safe to log: the key is redacted.
#[derive(Debug, Clone)]
pub struct TelnyxConfig {
    /// The API base, without a trailing slash; `/calls…` is appended to it. Tests and the
    /// sandbox point it at a fake carrier on loopback.
    pub api_base: String,
    pub api_key: ApiKey,
    /// The Call Control App id sent with every dial. It also decides where webhooks go when a
    /// dial sets no `webhook_url`.
    pub connection_id: String,
    /// Our caller id (`TELNYX_PHONE_NUMBER`), +E.164. Used as `from` of every dial and
    /// transfer that does not set one: a transfer without `from` would show the engineer's
    /// own number to the customer (docs/telnyx.md §8 #4).
    pub from_number: String,
    /// Sustained dial rate; a burst of up to one second's worth goes out at once. Keep it at
    /// or below 5/6 of the account's DPS limit (25/s for the default 30/s): with the burst,
    /// a rolling 5-second window then stays under Telnyx's 5 × DPS sum.
    pub dials_per_second: f64,
    /// Deadline for one HTTP attempt, from connect to the last byte. Never longer than what
    /// is left of [`RetryPolicy::budget`].
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl TelnyxConfig {
    /// A configuration with the defaults for everything but the account-specific values.
    pub fn new(
        api_key: ApiKey,
        connection_id: impl Into<String>,
        from_number: impl Into<String>,
    ) -> Self {
        TelnyxConfig {
            api_base: DEFAULT_API_BASE.to_owned(),
            api_key,
            connection_id: connection_id.into(),
            from_number: from_number.into(),
            dials_per_second: DEFAULT_DIALS_PER_SECOND,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }
    };
}

string_id!(
    /// One leg, the address of every command (`/v2/calls/{call_control_id}/actions/…`).
    ///
    /// Opaque: it can hold `:`, `_`, `-` and `=` (`v3:MdI9…`) and is never parsed, only
    /// stored, compared and sent back.
    CallControlId
);
string_id!(
    /// One leg, as a UUID; for correlation and logs.
    CallLegId
);
string_id!(
    /// All legs of one logical call: legs dialed with `link_to` share it.
    CallSessionId
);

/// The three ids of a leg Telnyx has accepted to dial. Store them before acting on any
/// webhook: `call.initiated` and even `call.answered` can arrive before the dial response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub call_control_id: CallControlId,
    pub call_leg_id: CallLegId,
    pub call_session_id: CallSessionId,
}

/// What `GET /v2/calls/{id}` says about a leg. Telnyx keeps it for 10 minutes after the call
/// ends, which is enough to reconcile legs that were live when Klaxon stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct CallStatus {
    pub call_control_id: CallControlId,
    pub call_leg_id: CallLegId,
    pub call_session_id: CallSessionId,
    /// False once the leg has ended (and always false in a dial response).
    pub is_alive: bool,
    /// The last `client_state` set on the leg, if it follows our convention.
    pub client_state: Option<ClientState>,
    /// As Telnyx wrote it (ISO 8601); informational only.
    pub start_time: Option<String>,
    /// Present only once the leg has ended.
    pub end_time: Option<String>,
    pub call_duration_secs: Option<u64>,
}
