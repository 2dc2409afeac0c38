//! A layer of a schedule: a rotation, or the shifts of an imported calendar (which a refresh
//! replaces whole). Pure: who the layer has at an instant, and when it next has someone.

use std::sync::{Arc, RwLock};

use super::calendar::CalendarShift;
use super::rotation::Rotation;
use super::zone::Instant;

/// One layer. Later layers of a schedule win where they have someone.
#[derive(Debug, Clone)]
pub struct Layer {
    /// As the settings name it (`layers[0]` … when they do not).
    pub name: String,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub enum Source {
    Rotation(Rotation),
    /// The current expansion of an imported calendar, sorted by start; replaced whole on
    /// refresh, so a lookup clones one `Arc` and never waits for a fetch.
    Calendar(Arc<RwLock<Arc<[CalendarShift]>>>),
}

/// What a layer says about an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Someone has it: who, the shift's number (rotations) or event (calendars), and when
    /// the shift runs.
    Covered {
        person: Arc<str>,
        shift: ShiftRef,
        start: Instant,
        end: Instant,
    },
    /// Nobody; someone from `next` (if the layer knows of a later shift).
    Uncovered { next: Option<Instant> },
}

/// Which shift of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftRef {
    /// A rotation's shift, counted from its anchor (0 is the first).
    Number(i64),
    /// An imported event, by UID or SUMMARY.
    Event(Arc<str>),
}

impl Layer {
    pub fn at(&self, at: Instant) -> Coverage {
        match &self.source {
            Source::Rotation(rotation) => match rotation.shift_at(at) {
                Some(shift) => Coverage::Covered {
                    person: shift.person,
                    shift: ShiftRef::Number(shift.number),
                    start: shift.start,
                    end: shift.end,
                },
                None => Coverage::Uncovered {
                    next: rotation.next_start_after(at),
                },
            },
            Source::Calendar(shifts) => {
                let shifts = match shifts.read() {
                    Ok(shifts) => shifts.clone(),
                    Err(poisoned) => poisoned.into_inner().clone(),
                };
                calendar_at(&shifts, at)
            }
        }
    }
}

/// The calendar shift covering `at` (the latest started, when events overlap).
fn calendar_at(shifts: &[CalendarShift], at: Instant) -> Coverage {
    let started = shifts.partition_point(|s| s.start <= at);
    match shifts[..started].iter().rev().find(|s| at < s.end) {
        Some(shift) => Coverage::Covered {
            person: shift.person.clone(),
            shift: ShiftRef::Event(shift.event.clone()),
            start: shift.start,
            end: shift.end,
        },
        None => Coverage::Uncovered {
            next: shifts.get(started).map(|s| s.start),
        },
    }
}
