//! Runs one pipeline over one event: the steps in order, then the choice of destinations.
//!
//! Pure apart from classification (which may call the model): the result says what to
//! record and what to deliver, and the runner commits both in one transaction.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::classify::Classifier;
use super::condition::{Condition, ConditionInput};
use super::spec::{DestinationKind, DestinationSpec, PipelineSpec, Step};
use crate::store::{DeliveryId, EventId};

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
    /// Shared by every webhook of the run: the body is the same for all of them.
    pub body: Arc<str>,
}

/// What one pipeline did with one event.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Recorded on the event (`GET /v1/events/{id}` → `pipeline.runs[]`).
    pub trace: Value,
    pub labels: Map<String, Value>,
    pub deliveries: Vec<PlannedDelivery>,
}

pub async fn run(
    spec: &PipelineSpec,
    destinations: &[Arc<DestinationSpec>],
    event: EventView<'_>,
    classifier: &Classifier,
) -> RunResult {
    let mut labels = Map::new();
    let mut steps = Vec::with_capacity(spec.steps.len());
    // The payload that leaves Klaxon; copied only when a redact step changes it.
    let mut outgoing = Cow::Borrowed(event.payload);
    let mut passed = true;

    for step in &spec.steps {
        match step {
            Step::Classify(classify) => {
                let decision = classifier.classify(classify, event.payload).await;
                steps.push(json!({
                    "step": "classify",
                    "field": classify.field,
                    "label": decision.label,
                    "source": decision.source,
                    "reason": decision.reason,
                }));
                labels.insert(classify.field.clone(), Value::String(decision.label));
            }
            Step::Filter(condition) => {
                let matched = holds(condition, event, &labels, "filter", &spec.name);
                steps.push(json!({
                    "step": "filter",
                    "expression": condition.source(),
                    "matched": matched,
                }));
                if !matched {
                    passed = false;
                    break;
                }
            }
            Step::Redact(redactor) => {
                let mut copy = outgoing.into_owned();
                let replaced = redactor.redact_value(&mut copy);
                outgoing = Cow::Owned(copy);
                steps.push(json!({ "step": "redact", "replacements": replaced }));
            }
        }
    }

    let mut chosen = Vec::new();
    let mut deliveries = Vec::new();
    if passed {
        // Serializing JSON values and string-keyed maps cannot fail.
        let body: Arc<str> = serde_json::to_string(&DeliveryBody {
            id: event.id,
            labels: &labels,
            occurred_at: event.occurred_at,
            payload: &outgoing,
            event_type: event.event_type,
        })
        .unwrap_or_default()
        .into();
        for destination in destinations {
            let when = destination
                .when
                .as_ref()
                .is_none_or(|c| holds(c, event, &labels, "when", &destination.name));
            let mut entry = json!({
                "name": destination.name,
                "kind": destination.kind.as_str(),
                "chosen": when,
            });
            if let Some(condition) = &destination.when {
                entry["when"] = Value::String(condition.source().to_owned());
            }
            if when && let DestinationKind::Webhook(_) = destination.kind {
                let id = DeliveryId::new();
                entry["delivery_id"] = Value::String(id.to_string());
                deliveries.push(PlannedDelivery {
                    id,
                    destination: destination.clone(),
                    body: body.clone(),
                });
            }
            chosen.push(entry);
        }
    }

    RunResult {
        trace: json!({
            "pipeline": spec.name,
            "outcome": if passed { "routed" } else { "filtered" },
            "steps": steps,
            "labels": labels,
            "destinations": chosen,
        }),
        labels,
        deliveries,
    }
}

/// What a webhook receives. Serialized straight from borrowed parts: no copy of the payload.
#[derive(Serialize)]
struct DeliveryBody<'a> {
    id: EventId,
    labels: &'a Map<String, Value>,
    occurred_at: &'a str,
    payload: &'a Value,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// Evaluates a condition; an evaluation error is "no match", logged once per event.
fn holds(
    condition: &Condition,
    event: EventView<'_>,
    labels: &Map<String, Value>,
    role: &str,
    owner: &str,
) -> bool {
    let input = ConditionInput {
        event_type: event.event_type,
        payload: event.payload,
        labels,
    };
    match condition.evaluate(&input) {
        Ok(matched) => matched,
        Err(error) => {
            tracing::warn!(%error, expression = condition.source(), role, owner, event = %event.id, "condition could not be evaluated; treated as no match");
            false
        }
    }
}
