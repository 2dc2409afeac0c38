//! Escalations: ring people in order until one takes the event.
//!
//! - [`machine`]: the pure state machine (inputs → actions), tested as tables.

pub mod machine;
