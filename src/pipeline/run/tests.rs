//! One pipeline over one event with the outside world stubbed behind [`StepEffects`]: what
//! each step decides, what the trace records, and which destinations are planned.
//!
//! [`World`] plays the model, Merge and the transition store; the model-down test uses the
//! real classifier against a port nothing listens on.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{EventView, Outcome, RunResult, StepServices, StepTrace, run, run_with};
use crate::Settings;
use crate::llm::{ChatModel, ModelConfig};
use crate::pipeline::classify::{Classifier, Decision, DecisionSource};
use crate::pipeline::effects::{StepEffects, TransitionCheck};
use crate::pipeline::merge_lookup::{Lookup, LookupSource, MergeModelKind};
use crate::pipeline::spec::{ClassifySpec, DestinationSpec, PipelineSpec};
use crate::settings::Raw;
use crate::store::{EventId, StoreError};
use crate::voice::settings::Policy;

/// The outside world as one test wants it.
#[derive(Default)]
struct World {
    /// The model's answer by the classify step's field; a field not here finds the model down.
    model: HashMap<&'static str, &'static str>,
    /// The fields Merge answers for `merge_lookup`; `None`: Merge cannot be reached.
    merge: Option<Value>,
    /// Every payload the model was shown.
    shown_to_model: Mutex<Vec<Value>>,
    /// The last value of each transition, by step and key (what the store keeps).
    transitions: Mutex<HashMap<(String, String), bool>>,
    /// The transition store fails every call.
    transitions_down: bool,
}

impl StepEffects for World {
    async fn classify(&self, spec: &ClassifySpec, payload: &Value) -> Decision {
        self.shown_to_model
            .lock()
            .expect("not poisoned")
            .push(payload.clone());
        match self.model.get(spec.field.as_str()) {
            Some(label) => Decision {
                label: (*label).to_owned(),
                source: DecisionSource::Model,
                reason: None,
            },
            None => Decision {
                label: spec.default.clone().unwrap_or_default(),
                source: DecisionSource::Fallback,
                reason: Some("model down".to_owned()),
            },
        }
    }

    async fn merge_lookup(&self, _model: MergeModelKind, payload: &Value) -> Lookup {
        let Some(fresh) = &self.merge else {
            return crate::pipeline::merge_lookup::unchanged(payload, "Merge did not answer");
        };
        let mut merged = payload.clone();
        if let (Some(merged), Some(fresh)) = (merged.as_object_mut(), fresh.as_object()) {
            merged.extend(fresh.clone());
        }
        Lookup {
            payload: merged,
            source: LookupSource::Merge,
            error: None,
        }
    }

    async fn transition(&self, check: TransitionCheck<'_>) -> Result<bool, StoreError> {
        if self.transitions_down {
            return Err(StoreError::Closed);
        }
        let mut last = self.transitions.lock().expect("not poisoned");
        let was = last.insert((check.step.to_owned(), check.key.to_owned()), check.holds);
        Ok(check.holds && was != Some(true))
    }
}

/// A pipeline as settings build it, with its destinations and the escalation policies.
struct Pipeline {
    spec: PipelineSpec,
    destinations: Vec<Arc<DestinationSpec>>,
    policies: BTreeMap<String, Policy>,
}

impl Pipeline {
    /// The first pipeline of `toml` (a settings file).
    fn from_toml(toml: &str) -> Pipeline {
        let raw = Raw::from_toml(Path::new("test.toml"), toml)
            .unwrap_or_else(|e| panic!("test settings parse: {e}"));
        let settings = Settings::resolve(raw, |_| None)
            .unwrap_or_else(|e| panic!("test settings are valid: {e:?}"));
        let spec = settings.pipelines.into_iter().next().expect("one pipeline");
        Pipeline {
            destinations: spec.destinations.iter().cloned().map(Arc::new).collect(),
            spec,
            policies: settings.voice.policies,
        }
    }

    /// Runs a `support.ticket.created` event with `payload` against `world`.
    async fn run(&self, world: &World, payload: &Value) -> RunResult<'_> {
        run_with(
            &self.spec,
            &self.destinations,
            ticket(payload),
            world,
            &self.policies,
        )
        .await
    }
}

fn ticket(payload: &Value) -> EventView<'_> {
    EventView {
        id: EventId::new(),
        event_type: "support.ticket.created",
        occurred_at: "2026-11-23T10:00:00.000Z",
        payload,
    }
}

fn model(answers: &[(&'static str, &'static str)]) -> World {
    World {
        model: answers.iter().copied().collect(),
        ..World::default()
    }
}

/// The names of the destinations the run chose.
fn chosen<'a>(result: &'a RunResult<'a>) -> Vec<&'a str> {
    result
        .trace
        .destinations
        .iter()
        .filter(|d| d.chosen)
        .map(|d| d.name)
        .collect()
}

/// The document the first planned webhook delivery sends.
fn first_body(result: &RunResult<'_>) -> Value {
    let delivery = result.deliveries.first().expect("a delivery was planned");
    serde_json::from_str(&delivery.body).expect("a webhook body is JSON")
}

const TRIAGE: &str = r#"
[[pipelines]]
name = "triage"
on = "support.ticket.*"
steps = [
  { classify = { field = "urgency", labels = ["low", "high", "critical"], default = "high" } },
  { filter = 'urgency != "low"' },
]
[[pipelines.destinations]]
name = "oncall"
webhook = { url = "https://hooks.example.com/oncall", signing = "none" }
[[pipelines.destinations]]
name = "critical-only"
when = 'urgency == "critical"'
webhook = { url = "https://hooks.example.com/critical", signing = "none" }
"#;

#[tokio::test]
async fn the_models_label_flows_into_filters_whens_and_the_delivered_labels() {
    let pipeline = Pipeline::from_toml(TRIAGE);
    let result = pipeline
        .run(
            &model(&[("urgency", "critical")]),
            &json!({"subject": "down"}),
        )
        .await;

    assert_eq!(result.trace.outcome, Outcome::Routed);
    assert_eq!(result.trace.labels["urgency"], "critical");
    assert_eq!(chosen(&result), ["triage.oncall", "triage.critical-only"]);
    assert_eq!(result.deliveries.len(), 2);
    assert_eq!(first_body(&result)["labels"]["urgency"], "critical");
    match &result.trace.steps[0] {
        StepTrace::Classify {
            field,
            label,
            source,
            ..
        } => assert_eq!(
            (*field, label.as_str(), *source),
            ("urgency", "critical", DecisionSource::Model)
        ),
        other => panic!("the first step is classify: {other:?}"),
    }
}

#[tokio::test]
async fn a_destination_whose_when_is_false_is_traced_but_not_planned() {
    let pipeline = Pipeline::from_toml(TRIAGE);
    let result = pipeline
        .run(&model(&[("urgency", "high")]), &json!({"subject": "slow"}))
        .await;

    assert_eq!(chosen(&result), ["triage.oncall"]);
    let skipped = &result.trace.destinations[1];
    assert_eq!(skipped.name, "triage.critical-only");
    assert!(!skipped.chosen);
    assert_eq!(skipped.when, Some(r#"urgency == "critical""#));
    assert_eq!(skipped.delivery_id, None);
    assert_eq!(result.deliveries.len(), 1);
    assert_eq!(
        Some(result.deliveries[0].id),
        result.trace.destinations[0].delivery_id,
        "the trace names the planned delivery"
    );
}

#[tokio::test]
async fn a_filter_that_says_no_stops_the_run_and_plans_nothing() {
    let pipeline = Pipeline::from_toml(TRIAGE);
    let result = pipeline
        .run(&model(&[("urgency", "low")]), &json!({"subject": "typo"}))
        .await;

    assert_eq!(result.trace.outcome, Outcome::Filtered);
    assert!(result.deliveries.is_empty());
    assert!(result.trace.destinations.is_empty(), "none was considered");
    assert!(matches!(
        result.trace.steps.last(),
        Some(StepTrace::Filter { matched: false, .. })
    ));
}

#[tokio::test]
async fn when_the_model_is_down_the_steps_default_label_decides_and_the_trace_says_so() {
    // The real classifier, its model on a port nothing listens on.
    let unreachable = ChatModel::new(ModelConfig {
        base_url: "http://127.0.0.1:1".to_owned(),
        model: "test-model".to_owned(),
        api_key: None,
        timeout: Duration::from_secs(5),
    })
    .expect("a model client");
    let services = StepServices::new(Classifier::new(Some(unreachable), None));
    let pipeline = Pipeline::from_toml(TRIAGE);
    let payload = json!({"subject": "checkout fails"});

    let result = run(
        &pipeline.spec,
        &pipeline.destinations,
        ticket(&payload),
        &services,
        &pipeline.policies,
        None,
    )
    .await;

    let StepTrace::Classify {
        label,
        source,
        reason,
        ..
    } = &result.trace.steps[0]
    else {
        panic!("the first step is classify: {:?}", result.trace.steps)
    };
    assert_eq!(label, "high", "the step's default");
    assert_eq!(*source, DecisionSource::Fallback);
    let reason = reason.as_deref().unwrap_or_default();
    assert!(reason.contains("model failed"), "{reason}");
    assert!(reason.contains("default label"), "{reason}");
    assert_eq!(
        result.trace.outcome,
        Outcome::Routed,
        "high passes the filter"
    );
    assert_eq!(chosen(&result), ["triage.oncall"]);
}

const REDACTING: &str = r#"
[[pipelines]]
name = "redacting"
on = "support.ticket.*"
steps = [
  { redact = { fields = ["body"] } },
  { classify = { field = "urgency", labels = ["low", "high"] } },
  { filter = 'body == "write to maria@example.com"' },
]
[[pipelines.destinations]]
webhook = { url = "https://hooks.example.com/in", signing = "none" }
"#;

#[tokio::test]
async fn redaction_comes_before_the_model_and_the_rendered_body_but_not_before_filters() {
    let pipeline = Pipeline::from_toml(REDACTING);
    let world = model(&[("urgency", "high")]);
    let payload = json!({"subject": "help", "body": "write to maria@example.com"});

    let result = pipeline.run(&world, &payload).await;

    let shown = world.shown_to_model.lock().expect("not poisoned");
    assert_eq!(shown[0]["body"], "write to [REDACTED:email]", "the model");
    assert_eq!(
        first_body(&result)["payload"]["body"],
        "write to [REDACTED:email]",
        "the delivery"
    );
    // Filters decide on the event as it came: redaction is about what leaves Klaxon.
    assert_eq!(result.trace.outcome, Outcome::Routed);
    assert!(matches!(
        result.trace.steps[0],
        StepTrace::Redact { replacements: 1 }
    ));
    assert_eq!(payload["body"], "write to maria@example.com", "not mutated");
}

const DEALS: &str = r#"
[[pipelines]]
name = "deals"
on = "support.ticket.*"
steps = [
  { merge_lookup = "opportunity" },
  { filter = 'stage == "Closed Won"' },
]
[[pipelines.destinations]]
webhook = { url = "https://hooks.example.com/deals", signing = "none" }
"#;

#[tokio::test]
async fn merge_lookup_runs_first_and_every_later_step_and_the_body_see_its_fields() {
    let pipeline = Pipeline::from_toml(DEALS);
    let world = World {
        merge: Some(json!({"stage": "Closed Won", "amount": 90000})),
        ..World::default()
    };

    let result = pipeline
        .run(&world, &json!({"id": "opp-1", "stage": "stage-uuid-7"}))
        .await;

    assert!(matches!(
        result.trace.steps[0],
        StepTrace::MergeLookup {
            model: MergeModelKind::Opportunity,
            source: LookupSource::Merge,
            error: None,
        }
    ));
    assert_eq!(result.trace.outcome, Outcome::Routed, "{:?}", result.trace);
    let body = first_body(&result);
    assert_eq!(body["payload"]["stage"], "Closed Won");
    assert_eq!(body["payload"]["amount"], 90000);
    assert_eq!(
        body["payload"]["id"], "opp-1",
        "the webhook's own fields stay"
    );
}

#[tokio::test]
async fn when_merge_cannot_be_reached_the_webhooks_fields_are_used_and_the_trace_says_why() {
    let pipeline = Pipeline::from_toml(DEALS);

    let result = pipeline
        .run(
            &World::default(),
            &json!({"id": "opp-1", "stage": "Closed Won"}),
        )
        .await;

    let StepTrace::MergeLookup { source, error, .. } = &result.trace.steps[0] else {
        panic!("the first step is merge_lookup: {:?}", result.trace.steps)
    };
    assert_eq!(*source, LookupSource::Unavailable);
    assert_eq!(error.as_deref(), Some("Merge did not answer"));
    assert_eq!(result.trace.outcome, Outcome::Routed);
}

const URGENT_TICKETS: &str = r#"
[[pipelines]]
name = "urgent"
on = "support.ticket.*"
steps = [{ transition = { key = "id", when = 'priority == "URGENT"' } }]
[[pipelines.destinations]]
webhook = { url = "https://hooks.example.com/urgent", signing = "none" }
"#;

#[tokio::test]
async fn a_transition_passes_once_per_change_into_its_condition_per_key() {
    let pipeline = Pipeline::from_toml(URGENT_TICKETS);
    let world = World::default();
    let outcome = |result: RunResult<'_>| result.trace.outcome;

    let urgent = json!({"id": "T-1", "priority": "URGENT"});
    let calm = json!({"id": "T-1", "priority": "LOW"});
    let other = json!({"id": "T-2", "priority": "URGENT"});
    assert_eq!(
        outcome(pipeline.run(&world, &urgent).await),
        Outcome::Routed
    );
    assert_eq!(
        outcome(pipeline.run(&world, &urgent).await),
        Outcome::Filtered,
        "still urgent: not a change"
    );
    assert_eq!(
        outcome(pipeline.run(&world, &other).await),
        Outcome::Routed,
        "another ticket is its own key"
    );
    assert_eq!(
        outcome(pipeline.run(&world, &calm).await),
        Outcome::Filtered
    );
    assert_eq!(
        outcome(pipeline.run(&world, &urgent).await),
        Outcome::Routed,
        "urgent again is a new change"
    );
}

#[tokio::test]
async fn a_transition_traces_its_key_and_without_one_simply_follows_the_condition() {
    let pipeline = Pipeline::from_toml(URGENT_TICKETS);
    let world = World::default();

    let keyed = pipeline
        .run(&world, &json!({"id": 42, "priority": "URGENT"}))
        .await;
    let StepTrace::Transition {
        key, holds, passed, ..
    } = &keyed.trace.steps[0]
    else {
        panic!("a transition step: {:?}", keyed.trace.steps)
    };
    assert_eq!((key.as_deref(), *holds, *passed), (Some("42"), true, true));

    let keyless = json!({"priority": "URGENT"});
    for _ in 0..2 {
        let result = pipeline.run(&world, &keyless).await;
        assert_eq!(result.trace.outcome, Outcome::Routed, "no key to remember");
    }
    assert_eq!(
        world.transitions.lock().expect("not poisoned").len(),
        1,
        "only the keyed event asked the store"
    );
}

#[tokio::test]
async fn when_the_transition_store_fails_the_event_passes_rather_than_never_paging() {
    let pipeline = Pipeline::from_toml(URGENT_TICKETS);
    let world = World {
        transitions_down: true,
        ..World::default()
    };
    let urgent = json!({"id": "T-1", "priority": "URGENT"});

    for _ in 0..2 {
        let result = pipeline.run(&world, &urgent).await;
        assert_eq!(result.trace.outcome, Outcome::Routed);
    }
    let calm = pipeline
        .run(&world, &json!({"id": "T-1", "priority": "LOW"}))
        .await;
    assert_eq!(
        calm.trace.outcome,
        Outcome::Filtered,
        "a false condition still stops"
    );
}

#[tokio::test]
async fn without_a_store_the_production_effects_let_every_holding_transition_pass() {
    let pipeline = Pipeline::from_toml(URGENT_TICKETS);
    let services = StepServices::new(Classifier::new(None, None));
    let urgent = json!({"id": "T-1", "priority": "URGENT"});

    for _ in 0..2 {
        let result = run(
            &pipeline.spec,
            &pipeline.destinations,
            ticket(&urgent),
            &services,
            &pipeline.policies,
            None,
        )
        .await;
        assert_eq!(result.trace.outcome, Outcome::Routed);
    }
}

const PAGING: &str = r#"
[[pipelines]]
name = "paging"
on = "support.ticket.*"
steps = [{ classify = { field = "urgency", labels = ["low", "critical"] } }]
[[pipelines.destinations]]
name = "phone"
when = 'urgency == "critical"'
voice = { policy = "oncall", connect_to = "customer_phone" }
[[pipelines.destinations]]
log = true

[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["+15551000007"]
"#;

#[tokio::test]
async fn a_voice_destination_plans_an_escalation_on_its_policy_not_a_delivery() {
    let pipeline = Pipeline::from_toml(PAGING);
    let payload = json!({"subject": "db down", "customer_phone": "+15550001111"});

    let result = pipeline
        .run(&model(&[("urgency", "critical")]), &payload)
        .await;

    assert!(
        result.deliveries.is_empty(),
        "voice and log deliver nothing"
    );
    let [escalation] = result.escalations.as_slice() else {
        panic!("one escalation: {:?}", result.escalations)
    };
    assert_eq!(escalation.policy, "oncall");
    assert_eq!(escalation.destination.name, "paging.phone");
    assert_eq!(escalation.plan.connect_to.as_deref(), Some("+15550001111"));
    let phone = &result.trace.destinations[0];
    assert_eq!((phone.kind, phone.chosen), ("voice", true));
    assert_eq!(phone.escalation_id, Some(escalation.id));
    assert_eq!(chosen(&result), ["paging.phone", "paging.log"]);

    let calm = pipeline.run(&model(&[("urgency", "low")]), &payload).await;
    assert!(calm.escalations.is_empty(), "its when is false");
    assert_eq!(chosen(&calm), ["paging.log"]);
}
