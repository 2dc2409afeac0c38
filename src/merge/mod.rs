//! The Merge.dev Unified API: the ticketing and CRM reads and write-backs Klaxon makes, and
//! the webhook envelope Merge sends (`docs/merge.md` is the reference for every field).
//!
//! - [`client`]: [`MergeClient`], configured by [`MergeConfig`] (API key, account tokens per
//!   linked account), with retries ([`RetryPolicy`]) and typed errors ([`MergeError`]).
//! - [`model`]: typed, lenient subsets of Ticket, Contact, Account, Opportunity, Stage and User,
//!   relations as id-or-expanded ([`Related`]), and the write envelope
//!   ([`MergeWriteResponse`]).
//! - [`webhook`]: `{hook, linked_account, data}` read into a [`MergeEvent`] with Klaxon's
//!   event type (`merge.ticket.changed`, …).
//! - `retry` and `error`: backoff timing as pure functions, and [`MergeError`].
//! - [`settings`]: `[merge]` and the reference apps' Merge variables, validated into
//!   [`settings::MergeSettings`] (API access, the rules of the built-in Merge pipelines, the
//!   poll interval).
//!
//! What it does not do: verify webhook signatures or compute the dedupe key
//! (`crate::signing::merge` does, on the raw bytes, before [`webhook::parse`]), store account
//! tokens or last-seen state, or decide whether a change warrants an escalation. It knows
//! nothing of axum or the store, reads no settings file itself, and never logs keys, tokens or bodies. The
//! poll that lists what changed since the last one and stores it as events is an ingress:
//! `crate::ingress::merge_poll`.

pub mod client;
pub mod model;
pub mod payload;
pub mod settings;
pub mod webhook;
pub mod writeback;

mod error;
mod retry;

pub use client::{AccountTokens, DEFAULT_API_BASE, MergeClient, MergeConfig, MergeSecret};
pub use error::MergeError;
pub use model::{
    Account, Comment, Contact, MergeWriteResponse, Note, Opportunity, OpportunityStatus, Page,
    Problem, ProblemSource, Related, Stage, Ticket, TicketPriority, TicketStatus, TicketingUser,
    User, Written,
};
pub use retry::RetryPolicy;
pub use webhook::{Change, MergeEvent, MergeModel, WebhookError};
