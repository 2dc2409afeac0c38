//! Phone escalation over Telnyx Call Control.
//!
//! - [`settings`]: the carrier account, policies and people, validated.
//! - [`escalation`]: who to ring next and what to do with what they say (pure).
//! - [`engine`]: runs escalations, persisting each transition before acting on it.
//! - [`carrier`]: the call operations the engine needs, as Telnyx commands.
//! - [`telnyx`]: the Telnyx Call Control client and webhook events.
//! - [`script`]: the words said on a call.
//! - [`webhook`]: call events → escalation inputs.

pub mod carrier;
pub mod engine;
pub mod enrich;
pub mod escalation;
pub mod script;
pub mod settings;
pub mod spoken;
pub mod telnyx;
pub mod webhook;

pub use engine::EngineHandle;
