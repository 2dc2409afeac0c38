//! Writing an escalation's outcome back to the Merge object it came from, as a durable
//! delivery job (retried, dead-lettered and replayable like a webhook).
//!
//! - A ticket, acknowledged or connected: it goes `IN_PROGRESS` and gets a private comment
//!   saying who took it and how. Unreached: a private comment only; the status is never
//!   changed on a voicemail or a no-answer.
//! - A deal: a CRM note on the opportunity with the outcome. Merge creates notes only for
//!   HubSpot, Pipedrive and Salesforce (doc §3.3); for another known integration the job is
//!   recorded as skipped rather than sent to fail, and Merge's own refusal (an `errors[]`, a
//!   404) is recorded as the job's final error, not retried.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::problem_types;
use super::{MergeClient, MergeError, Problem, TicketStatus};

/// The reserved destination name of ticket write-back jobs in the deliveries table.
pub const DESTINATION: &str = "merge.ticket-writeback";
/// The reserved destination name of deal note jobs.
pub const NOTE_DESTINATION: &str = "merge.opportunity-note";
/// The destinations of the second write-back of a connected call, when it ends: a job is
/// unique per event and destination, and these are a second job of the same event.
pub const CALL_ENDED_DESTINATION: &str = "merge.ticket-writeback.call-ended";
pub const CALL_ENDED_NOTE_DESTINATION: &str = "merge.opportunity-note.call-ended";

/// Integrations whose notes Merge can create (doc §3.3), by slug or display name.
const NOTE_INTEGRATIONS: [&str; 3] = ["hubspot", "pipedrive", "salesforce"];

/// The body of a ticket write-back job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketWriteback {
    pub linked_account_id: String,
    pub ticket_id: String,
    pub escalation_id: String,
    /// `connected`, `acknowledged`, `unreached`, …
    pub outcome: String,
    /// The comment's text: outcome, who, when, the briefing.
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
    pub outcome: String,
    pub content: String,
}

/// A write-back job of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Ticket(TicketWriteback),
    Note(DealNote),
}

impl Job {
    /// The job stored under `destination`, or `None` when that is not a write-back
    /// destination (an outbound webhook, say).
    pub fn parse(destination: &str, body: &str) -> Option<Result<Job, serde_json::Error>> {
        match destination {
            DESTINATION | CALL_ENDED_DESTINATION => {
                Some(serde_json::from_str(body).map(Job::Ticket))
            }
            NOTE_DESTINATION | CALL_ENDED_NOTE_DESTINATION => {
                Some(serde_json::from_str(body).map(Job::Note))
            }
            _ => None,
        }
    }

    /// The destination it is stored under.
    pub fn destination(&self) -> &'static str {
        match self {
            Job::Ticket(job) if job.outcome == CALL_ENDED => CALL_ENDED_DESTINATION,
            Job::Ticket(_) => DESTINATION,
            Job::Note(job) if job.outcome == CALL_ENDED => CALL_ENDED_NOTE_DESTINATION,
            Job::Note(_) => NOTE_DESTINATION,
        }
    }

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

/// The `outcome` of the job written when a connected call ends: a comment (or note) with the
/// call's length, never a status change.
pub const CALL_ENDED: &str = "call_ended";

/// The text the call-ended comment of an escalation starts with; not a substring of
/// [`marker`]'s, so a retry of either finds its own.
pub fn call_ended_marker(escalation_id: &str) -> String {
    format!("Klaxon escalation {escalation_id} call ended:")
}

/// The marker of a job's comment or note: the call-ended one has its own.
fn marker_of(outcome: &str, escalation_id: &str) -> String {
    if outcome == CALL_ENDED {
        call_ended_marker(escalation_id)
    } else {
        marker(escalation_id)
    }
}

/// The text every comment and note of an escalation starts with, unique to it.
pub fn marker(escalation_id: &str) -> String {
    format!("Klaxon escalation {escalation_id}:")
}

async fn write_ticket(
    client: &MergeClient,
    job: &TicketWriteback,
    retrying: bool,
) -> Result<String, MergeError> {
    let account = &job.linked_account_id;
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
        let marker = marker_of(&job.outcome, &job.escalation_id);
        let posted = retrying
            && client
                .ticket_has_comment_with(account, &job.ticket_id, &marker)
                .await?;
        if posted {
            done.push("private comment (already posted by an earlier attempt)".to_owned());
        } else {
            let html = format!("<p>{}</p>", escape_html(&job.comment).replace('\n', "<br>"));
            let written = client
                .add_ticket_comment(account, &job.ticket_id, &job.comment, &html)
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
    if retrying
        && client
            .opportunity_has_note_with(
                &job.linked_account_id,
                &job.opportunity_id,
                &marker_of(&job.outcome, &job.escalation_id),
            )
            .await?
    {
        return Ok("CRM note (already posted by an earlier attempt)".to_owned());
    }
    let mut model = json!({"content": job.content, "opportunity": job.opportunity_id});
    if let Some(account) = &job.account_id {
        model["account"] = Value::String(account.clone());
    }
    // Salesforce requires a title (doc §3.3).
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
