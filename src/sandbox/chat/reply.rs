//! An answer of a simulated service, decided without awaiting and turned into a response at
//! the end: a status, extra headers, and a JSON, plain-text or empty body.

use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Json(Value),
    /// `text/plain`, as Slack's incoming webhooks answer.
    Text(String),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Body,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Text(body.into()),
        }
    }

    pub(crate) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub(crate) fn header(mut self, name: impl Into<HeaderName>, value: impl ToString) -> Reply {
        self.headers.push((name.into(), value.to_string()));
        self
    }

    /// A status that is not a valid HTTP status cannot come from a script (they are checked
    /// when scripted), so the fallback is never seen in practice.
    pub(crate) fn status_from(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Json(value) => (
                self.status,
                [(CONTENT_TYPE, "application/json")],
                ok_first(&value),
            )
                .into_response(),
            Body::Text(text) => (
                self.status,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                text,
            )
                .into_response(),
            Body::Empty => self.status.into_response(),
        };
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// `value` as JSON text with `ok` first, as Slack and Telegram write it: a client that reads
/// only the start of a long answer (one repeating a long message) still learns whether the
/// call worked. serde_json alone would order the keys alphabetically.
fn ok_first(value: &Value) -> String {
    let Value::Object(map) = value else {
        return value.to_string();
    };
    let Some(ok) = map.get("ok") else {
        return value.to_string();
    };
    let mut rest = map.clone();
    rest.remove("ok");
    if rest.is_empty() {
        return format!("{{\"ok\":{ok}}}");
    }
    let rest = Value::Object(rest).to_string();
    format!("{{\"ok\":{ok},{}", rest.strip_prefix('{').unwrap_or(&rest))
}

/// Whole seconds for a `Retry-After` header or an integer `retry_after`: rounded up, so a
/// client that waits exactly that long is never early.
pub(crate) fn whole_seconds(duration: std::time::Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ok_comes_first_as_slack_and_telegram_write_it() {
        let answer = serde_json::json!({"channel": "C1", "message": {"ok": 1}, "ok": true});
        let text = ok_first(&answer);
        assert_eq!(text, r#"{"ok":true,"channel":"C1","message":{"ok":1}}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), answer);
        assert_eq!(
            ok_first(&serde_json::json!({"ok": false})),
            r#"{"ok":false}"#
        );
        assert_eq!(ok_first(&serde_json::json!({"id": 1})), r#"{"id":1}"#);
    }

    #[test]
    fn retry_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
