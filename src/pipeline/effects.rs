//! What a pipeline run asks of the world outside its own decisions: a label for `classify`
//! (the model or its cache), a fresh Merge object for `merge_lookup`, and the remembered
//! value of a `transition` step's condition.
//!
//! [`run`](super::run) decides everything else itself (filters, conditions, routing,
//! rendering) and reaches the outside only through [`StepEffects`], so it can be exercised
//! with a stub. [`LiveEffects`] is the production implementation over [`StepServices`] and
//! the store.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::classify::{Classifier, Decision};
use super::merge_lookup::{self, Lookup, MergeLookup, MergeModelKind};
use super::spec::ClassifySpec;
use crate::clock;
use crate::store::{EventId, Store, StoreError};

/// What steps need from outside Klaxon: the model (via the classifier) and Merge.
pub struct StepServices {
    pub classifier: Classifier,
    /// For `merge_lookup`; without it the step keeps the payload as it is.
    pub merge: Option<MergeLookup>,
}

impl StepServices {
    pub fn new(classifier: Classifier) -> Self {
        StepServices {
            classifier,
            merge: None,
        }
    }
}

/// A `transition` step's question: the condition's value now for one object.
#[derive(Debug, Clone, Copy)]
pub struct TransitionCheck<'a> {
    /// The step's id (`<pipeline>/<index>`), under which the last value is kept.
    pub step: &'a str,
    /// The object's key, read from the payload.
    pub key: &'a str,
    /// Whether the condition holds for this event.
    pub holds: bool,
    /// Pass again once the condition has held this long since the last pass.
    pub repage_after: Option<Duration>,
    /// The event asking, recorded with the value.
    pub event: EventId,
}

/// The I/O a pipeline run may need. Futures are `Send` so runs can go on any task.
pub trait StepEffects: Sync {
    /// A label for a `classify` step. Never fails: a model failure is a fallback decision
    /// that says so in its `source` and `reason`.
    fn classify(
        &self,
        spec: &ClassifySpec,
        payload: &Value,
    ) -> impl Future<Output = Decision> + Send;

    /// The payload with the event's Merge object read again laid over it, or the payload as
    /// it came with why not.
    fn merge_lookup(
        &self,
        model: MergeModelKind,
        payload: &Value,
    ) -> impl Future<Output = Lookup> + Send;

    /// Records the condition's value for the object; true when the event goes on (the
    /// condition became true, or still holds after `repage_after`).
    fn transition(
        &self,
        check: TransitionCheck<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The production effects: the classifier and Merge of [`StepServices`], transitions in the
/// store (without one, there is nothing to compare with and a holding condition passes).
#[derive(Clone, Copy)]
pub struct LiveEffects<'s> {
    services: &'s StepServices,
    transitions: Option<&'s Store>,
}

impl<'s> LiveEffects<'s> {
    pub fn new(services: &'s StepServices, transitions: Option<&'s Store>) -> Self {
        LiveEffects {
            services,
            transitions,
        }
    }
}

impl StepEffects for LiveEffects<'_> {
    async fn classify(&self, spec: &ClassifySpec, payload: &Value) -> Decision {
        self.services.classifier.classify(spec, payload).await
    }

    async fn merge_lookup(&self, model: MergeModelKind, payload: &Value) -> Lookup {
        match &self.services.merge {
            Some(merge) => merge.enrich(model, payload).await,
            None => merge_lookup::unchanged(payload, "Merge is not configured"),
        }
    }

    async fn transition(&self, check: TransitionCheck<'_>) -> Result<bool, StoreError> {
        let Some(store) = self.transitions else {
            return Ok(check.holds);
        };
        let repage = check
            .repage_after
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        store
            .transition(
                check.step.to_owned(),
                check.key.to_owned(),
                check.holds,
                repage,
                clock::now_ms(),
                check.event.to_string(),
            )
            .await
    }
}
