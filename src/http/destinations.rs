//! Destinations: `GET /v1/destinations` (every configured destination and whether a
//! `410 Gone` disabled it) and `POST /v1/destinations/{name}/enable`.

use super::openapi::ErrorBody;
use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::auth::Authorized;
use super::{ApiError, AppState};
use crate::pipeline::spec::DestinationKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/destinations", get(list))
        .route("/v1/destinations/{name}/enable", post(enable))
}

#[derive(Serialize)]
struct DestinationView {
    name: String,
    pipeline: String,
    kind: &'static str,
    /// Where it sends, without secrets: a webhook URL's origin (never its path or query,
    /// which may hold tokens), a channel, a table.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
}

#[derive(Serialize)]
struct DestinationList {
    data: Vec<DestinationView>,
}

#[utoipa::path(get, operation_id = "list_destinations", path = "/v1/destinations", tag = "destinations", responses((status = 200, description = "Destinations and whether each is disabled", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(
    _: Authorized,
    State(state): State<AppState>,
) -> Result<Json<DestinationList>, ApiError> {
    let disabled: HashMap<String, String> = state
        .store
        .disabled_destinations()
        .await?
        .into_iter()
        .collect();
    let data = state
        .settings
        .pipelines
        .iter()
        .flat_map(|p| p.destinations.iter().map(move |d| (p, d)))
        .map(|(pipeline, d)| DestinationView {
            name: d.name.clone(),
            pipeline: pipeline.name.clone(),
            kind: d.kind.as_str(),
            target: match &d.kind {
                DestinationKind::Deliver(destination) => Some(destination.summary()),
                DestinationKind::Voice(v) => Some(format!("policy {}", v.policy)),
                DestinationKind::Log => None,
            },
            enabled: !disabled.contains_key(&d.name),
            disabled_reason: disabled.get(&d.name).cloned(),
        })
        .collect();
    Ok(Json(DestinationList { data }))
}

#[derive(Serialize)]
struct Enabled {
    name: String,
    enabled: bool,
    /// False when it was not disabled in the first place.
    changed: bool,
}

#[utoipa::path(post, operation_id = "enable_destination", path = "/v1/destinations/{name}/enable", tag = "destinations", params(("name" = String, Path, description = "Destination name")), responses((status = 200, description = "Enabled", body = Object), (status = 404, description = "No such destination", body = ErrorBody), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn enable(
    _: Authorized,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Enabled>, ApiError> {
    let known = state
        .settings
        .pipelines
        .iter()
        .flat_map(|p| &p.destinations)
        .any(|d| d.name == name);
    if !known {
        return Err(ApiError::not_found(format!(
            "no destination named {name:?}"
        )));
    }
    let changed = state.store.enable_destination(name.clone()).await?;
    state.worker.enable(&name);
    Ok(Json(Enabled {
        name,
        enabled: true,
        changed,
    }))
}
