//! A pipeline's destinations as written: `name`, `when`, and exactly one kind (`log = true`,
//! `voice = { … }`, or a delivering kind's table), validated into [`DestinationSpec`]s. A
//! delivering kind's table is validated by its module in [`crate::destinations`], which
//! reports its problems below the kind's key.

use std::sync::Arc;

use serde::Deserialize;

use super::{Checker, is_name};
use crate::destinations::{self, Destination, SettingsContext};
use crate::people::is_e164;
use crate::pipeline::spec::{DestinationKind, DestinationSpec};
use crate::voice::destination::{ConnectTo, VoiceSpec};

/// One `[[pipelines.destinations]]` table: `name`, `when`, and the kind it chose.
#[derive(Debug)]
pub struct RawDestination {
    pub name: Option<String>,
    pub when: Option<String>,
    pub kind: RawKind,
}

/// The kind a destination table chose: `log = true`, `voice = { … }`, or one other key,
/// a delivering kind (an unknown key is reported as such when it is validated).
#[derive(Debug)]
pub enum RawKind {
    Log,
    Voice(RawVoiceDestination),
    Deliver(String, toml::Value),
    /// None of them, or more than one: refused when validated. `first` is the kind the table
    /// is named after meanwhile (the first other key, else `voice`, else `log`).
    NotExactlyOne {
        first: Option<String>,
    },
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
        let name = take(&mut table, "name")?;
        let when = take(&mut table, "when")?;
        let voice: Option<RawVoiceDestination> = take(&mut table, "voice")?;
        let log: Option<bool> = take(&mut table, "log")?;
        // Every other key, in order: delivering kinds.
        let mut kinds: Vec<(String, toml::Value)> = table.into_iter().collect();
        let first = match (kinds.first(), &voice, log) {
            (Some((kind, _)), _, _) => Some(kind.clone()),
            (None, Some(_), _) => Some("voice".to_owned()),
            (None, None, Some(true)) => Some("log".to_owned()),
            _ => None,
        };
        let logs = log == Some(true);
        let kind = match (kinds.len(), voice, logs) {
            (1, None, false) => match kinds.pop() {
                Some((kind, value)) => RawKind::Deliver(kind, value),
                None => RawKind::NotExactlyOne { first },
            },
            (0, Some(voice), false) => RawKind::Voice(voice),
            (0, None, true) => RawKind::Log,
            _ => RawKind::NotExactlyOne { first },
        };
        Ok(RawDestination { name, when, kind })
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
    /// The kind an unnamed destination is named after.
    pub(super) fn kind_name(&self) -> Option<&str> {
        match &self.kind {
            RawKind::Log => Some("log"),
            RawKind::Voice(_) => Some("voice"),
            RawKind::Deliver(kind, _) => Some(kind),
            RawKind::NotExactlyOne { first } => first.as_deref(),
        }
    }
}

impl Checker<'_, '_> {
    pub(super) fn destination(
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
        let kind = match raw.kind {
            RawKind::Deliver(kind, value) => self.delivering(&key, &kind, value),
            RawKind::Voice(voice) => self
                .voice(&format!("{key}.voice"), voice)
                .map(|v| DestinationKind::Voice(Arc::new(v))),
            RawKind::Log => Some(DestinationKind::Log),
            RawKind::NotExactlyOne { .. } => {
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
