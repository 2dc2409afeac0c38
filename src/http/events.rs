//! `GET /v1/events` (newest first, cursor pagination) and `GET /v1/events/{id}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authorized;
use super::{ApiError, AppState};
use crate::store::{Event, EventId, EventPage, EventQuery};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

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

async fn list(
    _: Authorized,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<EventPage>, ApiError> {
    let limit = match params.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}, got {text:?}"),
                ));
            }
        },
    };
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse().map_err(|()| {
            ApiError::bad_request(
                "invalid_cursor",
                format!("`after` is not a cursor from this API: {text:?}"),
            )
        })?),
    };
    let query = EventQuery {
        event_type: params.event_type.filter(|t| !t.is_empty()),
        after,
        limit,
    };
    Ok(Json(state.store.list_events(query).await?))
}

async fn show(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Event>, ApiError> {
    let missing = || ApiError::not_found(format!("no event with id {id:?}"));
    let event_id: EventId = id.parse().map_err(|_| missing())?;
    state
        .store
        .get_event(event_id)
        .await?
        .map(Json)
        .ok_or_else(missing)
}
