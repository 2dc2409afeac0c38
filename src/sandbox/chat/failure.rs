//! Scripted failures, and the form each service gives them: its real rate-limit answer
//! (status, body and headers, with the retry fields clients must honour) and its 5xx body.
//!
//! | Service | 429 |
//! |---|---|
//! | Slack Web API | `Retry-After: <s>`, `{"ok":false,"error":"ratelimited"}` (docs.slack.dev, "Rate limits") |
//! | Slack incoming webhook | `Retry-After: <s>`, text `rate_limited` |
//! | Discord | `{"message":"You are being rate limited.","retry_after":<s.fff>,"global":false}`, `Retry-After`, `X-RateLimit-*` (discord-openapi.json `RatelimitedResponse`; docs "Rate Limits") |
//! | Telegram | `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after N","parameters":{"retry_after":N}}`, no header (telegram-bot-api.json `ResponseParameters`) |
//! | Notion | `Retry-After: <s>`, `{"object":"error","status":429,"code":"rate_limited",…}` (Notion "Request limits") |
//!
//! Whole seconds are rounded up, so a client that waits exactly that long is never early.
//! Discord's rate-limit body has no `code`, as in Discord's documentation, although the
//! OpenAPI `RatelimitedResponse` lists one as required.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::http::header::{HeaderName, RETRY_AFTER};
use serde::Deserialize;
use serde_json::json;

use super::reply::{Reply, whole_seconds};

/// How a scripted request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The service's own 429, asking the client to wait `retry_after`.
    RateLimited { retry_after: Duration },
    /// A 5xx with `status` in the service's error shape.
    ServerError { status: u16 },
    /// No answer for `duration`; then the request is handled as usual. A client that gives
    /// up first may still have had its message accepted, as with a slow real service.
    Hang { duration: Duration },
    /// The connection closes without an answer.
    Drop,
}

/// A failure that cannot be scripted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("a scripted server error must have a 5xx status, not {0}")]
    NotServerError(u16),
}

impl Failure {
    pub(crate) fn check(&self) -> Result<(), ScriptError> {
        match self {
            Failure::ServerError { status } if !(500..=599).contains(status) => {
                Err(ScriptError::NotServerError(*status))
            }
            _ => Ok(()),
        }
    }

    /// The name `POST /_sandbox/script` and `GET /_sandbox/requests` use.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Failure::RateLimited { .. } => "rate_limit",
            Failure::ServerError { .. } => "server_error",
            Failure::Hang { .. } => "hang",
            Failure::Drop => "drop",
        }
    }
}

/// `POST /_sandbox/script`'s `failure`: `{"kind":"rate_limit","retry_after_ms":500}`,
/// `{"kind":"server_error","status":503}`, `{"kind":"hang","millis":5000}`,
/// `{"kind":"drop"}`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FailureSpec {
    RateLimit {
        #[serde(default = "one_second_ms")]
        retry_after_ms: u64,
    },
    ServerError {
        status: u16,
    },
    Hang {
        millis: u64,
    },
    Drop,
}

fn one_second_ms() -> u64 {
    1000
}

impl From<FailureSpec> for Failure {
    fn from(spec: FailureSpec) -> Failure {
        match spec {
            FailureSpec::RateLimit { retry_after_ms } => Failure::RateLimited {
                retry_after: Duration::from_millis(retry_after_ms),
            },
            FailureSpec::ServerError { status } => Failure::ServerError { status },
            FailureSpec::Hang { millis } => Failure::Hang {
                duration: Duration::from_millis(millis),
            },
            FailureSpec::Drop => Failure::Drop,
        }
    }
}

/// Which API answers: the form of a failure depends on it, not only on the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    SlackWeb,
    SlackHook,
    Discord,
    Telegram,
    Notion,
}

/// The 429 of `api`.
pub(crate) fn rate_limited(api: Api, retry_after: Duration) -> Reply {
    let secs = whole_seconds(retry_after);
    let status = StatusCode::TOO_MANY_REQUESTS;
    match api {
        Api::SlackWeb => Reply::json(status, json!({"ok": false, "error": "ratelimited"}))
            .header(RETRY_AFTER, secs),
        Api::SlackHook => Reply::text(status, "rate_limited").header(RETRY_AFTER, secs),
        Api::Discord => {
            let fractional = (retry_after.as_secs_f64() * 1000.0).round() / 1000.0;
            let reset = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_add(retry_after)
                .as_secs_f64();
            let body = json!({
                "message": "You are being rate limited.",
                "retry_after": fractional,
                "global": false,
            });
            discord_bucket(Reply::json(status, body), 0, retry_after)
                .header(RETRY_AFTER, secs)
                .header(X_RATELIMIT_RESET, format!("{reset:.3}"))
                .header(X_RATELIMIT_SCOPE, "user")
        }
        Api::Telegram => Reply::json(
            status,
            json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs},
            }),
        ),
        Api::Notion => Reply::json(
            status,
            json!({
                "object": "error",
                "status": 429,
                "code": "rate_limited",
                "message": "You have been rate limited. Please try again in a few minutes.",
                "request_id": uuid::Uuid::now_v7().to_string(),
            }),
        )
        .header(RETRY_AFTER, secs),
    }
}

/// A 5xx of `api` with `status`.
pub(crate) fn server_error(api: Api, status: u16) -> Reply {
    let code = Reply::status_from(status);
    let reason = code.canonical_reason().unwrap_or("Server Error");
    match api {
        Api::SlackWeb => {
            // Slack's documented fatal errors (chat.postMessage, "Errors").
            let error = if status == 503 {
                "service_unavailable"
            } else {
                "internal_error"
            };
            Reply::json(code, json!({"ok": false, "error": error}))
        }
        Api::SlackHook => Reply::text(code, "internal_error"),
        Api::Discord => Reply::json(
            code,
            json!({"message": format!("{status}: {reason}"), "code": 0}),
        ),
        Api::Telegram => Reply::json(
            code,
            json!({"ok": false, "error_code": status, "description": reason}),
        ),
        Api::Notion => {
            let (error, message) = match status {
                502 => (
                    "bad_gateway",
                    "Notion encountered an issue while attempting to complete this request. Please try again.",
                ),
                503 => (
                    "service_unavailable",
                    "Notion is unavailable. This can occur when the time to respond to a request takes longer than 60 seconds. Please try again later.",
                ),
                504 => (
                    "gateway_timeout",
                    "Notion timed out while attempting to complete this request. Please try again later.",
                ),
                _ => ("internal_server_error", "Unexpected error occurred."),
            };
            Reply::json(
                code,
                json!({
                    "object": "error",
                    "status": status,
                    "code": error,
                    "message": message,
                    "request_id": uuid::Uuid::now_v7().to_string(),
                }),
            )
        }
    }
}

pub(crate) const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub(crate) const X_RATELIMIT_REMAINING: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining");
pub(crate) const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
pub(crate) const X_RATELIMIT_RESET_AFTER: HeaderName =
    HeaderName::from_static("x-ratelimit-reset-after");
pub(crate) const X_RATELIMIT_BUCKET: HeaderName = HeaderName::from_static("x-ratelimit-bucket");
pub(crate) const X_RATELIMIT_SCOPE: HeaderName = HeaderName::from_static("x-ratelimit-scope");

/// The per-route bucket headers every Discord answer carries (a webhook's bucket: 5 requests
/// per 2 seconds is what Discord typically reports).
pub(crate) fn discord_bucket(reply: Reply, remaining: u32, reset_after: Duration) -> Reply {
    reply
        .header(X_RATELIMIT_LIMIT, 5)
        .header(X_RATELIMIT_REMAINING, remaining)
        .header(
            X_RATELIMIT_RESET_AFTER,
            format!("{:.3}", reset_after.as_secs_f64()),
        )
        .header(X_RATELIMIT_BUCKET, "5a2b1f0c3d4e5f60718293a4b5c6d7e8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::chat::reply::Body;

    fn json_of(reply: &Reply) -> &serde_json::Value {
        match &reply.body {
            Body::Json(value) => value,
            other => panic!("not JSON: {other:?}"),
        }
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_service_says_how_long_to_wait_its_own_way() {
        let wait = Duration::from_millis(1500);
        let slack = rate_limited(Api::SlackWeb, wait);
        assert_eq!(header(&slack, "retry-after"), Some("2"));
        assert_eq!(json_of(&slack)["error"], "ratelimited");

        let discord = rate_limited(Api::Discord, wait);
        assert_eq!(json_of(&discord)["retry_after"], 1.5);
        assert_eq!(json_of(&discord)["global"], false);
        assert_eq!(header(&discord, "x-ratelimit-remaining"), Some("0"));
        assert_eq!(header(&discord, "x-ratelimit-reset-after"), Some("1.500"));

        let telegram = rate_limited(Api::Telegram, wait);
        assert_eq!(json_of(&telegram)["parameters"]["retry_after"], 2);
        assert_eq!(
            json_of(&telegram)["description"],
            "Too Many Requests: retry after 2"
        );
        assert_eq!(header(&telegram, "retry-after"), None);

        let notion = rate_limited(Api::Notion, wait);
        assert_eq!(json_of(&notion)["code"], "rate_limited");
        assert_eq!(header(&notion, "retry-after"), Some("2"));
    }

    #[test]
    fn only_5xx_statuses_can_be_scripted() {
        assert!(Failure::ServerError { status: 503 }.check().is_ok());
        assert_eq!(
            Failure::ServerError { status: 404 }.check(),
            Err(ScriptError::NotServerError(404))
        );
    }
}
