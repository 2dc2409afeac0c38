//! The HTTP surface: one router per resource, merged here.
//!
//! Handlers verify, persist and answer; nothing slow or external runs inside a request.
//!
//! | route | file |
//! |---|---|
//! | `POST /v1/events` | [`ingest`] |
//! | `GET /v1/events`, `GET /v1/events/{id}` | [`events`] |
//! | `GET /health` | [`health`] |
//!
//! Authentication of `/v1/*` lives in [`auth`].

pub mod auth;
pub mod error;
pub mod event_request;
pub mod events;
pub mod health;
pub mod ingest;

use std::sync::Arc;

use axum::Router;

pub use error::ApiError;

use crate::config::Settings;
use crate::store::Store;

/// What every handler may use: small handles, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ingest::router())
        .merge(events::router())
        .merge(health::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
