//! The deterministic sample data every sandbox starts with (the table is in the
//! [module docs](super)). Ids are fixed UUIDs whose first group names the kind of object, so a
//! log line says what an id is: `1c…` tickets, `2c…` ticketing contacts, `3c…` ticketing
//! accounts, `4c…` ticketing users, `5c…` opportunities, `6c…` stages, `7c…` CRM users,
//! `8c…` CRM accounts, `9c…` linked accounts.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::model::{Opportunity, Ticket};
use crate::clock::format_rfc3339;

pub const TICKET_URGENT: &str = "1c000000-0000-4000-8000-000000000001";
pub const TICKET_HIGH: &str = "1c000000-0000-4000-8000-000000000002";
pub const TICKET_LOW: &str = "1c000000-0000-4000-8000-000000000003";
pub const TICKET_CLOSED: &str = "1c000000-0000-4000-8000-000000000004";

pub const CONTACT_ANNA: &str = "2c000000-0000-4000-8000-000000000001";
pub const CONTACT_BEN: &str = "2c000000-0000-4000-8000-000000000002";
pub const CONTACT_CARA: &str = "2c000000-0000-4000-8000-000000000003";

pub const ACCOUNT_ACME: &str = "3c000000-0000-4000-8000-000000000001";
pub const ACCOUNT_GLOBEX: &str = "3c000000-0000-4000-8000-000000000002";

pub const AGENT_SAM: &str = "4c000000-0000-4000-8000-000000000001";
pub const AGENT_KIM: &str = "4c000000-0000-4000-8000-000000000002";

pub const OPPORTUNITY_NEGOTIATION: &str = "5c000000-0000-4000-8000-000000000001";
pub const OPPORTUNITY_DISCOVERY: &str = "5c000000-0000-4000-8000-000000000002";

pub const STAGE_DISCOVERY: &str = "6c000000-0000-4000-8000-000000000001";
pub const STAGE_NEGOTIATION: &str = "6c000000-0000-4000-8000-000000000002";
pub const STAGE_CLOSED_WON: &str = "6c000000-0000-4000-8000-000000000003";

pub const CRM_USER_AE: &str = "7c000000-0000-4000-8000-000000000001";
pub const CRM_USER_SDR: &str = "7c000000-0000-4000-8000-000000000002";
pub const CRM_USER_VP: &str = "7c000000-0000-4000-8000-000000000003";

pub const CRM_ACCOUNT_ACME: &str = "8c000000-0000-4000-8000-000000000001";
pub const CRM_ACCOUNT_INITECH: &str = "8c000000-0000-4000-8000-000000000002";

/// The default ticketing linked account (Zendesk) and its account token.
pub const LINKED_ZENDESK: &str = "9c000000-0000-4000-8000-000000000001";
pub const ZENDESK_ACCOUNT_TOKEN: &str = "sandbox-zendesk-account-token";
/// The default CRM linked account (HubSpot) and its account token.
pub const LINKED_HUBSPOT: &str = "9c000000-0000-4000-8000-000000000002";
pub const HUBSPOT_ACCOUNT_TOKEN: &str = "sandbox-hubspot-account-token";

/// The webhook configuration id sent as `hook.id` (the same for every event, as in Merge).
pub const HOOK_ID: &str = "ac000000-0000-4000-8000-000000000001";

/// When every sample object was created, and then last synced.
const CREATED: OffsetDateTime = datetime!(2026-01-05 09:00:00 UTC);
const SYNCED: OffsetDateTime = datetime!(2026-01-05 10:00:00 UTC);

fn ticket(id: &str, remote: &str, name: &str) -> Ticket {
    Ticket {
        id: id.to_owned(),
        remote_id: Some(remote.to_owned()),
        name: Some(name.to_owned()),
        description: None,
        status: Some("OPEN".into()),
        priority: None,
        ticket_type: Some("incident".into()),
        creator: Some(AGENT_SAM.into()),
        assignees: vec![AGENT_SAM.into()],
        contact: None,
        account: None,
        tags: Vec::new(),
        ticket_url: Some(format!(
            "https://acme-support.zendesk.com/agent/tickets/{remote}"
        )),
        due_date: None,
        completed_at: None,
        created_at: CREATED,
        modified_at: SYNCED,
    }
}

pub(crate) fn tickets() -> BTreeMap<String, Ticket> {
    let urgent = Ticket {
        description: Some("<p>Every EU checkout fails with HTTP 500 since 08:40 UTC.</p>".into()),
        priority: Some("URGENT".into()),
        contact: Some(CONTACT_ANNA.into()),
        account: Some(ACCOUNT_ACME.into()),
        tags: vec!["checkout".into(), "eu".into()],
        ..ticket(
            TICKET_URGENT,
            "1001",
            "Checkout API returns 500 for all EU customers",
        )
    };
    let high = Ticket {
        status: Some("IN_PROGRESS".into()),
        priority: Some("HIGH".into()),
        assignees: vec![AGENT_KIM.into()],
        contact: Some(CONTACT_BEN.into()),
        account: Some(ACCOUNT_GLOBEX.into()),
        ..ticket(TICKET_HIGH, "1002", "SSO login fails intermittently")
    };
    let low = Ticket {
        priority: Some("LOW".into()),
        ticket_type: Some("task".into()),
        contact: Some(CONTACT_CARA.into()),
        account: Some(ACCOUNT_ACME.into()),
        ..ticket(TICKET_LOW, "1003", "Typo in the invoice PDF footer")
    };
    let closed = Ticket {
        status: Some("CLOSED".into()),
        priority: Some("NORMAL".into()),
        contact: Some(CONTACT_BEN.into()),
        account: Some(ACCOUNT_GLOBEX.into()),
        completed_at: Some(datetime!(2026-01-05 09:30:00 UTC)),
        ..ticket(TICKET_CLOSED, "1004", "Password reset email arrives late")
    };
    [urgent, high, low, closed]
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect()
}

fn timestamps(remote_id: &str) -> Value {
    json!({
        "remote_id": remote_id,
        "created_at": format_rfc3339(CREATED),
        "modified_at": format_rfc3339(SYNCED),
        "remote_was_deleted": false,
        "field_mappings": null,
        "remote_data": null,
    })
}

/// `base` with the common fields added.
fn object(id: &str, remote_id: &str, base: Value) -> (String, Value) {
    let mut object = timestamps(remote_id);
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), base) {
        object.insert("id".into(), json!(id));
        object.extend(fields);
    }
    (id.to_owned(), object)
}

pub(crate) fn contacts() -> BTreeMap<String, Value> {
    BTreeMap::from([
        object(
            CONTACT_ANNA,
            "c-501",
            json!({"name": "Anna Schmidt", "email_address": "anna.schmidt@acme.example",
                   "phone_number": "+15552000001", "details": "Head of E-commerce",
                   "account": ACCOUNT_ACME}),
        ),
        object(
            CONTACT_BEN,
            "c-502",
            json!({"name": "Ben Okafor", "email_address": "ben@globex.example",
                   "phone_number": "(555) 200-0002", "details": null,
                   "account": ACCOUNT_GLOBEX}),
        ),
        object(
            CONTACT_CARA,
            "c-503",
            json!({"name": "Cara Jones", "email_address": "cara@acme.example",
                   "phone_number": null, "details": null, "account": ACCOUNT_ACME}),
        ),
    ])
}

pub(crate) fn accounts() -> BTreeMap<String, Value> {
    BTreeMap::from([
        object(
            ACCOUNT_ACME,
            "org-1",
            json!({"name": "Acme GmbH", "domains": ["acme.example"]}),
        ),
        object(
            ACCOUNT_GLOBEX,
            "org-2",
            json!({"name": "Globex Ltd", "domains": ["globex.example"]}),
        ),
    ])
}

pub(crate) fn agents() -> BTreeMap<String, Value> {
    let agent = |name: &str, email: &str| {
        json!({"name": name, "email_address": email, "is_active": true,
               "teams": [], "roles": [], "avatar": null})
    };
    BTreeMap::from([
        object(AGENT_SAM, "u-1", agent("Sam Rivera", "sam@support.example")),
        object(AGENT_KIM, "u-2", agent("Kim Lee", "kim@support.example")),
    ])
}

pub(crate) fn opportunities() -> BTreeMap<String, Opportunity> {
    let negotiation = Opportunity {
        id: OPPORTUNITY_NEGOTIATION.into(),
        remote_id: Some("deal-7001".into()),
        name: Some("Acme GmbH: enterprise renewal".into()),
        description: Some("Three-year renewal, 400 seats.".into()),
        amount: Some(80_000),
        owner: Some(CRM_USER_AE.into()),
        account: Some(CRM_ACCOUNT_ACME.into()),
        stage: Some(STAGE_NEGOTIATION.into()),
        status: Some("OPEN".into()),
        close_date: Some(datetime!(2026-02-27 00:00:00 UTC)),
        opportunity_url: Some("https://app.hubspot.com/contacts/1/deal/7001".into()),
        created_at: CREATED,
        modified_at: SYNCED,
    };
    let discovery = Opportunity {
        id: OPPORTUNITY_DISCOVERY.into(),
        remote_id: Some("deal-7002".into()),
        name: Some("Initech: starter plan".into()),
        description: None,
        amount: Some(4_000),
        owner: Some(CRM_USER_SDR.into()),
        account: Some(CRM_ACCOUNT_INITECH.into()),
        stage: Some(STAGE_DISCOVERY.into()),
        status: Some("OPEN".into()),
        close_date: None,
        opportunity_url: Some("https://app.hubspot.com/contacts/1/deal/7002".into()),
        created_at: CREATED,
        modified_at: SYNCED,
    };
    [negotiation, discovery]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect()
}

pub(crate) fn stages() -> BTreeMap<String, Value> {
    BTreeMap::from([
        object(
            STAGE_DISCOVERY,
            "appointmentscheduled",
            json!({"name": "Discovery"}),
        ),
        object(
            STAGE_NEGOTIATION,
            "contractsent",
            json!({"name": "Negotiation"}),
        ),
        object(STAGE_CLOSED_WON, "closedwon", json!({"name": "Closed Won"})),
    ])
}

pub(crate) fn crm_users() -> BTreeMap<String, Value> {
    let user = |name: &str, email: &str, remote: &str| {
        json!({"name": name, "email": email, "is_active": true,
               "user_url": format!("https://app.hubspot.com/settings/1/users/{remote}")})
    };
    BTreeMap::from([
        object(
            CRM_USER_AE,
            "owner-1",
            user("Alex Evans", "ae@example.com", "owner-1"),
        ),
        object(
            CRM_USER_SDR,
            "owner-2",
            user("Sasha Diaz", "sdr@example.com", "owner-2"),
        ),
        object(
            CRM_USER_VP,
            "owner-3",
            user("Val Park", "vp@example.com", "owner-3"),
        ),
    ])
}

pub(crate) fn crm_accounts() -> BTreeMap<String, Value> {
    let account = |name: &str, website: &str, owner: &str| {
        json!({"owner": owner, "name": name, "description": null, "industry": "Software",
               "website": website, "number_of_employees": 400, "addresses": [],
               "phone_numbers": [], "last_activity_at": null, "remote_updated_at": null,
               "remote_created_at": null, "account_url": null})
    };
    BTreeMap::from([
        object(
            CRM_ACCOUNT_ACME,
            "company-1",
            account("Acme GmbH", "https://acme.example", CRM_USER_AE),
        ),
        object(
            CRM_ACCOUNT_INITECH,
            "company-2",
            account("Initech", "https://initech.example", CRM_USER_SDR),
        ),
    ])
}
