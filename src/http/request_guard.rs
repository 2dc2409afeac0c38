//! The checks every request passes before routing, in one layer: the DNS rebinding defence
//! ([`allowed_host`](super::allowed_host)), no cross-site writes
//! ([`same_origin`](super::same_origin)) and a declared body over the limit
//! ([`body_limit`](super::body_limit)).
//!
//! One layer rather than three because a middleware layer costs every request a clone of the
//! service behind it and a boxed future; the checks themselves are a few header lookups.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::allowed_host::{self, HostPolicy};
use super::{body_limit, same_origin};
use crate::settings::Settings;

/// What the checks need, built once from the settings.
#[derive(Debug)]
pub struct Guards {
    hosts: HostPolicy,
    max_body_bytes: usize,
}

impl Guards {
    pub fn from_settings(settings: &Settings) -> Arc<Guards> {
        Arc::new(Guards {
            hosts: HostPolicy::from_settings(settings),
            max_body_bytes: settings.ingest.max_body_bytes,
        })
    }
}

/// The middleware: the first refusal answers, else the request goes on.
pub async fn check(State(guards): State<Arc<Guards>>, request: Request, next: Next) -> Response {
    let refused = allowed_host::refusal(&guards.hosts, &request)
        .or_else(|| same_origin::refusal(&request))
        .or_else(|| body_limit::refusal(guards.max_body_bytes, &request));
    match refused {
        Some(response) => response,
        None => next.run(request).await,
    }
}
