//! A schedule: layers (a later layer wins where it has someone) under overrides (which win
//! over every layer). [`Schedule::who`] answers who is on call at an instant, why, and until
//! when that answer holds: the pure core every lookup (API, CLI, escalation step, feed) uses.

use std::sync::Arc;

use chrono_tz::Tz;
use serde::Serialize;

use super::layer::{Coverage, Layer, ShiftRef};
use super::overrides::Overrides;
use super::zone::Instant;

/// A named schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    pub layers: Vec<Layer>,
}

/// Who is on call at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The `[people]` key, or `None` when nobody is.
    pub person: Option<Arc<str>>,
    pub reason: Reason,
    /// When this answer may next change; `None`: not within anything the schedule knows.
    pub until: Option<Instant>,
}

/// Why an answer is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// An override covers the instant.
    Override {
        id: String,
        note: Option<String>,
        #[schema(value_type = String, format = DateTime)]
        start: Instant,
        #[schema(value_type = String, format = DateTime)]
        end: Instant,
    },
    /// A layer's shift: the layer (by name and position, 0 first) and the shift (a
    /// rotation's number from its anchor, or an imported event's UID).
    Layer {
        layer: String,
        position: usize,
        shift: Option<i64>,
        event: Option<String>,
        #[schema(value_type = String, format = DateTime)]
        shift_start: Instant,
        #[schema(value_type = String, format = DateTime)]
        shift_end: Instant,
    },
    /// No override and no layer has anyone.
    Nobody,
}

impl Schedule {
    /// Who is on call at `at` given `overrides`.
    pub fn who(&self, at: Instant, overrides: &Overrides) -> Answer {
        let next_override = overrides.next_start_after(at);
        if let Some((chosen, until)) = overrides.at(at) {
            return Answer {
                person: Some(Arc::from(chosen.person.as_str())),
                reason: Reason::Override {
                    id: chosen.id.clone(),
                    note: chosen.note.clone(),
                    start: chosen.start,
                    end: chosen.end,
                },
                until: Some(until),
            };
        }
        // From the top layer down: the first with someone wins; every layer above it may
        // take over when its next shift starts, as may the next override.
        let mut until = next_override;
        for (position, layer) in self.layers.iter().enumerate().rev() {
            match layer.at(at) {
                Coverage::Covered {
                    person,
                    shift,
                    start,
                    end,
                } => {
                    let (number, event) = match shift {
                        ShiftRef::Number(n) => (Some(n), None),
                        ShiftRef::Event(e) => (None, Some(e.to_string())),
                    };
                    return Answer {
                        person: Some(person),
                        reason: Reason::Layer {
                            layer: layer.name.clone(),
                            position,
                            shift: number,
                            event,
                            shift_start: start,
                            shift_end: end,
                        },
                        until: earliest(until, Some(end)),
                    };
                }
                Coverage::Uncovered { next } => until = earliest(until, next),
            }
        }
        Answer {
            person: None,
            reason: Reason::Nobody,
            until,
        }
    }

    /// The answers from `from` to `to`, one per stretch with the same person and reason:
    /// what the feed lists. Bounded by `max` stretches.
    pub fn stretches(
        &self,
        from: Instant,
        to: Instant,
        overrides: &Overrides,
        max: usize,
    ) -> Vec<(Instant, Answer)> {
        let mut out = Vec::new();
        let mut at = from;
        while at < to && out.len() < max {
            let answer = self.who(at, overrides);
            let next = answer.until.filter(|u| *u > at);
            out.push((at, answer));
            match next {
                Some(next) => at = next,
                None => break,
            }
        }
        out
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
