//! `GET /v1/events` (newest first, cursor pagination) and `GET /v1/events/{id}` (with the
//! pipeline trace and the event's deliveries).

use super::openapi::ErrorBody;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authorized;
use super::paging;
use super::{ApiError, AppState};
use crate::store::{Delivery, DeliveryQuery, Event, EventId, EventPage, EventQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(show))
}

/// Query parameters as text, so a bad value gets our JSON error, not the extractor's.
#[derive(Deserialize)]
struct ListParams {
    #[serde(rename = "type")]
    event_type: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, operation_id = "list_events", path = "/v1/events", tag = "events", params(("type" = Option<String>, Query, description = "Only events of this type"), ("after" = Option<String>, Query, description = "Cursor"), ("limit" = Option<usize>, Query, description = "1-500")), responses((status = 200, description = "A page of events, newest first", body = EventPage), (status = 400, description = "Bad parameter", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(
    _: Authorized,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = paging::limit(params.limit.as_deref())?;
    let after = paging::after(params.after.as_deref())?;
    let query = EventQuery {
        event_type: params.event_type.filter(|t| !t.is_empty()),
        after,
        limit,
    };
    Ok(Json(state.store.list_events(query).await?))
}

/// One event with what happened to it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct EventDetail {
    #[serde(flatten)]
    event: Event,
    /// The deliveries its pipelines created, with their current state.
    deliveries: Vec<Delivery>,
}

/// Deliveries shown with one event; an event fans out to a handful, never hundreds.
const DELIVERIES_PER_EVENT: usize = 100;

#[utoipa::path(get, operation_id = "get_event", path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "Event id")), responses((status = 200, description = "The event, its pipeline trace and deliveries", body = EventDetail), (status = 404, description = "No such event", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn show(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    let missing = || ApiError::not_found(format!("no event with id {id:?}"));
    let event_id: EventId = id.parse().map_err(|_| missing())?;
    let event = state.store.get_event(event_id).await?.ok_or_else(missing)?;
    let deliveries = state
        .store
        .list_deliveries(DeliveryQuery {
            event_id: Some(event_id),
            limit: DELIVERIES_PER_EVENT,
            ..DeliveryQuery::default()
        })
        .await?
        .data;
    Ok(Json(EventDetail { event, deliveries }))
}
