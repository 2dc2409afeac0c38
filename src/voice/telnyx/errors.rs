//! Telnyx's `{"errors":[…]}` bodies and the one error type of the client.
//!
//! HTTP status decides first (docs/telnyx.md §1.1: code 10011 means "rate limited" on a 429 but
//! "SRTP not supported" on a 422), then the codes that change what the caller should do get their
//! own variants. Display texts carry status, code and title only: a `detail` can quote the number
//! or SIP header that was refused, so it stays in the value for whoever inspects it, not in
//! log lines built from `{}`.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// The error codes the client or its callers branch on (docs/telnyx.md §1.1 table).
pub mod codes {
    /// Missing required parameter: a bug on our side.
    pub const MISSING_PARAMETER: &str = "10004";
    /// On a 429: the general rate limit.
    pub const RATE_LIMITED: &str = "10011";
    /// Invalid `connection_id`: configuration.
    pub const INVALID_CONNECTION_ID: &str = "10015";
    /// A number not in +E.164: bad contact data.
    pub const INVALID_NUMBER: &str = "10016";
    /// Unknown `call_control_id`: the leg is unknown, treat it as ended.
    pub const INVALID_CALL_CONTROL_ID: &str = "90015";
    /// The call has already ended.
    pub const CALL_ENDED: &str = "90018";
    /// The command needs an answered leg.
    pub const NOT_ANSWERED_YET: &str = "90034";
    /// `transcription_start` while a transcription runs.
    pub const TRANSCRIPTION_ACTIVE: &str = "90054";
    /// `gather_using_ai` while an AI assistant runs.
    pub const AI_ASSISTANT_ACTIVE: &str = "90061";
    /// On a 429 from `POST /calls`: the dials-per-second limit.
    pub const DIALS_PER_SECOND: &str = "90103";
}

/// One entry of Telnyx's `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// A numeric string such as `"90018"`; compare with the constants in [`codes`].
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub source: Option<ApiErrorSource>,
}

/// Which part of the request an [`ApiError`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorSource {
    /// JSON pointer into the body, e.g. `/call_control_id`.
    #[serde(default)]
    pub pointer: Option<String>,
    /// A query parameter name.
    #[serde(default)]
    pub parameter: Option<String>,
}

impl ApiError {
    /// The code as a number, for range checks; `None` if Telnyx ever sends a non-numeric code.
    pub fn code_number(&self) -> Option<u32> {
        self.code.parse().ok()
    }
}

/// Reads `errors[]` from a failed response. Bodies that are not Telnyx JSON (an HTML page from
/// a proxy, an empty 502) give an empty list, never a failure: the status still tells the story.
pub fn parse_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return Vec::new();
    };
    // Entry by entry, so one odd entry does not hide the others.
    body.errors
        .into_iter()
        .filter_map(|entry| serde_json::from_value(entry).ok())
        .collect()
}

/// Why a Telnyx call did not succeed. No variant carries the API key or a request body.
#[derive(Debug, thiserror::Error)]
pub enum TelnyxError {
    /// The configuration cannot work; reported by [`super::TelnyxClient::new`].
    #[error("invalid Telnyx configuration: {field} {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client for Telnyx")]
    HttpClient(#[source] reqwest::Error),
    /// We refused to send the request: a bug in the caller, caught before any HTTP.
    #[error("invalid Telnyx request: {reason}")]
    InvalidRequest { reason: &'static str },
    /// 90018 (call has already ended) or 90015 (unknown `call_control_id`): the leg is gone.
    /// Terminal, never retried; usually a benign race with `call.hangup`.
    #[error("the call leg is gone (Telnyx code {code})")]
    CallGone { code: String },
    /// 90034: the command needs an answered leg. Not retried here: the caller should act
    /// again on `call.answered`, which is the event that makes the command valid.
    #[error("the call is not answered yet (Telnyx code 90034)")]
    NotAnsweredYet,
    /// 429 still (or again) after the retries, or with a reset further away than the retry
    /// budget. `retry_after` is Telnyx's own hint, for the caller's rescheduling.
    #[error("rate limited by Telnyx (code {code:?}, retry after {retry_after:?})")]
    RateLimited {
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: never retried, the same request would fail the same way.
    #[error("Telnyx rejected the request: {status}{}", first_error(errors))]
    Rejected {
        status: StatusCode,
        errors: Vec<ApiError>,
    },
    /// 5xx or 408 still after the retries.
    #[error("Telnyx failed: {status}{}", first_error(errors))]
    Server {
        status: StatusCode,
        errors: Vec<ApiError>,
    },
    /// The request did not complete: connection refused, reset, DNS failure.
    #[error("Telnyx is unreachable")]
    Transport(#[source] reqwest::Error),
    /// No complete answer within the attempt's deadline, still after the retries.
    #[error("Telnyx did not answer within {after:?}")]
    Timeout { after: Duration },
    /// A 2xx body that is not what the endpoint documents.
    #[error("Telnyx answered with an unusable body: {reason}")]
    InvalidResponse {
        reason: &'static str,
        #[source]
        source: Option<serde_json::Error>,
    },
}

fn first_error(errors: &[ApiError]) -> String {
    match errors.first() {
        Some(e) => format!(" (code {}: {})", e.code, e.title),
        None => String::new(),
    }
}

impl TelnyxError {
    /// True when the same request might succeed later: what the client retries, and what a
    /// job runner may retry again once the client has given up.
    pub fn is_retryable(&self) -> bool {
        match self {
            TelnyxError::RateLimited { .. }
            | TelnyxError::Server { .. }
            | TelnyxError::Transport(_)
            | TelnyxError::Timeout { .. } => true,
            TelnyxError::InvalidConfig { .. }
            | TelnyxError::HttpClient(_)
            | TelnyxError::InvalidRequest { .. }
            | TelnyxError::CallGone { .. }
            | TelnyxError::NotAnsweredYet
            | TelnyxError::Rejected { .. }
            | TelnyxError::InvalidResponse { .. } => false,
        }
    }

    /// The leg no longer exists (90018, 90015).
    pub fn is_call_gone(&self) -> bool {
        matches!(self, TelnyxError::CallGone { .. })
    }

    /// Whether Telnyx's answer carried this error code.
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            TelnyxError::CallGone { code: c } => c == code,
            TelnyxError::NotAnsweredYet => code == codes::NOT_ANSWERED_YET,
            TelnyxError::RateLimited { code: c, .. } => c.as_deref() == Some(code),
            TelnyxError::Rejected { errors, .. } | TelnyxError::Server { errors, .. } => {
                errors.iter().any(|e| e.code == code)
            }
            _ => false,
        }
    }
}

/// The error for a non-2xx answer, before any retry decision. `retry_after` is only used for
/// a 429.
pub(super) fn from_status(
    status: StatusCode,
    errors: Vec<ApiError>,
    retry_after: Option<Duration>,
) -> TelnyxError {
    let has = |code: &str| errors.iter().any(|e| e.code == code);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return TelnyxError::RateLimited {
            code: errors.first().map(|e| e.code.clone()),
            retry_after,
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return TelnyxError::Server { status, errors };
    }
    if status.is_client_error() {
        for gone in [codes::CALL_ENDED, codes::INVALID_CALL_CONTROL_ID] {
            if has(gone) {
                return TelnyxError::CallGone {
                    code: gone.to_owned(),
                };
            }
        }
        if has(codes::NOT_ANSWERED_YET) {
            return TelnyxError::NotAnsweredYet;
        }
    }
    // Other 4xx, and the 1xx/3xx a well-behaved API never sends (redirects are not followed:
    // one could carry the bearer key to another host).
    TelnyxError::Rejected { status, errors }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doc_error_body_parses() {
        let body = br#"{"errors":[{"code":"90018","title":"Call has already ended",
            "detail":"This call is no longer active and can't receive commands.",
            "source":{"pointer":"/call_control_id"},"meta":{"url":"https://developers.telnyx.com/"}}]}"#;
        let errors = parse_errors(body);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "90018");
        assert_eq!(errors[0].code_number(), Some(90018));
        assert_eq!(errors[0].title, "Call has already ended");
        assert_eq!(
            errors[0].source.as_ref().unwrap().pointer.as_deref(),
            Some("/call_control_id")
        );
    }

    #[test]
    fn odd_bodies_give_what_can_be_read() {
        assert!(parse_errors(b"<html>502 Bad Gateway</html>").is_empty());
        assert!(parse_errors(b"").is_empty());
        assert!(parse_errors(br#"{"detail":[{"loc":["body"],"msg":"x"}]}"#).is_empty());
        let mixed = br#"{"errors":[{"title":"no code"},{"code":"10016","title":"Phone number must be in +E164 format","source":{"parameter":"to"}}]}"#;
        let errors = parse_errors(mixed);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "10016");
        assert_eq!(errors[0].detail, None);
    }

    fn error(code: &str) -> Vec<ApiError> {
        vec![ApiError {
            code: code.to_owned(),
            title: "t".to_owned(),
            detail: None,
            source: None,
        }]
    }

    #[test]
    fn status_comes_before_code() {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        assert!(matches!(
            from_status(StatusCode::TOO_MANY_REQUESTS, error("10011"), None),
            TelnyxError::RateLimited { code: Some(c), .. } if c == "10011"
        ));
        // 10011 on a 422 is "SRTP not supported for PSTN", a plain rejection.
        assert!(matches!(
            from_status(unprocessable, error("10011"), None),
            TelnyxError::Rejected { .. }
        ));
        for gone in ["90018", "90015"] {
            let e = from_status(unprocessable, error(gone), None);
            assert!(e.is_call_gone() && e.has_code(gone) && !e.is_retryable());
        }
        assert!(matches!(
            from_status(unprocessable, error("90034"), None),
            TelnyxError::NotAnsweredYet
        ));
        let rejected = from_status(unprocessable, error("10016"), None);
        assert!(rejected.has_code("10016") && !rejected.is_retryable());
        assert_eq!(
            rejected.to_string(),
            "Telnyx rejected the request: 422 Unprocessable Entity (code 10016: t)"
        );
        for status in [500, 502, 503, 408] {
            let e = from_status(StatusCode::from_u16(status).unwrap(), Vec::new(), None);
            assert!(
                matches!(e, TelnyxError::Server { .. }) && e.is_retryable(),
                "{status}"
            );
        }
    }
}
