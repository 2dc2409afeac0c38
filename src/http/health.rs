//! `GET /health`: is the process up, can the store still commit a write, and is anything
//! about to stop it?
//!
//! - `200 {"status":"ok"}`: the store committed a probe and knows of no problem.
//! - `503 {"status":"degraded","reasons":[…]}`: the store answers, but recent writes failed
//!   with none succeeding since, or the database's disk is nearly full (see
//!   [`crate::store::Problem`]). A load balancer should stop sending writes here.
//! - `503 {"status":"unavailable"}`: the probe did not commit within [`STORE_PROBE_TIMEOUT`].
//!
//! Unauthenticated, so load balancers can use it; it reveals nothing but the version and the
//! kind of problem (no paths, no SQL). It costs one probe commit, as before, plus at most one
//! `statvfs` a second.

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

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Up, and the store commits", body = Object), (status = 503, description = "The store cannot commit (unavailable), or its writes are failing or its disk is nearly full (degraded, with reasons)", body = Object)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (status, database, mut reasons) = match state.store.ping(STORE_PROBE_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ok", Vec::new()),
        Err(error) => {
            tracing::warn!(%error, "health check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                vec![format!(
                    "store_unavailable: the store did not commit a probe within {} s",
                    STORE_PROBE_TIMEOUT.as_secs()
                )],
            )
        }
    };
    let problems = state.store.problems().await;
    for problem in &problems {
        tracing::warn!(%problem, "health check: degraded");
    }
    reasons.extend(problems.iter().map(ToString::to_string));
    let (status, summary) = match (status.is_success(), problems.is_empty()) {
        (true, true) => (StatusCode::OK, "ok"),
        (true, false) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let mut body = json!({
        "status": summary,
        "service": "klaxon",
        "version": crate::VERSION,
        "database": database,
    });
    if !reasons.is_empty() {
        body["reasons"] = json!(reasons);
    }
    (status, Json(body))
}
