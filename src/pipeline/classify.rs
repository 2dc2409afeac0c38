//! The `classify` step: one label from the model, the cache, or the built-in classifier.
//!
//! Order of preference: the in-memory cache, the store's cache (so identical inputs make one
//! model call across restarts), the model; on a model failure the step's `default` label, or
//! else the built-in classifier. Concurrent identical inputs share one model call: the first
//! asks, the others wait for its answer. Failures are not cached, so the next event retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::builtin_classifier;
use super::spec::ClassifySpec;
use crate::llm::{self, ChatModel};
use crate::store::Store;

/// Entries kept in memory; past this the cache is emptied (the store still has them).
const MEMORY_CACHE_MAX: usize = 50_000;

/// Where a label came from; recorded on the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionSource {
    /// The model answered this input.
    Model,
    /// The same input was answered before.
    Cache,
    /// No model is configured; the built-in rules decided.
    Builtin,
    /// The model failed; the step's `default` or the built-in rules decided.
    Fallback,
}

impl DecisionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Model => "model",
            DecisionSource::Cache => "cache",
            DecisionSource::Builtin => "builtin",
            DecisionSource::Fallback => "fallback",
        }
    }
}

/// A classification result.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub label: String,
    pub source: DecisionSource,
    /// Why: the built-in rule that fired, or the model error behind a fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A label from the cache or the model, or the model's error (as text, shared by waiters).
type Answer = Result<(String, bool), String>;

/// Classifies with a model when one is configured; cheap to share.
pub struct Classifier {
    model: Option<ChatModel>,
    store: Option<Store>,
    /// In-flight and finished answers by cache key. `bool` in the answer: came from the store.
    memory: Mutex<HashMap<String, Arc<OnceCell<Answer>>>>,
}

impl Classifier {
    /// `model: None` means every decision is the built-in classifier's. `store: None` keeps
    /// the cache in memory only (benchmarks).
    pub fn new(model: Option<ChatModel>, store: Option<Store>) -> Classifier {
        Classifier {
            model,
            store,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub async fn classify(&self, spec: &ClassifySpec, payload: &Value) -> Decision {
        let decision = self.decide(spec, payload).await;
        crate::metrics::metrics()
            .classifications
            .inc(&[decision.source.as_str()]);
        decision
    }

    async fn decide(&self, spec: &ClassifySpec, payload: &Value) -> Decision {
        let fields = input_fields(spec, payload);
        let Some(model) = &self.model else {
            let (label, reason) = builtin(spec, &fields);
            return Decision {
                label,
                source: DecisionSource::Builtin,
                reason: Some(reason),
            };
        };
        let input = input_text(&fields, payload);
        let key = llm::cache_key(model.model(), &spec.prompt, &spec.labels, &input);
        let cell = self.cell(&key);
        let mut asked = false;
        let answer = cell
            .get_or_init(|| {
                asked = true;
                self.look_up_or_ask(model, spec, &key, &input)
            })
            .await
            .clone();
        if asked {
            let result = match &answer {
                Ok((_, true)) => None,
                Ok((_, false)) => Some("ok"),
                Err(_) => Some("error"),
            };
            if let Some(result) = result {
                crate::metrics::metrics()
                    .model_calls
                    .inc(&["classify", result]);
            }
        }
        match answer {
            Ok((label, from_store)) => Decision {
                label,
                source: if asked && !from_store {
                    DecisionSource::Model
                } else {
                    DecisionSource::Cache
                },
                reason: None,
            },
            Err(error) => {
                if asked && let Ok(mut memory) = self.memory.lock() {
                    memory.remove(&key);
                }
                tracing::warn!(
                    error,
                    field = spec.field,
                    "classification by the model failed; falling back"
                );
                match &spec.default {
                    Some(label) => Decision {
                        label: label.clone(),
                        source: DecisionSource::Fallback,
                        reason: Some(format!("model failed ({error}); the step's default label")),
                    },
                    None => {
                        let (label, reason) = builtin(spec, &fields);
                        Decision {
                            label,
                            source: DecisionSource::Fallback,
                            reason: Some(format!(
                                "model failed ({error}); built-in rules: {reason}"
                            )),
                        }
                    }
                }
            }
        }
    }

    fn cell(&self, key: &str) -> Arc<OnceCell<Answer>> {
        let Ok(mut memory) = self.memory.lock() else {
            return Arc::new(OnceCell::new());
        };
        if memory.len() >= MEMORY_CACHE_MAX && !memory.contains_key(key) {
            memory.clear();
        }
        memory.entry(key.to_owned()).or_default().clone()
    }

    async fn look_up_or_ask(
        &self,
        model: &ChatModel,
        spec: &ClassifySpec,
        key: &str,
        input: &str,
    ) -> Answer {
        if let Some(store) = &self.store {
            match store.cached_label(key.to_owned()).await {
                // A label that is no longer declared (settings changed) is asked again.
                Ok(Some(label)) if spec.labels.contains(&label) => return Ok((label, true)),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "classification cache unreadable; asking the model")
                }
            }
        }
        let label = model
            .choose_label(&spec.prompt, input, &spec.labels)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(store) = &self.store
            && let Err(error) = store
                .cache_label(key.to_owned(), label.clone(), model.model().to_owned())
                .await
        {
            tracing::warn!(%error, "could not cache a classification");
        }
        Ok((label, false))
    }
}

/// The built-in classifier's label and reason. Settings validation guarantees labels, so
/// its one error (no labels) only yields an empty label here rather than a panic.
fn builtin(spec: &ClassifySpec, fields: &[(&str, &Value)]) -> (String, String) {
    match builtin_classifier::classify(&spec.labels, fields) {
        Ok(decision) => (decision.label, decision.reason),
        Err(error) => (
            spec.labels.first().cloned().unwrap_or_default(),
            error.to_string(),
        ),
    }
}

/// The payload fields named by `input` (dotted paths allowed), or every top-level field.
fn input_fields<'a>(spec: &'a ClassifySpec, payload: &'a Value) -> Vec<(&'a str, &'a Value)> {
    if spec.input.is_empty() {
        return payload
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default();
    }
    spec.input
        .iter()
        .filter_map(|path| {
            let value = path
                .split('.')
                .try_fold(payload, |value, part| value.get(part))?;
            (!value.is_null()).then_some((path.as_str(), value))
        })
        .collect()
}

/// What the model reads: one `name: value` line per field, strings unquoted.
fn input_text(fields: &[(&str, &Value)], payload: &Value) -> String {
    if fields.is_empty() {
        return payload.to_string();
    }
    let mut text = String::new();
    for (name, value) in fields {
        text.push_str(name);
        text.push_str(": ");
        match value {
            Value::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
        text.push('\n');
    }
    text
}
