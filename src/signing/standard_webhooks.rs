//! Standard Webhooks signatures, the default for the webhooks Klaxon sends.
//!
//! A message carries `webhook-id`, `webhook-timestamp` and `webhook-signature`; the signature
//! is a space-separated list of `v1,<base64 HMAC-SHA256>` over `id || "." || ts || "." || body`,
//! one per active secret. The HMAC key is the **decoded** `whsec_<base64>` secret, never the
//! string itself, which is the most common bug in implementations (see
//! `docs/signatures.md` §4). We only produce `v1`; verification exists for our own receiver
//! tests and ignores `v1a` (Ed25519) and unknown versions.

use std::fmt;
use std::str::FromStr;

use super::{
    DEFAULT_TOLERANCE_SECS, VerifyError, any_matches, check_tolerance, hmac_sha256, parse_timestamp,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const PREFIX: &str = "whsec_";
/// The spec's bounds on the decoded key: 24 bytes is the minimum strength it accepts, 64 the
/// SHA-256 block size.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// Longest signature header we parse, and most entries we try, bounding per-request work.
const MAX_HEADER_BYTES: usize = 4096;
const MAX_SIGNATURES: usize = 10;

/// An endpoint secret, parsed from `whsec_<standard base64>` into its raw key bytes.
///
/// `Debug` is redacted and there is no `Display`, so the key cannot reach a log by accident.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl FromStr for WebhookSecret {
    type Err = VerifyError;

    fn from_str(s: &str) -> Result<Self, VerifyError> {
        let bad = VerifyError::BadKey("a webhook secret is `whsec_` + base64 of 24 to 64 bytes");
        let key = s
            .strip_prefix(PREFIX)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .ok_or(bad.clone())?;
        if !KEY_BYTES.contains(&key.len()) {
            return Err(bad);
        }
        Ok(WebhookSecret(key))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// The three headers of a received message, as sent.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// `webhook-id`: stable across retries, and the key receivers dedupe on.
    pub id: &'a str,
    /// `webhook-timestamp`: Unix seconds of this attempt.
    pub timestamp: &'a str,
    /// `webhook-signature`: `v1,<base64>` entries separated by spaces.
    pub signature: &'a str,
}

/// The `webhook-signature` value for one delivery attempt, one `v1` entry per secret.
///
/// `msg_id` must not contain `.`, which would make the signed bytes ambiguous; our ids
/// (`msg_<ULID>`) never do. Re-sign with a fresh `timestamp` on every attempt.
pub fn sign(msg_id: &str, timestamp: i64, body: &[u8], secrets: &[WebhookSecret]) -> String {
    let timestamp = timestamp.to_string();
    let entries: Vec<String> = secrets
        .iter()
        .map(|secret| STANDARD.encode(mac(secret, msg_id, &timestamp, body)))
        .map(|signature| format!("v1,{signature}"))
        .collect();
    entries.join(" ")
}

/// Checks a received message: the timestamp must be within 300 s of `now` either way, and
/// any `v1` entry must match the MAC under any of `secrets`.
pub fn verify(
    headers: Headers<'_>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now: i64,
) -> Result<(), VerifyError> {
    let required = [
        (ID_HEADER, headers.id),
        (TIMESTAMP_HEADER, headers.timestamp),
        (SIGNATURE_HEADER, headers.signature),
    ];
    if let Some(&(name, _)) = required.iter().find(|(_, value)| value.is_empty()) {
        return Err(VerifyError::MissingHeader(name));
    }
    let timestamp = parse_timestamp(TIMESTAMP_HEADER, headers.timestamp)?;
    let candidates = signatures(headers.signature)?;
    check_tolerance(timestamp, now, DEFAULT_TOLERANCE_SECS)?;

    for secret in secrets {
        // The header's own timestamp text is what the sender signed.
        let expected = mac(secret, headers.id, headers.timestamp, body);
        if any_matches(&candidates, &expected) {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

fn mac(secret: &WebhookSecret, msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(
        &secret.0,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

/// The decoded `v1` signatures in the header. Other versions and values that are not base64
/// are skipped, so a sender may add schemes we do not know yet.
fn signatures(header: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let malformed = |reason| VerifyError::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason,
    };
    if header.len() > MAX_HEADER_BYTES {
        return Err(malformed("longer than 4 KiB"));
    }
    let entries: Vec<&str> = header.split(' ').filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_SIGNATURES {
        return Err(malformed("more than 10 entries"));
    }
    Ok(entries
        .iter()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|value| STANDARD.decode(value).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const K1: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
    const K2: &str = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    const ID: &str = "msg_2kLx0n0000000000000001";
    const TS: i64 = 1_717_000_000;
    const BODY: &[u8] = br#"{"type":"escalation.acknowledged","timestamp":"2024-05-29T16:26:40Z","data":{"incident_id":"inc_42","via":"dtmf"}}"#;
    const SIG_K1: &str = "v1,lnAZFR39bDh0LYm3swuoEFElr21z2NEQvkCF10FcZMg=";
    const SIG_K2: &str = "v1,gbu0a/5LxISrvY25CuVy/soDO6f6onAamO5wzlaI354=";

    fn secret(s: &str) -> WebhookSecret {
        s.parse().unwrap()
    }

    /// Verifies `BODY` with the headers `[id, timestamp, signature]` under `keys`.
    fn check(headers: [&str; 3], keys: &[&str], now: i64) -> Result<(), VerifyError> {
        let [id, timestamp, signature] = headers;
        let keys: Vec<WebhookSecret> = keys.iter().map(|s| secret(s)).collect();
        let headers = Headers {
            id,
            timestamp,
            signature,
        };
        verify(headers, BODY, &keys, now)
    }

    fn signed_with(signature: &str) -> [&str; 3] {
        [ID, "1717000000", signature]
    }

    #[test]
    fn vector_body_is_copied_exactly() {
        assert_eq!(BODY.len(), 114);
        let digest = "d3ae0d79175ac59ca11e3976fdfceee03e8c225c7dddd204805f8c9095179b0e";
        assert_eq!(hex::encode(Sha256::digest(BODY)), digest);
    }

    #[test]
    fn secrets_decode_to_their_raw_bytes() {
        assert_eq!(secret(K1).0, (0x00..=0x17).collect::<Vec<u8>>());
        assert_eq!(secret(K2).0, (0x20..=0x3f).collect::<Vec<u8>>());
        assert_eq!(format!("{:?}", secret(K1)), "WebhookSecret([redacted])");
    }

    #[test]
    fn bad_secrets_are_rejected() {
        let encoded = |len: usize| format!("whsec_{}", STANDARD.encode(vec![7u8; len]));
        let no_prefix = K1.trim_start_matches("whsec_");
        for bad in [
            no_prefix,
            "whsec_not base64!",
            "whsec_",
            &encoded(23),
            &encoded(65),
        ] {
            let parsed = bad.parse::<WebhookSecret>();
            assert!(matches!(parsed, Err(VerifyError::BadKey(_))), "{bad}");
        }
        assert!(encoded(64).parse::<WebhookSecret>().is_ok());
    }

    #[test]
    fn signing_reproduces_each_key_and_the_rotation_header() {
        assert_eq!(sign(ID, TS, BODY, &[secret(K1)]), SIG_K1);
        assert_eq!(sign(ID, TS, BODY, &[secret(K2)]), SIG_K2);
        let both = sign(ID, TS, BODY, &[secret(K1), secret(K2)]);
        assert_eq!(both, format!("{SIG_K1} {SIG_K2}"));
    }

    #[test]
    fn vector_table() {
        let rotation = format!("{SIG_K1} {SIG_K2}");
        assert_eq!(check(signed_with(&rotation), &[K2], TS), Ok(()), "K2 only");
        for now in [TS - 300, TS, TS + 300] {
            assert_eq!(check(signed_with(SIG_K1), &[K1], now), Ok(()), "{now}");
        }
        for now in [TS - 301, TS + 301] {
            let error = VerifyError::TimestampOutOfTolerance { timestamp: TS, now };
            assert_eq!(check(signed_with(SIG_K1), &[K1], now), Err(error));
        }
        let other_id = check(["msg_other", "1717000000", SIG_K1], &[K1], TS);
        assert_eq!(other_id, Err(VerifyError::NoMatch));

        // The most common bug: keying the HMAC with the `whsec_…` string itself.
        let wrong = hmac_sha256(K1.as_bytes(), &[ID.as_bytes(), b".1717000000.", BODY]);
        assert_ne!(format!("v1,{}", STANDARD.encode(wrong)), SIG_K1);
    }

    #[test]
    fn interop_vector_from_the_reference_libraries() {
        let key = secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert_eq!(key.0.len(), 24);
        let (id, body) = (
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        let expected = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let signed = sign(id, 1_649_367_553, body, std::slice::from_ref(&key));
        assert_eq!(signed, expected);
        let headers = Headers {
            id,
            timestamp: "1649367553",
            signature: expected,
        };
        assert_eq!(verify(headers, body, &[key], 1_649_367_553), Ok(()));
    }

    #[test]
    fn other_versions_and_bad_base64_are_skipped() {
        let header = format!("v1a,AAAA v2,xyz v1,not*base64 {SIG_K1}");
        assert_eq!(check(signed_with(&header), &[K1], TS), Ok(()));
        let only_v1a = check(signed_with("v1a,AAAA"), &[K1], TS);
        assert_eq!(only_v1a, Err(VerifyError::NoMatch));
    }

    #[test]
    fn missing_and_malformed_headers() {
        for (headers, missing) in [
            (["", "1717000000", SIG_K1], ID_HEADER),
            ([ID, "", SIG_K1], TIMESTAMP_HEADER),
            ([ID, "1717000000", ""], SIGNATURE_HEADER),
        ] {
            let result = check(headers, &[K1], TS);
            assert_eq!(result, Err(VerifyError::MissingHeader(missing)));
        }
        let decimal = check([ID, "1717000000.0", SIG_K1], &[K1], TS);
        assert!(decimal.is_err_and(|e| e.is_malformed()));
        let eleven = [SIG_K1; 11].join(" ");
        assert!(check(signed_with(&eleven), &[K1], TS).is_err_and(|e| e.is_malformed()));
        let ten = [SIG_K1; 10].join(" ");
        assert_eq!(check(signed_with(&ten), &[K1], TS), Ok(()));
    }
}
