//! On-call schedules over real HTTP: who is on call and why, overrides added and removed
//! (stored in SQLite, or PostgreSQL with `KLAXON_TEST_POSTGRES_URL`, and seen by every
//! node), calendar layers from a file and from a URL on loopback, the iCalendar feed and its
//! token, `klaxon oncall`, and an escalation whose policy rings `schedule:<name>` on the
//! sandbox carrier.
//!
//! Schedules here are anchored relative to today, so the override cache (which keeps the
//! last 90 days) and the calendar expansion (a year ahead) always cover the instants asked.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use klaxon::oncall::Oncall;
use klaxon::sandbox::carrier::Delivery;
use serde_json::{Value, json};

use crate::support::voice_rig::{Rig, RigConfig, actions};
use crate::support::{TestServer, assert_error, binary, eventually, postgres};

const PEOPLE: &str = r#"
[people.ana]
name = "Ana"
phone = "+15551000004"
email = "ana@example.com"
[people.ben]
name = "Ben"
phone = "+15551000002"
[people.carol]
name = "Carol"
phone = "+15551000003"
email = "carol@example.com"
"#;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Midnight UTC `days` from today.
fn midnight(days: i64) -> DateTime<Utc> {
    (today() + TimeDelta::days(days))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A daily UTC rotation of Ana then Ben, handing off at 09:00, anchored 10 days ago (an
/// even number: today's shift, from 09:00, is Ana's).
fn daily_schedule() -> String {
    format!(
        r#"{PEOPLE}
[[schedules]]
name = "primary"
time_zone = "UTC"
[[schedules.layers]]
name = "daily"
rotation = "daily"
participants = ["ana", "ben"]
handoff = "09:00"
start = "{}"
"#,
        today() - TimeDelta::days(10)
    )
}

async fn who(server: &TestServer, at: DateTime<Utc>) -> Value {
    let (status, answer) = server
        .get(&format!("/v1/schedules/primary/oncall?at={}", rfc(at)))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn overrides(server: &TestServer) -> Vec<Value> {
    let after = rfc(midnight(-30));
    let (status, list) = server
        .get(&format!("/v1/schedules/primary/overrides?after={after}"))
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_api_says_who_is_on_call_and_why_and_overrides_change_it_exactly_at_hand_offs() {
    let server = TestServer::start_with_toml(&daily_schedule(), &[]).await;
    let handoff = midnight(1) + TimeDelta::hours(9);

    let (status, list) = server.get("/v1/schedules").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["name"], "primary");
    assert_eq!(list["data"][0]["time_zone"], "UTC");
    assert_eq!(
        list["data"][0]["layers"][0]["participants"],
        json!(["ana", "ben"])
    );
    assert_eq!(
        list["data"][0]["feed_path"],
        "/v1/schedules/primary/feed.ics"
    );

    let before = who(&server, handoff - TimeDelta::seconds(1)).await;
    assert_eq!(before["person"]["key"], "ana", "{before}");
    assert_eq!(before["person"]["phone"], "+15551000004");
    assert_eq!(before["reason"]["kind"], "layer");
    assert_eq!(before["reason"]["layer"], "daily");
    assert_eq!(before["reason"]["shift"], 10);
    assert_eq!(before["until"], rfc(handoff));
    assert_eq!(who(&server, handoff).await["person"]["key"], "ben");

    // Carol covers exactly Ben's shift.
    let (status, added) = server
        .send(
            server
                .http
                .post(server.url("/v1/schedules/primary/overrides"))
                .json(&json!({
                    "person": "carol",
                    "start": rfc(handoff),
                    "end": rfc(handoff + TimeDelta::days(1)),
                    "note": "swap with Ben",
                })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("ovr_"), "{id}");

    assert_eq!(
        who(&server, handoff - TimeDelta::seconds(1)).await["person"]["key"],
        "ana"
    );
    let covered = who(&server, handoff).await;
    assert_eq!(covered["person"]["key"], "carol", "{covered}");
    assert_eq!(covered["reason"]["kind"], "override");
    assert_eq!(covered["reason"]["id"], id.as_str());
    assert_eq!(covered["reason"]["note"], "swap with Ben");
    assert_eq!(covered["until"], rfc(handoff + TimeDelta::days(1)));
    let after = who(&server, handoff + TimeDelta::days(1)).await;
    assert_eq!(after["person"]["key"], "ana", "{after}");
    assert_eq!(after["reason"]["kind"], "layer");

    // Bad input is refused and changes nothing.
    let post = |body: Value| {
        server.send(
            server
                .http
                .post(server.url("/v1/schedules/primary/overrides"))
                .json(&body),
        )
    };
    let range = |person: &str| json!({"person": person, "start": rfc(handoff), "end": rfc(handoff + TimeDelta::hours(1))});
    assert_error(&post(range("mallory")).await, 422, "unknown_person");
    assert_error(
        &post(json!({"person": "ana", "start": rfc(handoff), "end": rfc(handoff)})).await,
        422,
        "invalid_range",
    );
    assert_error(
        &post(json!({"person": "ana", "start": "tomorrow", "end": rfc(handoff)})).await,
        400,
        "invalid_time",
    );
    assert_error(&post(json!({"who": "ana"})).await, 400, "invalid_json");
    let (status, missing) = server
        .send(
            server
                .http
                .post(server.url("/v1/schedules/nope/overrides"))
                .json(&range("ana")),
        )
        .await;
    assert_error(&(status, missing), 404, "not_found");
    assert_eq!(overrides(&server).await.len(), 1);
    assert_error(
        &server.get("/v1/schedules/primary/oncall?at=noon").await,
        400,
        "invalid_time",
    );
    assert_error(
        &server.get("/v1/schedules/nope/oncall").await,
        404,
        "not_found",
    );

    let delete = |id: String| {
        let url = server.url(&format!("/v1/schedules/primary/overrides/{id}"));
        server.send(server.http.delete(url))
    };
    let (status, deleted) = delete(id.clone()).await;
    assert_eq!((status.as_u16(), &deleted["deleted"]), (200, &json!(true)));
    assert_error(&delete(id).await, 404, "not_found");
    assert_eq!(who(&server, handoff).await["person"]["key"], "ben");
    assert!(overrides(&server).await.is_empty());
}

/// An ICS of Carol's nights, 18:00 to 06:00 UTC, daily from two weeks ago for a month, less
/// tomorrow night.
fn nights_calendar() -> String {
    let at = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let first = midnight(-14) + TimeDelta::hours(18);
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".into(),
        "PRODID:-//Klaxon tests//nights//EN".into(),
        "BEGIN:VEVENT".into(),
        "UID:nights-carol@example.com".into(),
        format!("DTSTAMP:{}", at(first)),
        "SUMMARY:On call".into(),
        "ATTENDEE;CN=Carol:mailto:carol@example.com".into(),
        format!("DTSTART:{}", at(first)),
        format!("DTEND:{}", at(first + TimeDelta::hours(12))),
        "RRULE:FREQ=DAILY;COUNT=30".into(),
        format!("EXDATE:{}", at(midnight(1) + TimeDelta::hours(18))),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    lines.join("\r\n") + "\r\n"
}

/// Serves `body` to every request on loopback; returns the URL.
async fn serve_calendar(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/nights.ics")
}

#[tokio::test]
async fn calendar_layers_from_a_file_and_from_a_url_repeat_less_their_exdates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("nights.ics");
    std::fs::write(&file, nights_calendar()).expect("write the calendar");
    let url = serve_calendar(nights_calendar()).await;
    let schedule = |name: &str, ical: &str| {
        format!(
            r#"
[[schedules]]
name = "{name}"
time_zone = "Europe/Berlin"
[[schedules.layers]]
name = "days"
rotation = "weekly"
participants = ["ana"]
start = "{}"
[[schedules.layers]]
name = "nights"
ical = "{ical}"
"#,
            today() - TimeDelta::days(30)
        )
    };
    let toml = format!(
        "{PEOPLE}{}{}",
        schedule("from-file", &file.display().to_string()),
        schedule("from-url", &url)
    );
    let server = TestServer::start_with_toml(&toml, &[]).await;
    for name in ["from-file", "from-url"] {
        let at = |t: DateTime<Utc>| {
            let server = &server;
            async move {
                let (status, answer) = server
                    .get(&format!("/v1/schedules/{name}/oncall?at={}", rfc(t)))
                    .await;
                assert_eq!(status, 200, "{answer}");
                answer
            }
        };
        let tonight = at(midnight(0) + TimeDelta::hours(20)).await;
        assert_eq!(tonight["person"]["key"], "carol", "{name}: {tonight}");
        assert_eq!(tonight["reason"]["layer"], "nights");
        assert_eq!(tonight["reason"]["event"], "nights-carol@example.com");
        assert_eq!(tonight["until"], rfc(midnight(1) + TimeDelta::hours(6)));
        let excluded = at(midnight(1) + TimeDelta::hours(20)).await;
        assert_eq!(
            excluded["person"]["key"], "ana",
            "{name}: EXDATE: {excluded}"
        );
        assert_eq!(excluded["reason"]["layer"], "days");
        let after = at(midnight(2) + TimeDelta::hours(20)).await;
        assert_eq!(after["person"]["key"], "carol", "{name}: {after}");
        let morning = at(midnight(2) + TimeDelta::hours(7)).await;
        assert_eq!(morning["person"]["key"], "ana", "{name}: {morning}");
    }
}

#[tokio::test]
async fn the_feed_lists_coming_shifts_and_opens_with_its_own_token_only() {
    const TOKEN: &str = "feed-test-token-0123456789";
    let server =
        TestServer::start_with_toml(&daily_schedule(), &[("KLAXON_API_TOKEN", TOKEN)]).await;
    let bearer = |request: reqwest::RequestBuilder| request.bearer_auth(TOKEN);
    let (status, list) = server
        .send(bearer(server.http.get(server.url("/v1/schedules"))))
        .await;
    assert_eq!(status, 200, "{list}");
    let path = list["data"][0]["feed_path"]
        .as_str()
        .expect("feed path")
        .to_owned();
    assert!(path.contains("?token="), "{path}");
    assert!(!path.contains(TOKEN), "the feed token is not the API token");
    let start = midnight(2) + TimeDelta::hours(9);
    let (status, _) = server
        .send(bearer(
            server
                .http
                .post(server.url("/v1/schedules/primary/overrides"))
                .json(&json!({"person": "carol", "start": rfc(start), "end": rfc(start + TimeDelta::hours(5)), "note": "dentist swap"})),
        ))
        .await;
    assert_eq!(status, 201);

    let feed = server
        .http
        .get(server.url(&path))
        .send()
        .await
        .expect("feed");
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/calendar")
    );
    let text = feed.text().await.expect("feed text");
    assert!(text.starts_with("BEGIN:VCALENDAR"), "{text}");
    let events = text.matches("BEGIN:VEVENT").count();
    // Six weeks of daily shifts, plus the override and the rest of Ben's shift after it.
    assert!((42..=46).contains(&events), "{events} events:\n{text}");
    assert!(text.contains("SUMMARY:Carol on call (primary)"), "{text}");
    assert!(text.contains("override: dentist swap"), "{text}");
    assert!(text.contains("SUMMARY:Ana on call (primary)"), "{text}");

    let status = |url: String| {
        let http = server.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(server.url("/v1/schedules/primary/feed.ics")).await,
        401
    );
    assert_eq!(
        status(server.url("/v1/schedules/primary/feed.ics?token=0000")).await,
        401
    );
    let other = path.replace("/primary/", "/other/");
    assert_eq!(
        status(server.url(&other)).await,
        401,
        "a token opens its own feed only"
    );
    let token = path.split("token=").nth(1).unwrap_or("").to_owned();
    let (status, refused) = server
        .send(
            server
                .http
                .get(server.url("/v1/schedules"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 401, "the feed token is no API token: {refused}");
}

#[tokio::test]
async fn klaxon_oncall_says_who_and_manages_overrides() {
    let server = TestServer::start_with_toml(&daily_schedule(), &[]).await;
    let url = server.url("");
    let run = |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let output = binary::command()
                .args(["oncall", "--url", &url])
                .args(&args)
                .output()
                .expect("run klaxon");
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        })
    };
    let noon = midnight(3) + TimeDelta::hours(12);
    let (code, out, err) = run(vec!["--at".into(), rfc(noon)]).await.expect("joined");
    assert_eq!(code, 0, "{out}{err}");
    // Day 3 from an anchor 10 days ago: shift 13 from 09:00, Ben's.
    assert!(
        out.starts_with("primary: Ben (ben, +15551000002) until "),
        "{out}"
    );
    assert!(out.contains("layer daily, shift 13"), "{out}");

    let (code, out, err) = run([
        "--schedule",
        "primary",
        "override",
        "add",
        "--person",
        "carol",
        "--start",
        &rfc(noon - TimeDelta::hours(1)),
        "--end",
        &rfc(noon + TimeDelta::hours(1)),
        "--note",
        "covering",
    ]
    .map(String::from)
    .to_vec())
    .await
    .expect("joined");
    assert_eq!(code, 0, "{out}{err}");
    let added: Value = serde_json::from_str(&out).expect("JSON answer");
    let id = added["id"].as_str().expect("id").to_owned();
    let (_, out, _) = run(vec![
        "--schedule".into(),
        "primary".into(),
        "--at".into(),
        rfc(noon),
    ])
    .await
    .expect("joined");
    assert!(out.contains("Carol (carol, +15551000003)"), "{out}");
    assert!(out.contains(&format!("override {id} (covering)")), "{out}");

    let (code, _, err) = run([
        "--schedule",
        "primary",
        "override",
        "add",
        "--person",
        "zed",
        "--start",
        &rfc(noon),
        "--end",
        &rfc(noon + TimeDelta::hours(1)),
    ]
    .map(String::from)
    .to_vec())
    .await
    .expect("joined");
    assert_eq!(code, 1);
    assert!(err.contains("unknown_person"), "{err}");
    let (code, out, err) = run(["--schedule", "primary", "override", "remove", &id]
        .map(String::from)
        .to_vec())
    .await
    .expect("joined");
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = run(vec!["--at".into(), rfc(noon)]).await.expect("joined");
    assert!(out.contains("Ben (ben"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_added_on_one_node_is_answered_by_the_other_at_once() {
    if !postgres::enabled() {
        // Several nodes share a database only on PostgreSQL.
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let database = postgres::database_for(&dir.path().join("klaxon.db"));
    let raw = klaxon::settings::Raw::from_toml(std::path::Path::new("t.toml"), &daily_schedule())
        .expect("settings parse");
    let settings = klaxon::Settings::resolve(raw, |_| None).expect("settings are valid");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = klaxon::store::Store::open(&database, &settings.store)
            .await
            .expect("open the store");
        nodes.push(
            Oncall::start(settings.oncall.clone(), store, stopped.clone())
                .await
                .expect("on-call starts"),
        );
    }
    let start = midnight(1) + TimeDelta::hours(9);
    let added = nodes[0]
        .add_override(
            "primary",
            "carol",
            (start, start + TimeDelta::hours(2)),
            None,
        )
        .await
        .expect("added");
    // Well before the 30 s reload: the notification did it.
    let seen = eventually(Duration::from_secs(5), || async {
        let answer = nodes[1].who("primary", start).ok()?;
        answer
            .person
            .filter(|p| p.key == "carol")
            .map(|_| answer.reason)
    })
    .await;
    assert!(matches!(seen, klaxon::oncall::Reason::Override { id, .. } if id == added.id));
    assert!(
        nodes[1]
            .remove_override("primary", &added.id)
            .await
            .expect("removed")
    );
    eventually(Duration::from_secs(5), || async {
        let answer = nodes[0].who("primary", start).ok()?;
        answer.person.filter(|p| p.key == "ben").map(|_| ())
    })
    .await;
}

/// A policy whose first step rings the schedule, then a backup who presses 2.
fn escalation_settings(rotation_start: NaiveDate) -> String {
    format!(
        r#"{PEOPLE}
[[schedules]]
name = "primary"
time_zone = "UTC"
[[schedules.layers]]
rotation = "weekly"
participants = ["ana"]
start = "{rotation_start}"

[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["schedule:primary"]
[[policies.steps]]
targets = ["+15551000002"]

[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = {{ policy = "oncall", connect_to = "customer_phone" }}
"#
    )
}

fn notes(escalation: &Value) -> Vec<String> {
    escalation["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "note")
        .filter_map(|e| e["detail"]["event"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_schedule_step_rings_whoever_is_on_call_when_its_call_is_placed() {
    let toml = escalation_settings(today() - TimeDelta::days(20));
    let rig = Rig::start_with(RigConfig {
        toml: &toml,
        delivery: Delivery::InOrder,
        ..RigConfig::default()
    })
    .await;
    // Ana (+…4, never answers) is on the rotation; Ben (+…2, presses 2) covers now.
    let now = Utc::now();
    let (status, added) = rig
        .server
        .send(
            rig.server
                .http
                .post(rig.server.url("/v1/schedules/primary/overrides"))
                .json(&json!({
                    "person": "ben",
                    "start": rfc(now - TimeDelta::minutes(5)),
                    "end": rfc(now + TimeDelta::hours(1)),
                    "note": "Ana is on a plane",
                })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "acknowledged", "{escalation:#}");
    let seen = actions(&rig.requests());
    assert_eq!(
        seen.first().map(String::as_str),
        Some("dial +15551000002"),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|a| a == "dial +15551000004"), "{seen:?}");
    let notes = notes(&escalation);
    assert!(
        notes
            .iter()
            .any(|n| n == "schedule primary: Ben is on call (override: Ana is on a plane)"),
        "{notes:?}"
    );
}

#[tokio::test]
async fn nobody_on_call_is_a_timeline_note_and_the_next_step_rings() {
    // The rotation starts next week: nobody is on call now.
    let toml = escalation_settings(today() + TimeDelta::days(7));
    let rig = Rig::start_with(RigConfig {
        toml: &toml,
        delivery: Delivery::InOrder,
        ..RigConfig::default()
    })
    .await;
    let escalation = rig.escalate().await;
    assert_eq!(escalation["status"], "acknowledged", "{escalation:#}");
    let seen = actions(&rig.requests());
    assert_eq!(
        seen.first().map(String::as_str),
        Some("dial +15551000002"),
        "{seen:?}"
    );
    let notes = notes(&escalation);
    assert!(
        notes
            .iter()
            .any(|n| n == "schedule primary: nobody is on call; the next in line is rung"),
        "{notes:?}"
    );
}

#[test]
fn klaxon_check_names_every_bad_schedule_setting_with_its_key() {
    let toml = format!(
        r#"{PEOPLE}
[[schedules]]
name = "primary"
time_zone = "Mars/Olympus"
[[schedules.layers]]
rotation = "fortnightly"
participants = ["ana", "zed"]
start = "2026-13-01"
handoff = "9am"
[[schedules.layers]]
ical = "/nonexistent/rota.ics"
[[schedules.layers]]
ical = "http://calendar.example.com/rota.ics"

[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["schedule:secondary"]
"#
    );
    let raw = klaxon::settings::Raw::from_toml(std::path::Path::new("klaxon.toml"), &toml)
        .expect("the file parses");
    let errors = klaxon::Settings::resolve(raw, |_| None)
        .expect_err("the settings are refused")
        .to_string();
    for expected in [
        "klaxon.toml: key `schedules[0].time_zone`: \"Mars/Olympus\" is not an IANA time zone",
        "key `schedules[0].layers[0].rotation`: \"fortnightly\" is not a shift length",
        "key `schedules[0].layers[0].participants`: \"zed\" is not a key of [people]",
        "key `schedules[0].layers[0].start`: \"2026-13-01\" is not a date",
        "key `schedules[0].layers[0].handoff`: \"9am\" is not a time of day",
        "key `schedules[0].layers[1].ical`: cannot read /nonexistent/rota.ics",
        "key `schedules[0].layers[2].ical`: use https://",
        "key `policies.oncall.steps[0].targets`: \"schedule:secondary\": there is no [[schedules]] named \"secondary\"",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    assert!(
        !errors.contains("calendar.example.com"),
        "a calendar URL may carry a secret: not echoed: {errors}"
    );
}

#[tokio::test]
async fn the_live_page_says_who_is_on_call_now_and_why() {
    let server = TestServer::start_with_toml(&daily_schedule(), &[]).await;
    let now = who(&server, Utc::now()).await;
    let person = now["person"]["name"].as_str().expect("someone is on call");
    let response = reqwest::get(server.url("/live/panels"))
        .await
        .expect("live panels");
    assert_eq!(response.status(), 200);
    let panels = response.text().await.expect("panels text");
    let on_call = &panels[panels.find("On call now").expect("the panel")..];
    assert!(
        on_call.contains("<td>primary</td>")
            && on_call.contains(&format!("<b>{person}</b>"))
            && on_call.contains("layer daily"),
        "{on_call}"
    );
}
