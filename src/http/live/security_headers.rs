//! The headers that fence in the live page and its assets: a strict Content Security Policy,
//! no framing, no type sniffing, no referrer.
//!
//! The page renders customer data; [`super::html::Esc`] keeps it from becoming markup, and the
//! policy is the second line: even injected markup could run no script, load nothing from
//! elsewhere and send nothing anywhere. The page is built for it: one script and one
//! stylesheet from `/assets/`, no inline script, style or event handler. `frame-ancestors` and
//! `X-Frame-Options` stop clickjacking of the replay button; `no-referrer` keeps a
//! `/?token=…` address out of any `Referer`.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

/// Scripts, styles, fetches and images from Klaxon itself only; nothing else at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Adds the headers to a live page response (a `map_response` middleware).
pub async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
