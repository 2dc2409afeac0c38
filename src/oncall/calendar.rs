//! A layer imported from an iCalendar file or feed: each event (VEVENT) is a shift of the
//! person it names, repeated by its RRULE and less its EXDATEs. Parsing is the `icalendar`
//! crate's, expansion the `rrule` crate's; this file decides what an event means for a
//! schedule: who it names (SUMMARY or an ATTENDEE, matched to a `[people]` key, name or
//! e-mail), which zone a floating time is in (the schedule's), and how far ahead shifts are
//! expanded.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use icalendar::{Component, Property};

use super::Member;
use super::zone::{Instant, instant_of};

/// Occurrences of one event expanded at most (a daily rule over two years is 730).
const MAX_OCCURRENCES: u16 = 5000;

/// Why a calendar cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("not an iCalendar file: {0}")]
    Syntax(String),
    #[error("event {event}: {reason}")]
    Event { event: String, reason: String },
    #[error("no events (VEVENT) in the calendar")]
    Empty,
}

/// One event as imported: who, from when, for how long, and how it repeats.
#[derive(Debug, Clone)]
pub struct ImportedEvent {
    /// UID, else SUMMARY: how problems name the event.
    pub label: String,
    pub person: Arc<str>,
    pub start: DateTime<rrule::Tz>,
    pub length: TimeDelta,
    rule: Option<rrule::RRule<rrule::Unvalidated>>,
    exdates: Vec<DateTime<rrule::Tz>>,
}

/// One occurrence: a shift of `person` over `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarShift {
    pub start: Instant,
    pub end: Instant,
    pub person: Arc<str>,
    /// The event's UID or SUMMARY, said in the answer's reason.
    pub event: Arc<str>,
}

/// Finds the `[people]` key an event names.
#[derive(Debug, Clone, Default)]
pub struct PeopleIndex(HashMap<String, Arc<str>>);

impl PeopleIndex {
    /// Keys, names and e-mail addresses, compared without case.
    pub fn new<'a>(members: impl IntoIterator<Item = &'a Member>) -> PeopleIndex {
        let mut index = HashMap::new();
        for member in members {
            let key: Arc<str> = Arc::from(member.key.as_str());
            for word in [
                Some(&member.key),
                member.name.as_ref(),
                member.email.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                index.insert(word.trim().to_lowercase(), key.clone());
            }
        }
        PeopleIndex(index)
    }

    fn find(&self, text: &str) -> Option<Arc<str>> {
        let text = text.trim();
        let text = text
            .strip_prefix("mailto:")
            .or_else(|| text.strip_prefix("MAILTO:"))
            .unwrap_or(text);
        self.0.get(&text.to_lowercase()).cloned()
    }
}

/// Parses a calendar's events; floating times are read in `zone`.
pub fn parse(
    text: &str,
    zone: Tz,
    people: &PeopleIndex,
) -> Result<Vec<ImportedEvent>, CalendarError> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err(CalendarError::Syntax(
            "it does not start with BEGIN:VCALENDAR".into(),
        ));
    }
    let calendar: icalendar::Calendar = text.parse().map_err(CalendarError::Syntax)?;
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    if events.is_empty() {
        return Err(CalendarError::Empty);
    }
    events
        .into_iter()
        .map(|event| import(event, zone, people))
        .collect()
}

fn import(
    event: &icalendar::Event,
    zone: Tz,
    people: &PeopleIndex,
) -> Result<ImportedEvent, CalendarError> {
    let label = event
        .get_uid()
        .or_else(|| event.get_summary())
        .unwrap_or("(no UID)")
        .to_owned();
    let fail = |reason: String| CalendarError::Event {
        event: label.clone(),
        reason,
    };
    let summary = event.get_summary().unwrap_or_default();
    let attendees = event.properties().get("ATTENDEE").into_iter().chain(
        event
            .multi_properties()
            .get("ATTENDEE")
            .into_iter()
            .flatten(),
    );
    let person = std::iter::once(summary)
        .chain(attendees.map(Property::value))
        .find_map(|text| people.find(text))
        .ok_or_else(|| {
            fail(format!(
                "names nobody in [people] (SUMMARY {summary:?}; an ATTENDEE's e-mail, a key or a name must match)"
            ))
        })?;
    let property = |name: &str| event.properties().get(name);
    let start = property("DTSTART").ok_or_else(|| fail("has no DTSTART".into()))?;
    let (start, all_day) = when(start, zone).map_err(&fail)?;
    let end = match (property("DTEND"), property("DURATION")) {
        (Some(end), _) => when(end, zone).map_err(&fail)?.0,
        (None, Some(duration)) => start + duration_of(duration.value()).map_err(&fail)?,
        (None, None) if all_day => start + TimeDelta::days(1),
        (None, None) => return Err(fail("has neither DTEND nor DURATION".into())),
    };
    let length = end - start;
    if length <= TimeDelta::zero() {
        return Err(fail("ends before it starts".into()));
    }
    let rule = property("RRULE")
        .map(|rule| {
            rule.value()
                .parse::<rrule::RRule<rrule::Unvalidated>>()
                .map_err(|e| fail(format!("RRULE: {e}")))
        })
        .transpose()?;
    let mut exdates = Vec::new();
    for exdate in property("EXDATE")
        .into_iter()
        .chain(event.multi_properties().get("EXDATE").into_iter().flatten())
    {
        let tzid = exdate.params().get("TZID").map(|p| p.value().to_owned());
        for value in exdate.value().split(',') {
            let (t, _) = value_at(value.trim(), tzid.as_deref(), zone).map_err(&fail)?;
            exdates.push(t);
        }
    }
    Ok(ImportedEvent {
        label,
        person,
        start,
        length,
        rule,
        exdates,
    })
}

/// A DTSTART/DTEND/EXDATE property as an instant in its zone, and whether it was a date.
fn when(property: &Property, zone: Tz) -> Result<(DateTime<rrule::Tz>, bool), String> {
    let tzid = property.params().get("TZID").map(|p| p.value().to_owned());
    value_at(property.value(), tzid.as_deref(), zone)
}

fn value_at(
    value: &str,
    tzid: Option<&str>,
    zone: Tz,
) -> Result<(DateTime<rrule::Tz>, bool), String> {
    let in_zone =
        |tz: Tz, local: NaiveDateTime| instant_of(tz, local).with_timezone(&rrule::Tz::Tz(tz));
    if let Some(utc) = value.strip_suffix('Z') {
        let local = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
            .map_err(|_| format!("{value:?} is not an iCalendar date-time"))?;
        return Ok((in_zone(chrono_tz::UTC, local), false));
    }
    let tz = match tzid {
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| format!("TZID {name:?} is not an IANA time zone"))?,
        None => zone,
    };
    if let Ok(local) = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S") {
        return Ok((in_zone(tz, local), false));
    }
    let date = NaiveDate::parse_from_str(value, "%Y%m%d")
        .map_err(|_| format!("{value:?} is not an iCalendar date or date-time"))?;
    Ok((in_zone(tz, date.and_time(chrono::NaiveTime::MIN)), true))
}

/// An RFC 5545 DURATION such as `PT12H`, `P1D` or `P1W`.
fn duration_of(text: &str) -> Result<TimeDelta, String> {
    let bad = || format!("{text:?} is not an iCalendar DURATION");
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (mut total, mut number, mut in_time) = (TimeDelta::zero(), String::new(), false);
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' => in_time = true,
            unit => {
                let n: i64 = number.parse().map_err(|_| bad())?;
                number.clear();
                total += match (unit, in_time) {
                    ('W', false) => TimeDelta::weeks(n),
                    ('D', false) => TimeDelta::days(n),
                    ('H', true) => TimeDelta::hours(n),
                    ('M', true) => TimeDelta::minutes(n),
                    ('S', true) => TimeDelta::seconds(n),
                    _ => return Err(bad()),
                };
            }
        }
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// The shifts the events make over `[from, to)`, sorted by start.
pub fn expand(
    events: &[ImportedEvent],
    from: Instant,
    to: Instant,
) -> Result<Vec<CalendarShift>, CalendarError> {
    let mut shifts = Vec::new();
    for event in events {
        let label: Arc<str> = Arc::from(event.label.as_str());
        let starts = match &event.rule {
            None => vec![event.start],
            Some(rule) => {
                let mut set =
                    rule.clone()
                        .build(event.start)
                        .map_err(|e| CalendarError::Event {
                            event: event.label.clone(),
                            reason: format!("RRULE: {e}"),
                        })?;
                for exdate in &event.exdates {
                    set = set.exdate(*exdate);
                }
                // Occurrences that started before `from` may still be running.
                let zone = event.start.timezone();
                let after = (from - event.length - TimeDelta::seconds(1)).with_timezone(&zone);
                set.after(after)
                    .before(to.with_timezone(&zone))
                    .all(MAX_OCCURRENCES)
                    .dates
            }
        };
        for start in starts {
            if event.rule.is_none() && event.exdates.contains(&start) {
                continue;
            }
            let start = start.to_utc();
            let end = start + event.length;
            if end > from && start < to {
                shifts.push(CalendarShift {
                    start,
                    end,
                    person: event.person.clone(),
                    event: label.clone(),
                });
            }
        }
    }
    shifts.sort_by_key(|a| (a.start, a.end));
    Ok(shifts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_rfc_5545_says() {
        assert_eq!(duration_of("PT12H"), Ok(TimeDelta::hours(12)));
        assert_eq!(duration_of("P1W"), Ok(TimeDelta::weeks(1)));
        assert_eq!(
            duration_of("P1DT2H30M"),
            Ok(TimeDelta::days(1) + TimeDelta::minutes(150))
        );
        assert!(duration_of("12H").is_err());
        assert!(duration_of("PT12").is_err());
    }
}
