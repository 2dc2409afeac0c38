//! Outbound delivery: trying a delivery until it lands, whatever its kind.
//!
//! - [`schedule`]: when the next attempt is due (backoff, jitter, `Retry-After`).
//! - [`settings`]: `[delivery]` as written and its validation into [`DeliverySettings`].
//! - [`worker`]: the delivery worker: takes fresh jobs from the pipeline runner, claims due
//!   retries from the store, runs attempts with bounded concurrency through
//!   [`crate::destinations::Outbox`], records every one.
//!
//! Every delivery is a row in the store before it is attempted, so a crash or restart loses
//! none; a receiver may see a delivery twice (at-least-once) and dedupes on its id.

pub mod schedule;
pub mod settings;
pub mod worker;

use std::time::Duration;

pub use worker::{DeliveryWorker, WorkerHandle};

/// Outbound delivery, as the settings tune it.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Delays before each retry; attempts = 1 + its length.
    pub retry_schedule: Vec<Duration>,
    pub max_in_flight: usize,
}
