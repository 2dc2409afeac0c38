//! A rotation: participants take turns, one shift each, from an anchor (a date and a hand-off
//! time in the schedule's zone), for ever or until an optional end. Pure: which shift covers
//! an instant, and when it starts and ends.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use super::length::ShiftLength;
use super::zone::{Instant, instant_of};

/// Participants in turn, from the first shift at `start` + `handoff` in `zone`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// `[people]` keys, in turn order; never empty (settings refuse an empty rotation).
    pub participants: Vec<Arc<str>>,
    pub length: ShiftLength,
    pub handoff: NaiveTime,
    pub start: NaiveDate,
    /// The rotation covers nothing from this instant on.
    pub end: Option<Instant>,
    pub zone: Tz,
}

/// One shift: its number counted from the anchor (0 is the first), who has it, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub number: i64,
    pub person: Arc<str>,
    pub start: Instant,
    pub end: Instant,
}

impl Rotation {
    /// When shift `number` starts (negative numbers are before the anchor).
    pub fn shift_start(&self, number: i64) -> Instant {
        match self.length {
            ShiftLength::Hours(hours) => {
                self.anchor() + TimeDelta::hours(number.saturating_mul(i64::from(hours)))
            }
            ShiftLength::Days(days) => {
                let date = self
                    .start
                    .checked_add_signed(TimeDelta::days(number.saturating_mul(i64::from(days))))
                    .unwrap_or(self.start);
                instant_of(self.zone, date.and_time(self.handoff))
            }
        }
    }

    /// When the first shift starts.
    pub fn anchor(&self) -> Instant {
        instant_of(self.zone, self.start.and_time(self.handoff))
    }

    /// The shift covering `at`, or `None` before the anchor and from the end on.
    pub fn shift_at(&self, at: Instant) -> Option<Shift> {
        if at < self.anchor() || self.end.is_some_and(|end| at >= end) {
            return None;
        }
        let mut number = self.estimate(at);
        // The estimate is off by at most one around DST changes; settle it on the instants.
        while number > 0 && self.shift_start(number) > at {
            number -= 1;
        }
        while self.shift_start(number + 1) <= at {
            number += 1;
        }
        Some(self.shift(number))
    }

    /// Shift `number`, its end cut at the rotation's end.
    pub fn shift(&self, number: i64) -> Shift {
        let turns = self.participants.len().max(1) as i64;
        let person = self
            .participants
            .get(number.rem_euclid(turns) as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""));
        let end = self.shift_start(number + 1);
        Shift {
            number,
            person,
            start: self.shift_start(number),
            end: self.end.map_or(end, |stop| end.min(stop)),
        }
    }

    /// When this rotation next starts covering after `at`, when it covers nothing at `at`.
    pub fn next_start_after(&self, at: Instant) -> Option<Instant> {
        let anchor = self.anchor();
        (at < anchor && self.end.is_none_or(|end| anchor < end)).then_some(anchor)
    }

    /// The shift number from the wall clock (days) or elapsed time (hours).
    fn estimate(&self, at: Instant) -> i64 {
        match self.length {
            ShiftLength::Hours(hours) => {
                (at - self.anchor()).num_seconds() / (i64::from(hours) * 3600)
            }
            ShiftLength::Days(days) => {
                let local = at.with_timezone(&self.zone).date_naive();
                (local - self.start).num_days().div_euclid(i64::from(days))
            }
        }
    }
}
