//! Escalations: ring people in order until one takes the event.
//!
//! - [`machine`]: the pure state machine (inputs → actions), tested as tables.
//! - [`plan`]: the call slots, connect target and briefing context, fixed at creation.
//! - [`event`]: what an escalation tells the world, as events pipelines route.

pub mod event;
pub mod machine;
pub mod plan;
