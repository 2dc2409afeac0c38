//! Scenario 5: a critical support ticket arrives in Slack, and every event is a table row.
//!
//! - **Slack.** An escalated support ticket is posted to `/v1/events`; the demo's
//!   `critical-to-slack` pipeline has the model classify it and, critical, posts it to
//!   `#alerts`. The message is read back from the demo's sandbox Slack as it arrived, and
//!   the delivery must have succeeded.
//! - **Table** (with `--table-url` only). The `event-table` pipeline writes every event of
//!   every scenario to a PostgreSQL table. Once the other scenarios are over (so every event
//!   the demo sends has been sent), the demo waits for each event's table delivery to finish
//!   and reads the table back: one row per routed event, with the right ids. Without
//!   `--table-url` this half is skipped with a line saying how to see it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::demo::api::{delivery_of, run_of};
use crate::demo::settings::{SLACK_CHANNEL, SLACK_PIPELINE, TABLE_PIPELINE};
use crate::demo::table::{TABLE, TableRow};
use crate::demo::timeline::Tone;
use crate::sandbox::chat::{AcceptedMessage, Service};

use super::{Failed, Reporter, SCENARIOS, Verdict};

const SUBJECT: &str = "Checkout is down for every EU customer";

/// How many table rows are printed; the count covers them all.
const ROWS_SHOWN: usize = 10;

/// How many times the events are listed again when one arrived during the count.
const MAX_RECOUNTS: usize = 3;

pub async fn run(reporter: &Reporter<'_>) -> Result<Verdict, Failed> {
    let slack = in_slack(reporter).await?;
    let table = match reporter.stage.table {
        Some(_) => in_table(reporter).await?,
        None => {
            reporter.say(
                "table",
                None,
                "table skipped: no PostgreSQL given. To see every event land in a table: \
                 klaxon demo --table-url postgres://user@host/db",
                Tone::Plain,
            );
            Part {
                passed: true,
                got: "table skipped (no --table-url)".into(),
            }
        }
    };
    Ok(Verdict {
        passed: slack.passed && table.passed,
        got: format!("{}; {}", slack.got, table.got),
    })
}

/// What one half of the scenario came to.
struct Part {
    passed: bool,
    got: String,
}

async fn in_slack(reporter: &Reporter<'_>) -> Result<Part, Failed> {
    let stage = reporter.stage;
    reporter.say(
        "api",
        None,
        &format!("POST /v1/events support.ticket.escalated \"{SUBJECT}\""),
        Tone::Plain,
    );
    let event = stage
        .klaxon
        .send_event(&json!({
            "type": "support.ticket.escalated",
            "idempotency_key": "demo-chat-ticket",
            "payload": {
                "subject": SUBJECT,
                "body": "Payments fail with HTTP 502 since 09:12; 340 orders lost so far.",
                "customer": "Initech",
                "customer_tier": "enterprise",
            },
        }))
        .await?;
    let (event, _) = reporter.decision(&event).await?;
    let urgency = run_of(&event, SLACK_PIPELINE)
        .and_then(|run| run["labels"]["urgency"].as_str())
        .unwrap_or("?")
        .to_owned();
    let Some(delivery_id) = delivery_of(&event, SLACK_PIPELINE) else {
        return Ok(Part {
            passed: false,
            got: format!("not posted to Slack (urgency {urgency})"),
        });
    };
    reporter.say(
        "model",
        None,
        &format!("the model classified it: urgency {urgency} → Slack {SLACK_CHANNEL}"),
        Tone::Plain,
    );

    let arrived = stage
        .chat
        .wait_until(stage.pace.scenario_timeout(), |observed| {
            observed
                .messages(Service::Slack)
                .iter()
                .find(|m| header(m).contains(SUBJECT))
                .cloned()
        })
        .await
        .map_err(|_| Failed::Timeout("the message in Slack"))?;
    let channel = arrived.body["channel"].as_str().unwrap_or("?");
    reporter.say(
        &delivery_id,
        None,
        &format!(
            "Slack {channel} ({}): \"{}\", ts {}",
            arrived.target,
            header(&arrived),
            arrived.id
        ),
        Tone::Good,
    );
    if let Some(context) = context_line(&arrived) {
        reporter.say(&delivery_id, None, &format!("  {context}"), Tone::Plain);
    }

    let delivery = reporter.finished_delivery(&delivery_id).await?;
    let state = delivery["state"].as_str().unwrap_or("?").to_owned();
    let attempts = delivery["attempts"].as_u64().unwrap_or(0);
    let tone = if state == "succeeded" {
        Tone::Plain
    } else {
        Tone::Bad
    };
    reporter.say(
        &delivery_id,
        None,
        &format!("delivery {state} after {attempts} attempt(s)"),
        tone,
    );
    Ok(Part {
        passed: urgency == "critical" && state == "succeeded",
        got: format!("in Slack {channel}"),
    })
}

async fn in_table(reporter: &Reporter<'_>) -> Result<Part, Failed> {
    let stage = reporter.stage;
    let Some(table) = stage.table else {
        return Err(Failed::Other("no table to read".into()));
    };
    reporter.say(
        "table",
        None,
        &format!("every event is also a row in {TABLE}: counted once the other scenarios are over"),
        Tone::Plain,
    );
    reporter.others_finished(SCENARIOS.len() - 1).await?;

    // Klaxon publishes events of its own (an escalation's outcome) as the scenarios end:
    // count again until no event came in while the rows were being read.
    let mut events = reporter.all_events().await?;
    let mut recounts = 0;
    let (stored, rows) = loop {
        let stored = reporter.stored_rows(&events).await?;
        let rows = table
            .rows()
            .await
            .map_err(|e| Failed::Other(crate::error_text::with_causes(&e)))?;
        let again = reporter.all_events().await?;
        if again == events || recounts == MAX_RECOUNTS {
            break (stored, rows);
        }
        events = again;
        recounts += 1;
    };

    let ids: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let matches = ids.iter().copied().eq(events.keys().map(String::as_str))
        && stored == events.len()
        && rows.len() == events.len();
    let published = events.values().filter(|s| *s == "klaxon").count();
    reporter.say(
        "table",
        None,
        &format!(
            "SELECT count(*) FROM {TABLE} → {} rows for {} events ({} sent by the scenarios, {published} escalation outcomes Klaxon published)",
            rows.len(),
            events.len(),
            events.len() - published,
        ),
        if matches { Tone::Good } else { Tone::Bad },
    );
    for row in rows.iter().take(ROWS_SHOWN) {
        reporter.say(
            "table",
            None,
            &format!("  {}", describe_row(row)),
            Tone::Plain,
        );
    }
    if rows.len() > ROWS_SHOWN {
        reporter.say(
            "table",
            None,
            &format!("  … and {} more", rows.len() - ROWS_SHOWN),
            Tone::Plain,
        );
    }
    Ok(Part {
        passed: matches && !events.is_empty(),
        got: format!("{} table rows for {} events", rows.len(), events.len()),
    })
}

/// The message's header block: the title as Slack shows it.
fn header(message: &AcceptedMessage) -> &str {
    message.body["blocks"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "header"))
        .and_then(|b| b["text"]["text"].as_str())
        .unwrap_or_default()
}

/// The message's context line (urgency · event type), as Slack shows it.
fn context_line(message: &AcceptedMessage) -> Option<String> {
    let block = message.body["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["type"] == "context")?;
    let text: Vec<&str> = block["elements"]
        .as_array()?
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    Some(text.join(" ").replace(['*', '`'], ""))
}

/// `…4c405a4  merge.ticket.changed  urgency high`
fn describe_row(row: &TableRow) -> String {
    format!(
        "{:<9}  {:<32}  urgency {}",
        short_event_id(&row.id),
        row.event_type.as_deref().unwrap_or("?"),
        row.urgency.as_deref().unwrap_or("none")
    )
}

/// An event id's last eight characters: enough to tell a run's events apart.
fn short_event_id(id: &str) -> String {
    let tail: String = id
        .chars()
        .skip(id.chars().count().saturating_sub(8))
        .collect();
    if tail.len() < id.len() {
        format!("…{tail}")
    } else {
        tail
    }
}

impl Reporter<'_> {
    /// `GET /v1/deliveries/{id}` once it succeeded or is dead.
    async fn finished_delivery(&self, id: &str) -> Result<Value, Failed> {
        let klaxon = &self.stage.klaxon;
        let path = format!("/v1/deliveries/{id}");
        self.wait_for("the delivery to finish", || async {
            let delivery = klaxon.get(&path).await?;
            let finished = matches!(delivery["state"].as_str(), Some("succeeded" | "dead"));
            Ok(finished.then_some(delivery))
        })
        .await
    }

    /// Every event Klaxon stored, id → source (`api`, `merge`, `klaxon` …); the demo makes
    /// far fewer than a page.
    async fn all_events(&self) -> Result<BTreeMap<String, String>, Failed> {
        let page = self.stage.klaxon.get("/v1/events?limit=500").await?;
        if page["next_cursor"].is_string() {
            return Err(Failed::Other("more events than one page holds".into()));
        }
        Ok(page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let id = e["id"].as_str()?.to_owned();
                Some((id, e["source"].as_str().unwrap_or("?").to_owned()))
            })
            .collect())
    }

    /// Waits for each event's table delivery to finish; returns how many stored their row,
    /// and says why for each that did not.
    async fn stored_rows(&self, events: &BTreeMap<String, String>) -> Result<usize, Failed> {
        let mut stored = 0;
        for id in events.keys() {
            let (event, _) = self.decision(id).await?;
            let Some(delivery_id) = delivery_of(&event, TABLE_PIPELINE) else {
                self.say(
                    "table",
                    None,
                    &format!("event {} was not routed to the table", short_event_id(id)),
                    Tone::Bad,
                );
                continue;
            };
            let delivery = self.finished_delivery(&delivery_id).await?;
            if delivery["state"] == "succeeded" {
                stored += 1;
                continue;
            }
            let reason = delivery["attempt_log"]
                .as_array()
                .and_then(|log| log.last())
                .and_then(|attempt| attempt["error"].as_str())
                .unwrap_or("no reason given");
            self.say(
                &delivery_id,
                None,
                &format!("row for {} not stored: {reason}", short_event_id(id)),
                Tone::Bad,
            );
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn message(body: Value) -> AcceptedMessage {
        AcceptedMessage {
            service: Service::Slack,
            endpoint: "chat.postMessage",
            target: "C0SANDBOX".into(),
            body,
            id: "1700000000.000100".into(),
            received_at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_title_and_context_are_read_from_the_blocks() {
        let arrived = message(json!({
            "channel": "#alerts",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "[CRITICAL] Site down"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "*critical* · `support.ticket.escalated`"}]},
            ],
        }));
        assert_eq!(header(&arrived), "[CRITICAL] Site down");
        assert_eq!(
            context_line(&arrived).as_deref(),
            Some("critical · support.ticket.escalated")
        );
        assert_eq!(header(&message(json!({"text": "no blocks"}))), "");
    }

    #[test]
    fn rows_read_as_id_type_and_urgency() {
        let row = TableRow {
            id: "evt_1".into(),
            event_type: Some("merge.ticket.changed".into()),
            urgency: None,
        };
        assert_eq!(
            describe_row(&TableRow {
                id: "01a24819-bea1-70b3-8d13-68bb52ef740d".into(),
                ..row
            }),
            "…52ef740d  merge.ticket.changed              urgency none"
        );
        assert_eq!(short_event_id("evt_1"), "evt_1");
    }
}
