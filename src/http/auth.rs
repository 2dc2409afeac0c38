//! Who may call `/v1/*`.
//!
//! - With `KLAXON_API_TOKEN` set: `Authorization: Bearer <token>`, compared in constant time.
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
use crate::config::Settings;
use crate::signing::{self, ingest};

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
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "unauthorized",
                        "missing `Authorization: Bearer <token>`",
                    )
                })?;
            if bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes())) {
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

/// Checks a signed ingest request over its raw body.
pub fn verify_signature(
    settings: &Settings,
    header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), ApiError> {
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
}
