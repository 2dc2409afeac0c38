//! `[[alert_sources]]`: the senders Klaxon takes alerts from, as written and validated.
//!
//! ```toml
//! [[alert_sources]]
//! name = "prod-alertmanager"      # in the URL path, and the events' `source`
//! kind = "alertmanager"           # alertmanager | grafana | pagerduty
//! key_env = "KLAXON_PROD_AM_KEY"  # the environment variable holding the integration key
//! policy = "oncall"               # rings this escalation policy (a built-in pipeline) …
//! # pipeline = "my-alerts"        # … or leaves `alert.*` events to a declared pipeline
//! ```
//!
//! With `policy`, Klaxon adds the pipeline `alerts-<name>`: it takes the `alert.firing`
//! events of this source (only an alert's opening notification is stored as one, see
//! `crate::store::alert_group`) and rings the policy. With `pipeline`, the named pipeline
//! must take `alert.firing`; it decides what happens.

use std::collections::HashSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Reader;
use crate::pipeline::settings::RawPipeline;
use crate::pipeline::spec::PipelineSpec;
use crate::voice::settings::VoiceSettings;

/// Integration keys shorter than this are refused: a key is the only thing between the
/// internet and a phone ringing.
pub const MIN_KEY_LEN: usize = 16;

/// One `[[alert_sources]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertSource {
    pub name: String,
    pub kind: String,
    /// The environment variable holding the integration key (never the key itself, so the
    /// settings file holds no secret).
    pub key_env: String,
    pub policy: Option<String>,
    pub pipeline: Option<String>,
}

/// Which sender's format a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Prometheus Alertmanager's webhook (version 4).
    Alertmanager,
    /// Grafana alerting's webhook contact point.
    Grafana,
    /// PagerDuty Events API v2 (`POST /v2/enqueue`).
    PagerDuty,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Alertmanager => "alertmanager",
            AlertKind::Grafana => "grafana",
            AlertKind::PagerDuty => "pagerduty",
        }
    }

    /// The sender's name as people write it.
    pub fn title(self) -> &'static str {
        match self {
            AlertKind::Alertmanager => "Alertmanager",
            AlertKind::Grafana => "Grafana",
            AlertKind::PagerDuty => "PagerDuty",
        }
    }

    fn parse(text: &str) -> Result<AlertKind, String> {
        match text {
            "alertmanager" => Ok(AlertKind::Alertmanager),
            "grafana" => Ok(AlertKind::Grafana),
            "pagerduty" => Ok(AlertKind::PagerDuty),
            other => Err(format!(
                "{other:?}: expected \"alertmanager\", \"grafana\" or \"pagerduty\""
            )),
        }
    }
}

crate::redacted::redacted_string! {
    /// An alert source's integration key: in the URL path, a bearer header, or a PagerDuty
    /// `routing_key`.
    pub struct IntegrationKey;
}

impl IntegrationKey {
    /// Whether `presented` is this key. Both sides are hashed first, so the comparison takes
    /// the same time whatever the lengths and wherever they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let ours = Sha256::digest(self.expose().as_bytes());
        let theirs = Sha256::digest(presented.as_bytes());
        ours.ct_eq(&theirs).into()
    }
}

/// Where a source's alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertRoute {
    /// The built-in pipeline `alerts-<name>` rings this policy.
    Policy(String),
    /// A declared pipeline takes the source's `alert.*` events.
    Pipeline(String),
}

/// A validated alert source.
#[derive(Debug, Clone)]
pub struct AlertSource {
    pub name: String,
    pub kind: AlertKind,
    pub key: IntegrationKey,
    pub route: AlertRoute,
}

/// The name of the built-in pipeline that rings a source's policy.
pub fn pipeline_name(source: &str) -> String {
    format!("alerts-{source}")
}

/// Validates the alert sources against the policies and the declared pipelines; returns them
/// and the built-in pipelines of those that ring a policy.
pub fn resolve(
    raw: Vec<RawAlertSource>,
    voice: &VoiceSettings,
    pipelines: &[PipelineSpec],
    r: &mut Reader<'_>,
) -> (Vec<AlertSource>, Vec<PipelineSpec>) {
    let mut names = HashSet::new();
    let mut sources = Vec::new();
    let mut built = Vec::new();
    for source in raw {
        let prefix = format!("alert_sources.{}", source.name);
        let origin = r.file().clone();
        let before = r.problem_count();
        let fail = |r: &mut Reader<'_>, key: &str, message: String| {
            r.fail(origin.clone(), format!("{prefix}.{key}"), message)
        };
        if !is_name(&source.name) {
            fail(
                r,
                "name",
                format!(
                    "{:?}: an alert source name is 1-48 characters of a-z, 0-9, '-' and '_'",
                    source.name
                ),
            );
        } else if !names.insert(source.name.clone()) {
            fail(r, "name", "another alert source has the same name".into());
        }
        let kind = AlertKind::parse(&source.kind).map_err(|m| fail(r, "kind", m));
        let key = match r.var(&source.key_env) {
            Some(key) if key.len() >= MIN_KEY_LEN => Some(IntegrationKey::new(key)),
            Some(_) => {
                fail(
                    r,
                    "key_env",
                    format!(
                        "the key in {} is too short: use at least {MIN_KEY_LEN} random characters",
                        source.key_env
                    ),
                );
                None
            }
            None => {
                fail(
                    r,
                    "key_env",
                    format!("environment variable {} is not set", source.key_env),
                );
                None
            }
        };
        let route = match (source.policy, source.pipeline) {
            (Some(policy), None) if voice.policies.contains_key(&policy) => {
                Some(AlertRoute::Policy(policy))
            }
            (Some(policy), None) => {
                fail(
                    r,
                    "policy",
                    format!("no escalation policy is named {policy:?}"),
                );
                None
            }
            (None, Some(pipeline)) => {
                match pipelines.iter().find(|p| p.name == pipeline) {
                    Some(p) if p.takes("alert.firing") => {}
                    Some(_) => fail(
                        r,
                        "pipeline",
                        format!("pipeline {pipeline:?} does not take \"alert.firing\" events"),
                    ),
                    None => fail(r, "pipeline", format!("no pipeline is named {pipeline:?}")),
                }
                Some(AlertRoute::Pipeline(pipeline))
            }
            _ => {
                fail(
                    r,
                    "policy",
                    "name exactly one of `policy` (ring it) or `pipeline` (send it there)".into(),
                );
                None
            }
        };
        if r.problem_count() > before {
            continue;
        }
        let (Ok(kind), Some(key), Some(route)) = (kind, key, route) else {
            continue;
        };
        if let AlertRoute::Policy(policy) = &route {
            built.extend(policy_pipeline(&source.name, policy, voice, r));
        }
        sources.push(AlertSource {
            name: source.name,
            kind,
            key,
            route,
        });
    }
    (sources, built)
}

/// The built-in pipeline of a source that rings `policy`: its `alert.firing` events (one per
/// episode of an alert) start an escalation.
fn policy_pipeline(
    source: &str,
    policy: &str,
    voice: &VoiceSettings,
    r: &mut Reader<'_>,
) -> Vec<PipelineSpec> {
    // Names and policies are checked above to be plain words, so quoting them is safe.
    let text = format!(
        r#"[[pipelines]]
name = "{name}"
on = "alert.firing"
steps = [ {{ filter = 'payload.source == "{source}"' }} ]
[[pipelines.destinations]]
voice = {{ policy = "{policy}" }}
"#,
        name = pipeline_name(source),
        policy = policy.replace('\\', "\\\\").replace('"', "\\\""),
    );
    #[derive(Deserialize)]
    struct File {
        pipelines: Vec<RawPipeline>,
    }
    match toml::from_str::<File>(&text) {
        Ok(file) => crate::pipeline::settings::resolve(file.pipelines, voice, r),
        Err(error) => {
            let origin = r.file().clone();
            r.fail(
                origin,
                format!("alert_sources.{source}"),
                format!("cannot build its pipeline: {error}"),
            );
            Vec::new()
        }
    }
}

fn is_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_matches_only_itself() {
        let key = IntegrationKey::new("0123456789abcdef0123456789abcdef");
        assert!(key.matches("0123456789abcdef0123456789abcdef"));
        assert!(!key.matches("0123456789abcdef0123456789abcdee"));
        assert!(!key.matches("0123456789abcdef"));
        assert!(!key.matches(""));
        assert_eq!(format!("{key:?}"), "IntegrationKey([redacted])");
    }

    #[test]
    fn names_are_plain_words() {
        assert!(is_name("prod-alertmanager_2"));
        for bad in ["", "Prod", "a b", "a\"b", "a.b", &"x".repeat(49)] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }
}
