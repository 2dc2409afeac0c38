//! Following Klaxon through its API: find the event a webhook stored, wait for its
//! pipelines' decision, and print an escalation's timeline as it grows.

use serde_json::Value;

use super::{Failed, Reporter};
use crate::demo::api::{Routed, routed};
use crate::demo::timeline::{Narrator, offset};

impl Reporter<'_> {
    /// The id of the stored event of `event_type` about Merge object `object_id`.
    pub async fn merge_event(&self, event_type: &str, object_id: &str) -> Result<String, Failed> {
        let klaxon = &self.stage.klaxon;
        let path = format!("/v1/events?type={event_type}&limit=100");
        self.wait_for("the webhook's event", || async {
            let page = klaxon.get(&path).await?;
            Ok(page["data"].as_array().and_then(|events| {
                events
                    .iter()
                    .find(|e| e["payload"]["id"] == object_id)
                    .and_then(|e| e["id"].as_str())
                    .map(str::to_owned)
            }))
        })
        .await
    }

    /// The event once its pipelines have run, and what they decided.
    pub async fn decision(&self, event_id: &str) -> Result<(Value, Routed), Failed> {
        let klaxon = &self.stage.klaxon;
        let path = format!("/v1/events/{event_id}");
        self.wait_for("the pipelines to run", || async {
            let event = klaxon.get(&path).await?;
            let decided = routed(&event);
            Ok(decided.done.then_some((event, decided)))
        })
        .await
    }

    /// Prints escalation `id`'s timeline as it grows; returns the escalation once it ended.
    pub async fn follow_escalation(&self, id: &str) -> Result<Value, Failed> {
        let klaxon = &self.stage.klaxon;
        let path = format!("/v1/escalations/{id}");
        let mut narrator = Narrator::default();
        let mut shown = 0;
        let mut grace = 10;
        let deadline = tokio::time::Instant::now() + self.stage.pace.scenario_timeout();
        loop {
            let escalation = klaxon.get(&path).await?;
            let timeline = escalation["timeline"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for entry in timeline.iter().skip(shown) {
                if let Some(line) = narrator.describe(entry) {
                    let at = entry["at"]
                        .as_str()
                        .and_then(|at| offset(at, self.stage.started_at))
                        .unwrap_or_else(|| self.stage.console.elapsed());
                    self.say_at(at, id, line.leg, &line.text, line.tone);
                }
            }
            shown = shown.max(timeline.len());
            let ended = escalation["status"] != "active" && escalation["ended_at"].is_string();
            // The outcome's own timeline line may be committed a moment after the status:
            // wait a little for it, so the timeline ends with it.
            let decided = timeline.iter().any(|e| e["kind"] == "decision");
            if ended && (decided || grace == 0) {
                return Ok(escalation);
            }
            if ended {
                grace -= 1;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failed::Timeout("the escalation to end"));
            }
            tokio::time::sleep(self.stage.pace.poll_interval()).await;
        }
    }
}
