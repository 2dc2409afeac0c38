//! Validation of the bodies Klaxon sends to Merge against the official OpenAPI schemas,
//! extracted to `tests/fixtures/merge/schemas.json` by `tools/extract-merge-schemas.py`.
//!
//! Strict about unknown properties (see `openapi`), so a misspelt field (`is_privat`) cannot
//! pass silently (Merge itself would only warn and drop it); and `format` is asserted, so a
//! ticket reference that is not a uuid is caught here rather than by Merge.

use std::sync::LazyLock;

use serde_json::Value;

use super::openapi::Schemas;

static SCHEMAS: LazyLock<Schemas> =
    LazyLock::new(|| Schemas::parse(include_str!("../../fixtures/merge/schemas.json"), true));

/// Checks `instance` against the named schema (`PatchedTicketEndpointRequest`,
/// `CommentEndpointRequest`, `NoteEndpointRequest`); returns every violation.
pub fn validate(schema: &str, instance: &Value) -> Result<(), Vec<String>> {
    SCHEMAS.validate(schema, instance)
}

/// Panics with every violation unless `instance` is a valid `schema`.
pub fn assert_valid(schema: &str, instance: &Value) {
    SCHEMAS.assert_valid(schema, instance)
}
