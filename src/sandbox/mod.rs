//! Simulated external services that Klaxon talks to over real HTTP when no credentials are
//! configured, so that demos and tests run the production client code end to end.
//!
//! - [`carrier`]: Telnyx Call Control (calls, scripted callees, signed webhooks).

pub mod carrier;
