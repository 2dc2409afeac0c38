//! [`MergeError`]: every way a Merge call can fail, as variants a caller branches on.
//!
//! No variant holds a key, an account token or a request body, so `Display` and `Debug` are
//! safe to log. Error bodies from Merge have no schema (docs/merge.md §1.4) and may echo customer
//! data, so they are kept out of `Display`; [`MergeError::Rejected`] holds a short prefix for
//! diagnosis by whoever chooses to look.

use std::time::Duration;

use reqwest::StatusCode;

use super::model::{DISABLED_MODEL_WRITE, Problem};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The configuration cannot work; raised by [`super::MergeClient::new`] only.
    #[error("Merge setting `{field}` {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    #[error("cannot build the Merge HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// No token for this linked account and no default token.
    #[error("no Merge account token for linked account {linked_account_id}")]
    UnknownAccount { linked_account_id: String },
    /// The request cannot be built (an id that is empty or a dot segment).
    #[error("{operation}: {reason}")]
    InvalidRequest {
        operation: &'static str,
        reason: &'static str,
    },
    /// No answer within the attempt's deadline. For a POST the write may have happened.
    #[error("{operation}: Merge did not answer within {after:?}")]
    Timeout {
        operation: &'static str,
        after: Duration,
    },
    /// Connection or protocol failure. For a POST the write may have happened unless
    /// [`MergeError::is_connect`] says the request never left.
    #[error("{operation}: cannot reach Merge")]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// 429, still limited after the retries (or asked to wait longer than the policy allows).
    #[error("{operation}: rate limited by Merge (retry after {retry_after:?})")]
    RateLimited {
        operation: &'static str,
        retry_after: Option<Duration>,
    },
    /// 401/403: the API key or the account token is wrong. A configuration alert.
    #[error("{operation}: Merge refused the credentials ({status})")]
    Unauthorized {
        operation: &'static str,
        status: StatusCode,
    },
    /// 404: the object, or this endpoint for this integration, does not exist.
    #[error("{operation}: not found at Merge")]
    NotFound { operation: &'static str },
    /// 408, 409 or 5xx, still failing after the retries.
    #[error("{operation}: Merge is unavailable ({status})")]
    Unavailable {
        operation: &'static str,
        status: StatusCode,
    },
    /// Any other status: the request or the third party's data is refused. Not retried.
    #[error("{operation}: Merge rejected the request ({status})")]
    Rejected {
        operation: &'static str,
        status: StatusCode,
        /// The first bytes of the body, as text.
        body: String,
    },
    /// The write came back with a non-empty `errors[]` (docs/merge.md §1.5), whatever the status.
    #[error("{operation}: Merge refused the write ({})", problem_types(errors))]
    WriteRejected {
        operation: &'static str,
        errors: Vec<Problem>,
        warnings: Vec<Problem>,
    },
    /// A 2xx whose body is not what the spec promises.
    #[error("{operation}: unexpected response from Merge")]
    InvalidResponse {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A list kept returning pages past the limit, or repeated a cursor.
    #[error("{operation}: pagination did not end")]
    EndlessPagination { operation: &'static str },
}

/// `ERROR, DISABLED_MODEL_WRITE`: the problems' types, for messages and attempt records.
pub(crate) fn problem_types(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.problem_type.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl MergeError {
    /// Whether the same request may succeed later: transport failures, timeouts, 429, 408,
    /// 409 and 5xx (docs/merge.md §1.4).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MergeError::Timeout { .. }
                | MergeError::Transport { .. }
                | MergeError::RateLimited { .. }
                | MergeError::Unavailable { .. }
        )
    }

    /// Whether the request certainly never reached Merge (connection refused or not made).
    pub fn is_connect(&self) -> bool {
        matches!(self, MergeError::Transport { source, .. } if source.is_connect())
    }

    /// A write refused because writes of this model are off in the Merge dashboard.
    pub fn is_disabled_write(&self) -> bool {
        matches!(self, MergeError::WriteRejected { errors, .. }
            if errors.iter().any(|p| p.problem_type == DISABLED_MODEL_WRITE))
    }
}
