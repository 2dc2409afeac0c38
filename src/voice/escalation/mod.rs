//! Escalations: ring people in order until one takes the event.
//!
//! - [`machine`]: the pure state machine (inputs → actions), tested as tables.
//! - [`plan`]: the call slots, connect target and briefing context, fixed at creation.

pub mod machine;
pub mod plan;
