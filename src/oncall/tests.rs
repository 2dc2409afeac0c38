//! The schedule maths as a table of instants: DST changes in two zones that change on
//! different dates, hand-offs, custom lengths, layers, overrides exactly on hand-off
//! boundaries, and an iCalendar layer with RRULE and EXDATE (the fixture file).

use std::sync::{Arc, RwLock};

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use super::calendar::{self, PeopleIndex};
use super::layer::{Layer, Source};
use super::length::ShiftLength;
use super::rotation::Rotation;
use super::{Instant, Member, Override, Overrides, Reason, Schedule};

fn t(text: &str) -> Instant {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .to_utc()
}

fn rotation(zone: Tz, length: ShiftLength, handoff: &str, start: &str, who: &[&str]) -> Rotation {
    Rotation {
        participants: who.iter().map(|p| Arc::from(*p)).collect(),
        length,
        handoff: NaiveTime::parse_from_str(handoff, "%H:%M").expect("test time"),
        start: NaiveDate::parse_from_str(start, "%Y-%m-%d").expect("test date"),
        end: None,
        zone,
    }
}

fn schedule(zone: Tz, layers: Vec<Rotation>) -> Schedule {
    Schedule {
        name: "primary".into(),
        zone,
        layers: layers
            .into_iter()
            .enumerate()
            .map(|(i, r)| Layer {
                name: format!("l{i}"),
                source: Source::Rotation(r),
            })
            .collect(),
    }
}

fn who(s: &Schedule, at: &str, overrides: &Overrides) -> (Option<String>, Option<Instant>) {
    let answer = s.who(t(at), overrides);
    (answer.person.map(|p| p.to_string()), answer.until)
}

fn person(s: &Schedule, at: &str) -> String {
    who(s, at, &Overrides::default()).0.unwrap_or_default()
}

fn ovr(id: &str, person: &str, start: &str, end: &str, added: &str) -> Override {
    Override {
        id: id.into(),
        schedule: "primary".into(),
        person: person.into(),
        start: t(start),
        end: t(end),
        note: None,
        created_at: t(added),
    }
}

#[test]
fn a_daily_hand_off_stays_at_nine_in_new_york_across_both_dst_changes() {
    let ny = chrono_tz::America::New_York;
    let s = schedule(
        ny,
        vec![rotation(
            ny,
            ShiftLength::Days(1),
            "09:00",
            "2026-03-06",
            &["a", "b"],
        )],
    );
    // 2026-03-08 02:00 EST → 03:00 EDT: 09:00 is 14:00Z before, 13:00Z after.
    assert_eq!(person(&s, "2026-03-07T13:59:59Z"), "a");
    assert_eq!(person(&s, "2026-03-07T14:00:00Z"), "b");
    let (_, until) = who(&s, "2026-03-07T20:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-03-08T13:00:00Z")), "a 23-hour shift");
    assert_eq!(person(&s, "2026-03-08T12:59:59Z"), "b");
    assert_eq!(person(&s, "2026-03-08T13:00:00Z"), "a");
    // 2026-11-01 02:00 EDT → 01:00 EST: the shift that spans it lasts 25 hours.
    let (_, until) = who(&s, "2026-10-31T20:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-11-01T14:00:00Z")));
    assert_eq!(
        person(&s, "2026-11-01T13:59:59Z"),
        person(&s, "2026-10-31T13:00:00Z")
    );
}

#[test]
fn a_weekly_berlin_rotation_hands_off_at_local_nine_when_new_york_has_already_changed() {
    let berlin = chrono_tz::Europe::Berlin;
    let ny = chrono_tz::America::New_York;
    let weekly = |zone| {
        schedule(
            zone,
            vec![rotation(
                zone,
                ShiftLength::Days(7),
                "09:00",
                "2026-03-02",
                &["a", "b", "c"],
            )],
        )
    };
    let (b, n) = (weekly(berlin), weekly(ny));
    // New York is on EDT from 8 March, Berlin on CET until the 29th: their Monday hand-offs
    // are 5 hours apart in between, 6 before and after.
    assert_eq!(person(&b, "2026-03-23T07:59:59Z"), "c");
    assert_eq!(person(&b, "2026-03-23T08:00:00Z"), "a");
    assert_eq!(person(&n, "2026-03-23T12:59:59Z"), "c");
    assert_eq!(person(&n, "2026-03-23T13:00:00Z"), "a");
    let (_, until) = who(&b, "2026-03-25T00:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-03-30T07:00:00Z")), "09:00 CEST");
    assert_eq!(person(&b, "2026-03-30T06:59:59Z"), "a");
    assert_eq!(person(&b, "2026-03-30T07:00:00Z"), "b");
    assert_eq!(person(&n, "2026-03-30T13:00:00Z"), "b");
    // And back: Berlin leaves summer time on 2026-10-25, New York on 2026-11-01.
    let (_, until) = who(&b, "2026-10-20T00:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-10-26T08:00:00Z")));
    let (_, until) = who(&n, "2026-10-27T00:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-11-02T14:00:00Z")));
}

#[test]
fn hour_lengths_are_elapsed_time_and_a_skipped_hand_off_moves_past_the_gap() {
    let ny = chrono_tz::America::New_York;
    let long = schedule(
        ny,
        vec![rotation(
            ny,
            ShiftLength::Hours(36),
            "21:00",
            "2026-03-07",
            &["a", "b"],
        )],
    );
    // From 21:00 EST (02:00Z on the 8th), 36 elapsed hours each, DST or not.
    assert_eq!(person(&long, "2026-03-08T01:59:59Z"), "");
    assert_eq!(person(&long, "2026-03-08T02:00:00Z"), "a");
    assert_eq!(person(&long, "2026-03-09T13:59:59Z"), "a");
    assert_eq!(person(&long, "2026-03-09T14:00:00Z"), "b");
    let (_, until) = who(&long, "2026-03-08T01:00:00Z", &Overrides::default());
    assert_eq!(
        until,
        Some(t("2026-03-08T02:00:00Z")),
        "nobody until the anchor"
    );
    // A 02:30 hand-off on the night 02:00 becomes 03:00 happens at 03:30 EDT.
    let gap = schedule(
        ny,
        vec![rotation(
            ny,
            ShiftLength::Days(1),
            "02:30",
            "2026-03-01",
            &["a", "b"],
        )],
    );
    let (_, until) = who(&gap, "2026-03-07T12:00:00Z", &Overrides::default());
    assert_eq!(until, Some(t("2026-03-08T07:30:00Z")));
}

#[test]
fn a_later_layer_wins_from_its_start_and_until_its_end() {
    let zone = chrono_tz::UTC;
    let base = rotation(
        zone,
        ShiftLength::Days(7),
        "09:00",
        "2026-01-05",
        &["a", "b"],
    );
    let mut cover = rotation(
        zone,
        ShiftLength::Days(1),
        "18:00",
        "2026-01-09",
        &["x", "y"],
    );
    cover.end = Some(t("2026-01-11T18:00:00Z"));
    let s = schedule(zone, vec![base, cover]);
    let (p, until) = who(&s, "2026-01-09T12:00:00Z", &Overrides::default());
    assert_eq!(p.as_deref(), Some("a"));
    assert_eq!(
        until,
        Some(t("2026-01-09T18:00:00Z")),
        "until the top layer starts"
    );
    let answer = s.who(t("2026-01-10T19:00:00Z"), &Overrides::default());
    assert_eq!(answer.person.as_deref(), Some("y"));
    assert!(
        matches!(&answer.reason, Reason::Layer { layer, position: 1, shift: Some(1), .. } if layer == "l1"),
        "{answer:?}"
    );
    assert_eq!(person(&s, "2026-01-11T18:00:00Z"), "a", "past its end");
}

#[test]
fn overrides_exactly_on_hand_offs_start_and_end_with_them() {
    let zone = chrono_tz::Europe::Berlin;
    let s = schedule(
        zone,
        vec![rotation(
            zone,
            ShiftLength::Days(1),
            "09:00",
            "2026-03-27",
            &["a", "b"],
        )],
    );
    // The shift from Sunday 29 March 09:00 CEST (07:00Z) to Monday 09:00 CEST is covered.
    let o = Overrides::new(vec![ovr(
        "ovr_1",
        "z",
        "2026-03-29T07:00:00Z",
        "2026-03-30T07:00:00Z",
        "2026-03-01T00:00:00Z",
    )]);
    assert_eq!(
        who(&s, "2026-03-29T06:59:59Z", &o),
        (Some("b".into()), Some(t("2026-03-29T07:00:00Z")))
    );
    assert_eq!(
        who(&s, "2026-03-29T07:00:00Z", &o),
        (Some("z".into()), Some(t("2026-03-30T07:00:00Z")))
    );
    let answer = s.who(t("2026-03-30T06:59:59Z"), &o);
    assert!(matches!(&answer.reason, Reason::Override { id, .. } if id == "ovr_1"));
    assert_eq!(
        who(&s, "2026-03-30T07:00:00Z", &o),
        (Some("b".into()), Some(t("2026-03-31T07:00:00Z")))
    );
}

#[test]
fn the_override_added_last_wins_where_two_overlap() {
    let zone = chrono_tz::UTC;
    let s = schedule(
        zone,
        vec![rotation(
            zone,
            ShiftLength::Days(7),
            "09:00",
            "2026-01-05",
            &["a"],
        )],
    );
    let o = Overrides::new(vec![
        ovr(
            "ovr_old",
            "x",
            "2026-01-06T00:00:00Z",
            "2026-01-08T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ),
        ovr(
            "ovr_new",
            "y",
            "2026-01-07T00:00:00Z",
            "2026-01-07T12:00:00Z",
            "2026-01-02T00:00:00Z",
        ),
    ]);
    assert_eq!(
        who(&s, "2026-01-06T10:00:00Z", &o),
        (Some("x".into()), Some(t("2026-01-07T00:00:00Z"))),
        "until the newer one takes over"
    );
    assert_eq!(
        who(&s, "2026-01-07T06:00:00Z", &o),
        (Some("y".into()), Some(t("2026-01-07T12:00:00Z")))
    );
    assert_eq!(who(&s, "2026-01-07T12:00:00Z", &o).0.as_deref(), Some("x"));
    assert_eq!(who(&s, "2026-01-08T00:00:00Z", &o).0.as_deref(), Some("a"));
    let (_, until) = who(&s, "2026-01-05T10:00:00Z", &o);
    assert_eq!(
        until,
        Some(t("2026-01-06T00:00:00Z")),
        "the next override starts"
    );
}

fn fixture_people() -> PeopleIndex {
    let member = |key: &str, name: &str, email: &str| Member {
        key: key.into(),
        name: Some(name.into()),
        phone: "+15551000001".into(),
        email: Some(email.into()),
    };
    PeopleIndex::new(&[
        member("carol", "Carol", "carol@example.com"),
        member("dave", "Dave Example", "dave@example.com"),
    ])
}

#[test]
fn the_fixture_calendar_repeats_weekly_less_its_exdates_across_berlins_dst_change() {
    let text = include_str!("../../tests/fixtures/oncall/rota.ics");
    let berlin = chrono_tz::Europe::Berlin;
    let events = calendar::parse(text, berlin, &fixture_people()).expect("fixture parses");
    let shifts = calendar::expand(
        &events,
        t("2026-03-01T00:00:00Z"),
        t("2026-06-01T00:00:00Z"),
    )
    .expect("fixture expands");
    let carol: Vec<String> = shifts
        .iter()
        .filter(|s| &*s.person == "carol")
        .map(|s| s.start.to_rfc3339())
        .collect();
    // COUNT=8 from 6 March, less 20 March and 10 April.
    assert_eq!(
        carol,
        [
            "2026-03-06T17:00:00+00:00",
            "2026-03-13T17:00:00+00:00",
            "2026-03-27T17:00:00+00:00",
            "2026-04-03T16:00:00+00:00",
            "2026-04-17T16:00:00+00:00",
            "2026-04-24T16:00:00+00:00",
        ]
    );
    // DTEND gives an exact duration (RFC 5545): the weekend over the change ends at 09:00 CEST.
    let over_dst = shifts.iter().find(|s| s.start == t("2026-03-27T17:00:00Z"));
    assert_eq!(over_dst.map(|s| s.end), Some(t("2026-03-30T07:00:00Z")));
    let s = Schedule {
        name: "primary".into(),
        zone: berlin,
        layers: vec![
            Layer {
                name: "weekdays".into(),
                source: Source::Rotation(rotation(
                    berlin,
                    ShiftLength::Days(7),
                    "09:00",
                    "2026-03-02",
                    &["a"],
                )),
            },
            Layer {
                name: "weekends".into(),
                source: Source::Calendar(Arc::new(RwLock::new(shifts.into()))),
            },
        ],
    };
    assert_eq!(person(&s, "2026-03-14T12:00:00Z"), "carol");
    assert_eq!(person(&s, "2026-03-21T12:00:00Z"), "a", "EXDATE");
    // Dave's holiday (matched by ATTENDEE e-mail) started later than Carol's weekend: it wins.
    let answer = s.who(t("2026-04-05T12:00:00Z"), &Overrides::default());
    assert_eq!(answer.person.as_deref(), Some("dave"));
    assert!(
        matches!(&answer.reason, Reason::Layer { event: Some(e), .. } if e == "easter-dave@example.com")
    );
    assert_eq!(answer.until, Some(t("2026-04-06T00:00:00Z")));
    assert_eq!(person(&s, "2026-04-06T03:00:00Z"), "carol");
}

#[test]
fn a_calendar_event_naming_nobody_is_refused_with_its_uid() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x-1\r\nSUMMARY:Mallory\r\nDTSTART:20260101T000000Z\r\nDTEND:20260102T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let error = calendar::parse(text, chrono_tz::UTC, &fixture_people()).unwrap_err();
    assert!(error.to_string().contains("x-1"), "{error}");
    assert!(calendar::parse("not a calendar", chrono_tz::UTC, &fixture_people()).is_err());
}

#[test]
fn stretches_list_each_hand_off_and_override_once() {
    let zone = chrono_tz::UTC;
    let s = schedule(
        zone,
        vec![rotation(
            zone,
            ShiftLength::Days(1),
            "09:00",
            "2026-01-01",
            &["a", "b"],
        )],
    );
    let o = Overrides::new(vec![ovr(
        "ovr_1",
        "z",
        "2026-01-02T12:00:00Z",
        "2026-01-02T18:00:00Z",
        "2026-01-01T00:00:00Z",
    )]);
    let stretches = s.stretches(
        t("2026-01-02T00:00:00Z"),
        t("2026-01-03T12:00:00Z"),
        &o,
        100,
    );
    let starts: Vec<(String, String)> = stretches
        .iter()
        .map(|(at, a)| {
            (
                at.to_rfc3339(),
                a.person.as_deref().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("2026-01-02T00:00:00+00:00", "a"),
        ("2026-01-02T09:00:00+00:00", "b"),
        ("2026-01-02T12:00:00+00:00", "z"),
        ("2026-01-02T18:00:00+00:00", "b"),
        ("2026-01-03T09:00:00+00:00", "a"),
    ];
    assert_eq!(starts, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(
        TimeDelta::hours(6),
        stretches[2].1.until.unwrap_or_default() - t("2026-01-02T12:00:00Z")
    );
}
