//! `[[pipelines]]`: the TOML shapes and their validation into [`PipelineSpec`]s.
//!
//! Every problem names its key the way a user finds it in the file, e.g.
//! `pipelines.support-escalations.steps[1].filter`, and all problems are collected in the
//! [`Reader`]. Steps are checked in `steps.rs`, destinations in `destinations.rs` (each
//! delivering kind by its own module in [`crate::destinations`]), and the built-in pipelines,
//! used when the settings declare none, are in `builtin.rs`.

mod builtin;
mod destinations;
mod steps;

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::Reader;
use crate::pipeline::condition::Condition;
use crate::pipeline::spec::{PipelineSpec, TypePattern};
use crate::voice::settings::VoiceSettings;

pub use builtin::{
    BUILTIN_PIPELINES, BUILTIN_VOICE_PIPELINES, MERGE_WRITEBACK, builtin, merge_writeback,
};
pub use destinations::{RawBriefing, RawDestination, RawKind, RawVoiceDestination};
pub use steps::{
    DEFAULT_CLASSIFY_PROMPT, RawClassify, RawPattern, RawRedact, RawStep, RawTransition,
};

/// One `[[pipelines]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub name: String,
    pub on: OneOrMany,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub destinations: Vec<RawDestination>,
}

/// A string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Validates the declared pipelines (or the built-in ones when none are declared).
pub fn resolve(
    raw: Vec<RawPipeline>,
    voice: &VoiceSettings,
    r: &mut Reader<'_>,
) -> Vec<PipelineSpec> {
    let mut names = HashSet::new();
    let mut specs = Vec::with_capacity(raw.len());
    for pipeline in raw {
        let mut check = Checker {
            r: &mut *r,
            voice,
            prefix: format!("pipelines.{}", pipeline.name),
        };
        if !is_name(&pipeline.name) {
            check.fail(
                "name",
                format!(
                    "{:?}: a pipeline name is 1-64 characters of a-z, 0-9, '-' and '_'",
                    pipeline.name
                ),
            );
        } else if !names.insert(pipeline.name.clone()) {
            check.fail("name", "another pipeline has the same name".into());
        }
        if let Some(spec) = check.pipeline(pipeline) {
            specs.push(spec);
        }
    }
    specs
}

/// Validates one pipeline's parts, reporting under `pipelines.<name>`.
struct Checker<'a, 'r> {
    r: &'a mut Reader<'r>,
    voice: &'a VoiceSettings,
    /// `pipelines.<name>`.
    prefix: String,
}

impl Checker<'_, '_> {
    /// A problem with a value of the file (or of the built-in pipelines).
    fn fail(&mut self, key: &str, message: String) {
        let origin = self.r.file().clone();
        self.r
            .fail(origin, format!("{}.{key}", self.prefix), message);
    }

    fn pipeline(&mut self, raw: RawPipeline) -> Option<PipelineSpec> {
        let before = self.r.problem_count();
        let on = match raw.on {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(ps) => ps,
        };
        if on.is_empty() {
            self.fail("on", "name at least one event type or pattern".into());
        }
        for pattern in &on {
            if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
                self.fail(
                    "on",
                    format!("{pattern:?} is not an event type or pattern such as support.ticket.*"),
                );
            }
        }
        let mut labels_so_far = HashSet::new();
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (i, step) in raw.steps.into_iter().enumerate() {
            if let Some(step) = self.step(i, step, &mut labels_so_far) {
                steps.push(step);
            }
        }
        if raw.destinations.is_empty() {
            self.fail(
                "destinations",
                "a pipeline needs at least one destination, e.g. [[pipelines.destinations]] log = true"
                    .into(),
            );
        }
        let mut destination_names = HashSet::new();
        let mut destinations = Vec::with_capacity(raw.destinations.len());
        // Unnamed destinations are named after their kind, numbered only when the kind repeats.
        let unnamed_of_kind = |kind: &str| {
            raw.destinations
                .iter()
                .filter(|d| d.name.is_none() && d.kind_name() == Some(kind))
                .count()
        };
        let unnamed: Vec<usize> = raw
            .destinations
            .iter()
            .map(|d| d.kind_name().map_or(0, unnamed_of_kind))
            .collect();
        for (i, destination) in raw.destinations.into_iter().enumerate() {
            if let Some(d) = self.destination(i, unnamed[i], destination) {
                if !destination_names.insert(d.name.clone()) {
                    self.fail(
                        &format!("destinations[{i}].name"),
                        format!("two destinations are named {:?}", d.name),
                    );
                }
                destinations.push(d);
            }
        }
        (self.r.problem_count() == before).then(|| PipelineSpec {
            name: raw.name.clone(),
            on: on.into_iter().map(TypePattern::new).collect(),
            steps,
            destinations: destinations
                .into_iter()
                .map(|mut d| {
                    d.name = format!("{}.{}", raw.name, d.name);
                    d
                })
                .collect(),
            klaxon_events_only: false,
        })
    }

    fn condition(&mut self, key: &str, source: &str) -> Option<Arc<Condition>> {
        match Condition::compile(source) {
            Ok(condition) => Some(Arc::new(condition)),
            Err(e) => {
                self.fail(key, format!("{source:?}: {e}"));
                None
            }
        }
    }
}

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
