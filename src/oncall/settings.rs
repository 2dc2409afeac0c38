//! `[[schedules]]` as written, validated into [`OncallSettings`]: unknown people, bad zones,
//! bad lengths and dates, and calendars that cannot be read or name nobody are reported with
//! their key (`schedules[0].layers[1].participants`) and where they came from, all at once.
//!
//! A calendar file is read and checked here (so `klaxon check` reports it); a calendar URL
//! is only checked to be one: it is fetched when the server starts and then refreshed (see
//! [`super::service`]).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::calendar::{self, PeopleIndex};
use super::layer::{Layer, Source};
use super::rotation::Rotation;
use super::zone::instant_of;
use super::{Member, Schedule};
use crate::config::{Origin, Reader, values};

/// A calendar URL is fetched again this often unless the layer says (`refresh = "…"`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(15 * 60);
/// The hand-off time when a rotation does not say.
pub const DEFAULT_HANDOFF: &str = "09:00";
/// How far behind and ahead of now a calendar's repeating events are expanded.
pub const CALENDAR_BEHIND: TimeDelta = TimeDelta::days(31);
pub const CALENDAR_AHEAD: TimeDelta = TimeDelta::days(400);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub name: String,
    /// An IANA zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    #[serde(default)]
    pub layers: Vec<RawLayer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayer {
    pub name: Option<String>,
    /// `hourly`, `daily`, `weekly`, or `36h`, `2d`, `2w`.
    pub rotation: Option<String>,
    /// `[people]` keys, in turn order.
    pub participants: Option<Vec<String>>,
    /// `HH:MM` in the schedule's zone.
    pub handoff: Option<String>,
    /// The anchor: the first shift starts on this date (`YYYY-MM-DD`) at the hand-off time.
    pub start: Option<String>,
    /// The layer stops on this date at the hand-off time.
    pub end: Option<String>,
    /// An iCalendar file path, or an `https://` URL (`http://` only on loopback).
    pub ical: Option<String>,
    /// How often a URL is fetched again, e.g. `15m`.
    pub refresh: Option<String>,
}

/// The validated schedules and the people they may name.
#[derive(Debug, Clone, Default)]
pub struct OncallSettings {
    pub schedules: BTreeMap<String, ScheduleSettings>,
    /// `[people]` by key.
    pub people: BTreeMap<String, Member>,
}

/// A schedule and the calendars that feed its layers.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub schedule: Schedule,
    pub calendars: Vec<CalendarFeed>,
}

/// An imported layer and where it comes from.
#[derive(Debug, Clone)]
pub struct CalendarFeed {
    pub layer: String,
    pub source: CalendarSource,
    pub refresh: Duration,
    pub zone: Tz,
    pub people: PeopleIndex,
    /// The layer's shifts (shared with the schedule's layer), replaced on refresh.
    pub shifts: Arc<RwLock<Arc<[calendar::CalendarShift]>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarSource {
    File(PathBuf),
    Url(reqwest::Url),
}

/// A URL is shown as its scheme and host only: private calendar links (Google's
/// `…/private-<key>/basic.ics`) carry their secret in the path or query.
impl std::fmt::Display for CalendarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalendarSource::File(path) => write!(f, "{}", path.display()),
            CalendarSource::Url(url) => {
                write!(f, "{}://{}/…", url.scheme(), url.host_str().unwrap_or(""))
            }
        }
    }
}

impl OncallSettings {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.schedules.keys().map(String::as_str)
    }
}

/// Validates `[[schedules]]` against `people`; problems go to `r`.
pub fn resolve(raw: Vec<RawSchedule>, people: Vec<Member>, r: &mut Reader<'_>) -> OncallSettings {
    let file = r.file().clone();
    let people: BTreeMap<String, Member> = people.into_iter().map(|m| (m.key.clone(), m)).collect();
    let index = PeopleIndex::new(people.values());
    let mut schedules = BTreeMap::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let key = format!("schedules[{i}]");
        let fail = |r: &mut Reader<'_>, k: String, m: String| r.fail(file.clone(), k, m);
        if !valid_name(&raw.name) {
            fail(
                r,
                format!("{key}.name"),
                format!("{:?}: use 1 to 64 letters, digits, '-' or '_'", raw.name),
            );
        }
        if schedules.contains_key(&raw.name) {
            fail(
                r,
                format!("{key}.name"),
                format!("{:?} is declared twice", raw.name),
            );
        }
        let zone = match raw.time_zone.parse::<Tz>() {
            Ok(zone) => zone,
            Err(_) => {
                fail(
                    r,
                    format!("{key}.time_zone"),
                    format!(
                        "{:?} is not an IANA time zone such as Europe/Berlin",
                        raw.time_zone
                    ),
                );
                chrono_tz::UTC
            }
        };
        if raw.layers.is_empty() {
            fail(
                r,
                format!("{key}.layers"),
                "a schedule needs at least one layer".into(),
            );
        }
        let mut layers = Vec::new();
        let mut calendars = Vec::new();
        let mut names = HashSet::new();
        for (j, layer) in raw.layers.into_iter().enumerate() {
            let key = format!("{key}.layers[{j}]");
            let name = layer.name.clone().unwrap_or_else(|| format!("layers[{j}]"));
            if !names.insert(name.clone()) {
                fail(
                    r,
                    format!("{key}.name"),
                    format!("{name:?} is used by two layers"),
                );
            }
            let source = match &layer.ical {
                Some(ical) => {
                    let feed = calendar_layer(&key, &name, ical, &layer, zone, &index, r);
                    feed.map(|feed| {
                        let shifts = feed.shifts.clone();
                        calendars.push(feed);
                        Source::Calendar(shifts)
                    })
                }
                None => rotation_layer(&key, &layer, zone, &people, r).map(Source::Rotation),
            };
            if let Some(source) = source {
                layers.push(Layer { name, source });
            }
        }
        schedules.insert(
            raw.name.clone(),
            ScheduleSettings {
                schedule: Schedule {
                    name: raw.name,
                    zone,
                    layers,
                },
                calendars,
            },
        );
    }
    OncallSettings { schedules, people }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn rotation_layer(
    key: &str,
    layer: &RawLayer,
    zone: Tz,
    people: &BTreeMap<String, Member>,
    r: &mut Reader<'_>,
) -> Option<Rotation> {
    let file = r.file().clone();
    let before = r.problem_count();
    if layer.refresh.is_some() {
        r.fail(
            file.clone(),
            format!("{key}.refresh"),
            "only an `ical` layer is refreshed".into(),
        );
    }
    let length = match &layer.rotation {
        Some(text) => r.check(&format!("{key}.rotation"), file.clone(), text.parse()),
        None => {
            r.fail(
                file.clone(),
                format!("{key}.rotation"),
                "a layer needs `rotation` (hourly, daily, weekly, 36h …) or `ical`".into(),
            );
            None
        }
    };
    let participants = layer.participants.clone().unwrap_or_default();
    if participants.is_empty() {
        r.fail(
            file.clone(),
            format!("{key}.participants"),
            "name at least one key of [people]".into(),
        );
    }
    for person in &participants {
        if !people.contains_key(person) {
            r.fail(
                file.clone(),
                format!("{key}.participants"),
                format!("{person:?} is not a key of [people]"),
            );
        }
    }
    let handoff = layer.handoff.as_deref().unwrap_or(DEFAULT_HANDOFF);
    let handoff = r.check(
        &format!("{key}.handoff"),
        file.clone(),
        NaiveTime::parse_from_str(handoff, "%H:%M")
            .map_err(|_| format!("{handoff:?} is not a time of day such as 09:00")),
    );
    let start = match &layer.start {
        Some(start) => r.check(&format!("{key}.start"), file.clone(), date(start)),
        None => {
            r.fail(
                file.clone(),
                format!("{key}.start"),
                "a rotation needs its anchor date, e.g. start = \"2026-01-05\"".into(),
            );
            None
        }
    };
    let end = layer
        .end
        .as_deref()
        .and_then(|end| r.check(&format!("{key}.end"), file.clone(), date(end)));
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        r.fail(file, format!("{key}.end"), "must be after `start`".into());
    }
    if r.problem_count() > before {
        return None;
    }
    let (length, handoff, start) = (length?, handoff?, start?);
    Some(Rotation {
        participants: participants.iter().map(|p| Arc::from(p.as_str())).collect(),
        length,
        handoff,
        start,
        end: end.map(|end| instant_of(zone, end.and_time(handoff))),
        zone,
    })
}

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date such as 2026-01-05"))
}

fn calendar_layer(
    key: &str,
    name: &str,
    ical: &str,
    layer: &RawLayer,
    zone: Tz,
    people: &PeopleIndex,
    r: &mut Reader<'_>,
) -> Option<CalendarFeed> {
    let file = r.file().clone();
    for (field, set) in [
        ("rotation", layer.rotation.is_some()),
        ("participants", layer.participants.is_some()),
        ("start", layer.start.is_some()),
        ("end", layer.end.is_some()),
        ("handoff", layer.handoff.is_some()),
    ] {
        if set {
            r.fail(
                file.clone(),
                format!("{key}.{field}"),
                "an `ical` layer takes its shifts from the calendar; remove this".into(),
            );
        }
    }
    let refresh = match &layer.refresh {
        Some(text) => r.check(
            &format!("{key}.refresh"),
            file.clone(),
            values::parse_duration(text).and_then(|d| {
                if d >= Duration::from_secs(60) {
                    Ok(d)
                } else {
                    Err(format!("{text:?}: refresh at most once a minute"))
                }
            }),
        )?,
        None => DEFAULT_REFRESH,
    };
    let source = match source_of(ical, &file) {
        Ok(source) => source,
        Err(message) => {
            r.fail(file, format!("{key}.ical"), message);
            return None;
        }
    };
    let shifts = match &source {
        CalendarSource::File(path) => match load_file(path, zone, people) {
            Ok(shifts) => shifts,
            Err(message) => {
                r.fail(file, format!("{key}.ical"), message);
                return None;
            }
        },
        // Fetched at start-up (see `service`).
        CalendarSource::Url(_) => Vec::new(),
    };
    Some(CalendarFeed {
        layer: name.to_owned(),
        source,
        refresh,
        zone,
        people: people.clone(),
        shifts: Arc::new(RwLock::new(shifts.into())),
    })
}

/// A path (relative to the settings file's folder, when there is one) or a URL.
fn source_of(ical: &str, file: &Origin) -> Result<CalendarSource, String> {
    if ical.starts_with("https://") || ical.starts_with("http://") {
        // Not echoed: a private calendar link carries its secret in the URL.
        let url = reqwest::Url::parse(ical).map_err(|e| format!("not a URL: {e}"))?;
        let loopback = match url.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if url.scheme() == "http" && !loopback {
            return Err("use https:// (http:// only for loopback)".into());
        }
        return Ok(CalendarSource::Url(url));
    }
    let path = PathBuf::from(ical);
    let path = match file {
        Origin::File(settings) if path.is_relative() => settings
            .parent()
            .map_or(path.clone(), |folder| folder.join(&path)),
        _ => path,
    };
    Ok(CalendarSource::File(path))
}

/// Reads, parses and expands a calendar file around now.
pub fn load_file(
    path: &std::path::Path,
    zone: Tz,
    people: &PeopleIndex,
) -> Result<Vec<calendar::CalendarShift>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    expand_text(&text, zone, people).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and expands calendar text around now.
pub fn expand_text(
    text: &str,
    zone: Tz,
    people: &PeopleIndex,
) -> Result<Vec<calendar::CalendarShift>, calendar::CalendarError> {
    let events = calendar::parse(text, zone, people)?;
    let now = Utc::now();
    calendar::expand(&events, now - CALENDAR_BEHIND, now + CALENDAR_AHEAD)
}
