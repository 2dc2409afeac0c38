//! Why the simulated Merge API refused a request, and the body it answers with.
//!
//! Merge's API is Django REST Framework underneath: authentication failures, unknown objects
//! and bad query parameters answer `{"detail": "…"}`. Refused writes answer the write
//! envelope with `errors[]` filled with Problems (docs/merge.md §1.5), since that is what a
//! client must inspect whatever the status.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// One Merge `Problem` (docs/merge.md §1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub title: &'static str,
    pub detail: String,
    pub problem_type: &'static str,
    /// A JSON pointer into the request body, e.g. `/model/status`.
    pub pointer: Option<String>,
}

impl Problem {
    pub(crate) fn field(
        title: &'static str,
        problem_type: &'static str,
        pointer: &str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            title,
            detail: detail.into(),
            problem_type,
            pointer: Some(pointer.to_owned()),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut problem = json!({
            "title": self.title,
            "detail": self.detail,
            "problem_type": self.problem_type,
            "block_merge_link": false,
        });
        if let Some(pointer) = &self.pointer {
            problem["source"] = json!({ "pointer": pointer });
        }
        problem
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    #[error("Authentication credentials were not provided.")]
    NoApiKey,
    #[error("Missing X-Account-Token header.")]
    NoAccountToken,
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    BadQuery(String),
    /// A write Merge refused: answered as the write envelope with these `errors[]`.
    #[error("the write was refused")]
    Write(Vec<Problem>),
}

impl Rejection {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Rejection::NoApiKey | Rejection::NoAccountToken => StatusCode::UNAUTHORIZED,
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::BadQuery(_) | Rejection::Write(_) => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn body(&self) -> Value {
        match self {
            Rejection::Write(problems) => json!({
                "model": null,
                "warnings": [],
                "errors": problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
            }),
            other => json!({ "detail": other.to_string() }),
        }
    }

    pub(crate) fn write(problem: Problem) -> Rejection {
        Rejection::Write(vec![problem])
    }
}
