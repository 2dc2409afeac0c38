//! Phone escalation over Telnyx Call Control.
//!
//! - [`escalation`]: who to ring next and what to do with what they say.

pub mod escalation;
