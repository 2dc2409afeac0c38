//! Who may call `/v1/*`.
//!
//! - With `KLAXON_API_TOKEN` set: `Authorization: Bearer <token>`, compared in constant time;
//!   or, for the live page's browser, the session cookie it sets (see [`session_cookie`]).
//! - Without it: loopback clients only (a warning is logged at start), so a fresh install is
//!   never an open relay on a public interface.
//! - On ingest only, a source may sign instead: `X-Klaxon-Signature: t=…,v1=…` (or the
//!   legacy name `X-Ingestlayer-Signature`) with one of the configured ingest secrets. A
//!   signed request is judged by its signature alone: a bad one is refused even from loopback.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::settings::{ApiToken, Settings};
use crate::signing::{self, ingest};

/// The cookie the live page sets after `/?token=…`: browsers cannot put a bearer header on a
/// navigation, so the page and its requests present this instead.
pub const SESSION_COOKIE: &str = "klaxon_session";

/// The client's IP address, when the server was started with connection info.
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(PeerIp(peer))
    }
}

/// Proof that the caller passed the token or loopback rule; take it as a handler argument.
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(PeerIp(peer)) = PeerIp::from_request_parts(parts, state).await;
        authorize(&state.settings, &parts.headers, peer)?;
        Ok(Authorized)
    }
}

/// Applies the token-or-loopback rule. `peer` is `None` when the address is unknown, which
/// counts as not loopback (fail closed).
pub fn authorize(
    settings: &Settings,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<(), ApiError> {
    match &settings.api_token {
        Some(token) => {
            let bearer = headers.get(header::AUTHORIZATION);
            let accepted = match (bearer, session_cookie_in(headers)) {
                (Some(value), _) => {
                    let presented = value
                        .to_str()
                        .ok()
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .ok_or_else(missing_token)?;
                    token_matches(token, presented.trim())
                }
                (None, Some(cookie)) => {
                    bool::from(cookie.as_bytes().ct_eq(session_cookie(token).as_bytes()))
                }
                (None, None) => return Err(missing_token()),
            };
            if accepted {
                Ok(())
            } else {
                Err(ApiError::unauthorized(
                    "unauthorized",
                    "the API token is not valid",
                ))
            }
        }
        None if peer.is_some_and(is_loopback) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "loopback_only",
            "no API token is configured, so only local clients are accepted; set KLAXON_API_TOKEN to allow others",
        )),
    }
}

fn missing_token() -> ApiError {
    ApiError::unauthorized("unauthorized", "missing `Authorization: Bearer <token>`")
}

/// Whether `presented` is the API token, compared in constant time.
pub fn token_matches(token: &ApiToken, presented: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
}

/// The session cookie's value for `token`: an HMAC of a fixed label under the token, so the
/// cookie is not the token itself (it cannot be replayed as a bearer header) and changing the
/// token ends every session.
pub fn session_cookie(token: &ApiToken) -> String {
    hex::encode(signing::hmac_sha256(
        token.as_bytes(),
        &[b"klaxon live page session v1"],
    ))
}

/// The value of [`SESSION_COOKIE`] in the request's `Cookie` headers, if any.
fn session_cookie_in(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The ingest signature header, under either accepted name.
pub fn signature_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let value = headers
        .get(ingest::HEADER)
        .or_else(|| headers.get(ingest::LEGACY_HEADER));
    value
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::bad_request("malformed_signature", "the signature header is not ASCII")
            })
        })
        .transpose()
}

/// Checks a signed ingest request over its raw body; returns the signed timestamp `t`.
pub fn verify_signature(
    settings: &Settings,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<i64, ApiError> {
    let secrets = &settings.ingest.signing_secrets;
    if secrets.is_empty() {
        return Err(ApiError::unauthorized(
            "signing_not_configured",
            "the request is signed, but no ingest signing secret is configured (KLAXON_INGEST_SECRETS)",
        ));
    }
    ingest::verify(
        header,
        body,
        secrets,
        now,
        settings.ingest.signature_tolerance_secs,
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "rejected a signed ingest request");
        match e {
            signing::VerifyError::TimestampOutOfTolerance { .. } => {
                ApiError::unauthorized("signature_expired", e.to_string())
            }
            e if e.is_malformed() => ApiError::bad_request("malformed_signature", e.to_string()),
            _ => {
                ApiError::unauthorized("invalid_signature", "the signature does not match the body")
            }
        }
    })
}

/// Loopback, including IPv4 loopback seen through an IPv6 socket (`::ffff:127.0.0.1`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_recognised_in_every_spelling() {
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip} is loopback");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.5",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip} is not loopback");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_is_not_the_token() {
        let token = ApiToken::new("test-token-0123456789");
        let value = session_cookie(&token);
        assert_eq!(value.len(), 64);
        assert!(!value.contains("test-token"));
        assert_ne!(
            value,
            session_cookie(&ApiToken::new("other-token-0123456789"))
        );

        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("theme=dark; {SESSION_COOKIE}={value}; x=1")
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie_in(&headers), Some(value.as_str()));
        assert!(token_matches(&token, "test-token-0123456789"));
        assert!(!token_matches(&token, "test-token-012345678"));
    }
}
