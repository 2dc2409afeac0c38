//! Telnyx webhook signatures: Ed25519 over `telnyx-timestamp || "|" || body`.
//!
//! Telnyx signs with one account key pair and sends no key id, so configuration holds a list
//! of public keys to allow a switch-over (`docs/signatures.md` §1). The timestamp is checked
//! before any cryptography, and the signed bytes use the header's own digits, never a
//! re-formatted integer. [`sign`] exists for the sandbox's fake carrier, which reproduces
//! Telnyx's signatures exactly because Ed25519 is deterministic.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{DEFAULT_TOLERANCE_SECS, VerifyError, check_tolerance, parse_timestamp};

pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// A Telnyx account public key, configured as standard base64 of its 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl FromStr for PublicKey {
    type Err = VerifyError;

    fn from_str(s: &str) -> Result<Self, VerifyError> {
        let bytes: [u8; 32] = STANDARD
            .decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::BadKey(
                "a Telnyx public key must be standard base64 of 32 bytes",
            ))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| VerifyError::BadKey("the Telnyx public key is not a valid Ed25519 point"))
    }
}

/// The `telnyx-signature-ed25519` value for `body` sent at `timestamp` (the header's text),
/// as the fake carrier sends it.
pub fn sign(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let signature = SigningKey::from_bytes(seed).sign(&message(timestamp, body));
    STANDARD.encode(signature.to_bytes())
}

/// Checks the two Telnyx headers against the raw `body` under each of `keys`.
pub fn verify(
    signature_b64: &str,
    timestamp: &str,
    body: &[u8],
    keys: &[PublicKey],
    now: i64,
) -> Result<(), VerifyError> {
    if signature_b64.is_empty() {
        return Err(VerifyError::MissingHeader(SIGNATURE_HEADER));
    }
    if timestamp.is_empty() {
        return Err(VerifyError::MissingHeader(TIMESTAMP_HEADER));
    }
    let sent_at = parse_timestamp(TIMESTAMP_HEADER, timestamp)?;
    check_tolerance(sent_at, now, DEFAULT_TOLERANCE_SECS)?;

    let bytes: [u8; 64] = STANDARD
        .decode(signature_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "must be standard base64 of 64 bytes",
        })?;
    let signature = Signature::from_bytes(&bytes);
    let message = message(timestamp, body);
    // `verify_strict` also refuses weak keys and malleable signatures; an honest signer
    // never produces those, so it costs us nothing against Telnyx.
    if keys
        .iter()
        .any(|key| key.0.verify_strict(&message, &signature).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

fn message(timestamp: &str, body: &[u8]) -> Vec<u8> {
    [timestamp.as_bytes(), b"|", body].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const TS: &str = "1717000000";
    const NOW: i64 = 1_717_000_000;
    const BODY: &[u8] = br#"{"data":{"event_type":"call.answered","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","payload":{"call_control_id":"v3:leg-a","client_state":"eyJlIjoiZXNjXzEifQ=="},"record_type":"event"}}"#;
    const SIGNATURE: &str =
        "cCwbdiT2ThFC6NpV644IRJq6lmBpJpOqjzo1cyOG3QGCaiGQTMp+yinQ07NyQCI2ONYfIxhJqOp+FoZjdgacAA==";

    fn seed() -> [u8; 32] {
        hex::decode(SEED_HEX).unwrap().try_into().unwrap()
    }

    fn key() -> PublicKey {
        PUBLIC_KEY.parse().unwrap()
    }

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        verify(signature, timestamp, body, &[key()], now)
    }

    #[test]
    fn vector_body_and_keys_are_copied_exactly() {
        assert_eq!(BODY.len(), 184);
        assert_eq!(
            hex::encode(Sha256::digest(BODY)),
            "ac5592fd1d10f76106c8ee756da586aff730779cca9e412168f5dfbc7a09dfee"
        );
        let derived = SigningKey::from_bytes(&seed()).verifying_key();
        assert_eq!(
            hex::encode(derived.as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(key(), PublicKey(derived));
    }

    #[test]
    fn signing_reproduces_the_telnyx_signature() {
        assert_eq!(sign(&seed(), TS, BODY), SIGNATURE);
    }

    #[test]
    fn vector_table() {
        assert_eq!(check(SIGNATURE, TS, BODY, NOW), Ok(()));
        assert_eq!(
            check(SIGNATURE, TS, BODY, 1_717_000_300),
            Ok(()),
            "inclusive boundary"
        );
        assert_eq!(
            check(SIGNATURE, TS, BODY, 1_716_999_700),
            Ok(()),
            "inclusive boundary"
        );
        for now in [1_717_000_301, 1_716_999_699] {
            assert_eq!(
                check(SIGNATURE, TS, BODY, now),
                Err(VerifyError::TimestampOutOfTolerance {
                    timestamp: NOW,
                    now
                })
            );
        }
        assert_eq!(
            check(SIGNATURE, "1717000001", BODY, NOW),
            Err(VerifyError::NoMatch)
        );
        let with_newline = [BODY, b"\n"].concat();
        assert_eq!(
            check(SIGNATURE, TS, &with_newline, NOW),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn a_message_joined_with_a_dot_does_not_verify() {
        let dotted = SigningKey::from_bytes(&seed()).sign(&[TS.as_bytes(), b".", BODY].concat());
        let dotted = STANDARD.encode(dotted.to_bytes());
        assert_eq!(check(&dotted, TS, BODY, NOW), Err(VerifyError::NoMatch));
    }

    #[test]
    fn a_63_byte_signature_is_rejected_before_verifying() {
        let mut bytes = STANDARD.decode(SIGNATURE).unwrap();
        bytes.truncate(63);
        let truncated = STANDARD.encode(bytes);
        assert!(check(&truncated, TS, BODY, NOW).is_err_and(|e| e.is_malformed()));
        assert!(check("not base64!", TS, BODY, NOW).is_err_and(|e| e.is_malformed()));
    }

    #[test]
    fn a_key_that_is_not_32_bytes_is_refused_at_configuration() {
        for bad in [
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            "not base64!".to_owned(),
        ] {
            assert!(
                matches!(bad.parse::<PublicKey>(), Err(VerifyError::BadKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_header_digits_are_signed_not_the_parsed_number() {
        // Same instant, different text: the signature covers "1717000000", not this.
        assert_eq!(
            check(SIGNATURE, "01717000000", BODY, NOW),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn the_timestamp_is_checked_before_the_signature() {
        let stale = check("garbage", TS, BODY, NOW + 301);
        assert_eq!(
            stale,
            Err(VerifyError::TimestampOutOfTolerance {
                timestamp: NOW,
                now: NOW + 301
            })
        );
        for bad in [
            "+1717000000",
            "1717000000.0",
            "-1717000000",
            "1717000000000",
        ] {
            assert!(
                check(SIGNATURE, bad, BODY, NOW).is_err_and(|e| e.is_malformed()),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_headers_and_key_rotation() {
        assert_eq!(
            check("", TS, BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            check(SIGNATURE, "", BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        let other = PublicKey(SigningKey::from_bytes(&[7; 32]).verifying_key());
        assert_eq!(
            verify(SIGNATURE, TS, BODY, &[other], NOW),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(verify(SIGNATURE, TS, BODY, &[other, key()], NOW), Ok(()));
    }
}
