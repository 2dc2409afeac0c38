//! The simulated Discord: `POST /api/v10/webhooks/{webhook.id}/{webhook.token}` (execute
//! webhook, `?wait=true` for the created message), under the `/discord` prefix. The body is
//! checked in `discord_embeds.rs`.
//!
//! Answers (discord-openapi.json `execute_webhook`; docs "Opcodes and Status Codes"): 204, or
//! 200 with the message (`MessageResponse`) when `wait=true`; 400 `{"code":50035,"message":
//! "Invalid Form Body","errors":{…}}` whose `errors` nest like the body, down to
//! `{"_errors":[{"code","message"}]}`; 400 `50006` for an empty message; 400 `50109` for a
//! body that is not JSON; 404 `10015 Unknown Webhook`; 401 `50027 Invalid Webhook Token`.
//! Every answer carries the `X-RateLimit-*` bucket headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api::{Accepted, Incoming, Outcome};
use super::discord_embeds::{self, Refusal, is_snowflake, plain};
use super::failure::discord_bucket;
use super::fields::{Kind, Problem, Seg, Type};
use super::reply::Reply;
use super::state::Inner;
use super::{DiscordWebhook, Service};

/// 2015-01-01T00:00:00Z, where Discord snowflakes count from.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

pub(crate) fn handle(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    let mut outcome = route(inner, incoming);
    outcome.reply = discord_bucket(outcome.reply, 4, Duration::from_secs(2));
    outcome
}

fn route(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    let target = incoming
        .path
        .strip_prefix("/api/v10/webhooks/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, token)| !token.contains('/'));
    match target {
        Some((id, token)) if incoming.method == Method::POST => execute(inner, incoming, id, token),
        _ => Outcome::refused(error(StatusCode::NOT_FOUND, 0, "404: Not Found")),
    }
}

/// `/api/v10/webhooks/1/sandbox` → `/api/v10/webhooks/1/[redacted]`.
pub(crate) fn redacted_path(path: &str) -> String {
    match path.strip_prefix("/api/v10/webhooks/") {
        Some(rest) => match rest.split_once('/') {
            Some((id, _token)) => format!("/api/v10/webhooks/{id}/[redacted]"),
            None => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn execute(inner: &Inner, incoming: &Incoming<'_>, id: &str, token: &str) -> Outcome {
    let Some(webhook) = inner.config.discord.webhooks.iter().find(|w| w.id == id) else {
        return Outcome::refused(error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"));
    };
    if webhook.token.expose() != token {
        return Outcome::refused(error(
            StatusCode::UNAUTHORIZED,
            50027,
            "Invalid Webhook Token",
        ));
    }
    let wait = match wait_param(incoming.query) {
        Ok(wait) => wait,
        Err(problem) => return Outcome::refused(invalid_form(&problem)),
    };
    let body = match serde_json::from_slice::<Value>(incoming.body) {
        Ok(body) if incoming.is_json() => body,
        // Form and multipart bodies are not simulated.
        _ => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                50109,
                "The request body contains invalid JSON.",
            ));
        }
    };
    match discord_embeds::check(&body) {
        Ok(()) => {}
        Err(Refusal::Empty) => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                50006,
                "Cannot send an empty message",
            ));
        }
        Err(Refusal::Form(problem)) => return Outcome::refused(invalid_form(&problem)),
    }
    let message_id = snowflake(inner);
    let reply = if wait {
        Reply::json(StatusCode::OK, created_message(webhook, &message_id, &body))
    } else {
        Reply::empty(StatusCode::NO_CONTENT)
    };
    Outcome {
        reply,
        accepted: Some(Accepted {
            endpoint: "execute-webhook",
            target: webhook.id.clone(),
            body,
            id: message_id,
        }),
    }
}

/// The query: `wait` (a boolean) and nothing else; `thread_id` and `with_components` concern
/// threads and components, which are not simulated.
fn wait_param(query: Option<&str>) -> Result<bool, Problem> {
    let mut wait = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let at = super::fields::Path::default().key(name);
        match name {
            "wait" => {
                wait = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(Problem::coded(
                            at,
                            "BOOLEAN_TYPE_CONVERT",
                            "Must be either true or false.",
                        ));
                    }
                }
            }
            _ => {
                return Err(Problem::coded(
                    at,
                    "SANDBOX_NOT_SIMULATED",
                    "The sandbox does not simulate this query parameter.",
                ));
            }
        }
    }
    Ok(wait)
}

/// A snowflake for now: milliseconds since the Discord epoch, then a 22-bit sequence.
fn snowflake(inner: &Inner) -> String {
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    let sequence = inner.next_sequence(Service::Discord) & 0x3f_ffff;
    (now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22 | sequence).to_string()
}

/// The message as `wait=true` returns it: `MessageResponse`'s required fields.
fn created_message(webhook: &DiscordWebhook, id: &str, body: &Value) -> Value {
    let username = body["username"].as_str().unwrap_or(&webhook.name);
    let author_id = if is_snowflake(&webhook.id) {
        webhook.id.clone()
    } else {
        "0".to_owned()
    };
    let embeds: Vec<Value> = body["embeds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(embed_as_returned)
        .collect();
    json!({
        "id": id,
        "type": 0,
        "content": body["content"].as_str().unwrap_or_default(),
        "channel_id": webhook.channel_id,
        "author": {
            "id": author_id,
            "username": username,
            "avatar": null,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": true,
            "global_name": null,
            "primary_guild": null,
        },
        "attachments": [],
        "embeds": embeds,
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": false,
        "tts": body["tts"].as_bool().unwrap_or(false),
        "timestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "edited_timestamp": null,
        "flags": body["flags"].as_i64().unwrap_or(0),
        "components": [],
        "webhook_id": author_id,
    })
}

/// An embed as Discord returns it: `type` filled in, nulls dropped, `inline` explicit.
fn embed_as_returned(embed: &Value) -> Value {
    let mut out: Map<String, Value> = embed
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("type".into(), json!("rich"));
    if let Some(Value::Array(fields)) = out.get_mut("fields") {
        for field in fields {
            if field.get("inline").is_none_or(Value::is_null) {
                field["inline"] = json!(false);
            }
        }
    }
    Value::Object(out)
}

/// 400 `50035 Invalid Form Body` with the problem's path nested in `errors`.
fn invalid_form(problem: &Problem) -> Reply {
    let (code, message) = wording(&problem.kind);
    let mut errors = json!({ "_errors": [{"code": code, "message": message}] });
    for seg in problem.path.0.iter().rev() {
        let key = match seg {
            Seg::Key(key) => key.clone(),
            Seg::Index(index) => index.to_string(),
        };
        let mut wrapper = Map::new();
        wrapper.insert(key, errors);
        errors = Value::Object(wrapper);
    }
    Reply::json(
        StatusCode::BAD_REQUEST,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": errors}),
    )
}

/// Discord's codes and messages for each kind of problem.
fn wording(kind: &Kind) -> (&'static str, String) {
    match kind {
        Kind::Unknown => (
            "SANDBOX_UNKNOWN_FIELD",
            "Unknown field (Discord ignores it; the sandbox refuses it).".to_owned(),
        ),
        Kind::Missing => ("BASE_TYPE_REQUIRED", "This field is required".to_owned()),
        Kind::WrongType { expected, found } => match expected {
            Type::Integer | Type::Number | Type::IntegerOrString => (
                "NUMBER_TYPE_COERCE",
                format!("Value \"{}\" is not int.", plain(found)),
            ),
            Type::Boolean => (
                "BASE_TYPE_BOOLEAN",
                "Must be either true or false.".to_owned(),
            ),
            Type::Array => ("BASE_TYPE_ARRAY", "Must be an array.".to_owned()),
            Type::Object => (
                "MODEL_TYPE_CONVERT",
                "Only dictionaries may be used in a ModelType".to_owned(),
            ),
            Type::String => (
                "BASE_TYPE_STRING",
                format!("Could not interpret \"{}\" as string.", plain(found)),
            ),
        },
        Kind::TooLong { max, .. } | Kind::TooMany { max, .. } => (
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length."),
        ),
        Kind::TooShort { min, .. } | Kind::TooFew { min, .. } => (
            "BASE_TYPE_MIN_LENGTH",
            format!("Must be {min} or more in length."),
        ),
        Kind::NotOneOf { found, .. } => (
            "ENUM_TYPE_COERCE",
            format!("Value \"{}\" is not a valid enum value.", plain(found)),
        ),
        Kind::OutOfRange { min, max, found } => {
            if found.as_i64().is_some_and(|n| n < *min) {
                (
                    "NUMBER_TYPE_MIN",
                    format!("int value should be greater than or equal to {min}."),
                )
            } else {
                (
                    "NUMBER_TYPE_MAX",
                    format!("int value should be less than or equal to {max}."),
                )
            }
        }
        Kind::Invalid(reason) => ("SANDBOX_INVALID", reason.clone()),
        Kind::Coded { code, message } => (code, message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::chat::fields::Path;
    use crate::sandbox::chat::reply::Body;

    #[test]
    fn form_errors_nest_like_the_body() {
        let problem = Problem::new(
            Path::default().key("embeds").index(0).key("title"),
            Kind::TooLong {
                max: 256,
                actual: 300,
            },
        );
        let Body::Json(body) = invalid_form(&problem).body else {
            panic!("JSON");
        };
        assert_eq!(body["code"], 50035);
        assert_eq!(
            body["errors"]["embeds"]["0"]["title"]["_errors"][0],
            json!({"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."})
        );
    }

    #[test]
    fn only_wait_is_a_known_query_parameter() {
        assert_eq!(wait_param(None), Ok(false));
        assert_eq!(wait_param(Some("wait=true")), Ok(true));
        assert!(wait_param(Some("wait=yes")).is_err());
        assert!(wait_param(Some("thread_id=1")).is_err());
    }

    #[test]
    fn tokens_are_redacted() {
        assert_eq!(
            redacted_path("/api/v10/webhooks/1/sandbox"),
            "/api/v10/webhooks/1/[redacted]"
        );
    }
}
