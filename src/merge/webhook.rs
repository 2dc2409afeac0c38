//! The Merge webhook envelope, read into a [`MergeEvent`] (docs/merge.md §4.1–4.3).
//!
//! The body is `{hook: {event, …}, linked_account: {id, …}, data: {…}}` with no top-level id.
//! `data` is the whole current object, not a diff, so it is kept as JSON here: the caller
//! compares it with its last-seen state, and re-GETs with `expand=` before acting.
//!
//! Event names are `<Model>.<verb>`, matched case-insensitively, with synonyms seen in the
//! wild folded together (`created`/`added`, `updated`/`changed`/`stage_changed`,
//! `deleted`/`removed`). Events that are not data changes (`LinkedAccount.linked`,
//! `Issue.created`, a dashboard test for `Candidate.changed`) still parse, into
//! `Other(..)` variants, because the doc's answer to them is "log and 200", never a 4xx.
//! Only a body that is not an envelope at all is an error ([`WebhookError`]).
//!
//! Runs after `crate::signing::merge::verify` has checked the raw bytes; dedupe on
//! `crate::signing::merge::dedupe_key` is the caller's job.

use serde::Deserialize;
use serde_json::Value;

/// The common model an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MergeModel {
    Ticket,
    Opportunity,
    /// Any other model (`LinkedAccount`, `Issue`, `Candidate`, …), as sent.
    Other(String),
}

/// What happened to the object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// `added`, `created`.
    Added,
    /// `changed`, `updated`, `stage_changed`.
    Changed,
    /// `removed`, `deleted`.
    Deleted,
    /// Any other verb (`linked`, `synced`, `resolved`, …), lowercased.
    Other(String),
}

/// A parsed Merge webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeEvent {
    pub model: MergeModel,
    pub change: Change,
    /// `hook.event` exactly as sent, for logs.
    pub event: String,
    /// Routes the event to a tenant and its account token (docs/merge.md §4.4).
    pub linked_account_id: String,
    /// The display name, e.g. `Zendesk`.
    pub integration: Option<String>,
    /// e.g. `zendesk`.
    pub integration_slug: Option<String>,
    /// `ticketing` or `crm`.
    pub category: Option<String>,
    /// The full common-model object (or, for account events, what Merge sends with them).
    pub data: Value,
}

/// Why a body is not a Merge webhook. The HTTP layer answers 4xx: resending the same bytes
/// cannot help.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the Merge webhook body is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("the Merge webhook body has no `{0}`")]
    Missing(&'static str),
    #[error("`hook.event` is not of the form <Model>.<verb>")]
    BadEventName,
    /// `hook.event` becomes the stored event type and `linked_account.id` a routing key;
    /// neither may carry a control character (see [`crate::stored_text`]).
    #[error("`{field}` {found}")]
    ControlCharacter {
        field: &'static str,
        found: crate::stored_text::ControlCharacter,
    },
}

fn check_text(field: &'static str, text: &str) -> Result<(), WebhookError> {
    crate::stored_text::check(text).map_err(|found| WebhookError::ControlCharacter { field, found })
}

impl MergeEvent {
    /// Klaxon's event type: `merge.<model>.<change>`, lowercase, e.g. `merge.ticket.changed`.
    pub fn event_type(&self) -> String {
        let model = match &self.model {
            MergeModel::Ticket => "ticket".to_owned(),
            MergeModel::Opportunity => "opportunity".to_owned(),
            MergeModel::Other(other) => other.to_ascii_lowercase(),
        };
        let change = match &self.change {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Deleted => "deleted",
            Change::Other(other) => other,
        };
        format!("merge.{model}.{change}")
    }

    /// The changed object's Merge id (`data.id`), when there is one.
    pub fn object_id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }
}

#[derive(Deserialize)]
struct Envelope {
    hook: Option<Hook>,
    linked_account: Option<LinkedAccount>,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct Hook {
    event: Option<String>,
}

#[derive(Deserialize)]
struct LinkedAccount {
    id: Option<String>,
    integration: Option<String>,
    integration_slug: Option<String>,
    category: Option<String>,
}

/// Reads a webhook body (already verified).
pub fn parse(body: &[u8]) -> Result<MergeEvent, WebhookError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(WebhookError::NotJson)?;
    let event = envelope
        .hook
        .and_then(|h| h.event)
        .filter(|e| !e.trim().is_empty())
        .ok_or(WebhookError::Missing("hook.event"))?;
    let account = envelope
        .linked_account
        .ok_or(WebhookError::Missing("linked_account"))?;
    let linked_account_id = account
        .id
        .filter(|id| !id.trim().is_empty())
        .ok_or(WebhookError::Missing("linked_account.id"))?;
    let data = envelope
        .data
        .filter(Value::is_object)
        .ok_or(WebhookError::Missing("data"))?;
    check_text("hook.event", &event)?;
    check_text("linked_account.id", &linked_account_id)?;
    let (model, change) = parse_event_name(&event)?;
    Ok(MergeEvent {
        model,
        change,
        event,
        linked_account_id,
        integration: account.integration,
        integration_slug: account.integration_slug,
        category: account.category,
        data,
    })
}

/// `<Model>.<verb>`, case-insensitively, with the synonyms of docs/merge.md §4.2.
pub fn parse_event_name(event: &str) -> Result<(MergeModel, Change), WebhookError> {
    let (model, verb) = event
        .trim()
        .split_once('.')
        .filter(|(m, v)| !m.is_empty() && !v.is_empty())
        .ok_or(WebhookError::BadEventName)?;
    let model = match model.to_ascii_lowercase().as_str() {
        "ticket" => MergeModel::Ticket,
        "opportunity" => MergeModel::Opportunity,
        _ => MergeModel::Other(model.to_owned()),
    };
    let verb = verb.to_ascii_lowercase();
    let change = match verb.as_str() {
        "added" | "created" => Change::Added,
        "changed" | "updated" | "stage_changed" => Change::Changed,
        "removed" | "deleted" => Change::Deleted,
        _ => Change::Other(verb),
    };
    Ok((model, change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "a1b2c3d4-0000-4000-8000-000000000001";

    fn envelope(event: &str, category: &str, data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "hook": {"id": "5d3c1b57-6f40-4b6a-9a35-2b7c0d1e9f10", "event": event,
                     "target": "https://klaxon.example.com/ingest/merge"},
            "linked_account": {"id": ACCOUNT, "integration": "Zendesk", "integration_slug": "zendesk",
                               "category": category, "end_user_origin_id": "acme-1",
                               "end_user_organization_name": "Acme", "end_user_email_address": "it@acme.com",
                               "status": "COMPLETE", "webhook_listener_url": "https://api.merge.dev/x",
                               "is_duplicate": false},
            "data": data
        }))
        .unwrap()
    }

    #[test]
    fn a_ticket_change_parses_from_the_signing_vector_body() {
        // The exact body of the signature test vector (docs/signatures.md §2).
        let body = br#"{"hook":{"id":"5d3c1b57-6f40-4b6a-9a35-2b7c0d1e9f10","event":"Ticket.changed","target":"https://klaxon.example.com/ingest/merge"},"linked_account":{"id":"a1b2c3d4-0000-4000-8000-000000000001","integration_slug":"zendesk","category":"ticketing"},"data":{"id":"b7e1f3a2-1111-4222-8333-444455556666","name":"Site down","priority":"URGENT","status":"OPEN"}}"#;
        let event = parse(body).unwrap();
        assert_eq!(event.model, MergeModel::Ticket);
        assert_eq!(event.change, Change::Changed);
        assert_eq!(event.event_type(), "merge.ticket.changed");
        assert_eq!(event.linked_account_id, ACCOUNT);
        assert_eq!(event.integration_slug.as_deref(), Some("zendesk"));
        assert_eq!(event.integration, None);
        assert_eq!(event.category.as_deref(), Some("ticketing"));
        assert_eq!(
            event.object_id(),
            Some("b7e1f3a2-1111-4222-8333-444455556666")
        );
        let ticket: crate::merge::Ticket = serde_json::from_value(event.data).unwrap();
        assert_eq!(ticket.priority, Some(crate::merge::TicketPriority::Urgent));
    }

    #[test]
    fn synonyms_fold_to_one_event_type() {
        let cases = [
            ("Ticket.added", "merge.ticket.added"),
            ("Ticket.created", "merge.ticket.added"),
            ("ticket.created", "merge.ticket.added"),
            ("Ticket.updated", "merge.ticket.changed"),
            ("ticket.updated", "merge.ticket.changed"),
            ("Ticket.removed", "merge.ticket.deleted"),
            ("Ticket.deleted", "merge.ticket.deleted"),
            ("Opportunity.added", "merge.opportunity.added"),
            ("Opportunity.changed", "merge.opportunity.changed"),
            ("opportunity.updated", "merge.opportunity.changed"),
            ("opportunity.stage_changed", "merge.opportunity.changed"),
            ("opportunity.deleted", "merge.opportunity.deleted"),
            ("Opportunity.removed", "merge.opportunity.deleted"),
        ];
        for (name, expected) in cases {
            let event = parse(&envelope(name, "crm", json!({"id": "x"}))).unwrap();
            assert_eq!(event.event_type(), expected, "{name}");
            assert_eq!(event.event, name);
        }
        let event = parse(&envelope("Opportunity.changed", "crm", json!({"id": "o1"}))).unwrap();
        assert_eq!(event.model, MergeModel::Opportunity);
        assert_eq!(event.integration.as_deref(), Some("Zendesk"));
    }

    #[test]
    fn other_events_are_kept_not_refused() {
        let event = parse(&envelope("LinkedAccount.linked", "ticketing", json!({}))).unwrap();
        assert_eq!(event.model, MergeModel::Other("LinkedAccount".into()));
        assert_eq!(event.change, Change::Other("linked".into()));
        assert_eq!(event.event_type(), "merge.linkedaccount.linked");
        // The dashboard's "Send test POST request" sample.
        let event = parse(&envelope("Candidate.changed", "ats", json!({"id": "c"}))).unwrap();
        assert_eq!(event.event_type(), "merge.candidate.changed");
        let event = parse(&envelope(
            "LinkedAccount.fully_synced_initial",
            "crm",
            json!({}),
        ))
        .unwrap();
        assert_eq!(event.change, Change::Other("fully_synced_initial".into()));
    }

    #[test]
    fn bodies_that_are_not_envelopes_are_errors() {
        assert!(matches!(parse(b"not json"), Err(WebhookError::NotJson(_))));
        assert!(matches!(parse(b"[1]"), Err(WebhookError::NotJson(_))));
        let missing = |body: Value| match parse(&serde_json::to_vec(&body).unwrap()) {
            Err(WebhookError::Missing(what)) => what,
            other => panic!("expected Missing, got {other:?}"),
        };
        let account = json!({"id": ACCOUNT});
        assert_eq!(
            missing(json!({"id": "t", "name": "a bare ticket"})),
            "hook.event"
        );
        assert_eq!(
            missing(json!({"hook": {"event": "Ticket.changed"}, "data": {}})),
            "linked_account"
        );
        assert_eq!(
            missing(json!({"hook": {"event": "Ticket.changed"}, "linked_account": {}, "data": {}})),
            "linked_account.id"
        );
        assert_eq!(
            missing(json!({"hook": {"event": "Ticket.changed"}, "linked_account": account})),
            "data"
        );
        assert_eq!(
            missing(
                json!({"hook": {"event": "Ticket.changed"}, "linked_account": account, "data": "x"})
            ),
            "data"
        );
        for bad in ["Ticket", "Ticket.", ".changed"] {
            assert!(
                matches!(
                    parse(&envelope(bad, "ticketing", json!({}))),
                    Err(WebhookError::BadEventName)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn control_characters_in_the_event_name_or_account_are_errors() {
        let error = parse(&envelope("Ticket.chan\u{0}ged", "ticketing", json!({}))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`hook.event` contains a control character (U+0000) at byte 11"
        );
        let body = json!({"hook": {"event": "Ticket.changed"}, "linked_account": {"id": "a\nb"},
                          "data": {}});
        assert!(matches!(
            parse(&serde_json::to_vec(&body).unwrap()),
            Err(WebhookError::ControlCharacter {
                field: "linked_account.id",
                ..
            })
        ));
    }
}
