//! What a pipeline is, once the settings are validated: which event types it takes, its
//! steps in order, and where results go. Built by [`super::settings`], run by [`super::run`].
//!
//! Conditions and redactors are compiled here, once, so a syntax error stops `klaxon check`
//! and nothing is parsed per event.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::condition::Condition;
use super::merge_lookup::MergeModelKind;
use super::redact::Redactor;
use crate::destinations::Destination;
use crate::store::PendingEvent;
use crate::voice::destination::VoiceSpec;

/// A declared pipeline.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    /// Event types taken: exact names or globs with `*` (`support.ticket.*`).
    pub on: Vec<TypePattern>,
    pub steps: Vec<Step>,
    pub destinations: Vec<DestinationSpec>,
    /// Takes only events Klaxon emitted itself (source `klaxon`), whatever their type: the
    /// built-in Merge write-back, so an `escalation.*` event posted to the API cannot write
    /// to Merge. Declared pipelines take events from every source.
    pub klaxon_events_only: bool,
}

impl PipelineSpec {
    pub fn takes(&self, event_type: &str) -> bool {
        self.on.iter().any(|p| p.matches(event_type))
    }

    /// Whether this pipeline runs for `event`.
    pub fn runs_for(&self, event: &PendingEvent) -> bool {
        (event.from_klaxon || !self.klaxon_events_only) && self.takes(&event.event_type)
    }
}

/// An event-type pattern: `*` matches any run of characters (dots included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypePattern(String);

impl TypePattern {
    pub fn new(pattern: impl Into<String>) -> Self {
        TypePattern(pattern.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, event_type: &str) -> bool {
        glob_matches(self.0.as_bytes(), event_type.as_bytes())
    }
}

/// Iterative wildcard match with backtracking to the last `*`; linear for typical patterns.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// One step of a pipeline.
#[derive(Clone)]
pub enum Step {
    Classify(Arc<ClassifySpec>),
    Filter(Arc<Condition>),
    Redact(Arc<Redactor>),
    Transition(Arc<TransitionSpec>),
    /// Must be the first step: it replaces the payload every later step sees.
    MergeLookup(MergeModelKind),
}

/// `transition`: like a filter, but passes only when its condition *becomes* true for an
/// object (keyed by a payload field), so repeated "changed" events for one ticket pass once.
#[derive(Debug, Clone)]
pub struct TransitionSpec {
    /// Unique per step: `<pipeline>/<index>`; the store keeps the last value under it.
    pub id: String,
    /// Payload field (dotted path) naming the object, e.g. `id`.
    pub key: String,
    pub when: Arc<Condition>,
    /// Pass again when the condition has held this long since the last pass (re-page).
    pub repage_after: Option<Duration>,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Classify(spec) => f.debug_tuple("Classify").field(spec).finish(),
            Step::Filter(condition) => f.debug_tuple("Filter").field(&condition.source()).finish(),
            Step::Redact(_) => f.write_str("Redact"),
            Step::Transition(t) => f.debug_tuple("Transition").field(t).finish(),
            Step::MergeLookup(model) => f.debug_tuple("MergeLookup").field(model).finish(),
        }
    }
}

/// `classify`: ask the model (or the built-in classifier) for one of `labels`.
#[derive(Debug, Clone)]
pub struct ClassifySpec {
    /// The label's name, visible to later steps and in the delivered `labels`.
    pub field: String,
    /// Allowed labels, lowest to highest when they form a scale.
    pub labels: Vec<String>,
    /// Payload fields shown to the model; empty means the whole payload.
    pub input: Vec<String>,
    pub prompt: String,
    /// Used when the model fails; without it the built-in classifier decides.
    pub default: Option<String>,
}

/// One place a pipeline sends results.
#[derive(Debug, Clone)]
pub struct DestinationSpec {
    /// Unique across all pipelines: `<pipeline>.<name>`.
    pub name: String,
    /// Sent only when this holds (over the payload and labels).
    pub when: Option<Arc<Condition>>,
    pub kind: DestinationKind,
}

#[derive(Debug, Clone)]
pub enum DestinationKind {
    /// Records the decision on the event itself; sends nothing.
    Log,
    /// Starts a phone escalation.
    Voice(Arc<VoiceSpec>),
    /// A delivery (webhook, chat, e-mail, a table …), retried until it lands.
    Deliver(Destination),
}

impl DestinationKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DestinationKind::Log => "log",
            DestinationKind::Voice(_) => "voice",
            DestinationKind::Deliver(destination) => destination.target().as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_match_exact_names_and_globs() {
        let cases = [
            ("support.ticket.created", "support.ticket.created", true),
            ("support.ticket.created", "support.ticket.updated", false),
            ("support.ticket.*", "support.ticket.created", true),
            ("support.ticket.*", "support.ticket", false),
            ("support.*", "support.ticket.created", true),
            ("*", "anything", true),
            ("*.created", "crm.deal.created", true),
            ("*.created", "crm.deal.updated", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ];
        for (pattern, event_type, expected) in cases {
            assert_eq!(
                TypePattern::new(pattern).matches(event_type),
                expected,
                "{pattern} vs {event_type}"
            );
        }
    }
}
