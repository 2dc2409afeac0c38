//! Merge write-back as a delivery kind: the job (a ticket comment and status, or a deal
//! note) is the delivery's body, written by the escalation engine ([`crate::merge::writeback`]
//! builds it and does the Merge calls); this module runs it as one attempt and judges it.
//!
//! - settings: none; the Merge client of the server (`MERGE_API_KEY`, or the sandbox Merge).
//! - the answer: done → delivered (Merge's warnings kept as the response); Merge's refusals
//!   that cannot change (an `errors[]`, a 404, an integration without notes) → dead; the
//!   rest (timeouts, 429, 5xx) → retried on the schedule.
//! - rate limit: the Merge client's own (it honours `Retry-After`).

use super::report::{Report, Verdict};
use super::target::Target;
use crate::merge::MergeClient;
use crate::merge::writeback::Job;

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
    let job = match Job::stored(target, body) {
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
    match crate::merge::writeback::perform(merge, &job, retrying).await {
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
