//! Scenario 3: Merge reports a big deal in Negotiation (a signed `Opportunity.changed`
//! webhook to `/webhooks/crm`). The built-in `merge-deal-desk` pipeline reads the deal again
//! from Merge (stage, owner), finds the owner's phone in `[people]` by e-mail, and rings the
//! VP of Sales, who says "connect me" and is warm-transferred to the account executive.
//! Klaxon then adds a note to the deal in the CRM.

use crate::demo::settings::PEOPLE;
use crate::demo::timeline::Tone;
use crate::sandbox::merge::sample;

use super::{Failed, Reporter, Verdict};

pub async fn run(reporter: &Reporter<'_>) -> Result<Verdict, Failed> {
    let stage = reporter.stage;
    let deal = stage.merge.opportunity(sample::OPPORTUNITY_NEGOTIATION);
    let name = deal
        .as_ref()
        .and_then(|d| d.name.clone())
        .unwrap_or_default();
    let amount = deal.as_ref().and_then(|d| d.amount).unwrap_or_default();
    reporter.say(
        "merge",
        None,
        &format!(
            "Merge: deal \"{name}\" ({amount}) is in Negotiation → signed webhook to /webhooks/crm"
        ),
        Tone::Plain,
    );
    let status = stage
        .merge
        .send_webhook(
            &stage.klaxon.url("/webhooks/crm"),
            "Opportunity.changed",
            sample::OPPORTUNITY_NEGOTIATION,
            sample::LINKED_HUBSPOT,
        )
        .await
        .map_err(|e| Failed::Other(e.to_string()))?;
    if status != 200 {
        return Err(Failed::Other(format!("/webhooks/crm answered {status}")));
    }
    let event = reporter
        .merge_event("merge.opportunity.changed", sample::OPPORTUNITY_NEGOTIATION)
        .await?;
    let (_, routed) = reporter.decision(&event).await?;
    let escalation_id = routed
        .escalation
        .ok_or_else(|| Failed::Other("the deal rang nobody".into()))?;
    let escalation = reporter.follow_escalation(&escalation_id).await?;
    let outcome = escalation["status"].as_str().unwrap_or("?").to_owned();
    let owner = PEOPLE.iter().find(|p| p.email == Some("ae@example.com"));
    let reached_owner = owner.is_some_and(|owner| {
        escalation["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["detail"]["command"] == "dial" && e["detail"]["to"] == owner.phone)
    });

    let note = stage
        .merge
        .wait_until(stage.pace.scenario_timeout(), |requests| {
            requests
                .iter()
                .find(|r| {
                    r.method == "POST"
                        && r.path.ends_with("/crm/v1/notes")
                        && r.body["model"]["opportunity"] == sample::OPPORTUNITY_NEGOTIATION
                        && r.status < 300
                })
                .cloned()
        })
        .await
        .is_ok();
    if note {
        reporter.say("merge", None, "CRM note added to the deal", Tone::Plain);
    }
    let who = match (reached_owner, owner) {
        (true, Some(owner)) => format!("connected to {}", owner.name),
        _ => format!("{outcome}, not to the AE"),
    };
    let got = match (outcome == "connected", note) {
        (true, true) => format!("{who}; CRM note"),
        (true, false) => format!("{who}; no CRM note"),
        (false, _) => outcome.clone(),
    };
    Ok(Verdict {
        passed: outcome == "connected" && reached_owner && note,
        got,
    })
}
