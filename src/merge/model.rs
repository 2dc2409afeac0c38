//! Typed subsets of the Merge common models Klaxon reads, and the write envelope.
//!
//! Only the fields Klaxon acts on are declared; everything else in a Merge object is ignored,
//! so a field Merge adds later never breaks parsing. Reading is lenient on purpose
//! (docs/merge.md §2.1, §6): enums keep unknown strings as `Other(..)` because
//! `show_enum_origins` returns the source's raw value ("P1", "Highest") in place of the
//! normalised one, nullable lists read `null` as empty, and a relation is either a uuid or, when
//! requested with `expand=`, the nested object ([`Related`]).
//!
//! Timestamps stay the strings Merge sent; [`parse_time`] reads one when a caller needs to
//! compare, so one odd timestamp cannot fail a whole ticket.
//!
//! The two categories differ in small ways that are easy to get wrong (docs/merge.md §6): a
//! ticketing [`Contact`] has one `phone_number` string, a CRM contact has a list; a ticketing
//! [`TicketingUser`] has `email_address`, a CRM [`User`] has `email`. Neither user has a phone.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::MergeError;
use crate::wire_enum::wire_enum;

wire_enum! {
    /// `TicketStatusEnum`.
    pub enum TicketStatus {
        Open = "OPEN",
        Closed = "CLOSED",
        InProgress = "IN_PROGRESS",
        OnHold = "ON_HOLD",
    }
}

wire_enum! {
    /// `PriorityEnum`. There is no `CRITICAL`: Klaxon's "critical" is `URGENT`
    /// (docs/merge.md §2.1).
    pub enum TicketPriority {
        Urgent = "URGENT",
        High = "HIGH",
        Normal = "NORMAL",
        Low = "LOW",
    }
}

wire_enum! {
    /// `OpportunityStatusEnum`.
    pub enum OpportunityStatus {
        Open = "OPEN",
        Won = "WON",
        Lost = "LOST",
    }
}

/// Objects that carry a Merge id, so a [`Related`] can give its id whether expanded or not.
pub trait HasId {
    fn merge_id(&self) -> Option<&str>;
}

/// A relation: the related object's uuid, or the object itself when the request asked for it
/// with `expand=` (docs/merge.md §2.1). The uuid is tried first, so any JSON object is read as `T`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Related<T> {
    Id(String),
    Object(T),
}

impl<T: HasId> Related<T> {
    /// The related object's Merge id, in either form.
    pub fn id(&self) -> Option<&str> {
        match self {
            Related::Id(id) => Some(id),
            Related::Object(object) => object.merge_id(),
        }
    }

    /// The expanded object, if the relation was expanded.
    pub fn object(&self) -> Option<&T> {
        match self {
            Related::Id(_) => None,
            Related::Object(object) => Some(object),
        }
    }
}

macro_rules! has_id {
    ($($name:ident),+) => {
        $(impl HasId for $name {
            fn merge_id(&self) -> Option<&str> {
                self.id.as_deref()
            }
        })+
    };
}

/// A ticketing `Ticket` (docs/merge.md §2.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// Merge's uuid: the one to key on, not `remote_id`.
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// May be HTML.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<TicketStatus>,
    /// Always null for integrations that do not read priority (Asana, Front, Trello, …).
    #[serde(default)]
    pub priority: Option<TicketPriority>,
    #[serde(default)]
    pub ticket_url: Option<String>,
    #[serde(default)]
    pub contact: Option<Related<Contact>>,
    #[serde(default)]
    pub account: Option<Related<Account>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub assignees: Vec<Related<TicketingUser>>,
    /// When Merge last synced the ticket, not when it changed at the source (docs/merge.md §1.3).
    #[serde(default)]
    pub modified_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub remote_was_deleted: bool,
}

/// A ticketing `Contact`: the reporter or customer (docs/merge.md §2.2).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    /// One free-text string (there is no list on ticketing contacts); normalise it to E.164
    /// before dialing.
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// A ticketing or CRM `Account` (the customer company); both have the `name` Klaxon reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A ticketing `User` (agent or assignee). No phone field: on-call numbers come from Klaxon's
/// configuration, never from Merge.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TicketingUser {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
}

/// A CRM `Opportunity` (docs/merge.md §3.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Opportunity {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// An integer with no currency; compare thresholds as integers.
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub status: Option<OpportunityStatus>,
    /// A Stage uuid unless expanded: match configured stage ids, or the expanded name.
    #[serde(default)]
    pub stage: Option<Related<Stage>>,
    #[serde(default)]
    pub owner: Option<Related<User>>,
    #[serde(default)]
    pub account: Option<Related<Account>>,
    #[serde(default)]
    pub last_activity_at: Option<String>,
    #[serde(default)]
    pub modified_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub remote_was_deleted: bool,
}

/// A CRM pipeline `Stage`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Stage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A CRM `User` (deal owner). The address is `email` here, `email_address` in ticketing; the
/// phone directory in Klaxon's configuration is keyed by it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct User {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// The `Comment` a comment write returns; only what identifies it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub ticket: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// The `Note` a note write returns; only what identifies it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Note {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub opportunity: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

has_id!(Contact, Account, TicketingUser, Stage, User, Comment, Note);

impl HasId for Ticket {
    fn merge_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl HasId for Opportunity {
    fn merge_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// One page of a list endpoint (docs/merge.md §1.3). The wire name is `previous`, not `prev`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub results: Vec<T>,
}

/// A warning or error of a write (`WarningValidationProblem` / `ErrorValidationProblem`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: String,
    /// `ERROR`, `DISABLED_MODEL_WRITE`, `INCORRECT_FIELD_TYPE`, …
    #[serde(default)]
    pub problem_type: String,
    #[serde(default)]
    pub source: Option<ProblemSource>,
    #[serde(default)]
    pub block_merge_link: Option<bool>,
    #[serde(default)]
    pub raw_error: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
}

/// Where in the request a [`Problem`] points (a JSON pointer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ProblemSource {
    #[serde(default)]
    pub pointer: Option<String>,
}

/// `problem_type` of a write refused because writes are switched off in the Merge dashboard:
/// a configuration alert, never worth a retry (docs/merge.md §2.3).
pub const DISABLED_MODEL_WRITE: &str = "DISABLED_MODEL_WRITE";

/// The answer to a POST or PATCH (docs/merge.md §1.5): `{model, warnings, errors}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct MergeWriteResponse<T> {
    #[serde(default = "Option::default")]
    pub model: Option<T>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub warnings: Vec<Problem>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<Problem>,
}

/// A write Merge accepted: the written object and any warnings (ignored fields and the like),
/// which the caller should record next to the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    pub model: Option<T>,
    pub warnings: Vec<Problem>,
}

impl<T> MergeWriteResponse<T> {
    /// A non-empty `errors` is a failed write whatever the HTTP status (docs/merge.md §1.5);
    /// otherwise the model and warnings. `operation` names the call in the error.
    pub fn into_result(self, operation: &'static str) -> Result<Written<T>, MergeError> {
        if self.errors.is_empty() {
            Ok(Written {
                model: self.model,
                warnings: self.warnings,
            })
        } else {
            Err(MergeError::WriteRejected {
                operation,
                errors: self.errors,
                warnings: self.warnings,
            })
        }
    }
}

/// Reads a Merge timestamp (RFC 3339); `None` when absent or unreadable.
pub fn parse_time(value: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value?, &Rfc3339).ok()
}

/// Reads `null` as the type's default, for lists and flags Merge may send as null.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TICKET: &str = "b7e1f3a2-1111-4222-8333-444455556666";

    #[test]
    fn a_ticket_with_ids_only_parses() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": TICKET, "remote_id": "4812", "created_at": "2024-05-01T12:00:00Z",
            "modified_at": "2024-05-01T12:03:00Z", "name": "Site down",
            "description": "<p>Checkout returns 500</p>", "status": "OPEN", "priority": "URGENT",
            "ticket_type": "incident", "creator": null,
            "assignees": ["17a54124-287f-494d-965e-3c5b330c9a68"], "assigned_teams": [],
            "contact": "c4f7a1b2-0000-4000-8000-00000000c0c0",
            "account": "a0a0a0a0-0000-4000-8000-00000000a0a0", "collections": [],
            "tags": ["prod"], "ticket_url": "https://acme.zendesk.com/agent/tickets/4812",
            "remote_was_deleted": false, "field_mappings": null, "remote_data": null
        }))
        .unwrap();
        assert_eq!(ticket.priority, Some(TicketPriority::Urgent));
        assert_eq!(ticket.status, Some(TicketStatus::Open));
        assert_eq!(
            ticket.contact.as_ref().and_then(Related::id),
            Some("c4f7a1b2-0000-4000-8000-00000000c0c0")
        );
        assert_eq!(ticket.contact.as_ref().and_then(Related::object), None);
        assert_eq!(ticket.assignees.len(), 1);
        assert_eq!(
            parse_time(ticket.modified_at.as_deref()).map(|t| t.unix_timestamp()),
            Some(1_714_564_980)
        );
    }

    #[test]
    fn expanded_relations_and_raw_enum_values_parse() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": TICKET, "status": "Waiting on customer", "priority": "P1",
            "contact": {"id": "c1", "name": "Ada", "email_address": "ada@example.com",
                        "phone_number": "+1 (555) 010-0001", "details": "VIP", "account": "a1"},
            "account": {"id": "a1", "name": "Acme", "domains": ["acme.com"]},
            "assignees": [{"id": "u1", "name": "Bo", "email_address": "bo@example.com",
                           "is_active": true}],
            "assigned_teams": null, "remote_was_deleted": null
        }))
        .unwrap();
        assert_eq!(ticket.priority, Some(TicketPriority::Other("P1".into())));
        assert_eq!(
            ticket.status.as_ref().map(TicketStatus::as_str),
            Some("Waiting on customer")
        );
        let contact = ticket.contact.as_ref().and_then(Related::object).unwrap();
        assert_eq!(contact.phone_number.as_deref(), Some("+1 (555) 010-0001"));
        assert_eq!(ticket.contact.as_ref().and_then(Related::id), Some("c1"));
        let account = ticket.account.as_ref().and_then(Related::object).unwrap();
        assert_eq!(account.name.as_deref(), Some("Acme"));
        let assignee = ticket.assignees[0].object().unwrap();
        assert_eq!(assignee.email_address.as_deref(), Some("bo@example.com"));
        assert!(!ticket.remote_was_deleted);
    }

    #[test]
    fn nulls_are_absent_values() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": TICKET, "status": null, "priority": null, "contact": null,
            "assignees": null, "modified_at": null
        }))
        .unwrap();
        assert_eq!(
            (ticket.status, ticket.priority, ticket.contact),
            (None, None, None)
        );
        assert!(ticket.assignees.is_empty());
        assert!(serde_json::from_value::<Ticket>(json!({"name": "no id"})).is_err());
    }

    #[test]
    fn an_opportunity_reads_ids_or_expanded_stage_and_owner() {
        let plain: Opportunity = serde_json::from_value(json!({
            "id": "o1", "name": "Acme renewal", "amount": 250000, "status": "OPEN",
            "stage": "s1", "owner": "u1", "account": "a1",
            "last_activity_at": "2024-05-01T10:00:00Z", "close_date": null
        }))
        .unwrap();
        assert_eq!(plain.amount, Some(250_000));
        assert_eq!(plain.status, Some(OpportunityStatus::Open));
        assert_eq!(plain.stage.as_ref().and_then(Related::id), Some("s1"));

        let expanded: Opportunity = serde_json::from_value(json!({
            "id": "o1", "status": "Pending",
            "stage": {"id": "s1", "name": "Negotiation", "remote_id": "7", "remote_was_deleted": false},
            "owner": {"id": "u1", "name": "Ann", "email": "ann@example.com", "is_active": true},
            "account": {"id": "a1", "name": "Acme", "industry": "Retail"}
        }))
        .unwrap();
        assert_eq!(
            expanded.status,
            Some(OpportunityStatus::Other("Pending".into()))
        );
        let stage = expanded.stage.as_ref().and_then(Related::object).unwrap();
        assert_eq!(stage.name.as_deref(), Some("Negotiation"));
        let owner = expanded.owner.as_ref().and_then(Related::object).unwrap();
        assert_eq!(owner.email.as_deref(), Some("ann@example.com"));
        assert_eq!(expanded.owner.as_ref().and_then(Related::id), Some("u1"));
    }

    #[test]
    fn enums_serialize_as_sent() {
        assert_eq!(json!(TicketStatus::InProgress), json!("IN_PROGRESS"));
        assert_eq!(
            json!(TicketStatus::Other("Pending".into())),
            json!("Pending")
        );
    }

    #[test]
    fn write_errors_fail_and_warnings_surface() {
        let ok: MergeWriteResponse<Comment> = serde_json::from_value(json!({
            "model": {"id": "m1", "ticket": TICKET},
            "warnings": [{"title": "Unrecognized Field", "detail": "`foo` ignored",
                          "problem_type": "UNRECOGNIZED_FIELD", "source": {"pointer": "/model/foo"}}],
            "errors": []
        }))
        .unwrap();
        let written = ok.into_result("add_ticket_comment").unwrap();
        assert_eq!(written.model.and_then(|m| m.id).as_deref(), Some("m1"));
        assert_eq!(written.warnings[0].problem_type, "UNRECOGNIZED_FIELD");
        assert_eq!(
            written.warnings[0]
                .source
                .as_ref()
                .and_then(|s| s.pointer.as_deref()),
            Some("/model/foo")
        );

        let failed: MergeWriteResponse<Ticket> = serde_json::from_value(json!({
            "model": null, "warnings": [],
            "errors": [{"title": "Disabled", "detail": "writes are off",
                        "problem_type": "DISABLED_MODEL_WRITE", "error_code": 1}]
        }))
        .unwrap();
        let error = failed.into_result("patch_ticket_status").unwrap_err();
        assert!(error.is_disabled_write(), "{error:?}");
        assert!(!error.is_retryable());
    }
}
