//! The reference apps' endpoints, kept so their users can switch without changing scripts:
//! `POST /escalate` and `POST /alert` (manual triggers; unlike the reference apps they need
//! the API token, or loopback when none is set, since they place phone calls), and
//! `GET /tickets`, `GET /deals`, `GET /alerts`.
//!
//! `/tickets` and `/deals` list, as the reference apps did, the first page of each linked
//! account's tickets or opportunities from Merge (the real API, or the built-in sandbox),
//! newest first, each as `ticket_fields`/`opportunity_fields` describe it, with
//! `"source": "merge"`. When Merge fails they answer with what Klaxon has seen instead,
//! `"source": "klaxon"` and a `merge_error`. Reading Merge inside a request is the exception
//! to "handlers never call out": listing is what was asked for, and it is time-boxed.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;

use super::openapi::ErrorBody;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::Authorized;
use super::body_limit::read_body;
use super::ingest::{require_json, store_event};
use super::{ApiError, AppState};
use crate::ingress::PolledModel;
use crate::intake::Incoming;
use crate::merge::MergeError;
use crate::merge::payload::{opportunity_fields, ticket_fields};
use crate::store::{EventQuery, Source};

/// Objects `/tickets` and `/deals` list, as the reference apps did.
const LISTED: usize = 50;
/// How long `/tickets` and `/deals` wait for Merge before answering from what Klaxon saw.
const MERGE_WAIT: Duration = Duration::from_secs(10);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/escalate", post(escalate))
        .route("/alert", post(alert))
        .route("/tickets", get(tickets))
        .route("/deals", get(deals))
        .route("/alerts", get(alerts))
}

/// `{subject, description, …}` → a `ticket.escalate` event (the built-in `ticket-escalation`
/// pipeline rings the `oncall` policy).
#[utoipa::path(post, path = "/escalate", tag = "reference", request_body(content = Object, description = "{subject, description, customer_phone?}", content_type = "application/json"), responses((status = 202, description = "Stored as ticket.escalate", body = Object), (status = 422, description = "subject missing", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn escalate(
    auth: Authorized,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    trigger(
        auth,
        state,
        headers,
        body,
        "ticket.escalate",
        &["subject", "description"],
    )
    .await
}

/// `{deal_name, amount, stage, …}` → a `deal.alert` event (the built-in `deal-desk` pipeline
/// rings the `vp_sales` policy).
#[utoipa::path(post, path = "/alert", tag = "reference", request_body(content = Object, description = "{deal_name, amount, stage, owner_phone?}", content_type = "application/json"), responses((status = 202, description = "Stored as deal.alert", body = Object), (status = 422, description = "deal_name missing", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn alert(
    auth: Authorized,
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    trigger(auth, state, headers, body, "deal.alert", &["deal_name"]).await
}

async fn trigger(
    _: Authorized,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    event_type: &str,
    required: &[&str],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_json(&headers)?;
    let body = read_body(&headers, body, state.settings.ingest.max_body_bytes).await?;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the body is not valid JSON"))?;
    let Some(fields) = payload.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid_payload",
            "expected a JSON object",
        ));
    };
    if let Some(missing) = required
        .iter()
        .find(|f| !fields.get(**f).is_some_and(Value::is_string))
    {
        return Err(ApiError::unprocessable(
            "missing_field",
            format!("`{missing}` is required and must be a string"),
        ));
    }
    let (id, _) = store_event(
        &state,
        Incoming {
            source: Source::Api,
            event_type: event_type.to_owned(),
            request_hash: hex::encode(Sha256::digest(&body)),
            payload: payload.to_string(),
            occurred_at: None,
            // Each call is a new alert: the reference apps had no idempotency.
            idempotency_key: None,
        },
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "ok", "event_id": id })),
    ))
}

async fn recent_of(state: &AppState, types: &[&str]) -> Result<Vec<Value>, ApiError> {
    let mut all = Vec::new();
    for event_type in types {
        let page = state
            .store
            .list_events(EventQuery {
                event_type: Some((*event_type).to_owned()),
                after: None,
                limit: 50,
            })
            .await?;
        all.extend(page.data.into_iter().map(|e| {
            json!({ "id": e.id, "type": e.event_type, "received_at": e.received_at, "data": e.payload })
        }));
    }
    all.sort_by(|a, b| b["received_at"].as_str().cmp(&a["received_at"].as_str()));
    all.truncate(50);
    Ok(all)
}

#[utoipa::path(get, path = "/tickets", tag = "reference", responses((status = 200, description = "Recent tickets", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn tickets(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let seen = [
        "ticket.escalate",
        "ticket.created",
        "merge.ticket.added",
        "merge.ticket.changed",
    ];
    listing(&state, PolledModel::Ticket, "tickets", &seen).await
}

#[utoipa::path(get, path = "/deals", tag = "reference", responses((status = 200, description = "Recent deals", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn deals(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let seen = [
        "deal.alert",
        "crm.deal.changed",
        "merge.opportunity.added",
        "merge.opportunity.changed",
    ];
    listing(&state, PolledModel::Opportunity, "deals", &seen).await
}

/// `{"status":"ok","service":"klaxon","source":…, <field>: [...]}` from Merge, or from the
/// events of `seen` types when Merge fails or no linked account has this model.
async fn listing(
    state: &AppState,
    model: PolledModel,
    field: &str,
    seen: &[&str],
) -> Result<Json<Value>, ApiError> {
    let mut answer = json!({ "status": "ok", "service": "klaxon" });
    match tokio::time::timeout(MERGE_WAIT, from_merge(state, model)).await {
        Ok(Ok(Some(listed))) => {
            answer["source"] = json!("merge");
            answer[field] = Value::Array(listed);
            return Ok(Json(answer));
        }
        Ok(Ok(None)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, model = model.as_str(), "cannot list from Merge; answering with what Klaxon has seen");
            answer["merge_error"] = json!(error.to_string());
        }
        Err(_) => {
            tracing::warn!(
                model = model.as_str(),
                "Merge did not list in time; answering with what Klaxon has seen"
            );
            answer["merge_error"] = json!(format!("Merge did not answer within {MERGE_WAIT:?}"));
        }
    }
    answer["source"] = json!("klaxon");
    answer[field] = Value::Array(recent_of(state, seen).await?);
    Ok(Json(answer))
}

/// The first page of every linked account that has `model`, newest first; `None` when no
/// account has it.
async fn from_merge(
    state: &AppState,
    model: PolledModel,
) -> Result<Option<Vec<Value>>, MergeError> {
    let accounts: Vec<_> = state
        .merge_accounts
        .iter()
        .filter(|a| a.models.contains(&model))
        .collect();
    if accounts.is_empty() {
        return Ok(None);
    }
    let phone_of = |email: &str| state.settings.voice.phone_by_email(email);
    let page = LISTED as u32;
    let mut listed = Vec::new();
    for account in accounts {
        let fields = match model {
            PolledModel::Ticket => state
                .merge
                .list_tickets(&account.id, page)
                .await
                .map(|all| all.iter().map(ticket_fields).collect::<Vec<_>>()),
            PolledModel::Opportunity => state
                .merge
                .list_opportunities(&account.id, page)
                .await
                .map(|all| {
                    all.iter()
                        .map(|o| opportunity_fields(o, &phone_of))
                        .collect()
                }),
        };
        let fields = match fields {
            Ok(fields) => fields,
            Err(error) if account.is_unlinked(&error) => continue,
            Err(error) => return Err(error),
        };
        listed.extend(fields.into_iter().map(|mut object| {
            object.insert("linked_account_id".into(), json!(account.id));
            Value::Object(object)
        }));
    }
    // Objects without a readable `modified_at` sort last.
    listed.sort_by_key(|object| {
        std::cmp::Reverse(
            object["modified_at"]
                .as_str()
                .and_then(|t| time::OffsetDateTime::parse(t, &Rfc3339).ok()),
        )
    });
    listed.truncate(LISTED);
    Ok(Some(listed))
}

/// Escalations of the deal desk (policy `vp_sales`), newest first.
#[utoipa::path(get, path = "/alerts", tag = "reference", responses((status = 200, description = "Deal-desk escalations", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn alerts(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let page = state.store.list_escalations(None, None, 200).await?;
    let alerts: Vec<_> = page
        .data
        .into_iter()
        .filter(|e| e.policy == "vp_sales")
        .take(50)
        .collect();
    Ok(Json(
        json!({ "status": "ok", "service": "klaxon", "alerts": alerts }),
    ))
}
