//! Outbound delivery: sending an event to a destination, and trying again until it lands.
//!
//! - [`webhook`]: one signed HTTP attempt, with the SSRF guard.
//! - [`public_address`]: the guard's rule: which IP addresses count as public.
//! - [`schedule`]: when the next attempt is due (backoff, jitter, `Retry-After`).
//! - [`worker`]: the delivery worker: takes fresh jobs from the pipeline runner, claims due
//!   retries from the store, runs attempts with bounded concurrency, records every one.
//!
//! Every delivery is a row in the store before it is attempted, so a crash or restart loses
//! none; a receiver may see a delivery twice (at-least-once) and dedupes on `webhook-id`.

pub mod public_address;
pub mod schedule;
pub mod webhook;
pub mod worker;

pub use worker::{DeliveryWorker, WorkerHandle};
