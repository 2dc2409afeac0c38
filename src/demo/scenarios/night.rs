//! Scenario 2: a support ticket posted to `/v1/events`, which the demo's `after-hours`
//! pipeline has the model classify; critical, it rings the `night_shift` policy. Its first
//! step is a phone that goes to voicemail (never briefed: detected and hung up), so Klaxon
//! moves on to the second step, who presses 2 to acknowledge.

use serde_json::json;

use crate::demo::timeline::Tone;

use super::{Failed, Reporter, Verdict};

pub async fn run(reporter: &Reporter<'_>) -> Result<Verdict, Failed> {
    let stage = reporter.stage;
    let subject = "Nightly database backups failing since 02:00";
    reporter.say(
        "api",
        None,
        &format!("POST /v1/events support.ticket.created \"{subject}\""),
        Tone::Plain,
    );
    let event = stage
        .klaxon
        .send_event(&json!({
            "type": "support.ticket.created",
            "idempotency_key": "demo-night-ticket",
            "payload": {
                "subject": subject,
                "body": "The backup job fails with an I/O error; last good backup is 26 hours old.",
                "customer": "Globex Ltd",
                "customer_tier": "enterprise",
                "customer_phone": "+15552000201",
            },
        }))
        .await?;
    let (event, routed) = reporter.decision(&event).await?;
    let urgency = event["pipeline"]["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|run| run["pipeline"] == "after-hours")
        .and_then(|run| run["labels"]["urgency"].as_str())
        .unwrap_or("?")
        .to_owned();
    reporter.say(
        "model",
        None,
        &format!("the model classified it: urgency {urgency}"),
        Tone::Plain,
    );
    let escalation_id = routed
        .escalation
        .ok_or_else(|| Failed::Other(format!("not escalated (urgency {urgency})")))?;
    let escalation = reporter.follow_escalation(&escalation_id).await?;
    let outcome = escalation["status"].as_str().unwrap_or("?");
    let attempt = escalation["state"]["attempt"].as_u64().unwrap_or(0);
    Ok(Verdict {
        passed: outcome == "acknowledged" && attempt == 2,
        got: format!("{outcome} on attempt {attempt}"),
    })
}
