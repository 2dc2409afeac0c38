//! Validation of what Klaxon sends to Telnyx (and what the sandbox carrier sends back) against
//! the official OpenAPI schemas, extracted to `tests/fixtures/telnyx/schemas.json` by
//! `tools/extract-telnyx-schemas.py`. Strict about unknown properties (see `openapi`).

use std::sync::LazyLock;

use serde_json::Value;

use super::openapi::Schemas;

static SCHEMAS: LazyLock<Schemas> =
    LazyLock::new(|| Schemas::parse(include_str!("../../fixtures/telnyx/schemas.json"), false));

/// Checks `instance` against the named schema (`CallRequest`, `SpeakRequest`, …); returns
/// every violation.
pub fn validate(schema: &str, instance: &Value) -> Result<(), Vec<String>> {
    SCHEMAS.validate(schema, instance)
}

/// Panics with every violation unless `instance` is a valid `schema`.
pub fn assert_valid(schema: &str, instance: &Value) {
    SCHEMAS.assert_valid(schema, instance)
}
