//! Ingresses beside HTTP: background tasks that bring events in from elsewhere and store
//! them through [`crate::intake`], like the HTTP endpoints do.
//!
//! - [`merge_poll`]: the Merge reconciliation poll, for the webhooks Merge missed.
//! - [`alerts`]: alert sources (Alertmanager, Grafana, PagerDuty Events v2): their formats,
//!   de-duplication into one escalation per open alert, and resolve/acknowledge.

pub mod alerts;
pub mod merge_poll;

pub use merge_poll::{MergeAccount, PollOutcome, PolledModel, Reconciler, ReconcilerConfig};
