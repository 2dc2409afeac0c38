//! Validation of what Klaxon sends to Slack, Discord, Telegram and Notion (and of what the
//! chat sandbox answers) against schemas extracted from the official descriptions into
//! `tests/fixtures/{slack,discord,telegram,notion}/schemas.json` by
//! `tools/extract-chat-schemas.py`. Strict about unknown properties, like `openapi`.
//!
//! One adjustment on top of [`Schemas`]: it closes every object schema that lists its
//! properties, which would also close a `$defs` entry used as one part of an `allOf` (Discord's
//! `ErrorResponse` is `allOf: [Error, {errors}]`) and so refuse the other part's fields. Such
//! references are inlined into their `allOf` first, where `Schemas` leaves them open.

use std::sync::LazyLock;

use klaxon::sandbox::chat::Service;
use serde_json::Value;

use super::openapi::Schemas;

fn load(json: &str) -> Schemas {
    let mut schemas: Value = serde_json::from_str(json).expect("the schema fixture is JSON");
    if let Some(named) = schemas.as_object_mut() {
        for schema in named.values_mut() {
            let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
            inline_all_of_refs(schema, &defs);
        }
    }
    Schemas::parse(&schemas.to_string(), true)
}

fn inline_all_of_refs(node: &mut Value, defs: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get_mut("allOf") {
                for part in parts.iter_mut() {
                    let target = part
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("#/$defs/"))
                        .and_then(|name| defs.get(name));
                    if let Some(target) = target {
                        *part = target.clone();
                    }
                }
            }
            for child in map.values_mut() {
                inline_all_of_refs(child, defs);
            }
        }
        Value::Array(items) => {
            for item in items {
                inline_all_of_refs(item, defs);
            }
        }
        _ => {}
    }
}

static SLACK: LazyLock<Schemas> =
    LazyLock::new(|| load(include_str!("../../fixtures/slack/schemas.json")));
static DISCORD: LazyLock<Schemas> =
    LazyLock::new(|| load(include_str!("../../fixtures/discord/schemas.json")));
static TELEGRAM: LazyLock<Schemas> =
    LazyLock::new(|| load(include_str!("../../fixtures/telegram/schemas.json")));
static NOTION: LazyLock<Schemas> =
    LazyLock::new(|| load(include_str!("../../fixtures/notion/schemas.json")));

fn schemas(service: Service) -> &'static Schemas {
    match service {
        Service::Slack => &SLACK,
        Service::Discord => &DISCORD,
        Service::Telegram => &TELEGRAM,
        Service::Notion => &NOTION,
    }
}

/// Checks `instance` against one of the service's schemas; returns every violation.
///
/// - Slack: `ChatPostMessageRequest`, `IncomingWebhookRequest`, `ChatPostMessageResponse`,
///   `ChatPostMessageError`.
/// - Discord: `ExecuteWebhookRequest`, `RichEmbed`, `MessageAllowedMentionsRequest`,
///   `MessageResponse`, `ErrorResponse`, `RatelimitedResponse`.
/// - Telegram: `sendMessage`, `Message`, `SendMessageResponse`, `ErrorResponse`.
/// - Notion: `CreatePageParameters` (hand-translated from pages.ts), `ErrorResponse`.
pub fn validate(service: Service, schema: &str, instance: &Value) -> Result<(), Vec<String>> {
    schemas(service).validate(schema, instance)
}

/// Panics with every violation unless `instance` is a valid `schema` of `service`.
pub fn assert_valid(service: Service, schema: &str, instance: &Value) {
    schemas(service).assert_valid(schema, instance)
}
