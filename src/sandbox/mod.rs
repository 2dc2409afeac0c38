//! Simulated external services, so Klaxon runs end to end with no accounts: Klaxon's own
//! code talks to them over real HTTP on loopback, exactly as it talks to the real ones.
//!
//! - [`carrier`]: a Telnyx Call Control carrier with scripted callees (`klaxon sandbox
//!   carrier`, and what `klaxon serve` uses when `TELNYX_API_KEY` is not set).
//! - [`chat`]: Slack, Discord, Telegram and Notion message APIs in one server, for the chat
//!   and Notion destinations (its own accept loop, so a scripted failure can drop a connection).
//! - [`merge`]: a Merge.dev API with sample tickets, contacts, deals and users, recording
//!   writes and sending signed webhooks (`klaxon sandbox merge`, and what `klaxon serve`
//!   uses when `MERGE_API_KEY` is not set).
//! - [`model`]: an OpenAI-compatible chat model that answers from the request alone, for
//!   `klaxon demo` and tests.
//!
//! Each is an axum app on a loopback listener, run by [`background::BackgroundServer`].

pub(crate) mod background;
pub mod carrier;
pub mod chat;
pub mod merge;
pub mod model;
