//! The `merge_lookup` step: reads the event's Merge object again with its relations expanded,
//! so later steps can test what a webhook does not carry (an opportunity's `stage` is an id;
//! its name needs `expand=stage`) and the deal owner's phone can be found by e-mail.
//!
//! A webhook's `data` may also be stale (deliveries are unordered), so the fresh copy wins.
//! When Merge cannot be reached the webhook's own fields are used and the trace says why;
//! reconciliation polls see the object again later. An object whose relations are already
//! expanded (a reconciliation poll's) is flattened without a request.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::merge::model::{Opportunity, Ticket};
use crate::merge::payload::{POLLED, opportunity_fields, ticket_fields};
use crate::merge::{MergeClient, MergeError};
use crate::people::PhoneBook;

/// Which Merge model the step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeModelKind {
    Ticket,
    Opportunity,
}

impl MergeModelKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ticket" => Some(MergeModelKind::Ticket),
            "opportunity" => Some(MergeModelKind::Opportunity),
            _ => None,
        }
    }
}

/// Where the step's fields came from, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// `GET …?expand=` answered.
    Merge,
    /// The payload's relations were already expanded.
    Payload,
    /// Merge could not be asked or did not answer; the payload is used as it is.
    Unavailable,
}

/// The result of one lookup.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The payload to run the rest of the pipeline on.
    pub payload: Value,
    pub source: LookupSource,
    pub error: Option<String>,
}

/// What the step needs: a Merge client and the people directory by e-mail.
#[derive(Clone)]
pub struct MergeLookup {
    client: MergeClient,
    people_by_email: PhoneBook,
}

impl MergeLookup {
    pub fn new(client: MergeClient, people_by_email: PhoneBook) -> Self {
        MergeLookup {
            client,
            people_by_email,
        }
    }

    /// The event's payload with the object's fresh, flattened fields laid over it.
    pub async fn enrich(&self, model: MergeModelKind, payload: &Value) -> Lookup {
        let phone_of = |email: &str| self.people_by_email.phone(email);
        let Some(fields) = payload.as_object() else {
            return unchanged(payload, "the payload is not an object");
        };
        // A reconciliation poll read the object a moment ago, expanded and flattened.
        if fields.get("merge_event").and_then(Value::as_str) == Some(POLLED) {
            return Lookup {
                payload: payload.clone(),
                source: LookupSource::Payload,
                error: None,
            };
        }
        if let Some(already) = flatten_expanded(model, payload, &phone_of) {
            return Lookup {
                payload: overlay(fields, already),
                source: LookupSource::Payload,
                error: None,
            };
        }
        let (Some(account), Some(id)) = (
            fields.get("linked_account_id").and_then(Value::as_str),
            fields.get("id").and_then(Value::as_str),
        ) else {
            return unchanged(payload, "the payload has no linked_account_id and id");
        };
        let fetched: Result<Map<String, Value>, MergeError> = match model {
            MergeModelKind::Ticket => self
                .client
                .get_ticket(account, id)
                .await
                .map(|t| ticket_fields(&t)),
            MergeModelKind::Opportunity => self
                .client
                .get_opportunity(account, id)
                .await
                .map(|o| opportunity_fields(&o, &phone_of)),
        };
        match fetched {
            Ok(fresh) => Lookup {
                payload: overlay(fields, fresh),
                source: LookupSource::Merge,
                error: None,
            },
            Err(error) => {
                tracing::warn!(%error, object = id, "Merge lookup failed; using the webhook's fields");
                unchanged(payload, &error.to_string())
            }
        }
    }
}

/// Flattens a payload whose relations are expanded objects (a poll's); `None` when a
/// relation the step cares about is a bare id.
fn flatten_expanded(
    model: MergeModelKind,
    payload: &Value,
    phone_of: &dyn Fn(&str) -> Option<String>,
) -> Option<Map<String, Value>> {
    let expanded = |name: &str| payload.get(name).is_some_and(Value::is_object);
    match model {
        MergeModelKind::Opportunity if expanded("stage") => {
            let deal: Opportunity = serde_json::from_value(payload.clone()).ok()?;
            Some(opportunity_fields(&deal, phone_of))
        }
        MergeModelKind::Ticket if expanded("contact") => {
            let ticket: Ticket = serde_json::from_value(payload.clone()).ok()?;
            Some(ticket_fields(&ticket))
        }
        _ => None,
    }
}

fn overlay(base: &Map<String, Value>, fresh: Map<String, Value>) -> Value {
    let mut merged = base.clone();
    merged.extend(fresh);
    Value::Object(merged)
}

/// The payload as it came, with why nothing was looked up.
pub fn unchanged(payload: &Value, why: &str) -> Lookup {
    Lookup {
        payload: payload.clone(),
        source: LookupSource::Unavailable,
        error: Some(why.to_owned()),
    }
}
