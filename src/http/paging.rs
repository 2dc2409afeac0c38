//! The `limit` and `after` query parameters shared by every list endpoint.

use super::ApiError;
use crate::store::Cursor;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn limit(text: Option<&str>) -> Result<usize, ApiError> {
    match text {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("`limit` must be a whole number from 1 to {MAX_LIMIT}, got {text:?}"),
            )),
        },
    }
}

/// `after`: a cursor this API handed out.
pub fn after(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|()| {
            ApiError::bad_request(
                "invalid_cursor",
                format!("`after` is not a cursor from this API: {text:?}"),
            )
        }),
    }
}
