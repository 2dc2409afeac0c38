//! Pipelines: what happens to an event after it is stored.
//!
//! A pipeline takes events by type, runs its steps in order, and sends the result to its
//! destinations:
//!
//! - [`settings`]: `[[pipelines]]` as written and its validation, and the built-in pipelines.
//! - [`spec`]: the validated shape of a pipeline (built by [`settings`]).
//! - [`classify`] with [`builtin_classifier`]: a label from the model, the cache, or rules.
//! - [`condition`]: CEL expressions for `filter` steps and destination `when`s.
//! - [`redact`]: PII removal before anything leaves Klaxon.
//! - [`merge_lookup`]: the Merge object behind an event, read again with its relations.
//! - [`effects`]: the I/O a run asks for (model, Merge, transition state), behind a trait.
//! - [`run`]: one pipeline over one event, producing a trace and planned deliveries.
//! - [`runner`]: the background task that runs pipelines for every accepted event.

pub mod builtin_classifier;
pub mod classify;
pub mod condition;
pub mod effects;
pub mod merge_lookup;
pub mod redact;
pub mod run;
pub mod runner;
pub mod settings;
pub mod spec;

pub use effects::{LiveEffects, StepEffects, StepServices};
pub use runner::{PipelineRunner, RunnerParts};

/// Whether some of `pipelines` takes an event type, as a predicate the intake can keep.
pub fn takes(pipelines: &[spec::PipelineSpec]) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    let patterns: Vec<spec::TypePattern> = pipelines
        .iter()
        .flat_map(|p| p.on.iter().cloned())
        .collect();
    move |event_type| patterns.iter().any(|p| p.matches(event_type))
}
