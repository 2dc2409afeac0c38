//! What Klaxon looks up about an escalation while the phone rings: for a Merge ticket, the
//! contact's phone ("connect me" reaches them) and the names of the contact and the account,
//! so the briefing says "Acme Retail (Dana Customer)" where the webhook only carried ids.
//!
//! The lookup is one `GET` of the ticket with its relations expanded; [`from_ticket`] is the
//! pure part, kept apart so it is tested without a server. The [`Enricher`] is what the
//! engine is given: it decides nothing about the escalation, it only says what it found and
//! who "connect me" reaches; when to ask is the engine's business.

use serde::{Deserialize, Serialize};

use crate::merge::{MergeClient, MergeError, Related, Ticket};
use crate::voice::escalation::plan::{MergeTicketRef, Plan, normalise_phone};
use crate::voice::spoken;

/// Looks up a Merge ticket's contact while the phone rings: the engine's one way to Merge.
#[derive(Clone)]
pub struct Enricher {
    merge: MergeClient,
    /// Who "connect me" reaches when the ticket's contact has no phone (`BRIDGE_NUMBER`).
    bridge_number: Option<String>,
}

/// What an enrichment tells the escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enriched {
    /// The contact's phone, else the bridge number.
    pub connect_to: Option<String>,
    /// What the ticket said (`None` when the lookup failed).
    pub found: Option<Found>,
}

impl Enricher {
    pub fn new(merge: MergeClient, bridge_number: Option<String>) -> Enricher {
        Enricher {
            merge,
            bridge_number,
        }
    }

    /// For a plan with a Merge ticket: the contact's phone (`expand=contact`), else
    /// `BRIDGE_NUMBER`, and the contact's and account's names for the briefing. `None` when
    /// there is nothing to tell (no ticket, or nothing found and no bridge number).
    pub async fn enrich(&self, plan: &Plan) -> Option<Enriched> {
        let ticket_ref = plan.merge_ticket.as_ref()?;
        let found = match ticket(&self.merge, ticket_ref).await {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::warn!(%error, ticket = %ticket_ref.ticket_id, "could not look up the ticket's contact");
                None
            }
        };
        Some(connect_target(found, self.bridge_number.as_deref()))
            .filter(|e| e.connect_to.is_some() || e.found.is_some())
    }
}

/// Who "connect me" reaches: the contact's phone, else the bridge number.
fn connect_target(found: Option<Found>, bridge_number: Option<&str>) -> Enriched {
    let phone = found.as_ref().and_then(|f| f.phone.clone());
    Enriched {
        connect_to: phone.or_else(|| bridge_number.map(str::to_owned)),
        found,
    }
}

/// What the enrichment found; every field is optional, as Merge objects are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Found {
    /// The ticket contact's phone, normalised to +E.164; `None` when absent or not dialable.
    pub phone: Option<String>,
    /// The contact's name, as it may be said aloud.
    pub contact_name: Option<String>,
    /// The account's (customer company's) name, as it may be said aloud.
    pub account_name: Option<String>,
}

/// Reads the ticket behind an escalation, its contact and account expanded.
pub async fn ticket(merge: &MergeClient, ticket: &MergeTicketRef) -> Result<Found, MergeError> {
    let read = merge
        .get_ticket(&ticket.linked_account_id, &ticket.ticket_id)
        .await?;
    Ok(from_ticket(&read))
}

/// What a ticket read with `expand=contact,account` says about who is affected. A relation
/// that came back as a bare id (not expanded, or deleted at the source) yields nothing.
pub fn from_ticket(ticket: &Ticket) -> Found {
    let contact = ticket.contact.as_ref().and_then(Related::object);
    let account = ticket.account.as_ref().and_then(Related::object);
    Found {
        phone: contact
            .and_then(|c| c.phone_number.as_deref())
            .and_then(normalise_phone),
        contact_name: contact.and_then(|c| spoken_name(c.name.as_deref())),
        account_name: account.and_then(|a| spoken_name(a.name.as_deref())),
    }
}

/// A name that can be said aloud: some sources fill `name` with an e-mail address or a
/// record id when the person never gave one, and those are no name at all.
fn spoken_name(name: Option<&str>) -> Option<String> {
    let name = name?.trim();
    (!name.is_empty() && spoken::contains_id(name).is_none()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn ticket(fields: Value) -> Ticket {
        let mut ticket = json!({"id": "1c000000-0000-4000-8000-000000000001"});
        if let (Some(base), Some(extra)) = (ticket.as_object_mut(), fields.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(ticket).expect("a ticket")
    }

    #[test]
    fn an_expanded_ticket_yields_the_phone_and_both_names() {
        let found = from_ticket(&ticket(json!({
            "contact": {"id": "2c000000-0000-4000-8000-000000000001", "name": "Dana Customer",
                        "email_address": "dana@acme.example", "phone_number": "+1 (415) 555-0123"},
            "account": {"id": "3c000000-0000-4000-8000-000000000001", "name": "Acme Retail"},
        })));
        assert_eq!(
            found,
            Found {
                phone: Some("+14155550123".into()),
                contact_name: Some("Dana Customer".into()),
                account_name: Some("Acme Retail".into()),
            }
        );
    }

    #[test]
    fn bare_ids_yield_nothing() {
        let found = from_ticket(&ticket(json!({
            "contact": "2c000000-0000-4000-8000-000000000001",
            "account": "3c000000-0000-4000-8000-000000000001",
        })));
        assert_eq!(found, Found::default());
    }

    #[test]
    fn names_that_are_addresses_or_ids_are_no_names() {
        let found = from_ticket(&ticket(json!({
            "contact": {"name": "dana@acme.example", "phone_number": "555-0123"},
            "account": {"name": "3c000000-0000-4000-8000-000000000001"},
        })));
        assert_eq!(found, Found::default(), "nor is a number without +country");
        let blank = from_ticket(&ticket(json!({"contact": {"name": "  "}, "account": {}})));
        assert_eq!(blank, Found::default());
    }

    #[test]
    fn connect_reaches_the_contact_else_the_bridge_number() {
        let dana = Found {
            phone: Some("+14155550123".into()),
            ..Found::default()
        };
        let bridge = Some("+15550009999");
        let to = |found: Option<Found>, bridge| connect_target(found, bridge).connect_to;
        assert_eq!(to(Some(dana), bridge).as_deref(), Some("+14155550123"));
        assert_eq!(to(Some(Found::default()), bridge).as_deref(), bridge);
        assert_eq!(to(None, bridge).as_deref(), bridge, "the lookup failed");
        assert_eq!(to(None, None), None);
    }

    #[test]
    fn found_round_trips_through_storage() {
        let found = Found {
            phone: Some("+15552000001".into()),
            contact_name: Some("Anna Schmidt".into()),
            account_name: None,
        };
        let stored = serde_json::to_string(&found).expect("plain data");
        assert_eq!(serde_json::from_str::<Found>(&stored).ok(), Some(found));
        assert_eq!(
            serde_json::from_str::<Found>("{}").ok(),
            Some(Found::default())
        );
    }
}
