//! The body of `POST /v1/events`: parsing, validation and the canonical hash.
//!
//! Two shapes are accepted:
//! - the envelope `{"type": "…", "payload": {…}, "idempotency_key": "…", "occurred_at": "…"}`;
//! - a flat event `{"id": "evt_1", "type": "…", …fields}` as signing producers send it, where
//!   `id` is the idempotency key and the other fields are the payload.
//!
//! A field Klaxon does not know next to an explicit `payload` is refused rather than dropped,
//! so a typo such as `idempotencyKey` is caught instead of silently disabling deduplication.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ApiError;

/// Longest accepted event type and idempotency key, in bytes.
pub const MAX_TYPE_LEN: usize = 200;
pub const MAX_KEY_LEN: usize = 255;

// The envelope as the OpenAPI document shows it; [`EventRequest::parse`] reads the raw JSON
// itself, so that it can name the field a mistake is in, and this type is never built.
/// An event to ingest.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventEnvelope {
    /// `[A-Za-z0-9._:/-]`, at most 200 bytes, e.g. `support.ticket.created`.
    #[schema(rename = "type")]
    event_type: String,
    /// The event's fields; pipelines read them.
    #[schema(value_type = Object)]
    payload: Value,
    /// 1 to 255 bytes; a repeat with the same body is answered as a duplicate, with another
    /// body `409 idempotency_conflict`. Same as the `Idempotency-Key` header.
    #[schema(required = false)]
    idempotency_key: Option<String>,
    /// RFC 3339; defaults to the time Klaxon received the event.
    #[schema(required = false)]
    occurred_at: Option<String>,
}

/// A validated request, ready to become a stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRequest {
    pub event_type: String,
    pub payload: Value,
    pub idempotency_key: Option<String>,
    /// RFC 3339 in UTC, if the sender gave one.
    pub occurred_at: Option<String>,
}

impl EventRequest {
    /// Parses and validates a raw body; `header_key` is the `Idempotency-Key` header.
    pub fn parse(body: &[u8], header_key: Option<&str>) -> Result<EventRequest, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(ApiError::unprocessable(
                "invalid_event",
                "the body must be a JSON object",
            ));
        };

        let event_type = match fields.remove("type") {
            Some(Value::String(t)) => validate_type(t)?,
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "invalid_type",
                    "`type` must be a string",
                ));
            }
            None => {
                return Err(ApiError::unprocessable(
                    "missing_type",
                    "`type` is required",
                ));
            }
        };
        let body_key = optional_string(&mut fields, "idempotency_key")?;
        let occurred_at = optional_string(&mut fields, "occurred_at")?
            .map(|t| normalise_time(&t))
            .transpose()?;

        let (payload, flat_id) = match fields.remove("payload") {
            Some(Value::Object(payload)) => {
                if let Some(extra) = fields.keys().next() {
                    return Err(ApiError::unprocessable(
                        "unknown_field",
                        format!("unknown field `{extra}`; event fields belong in `payload`"),
                    ));
                }
                (Value::Object(payload), None)
            }
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "invalid_payload",
                    "`payload` must be a JSON object",
                ));
            }
            None => {
                let id = optional_string(&mut fields, "id")?;
                (Value::Object(fields), id)
            }
        };

        // Each source of the key is checked under its own name, so the answer says which
        // one to fix.
        check_key(header_key, "the Idempotency-Key header")?;
        check_key(body_key.as_deref(), "`idempotency_key`")?;
        check_key(
            flat_id.as_deref(),
            "`id` (the idempotency key of a flat event)",
        )?;
        let idempotency_key = match (header_key, body_key.or(flat_id)) {
            (Some(h), Some(b)) if h != b => {
                return Err(ApiError::unprocessable(
                    "conflicting_idempotency_key",
                    "the Idempotency-Key header and the body's key differ",
                ));
            }
            (Some(h), _) => Some(h.to_owned()),
            (None, b) => b,
        };
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > MAX_KEY_LEN)
        {
            return Err(ApiError::unprocessable(
                "invalid_idempotency_key",
                format!("the idempotency key must be 1 to {MAX_KEY_LEN} bytes"),
            ));
        }

        Ok(EventRequest {
            event_type,
            payload,
            idempotency_key,
            occurred_at,
        })
    }

    /// SHA-256 (hex) over type, occurred_at and payload with object keys sorted, so the same
    /// event re-sent with its keys in another order is still recognised as the same.
    pub fn canonical_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hash_value(&mut hasher, &Value::String(self.event_type.clone()));
        hash_value(
            &mut hasher,
            &self.occurred_at.clone().map_or(Value::Null, Value::String),
        );
        hash_value(&mut hasher, &self.payload);
        hex::encode(hasher.finalize())
    }
}

/// Refuses a key with a control character: PostgreSQL cannot store NUL, and both backends
/// must answer alike (see [`crate::stored_text`]).
fn check_key(key: Option<&str>, name: &str) -> Result<(), ApiError> {
    let Some(key) = key else { return Ok(()) };
    crate::stored_text::check(key).map_err(|found| {
        ApiError::unprocessable("invalid_idempotency_key", format!("{name} {found}"))
    })
}

fn validate_type(event_type: String) -> Result<String, ApiError> {
    // The character rule below refuses control characters too; this says which and where.
    crate::stored_text::check(&event_type)
        .map_err(|found| ApiError::unprocessable("invalid_type", format!("`type` {found}")))?;
    let valid_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/');
    if event_type.is_empty()
        || event_type.len() > MAX_TYPE_LEN
        || !event_type.chars().all(valid_char)
    {
        return Err(ApiError::unprocessable(
            "invalid_type",
            format!(
                "`type` must be 1 to {MAX_TYPE_LEN} characters of letters, digits and . _ - : /"
            ),
        ));
    }
    Ok(event_type)
}

fn optional_string(
    fields: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::unprocessable(
            "invalid_field",
            format!("`{name}` must be a string"),
        )),
    }
}

fn normalise_time(text: &str) -> Result<String, ApiError> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::unprocessable(
            "invalid_occurred_at",
            format!(
                "`occurred_at` must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got {text:?}"
            ),
        )
    })?;
    let parsed = parsed.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&parsed.year()) {
        return Err(ApiError::unprocessable(
            "invalid_occurred_at",
            "`occurred_at` is out of range",
        ));
    }
    Ok(crate::clock::format_rfc3339(parsed))
}

/// Feeds a JSON value to the hasher in a canonical, unambiguous form (tagged, length-prefixed,
/// object keys sorted).
fn hash_value(hasher: &mut Sha256, value: &Value) {
    let mut put = |tag: u8, bytes: &[u8]| {
        hasher.update([tag]);
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    match value {
        Value::Null => put(b'n', b""),
        Value::Bool(b) => put(b'b', &[u8::from(*b)]),
        Value::Number(n) => put(b'#', n.to_string().as_bytes()),
        Value::String(s) => put(b's', s.as_bytes()),
        Value::Array(items) => {
            put(b'[', &(items.len() as u64).to_be_bytes());
            items.iter().for_each(|item| hash_value(hasher, item));
        }
        Value::Object(map) => {
            put(b'{', &(map.len() as u64).to_be_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hash_value(hasher, &Value::String(key.clone()));
                hash_value(hasher, &map[key]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<EventRequest, ApiError> {
        EventRequest::parse(body.as_bytes(), None)
    }

    #[test]
    fn envelope_and_flat_forms_are_the_same_event() {
        let envelope =
            parse(r#"{"type":"t.x","payload":{"a":1},"idempotency_key":"evt_1"}"#).unwrap();
        let flat = parse(r#"{"id":"evt_1","type":"t.x","a":1}"#).unwrap();
        assert_eq!(envelope, flat);
        assert_eq!(envelope.canonical_hash(), flat.canonical_hash());
    }

    #[test]
    fn key_order_does_not_change_the_hash_but_values_do() {
        let a = parse(r#"{"type":"t","payload":{"a":1,"b":{"c":[1,2],"d":null}}}"#).unwrap();
        let b = parse(r#"{"type":"t","payload":{"b":{"d":null,"c":[1,2]},"a":1}}"#).unwrap();
        let c = parse(r#"{"type":"t","payload":{"a":1,"b":{"c":[2,1],"d":null}}}"#).unwrap();
        assert_eq!(a.canonical_hash(), b.canonical_hash());
        assert_ne!(a.canonical_hash(), c.canonical_hash());
    }

    #[test]
    fn bad_bodies_get_the_right_status_and_code() {
        let cases = [
            ("{", 400, "malformed_json"),
            ("[1]", 422, "invalid_event"),
            (r#"{"payload":{}}"#, 422, "missing_type"),
            (r#"{"type":7}"#, 422, "invalid_type"),
            (r#"{"type":""}"#, 422, "invalid_type"),
            (r#"{"type":"has space"}"#, 422, "invalid_type"),
            (r#"{"type":"t","payload":[]}"#, 422, "invalid_payload"),
            (
                r#"{"type":"t","payload":{},"idempotencyKey":"k"}"#,
                422,
                "unknown_field",
            ),
            (
                r#"{"type":"t","occurred_at":"yesterday"}"#,
                422,
                "invalid_occurred_at",
            ),
            (
                r#"{"type":"t","idempotency_key":""}"#,
                422,
                "invalid_idempotency_key",
            ),
            (r#"{"type":"t","idempotency_key":5}"#, 422, "invalid_field"),
        ];
        for (body, status, code) in cases {
            let error = parse(body).expect_err(body);
            assert_eq!(
                (error.status.as_u16(), error.code),
                (status, code),
                "{body}"
            );
        }
    }

    #[test]
    fn control_characters_in_keys_and_types_are_refused_where_they_are() {
        let cases = [
            (
                r#"{"type":"t","idempotency_key":"a\u0000b"}"#,
                None,
                "invalid_idempotency_key",
                "`idempotency_key` contains a control character (U+0000) at byte 1",
            ),
            (
                r#"{"id":"\u0000","type":"t","a":1}"#,
                None,
                "invalid_idempotency_key",
                "`id` (the idempotency key of a flat event) contains a control character (U+0000) at byte 0",
            ),
            (
                r#"{"type":"t","payload":{}}"#,
                Some("k\ty"),
                "invalid_idempotency_key",
                "the Idempotency-Key header contains a control character (U+0009) at byte 1",
            ),
            (
                r#"{"type":"sec.nul\u0000","payload":{}}"#,
                None,
                "invalid_type",
                "`type` contains a control character (U+0000) at byte 7",
            ),
            (
                r#"{"type":"t","idempotency_key":"del\u007f"}"#,
                None,
                "invalid_idempotency_key",
                "`idempotency_key` contains a control character (U+007F) at byte 3",
            ),
        ];
        for (body, header, code, message) in cases {
            let error = EventRequest::parse(body.as_bytes(), header).expect_err(body);
            assert_eq!(
                (error.status.as_u16(), error.code, error.message.as_str()),
                (422, code, message),
                "{body}"
            );
        }
    }

    #[test]
    fn a_payload_may_carry_control_characters_as_json_escapes() {
        // Stored as serialized JSON, where NUL is the six characters `\u0000`.
        let r = parse(r#"{"type":"t","payload":{"note":"a\u0000b"}}"#).unwrap();
        assert_eq!(r.payload.to_string(), r#"{"note":"a\u0000b"}"#);
    }

    #[test]
    fn header_key_must_agree_with_body_key() {
        let body = br#"{"type":"t","idempotency_key":"a"}"#;
        assert!(EventRequest::parse(body, Some("a")).is_ok());
        let error = EventRequest::parse(body, Some("b")).unwrap_err();
        assert_eq!(error.code, "conflicting_idempotency_key");
    }

    #[test]
    fn occurred_at_is_normalised_to_utc() {
        let r = parse(r#"{"type":"t","occurred_at":"2026-01-31T13:00:00.123456+01:00"}"#).unwrap();
        assert_eq!(r.occurred_at.as_deref(), Some("2026-01-31T12:00:00.123Z"));
    }
}
