//! The escalations panel: each recent escalation with its call timeline (who was rung and
//! when, what they pressed or said, the transfer) and the write-back of its outcome.
//!
//! Timeline lines are rendered from their JSON `detail` generically, the way the voice
//! engine's own write-back summary reads them, so a new kind of line shows up without a
//! change here.

use std::fmt::Write;

use serde_json::Value;

use super::html::{Esc, class_token, clock_time};
use super::render::{scalar_text, summary};
use super::snapshot::EscalationView;
use crate::store::TimelineEntry;

/// The detail fields worth a reader's eye, in the order shown.
const FIELDS: [&str; 9] = [
    "to", "digits", "choice", "result", "reason", "cause", "outcome", "error", "chars",
];

pub fn panel(out: &mut String, escalations: &[EscalationView]) {
    let _ = write!(
        out,
        r#"<section class="panel" id="escalations"><h2>Escalations <span class="count">{}</span></h2>"#,
        escalations.len()
    );
    if escalations.is_empty() {
        out.push_str(r#"<p class="empty">No escalations yet. <code>POST /escalate</code> with <code>ONCALL_NUMBER</code> set rings someone (the sandbox carrier when no Telnyx key is set).</p></section>"#);
        return;
    }
    for view in escalations {
        card(out, view);
    }
    out.push_str("</section>");
}

fn card(out: &mut String, view: &EscalationView) {
    let escalation = &view.escalation;
    let _ = write!(
        out,
        r#"<article class="escalation" data-escalation-id="{id}"><header><span class="badge status-{class}">{status}</span> <strong>{policy}</strong>"#,
        id = Esc(&escalation.id),
        class = class_token(&escalation.status),
        status = Esc(&escalation.status),
        policy = Esc(&escalation.policy),
    );
    if let Some(event) = &view.event {
        let _ = write!(
            out,
            r#" <code>{kind}</code> <span class="summary">{summary}</span>"#,
            kind = Esc(&event.event_type),
            summary = Esc(&summary(event)),
        );
    }
    let _ = write!(
        out,
        r#" <span class="muted">{progress} · started <time title="{at}">{time}</time></span></header>"#,
        progress = Esc(&progress(escalation.state.get())),
        at = Esc(&escalation.created_at),
        time = Esc(clock_time(&escalation.created_at)),
    );
    let timeline = escalation.timeline.as_deref().unwrap_or_default();
    out.push_str(r#"<ol class="timeline">"#);
    for entry in timeline {
        line(out, entry);
    }
    out.push_str("</ol>");
    for write_back in &view.write_backs {
        let _ = write!(
            out,
            r#"<p class="write-back">Write-back to <code>{destination}</code>: <span class="badge state-{state}">{state}</span> after {attempts} attempt(s)"#,
            destination = Esc(&write_back.destination),
            state = Esc(write_back.state.as_str()),
            attempts = write_back.attempts,
        );
        if let Some(error) = &write_back.last_error {
            let _ = write!(out, r#" <span class="error">{}</span>"#, Esc(error));
        }
        out.push_str("</p>");
    }
    out.push_str("</article>");
}

/// "attempt 2 · menu", from the escalation's machine state.
fn progress(state: &str) -> String {
    let state: Value = serde_json::from_str(state).unwrap_or(Value::Null);
    let phase = state["phase"]
        .as_str()
        .or_else(|| state["phase"]["phase"].as_str())
        .unwrap_or("")
        .replace('_', " ");
    match state["attempt"].as_u64() {
        Some(attempt) if !phase.is_empty() => format!("attempt {attempt} · {phase}"),
        Some(attempt) => format!("attempt {attempt}"),
        None => phase,
    }
}

/// One timeline line: time, what happened, which leg, and the telling fields.
fn line(out: &mut String, entry: &TimelineEntry) {
    let detail = &entry.detail;
    let what = detail["event"]
        .as_str()
        .or(detail["command"].as_str())
        .unwrap_or(&entry.kind);
    let _ = write!(
        out,
        r#"<li class="kind-{kind} what-{what_class}"><time title="{at}">{time}</time> <span class="what">{what}</span>"#,
        kind = class_token(&entry.kind),
        what_class = class_token(what),
        at = Esc(&entry.at),
        time = Esc(clock_time(&entry.at)),
        what = Esc(what),
    );
    if let Some(leg) = detail["leg"].as_str() {
        let _ = write!(out, r#" <span class="leg">leg {}</span>"#, Esc(leg));
    }
    for field in FIELDS {
        let value = &detail[field];
        if value.is_null() {
            continue;
        }
        let _ = write!(
            out,
            r#" <span class="field field-{field}">{field}: <b>{value}</b></span>"#,
            value = Esc(&scalar_text(value)),
        );
    }
    out.push_str("</li>");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rendered(entry: TimelineEntry) -> String {
        let mut out = String::new();
        line(&mut out, &entry);
        out
    }

    #[test]
    fn a_dial_line_names_who_was_rung_and_escapes_it() {
        let html = rendered(TimelineEntry {
            at: "2026-11-23T16:40:01.5Z".into(),
            kind: "command".into(),
            detail: json!({"command": "dial", "leg": "A", "to": "+1555<b>", "command_id": "x"}),
        });
        assert!(html.contains(r#"<span class="what">dial</span>"#), "{html}");
        assert!(html.contains("leg A"), "{html}");
        assert!(html.contains("to: <b>+1555&lt;b&gt;</b>"), "{html}");
        assert!(html.contains(">16:40:01<"), "{html}");
        assert!(!html.contains("command_id"), "ids are noise: {html}");
    }

    #[test]
    fn choices_and_outcomes_are_shown() {
        let html = rendered(TimelineEntry {
            at: "t".into(),
            kind: "webhook".into(),
            detail: json!({"event": "chose", "attempt": 1, "choice": "connect"}),
        });
        assert!(html.contains("choice: <b>connect</b>"), "{html}");
        let html = rendered(TimelineEntry {
            at: "t".into(),
            kind: "decision".into(),
            detail: json!({"outcome": "connected"}),
        });
        assert!(
            html.contains(r#"<span class="what">decision</span>"#),
            "{html}"
        );
        assert!(html.contains("outcome: <b>connected</b>"), "{html}");
    }

    #[test]
    fn progress_reads_attempt_and_phase() {
        assert_eq!(
            progress(r#"{"attempt": 2, "phase": "menu"}"#),
            "attempt 2 · menu"
        );
        assert_eq!(
            progress(r#"{"attempt": 1, "phase": {"phase": "connecting", "b_answered": false}}"#),
            "attempt 1 · connecting"
        );
        assert_eq!(progress("not json"), "");
    }
}
