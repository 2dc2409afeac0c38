//! Writing an escalation's outcome back to the Merge object it came from, as a durable
//! delivery job (retried, dead-lettered and replayable like a webhook).
//!
//! - A ticket, acknowledged or connected: it goes `IN_PROGRESS` and gets a private comment
//!   saying who took it and how. Unreached: a private comment only; the status is never
//!   changed on a voicemail or a no-answer.
//! - A deal: a CRM note on the opportunity with the outcome. Merge creates notes only for
//!   HubSpot, Pipedrive and Salesforce (docs/merge.md §3.3); for another known integration the job
//!   is recorded as skipped rather than sent to fail, and Merge's own refusal (an `errors[]`, a
//!   404) is recorded as the job's final error, not retried.
//!
//! An escalation writes back in two stages: once when its outcome is known, and, for a
//! connected call, once more when the call ends ([`CALL_ENDED`]: a comment or note only,
//! the status is left alone). Each stage has its own marker, so a retry looking for "already
//! posted?" finds its own stage's text and never mistakes the first comment for the last.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::problem_types;
use super::{MergeClient, MergeError, Problem, TicketStatus};

/// The destination name of ticket write-back jobs in the deliveries table (a job is unique
/// per event and destination name; the worker routes it by its target, not this name).
pub const DESTINATION: &str = "merge.ticket-writeback";
/// The reserved destination name of deal note jobs.
pub const NOTE_DESTINATION: &str = "merge.opportunity-note";
/// The destinations of the second write-back of a connected call, when it ends: a job is
/// unique per event and destination, and these are a second job of the same event.
pub const CALL_ENDED_DESTINATION: &str = "merge.ticket-writeback.call-ended";
pub const CALL_ENDED_NOTE_DESTINATION: &str = "merge.opportunity-note.call-ended";

/// Integrations whose notes Merge can create (docs/merge.md §3.3), by slug or display name.
const NOTE_INTEGRATIONS: [&str; 3] = ["hubspot", "pipedrive", "salesforce"];

/// The body of a ticket write-back job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketWriteback {
    pub linked_account_id: String,
    pub ticket_id: String,
    pub escalation_id: String,
    /// `connected`, `acknowledged`, `unreached`, …, or [`CALL_ENDED`] for the last comment
    /// of a connected call.
    pub outcome: String,
    /// The comment's text: outcome, who, when, the briefing. Posted with the stage's marker
    /// in front, unless it already carries it.
    pub comment: String,
}

/// The body of a deal note job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealNote {
    pub linked_account_id: String,
    pub opportunity_id: String,
    /// The CRM account of the deal, sent with the note when known.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The CRM integration (`HubSpot`, `hubspot`, …) when the webhook said; `None` means
    /// "try and see".
    #[serde(default)]
    pub integration: Option<String>,
    pub escalation_id: String,
    /// As [`TicketWriteback::outcome`].
    pub outcome: String,
    /// As [`TicketWriteback::comment`].
    pub content: String,
}

/// A write-back job of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Ticket(TicketWriteback),
    Note(DealNote),
}

impl Job {
    /// The job's body, as stored.
    pub fn body(&self) -> String {
        // Plain data: serializing cannot fail.
        match self {
            Job::Ticket(job) => serde_json::to_string(job),
            Job::Note(job) => serde_json::to_string(job),
        }
        .unwrap_or_default()
    }
}

/// Performs the job; returns what was done (with Merge's warnings), for the attempt record.
/// `retrying`: an earlier attempt failed, perhaps after Merge had acted, so a comment or note
/// already carrying this escalation's marker is not posted again.
pub async fn perform(
    client: &MergeClient,
    job: &Job,
    retrying: bool,
) -> Result<String, MergeError> {
    match job {
        Job::Ticket(job) => write_ticket(client, job, retrying).await,
        Job::Note(job) => write_note(client, job, retrying).await,
    }
}

/// The outcome of the write-back made when a connected call ends (stored job bodies from
/// before it existed have one of the call's outcomes, and still parse).
pub const CALL_ENDED: &str = "call_ended";

/// The text the outcome comment or note of an escalation starts with, unique to it.
pub fn marker(escalation_id: &str) -> String {
    format!("Klaxon escalation {escalation_id}:")
}

/// The text the call-ended comment or note starts with. Neither marker is part of the other
/// ("…{id}:" against "…{id} call ended:"), so each stage's retry finds only its own text.
pub fn call_ended_marker(escalation_id: &str) -> String {
    format!("Klaxon escalation {escalation_id} call ended:")
}

/// The marker of the stage `outcome` belongs to.
pub fn marker_for(escalation_id: &str, outcome: &str) -> String {
    if outcome == CALL_ENDED {
        call_ended_marker(escalation_id)
    } else {
        marker(escalation_id)
    }
}

/// The call-ended comment: "Klaxon escalation {id} call ended: the call lasted 4 min 12 s."
pub fn call_ended_text(escalation_id: &str, talked: Duration) -> String {
    let seconds = talked.as_secs();
    let length = match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    };
    format!(
        "{} the call lasted {length}.",
        call_ended_marker(escalation_id)
    )
}

/// `text` with `marker` in front, unless it already carries it: a retry can only find
/// what was posted with its marker.
fn marked(text: &str, marker: &str) -> String {
    if text.contains(marker) {
        text.to_owned()
    } else {
        format!("{marker} {text}")
    }
}

async fn write_ticket(
    client: &MergeClient,
    job: &TicketWriteback,
    retrying: bool,
) -> Result<String, MergeError> {
    let account = &job.linked_account_id;
    let marker = marker_for(&job.escalation_id, &job.outcome);
    let mut done = Vec::new();
    if matches!(job.outcome.as_str(), "acknowledged" | "connected") {
        let written = client
            .patch_ticket_status(account, &job.ticket_id, &TicketStatus::InProgress)
            .await?;
        done.push(format!("status IN_PROGRESS{}", warnings(&written.warnings)));
    }
    if matches!(
        job.outcome.as_str(),
        "acknowledged" | "connected" | "unreached" | CALL_ENDED
    ) {
        let posted = retrying
            && client
                .ticket_has_comment_with(account, &job.ticket_id, &marker)
                .await?;
        if posted {
            done.push("private comment (already posted by an earlier attempt)".to_owned());
        } else {
            let comment = marked(&job.comment, &marker);
            let html = format!("<p>{}</p>", escape_html(&comment).replace('\n', "<br>"));
            let written = client
                .add_ticket_comment(account, &job.ticket_id, &comment, &html)
                .await?;
            done.push(format!("private comment{}", warnings(&written.warnings)));
        }
    }
    Ok(if done.is_empty() {
        format!("nothing to write for outcome {}", job.outcome)
    } else {
        done.join(" + ")
    })
}

async fn write_note(
    client: &MergeClient,
    job: &DealNote,
    retrying: bool,
) -> Result<String, MergeError> {
    let integration = job.integration.as_deref().map(|i| i.to_lowercase());
    if let Some(name) = &integration
        && !NOTE_INTEGRATIONS
            .iter()
            .any(|n| name.replace(' ', "") == *n)
    {
        return Ok(format!(
            "skipped: Merge creates CRM notes only for HubSpot, Pipedrive and Salesforce, not {}",
            job.integration.as_deref().unwrap_or_default()
        ));
    }
    let marker = marker_for(&job.escalation_id, &job.outcome);
    if retrying
        && client
            .opportunity_has_note_with(&job.linked_account_id, &job.opportunity_id, &marker)
            .await?
    {
        return Ok("CRM note (already posted by an earlier attempt)".to_owned());
    }
    let content = marked(&job.content, &marker);
    let mut model = json!({"content": content, "opportunity": job.opportunity_id});
    if let Some(account) = &job.account_id {
        model["account"] = Value::String(account.clone());
    }
    // Salesforce requires a title (docs/merge.md §3.3).
    if integration.as_deref() == Some("salesforce") {
        model["integration_params"] = json!({"title": "Klaxon escalation"});
    }
    let written = client
        .add_opportunity_note(&job.linked_account_id, model)
        .await?;
    Ok(format!("CRM note{}", warnings(&written.warnings)))
}

/// `" (warnings: IGNORED_FIELD, …)"`, or nothing.
fn warnings(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    format!(" (warnings: {})", problem_types(problems))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_stage_marker_is_part_of_the_other() {
        for id in ["esc_7", "0190c3a2-7d1e-7000-8000-000000000001"] {
            let (outcome, ended) = (marker(id), call_ended_marker(id));
            assert!(!ended.contains(&outcome), "{ended:?} holds {outcome:?}");
            assert!(!outcome.contains(&ended), "{outcome:?} holds {ended:?}");
            let final_comment = call_ended_text(id, Duration::from_secs(252));
            assert!(final_comment.contains(&ended));
            assert!(!final_comment.contains(&outcome), "{final_comment}");
        }
        assert_eq!(marker_for("esc_7", CALL_ENDED), call_ended_marker("esc_7"));
        assert_eq!(marker_for("esc_7", "connected"), marker("esc_7"));
    }

    #[test]
    fn the_call_ended_text_says_how_long_the_call_lasted() {
        let text = |secs| call_ended_text("esc_7", Duration::from_secs(secs));
        assert_eq!(
            text(252),
            "Klaxon escalation esc_7 call ended: the call lasted 4 min 12 s."
        );
        assert!(text(42).ends_with("lasted 42 s."));
        assert!(text(120).ends_with("lasted 2 min."));
    }

    #[test]
    fn a_text_is_posted_with_its_marker_once() {
        let marker = call_ended_marker("esc_7");
        assert_eq!(
            marked("the call lasted 2 min.", &marker),
            "Klaxon escalation esc_7 call ended: the call lasted 2 min."
        );
        let already = call_ended_text("esc_7", Duration::from_secs(120));
        assert_eq!(marked(&already, &marker), already);
    }

    #[test]
    fn job_bodies_stored_before_the_call_ended_stage_still_parse() {
        let old = r#"{"linked_account_id":"9c","ticket_id":"1c","escalation_id":"esc_7","outcome":"connected","comment":"Klaxon escalation esc_7: done"}"#;
        let Ok(job) = serde_json::from_str::<TicketWriteback>(old) else {
            panic!("an old ticket job parses");
        };
        assert_eq!(job.outcome, "connected");
        let ended = Job::Ticket(TicketWriteback {
            outcome: CALL_ENDED.into(),
            ..job
        });
        let stored = ended.body();
        assert!(stored.contains(r#""outcome":"call_ended""#), "{stored}");
        let parsed = serde_json::from_str::<TicketWriteback>(&stored).map(Job::Ticket);
        assert_eq!(parsed.ok(), Some(ended));
    }
}
