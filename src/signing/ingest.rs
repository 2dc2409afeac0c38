//! Stripe-style signatures for generic event ingest: `t=<unix>,v1=<hex>[,v1=<hex>…]`.
//!
//! Each `v1` is lowercase hex of HMAC-SHA256 over `t || "." || body`, keyed with the secret
//! string's UTF-8 bytes **verbatim**; unlike Standard Webhooks, a `whsec_` secret is not
//! base64-decoded. Producers emit one `v1` per active secret, so keys rotate without downtime.
//! The consumer rules and vectors are `docs/signatures.md` §3. This module only checks the
//! header against the body; choosing 400 or 401 and deduping on the event id are the caller's.

use super::{Secret, VerifyError, any_matches, check_tolerance, hmac_sha256, parse_timestamp};

/// The header our ingest reads (header names are matched case-insensitively).
pub const HEADER: &str = "x-klaxon-signature";
/// The name the product brief fixed first; still accepted so existing senders keep working.
pub const LEGACY_HEADER: &str = "x-ingestlayer-signature";

/// Longest header we parse; real ones are under 1 KiB even with several `v1` entries.
const MAX_HEADER_BYTES: usize = 4096;
/// Most `v1` entries we try, bounding the HMAC comparisons one request can cost.
const MAX_SIGNATURES: usize = 10;

/// Builds the header value for `body` at time `t`, one `v1` entry per secret.
///
/// Call it on every delivery attempt with a fresh `t`, so a late retry is not stale.
pub fn sign(secrets: &[Secret], t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret, &t, body)));
    }
    header
}

/// Checks `header` (the value of [`HEADER`] or [`LEGACY_HEADER`]) against the raw `body`.
///
/// Succeeds when any `v1` entry matches the MAC under any of `secrets` and `t` is within
/// `tolerance_secs` of `now`, in either direction, returning that `t`: with the body, it is
/// what was signed, so a caller can recognise the same signed request sent again.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[Secret],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, VerifyError> {
    let parsed = Parsed::from_header(header)?;
    check_tolerance(parsed.timestamp, now, tolerance_secs)?;

    // Entries that are not hex are skipped rather than fatal, as Stripe's libraries do; a
    // wrong-length entry simply never compares equal.
    let candidates: Vec<Vec<u8>> = parsed
        .signatures
        .iter()
        .filter_map(|s| hex::decode(s).ok())
        .collect();
    for secret in secrets {
        let expected = mac(secret, parsed.t_digits, body);
        if any_matches(&candidates, &expected) {
            return Ok(parsed.timestamp);
        }
    }
    Err(VerifyError::NoMatch)
}

/// The MAC over `t || "." || body`, using the timestamp's exact header digits.
fn mac(secret: &Secret, t: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body])
}

/// A header split into its parts, before any cryptography.
struct Parsed<'a> {
    timestamp: i64,
    /// The `t` value as sent; the MAC covers these bytes, not a re-formatted integer.
    t_digits: &'a str,
    signatures: Vec<&'a str>,
}

impl<'a> Parsed<'a> {
    fn from_header(header: &'a str) -> Result<Self, VerifyError> {
        let malformed = |reason| VerifyError::MalformedHeader {
            header: HEADER,
            reason,
        };
        if header.len() > MAX_HEADER_BYTES {
            return Err(malformed("longer than 4 KiB"));
        }
        let mut t_digits = None;
        let mut signatures = Vec::new();
        // Items without `=` and unknown keys (`v0`, future versions) are ignored, so producers
        // can add schemes without breaking us.
        for (key, value) in header.split(',').filter_map(|item| item.split_once('=')) {
            match key.trim() {
                "t" if t_digits.is_some() => return Err(malformed("more than one `t`")),
                "t" => t_digits = Some(value.trim()),
                "v1" if signatures.len() == MAX_SIGNATURES => {
                    return Err(malformed("more than 10 `v1` entries"));
                }
                "v1" => signatures.push(value.trim()),
                _ => {}
            }
        }
        let t_digits = t_digits.ok_or(malformed("no `t` entry"))?;
        if signatures.is_empty() {
            return Err(malformed("no `v1` entry"));
        }
        let timestamp = parse_timestamp(HEADER, t_digits)?;
        Ok(Parsed {
            timestamp,
            t_digits,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const A: &str = "klaxon-ingest-test-secret";
    const B: &str = "klaxon-ingest-next-secret";
    const T: i64 = 1_717_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"ticket.created","priority":"URGENT"}"#;
    const SINGLE: &str =
        "t=1717000000,v1=3e1f5aadc6074b1647c510e7e6bbe0e1d3b0265a073a955235101fa87e69387c";
    const ROTATION: &str = "t=1717000000,v1=3e1f5aadc6074b1647c510e7e6bbe0e1d3b0265a073a955235101fa87e69387c,\
                            v1=1d668ce47ab019c269d6d1d6c0e1a234e45ba524bf7a5e1656f24218df9b558a";

    /// `verify`, with the verified timestamp checked and dropped.
    fn check(header: &str, body: &[u8], secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        verify(
            header,
            body,
            &secrets,
            now,
            crate::signing::DEFAULT_TOLERANCE_SECS,
        )
        .map(|t| assert_eq!(t, T, "the signed timestamp is returned"))
    }

    fn malformed(reason: &'static str) -> Result<(), VerifyError> {
        Err(VerifyError::MalformedHeader {
            header: HEADER,
            reason,
        })
    }

    #[test]
    fn vector_body_is_copied_exactly() {
        assert_eq!(BODY.len(), 58);
        assert_eq!(
            hex::encode(Sha256::digest(BODY)),
            "ae16fea6f25041f090441c46934d7a5ba3970b7f951ca146756b43a694bb05c4"
        );
    }

    #[test]
    fn signing_reproduces_the_single_and_rotation_headers() {
        assert_eq!(sign(&[Secret::new(A)], T, BODY), SINGLE);
        assert_eq!(sign(&[Secret::new(A), Secret::new(B)], T, BODY), ROTATION);
    }

    #[test]
    fn vector_table() {
        use VerifyError::{NoMatch, TimestampOutOfTolerance};
        let stale = |now| Err(TimestampOutOfTolerance { timestamp: T, now });
        let v1_only = SINGLE.trim_start_matches("t=1717000000,");
        let rows = [
            (SINGLE, A, 1_717_000_010, Ok(())),
            (ROTATION, B, 1_717_000_010, Ok(())),
            (SINGLE, B, 1_717_000_010, Err(NoMatch)),
            (SINGLE, A, 1_717_000_300, Ok(())),
            (SINGLE, A, 1_717_000_301, stale(1_717_000_301)),
            (SINGLE, A, 1_716_999_699, stale(1_716_999_699)),
            (v1_only, A, T, malformed("no `t` entry")),
        ];
        for (row, (header, secret, now, expected)) in rows.into_iter().enumerate() {
            assert_eq!(check(header, BODY, &[secret], now), expected, "row {row}");
        }
        let body_plus_space = [BODY, b" "].concat();
        assert_eq!(check(SINGLE, &body_plus_space, &[A], T), Err(NoMatch));
    }

    #[test]
    fn a_whsec_secret_is_used_verbatim_not_decoded() {
        let body = br#"{"id":"evt_1","type":"ticket.created"}"#;
        let expected =
            "t=1717000000,v1=d29623b800bf3f5cdbe1c2928f734869e71bc274e666d5f2c945f079aa64dc1f";
        assert_eq!(sign(&[Secret::new("whsec_test_secret")], T, body), expected);
        assert_eq!(check(expected, body, &["whsec_test_secret"], T), Ok(()));
    }

    #[test]
    fn the_tolerance_is_configurable() {
        let secrets = [Secret::new(A)];
        assert_eq!(verify(SINGLE, BODY, &secrets, T + 60, 60), Ok(T));
        let late = verify(SINGLE, BODY, &secrets, T + 61, 60);
        assert!(matches!(
            late,
            Err(VerifyError::TimestampOutOfTolerance { .. })
        ));
    }

    #[test]
    fn structure_errors_are_malformed() {
        let no_v1 = check("t=1717000000", BODY, &[A], T);
        assert_eq!(no_v1, malformed("no `v1` entry"));
        assert_eq!(check("", BODY, &[A], T), malformed("no `t` entry"));
        let twice = format!("t=1717000000,{SINGLE}");
        assert_eq!(check(&twice, BODY, &[A], T), malformed("more than one `t`"));
        for t in ["+1717000000", "1717000000.0", "-1", "1717000000000", ""] {
            let header = SINGLE.replace("1717000000", t);
            let result = check(&header, BODY, &[A], T);
            assert!(result.is_err_and(|e| e.is_malformed()), "{header}");
        }
        let eleven = format!("t=1717000000{}", ",v1=00".repeat(11));
        let too_many = check(&eleven, BODY, &[A], T);
        assert_eq!(too_many, malformed("more than 10 `v1` entries"));
        let long = format!("{SINGLE},x={}", "a".repeat(MAX_HEADER_BYTES));
        assert_eq!(check(&long, BODY, &[A], T), malformed("longer than 4 KiB"));
    }

    #[test]
    fn ten_entries_are_allowed_and_the_last_can_match() {
        let valid = SINGLE.trim_start_matches("t=1717000000,");
        let header = format!("t=1717000000{},{valid}", ",v1=00".repeat(9));
        assert_eq!(check(&header, BODY, &[A], T), Ok(()));
    }

    #[test]
    fn non_hex_entries_are_skipped_and_unknown_keys_ignored() {
        let valid = SINGLE.trim_start_matches("t=1717000000,");
        let header = format!("v0=abc, t = 1717000000 ,v1=not-hex,junk, {valid} ,scheme=x");
        assert_eq!(check(&header, BODY, &[A], T), Ok(()));
        let only_junk = check("t=1717000000,v1=zz", BODY, &[A], T);
        assert_eq!(only_junk, Err(VerifyError::NoMatch));
    }

    #[test]
    fn no_configured_secret_matches_nothing() {
        assert_eq!(check(SINGLE, BODY, &[], T), Err(VerifyError::NoMatch));
        assert_eq!(sign(&[], T, BODY), "t=1717000000");
    }
}
