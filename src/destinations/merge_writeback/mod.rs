//! Merge write-back as a delivery kind, fed by the escalation events (`escalation.<outcome>`,
//! `escalation.call_ended`): the job (a ticket comment and status, or a deal note) is
//! rendered from the event's payload when the built-in `merge-writeback` pipeline routes it
//! ([`render`]), stored as the delivery's body, and run here as one attempt and judged
//! ([`crate::merge::writeback`] does the Merge calls).
//!
//! - settings: none; the Merge client of the server (`MERGE_API_KEY`, or the sandbox Merge).
//! - the answer: done → delivered (Merge's warnings kept as the response); Merge's refusals
//!   that cannot change (an `errors[]`, a 404, an integration without notes) → dead; the
//!   rest (timeouts, 429, 5xx) → retried on the schedule.
//! - rate limit: the Merge client's own (it honours `Retry-After`).

mod render;
#[cfg(test)]
mod tests;

pub use render::{CALL_ENDED_EVENT, job, render};

use super::report::{Report, Verdict};
use crate::merge::MergeClient;
use crate::merge::writeback::{self, Job};
use crate::store::Target;

/// What a write-back destination writes to: the escalation's ticket, or its deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A status change and private comment on the Merge ticket.
    Ticket,
    /// A CRM note on the Merge deal.
    Deal,
}

impl Object {
    /// The kind its deliveries are stored as.
    pub fn target(self) -> Target {
        match self {
            Object::Ticket => Target::MergeTicket,
            Object::Deal => Target::MergeNote,
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Object::Ticket => "the escalation's Merge ticket (status and private comment)",
            Object::Deal => "the escalation's Merge deal (CRM note)",
        }
    }
}

/// The job stored as a delivery of `target`, or `None` when that is not a write-back kind.
pub fn stored_job(target: Target, body: &str) -> Option<Result<Job, serde_json::Error>> {
    match target {
        Target::MergeTicket => Some(serde_json::from_str(body).map(Job::Ticket)),
        Target::MergeNote => Some(serde_json::from_str(body).map(Job::Note)),
        _ => None,
    }
}

/// Runs the job. `retrying`: an earlier attempt failed, perhaps after Merge had acted, so
/// text already carrying the job's marker is not posted again.
pub async fn send(
    merge: Option<&MergeClient>,
    target: Target,
    body: &str,
    retrying: bool,
) -> Report {
    let Some(merge) = merge else {
        return Report::failed(Verdict::Dead, None, "no Merge client is configured");
    };
    let job = match stored_job(target, body) {
        Some(Ok(job)) => job,
        Some(Err(error)) => {
            return Report::failed(
                Verdict::Dead,
                None,
                format!("unreadable write-back job: {error}"),
            );
        }
        None => {
            return Report::failed(
                Verdict::Dead,
                None,
                format!("{target} is not a Merge write-back"),
            );
        }
    };
    match writeback::perform(merge, &job, retrying).await {
        Ok(done) => Report::delivered(None, Some(done)),
        Err(error) => {
            let verdict = if error.is_retryable() {
                Verdict::Retry { after: None }
            } else {
                Verdict::Dead
            };
            Report::failed(verdict, None, error.to_string())
        }
    }
}
