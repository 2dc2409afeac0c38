//! No cross-site writes: a state-changing request (any method but `GET`, `HEAD`, `OPTIONS`)
//! from a browser must come from one of Klaxon's own pages.
//!
//! A page on another site can make a visitor's browser send a `POST` (a form, or `fetch` in
//! `no-cors` mode) with the visitor's cookies, or to loopback where no token is needed; it
//! cannot read the answer, but cancelling an escalation or replaying a delivery needs no
//! answer. Browsers say where a request comes from, so the check is the one Go 1.25's
//! `net/http.CrossOriginProtection` makes:
//!
//! 1. `Sec-Fetch-Site` present (every current browser): allowed only when `same-origin` or
//!    `none` (typed in the address bar). `same-site` is refused: another port on localhost is
//!    same-site.
//! 2. Otherwise `Origin` present: allowed only when its `host[:port]` equals the request's
//!    `Host` (an `Origin: null` never does).
//! 3. Neither: not a browser (curl, Telnyx, Merge, the sandbox), allowed.
//!
//! Requests carrying `Authorization` or one of Klaxon's signature headers are let through
//! whatever their origin: a browser can send such a header cross-site only after a CORS
//! preflight, which Klaxon never grants; and they are judged by the token or signature.
//! A refusal is 403 `cross_origin_request`, before any handler runs, so nothing changes.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::signing;

/// Headers that only a server, or a same-origin script, can put on a request.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    signing::ingest::HEADER,
    signing::ingest::LEGACY_HEADER,
    signing::telnyx::SIGNATURE_HEADER,
    signing::merge::HEADER,
];

/// Why a request was judged cross-origin, for the log and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossOrigin {
    #[error("the browser says the request comes from another site (Sec-Fetch-Site: {0})")]
    FetchSite(String),
    #[error("the request comes from {origin}, not from {host}")]
    Origin { origin: String, host: String },
}

/// Go's algorithm over the request's method and headers; `host` is the request's `Host` (or
/// HTTP/2 authority).
pub fn judge(method: &Method, headers: &HeaderMap, host: Option<&str>) -> Result<(), CrossOrigin> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || CREDENTIAL_HEADERS
            .iter()
            .any(|name| headers.contains_key(*name))
    {
        return Ok(());
    }
    let text =
        |value: &axum::http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(CrossOrigin::FetchSite(text(site))),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = text(origin);
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@']));
    let host = host.unwrap_or_default();
    match origin_host {
        Some(origin_host) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(CrossOrigin::Origin {
            origin,
            host: host.to_owned(),
        }),
    }
}

/// The refusal for a cross-origin write (403), or `None` to let the request on. Cheap for
/// reads: the method is looked at before anything is copied.
pub fn refusal(request: &Request) -> Option<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let host = super::allowed_host::request_host(request);
    let refused = judge(request.method(), request.headers(), host.as_deref()).err()?;
    tracing::info!(method = %request.method(), path = request.uri().path(), reason = %refused, "refused a cross-origin request");
    Some(
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_request",
            format!("{refused}; Klaxon accepts changes from its own pages only (API clients: send the API token as a bearer header)"),
        )
        .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    /// A method, its headers, and whether it passes.
    type Case = (Method, &'static [(&'static str, &'static str)], bool);

    #[test]
    fn go_cross_origin_protection_rules() {
        let host = Some("127.0.0.1:5000");
        let cases: &[Case] = &[
            (Method::GET, &[("sec-fetch-site", "cross-site")], true),
            (Method::HEAD, &[("origin", "https://evil.example")], true),
            (Method::OPTIONS, &[("sec-fetch-site", "cross-site")], true),
            (Method::POST, &[], true),
            (Method::POST, &[("sec-fetch-site", "same-origin")], true),
            (Method::POST, &[("sec-fetch-site", "none")], true),
            (Method::POST, &[("sec-fetch-site", "same-site")], false),
            (Method::POST, &[("sec-fetch-site", "cross-site")], false),
            (Method::POST, &[("sec-fetch-site", "bogus")], false),
            (
                Method::POST,
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "http://127.0.0.1:5000"),
                ],
                false,
            ),
            (
                Method::POST,
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (Method::POST, &[("origin", "http://127.0.0.1:5000")], true),
            (Method::POST, &[("origin", "HTTP://127.0.0.1:5000")], true),
            (Method::POST, &[("origin", "https://evil.example")], false),
            (Method::POST, &[("origin", "http://127.0.0.1:5001")], false),
            (Method::POST, &[("origin", "http://127.0.0.1")], false),
            (Method::POST, &[("origin", "http://localhost:5000")], false),
            (Method::POST, &[("origin", "null")], false),
            (Method::POST, &[("origin", "")], false),
            (
                Method::POST,
                &[("origin", "http://127.0.0.1:5000/x")],
                false,
            ),
            (Method::PUT, &[("origin", "https://evil.example")], false),
            (Method::PATCH, &[("sec-fetch-site", "cross-site")], false),
            (Method::DELETE, &[("sec-fetch-site", "cross-site")], false),
            (
                Method::POST,
                &[
                    ("authorization", "Bearer x"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (
                Method::POST,
                &[
                    ("x-klaxon-signature", "t=1,v1=x"),
                    ("sec-fetch-site", "cross-site"),
                ],
                true,
            ),
            (
                Method::POST,
                &[
                    ("telnyx-signature-ed25519", "x"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
        ];
        for (method, pairs, allowed) in cases {
            let verdict = judge(method, &headers(pairs), host);
            assert_eq!(verdict.is_ok(), *allowed, "{method} {pairs:?}: {verdict:?}");
        }
        println!("same_origin: {} requests judged", cases.len());
    }

    #[test]
    fn a_missing_host_matches_no_origin() {
        let origin = headers(&[("origin", "http://127.0.0.1:5000")]);
        assert!(judge(&Method::POST, &origin, None).is_err());
    }
}
