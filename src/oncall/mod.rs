//! On-call schedules: who is on call at an instant, and why.
//!
//! The maths is pure and in its own files, one idea each; the rest wires it to settings,
//! the store and the clock:
//!
//! - [`zone`]: wall-clock hand-off times in an IANA zone as instants (DST gaps and folds).
//! - [`length`]: shift lengths (`hourly`, `daily`, `weekly`, `36h`, `2d`, `2w`).
//! - [`rotation`]: participants taking turns from an anchor date and hand-off time.
//! - [`calendar`]: a layer imported from iCalendar (RRULE, EXDATE), events matched to people.
//! - [`layer`]: a rotation or a calendar, and what it says about an instant.
//! - [`overrides`]: someone covers `[start, end)`; the latest added wins.
//! - [`schedule`]: layers under overrides: [`Schedule::who`] (person, reason, until).
//! - [`feed`]: a schedule's coming shifts as an iCalendar feed.
//! - [`settings`]: `[[schedules]]` as written, validated with each problem's origin.
//! - [`service`]: the running [`Oncall`]: schedules, the override cache (kept fresh across
//!   nodes), calendar refreshes, and the lookups the API, the CLI and escalations make.
//!
//! What this module does not do: ring anyone (the voice engine resolves a `schedule:<name>`
//! target through [`Oncall::who`] when a step's call is placed) or store anything itself
//! (overrides are rows of the store).

pub mod calendar;
pub mod feed;
pub mod layer;
pub mod length;
pub mod overrides;
pub mod rotation;
pub mod schedule;
pub mod service;
pub mod settings;
pub mod zone;

pub use overrides::{Override, Overrides};
pub use schedule::{Answer, Reason, Schedule};
pub use service::{Oncall, OncallError, WhoIsOnCall};
pub use settings::{OncallSettings, RawSchedule};
pub use zone::Instant;

/// A person a schedule may name: a `[people]` entry, as the settings declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The `[people]` key.
    pub key: String,
    pub name: Option<String>,
    /// +E.164 (checked by the voice settings, which own the phone book).
    pub phone: String,
    pub email: Option<String>,
}

#[cfg(test)]
mod tests;
