//! On-call schedules: `GET /v1/schedules`, `GET /v1/schedules/{name}/oncall?at=`,
//! `GET`/`POST /v1/schedules/{name}/overrides`, `DELETE /v1/schedules/{name}/overrides/{id}`
//! and the iCalendar feed `GET /v1/schedules/{name}/feed.ics`.
//!
//! Everything takes the API token (or loopback) like every `/v1` route, except that the feed
//! also accepts `?token=<feed token>`: calendar apps subscribe to a URL and cannot send a
//! header. The feed token is an HMAC of the schedule's name under the API token, so it opens
//! that one read-only feed and nothing else, and changing the API token revokes it.
//! `GET /v1/schedules` gives each schedule's feed path with its token.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::auth::{self, Authorized, PeerIp};
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::oncall::layer::Source;
use crate::oncall::{OncallError, Override, Schedule, WhoIsOnCall};
use crate::settings::ApiToken;
use crate::signing;

/// Weeks a feed covers unless `?weeks=` says (at most [`MAX_FEED_WEEKS`]).
const FEED_WEEKS: u32 = 6;
const MAX_FEED_WEEKS: u32 = 26;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/schedules", get(list))
        .route("/v1/schedules/{name}/oncall", get(on_call))
        .route("/v1/schedules/{name}/overrides", get(list_overrides))
        .route("/v1/schedules/{name}/overrides", post(add_override))
        .route(
            "/v1/schedules/{name}/overrides/{id}",
            delete(remove_override),
        )
        .route("/v1/schedules/{name}/feed.ics", get(feed))
}

/// A schedule as listed.
#[derive(Serialize, ToSchema)]
pub struct ScheduleSummary {
    pub name: String,
    /// IANA zone of its hand-off times.
    pub time_zone: String,
    /// Lowest first; a later layer wins where it has someone.
    pub layers: Vec<LayerSummary>,
    /// Who is on call now.
    pub now: WhoIsOnCall,
    /// The iCalendar feed's path, with its token when an API token is set.
    pub feed_path: String,
}

#[derive(Serialize, ToSchema)]
pub struct LayerSummary {
    pub name: String,
    /// `rotation` or `calendar`.
    pub kind: String,
    /// A rotation's participants (`[people]` keys), in turn order.
    pub participants: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    pub data: Vec<ScheduleSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct OverrideList {
    pub data: Vec<Override>,
}

/// `POST …/overrides`: who covers, from when, until when (RFC 3339).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// A `[people]` key.
    pub person: String,
    pub start: String,
    pub end: String,
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

#[derive(Deserialize)]
struct AtParams {
    at: Option<String>,
}

#[derive(Deserialize)]
struct FeedParams {
    token: Option<String>,
    weeks: Option<String>,
}

fn oncall_error(error: OncallError) -> ApiError {
    match error {
        OncallError::UnknownSchedule(_) => ApiError::not_found(error.to_string()),
        OncallError::UnknownPerson(_) => {
            ApiError::unprocessable("unknown_person", error.to_string())
        }
        OncallError::BadRange => ApiError::unprocessable("invalid_range", error.to_string()),
        OncallError::NoteTooLong => ApiError::unprocessable("invalid_note", error.to_string()),
        OncallError::Store(store) => ApiError::from(store),
    }
}

fn instant(field: &str, text: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    match text {
        None | Some("") => Ok(Utc::now()),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_time",
                    format!("`{field}` must be an RFC 3339 time such as 2026-03-08T09:00:00Z, got {text:?}"),
                )
            }),
    }
}

/// The token that opens `schedule`'s feed: not the API token, and only this feed.
pub fn feed_token(token: &ApiToken, schedule: &str) -> String {
    hex::encode(signing::hmac_sha256(
        token.as_bytes(),
        &[b"klaxon schedule feed v1\0", schedule.as_bytes()],
    ))
}

fn summary(state: &AppState, schedule: &Schedule) -> Result<ScheduleSummary, ApiError> {
    let now = state
        .oncall
        .who(&schedule.name, Utc::now())
        .map_err(oncall_error)?;
    let layers = schedule
        .layers
        .iter()
        .map(|layer| match &layer.source {
            Source::Rotation(rotation) => LayerSummary {
                name: layer.name.clone(),
                kind: "rotation".into(),
                participants: rotation
                    .participants
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            },
            Source::Calendar(_) => LayerSummary {
                name: layer.name.clone(),
                kind: "calendar".into(),
                participants: Vec::new(),
            },
        })
        .collect();
    let mut feed_path = format!("/v1/schedules/{}/feed.ics", schedule.name);
    if let Some(token) = &state.settings.api_token {
        feed_path.push_str(&format!("?token={}", feed_token(token, &schedule.name)));
    }
    Ok(ScheduleSummary {
        name: schedule.name.clone(),
        time_zone: schedule.zone.name().to_owned(),
        layers,
        now,
        feed_path,
    })
}

#[utoipa::path(get, operation_id = "list_schedules", path = "/v1/schedules", tag = "schedules", responses((status = 200, description = "Every schedule, with who is on call now", body = ScheduleList), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(
    _: Authorized,
    State(state): State<AppState>,
) -> Result<Json<ScheduleList>, ApiError> {
    let data = state
        .oncall
        .schedules()
        .map(|schedule| summary(&state, schedule))
        .collect::<Result<_, _>>()?;
    Ok(Json(ScheduleList { data }))
}

#[utoipa::path(get, operation_id = "who_is_on_call", path = "/v1/schedules/{name}/oncall", tag = "schedules", params(("name" = String, Path, description = "Schedule name"), ("at" = Option<String>, Query, description = "RFC 3339; now when absent")), responses((status = 200, description = "Who is on call, why, and until when", body = WhoIsOnCall), (status = 400, description = "`at` is not RFC 3339 (`invalid_time`)", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn on_call(
    _: Authorized,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<AtParams>,
) -> Result<Json<WhoIsOnCall>, ApiError> {
    let at = instant("at", params.at.as_deref())?;
    Ok(Json(state.oncall.who(&name, at).map_err(oncall_error)?))
}

#[utoipa::path(get, operation_id = "list_overrides", path = "/v1/schedules/{name}/overrides", tag = "schedules", params(("name" = String, Path, description = "Schedule name"), ("after" = Option<String>, Query, description = "RFC 3339: overrides ending after it; now when absent")), responses((status = 200, description = "The schedule's overrides, by start", body = OverrideList), (status = 400, description = "`after` is not RFC 3339 (`invalid_time`)", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list_overrides(
    _: Authorized,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<AfterParams>,
) -> Result<Json<OverrideList>, ApiError> {
    let after = instant("after", params.after.as_deref())?;
    let data = state
        .oncall
        .list_overrides(&name, after)
        .await
        .map_err(oncall_error)?;
    Ok(Json(OverrideList { data }))
}

#[derive(Deserialize)]
struct AfterParams {
    after: Option<String>,
}

#[utoipa::path(post, operation_id = "add_override", path = "/v1/schedules/{name}/overrides", tag = "schedules", params(("name" = String, Path, description = "Schedule name")), request_body = NewOverride, responses((status = 201, description = "Added; lookups on every node see it", body = Override), (status = 400, description = "Not JSON, or a time that is not RFC 3339", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody), (status = 422, description = "Unknown person (`unknown_person`), end not after start or longer than a year (`invalid_range`), note too long (`invalid_note`)", body = ErrorBody), (status = 503, description = "The store cannot commit", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn add_override(
    _: Authorized,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Override>), ApiError> {
    let new: NewOverride = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"person\", \"start\", \"end\", \"note\"?}}: {e}"),
        )
    })?;
    let start = instant("start", Some(&new.start))?;
    let end = instant("end", Some(&new.end))?;
    let created = state
        .oncall
        .add_override(&name, &new.person, (start, end), new.note)
        .await
        .map_err(oncall_error)?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(delete, operation_id = "remove_override", path = "/v1/schedules/{name}/overrides/{id}", tag = "schedules", params(("name" = String, Path, description = "Schedule name"), ("id" = String, Path, description = "Override id")), responses((status = 200, description = "Removed", body = Deleted), (status = 404, description = "No such schedule or override", body = ErrorBody), (status = 503, description = "The store cannot commit", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn remove_override(
    _: Authorized,
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Deleted>, ApiError> {
    let deleted = state
        .oncall
        .remove_override(&name, &id)
        .await
        .map_err(oncall_error)?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "schedule {name:?} has no override {id:?}"
        )));
    }
    Ok(Json(Deleted { id, deleted }))
}

#[utoipa::path(get, operation_id = "schedule_feed", path = "/v1/schedules/{name}/feed.ics", tag = "schedules", params(("name" = String, Path, description = "Schedule name"), ("token" = Option<String>, Query, description = "The feed token from `GET /v1/schedules` (instead of the bearer header)"), ("weeks" = Option<u32>, Query, description = "Weeks ahead, 1-26 (6)")), responses((status = 200, description = "An iCalendar (text/calendar) feed of the coming shifts, overrides included", content_type = "text/calendar", body = String), (status = 400, description = "Bad `weeks`", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody), (status = 401, description = "Missing or wrong token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn feed(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<FeedParams>,
) -> Result<Response, ApiError> {
    let by_feed_token = match (&state.settings.api_token, &params.token) {
        (Some(api_token), Some(presented)) => {
            let expected = feed_token(api_token, &name);
            if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(ApiError::unauthorized(
                    "unauthorized",
                    "the feed token is not valid for this schedule",
                ));
            }
            true
        }
        _ => false,
    };
    if !by_feed_token {
        auth::authorize(&state.settings, &headers, peer)?;
    }
    let weeks = match params.weeks.as_deref() {
        None | Some("") => FEED_WEEKS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|w| (1..=MAX_FEED_WEEKS).contains(w))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_weeks",
                    format!("`weeks` must be 1 to {MAX_FEED_WEEKS}, got {text:?}"),
                )
            })?,
    };
    let text = state
        .oncall
        .feed(&name, Utc::now(), weeks)
        .map_err(oncall_error)?;
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        text,
    )
        .into_response())
}
