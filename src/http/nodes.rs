//! `GET /v1/nodes`: the Klaxon nodes on this database, whether each is alive, and what each
//! holds, so an operator of several nodes can see a dead node's work move to the others.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::auth::Authorized;
use super::openapi::ErrorBody;
use super::{ApiError, AppState};
use crate::store::NodeStatus;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/nodes", get(list))
}

#[derive(Serialize)]
struct NodeList {
    data: Vec<NodeStatus>,
}

#[utoipa::path(get, operation_id = "list_nodes", path = "/v1/nodes", tag = "operations", responses((status = 200, description = "Every node on the database, oldest first: on PostgreSQL each that started in the last day (dead ones included, holding nothing once their lease ran out and others took their work); on SQLite this process. `deliveries_held`: pending or failed deliveries the node holds; `escalations_held`: escalations it is stepping now (PostgreSQL).", body = Object), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn list(_: Authorized, State(state): State<AppState>) -> Result<Json<NodeList>, ApiError> {
    let data = state.store.nodes().await?;
    Ok(Json(NodeList { data }))
}
