//! Scenario 1: Merge says a ticket is urgent (a signed `Ticket.changed` webhook to
//! `/webhooks/merge`); the built-in `merge-ticket-escalation` pipeline rings the on-call
//! engineer, who says "connect me" and is put through to the ticket's contact; Klaxon then
//! writes back to the ticket: status `IN_PROGRESS` and a private comment.

use crate::demo::timeline::Tone;
use crate::sandbox::merge::{RecordedRequest, sample};

use super::{Failed, Reporter, Verdict};

pub async fn run(reporter: &Reporter<'_>) -> Result<Verdict, Failed> {
    let stage = reporter.stage;
    let title = stage
        .merge
        .ticket(sample::TICKET_URGENT)
        .and_then(|t| t.name)
        .unwrap_or_default();
    reporter.say(
        "merge",
        None,
        &format!("Merge: ticket \"{title}\" is URGENT → signed webhook to /webhooks/merge"),
        Tone::Plain,
    );
    let status = stage
        .merge
        .send_webhook(
            &stage.klaxon.url("/webhooks/merge"),
            "Ticket.changed",
            sample::TICKET_URGENT,
            sample::LINKED_ZENDESK,
        )
        .await
        .map_err(|e| Failed::Other(e.to_string()))?;
    if status != 200 {
        return Err(Failed::Other(format!("/webhooks/merge answered {status}")));
    }
    let event = reporter
        .merge_event("merge.ticket.changed", sample::TICKET_URGENT)
        .await?;
    let (_, routed) = reporter.decision(&event).await?;
    let escalation_id = routed
        .escalation
        .ok_or_else(|| Failed::Other("the ticket rang nobody".into()))?;
    let escalation = reporter.follow_escalation(&escalation_id).await?;
    let outcome = escalation["status"].as_str().unwrap_or("?").to_owned();

    let writes = stage
        .merge
        .wait_until(stage.pace.scenario_timeout(), |requests| {
            let status = requests.iter().find(|r| is_status_write(r))?;
            let comment = requests.iter().find(|r| is_comment(r))?;
            Some((status.clone(), comment.clone()))
        })
        .await;
    let Ok((status_write, _comment)) = writes else {
        return Ok(Verdict {
            got: format!("{outcome}; no write-back seen"),
            passed: false,
        });
    };
    let new_status = status_write.body["model"]["status"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    reporter.say(
        "merge",
        None,
        &format!("write-back: ticket status → {new_status}"),
        Tone::Plain,
    );
    reporter.say(
        "merge",
        None,
        "write-back: private comment with the call's timeline",
        Tone::Plain,
    );
    Ok(Verdict {
        passed: outcome == "connected" && new_status == "IN_PROGRESS",
        got: format!("{outcome}; ticket {new_status} + comment"),
    })
}

/// A successful PATCH of the demo ticket.
fn is_status_write(request: &RecordedRequest) -> bool {
    request.method == "PATCH"
        && request.path.ends_with(sample::TICKET_URGENT)
        && request.status < 300
}

/// A successful comment on the demo ticket.
fn is_comment(request: &RecordedRequest) -> bool {
    request.method == "POST"
        && request.path.ends_with("/ticketing/v1/comments")
        && request.body["model"]["ticket"] == sample::TICKET_URGENT
        && request.status < 300
}
