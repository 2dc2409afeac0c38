//! The two common models tests change directly, [`Ticket`] and [`Opportunity`], and their
//! JSON form as Merge returns it (relations as ids; [`super::api`] inlines expanded ones).
//!
//! Only fields Klaxon reads or writes are typed. The other spec fields are emitted with
//! their empty value (`[]`, `null`, `false`) so that responses have Merge's full shape.
//! Enums (`status`, `priority`) are plain strings because `show_enum_origins` can make real
//! Merge return raw source values, and tests should be able to simulate that.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::format_rfc3339;

/// A ticketing Ticket (docs/merge.md §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub remote_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `OPEN`, `CLOSED`, `IN_PROGRESS`, `ON_HOLD` (or a raw source value).
    pub status: Option<String>,
    /// `URGENT`, `HIGH`, `NORMAL`, `LOW` (or a raw source value).
    pub priority: Option<String>,
    pub ticket_type: Option<String>,
    /// A ticketing User id.
    pub creator: Option<String>,
    /// Ticketing User ids.
    pub assignees: Vec<String>,
    /// A ticketing Contact id.
    pub contact: Option<String>,
    /// A ticketing Account id.
    pub account: Option<String>,
    pub tags: Vec<String>,
    pub ticket_url: Option<String>,
    pub due_date: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// Merge's sync time: what `modified_after` filters on. Every change made through the
    /// API or [`super::SandboxMerge::update_ticket`] moves it forward.
    pub modified_at: OffsetDateTime,
}

impl Ticket {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "remote_id": self.remote_id,
            "created_at": format_rfc3339(self.created_at),
            "modified_at": format_rfc3339(self.modified_at),
            "name": self.name,
            "assignees": self.assignees,
            "assigned_teams": [],
            "creator": self.creator,
            "due_date": self.due_date.map(format_rfc3339),
            "status": self.status,
            "description": self.description,
            "collections": [],
            "ticket_type": self.ticket_type,
            "account": self.account,
            "contact": self.contact,
            "parent_ticket": null,
            "attachments": [],
            "access_level": "COMPANY",
            "permissions": [],
            "tags": self.tags,
            "roles": [],
            "ticket_url": self.ticket_url,
            "priority": self.priority,
            "remote_created_at": format_rfc3339(self.created_at),
            "remote_updated_at": format_rfc3339(self.modified_at),
            "completed_at": self.completed_at.map(format_rfc3339),
            "remote_was_deleted": false,
            "field_mappings": null,
            "remote_data": null,
        })
    }
}

/// A CRM Opportunity (docs/merge.md §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Opportunity {
    pub id: String,
    pub remote_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// An integer with no currency, as in Merge.
    pub amount: Option<i64>,
    /// A CRM User id.
    pub owner: Option<String>,
    /// A CRM Account id.
    pub account: Option<String>,
    /// A Stage id (not a name).
    pub stage: Option<String>,
    /// `OPEN`, `WON`, `LOST`.
    pub status: Option<String>,
    pub close_date: Option<OffsetDateTime>,
    pub opportunity_url: Option<String>,
    pub created_at: OffsetDateTime,
    /// See [`Ticket::modified_at`].
    pub modified_at: OffsetDateTime,
}

impl Opportunity {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "remote_id": self.remote_id,
            "created_at": format_rfc3339(self.created_at),
            "modified_at": format_rfc3339(self.modified_at),
            "name": self.name,
            "description": self.description,
            "amount": self.amount,
            "owner": self.owner,
            "account": self.account,
            "stage": self.stage,
            "status": self.status,
            "last_activity_at": format_rfc3339(self.modified_at),
            "close_date": self.close_date.map(format_rfc3339),
            "remote_created_at": format_rfc3339(self.created_at),
            "opportunity_url": self.opportunity_url,
            "remote_was_deleted": false,
            "field_mappings": null,
            "remote_data": null,
        })
    }
}

/// The next `modified_at` after a change: now, but always strictly after `previous`, so a
/// client polling with `modified_after=<last seen>` sees every change even within one
/// millisecond (timestamps are emitted with millisecond precision).
pub(crate) fn next_modified_at(previous: OffsetDateTime) -> OffsetDateTime {
    // Truncated to what the JSON shows, so a timestamp read back from a response compares
    // equal to the stored one.
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
        .unwrap_or(now);
    let floor = previous + time::Duration::milliseconds(1);
    if now >= floor { now } else { floor }
}
