//! Escalations: `GET /v1/escalations?state=`, `GET /v1/escalations/{id}` (with the timeline),
//! `POST /v1/escalations/{id}/cancel`, and the reference apps' `GET /escalations`.

use super::openapi::ErrorBody;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authorized;
use super::paging;
use super::{ApiError, AppState};
use crate::store::{Escalation, EscalationId, EscalationPage};

/// The values `state` may take.
const STATES: [&str; 7] = [
    "active",
    "connected",
    "acknowledged",
    "unreached",
    "cancelled",
    "resolved",
    "failed",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/escalations", get(recent))
        .route("/v1/escalations", get(list))
        .route("/v1/escalations/{id}", get(show))
        .route("/v1/escalations/{id}/cancel", post(cancel))
}

#[derive(Deserialize)]
struct ListParams {
    state: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, operation_id = "list_escalations", path = "/v1/escalations", tag = "escalations", params(("state" = Option<String>, Query, description = "active, connected, acknowledged, unreached, cancelled, failed"), ("after" = Option<String>, Query, description = "Cursor"), ("limit" = Option<usize>, Query, description = "1-500")), responses((status = 200, description = "A page of escalations", body = EscalationPage), (status = 400, description = "Bad parameter", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(
    _: Authorized,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<EscalationPage>, ApiError> {
    let status = match params.state.as_deref() {
        None | Some("") => None,
        Some(s) if STATES.contains(&s) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!(
                    "unknown escalation state {other:?}; expected one of {}",
                    STATES.join(", ")
                ),
            ));
        }
    };
    let after = paging::after(params.after.as_deref())?;
    let limit = paging::limit(params.limit.as_deref())?;
    Ok(Json(
        state.store.list_escalations(status, after, limit).await?,
    ))
}

/// The reference apps' list: the 50 most recent escalations with their outcome.
#[utoipa::path(get, operation_id = "recent_escalations", path = "/escalations", tag = "reference", responses((status = 200, description = "Recent escalations, as the reference apps listed them", body = Object)))]
async fn recent(
    _: Authorized,
    State(state): State<AppState>,
) -> Result<Json<EscalationPage>, ApiError> {
    Ok(Json(
        state
            .store
            .list_escalations(None, None, paging::DEFAULT_LIMIT)
            .await?,
    ))
}

fn parse_id(id: &str) -> Result<EscalationId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no escalation with id {id:?}")))
}

#[utoipa::path(get, operation_id = "get_escalation", path = "/v1/escalations/{id}", tag = "escalations", params(("id" = String, Path, description = "Escalation id")), responses((status = 200, description = "The escalation with its call timeline", body = Escalation), (status = 404, description = "No such escalation", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn show(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Escalation>, ApiError> {
    let escalation_id = parse_id(&id)?;
    state
        .store
        .get_escalation(escalation_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no escalation with id {id:?}")))
}

#[utoipa::path(post, operation_id = "cancel_escalation", path = "/v1/escalations/{id}/cancel", tag = "escalations", params(("id" = String, Path, description = "Escalation id")), responses((status = 200, description = "Cancelled: the calls are being hung up", body = Escalation), (status = 404, description = "No such escalation", body = ErrorBody), (status = 409, description = "Already ended (`escalation_ended`)", body = ErrorBody), (status = 503, description = "The store cannot commit", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn cancel(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Escalation>, ApiError> {
    let escalation_id = parse_id(&id)?;
    let missing = || ApiError::not_found(format!("no escalation with id {id:?}"));
    let cancelled = state.voice.cancel(escalation_id).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    })?;
    let escalation = state
        .store
        .get_escalation(escalation_id)
        .await?
        .ok_or_else(missing)?;
    if !cancelled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "escalation_ended",
            format!("escalation {id} already ended: {}", escalation.status),
        ));
    }
    Ok(Json(escalation))
}
