//! Webhook signatures: the four schemes Klaxon signs or verifies, one file each.
//!
//! - [`ingest`]: Stripe-style `t=<unix>,v1=<hex>` in `X-Klaxon-Signature`, for our own ingest.
//! - [`standard_webhooks`]: `webhook-id` / `-timestamp` / `-signature`; our outbound default.
//! - [`merge`]: Merge's HMAC-SHA256 of the raw body in URL-safe base64, with no timestamp.
//! - [`telnyx`]: Telnyx's Ed25519 over `timestamp|body`.
//!
//! This module holds what they share: the redacted [`Secret`], one [`VerifyError`] so the HTTP
//! layer maps failures to status codes in one place, and the timestamp rules of
//! `docs/signatures.md` §5. Every function works on the raw body bytes and takes `now` (Unix
//! seconds) from its caller, so tests inject the clock. Nothing here parses JSON, knows about
//! HTTP frameworks or dedupes: replay inside the tolerance window is the caller's to stop.

pub mod ingest;
pub mod merge;
pub mod standard_webhooks;
pub mod telnyx;

use crate::redacted::redacted_string;

use hmac::digest::Key;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far a signed timestamp may be from `now`, either way, unless configured otherwise.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

redacted_string! {
    /// A shared HMAC secret (ingest and Merge keys), used as its UTF-8 bytes, exactly as
    /// configured: never trimmed or decoded.
    pub struct Secret;
}

impl Secret {
    /// The key bytes. Callers must not log or persist them.
    pub fn as_bytes(&self) -> &[u8] {
        self.expose().as_bytes()
    }
}

/// Why a signed request was refused. Variants carry no secret or signature material, so the
/// `Display` text is safe to log and to return to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or empty.
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    /// The header is present but does not follow the scheme's syntax (HTTP 400 on our ingest).
    #[error("malformed `{header}` header: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    /// The signed timestamp is too old or too far in the future (HTTP 401).
    #[error("signature timestamp {timestamp} is outside the allowed window (server time {now})")]
    TimestampOutOfTolerance { timestamp: i64, now: i64 },
    /// The signature is well formed but verifies under none of the configured keys (HTTP 401).
    #[error("no signature matches a configured key")]
    NoMatch,
    /// A configured key is unusable; a setup problem, not the sender's fault.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
}

impl VerifyError {
    /// True when the sender's header could not be parsed, which our ingest answers with 400
    /// rather than 401 (`docs/signatures.md` §0, rule 7).
    pub fn is_malformed(&self) -> bool {
        matches!(self, VerifyError::MalformedHeader { .. })
    }
}

/// Parses a signed Unix timestamp: ASCII digits only, no sign or decimals, at most 12 digits.
/// The digit cap keeps the value far from `i64` overflow and rejects nonsense early.
pub(crate) fn parse_timestamp(header: &'static str, value: &str) -> Result<i64, VerifyError> {
    let malformed = VerifyError::MalformedHeader {
        header,
        reason: "the timestamp must be 1 to 12 decimal digits",
    };
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    value.parse().map_err(|_| malformed)
}

/// Accepts `timestamp` when `|now - timestamp| <= tolerance_secs`; the boundary is inclusive.
/// A negative tolerance is treated as zero.
pub(crate) fn check_tolerance(
    timestamp: i64,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    // `abs_diff` cannot overflow, whatever clock value the caller passes in.
    let tolerance = u64::try_from(tolerance_secs).unwrap_or(0);
    if now.abs_diff(timestamp) <= tolerance {
        Ok(())
    } else {
        Err(VerifyError::TimestampOutOfTolerance { timestamp, now })
    }
}

/// Whether any presented signature equals `expected`, each compared in constant time.
pub(crate) fn any_matches(presented: &[Vec<u8>], expected: &[u8; 32]) -> bool {
    presented
        .iter()
        .any(|p| bool::from(p.as_slice().ct_eq(expected)))
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // `Mac::new_from_slice` returns a `Result` whose error HMAC can never produce, and we
    // allow no `expect` outside tests. So we do RFC 2104's key preparation ourselves: a key
    // longer than the block is replaced by its hash, and zero-padding to the block size does
    // not change the MAC. The block-sized key then goes through the infallible `Mac::new`.
    let mut block = Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as Mac>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("klaxon-ingest-test-secret");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.as_bytes(), b"klaxon-ingest-test-secret");
    }

    #[test]
    fn only_malformed_headers_count_as_malformed() {
        let malformed = VerifyError::MalformedHeader {
            header: "h",
            reason: "r",
        };
        assert!(malformed.is_malformed());
        for other in [
            VerifyError::MissingHeader("h"),
            VerifyError::TimestampOutOfTolerance {
                timestamp: 0,
                now: 301,
            },
            VerifyError::NoMatch,
            VerifyError::BadKey("k"),
        ] {
            assert!(!other.is_malformed(), "{other:?}");
        }
    }

    #[test]
    fn timestamps_are_plain_digits_of_bounded_length() {
        assert_eq!(parse_timestamp("h", "1717000000"), Ok(1_717_000_000));
        assert_eq!(parse_timestamp("h", "0"), Ok(0));
        assert_eq!(parse_timestamp("h", "999999999999"), Ok(999_999_999_999));
        for bad in [
            "",
            "+1717000000",
            "-1717000000",
            "1717000000.5",
            " 1717000000",
            "1e9",
            "1000000000000",
        ] {
            assert!(
                parse_timestamp("h", bad).is_err_and(|e| e.is_malformed()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tolerance_is_symmetric_and_inclusive() {
        assert_eq!(check_tolerance(1_000, 1_300, 300), Ok(()));
        assert_eq!(check_tolerance(1_000, 700, 300), Ok(()));
        assert_eq!(
            check_tolerance(1_000, 1_301, 300),
            Err(VerifyError::TimestampOutOfTolerance {
                timestamp: 1_000,
                now: 1_301
            })
        );
        assert!(check_tolerance(1_000, 699, 300).is_err());
        assert!(check_tolerance(1_000, i64::MIN, 300).is_err());
        assert!(check_tolerance(1_000, 1_001, -5).is_err());
    }

    #[test]
    fn hmac_matches_the_hmac_crate_for_short_block_sized_and_long_keys() {
        for len in [0, 1, 25, 63, 64, 65, 200] {
            let key = vec![0x5a; len];
            let mut reference = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            reference.update(b"1717000000.body");
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(
                hmac_sha256(&key, &[b"1717000000", b".", b"body"]),
                expected,
                "key length {len}"
            );
        }
    }
}
