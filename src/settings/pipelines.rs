//! `[[pipelines]]`, `[ai]` and `[delivery]`: the TOML shapes and their validation into
//! [`PipelineSpec`]s and typed settings.
//!
//! Every problem names its key the way a user finds it in the file, e.g.
//! `pipelines.support-escalations.steps[1].filter`, and all problems are collected.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::Origin;
use crate::config::Reader;
use crate::config::values::parse_duration;
use crate::destinations::{self, Destination, SettingsContext};
use crate::merge::settings::MergeRules;
use crate::people::is_e164;
use crate::pipeline::condition::Condition;
use crate::pipeline::merge_lookup::MergeModelKind;
use crate::pipeline::redact::{CustomPattern, PiiKind, RedactSpec, Redactor};
use crate::pipeline::spec::{
    ClassifySpec, DestinationKind, DestinationSpec, PipelineSpec, Step, TransitionSpec, TypePattern,
};
use crate::voice::destination::{ConnectTo, VoiceSpec};
use crate::voice::settings::VoiceSettings;

/// The pipelines Klaxon runs when the settings declare none (documented in the README).
pub const BUILTIN_PIPELINES: &str = include_str!("builtin_pipelines.toml");

pub const DEFAULT_CLASSIFY_PROMPT: &str =
    "You triage events for an on-call team. Classify the event below by {field}.";

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

/// One `[[pipelines.destinations]]` table: `name`, `when`, and exactly one kind: `log = true`,
/// `voice = { … }`, or a delivering kind's table (`webhook = { … }`, …), whose shape and
/// validation belong to its module in [`crate::destinations`].
#[derive(Debug)]
pub struct RawDestination {
    pub name: Option<String>,
    pub when: Option<String>,
    pub voice: Option<RawVoiceDestination>,
    pub log: Option<bool>,
    /// Every other key, in order: delivering kinds (an unknown key is reported as such).
    pub kinds: Vec<(String, toml::Value)>,
}

impl<'de> Deserialize<'de> for RawDestination {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        fn take<T: serde::de::DeserializeOwned, E: Error>(
            table: &mut toml::Table,
            key: &str,
        ) -> Result<Option<T>, E> {
            table
                .remove(key)
                .map(|value| {
                    value
                        .try_into()
                        .map_err(|e| E::custom(format!("{key}: {e}")))
                })
                .transpose()
        }
        Ok(RawDestination {
            name: take(&mut table, "name")?,
            when: take(&mut table, "when")?,
            voice: take(&mut table, "voice")?,
            log: take(&mut table, "log")?,
            kinds: table.into_iter().collect(),
        })
    }
}

/// `voice = { policy = "oncall", connect_to = "customer_phone", briefing = { prompt = "…" } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVoiceDestination {
    pub policy: String,
    /// A +E.164 number, or the payload field (dotted path) holding it.
    pub connect_to: Option<String>,
    pub briefing: Option<RawBriefing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBriefing {
    pub prompt: Option<String>,
}

impl RawDestination {
    fn kind_name(&self) -> Option<&str> {
        match (self.kinds.first(), &self.voice, self.log) {
            (Some((kind, _)), _, _) => Some(kind),
            (None, Some(_), _) => Some("voice"),
            (None, None, Some(true)) => Some("log"),
            _ => None,
        }
    }
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

/// The phone pipelines of the reference apps, built in when their policy exists (from
/// `ONCALL_NUMBER` / `VP_SALES_NUMBER` or the settings): `POST /escalate` rings `oncall`,
/// `POST /alert` rings `vp_sales`.
pub const BUILTIN_VOICE_PIPELINES: &str = include_str!("builtin_voice_pipelines.toml");

/// The built-in pipelines, parsed and validated like a user's; the phone ones only when
/// their policy exists.
pub fn builtin(voice: &VoiceSettings, rules: &MergeRules) -> Vec<PipelineSpec> {
    let mut specs = parse_builtin(BUILTIN_PIPELINES, voice);
    specs.extend(
        parse_builtin(&with_rules(BUILTIN_VOICE_PIPELINES, rules), voice)
            .into_iter()
            .filter(|p| {
                p.destinations.iter().all(|d| match &d.kind {
                    DestinationKind::Voice(v) => voice.policies.contains_key(&v.policy),
                    _ => true,
                })
            }),
    );
    specs
}

/// Fills the `{{…}}` placeholders of the built-in pipelines with the Merge rules, as CEL
/// literals.
fn with_rules(text: &str, rules: &MergeRules) -> String {
    // A JSON list of strings is a CEL list literal; `'` would end the TOML literal string.
    let list = |items: &[String]| {
        serde_json::to_string(items)
            .unwrap_or_else(|_| "[]".into())
            .replace('\'', "\\u0027")
    };
    let mut priorities = rules.ticket_priorities.clone();
    // Merge has no CRITICAL, but other sources of `ticket.*` events do.
    if !priorities.iter().any(|p| p == "CRITICAL") {
        priorities.push("CRITICAL".into());
    }
    text.replace("{{ticket_priorities}}", &list(&priorities))
        .replace("{{alert_stages}}", &list(&rules.alert_stages))
        .replace("{{deal_threshold}}", &rules.deal_threshold.to_string())
}

fn parse_builtin(text: &str, voice: &VoiceSettings) -> Vec<PipelineSpec> {
    #[derive(Deserialize)]
    struct File {
        pipelines: Vec<RawPipeline>,
    }
    let file: File = toml::from_str(text).expect("the built-in pipelines parse");
    // Validated against every policy name they use, so a missing policy drops the pipeline
    // (above) instead of failing the settings.
    let mut with_policies = voice.clone();
    for name in ["oncall", "vp_sales"] {
        with_policies
            .policies
            .entry(name.to_owned())
            .or_insert_with(|| crate::voice::settings::Policy::new(Vec::new(), 0));
    }
    let mut reader = Reader::new(Origin::Default, &|_| None);
    let specs = resolve(file.pipelines, &with_policies, &mut reader);
    let errors = reader.into_errors();
    assert!(
        errors.is_empty(),
        "the built-in pipelines are valid: {errors:?}"
    );
    specs
}

struct Checker<'a, 'r> {
    r: &'a mut Reader<'r>,
    voice: &'a VoiceSettings,
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
        })
    }

    fn step(&mut self, i: usize, raw: RawStep, labels: &mut HashSet<String>) -> Option<Step> {
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

    fn condition(&mut self, key: &str, source: &str) -> Option<Arc<Condition>> {
        match Condition::compile(source) {
            Ok(condition) => Some(Arc::new(condition)),
            Err(e) => {
                self.fail(key, format!("{source:?}: {e}"));
                None
            }
        }
    }

    fn destination(
        &mut self,
        i: usize,
        same_kind_unnamed: usize,
        raw: RawDestination,
    ) -> Option<DestinationSpec> {
        let key = format!("destinations[{i}]");
        let before = self.r.problem_count();
        let when = raw
            .when
            .as_deref()
            .and_then(|w| self.condition(&format!("{key}.when"), w));
        let mut kinds = raw.kinds;
        let kind = match (kinds.pop(), kinds.is_empty(), raw.voice, raw.log) {
            (Some((kind, value)), true, None, None | Some(false)) => {
                self.delivering(&key, &kind, value)
            }
            (None, _, Some(voice), None | Some(false)) => self
                .voice(&format!("{key}.voice"), voice)
                .map(|v| DestinationKind::Voice(Arc::new(v))),
            (None, _, None, Some(true)) => Some(DestinationKind::Log),
            _ => {
                self.fail(
                    &key,
                    format!(
                        "set exactly one of {}, `voice = {{ policy = … }}` or `log = true`",
                        destinations::KINDS
                            .iter()
                            .map(|k| format!("`{k} = {{ … }}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                None
            }
        }?;
        let name = match raw.name {
            Some(name) if is_name(&name) => name,
            Some(name) => {
                self.fail(
                    &format!("{key}.name"),
                    format!(
                        "{name:?}: a destination name is 1-64 characters of a-z, 0-9, '-' and '_'"
                    ),
                );
                return None;
            }
            None if same_kind_unnamed <= 1 => kind.as_str().to_owned(),
            None => format!("{}-{}", kind.as_str(), i + 1),
        };
        (self.r.problem_count() == before).then_some(DestinationSpec { name, when, kind })
    }

    fn voice(&mut self, key: &str, raw: RawVoiceDestination) -> Option<VoiceSpec> {
        let before = self.r.problem_count();
        if !self.voice.policies.contains_key(&raw.policy) {
            let known: Vec<&str> = self.voice.policies.keys().map(String::as_str).collect();
            self.fail(
                &format!("{key}.policy"),
                format!(
                    "no escalation policy {:?} (known: {}); declare it in [[policies]] or set ONCALL_NUMBER / VP_SALES_NUMBER",
                    raw.policy,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            );
        }
        let connect_to = raw.connect_to.map(|c| {
            if c.starts_with('+') {
                if !is_e164(&c) {
                    self.fail(
                        &format!("{key}.connect_to"),
                        format!("{c:?} is not a +E.164 number (or give a payload field name)"),
                    );
                }
                ConnectTo::Number(c)
            } else {
                ConnectTo::Field(c)
            }
        });
        (self.r.problem_count() == before).then(|| VoiceSpec {
            policy: raw.policy,
            connect_to,
            briefing_prompt: raw.briefing.and_then(|b| b.prompt),
        })
    }

    /// A delivering kind's settings, validated by its module; its problems are reported
    /// under `<destination>.<kind>.<key>`.
    fn delivering(&mut self, key: &str, kind: &str, value: toml::Value) -> Option<DestinationKind> {
        let context = SettingsContext {
            env: self.r.env(),
            public_url: self.voice.public_url.as_deref(),
            sandbox: self.voice.telnyx.is_none(),
        };
        match Destination::parse(kind, value, &context) {
            Some(Ok(destination)) => Some(DestinationKind::Deliver(destination)),
            Some(Err(problems)) => {
                self.r
                    .report(&format!("{}.{key}.{kind}", self.prefix), problems);
                None
            }
            None => {
                self.fail(
                    &format!("{key}.{kind}"),
                    format!(
                        "unknown key {kind:?}: a destination takes name, when, and one of {}, voice or log",
                        destinations::KINDS.join(", ")
                    ),
                );
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

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
