//! Why the simulated Telnyx API refused a request, and the body it answers with: Telnyx's
//! `{"errors":[{code, title, detail, source}]}` (docs/telnyx.md §1.1), `code` a numeric string.
//!
//! The codes are the ones a Klaxon client branches on (the table of docs/telnyx.md §1.1). Where
//! Telnyx documents no code of its own (an unparsable body, an unknown route) the closest
//! documented one is used, and the HTTP status tells the two apart.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// One refused request. Field names are the JSON names of the offending request fields and
/// become `source.pointer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    #[error("the request carries no `Authorization: Bearer <key>` header")]
    Unauthorized,
    #[error("no such resource: {method} {path}")]
    NotFound { method: String, path: String },
    #[error("the body is not a JSON object: {0}")]
    Malformed(String),
    #[error("`{field}` is required")]
    Missing { field: String },
    #[error("`{field}` is not a parameter of this request")]
    UnknownParameter { field: String },
    #[error("`{field}` {reason}")]
    Invalid { field: String, reason: String },
    #[error("`{field}` {reason}")]
    OutOfRange { field: String, reason: String },
    #[error("`{field}` must be a +E.164 number{sip}", sip = if *.allow_sip { " or a SIP URI" } else { "" })]
    NotE164 { field: String, allow_sip: bool },
    #[error("the connection has no webhook URL and the dial gave none")]
    NoWebhookUrl,
    #[error("the call_control_id provided was not valid")]
    UnknownCall { field: String },
    #[error("this call is no longer active and can't receive commands")]
    CallEnded { field: String },
    #[error("this call can't receive this command because it has not been answered yet")]
    NotAnswered,
    #[error("transcription is already active on this call")]
    TranscriptionActive,
    #[error("AI Assistant cannot be started more than once")]
    AiGatherActive,
}

impl Rejection {
    pub(crate) fn missing(field: &str) -> Rejection {
        Rejection::Missing {
            field: field.to_owned(),
        }
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn out_of_range(field: &str, reason: impl Into<String>) -> Rejection {
        Rejection::OutOfRange {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::NotFound { .. } => StatusCode::NOT_FOUND,
            Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Telnyx's error code: a numeric string.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Rejection::Unauthorized => "10009",
            Rejection::NotFound { .. } => "10005",
            // Telnyx's generic "not well-formed" code; the 400 status sets it apart from the
            // 422 meaning "invalid connection_id".
            Rejection::Malformed(_) => "10015",
            Rejection::Missing { .. } => "10004",
            Rejection::UnknownParameter { .. } | Rejection::Invalid { .. } => "10032",
            Rejection::OutOfRange { .. } => "10033",
            Rejection::NotE164 { .. } => "10016",
            Rejection::NoWebhookUrl => "10015",
            Rejection::UnknownCall { .. } => "90015",
            Rejection::CallEnded { .. } => "90018",
            Rejection::NotAnswered => "90034",
            Rejection::TranscriptionActive => "90054",
            Rejection::AiGatherActive => "90061",
        }
    }

    pub(crate) fn title(&self) -> &'static str {
        match self {
            Rejection::Unauthorized => "Authentication failed",
            Rejection::NotFound { .. } => "Resource not found",
            Rejection::Malformed(_) => "Bad Request",
            Rejection::Missing { .. } => "Missing required parameter",
            Rejection::UnknownParameter { .. } => "Unknown parameter",
            Rejection::Invalid { .. } => "Invalid value",
            Rejection::OutOfRange { .. } => "Value out of range",
            Rejection::NotE164 { .. } => "Invalid phone number",
            Rejection::NoWebhookUrl => "Invalid value for connection_id (Call Control App ID)",
            Rejection::UnknownCall { .. } => "Invalid Call Control ID",
            Rejection::CallEnded { .. } => "Call has already ended",
            Rejection::NotAnswered => "Call not answered yet",
            Rejection::TranscriptionActive => "Transcription is already in progress",
            Rejection::AiGatherActive => "AI Assistant is already in progress",
        }
    }

    /// The JSON pointer of the offending field, if one field is to blame.
    fn pointer(&self) -> Option<String> {
        match self {
            Rejection::Missing { field }
            | Rejection::UnknownParameter { field }
            | Rejection::Invalid { field, .. }
            | Rejection::OutOfRange { field, .. }
            | Rejection::NotE164 { field, .. }
            | Rejection::UnknownCall { field }
            | Rejection::CallEnded { field } => Some(format!("/{field}")),
            Rejection::NoWebhookUrl => Some("/connection_id".to_owned()),
            _ => None,
        }
    }

    /// The response body, exactly in the shape of docs/telnyx.md §1.1.
    pub(crate) fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code()));
        error.insert("title".into(), json!(self.title()));
        error.insert("detail".into(), json!(self.to_string()));
        if let Some(pointer) = self.pointer() {
            error.insert("source".into(), json!({ "pointer": pointer }));
        }
        error.insert(
            "meta".into(),
            json!({ "url": format!("https://developers.telnyx.com/docs/overview/errors/{}", self.code()) }),
        );
        json!({ "errors": [error] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_telnyx_shape() {
        let body = Rejection::CallEnded {
            field: "call_control_id".into(),
        }
        .body();
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
        let error = &body["errors"][0];
        assert_eq!(error["code"], "90018");
        assert_eq!(error["title"], "Call has already ended");
        assert_eq!(
            error["detail"],
            "this call is no longer active and can't receive commands"
        );
        assert_eq!(error["source"]["pointer"], "/call_control_id");
        assert!(
            error["meta"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("90018"))
        );
    }

    #[test]
    fn statuses_follow_telnyx() {
        assert_eq!(Rejection::Unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            Rejection::Malformed("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Rejection::NotE164 {
                field: "to".into(),
                allow_sip: true
            }
            .status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            Rejection::NotE164 {
                field: "from".into(),
                allow_sip: false
            }
            .to_string(),
            "`from` must be a +E.164 number"
        );
    }
}
