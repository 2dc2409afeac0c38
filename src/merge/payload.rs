//! A Merge ticket or opportunity as an event payload: the fields of the webhook's `data`
//! (relations as ids), plus the flat fields that pipelines and briefings need from the
//! expanded relations (`stage_name`, `owner_email`, `contact_phone`, `account_name`, …).
//!
//! Webhooks, the `merge_lookup` pipeline step and reconciliation polls all describe an
//! object this way, so one pipeline condition (`stage_name in [...]`) works for all three.

use serde_json::{Map, Value, json};

use super::model::{Opportunity, Related, Ticket};

/// The `merge_event` of payloads stored by reconciliation polls, which are already fresh and
/// flattened by this module.
pub const POLLED: &str = "poll";

/// A stage name as compared with `ALERT_STAGES`: "Contract Sent" → `contract_sent`.
pub fn normalise_stage(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The ticket's fields; `contact_*` and `account_name` when those relations were expanded.
pub fn ticket_fields(ticket: &Ticket) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("id".into(), json!(ticket.id));
    put(&mut fields, "remote_id", ticket.remote_id.as_deref());
    put(&mut fields, "name", ticket.name.as_deref());
    put(&mut fields, "description", ticket.description.as_deref());
    put(
        &mut fields,
        "status",
        ticket.status.as_ref().map(|s| s.as_str()),
    );
    put(
        &mut fields,
        "priority",
        ticket.priority.as_ref().map(|p| p.as_str()),
    );
    put(&mut fields, "ticket_url", ticket.ticket_url.as_deref());
    put(&mut fields, "modified_at", ticket.modified_at.as_deref());
    put(&mut fields, "contact", relation_id(&ticket.contact));
    put(&mut fields, "account", relation_id(&ticket.account));
    if let Some(contact) = ticket.contact.as_ref().and_then(Related::object) {
        put(&mut fields, "contact_name", contact.name.as_deref());
        put(
            &mut fields,
            "contact_email",
            contact.email_address.as_deref(),
        );
        put(
            &mut fields,
            "contact_phone",
            contact.phone_number.as_deref(),
        );
    }
    if let Some(account) = ticket.account.as_ref().and_then(Related::object) {
        put(&mut fields, "account_name", account.name.as_deref());
    }
    fields
}

/// The opportunity's fields; `stage_name` (normalised), `owner_*` and `account_name` when
/// those relations were expanded. `phone_of` looks an owner's e-mail up in Klaxon's people
/// directory, since CRM users have no phone (docs/merge.md §3.2).
pub fn opportunity_fields(
    deal: &Opportunity,
    phone_of: &dyn Fn(&str) -> Option<String>,
) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("id".into(), json!(deal.id));
    put(&mut fields, "remote_id", deal.remote_id.as_deref());
    put(&mut fields, "name", deal.name.as_deref());
    // The reference app's name for it, so `/alert` bodies and Merge deals read alike.
    put(&mut fields, "deal_name", deal.name.as_deref());
    if let Some(amount) = deal.amount {
        fields.insert("amount".into(), json!(amount));
    }
    put(
        &mut fields,
        "status",
        deal.status.as_ref().map(|s| s.as_str()),
    );
    put(&mut fields, "modified_at", deal.modified_at.as_deref());
    put(
        &mut fields,
        "last_activity_at",
        deal.last_activity_at.as_deref(),
    );
    put(&mut fields, "stage", relation_id(&deal.stage));
    put(&mut fields, "owner", relation_id(&deal.owner));
    put(&mut fields, "account", relation_id(&deal.account));
    if let Some(name) = deal
        .stage
        .as_ref()
        .and_then(Related::object)
        .and_then(|s| s.name.as_deref())
    {
        fields.insert("stage_label".into(), json!(name));
        fields.insert("stage_name".into(), json!(normalise_stage(name)));
    }
    if let Some(owner) = deal.owner.as_ref().and_then(Related::object) {
        put(&mut fields, "owner_name", owner.name.as_deref());
        put(&mut fields, "owner_email", owner.email.as_deref());
        if let Some(phone) = owner.email.as_deref().and_then(phone_of) {
            fields.insert("owner_phone".into(), json!(phone));
        }
    }
    if let Some(account) = deal.account.as_ref().and_then(Related::object) {
        put(&mut fields, "account_name", account.name.as_deref());
    }
    fields
}

fn relation_id<T: super::model::HasId>(relation: &Option<Related<T>>) -> Option<&str> {
    relation.as_ref().and_then(Related::id)
}

fn put(fields: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        fields.insert(name.to_owned(), json!(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(json: Value) -> Opportunity {
        serde_json::from_value(json).expect("an opportunity")
    }

    #[test]
    fn an_expanded_deal_has_its_stage_owner_and_account_flattened() {
        let deal = deal(json!({
            "id": "opp-1", "name": "Acme renewal", "amount": 80000, "status": "OPEN",
            "stage": {"id": "st-1", "name": "Contract Sent"},
            "owner": {"id": "u-1", "name": "Alex Evans", "email": "AE@example.com"},
            "account": {"id": "acc-1", "name": "Acme GmbH"},
        }));
        let directory = |email: &str| {
            (email.eq_ignore_ascii_case("ae@example.com")).then(|| "+15550001111".to_owned())
        };
        let fields = opportunity_fields(&deal, &directory);
        assert_eq!(
            fields["stage"], "st-1",
            "relations stay ids, as in webhooks"
        );
        assert_eq!(fields["stage_name"], "contract_sent");
        assert_eq!(fields["stage_label"], "Contract Sent");
        assert_eq!(fields["owner_email"], "AE@example.com");
        assert_eq!(fields["owner_phone"], "+15550001111");
        assert_eq!(fields["account_name"], "Acme GmbH");
        assert_eq!(fields["deal_name"], "Acme renewal");
        assert_eq!(fields["amount"], 80000);
    }

    #[test]
    fn a_webhook_deal_with_bare_ids_has_no_stage_name() {
        let deal = deal(json!({"id": "opp-1", "stage": "st-1", "owner": "u-1", "amount": null}));
        let fields = opportunity_fields(&deal, &|_| None);
        assert_eq!(fields["stage"], "st-1");
        assert!(!fields.contains_key("stage_name"));
        assert!(!fields.contains_key("owner_phone"));
        assert!(!fields.contains_key("amount"));
    }

    #[test]
    fn an_expanded_ticket_names_its_contact_and_account() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": "t-1", "priority": "URGENT", "status": "OPEN",
            "contact": {"id": "c-1", "name": "Dana", "phone_number": "+1 555 010 0001"},
            "account": {"id": "a-1", "name": "Acme"},
        }))
        .expect("a ticket");
        let fields = ticket_fields(&ticket);
        assert_eq!(fields["priority"], "URGENT");
        assert_eq!(fields["contact"], "c-1");
        assert_eq!(fields["contact_phone"], "+1 555 010 0001");
        assert_eq!(fields["account_name"], "Acme");
    }

    #[test]
    fn stage_names_are_normalised() {
        assert_eq!(normalise_stage("  Contract Sent "), "contract_sent");
        assert_eq!(normalise_stage("Verbal-Commit"), "verbal_commit");
        assert_eq!(normalise_stage("negotiation"), "negotiation");
    }
}
