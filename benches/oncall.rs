//! Who is on call, in process: `cargo bench --bench oncall`.
//!
//! A schedule of three layers (a weekly rotation of five in Europe/Berlin, a follow-the-sun
//! daily layer of four from New York, a two-person 12-hour night layer) and 100 overrides
//! scattered over the year, looked up at random instants across that year, one call at a
//! time: `Oncall::who`, as the API and an escalation step call it (the override cache read,
//! the maths, the person's phone). Prints the median and p99 per call; the goal is 50 µs.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use klaxon::oncall::{Oncall, Override};

const SETTINGS: &str = r#"
[people.ana]
phone = "+15551000001"
[people.ben]
phone = "+15551000002"
[people.cai]
phone = "+15551000003"
[people.dee]
phone = "+15551000004"
[people.eve]
phone = "+15551000005"
[people.fay]
phone = "+15551000006"
[people.gus]
phone = "+15551000007"

[[schedules]]
name = "primary"
time_zone = "Europe/Berlin"
[[schedules.layers]]
name = "weekly"
rotation = "weekly"
participants = ["ana", "ben", "cai", "dee", "eve"]
handoff = "09:00"
start = "2026-01-05"
[[schedules.layers]]
name = "follow-the-sun"
rotation = "daily"
participants = ["fay", "gus", "ana", "ben"]
handoff = "17:00"
start = "2026-02-01"
[[schedules.layers]]
name = "nights"
rotation = "12h"
participants = ["cai", "dee"]
handoff = "21:00"
start = "2026-03-01"
"#;

const OVERRIDES: usize = 100;
const CALLS: usize = 200_000;
const GOAL_US: f64 = 50.0;

fn main() {
    let raw = klaxon::settings::Raw::from_toml(std::path::Path::new("bench.toml"), SETTINGS)
        .expect("bench settings parse");
    let settings = klaxon::Settings::resolve(raw, |_| None).expect("bench settings are valid");
    let oncall = Oncall::new(settings.oncall, None);
    let year_start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("instant");
    let mut rng = fastrand::Rng::with_seed(20);
    let people = ["ana", "ben", "cai", "dee", "eve", "fay", "gus"];
    let overrides = (0..OVERRIDES)
        .map(|i| {
            let start = year_start + TimeDelta::minutes(rng.i64(0..365 * 24 * 60));
            Override {
                id: format!("ovr_{i:03}"),
                schedule: "primary".into(),
                person: people[rng.usize(0..people.len())].into(),
                start,
                end: start + TimeDelta::minutes(rng.i64(30..4 * 24 * 60)),
                note: None,
                created_at: year_start + TimeDelta::seconds(i as i64),
            }
        })
        .collect();
    oncall.set_overrides("primary", overrides);

    let instants: Vec<DateTime<Utc>> = (0..CALLS)
        .map(|_| year_start + TimeDelta::seconds(rng.i64(0..365 * 86_400)))
        .collect();
    // Warm up, and check the answers are real (most instants have someone).
    let mut covered = 0;
    for at in instants.iter().take(10_000) {
        let who = oncall.who("primary", *at).expect("schedule exists");
        covered += usize::from(who.person.is_some());
    }
    assert!(
        covered > 9_000,
        "only {covered} of 10000 instants had someone"
    );

    let mut times = Vec::with_capacity(CALLS);
    let mut by_override = 0usize;
    for at in &instants {
        let started = Instant::now();
        let who = std::hint::black_box(oncall.who("primary", *at));
        times.push(started.elapsed());
        if let Ok(who) = who
            && matches!(who.reason, klaxon::oncall::Reason::Override { .. })
        {
            by_override += 1;
        }
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = us(times[times.len() / 2]);
    let p99 = us(times[times.len() * 99 / 100]);
    let max = us(times[times.len() - 1]);
    println!(
        "who is on call: 3 layers, {OVERRIDES} overrides, {CALLS} lookups at random instants of a year"
    );
    println!("  answered by an override: {by_override}");
    println!(
        "  per call: median {median:.2} µs, p99 {p99:.2} µs, max {max:.1} µs (goal: p99 ≤ {GOAL_US} µs)"
    );
    record("who is on call, p99 (3 layers, 100 overrides)", p99);
    if p99 > GOAL_US {
        eprintln!("p99 {p99:.2} µs is above the goal of {GOAL_US} µs");
        std::process::exit(1);
    }
}

/// Appends the figure for `cargo bench --bench report` when `KLAXON_BENCH_FIGURES` is set.
fn record(name: &str, value: f64) {
    let Ok(path) = std::env::var("KLAXON_BENCH_FIGURES") else {
        return;
    };
    let line = serde_json::json!({
        "bench": "oncall", "name": name, "value": value, "unit": "µs", "goal": "≤ 50",
    });
    use std::io::Write as _;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(error) = written {
        eprintln!("cannot record the figure in {path}: {error}");
    }
}
