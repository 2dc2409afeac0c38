//! The human-readable form of an event that chat, e-mail and Notion destinations send: a
//! title, a text and a few fields, rendered from the destination's templates (or the kind's
//! default ones) when the pipeline routes the event.

use serde::{Deserialize, Serialize};

/// An event, said for people. Kinds turn it into their own request (Block Kit, an embed, an
/// HTML e-mail …) and must escape every part of it for their markup: each string may hold
/// anything the event held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// One line (a header, an e-mail subject, a page title).
    pub title: String,
    /// The body: a few lines of plain text.
    pub text: String,
    /// Short facts shown side by side: ("Priority", "URGENT").
    pub fields: Vec<MessageField>,
    /// The event's `urgency` label (or priority) when it has one: kinds may colour by it.
    pub urgency: Option<String>,
    /// The event on the live page, when `PUBLIC_URL` is set.
    pub link: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: String,
}

/// True when `link` is an http(s) URL with a host: the only links a kind may make clickable
/// (a `javascript:` or `data:` one stays text).
pub fn is_web_link(link: &str) -> bool {
    reqwest::Url::parse(link)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageField {
    pub name: String,
    pub value: String,
}
