//! Runs one pipeline over one event: the steps in order, then the choice of destinations.
//!
//! Pure apart from what it asks through [`StepEffects`] (a label from the model, a Merge
//! object, a transition's last value): the result says what to record and what to deliver,
//! and the runner commits both in one transaction. [`run`] is the production entry over
//! [`StepServices`]; [`run_with`] takes any effects (the tests' stubs).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::classify::DecisionSource;
use super::condition::{Condition, ConditionInput};
use super::effects::{LiveEffects, StepEffects, TransitionCheck};
// Where callers have always found it.
pub use super::effects::StepServices;
use super::merge_lookup::{LookupSource, MergeModelKind};
use super::spec::{DestinationKind, DestinationSpec, PipelineSpec, Step};
use crate::destinations::{Routed, Target};
use crate::store::{DeliveryId, EscalationId, EventId, Store};
use crate::voice::escalation::plan::{Plan, plan as escalation_plan};
use crate::voice::settings::Policy;

/// The event as the pipeline sees it.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub id: EventId,
    pub event_type: &'a str,
    pub occurred_at: &'a str,
    pub payload: &'a Value,
}

/// A delivery the run decided on.
#[derive(Debug, Clone)]
pub struct PlannedDelivery {
    pub id: DeliveryId,
    pub destination: Arc<DestinationSpec>,
    pub target: Target,
    /// The request's body, rendered by the destination's kind.
    pub body: String,
}

/// What one pipeline did with one event; recorded on the event
/// (`GET /v1/events/{id}` → `pipeline.runs[]`). Borrowed from the spec, so recording a run
/// copies no names.
#[derive(Debug, Clone, Serialize)]
pub struct RunTrace<'a> {
    pub pipeline: &'a str,
    pub outcome: Outcome,
    pub steps: Vec<StepTrace<'a>>,
    /// The labels the classify steps added.
    pub labels: Map<String, Value>,
    pub destinations: Vec<DestinationTrace<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every filter passed; destinations were considered.
    Routed,
    /// A filter said no; nothing was sent.
    Filtered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::Filtered => "filtered",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub enum StepTrace<'a> {
    Classify {
        field: &'a str,
        label: String,
        source: DecisionSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Filter {
        expression: &'a str,
        matched: bool,
    },
    Redact {
        replacements: usize,
    },
    Transition {
        expression: &'a str,
        /// The object's key (`null` when the payload lacks the field).
        key: Option<String>,
        holds: bool,
        /// True when the condition became true (or re-paged): the event goes on.
        passed: bool,
    },
    #[serde(rename = "merge_lookup")]
    MergeLookup {
        model: MergeModelKind,
        source: LookupSource,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct DestinationTrace<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub chosen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<DeliveryId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_id: Option<EscalationId>,
}

/// A phone escalation the run decided on.
#[derive(Debug, Clone)]
pub struct PlannedEscalation {
    pub id: EscalationId,
    pub destination: Arc<DestinationSpec>,
    pub policy: String,
    pub plan: Plan,
}

/// A run's trace and what it planned.
#[derive(Debug, Clone)]
pub struct RunResult<'a> {
    pub trace: RunTrace<'a>,
    pub deliveries: Vec<PlannedDelivery>,
    pub escalations: Vec<PlannedEscalation>,
}

/// Runs `spec` over `event` with the production effects: `services`, and transitions kept
/// in `transitions` (without a store a holding condition simply passes).
pub async fn run<'a>(
    spec: &'a PipelineSpec,
    destinations: &'a [Arc<DestinationSpec>],
    event: EventView<'_>,
    services: &StepServices,
    policies: &BTreeMap<String, Policy>,
    transitions: Option<&Store>,
) -> RunResult<'a> {
    let effects = LiveEffects::new(services, transitions);
    run_with(spec, destinations, event, &effects, policies).await
}

/// Runs `spec` over `event`, asking `effects` for everything outside Klaxon.
pub async fn run_with<'a, E: StepEffects>(
    spec: &'a PipelineSpec,
    destinations: &'a [Arc<DestinationSpec>],
    event: EventView<'_>,
    effects: &E,
    policies: &BTreeMap<String, Policy>,
) -> RunResult<'a> {
    let mut labels = Map::new();
    let mut steps = Vec::with_capacity(spec.steps.len());
    // `merge_lookup` comes first (settings enforce it): every later step sees its payload.
    let looked_up = match spec.steps.first() {
        Some(Step::MergeLookup(model)) => {
            let lookup = effects.merge_lookup(*model, event.payload).await;
            steps.push(StepTrace::MergeLookup {
                model: *model,
                source: lookup.source,
                error: lookup.error,
            });
            Some(lookup.payload)
        }
        _ => None,
    };
    let event = EventView {
        payload: looked_up.as_ref().unwrap_or(event.payload),
        ..event
    };
    // The payload that leaves Klaxon; copied only when a redact step changes it.
    let mut outgoing = Cow::Borrowed(event.payload);
    let mut outcome = Outcome::Routed;

    for step in &spec.steps {
        match step {
            Step::MergeLookup(_) => {}
            Step::Classify(classify) => {
                // The model sees what a redact step left: redaction comes before anything
                // leaves Klaxon, the model endpoint included.
                let decision = effects.classify(classify, &outgoing).await;
                labels.insert(
                    classify.field.clone(),
                    Value::String(decision.label.clone()),
                );
                steps.push(StepTrace::Classify {
                    field: &classify.field,
                    label: decision.label,
                    source: decision.source,
                    reason: decision.reason,
                });
            }
            Step::Filter(condition) => {
                let matched = holds(condition, event, &labels, "filter", &spec.name);
                steps.push(StepTrace::Filter {
                    expression: condition.source(),
                    matched,
                });
                if !matched {
                    outcome = Outcome::Filtered;
                    break;
                }
            }
            Step::Transition(transition) => {
                let holds = holds(&transition.when, event, &labels, "transition", &spec.name);
                let key = transition
                    .key
                    .split('.')
                    .try_fold(event.payload, |v, part| v.get(part))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                let passed = match &key {
                    Some(key) => effects
                        .transition(TransitionCheck {
                            step: &transition.id,
                            key,
                            holds,
                            repage_after: transition.repage_after,
                            event: event.id,
                        })
                        .await
                        .unwrap_or_else(|error| {
                            // Better to ring twice than never: a store error lets it pass.
                            tracing::error!(%error, step = transition.id, "transition state unavailable; passing");
                            holds
                        }),
                    // Without a key there is nothing to compare with.
                    None => holds,
                };
                steps.push(StepTrace::Transition {
                    expression: transition.when.source(),
                    key,
                    holds,
                    passed,
                });
                if !passed {
                    outcome = Outcome::Filtered;
                    break;
                }
            }
            Step::Redact(redactor) => {
                let mut copy = outgoing.into_owned();
                let replacements = redactor.redact_value(&mut copy);
                outgoing = Cow::Owned(copy);
                steps.push(StepTrace::Redact { replacements });
            }
        }
    }

    let mut chosen = Vec::new();
    let mut deliveries = Vec::new();
    let mut escalations = Vec::new();
    if outcome == Outcome::Routed {
        let trace = TemplateTrace {
            pipeline: &spec.name,
            steps: &steps,
        };
        // The webhook document is built on first use and shared: a pipeline that only logs
        // never serializes a body.
        let routed = Routed::new(
            event.id,
            event.event_type,
            event.occurred_at,
            &outgoing,
            &labels,
            &trace,
        );
        for destination in destinations {
            let when = destination
                .when
                .as_ref()
                .is_none_or(|c| holds(c, event, &labels, "when", &destination.name));
            let mut delivery_id = None;
            let mut escalation_id = None;
            if when
                && let DestinationKind::Voice(voice) = &destination.kind
                && let Some(policy) = policies.get(&voice.policy)
            {
                let id = EscalationId::new();
                escalation_id = Some(id);
                escalations.push(PlannedEscalation {
                    id,
                    destination: destination.clone(),
                    policy: voice.policy.clone(),
                    plan: escalation_plan(
                        policy,
                        voice,
                        event.event_type,
                        event.payload,
                        &outgoing,
                        &labels,
                    ),
                });
            }
            if when && let DestinationKind::Deliver(kind) = &destination.kind {
                let id = DeliveryId::new();
                delivery_id = Some(id);
                deliveries.push(PlannedDelivery {
                    id,
                    destination: destination.clone(),
                    target: kind.target(),
                    body: kind.render(&routed),
                });
            }
            chosen.push(DestinationTrace {
                name: &destination.name,
                kind: destination.kind.as_str(),
                chosen: when,
                when: destination.when.as_ref().map(|c| c.source()),
                delivery_id,
                escalation_id,
            });
        }
    }

    RunResult {
        trace: RunTrace {
            pipeline: &spec.name,
            outcome,
            steps,
            labels,
            destinations: chosen,
        },
        deliveries,
        escalations,
    }
}

/// What templates see of the run as `trace`.
#[derive(Serialize)]
struct TemplateTrace<'s, 'a> {
    pipeline: &'a str,
    steps: &'s [StepTrace<'a>],
}

/// Evaluates a condition; an evaluation error is "no match", logged once per event.
fn holds(
    condition: &Condition,
    event: EventView<'_>,
    labels: &Map<String, Value>,
    role: &str,
    owner: &str,
) -> bool {
    // `matches` logs an evaluation error as "no match"; the span says where it happened.
    let _span = tracing::info_span!("condition", role, owner, event = %event.id).entered();
    condition.matches(&ConditionInput {
        event_type: event.event_type,
        payload: event.payload,
        labels,
    })
}

#[cfg(test)]
mod tests;
