//! Klaxon turns business events into the right human response, fast.
//!
//! The crate is a library with a thin binary (`src/main.rs`). A newcomer can find any feature
//! from this map:
//!
//! - [`settings`]: settings from an optional TOML file overlaid by environment variables,
//!   parsed once into typed [`settings::Settings`] (pipelines included) by calling each
//!   module's validation; `klaxon check` runs the same validation and lists the risks.
//! - [`config`]: the machinery under it: the file, the environment, where each value came
//!   from, the problems collector every module reports into, and shared value parsers.
//! - [`http`]: the axum routers (ingest, events, deliveries, destinations, health), the
//!   JSON error type, and the accept loop with its timeouts and connection limit.
//! - [`open_files`]: the open-files limit, raised at start-up, and the connection limit it
//!   leaves room for.
//! - [`store`]: the durable store: schema, migrations and the SQLite group-commit writer.
//! - [`intake`]: where every event enters: stored durably, then handed to the pipelines;
//!   used alike by HTTP, the Merge poll and the events Klaxon emits itself.
//! - [`ingress`]: ingresses beside HTTP (the Merge reconciliation poll), and the alert
//!   sources' formats, de-duplication and resolve (their HTTP doors are in [`http`]).
//! - [`oncall`]: on-call schedules (rotations, layers, iCalendar layers, overrides): who is
//!   on call and why, the override cache, and the schedule's iCalendar feed.
//! - [`people`]: the phone book (`[people]` by e-mail) and the E.164 check.
//! - [`pipeline`]: what happens after an event is stored: classify, filter, redact, route.
//! - [`delivery`]: signed outbound webhooks, retries with backoff, the dead letter queue.
//! - [`llm`]: the OpenAI-compatible chat client behind `classify` and briefings.
//! - [`merge`]: the Merge.dev client, models, webhook envelope and reconciliation poller.
//! - [`signing`]: the webhook signature schemes Klaxon speaks (ingest, Standard Webhooks,
//!   Merge, Telnyx), each with its test vectors.
//! - [`client`]: the small HTTP client behind `klaxon events …` and `klaxon dlq …`.
//! - [`clock`]: wall-clock time in the forms the store keeps.
//! - [`error_text`]: an error and its causes as one line, each cause said once.
//! - [`retry_timing`]: backoff with jitter and `Retry-After`, shared by the API clients and
//!   webhook delivery.
//! - [`demo`]: `klaxon demo`, five scenarios played against Klaxon and the sandboxes in
//!   process, with their timelines printed as they happen.
//! - [`metrics`]: the Prometheus counters and histograms behind `/metrics`.
//! - [`stored_text`]: the check that keeps control characters (NUL first) out of stored keys
//!   and identifiers, on both backends alike.
//! - [`server`]: wires settings, store, workers and routers together and runs until shutdown.

pub mod client;
pub mod clock;
pub mod config;
pub mod delivery;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod destinations;
pub mod error_text;
pub mod http;
pub mod ingress;
pub mod intake;
pub mod llm;
pub mod merge;
pub mod metrics;
pub mod oncall;
pub mod open_files;
pub mod people;
pub mod pipeline;
pub mod retry_timing;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod settings;
pub mod signing;
pub mod store;
pub mod stored_text;
pub mod voice;

mod redacted;
mod wire_enum;

pub use server::serve;
pub use settings::Settings;

/// The version reported by `/health` and `klaxon --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
