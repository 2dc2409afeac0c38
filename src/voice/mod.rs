//! Phone escalation over Telnyx Call Control.
//!
//! - [`escalation`]: who to ring next and what to do with what they say.
//! - [`settings`]: the carrier account, policies and people, validated.

pub mod escalation;
pub mod settings;
