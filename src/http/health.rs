//! `GET /health`: is the process up, and can the store still commit a write?
//!
//! Unauthenticated, so load balancers can use it; it reveals nothing but the version.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

/// A store that cannot commit within this long is reported as down.
pub const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Up, and the store commits", body = Object), (status = 503, description = "The store cannot commit", body = Object)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (status, database) = match state.store.ping(STORE_PROBE_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::warn!(%error, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "error")
        }
    };
    let body = json!({
        "status": if status.is_success() { "ok" } else { "unavailable" },
        "service": "klaxon",
        "version": crate::VERSION,
        "database": database,
    });
    (status, Json(body))
}
