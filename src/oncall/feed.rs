//! A schedule as an iCalendar feed people subscribe to: one event per stretch of the coming
//! weeks with the same person and reason (an override is its own event), each with a stable
//! UID so a calendar app updates events rather than duplicating them.

use chrono::Utc;
use icalendar::{Calendar, Component, Event, EventLike};

use super::schedule::{Answer, Reason};
use super::zone::Instant;
use super::{Member, Schedule};

/// The feed's text: `stretches` as events, people named from `people`.
pub fn render(
    schedule: &Schedule,
    stretches: &[(Instant, Answer)],
    person: impl Fn(&str) -> Option<Member>,
) -> String {
    let mut calendar = Calendar::new();
    calendar
        .name(&format!("On call: {}", schedule.name))
        .timezone(schedule.zone.name());
    let stamp = Utc::now();
    for (start, answer) in stretches {
        let (Some(key), Some(end)) = (&answer.person, answer.until) else {
            continue;
        };
        let who = person(key)
            .and_then(|m| m.name)
            .unwrap_or_else(|| key.to_string());
        let (why, uid) = match &answer.reason {
            Reason::Override { id, note, .. } => (
                match note {
                    Some(note) => format!("override: {note}"),
                    None => "override".to_owned(),
                },
                format!("{}-{id}-{}", schedule.name, start.timestamp()),
            ),
            Reason::Layer { layer, .. } => (
                format!("layer {layer}"),
                format!("{}-{layer}-{}", schedule.name, start.timestamp()),
            ),
            Reason::Nobody => continue,
        };
        calendar.push(
            Event::new()
                .uid(&format!("{uid}@klaxon"))
                .summary(&format!("{who} on call ({})", schedule.name))
                .description(&format!("{who} is on call for {}: {why}.", schedule.name))
                .starts(*start)
                .ends(end)
                .timestamp(stamp)
                .done(),
        );
    }
    calendar.done().to_string()
}
