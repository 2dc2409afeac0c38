//! Strict validation against schemas extracted from an OpenAPI document (the Telnyx and Merge
//! fixtures under `tests/fixtures/`); `telnyx_spec` and `merge_spec` are its two users.
//!
//! Stricter than the specs: they allow unknown properties, which would let a misspelt field
//! pass silently, so objects that list their properties are checked with
//! `additionalProperties: false`.

use serde_json::Value;

/// A fixture of named schemas.
pub struct Schemas {
    schemas: Value,
    /// Also assert `format` (uuid, date-time …), which JSON Schema only annotates by default.
    check_formats: bool,
}

impl Schemas {
    pub fn parse(json: &str, check_formats: bool) -> Schemas {
        Schemas {
            schemas: serde_json::from_str(json).expect("the schema fixture is JSON"),
            check_formats,
        }
    }

    /// Checks `instance` against the named schema; returns every violation.
    pub fn validate(&self, schema: &str, instance: &Value) -> Result<(), Vec<String>> {
        let mut schema = self
            .schemas
            .get(schema)
            .unwrap_or_else(|| panic!("no schema {schema} in the fixture"))
            .clone();
        forbid_unknown_properties(&mut schema, false);
        let validator = jsonschema::options()
            .should_validate_formats(self.check_formats)
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
    pub fn assert_valid(&self, schema: &str, instance: &Value) {
        if let Err(errors) = self.validate(schema, instance) {
            panic!(
                "{schema} is invalid:\n  {}\n{instance:#}",
                errors.join("\n  ")
            );
        }
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
