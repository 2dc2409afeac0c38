//! Deliveries and the dead letter queue: `GET /v1/deliveries`, `GET /v1/deliveries/{id}`
//! (with every attempt), `POST /v1/deliveries/{id}/replay`.

use super::openapi::ErrorBody;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authorized;
use super::paging;
use super::{ApiError, AppState};
use crate::clock;
use crate::store::{
    Delivery, DeliveryId, DeliveryPage, DeliveryQuery, DeliveryState, EventId, Replay,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/deliveries", get(list))
        .route("/v1/deliveries/{id}", get(show))
        .route("/v1/deliveries/{id}/replay", post(replay))
}

#[derive(Deserialize)]
struct ListParams {
    state: Option<String>,
    destination: Option<String>,
    event_id: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, operation_id = "list_deliveries", path = "/v1/deliveries", tag = "deliveries", params(("state" = Option<String>, Query, description = "pending, failed, succeeded, dead"), ("destination" = Option<String>, Query, description = "Destination name"), ("event_id" = Option<String>, Query, description = "Only this event's deliveries"), ("after" = Option<String>, Query, description = "Cursor from the previous page"), ("limit" = Option<usize>, Query, description = "1-500, default 100")), responses((status = 200, description = "A page of deliveries", body = DeliveryPage), (status = 400, description = "Bad parameter", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(
    _: Authorized,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let delivery_state = match params.state.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<DeliveryState>()
                .map_err(|message| ApiError::bad_request("invalid_state", message))?,
        ),
    };
    let event_id = match params.event_id.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<EventId>().map_err(|_| {
            ApiError::bad_request("invalid_event_id", format!("{text:?} is not an event id"))
        })?),
    };
    let query = DeliveryQuery {
        state: delivery_state,
        destination: params.destination.filter(|d| !d.is_empty()),
        event_id,
        after: paging::after(params.after.as_deref())?,
        limit: paging::limit(params.limit.as_deref())?,
    };
    Ok(Json(state.store.list_deliveries(query).await?))
}

fn parse_id(id: &str) -> Result<DeliveryId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no delivery with id {id:?}")))
}

#[utoipa::path(get, operation_id = "get_delivery", path = "/v1/deliveries/{id}", tag = "deliveries", params(("id" = String, Path, description = "Delivery id")), responses((status = 200, description = "The delivery with its attempt log", body = Delivery), (status = 404, description = "No such delivery", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn show(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    let delivery_id = parse_id(&id)?;
    state
        .store
        .get_delivery(delivery_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no delivery with id {id:?}")))
}

/// Queues a dead (or delivered) delivery again with a fresh retry schedule.
#[utoipa::path(post, operation_id = "replay_delivery", path = "/v1/deliveries/{id}/replay", tag = "deliveries", params(("id" = String, Path, description = "Delivery id")), responses((status = 202, description = "Due again now", body = Delivery), (status = 404, description = "No such delivery", body = ErrorBody), (status = 409, description = "Not dead or failed", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn replay(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let delivery_id = parse_id(&id)?;
    match state.store.replay(delivery_id, clock::now_ms()).await? {
        Replay::Queued => {}
        Replay::NotFound => {
            return Err(ApiError::not_found(format!("no delivery with id {id:?}")));
        }
        Replay::InProgress(current) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "delivery_in_progress",
                format!(
                    "delivery {id} is {} and will be attempted again; only dead or succeeded deliveries can be replayed",
                    current.as_str()
                ),
            ));
        }
    }
    state.worker.poke();
    let delivery = state
        .store
        .get_delivery(delivery_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no delivery with id {id:?}")))?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
