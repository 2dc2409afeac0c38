//! `POST /v1/merge/poll`: runs one reconciliation poll now (see [`crate::ingress::merge_poll`])
//! and answers with what it stored per linked account and model. For operators after an
//! outage, and for tests. It waits for a poll already running, so two never overlap.
//!
//! This handler calls Merge inside the request, which handlers otherwise never do: the poll
//! is what the caller asked for, and it is bounded by the client's timeouts and retries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Authorized;
use super::openapi::ErrorBody;
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/merge/poll", post(poll))
}

#[utoipa::path(post, path = "/v1/merge/poll", tag = "webhooks",
    responses((status = 200, description = "One reconciliation poll ran now: what each linked account had and what was stored", body = Object),
              (status = 409, description = "Reconciliation is disabled (MERGE_POLL_INTERVAL=0)", body = ErrorBody),
              (status = 401, description = "Missing or wrong API token", body = ErrorBody),
              (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn poll(_: Authorized, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let Some(reconciler) = &state.reconciler else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "reconciliation_disabled",
            "Merge reconciliation is off (MERGE_POLL_INTERVAL=0)",
        ));
    };
    let polled = reconciler.poll_once().await;
    let stored: usize = polled.iter().map(|p| p.stored).sum();
    let failed = polled.iter().filter(|p| p.error.is_some()).count();
    Ok(Json(json!({
        "status": if failed == 0 { "ok" } else { "partial" },
        "stored": stored,
        "polled": polled,
    })))
}
