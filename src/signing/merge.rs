//! Merge webhook signatures: `X-Merge-Webhook-Signature` is HMAC-SHA256 of the raw body.
//!
//! The key is the organisation's signature key as UTF-8, and the digest is sent as URL-safe
//! base64, usually padded. Senders and proxies disagree on padding and alphabet, so we compare
//! decoded bytes, never strings (`docs/signatures.md` §2). There is no timestamp: replay is
//! stopped by deduping on [`dedupe_key`] for at least 24 h, which is the caller's job. Merge
//! signs with one key; a list is accepted so a regenerated key can be rolled in.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

use super::{Secret, VerifyError, hmac_sha256};

/// The header Merge signs with (header names are matched case-insensitively).
pub const HEADER: &str = "x-merge-webhook-signature";

/// The header value Merge would send for `body`: padded URL-safe base64.
pub fn sign(key: &Secret, body: &[u8]) -> String {
    URL_SAFE.encode(hmac_sha256(key.as_bytes(), &[body]))
}

/// Checks the header value against the raw `body` under each of `keys`.
pub fn verify(header: &str, body: &[u8], keys: &[Secret]) -> Result<(), VerifyError> {
    if header.trim().is_empty() {
        return Err(VerifyError::MissingHeader(HEADER));
    }
    let presented = decode(header).ok_or(VerifyError::MalformedHeader {
        header: HEADER,
        reason: "not a base64 HMAC-SHA256 digest",
    })?;
    let matches = |key: &Secret| bool::from(presented.ct_eq(&hmac_sha256(key.as_bytes(), &[body])));
    if keys.iter().any(matches) {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// The header in one canonical form (unpadded URL-safe), so the same delivery dedupes to the
/// same key however it was padded. `None` when the header is not a digest at all.
pub fn dedupe_key(header: &str) -> Option<String> {
    decode(header).map(|digest| URL_SAFE_NO_PAD.encode(digest))
}

/// The 32 digest bytes, from URL-safe base64 or, failing that, the standard alphabet; `=`
/// padding is optional either way.
fn decode(header: &str) -> Option<[u8; 32]> {
    let unpadded = header.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(unpadded)
        .or_else(|_| STANDARD_NO_PAD.decode(unpadded))
        .ok()?;
    // A wrong length is rejected here, so a hex digest (which decodes to 48 bytes) never
    // reaches the comparison.
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const KEY: &str = "klaxon-merge-test-key";
    const BODY: &[u8] = br#"{"hook":{"id":"5d3c1b57-6f40-4b6a-9a35-2b7c0d1e9f10","event":"Ticket.changed","target":"https://klaxon.example.com/ingest/merge"},"linked_account":{"id":"a1b2c3d4-0000-4000-8000-000000000001","integration_slug":"zendesk","category":"ticketing"},"data":{"id":"b7e1f3a2-1111-4222-8333-444455556666","name":"Site down","priority":"URGENT","status":"OPEN"}}"#;
    const DIGEST_HEX: &str = "1e3b01c4749df9268ac230306455644b949c1697a858f4fc7fe218a3928ab5b6";
    const PADDED: &str = "HjsBxHSd-SaKwjAwZFVkS5ScFpeoWPT8f-IYo5KKtbY=";
    const UNPADDED: &str = "HjsBxHSd-SaKwjAwZFVkS5ScFpeoWPT8f-IYo5KKtbY";
    const STANDARD_ALPHABET: &str = "HjsBxHSd+SaKwjAwZFVkS5ScFpeoWPT8f+IYo5KKtbY=";

    fn check(header: &str, body: &[u8], key: &str) -> Result<(), VerifyError> {
        verify(header, body, &[Secret::new(key)])
    }

    #[test]
    fn vector_body_is_copied_exactly() {
        assert_eq!(BODY.len(), 353);
        assert_eq!(
            hex::encode(Sha256::digest(BODY)),
            "420037bcacea3a69cba8e3374842cbd6c724081494c69a49455f58914f190fac"
        );
        assert_eq!(
            hex::encode(hmac_sha256(KEY.as_bytes(), &[BODY])),
            DIGEST_HEX
        );
    }

    #[test]
    fn signing_produces_the_padded_url_safe_header() {
        assert_eq!(sign(&Secret::new(KEY), BODY), PADDED);
    }

    #[test]
    fn padded_unpadded_and_standard_alphabet_headers_verify() {
        for header in [
            PADDED,
            UNPADDED,
            STANDARD_ALPHABET,
            " HjsBxHSd-SaKwjAwZFVkS5ScFpeoWPT8f-IYo5KKtbY=\t",
        ] {
            assert_eq!(check(header, BODY, KEY), Ok(()), "{header:?}");
        }
    }

    #[test]
    fn the_hex_digest_as_header_is_rejected() {
        assert!(check(DIGEST_HEX, BODY, KEY).is_err_and(|e| e.is_malformed()));
    }

    #[test]
    fn reserialized_json_is_rejected() {
        let reordered = br#"{"data":{"id":"b7e1f3a2-1111-4222-8333-444455556666","name":"Site down","priority":"URGENT","status":"OPEN"},"hook":{"id":"5d3c1b57-6f40-4b6a-9a35-2b7c0d1e9f10","event":"Ticket.changed","target":"https://klaxon.example.com/ingest/merge"},"linked_account":{"id":"a1b2c3d4-0000-4000-8000-000000000001","integration_slug":"zendesk","category":"ticketing"}}"#;
        assert_eq!(reordered.len(), BODY.len(), "same members, different order");
        assert_eq!(check(PADDED, reordered, KEY), Err(VerifyError::NoMatch));

        let spaced = String::from_utf8_lossy(BODY)
            .replace("\":", "\": ")
            .replace(",\"", ", \"");
        assert_eq!(
            check(PADDED, spaced.as_bytes(), KEY),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn a_different_key_is_rejected() {
        assert_eq!(
            check(PADDED, BODY, "klaxon-merge-test-key2"),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn a_missing_header_is_reported_as_missing() {
        assert_eq!(
            check("", BODY, KEY),
            Err(VerifyError::MissingHeader(HEADER))
        );
        assert_eq!(
            check("  ", BODY, KEY),
            Err(VerifyError::MissingHeader(HEADER))
        );
    }

    #[test]
    fn any_configured_key_may_match() {
        let keys = [Secret::new("klaxon-merge-old-key"), Secret::new(KEY)];
        assert_eq!(verify(PADDED, BODY, &keys), Ok(()));
        assert_eq!(verify(PADDED, BODY, &[]), Err(VerifyError::NoMatch));
    }

    #[test]
    fn every_spelling_dedupes_to_the_unpadded_url_safe_form() {
        for header in [PADDED, UNPADDED, STANDARD_ALPHABET] {
            assert_eq!(dedupe_key(header).as_deref(), Some(UNPADDED), "{header}");
        }
        assert_eq!(dedupe_key(DIGEST_HEX), None);
        assert_eq!(dedupe_key("not a signature"), None);
    }
}
