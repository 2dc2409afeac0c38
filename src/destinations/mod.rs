//! Destinations: where a routed event goes, one module per kind.
//!
//! - [`email`]: the [`Message`] as a multipart e-mail, over SMTP.
//! - [`report`]: how an attempt ended ([`Verdict`]), as every kind reports it.
//! - [`message`]: the human-readable [`Message`] chat, e-mail and Notion kinds send.

pub mod email;
pub mod message;
pub mod report;

pub use message::{Message, MessageField};
pub use report::{Report, Verdict};
