//! Webhooks out: the `{hook, linked_account, data}` envelope (docs/merge.md §4.1), with `data`
//! the full current object with relations as ids (docs/merge.md §4.3), signed with
//! `X-Merge-Webhook-Signature` by [`crate::signing::merge::sign`] (docs/merge.md §4.5).

use serde_json::{Value, json};

use super::state::{Settings, State};
use super::{LinkedAccount, WebhookError};

/// The `data` object for `event` (`<Model>.<verb>`, model matched case-insensitively).
/// Ticketing and CRM both have Users and Accounts; the linked account's category picks one.
fn data(state: &State, model: &str, category: &str, id: &str) -> Result<Value, WebhookError> {
    let unknown = || WebhookError::UnknownObject {
        model: model.to_owned(),
        id: id.to_owned(),
    };
    let crm = category == "crm";
    let found = match model.to_ascii_lowercase().as_str() {
        "ticket" => state.tickets.get(id).map(|t| t.to_json()),
        "opportunity" => state.opportunities.get(id).map(|o| o.to_json()),
        "contact" => state.contacts.get(id).cloned(),
        "stage" => state.stages.get(id).cloned(),
        "account" if crm => state.crm_accounts.get(id).cloned(),
        "account" => state.accounts.get(id).cloned(),
        "user" if crm => state.crm_users.get(id).cloned(),
        "user" => state.agents.get(id).cloned(),
        "comment" => state.comments.iter().find(|c| c["id"] == id).cloned(),
        "note" => state.notes.iter().find(|n| n["id"] == id).cloned(),
        _ => {
            return Err(WebhookError::UnknownModel {
                event: model.to_owned(),
            });
        }
    };
    found.ok_or_else(unknown)
}

/// The category of a model, for linked accounts the configuration does not name.
fn category_of(model: &str) -> &'static str {
    match model.to_ascii_lowercase().as_str() {
        "opportunity" | "stage" | "note" => "crm",
        _ => "ticketing",
    }
}

/// The whole envelope for `event` about object `id`, seen by `linked_account`. An unknown
/// linked-account id is sent anyway (with integration "Sandbox"), since Klaxon must cope
/// with webhooks for accounts it does not know (docs/merge.md §4.4).
pub(crate) fn envelope(
    settings: &Settings,
    state: &State,
    target: &str,
    event: &str,
    id: &str,
    linked_account: &str,
) -> Result<Value, WebhookError> {
    let model = event.split_once('.').map_or(event, |(model, _)| model);
    let account = settings
        .account(linked_account)
        .cloned()
        .unwrap_or_else(|| LinkedAccount {
            id: linked_account.to_owned(),
            account_token: super::AccountToken::new(""),
            integration: "Sandbox".into(),
            integration_slug: "sandbox".into(),
            category: category_of(model).into(),
            end_user_organization_name: "Unknown customer".into(),
        });
    let data = data(state, model, &account.category, id)?;
    Ok(json!({
        "hook": {
            "id": super::sample::HOOK_ID,
            "event": event,
            "target": target,
        },
        "linked_account": {
            "id": account.id,
            "integration": account.integration,
            "integration_slug": account.integration_slug,
            "category": account.category,
            "end_user_origin_id": format!("sandbox-{}", account.integration_slug),
            "end_user_organization_name": account.end_user_organization_name,
            "end_user_email_address": "admin@customer.example",
            "status": "COMPLETE",
            "webhook_listener_url": "",
            "is_duplicate": false,
        },
        "data": data,
    }))
}
