//! The live page's HTML, rendered on the server from a [`Snapshot`]: the whole page for
//! `GET /`, and the panels alone for the page's script to swap in (`GET /live/panels`). One
//! renderer for both, so the page without JavaScript and the updating page look the same.
//!
//! Every value from the store is written through [`Esc`]; markup is only ever our own.

use std::fmt::Write;

use serde_json::Value;

use super::escalations;
use super::html::{Esc, class_token, clock_time, shorten};
use super::snapshot::Snapshot;
use crate::oncall::{Reason, WhoIsOnCall};
use crate::store::{AlertGroup, Delivery, Event};

/// The whole document. `panels` is [`panels`]' output.
pub fn page(panels: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Klaxon · live</title>
<link rel="stylesheet" href="/assets/live.css">
</head>
<body>
<header class="top">
<h1>Klaxon <span class="sub">live</span></h1>
<span id="status" class="status">as of page load</span>
<noscript><span class="status">reload to refresh (updates need JavaScript)</span></noscript>
</header>
<main id="panels">
{panels}</main>
<script src="/assets/live.js" defer></script>
</body>
</html>
"#
    )
}

/// A small page for a refusal (no token, not loopback) or a store failure.
pub fn message_page(title: &str, message: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Klaxon · {title}</title>
<link rel="stylesheet" href="/assets/live.css">
</head>
<body>
<main class="message"><h1>{title}</h1><p>{message}</p></main>
</body>
</html>
"#,
        title = Esc(title),
        message = Esc(message),
    )
}

/// The panels: on call now and open alert groups (when there are schedules or alert
/// sources), events, escalations, deliveries, dead letters.
pub fn panels(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    if !snapshot.on_call.is_empty() {
        on_call(&mut out, &snapshot.on_call);
    }
    alert_groups(&mut out, &snapshot.alert_groups);
    events(&mut out, &snapshot.events);
    escalations::panel(&mut out, &snapshot.escalations);
    deliveries(&mut out, &snapshot.deliveries);
    dead_letters(&mut out, &snapshot.dead_letters);
    out
}

fn section_start(out: &mut String, id: &str, title: &str, count: usize) {
    let _ = write!(
        out,
        r#"<section class="panel" id="{id}"><h2>{title} <span class="count">{count}</span></h2>"#
    );
}

fn on_call(out: &mut String, answers: &[WhoIsOnCall]) {
    section_start(out, "on-call", "On call now", answers.len());
    out.push_str("<table><thead><tr><th>Schedule</th><th>Who</th><th>Why</th><th>Until</th></tr></thead><tbody>");
    for answer in answers {
        let who = match &answer.person {
            Some(person) => person.name.clone().unwrap_or_else(|| person.key.clone()),
            None => "nobody".to_owned(),
        };
        let why = match &answer.reason {
            Reason::Override { note, .. } => match note {
                Some(note) => format!("override: {note}"),
                None => "override".to_owned(),
            },
            Reason::Layer { layer, .. } => format!("layer {layer}"),
            Reason::Nobody => "no layer or override has anyone".to_owned(),
        };
        let until = answer
            .until
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td></tr>",
            Esc(&answer.schedule),
            Esc(&who),
            Esc(&why),
            Esc(&until),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn alert_groups(out: &mut String, groups: &[AlertGroup]) {
    section_start(out, "alert-groups", "Open alert groups", groups.len());
    if groups.is_empty() {
        out.push_str(r#"<p class="empty">No alert is firing.</p></section>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Opened</th><th>Source</th><th>Alert</th><th>Severity</th><th>Status</th></tr></thead><tbody>");
    for group in groups {
        let status = group.status.as_str();
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td title="{}">{}</td><td>{}</td><td><span class="badge status-{}">{}</span></td></tr>"#,
            Esc(clock_time(&group.opened_at)),
            Esc(&group.source),
            Esc(&group.dedup_key),
            Esc(&shorten(&group.summary, 120)),
            Esc(group.severity.as_deref().unwrap_or("")),
            class_token(status),
            Esc(status),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn events(out: &mut String, events: &[Event]) {
    section_start(out, "events", "Recent events", events.len());
    if events.is_empty() {
        out.push_str(r#"<p class="empty">No events yet. Send one with <code>klaxon events send --type support.ticket.created --data '{"subject":"Site down"}'</code>.</p></section>"#);
        return;
    }
    out.push_str("<table><thead><tr><th>Received</th><th>Type</th><th>Labels</th><th>Summary</th><th>Pipeline</th></tr></thead><tbody>");
    for event in events {
        let _ = write!(
            out,
            r#"<tr class="event" id="{id}" data-event-id="{id}"><td><time title="{at}">{time}</time></td><td><code>{kind}</code></td><td class="labels">"#,
            id = Esc(&event.id),
            at = Esc(&event.received_at),
            time = Esc(clock_time(&event.received_at)),
            kind = Esc(&event.event_type),
        );
        labels(out, event);
        let state = event.pipeline_state.as_deref().unwrap_or("none");
        let _ = write!(
            out,
            r#"</td><td class="summary">{summary}</td><td><span class="badge state-{class}">{state}</span></td></tr>"#,
            summary = Esc(&summary(event)),
            class = class_token(state),
            state = Esc(state),
        );
    }
    out.push_str("</tbody></table></section>");
}

/// The labels the pipelines' classify steps gave the event, as chips.
fn labels(out: &mut String, event: &Event) {
    let Some(trace) = &event.pipeline else { return };
    let Ok(trace) = serde_json::from_str::<Value>(trace.get()) else {
        return;
    };
    let Some(labels) = trace["labels"].as_object() else {
        return;
    };
    for (field, value) in labels {
        let value = scalar_text(value);
        let _ = write!(
            out,
            r#"<span class="label label-{class}">{field}: {value}</span> "#,
            class = class_token(&value),
            field = Esc(field),
            value = Esc(&value),
        );
    }
}

/// A line saying what the event is about: its subject, title or name when it has one,
/// otherwise its top-level plain fields (`key: value, …`), cut short.
pub fn summary(event: &Event) -> String {
    const MAX_CHARS: usize = 100;
    let payload: Value = serde_json::from_str(event.payload.get()).unwrap_or(Value::Null);
    let named = ["subject", "title", "deal_name", "name", "summary"]
        .iter()
        .find_map(|key| payload[key].as_str());
    let text = match (named, payload.as_object()) {
        (Some(text), _) => text.to_owned(),
        (None, Some(fields)) => fields
            .iter()
            .filter(|(_, value)| !value.is_object() && !value.is_array())
            .map(|(key, value)| format!("{key}: {}", scalar_text(value)))
            .collect::<Vec<_>>()
            .join(", "),
        (None, None) => payload.to_string(),
    };
    shorten(&text, MAX_CHARS)
}

/// A JSON value as a short text: strings without quotes, anything else as JSON.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn deliveries(out: &mut String, deliveries: &[Delivery]) {
    section_start(out, "deliveries", "Deliveries", deliveries.len());
    if deliveries.is_empty() {
        out.push_str(r#"<p class="empty">No deliveries yet.</p></section>"#);
        return;
    }
    delivery_table(out, deliveries, false);
    out.push_str("</section>");
}

fn dead_letters(out: &mut String, dead: &[Delivery]) {
    section_start(out, "dead-letters", "Dead letter queue", dead.len());
    if dead.is_empty() {
        out.push_str(r#"<p class="empty">Nothing dead-lettered.</p></section>"#);
        return;
    }
    delivery_table(out, dead, true);
    out.push_str("</section>");
}

/// Deliveries with their attempts; `replay` adds the replay button (the dead letter queue).
fn delivery_table(out: &mut String, deliveries: &[Delivery], replay: bool) {
    out.push_str("<table><thead><tr><th>Created</th><th>Destination</th><th>State</th><th>Attempts</th><th>Last error / next attempt</th>");
    if replay {
        out.push_str("<th></th>");
    }
    out.push_str("</tr></thead><tbody>");
    for delivery in deliveries {
        let id = delivery.id.to_string();
        let state = delivery.state.as_str();
        let _ = write!(
            out,
            r#"<tr class="delivery" data-delivery-id="{id}" data-state="{state}"><td><time title="{at}">{time}</time></td><td>{destination} <span class="muted">{pipeline}</span></td><td><span class="badge state-{state}">{state}</span></td><td>"#,
            id = Esc(&id),
            state = Esc(state),
            at = Esc(&delivery.created_at),
            time = Esc(clock_time(&delivery.created_at)),
            destination = Esc(&delivery.destination),
            pipeline = Esc(&delivery.pipeline),
        );
        attempts(out, &id, delivery, replay);
        out.push_str("</td><td class=\"detail\">");
        if let Some(error) = &delivery.last_error {
            let _ = write!(out, r#"<span class="error">{}</span> "#, Esc(error));
        }
        if let Some(next) = &delivery.next_attempt_at {
            let _ = write!(
                out,
                r#"<span class="muted">next at <time title="{next}">{time}</time></span>"#,
                next = Esc(next),
                time = Esc(clock_time(next)),
            );
        }
        out.push_str("</td>");
        if replay {
            let _ = write!(
                out,
                r#"<td><button type="button" class="replay" data-delivery-id="{id}">Replay</button></td>"#,
                id = Esc(&id),
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The attempt count, opening onto the attempt log. The `id` lets the script keep it open
/// across refreshes.
fn attempts(out: &mut String, id: &str, delivery: &Delivery, in_dead_letters: bool) {
    let log = delivery.attempt_log.as_deref().unwrap_or_default();
    if log.is_empty() {
        let _ = write!(out, "{}", delivery.attempts);
        return;
    }
    let _ = write!(
        out,
        r#"<details id="attempts-{panel}-{id}"><summary>{count}</summary><ol class="attempts">"#,
        panel = if in_dead_letters { "dead" } else { "all" },
        id = Esc(id),
        count = delivery.attempts,
    );
    for attempt in log {
        let outcome = match (attempt.status, &attempt.error) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(error)) => error.clone(),
            (None, None) => "no answer".to_owned(),
        };
        let _ = write!(
            out,
            r#"<li><time title="{at}">{time}</time> #{number} {outcome} <span class="muted">{ms} ms</span></li>"#,
            at = Esc(&attempt.started_at),
            time = Esc(clock_time(&attempt.started_at)),
            number = attempt.number,
            outcome = Esc(&outcome),
            ms = attempt.duration_ms,
        );
    }
    out.push_str("</ol></details>");
}
