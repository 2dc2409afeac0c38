//! Validation of the bodies Klaxon sends to Merge against the official OpenAPI schemas,
//! extracted to `tests/fixtures/merge/schemas.json` by `tools/extract-merge-schemas.py`.
//!
//! Stricter than the spec in two ways: objects that list their properties are checked with
//! `additionalProperties: false`, so a misspelt field (`is_privat`) cannot pass silently (Merge
//! itself would only warn and drop it); and `format` is asserted, so a ticket reference that is
//! not a uuid is caught here rather than by Merge.

use std::sync::LazyLock;

use serde_json::Value;

static SCHEMAS: LazyLock<Value> = LazyLock::new(|| {
    let text = include_str!("../../fixtures/merge/schemas.json");
    serde_json::from_str(text).expect("the schema fixture is JSON")
});

/// Checks `instance` against the named schema (`PatchedTicketEndpointRequest`,
/// `CommentEndpointRequest`, `NoteEndpointRequest`); returns every violation.
pub fn validate(schema: &str, instance: &Value) -> Result<(), Vec<String>> {
    let mut schema = SCHEMAS
        .get(schema)
        .unwrap_or_else(|| panic!("no schema {schema} in the fixture"))
        .clone();
    forbid_unknown_properties(&mut schema, false);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Panics with every violation unless `instance` is a valid `schema`.
pub fn assert_valid(schema: &str, instance: &Value) {
    if let Err(errors) = validate(schema, instance) {
        panic!(
            "{schema} is invalid:\n  {}\n{instance:#}",
            errors.join("\n  ")
        );
    }
}

fn forbid_unknown_properties(node: &mut Value, in_composition: bool) {
    match node {
        Value::Object(map) => {
            let composed = ["allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !in_composition
                && !composed
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                let composition = matches!(key.as_str(), "allOf" | "anyOf" | "oneOf");
                forbid_unknown_properties(
                    child,
                    composition || (in_composition && key != "properties"),
                );
            }
        }
        Value::Array(items) => {
            for item in items {
                forbid_unknown_properties(item, in_composition);
            }
        }
        _ => {}
    }
}
