//! `klaxon destinations test <name>`: one test message to a configured destination, sent and
//! judged exactly as a delivery would be, with the answer for the person at the terminal.
//!
//! The message is a made-up `klaxon.test` event rendered by the destination's own template,
//! so a wrong channel, a revoked token or a template that reads badly shows up before a real
//! alert needs it. Nothing is stored; in sandbox mode, a destination without credentials
//! sends to the built-in sandbox services, as `klaxon serve` would.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::destinations::{Destination, Report, Routed};
use crate::pipeline::spec::DestinationKind;
use crate::settings::Settings;
use crate::store::{DeliveryId, DeliveryJob, EventId};

/// The test event's type.
pub const TEST_EVENT_TYPE: &str = "klaxon.test";

/// What the test send did.
#[derive(Debug)]
pub struct Trial {
    /// The destination's full name (`<pipeline>.<destination>`).
    pub name: String,
    /// Its kind and where it sends, without secrets.
    pub kind: &'static str,
    pub summary: String,
    pub report: Report,
}

/// Why no test message could be sent.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("no destination {name:?} delivers messages; the ones that do: {known}")]
    Unknown { name: String, known: String },
    #[error("{0:?} matches several destinations ({1}); give its full name")]
    Ambiguous(String, String),
    #[error(transparent)]
    Setup(#[from] super::ServeError),
}

/// Sends the test message to the destination called `name`: its full name, or the part
/// after the pipeline's name when that is unique.
pub async fn send_test_message(settings: &Settings, name: &str) -> Result<Trial, TrialError> {
    let delivering: Vec<(&str, &Destination)> = settings
        .pipelines
        .iter()
        .flat_map(|p| &p.destinations)
        .filter_map(|d| match &d.kind {
            DestinationKind::Deliver(destination) => Some((d.name.as_str(), destination)),
            DestinationKind::Log | DestinationKind::Voice(_) => None,
        })
        .collect();
    let (full_name, destination) = find(&delivering, name)?;
    let payload = json!({
        "subject": "Test message from Klaxon",
        "description": format!("Sent by `klaxon destinations test {full_name}` to check this destination."),
        "priority": "low",
    });
    let labels = Map::from_iter([("urgency".to_owned(), Value::from("low"))]);
    let trace = json!({"pipeline": full_name.split('.').next().unwrap_or(full_name), "steps": []});
    let occurred_at = crate::clock::now_rfc3339();
    let event = EventId::new();
    let body = destination.render(&Routed::new(
        event,
        TEST_EVENT_TYPE,
        &occurred_at,
        &payload,
        &labels,
        &trace,
    ));
    let job = DeliveryJob {
        id: DeliveryId::new(),
        event_id: event,
        destination: full_name.to_owned(),
        target: destination.target(),
        body,
        attempts: 0,
        run_attempts: 0,
    };
    let only = HashMap::from([(full_name.to_owned(), destination.clone())]);
    let (outbox, _sandbox) = super::outbox(only, None).await?;
    // The one destination was just put in the outbox under its own name and kind.
    let report = outbox.send(&job).await.unwrap_or_else(|unroutable| Report {
        verdict: crate::destinations::Verdict::Dead,
        status: None,
        response: None,
        error: Some(unroutable.to_string()),
    });
    Ok(Trial {
        name: full_name.to_owned(),
        kind: destination.target().as_str(),
        summary: destination.summary(),
        report,
    })
}

/// The destination `name` names: exactly, or by its part after the pipeline's name.
fn find<'d>(
    delivering: &[(&'d str, &'d Destination)],
    name: &str,
) -> Result<(&'d str, &'d Destination), TrialError> {
    if let Some(exact) = delivering.iter().find(|(full, _)| *full == name) {
        return Ok(*exact);
    }
    let by_short: Vec<_> = delivering
        .iter()
        .filter(|(full, _)| full.split_once('.').is_some_and(|(_, short)| short == name))
        .collect();
    match by_short.as_slice() {
        [one] => Ok(**one),
        [] => Err(TrialError::Unknown {
            name: name.to_owned(),
            known: names(delivering.iter().map(|(full, _)| *full)),
        }),
        several => Err(TrialError::Ambiguous(
            name.to_owned(),
            names(several.iter().map(|(full, _)| *full)),
        )),
    }
}

fn names<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none are configured".to_owned()
    } else {
        names.join(", ")
    }
}
