//! The live page at `/`: recent events with their labels, escalations with their call
//! timelines, deliveries with their attempts, and the dead letter queue with a replay button.
//!
//! The page is rendered on the server, so it reads without JavaScript. A small script
//! (`/assets/live.js`, embedded in the binary like the stylesheet: no CDN, works offline)
//! fetches the panels again from `GET /live/panels` every 1.5 s and swaps them in, and sends
//! replays to the API (`POST /v1/deliveries/{id}/replay`).
//!
//! Access follows the API's rule ([`super::auth`]): loopback only without a token; with
//! `KLAXON_API_TOKEN` set, the token. A browser cannot put a bearer header on a navigation,
//! so `/?token=<token>` is accepted once: it sets an HttpOnly, SameSite=Strict session cookie
//! and redirects to `/`, taking the token out of the address bar and the history. The cookie
//! then admits the page, its panels and the API calls its script makes.
//!
//! Every answer here (page, panels, assets, refusal pages) carries the headers of
//! [`security_headers`]: a strict Content Security Policy, no framing, no referrer.
//!
//! This module reads only; what the page shows is decided by [`snapshot`], how by [`render`].

mod escalations;
pub mod html;
mod render;
pub mod security_headers;
mod snapshot;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use serde::Deserialize;

use super::auth::{self, Authorized, PeerIp, SESSION_COOKIE};
use super::openapi::ErrorBody;
use super::{ApiError, AppState};

const LIVE_JS: &str = include_str!("live/live.js");
const LIVE_CSS: &str = include_str!("live/live.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/live/panels", get(panels))
        .route("/assets/live.js", get(script))
        .route("/assets/live.css", get(stylesheet))
        .layer(middleware::map_response(security_headers::add))
}

#[derive(Deserialize)]
struct PageParams {
    token: Option<String>,
}

/// The page, or an HTML page saying why not.
#[utoipa::path(get, path = "/", tag = "live", params(("token" = Option<String>, Query, description = "The API token, once: sets the session cookie and redirects to `/`")), responses((status = 200, description = "The live page", body = String, content_type = "text/html"), (status = 303, description = "Signed in: the session cookie is set; go to `/`"), (status = 401, description = "No or wrong token (an HTML page)", body = String, content_type = "text/html"), (status = 403, description = "Not on loopback and no token configured (an HTML page)", body = String, content_type = "text/html")))]
async fn page(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    if let (Some(token), Some(presented)) = (&state.settings.api_token, &params.token) {
        if !auth::token_matches(token, presented) {
            return refusal(
                StatusCode::UNAUTHORIZED,
                "the token in the link is not Klaxon's API token (KLAXON_API_TOKEN)",
            );
        }
        // No `Secure`: Klaxon serves plain HTTP itself (TLS, if any, ends in front of it).
        let cookie = format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            auth::session_cookie(token)
        );
        return match HeaderValue::from_str(&cookie) {
            Ok(cookie) => (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, HeaderValue::from_static("/")),
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
            // Hex digits always make a valid header value.
            Err(_) => refusal(StatusCode::INTERNAL_SERVER_ERROR, "cannot set the cookie"),
        };
    }
    if let Err(refused) = auth::authorize(&state.settings, &headers, peer) {
        let message = if refused.status == StatusCode::UNAUTHORIZED {
            "this page needs Klaxon's API token: open it once as /?token=<KLAXON_API_TOKEN>; a cookie then keeps you signed in for this browser session".to_owned()
        } else {
            refused.message
        };
        return refusal(refused.status, &message);
    }
    match snapshot::load(&state.store, &state.oncall).await {
        Ok(snapshot) => (
            [(header::CACHE_CONTROL, "no-store")],
            Html(render::page(&render::panels(&snapshot))),
        )
            .into_response(),
        Err(error) => {
            let error = ApiError::from(error);
            refusal(error.status, &error.message)
        }
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (status, Html(render::message_page(title, message))).into_response()
}

/// The panels alone, for the page's script; API-style JSON errors.
#[utoipa::path(get, path = "/live/panels", tag = "live", responses((status = 200, description = "The live page's panels, an HTML fragment", body = String, content_type = "text/html"), (status = 401, description = "Missing or wrong API token or session cookie", body = ErrorBody), (status = 403, description = "Not on loopback and no token configured", body = ErrorBody)))]
async fn panels(_: Authorized, State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = snapshot::load(&state.store, &state.oncall).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Html(render::panels(&snapshot)),
    )
        .into_response())
}

/// The assets hold no data, so they need no token (the refusal page uses the stylesheet).
#[utoipa::path(get, path = "/assets/live.js", tag = "live", responses((status = 200, description = "The live page's script", body = String, content_type = "text/javascript")))]
async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_JS,
    )
}

#[utoipa::path(get, path = "/assets/live.css", tag = "live", responses((status = 200, description = "The live page's stylesheet", body = String, content_type = "text/css")))]
async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        LIVE_CSS,
    )
}
