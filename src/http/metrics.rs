//! `GET /metrics`: the Prometheus exposition of [`crate::metrics`], plus the delivery queue
//! read from the store at scrape time. Behind the API token like `/v1/*` (a scraper sends it
//! as a bearer token).

use super::openapi::ErrorBody;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::auth::Authorized;
use super::{ApiError, AppState};
use crate::clock;
use crate::metrics::{QueueGauges, metrics};

/// The exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), (status = 401, description = "Missing or wrong API token", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn scrape(
    _: Authorized,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let now = clock::now_ms();
    let depth = state.store.queue_depth(now).await?;
    let queue = QueueGauges {
        due_jobs: depth.due,
        waiting_jobs: depth.waiting,
        oldest_due_age: depth
            .oldest_due_at
            .map(|at| Duration::from_millis(u64::try_from(now - at).unwrap_or(0))),
    };
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics().render(queue),
    ))
}
