//! The HTTP surface: one router per resource, merged here.
//!
//! Handlers verify, persist and answer; nothing slow or external runs inside a request.
//!
//! | route | file |
//! |---|---|
//! | `POST /v1/events` | [`ingest`] |
//! | `GET /v1/events`, `GET /v1/events/{id}` | [`events`] |
//! | `GET /v1/deliveries`, `GET /v1/deliveries/{id}`, `POST …/replay` | [`deliveries`] |
//! | `GET /v1/destinations`, `POST /v1/destinations/{name}/enable` | [`destinations`] |
//! | `GET /v1/escalations`, `GET /v1/escalations/{id}`, `POST …/cancel`, `GET /escalations` | [`escalations`] |
//! | `POST /webhooks/voice` (alias `/webhooks/telnyx`) | [`voice`] |
//! | `POST /webhooks/messaging` | [`messaging`] |
//! | `POST /webhooks/merge` (aliases `/webhooks/ticket`, `/webhooks/crm`) | [`merge`] |
//! | `POST /webhooks/alerts/{source}[/{key}]`, `POST /v2/enqueue` (alias `/v2/events`) | [`alerts`] |
//! | `POST /v1/merge/poll` | [`merge_poll`] |
//! | `POST /escalate`, `POST /alert`, `GET /tickets`, `GET /deals`, `GET /alerts` | [`reference`] |
//! | `GET /v1/nodes` | [`nodes`] |
//! | `GET /v1/schedules`, `GET …/{name}/oncall`, `GET/POST …/{name}/overrides`, `DELETE …/overrides/{id}`, `GET …/{name}/feed.ics` | [`schedules`] |
//! | `GET /health` | [`health`] |
//! | `GET /metrics` | [`metrics`] |
//! | `GET /openapi.json` | [`openapi`] |
//! | `GET /` (the live page), `GET /live/panels`, `GET /assets/live.{js,css}` | [`live`] |
//!
//! Authentication of `/v1/*` (and of the live page) lives in [`auth`]; the body limit every
//! route obeys in [`body_limit`]; the accept loop (timeouts, connection limit) in [`listener`].
//! One layer, [`request_guard`], checks every request before routing: [`allowed_host`]
//! (without a token, only Klaxon's own host names are served: the DNS rebinding defence),
//! [`same_origin`] (no cross-site writes from browsers) and a declared body over the limit.

pub mod alerts;
pub mod allowed_host;
pub mod auth;
pub mod body_limit;
pub mod deliveries;
pub mod destinations;
pub mod error;
pub mod escalations;
pub mod event_request;
pub mod events;
pub mod health;
pub mod ingest;
pub mod listener;
pub mod live;
pub mod merge;
pub mod merge_poll;
pub mod messaging;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod paging;
pub mod reference;
pub mod request_guard;
pub mod same_origin;
pub mod schedules;
pub mod voice;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

pub use error::ApiError;

use crate::delivery::WorkerHandle;
use crate::ingress::{MergeAccount, Reconciler};
use crate::intake::Intake;
use crate::merge::MergeClient;
use crate::settings::Settings;
use crate::store::Store;
use crate::voice::EngineHandle;

/// What every handler may use: small handles, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// Where every ingress stores new events and hands them to their pipelines.
    pub intake: Intake,
    /// Poked when a replay makes a delivery due.
    pub worker: WorkerHandle,
    /// Runs phone escalations; call webhooks feed it.
    pub voice: EngineHandle,
    /// Merge (the real API, or the built-in sandbox) and the linked accounts read from it,
    /// for `GET /tickets` and `GET /deals`.
    pub merge: MergeClient,
    pub merge_accounts: Arc<Vec<MergeAccount>>,
    /// `None` when `MERGE_POLL_INTERVAL` is 0.
    pub reconciler: Option<Reconciler>,
    /// Poked when an alert source resolves or acknowledges an alert.
    pub alerts: crate::ingress::alerts::Settler,
    /// On-call schedules and their overrides.
    pub oncall: crate::oncall::Oncall,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.ingest.max_body_bytes;
    Router::new()
        .merge(ingest::router())
        .merge(events::router())
        .merge(deliveries::router())
        .merge(destinations::router())
        .merge(escalations::router())
        .merge(voice::router())
        .merge(messaging::router())
        .merge(merge::router())
        .merge(alerts::router())
        .merge(merge_poll::router())
        .merge(reference::router())
        .merge(nodes::router())
        .merge(schedules::router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(live::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            request_guard::Guards::from_settings(&state.settings),
            request_guard::check,
        ))
        .with_state(state)
}
