//! Writing an escalation's outcome back to the Merge ticket it came from, as a durable
//! delivery job (retried, dead-lettered and replayable like a webhook).
//!
//! Acknowledged or connected: the ticket goes `IN_PROGRESS` and gets a private comment saying
//! who took it and how. Unreached: a private comment only; the status is never changed on a
//! voicemail or a no-answer.

use serde::{Deserialize, Serialize};

use super::{MergeClient, MergeError, TicketStatus};

/// The reserved destination name of write-back jobs in the deliveries table.
pub const DESTINATION: &str = "merge.ticket-writeback";

/// The body of a write-back job.
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

/// Performs the write-back; returns what was done, for the attempt record.
pub async fn perform(client: &MergeClient, job: &TicketWriteback) -> Result<String, MergeError> {
    let account = &job.linked_account_id;
    let mut done = Vec::new();
    if matches!(job.outcome.as_str(), "acknowledged" | "connected") {
        client
            .patch_ticket_status(account, &job.ticket_id, &TicketStatus::InProgress)
            .await?;
        done.push("status IN_PROGRESS");
    }
    if matches!(
        job.outcome.as_str(),
        "acknowledged" | "connected" | "unreached"
    ) {
        let html = format!("<p>{}</p>", escape_html(&job.comment));
        client
            .add_ticket_comment(account, &job.ticket_id, &job.comment, &html)
            .await?;
        done.push("private comment");
    }
    Ok(if done.is_empty() {
        format!("nothing to write for outcome {}", job.outcome)
    } else {
        done.join(" + ")
    })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
