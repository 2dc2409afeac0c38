//! A pipeline's steps as written (`classify`, `filter`, `redact`, `transition`,
//! `merge_lookup`) and their validation into [`Step`]s.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use super::Checker;
use crate::config::values::parse_duration;
use crate::pipeline::merge_lookup::MergeModelKind;
use crate::pipeline::redact::{CustomPattern, PiiKind, RedactSpec, Redactor};
use crate::pipeline::spec::{ClassifySpec, Step, TransitionSpec};

pub const DEFAULT_CLASSIFY_PROMPT: &str =
    "You triage events for an on-call team. Classify the event below by {field}.";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Classify(RawClassify),
    Filter(String),
    Redact(RawRedact),
    Transition(RawTransition),
    /// `{ merge_lookup = "opportunity" }` (or `"ticket"`): the first step only.
    MergeLookup(String),
}

/// `{ transition = { key = "id", when = '…', repage_after = "4h" } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransition {
    pub key: String,
    pub when: String,
    pub repage_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassify {
    pub field: String,
    pub labels: Vec<String>,
    #[serde(default)]
    pub input: Vec<String>,
    pub prompt: Option<String>,
    pub default: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedact {
    pub fields: Option<Vec<String>>,
    pub kinds: Option<Vec<String>>,
    #[serde(default)]
    pub patterns: Vec<RawPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    pub name: String,
    pub regex: String,
}

impl Checker<'_, '_> {
    pub(super) fn step(
        &mut self,
        i: usize,
        raw: RawStep,
        labels: &mut HashSet<String>,
    ) -> Option<Step> {
        match raw {
            RawStep::Classify(c) => {
                let key = format!("steps[{i}].classify");
                let before = self.r.problem_count();
                if !is_identifier(&c.field) {
                    self.fail(
                        &format!("{key}.field"),
                        format!(
                            "{:?} must be a name usable in expressions (letters, digits, _)",
                            c.field
                        ),
                    );
                }
                if c.labels.len() < 2 {
                    self.fail(&format!("{key}.labels"), "give at least two labels".into());
                }
                let mut seen = HashSet::new();
                for label in &c.labels {
                    if label.trim().is_empty() || !seen.insert(label.as_str()) {
                        self.fail(
                            &format!("{key}.labels"),
                            format!("{label:?} is empty or repeated"),
                        );
                    }
                }
                if let Some(default) = &c.default
                    && !c.labels.contains(default)
                {
                    self.fail(
                        &format!("{key}.default"),
                        format!("{default:?} is not one of the labels {:?}", c.labels),
                    );
                }
                labels.insert(c.field.clone());
                (self.r.problem_count() == before).then(|| {
                    Step::Classify(Arc::new(ClassifySpec {
                        prompt: c.prompt.unwrap_or_else(|| {
                            DEFAULT_CLASSIFY_PROMPT.replace("{field}", &c.field)
                        }),
                        field: c.field,
                        labels: c.labels,
                        input: c.input,
                        default: c.default,
                    }))
                })
            }
            RawStep::Filter(source) => self
                .condition(&format!("steps[{i}].filter"), &source)
                .map(Step::Filter),
            RawStep::MergeLookup(model) => {
                let key = format!("steps[{i}].merge_lookup");
                if i != 0 {
                    self.fail(
                        &key,
                        "merge_lookup must be the first step: it replaces the payload the others see".into(),
                    );
                }
                match MergeModelKind::parse(&model) {
                    Some(kind) => Some(Step::MergeLookup(kind)),
                    None => {
                        self.fail(
                            &key,
                            format!("{model:?}: expected \"ticket\" or \"opportunity\""),
                        );
                        None
                    }
                }
            }
            RawStep::Transition(t) => {
                let key = format!("steps[{i}].transition");
                let before = self.r.problem_count();
                if t.key.trim().is_empty() {
                    self.fail(
                        &format!("{key}.key"),
                        "name the payload field that identifies the object, e.g. \"id\"".into(),
                    );
                }
                let when = self.condition(&format!("{key}.when"), &t.when);
                let repage_after =
                    t.repage_after
                        .as_deref()
                        .and_then(|d| match parse_duration(d) {
                            Ok(d) => Some(d),
                            Err(e) => {
                                self.fail(&format!("{key}.repage_after"), e);
                                None
                            }
                        });
                let pipeline = self.prefix.trim_start_matches("pipelines.").to_owned();
                match when {
                    Some(when) if self.r.problem_count() == before => {
                        Some(Step::Transition(Arc::new(TransitionSpec {
                            id: format!("{pipeline}/{i}"),
                            key: t.key,
                            when,
                            repage_after,
                        })))
                    }
                    _ => None,
                }
            }
            RawStep::Redact(r) => {
                let key = format!("steps[{i}].redact");
                let mut kinds = None;
                if let Some(names) = r.kinds {
                    let mut parsed = Vec::with_capacity(names.len());
                    for name in names {
                        match name.parse::<PiiKind>() {
                            Ok(kind) => parsed.push(kind),
                            Err(e) => self.fail(&format!("{key}.kinds"), e.to_string()),
                        }
                    }
                    kinds = Some(parsed);
                }
                let spec = RedactSpec {
                    fields: r.fields,
                    kinds,
                    patterns: r
                        .patterns
                        .into_iter()
                        .map(|p| CustomPattern {
                            name: p.name,
                            regex: p.regex,
                        })
                        .collect(),
                };
                match Redactor::new(&spec) {
                    Ok(redactor) => Some(Step::Redact(Arc::new(redactor))),
                    Err(e) => {
                        self.fail(&format!("{key}.patterns"), e.to_string());
                        None
                    }
                }
            }
        }
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
