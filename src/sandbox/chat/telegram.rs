//! The simulated Telegram Bot API: `POST /bot{token}/sendMessage` with a JSON body, under the
//! `/telegram` prefix.
//!
//! Fields and types are those of `sendMessage` in telegram-bot-api.json (scraped from the
//! Bot API page). Answers (Bot API, "Making requests"): `{"ok":true,"result":Message}`, or
//! `{"ok":false,"error_code","description"}`: 401 `Unauthorized` for an unknown token, 404
//! `Not Found` for another method, 400 `Bad Request: …` (`chat_id is empty`, `chat not
//! found`, `message text is empty`, `message is too long`, `unsupported parse_mode`, `can't
//! parse entities: …`). The text is parsed per `parse_mode` (`telegram_html.rs`,
//! `telegram_markdown.rs`) and the answer carries the plain text and its entities, as
//! Telegram's does. Fields the Bot API no longer lists, such as `disable_web_page_preview`
//! (replaced by `link_preview_options` in Bot API 7.0), are refused.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::api::{Accepted, Incoming, Outcome};
use super::fields::{Checked, Kind, Obj, Path, Problem, Type};
use super::reply::Reply;
use super::state::Inner;
use super::{Service, TelegramChat, telegram_html, telegram_markdown};

/// `sendMessage`'s fields in telegram-bot-api.json.
const SEND_MESSAGE_FIELDS: &[&str] = &[
    "allow_paid_broadcast",
    "business_connection_id",
    "chat_id",
    "direct_messages_topic_id",
    "disable_notification",
    "entities",
    "link_preview_options",
    "message_effect_id",
    "message_thread_id",
    "parse_mode",
    "protect_content",
    "reply_markup",
    "reply_parameters",
    "suggested_post_parameters",
    "text",
];

/// "1-4096 characters after entities parsing" (sendMessage, `text`).
const MAX_TEXT_CHARS: usize = 4096;

/// `MessageEntity.type`'s values in telegram-bot-api.json.
const ENTITY_TYPES: &[&str] = &[
    "mention",
    "hashtag",
    "cashtag",
    "bot_command",
    "url",
    "email",
    "phone_number",
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "blockquote",
    "expandable_blockquote",
    "code",
    "pre",
    "text_link",
    "text_mention",
    "custom_emoji",
    "date_time",
];

/// One formatting entity, offsets and lengths in UTF-16 code units (`MessageEntity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entity {
    pub kind: &'static str,
    pub offset: usize,
    pub length: usize,
    pub url: Option<String>,
    pub language: Option<String>,
}

/// A text after entity parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub text: String,
    pub entities: Vec<Entity>,
}

pub(crate) fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

pub(crate) fn handle(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    let Some((token, method)) = incoming
        .path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Outcome::refused(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if !inner
        .config
        .telegram
        .tokens
        .iter()
        .any(|t| t.expose() == token)
    {
        return Outcome::refused(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    // Bot API method names are case-insensitive.
    if !method.eq_ignore_ascii_case("sendMessage") {
        return Outcome::refused(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let bot_id: i64 = token
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    send_message(inner, incoming, bot_id)
}

/// `/bot123456:sandbox/sendMessage` → `/bot[redacted]/sendMessage`.
pub(crate) fn redacted_path(path: &str) -> String {
    match path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((_token, method)) => format!("/bot[redacted]/{method}"),
        None => path.to_owned(),
    }
}

fn error(status: StatusCode, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"ok": false, "error_code": status.as_u16(), "description": description}),
    )
}

fn bad_request(description: impl AsRef<str>) -> Outcome {
    Outcome::refused(error(
        StatusCode::BAD_REQUEST,
        &format!("Bad Request: {}", description.as_ref()),
    ))
}

fn send_message(inner: &Inner, incoming: &Incoming<'_>, bot_id: i64) -> Outcome {
    if incoming.method != Method::POST || !incoming.is_json() {
        // Telegram also takes GET, query strings, forms and multipart; the sandbox does not.
        return bad_request("the sandbox accepts sendMessage as a POST with a JSON body only");
    }
    let Ok(body) = serde_json::from_slice::<Value>(incoming.body) else {
        return bad_request("can't parse JSON object");
    };
    let root = Path::default();
    let fields = match Obj::new(&body, &root, SEND_MESSAGE_FIELDS) {
        Ok(fields) => fields,
        Err(problem) => return bad_request(describe(&problem)),
    };
    let chat_id = match fields.get("chat_id") {
        None => return bad_request("chat_id is empty"),
        Some(id) => id,
    };
    let text = match fields.get("text") {
        None => return bad_request("message text is empty"),
        Some(Value::String(text)) => text,
        Some(other) => {
            return bad_request(describe(&Problem::new(
                fields.at("text"),
                Kind::WrongType {
                    expected: Type::String,
                    found: other.clone(),
                },
            )));
        }
    };
    if let Err(problem) = check_options(&fields) {
        return bad_request(describe(&problem));
    }
    let parsed = match fields.get("parse_mode").and_then(Value::as_str) {
        None => Ok(Parsed {
            text: text.clone(),
            entities: Vec::new(),
        }),
        Some("HTML") => telegram_html::parse(text),
        Some("MarkdownV2") => telegram_markdown::parse_v2(text),
        Some("Markdown") => telegram_markdown::parse_legacy(text),
        Some(_) => return bad_request("unsupported parse_mode"),
    };
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => return bad_request(format!("can't parse entities: {reason}")),
    };
    // Telegram trims the text before measuring it.
    let trimmed = parsed.text.trim();
    if trimmed.is_empty() {
        return bad_request("message text is empty");
    }
    if trimmed.chars().count() > MAX_TEXT_CHARS {
        return bad_request("message is too long");
    }
    let Some(chat) = find_chat(&inner.config.telegram.chats, chat_id) else {
        return bad_request("chat not found");
    };
    let message_id = inner.next_sequence(Service::Telegram);
    let mut entities: Vec<Value> = parsed.entities.iter().map(entity_json).collect();
    if let Some(Value::Array(given)) = fields.get("entities") {
        entities.extend(given.iter().cloned());
    }
    let mut message = json!({
        "message_id": message_id,
        "from": {
            "id": bot_id,
            "is_bot": true,
            "first_name": "Klaxon sandbox",
            "username": "klaxon_sandbox_bot",
        },
        "chat": chat_json(chat),
        "date": SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        "text": parsed.text,
    });
    if !entities.is_empty() {
        message["entities"] = Value::Array(entities);
    }
    Outcome {
        reply: Reply::json(StatusCode::OK, json!({"ok": true, "result": message})),
        accepted: Some(Accepted {
            endpoint: "sendMessage",
            target: chat.id.to_string(),
            body,
            id: message_id.to_string(),
        }),
    }
}

/// By numeric id (a JSON integer, or a string of one) or by `@username`.
fn find_chat<'a>(chats: &'a [TelegramChat], wanted: &Value) -> Option<&'a TelegramChat> {
    let id = match wanted {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    chats.iter().find(|chat| match (id, wanted.as_str()) {
        (Some(id), _) => chat.id == id,
        (None, Some(name)) => chat.username.as_deref() == Some(name),
        _ => false,
    })
}

fn chat_json(chat: &TelegramChat) -> Value {
    let mut out = if chat.id > 0 {
        json!({"id": chat.id, "type": "private", "first_name": chat.title})
    } else {
        json!({"id": chat.id, "type": "supergroup", "title": chat.title})
    };
    if let Some(username) = &chat.username {
        out["username"] = json!(username.trim_start_matches('@'));
    }
    out
}

fn entity_json(entity: &Entity) -> Value {
    let mut out = json!({
        "type": entity.kind,
        "offset": entity.offset,
        "length": entity.length,
    });
    if let Some(url) = &entity.url {
        out["url"] = json!(url);
    }
    if let Some(language) = &entity.language {
        out["language"] = json!(language);
    }
    out
}

/// The optional fields, by their types in telegram-bot-api.json.
fn check_options(f: &Obj<'_>) -> Checked<()> {
    match f.get("chat_id") {
        Some(Value::String(_)) | None => {}
        Some(Value::Number(n)) if n.is_i64() => {}
        Some(other) => {
            return Err(Problem::new(
                f.at("chat_id"),
                Kind::WrongType {
                    expected: Type::IntegerOrString,
                    found: other.clone(),
                },
            ));
        }
    }
    f.str("parse_mode")?;
    f.str("business_connection_id")?;
    f.str("message_effect_id")?;
    f.int("message_thread_id")?;
    f.int("direct_messages_topic_id")?;
    for flag in [
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
    ] {
        f.bool(flag)?;
    }
    if f.has("parse_mode") && f.has("entities") {
        return Err(Problem::invalid(
            f.at("entities"),
            "entities and parse_mode are alternatives; send one (the sandbox refuses both)",
        ));
    }
    if let Some(entities) = f.array("entities")? {
        for (index, entity) in entities.iter().enumerate() {
            let path = f.at("entities").index(index);
            let e = Obj::new(
                entity,
                &path,
                &[
                    "type",
                    "offset",
                    "length",
                    "url",
                    "user",
                    "language",
                    "custom_emoji_id",
                    "unix_time",
                    "date_time_format",
                ],
            )?;
            if e.one_of("type", ENTITY_TYPES)?.is_none() {
                return Err(Problem::new(e.at("type"), Kind::Missing));
            }
            for required in ["offset", "length"] {
                if e.int_in(required, 0, i64::MAX)?.is_none() {
                    return Err(Problem::new(e.at(required), Kind::Missing));
                }
            }
            e.str("url")?;
            e.str("language")?;
        }
    }
    if let Some(options) = f.get("link_preview_options") {
        let path = f.at("link_preview_options");
        let o = Obj::new(
            options,
            &path,
            &[
                "is_disabled",
                "url",
                "prefer_small_media",
                "prefer_large_media",
                "show_above_text",
            ],
        )?;
        for flag in [
            "is_disabled",
            "prefer_small_media",
            "prefer_large_media",
            "show_above_text",
        ] {
            o.bool(flag)?;
        }
        o.str("url")?;
    }
    if let Some(reply) = f.get("reply_parameters") {
        let path = f.at("reply_parameters");
        let r = Obj::new(
            reply,
            &path,
            &[
                "message_id",
                "chat_id",
                "allow_sending_without_reply",
                "quote",
                "quote_parse_mode",
                "quote_entities",
                "quote_position",
                "checklist_task_id",
                "poll_option_id",
            ],
        )?;
        if r.int("message_id")?.is_none() {
            return Err(Problem::new(r.at("message_id"), Kind::Missing));
        }
        r.bool("allow_sending_without_reply")?;
        r.str("quote")?;
    }
    if let Some(markup) = f.get("reply_markup") {
        inline_keyboard(markup, &f.at("reply_markup"))?;
    }
    if f.has("suggested_post_parameters") {
        return Err(Problem::invalid(
            f.at("suggested_post_parameters"),
            "is not simulated by the sandbox",
        ));
    }
    Ok(())
}

/// `InlineKeyboardMarkup` with URL or callback buttons; the reply keyboards are not
/// simulated (a channel or group alert has no use for them).
fn inline_keyboard(markup: &Value, path: &Path) -> Checked<()> {
    let m = Obj::new(markup, path, &["inline_keyboard"])?;
    let rows = m
        .array("inline_keyboard")?
        .ok_or_else(|| Problem::new(m.at("inline_keyboard"), Kind::Missing))?;
    for (r, row) in rows.iter().enumerate() {
        let row_path = m.at("inline_keyboard").index(r);
        let buttons = row.as_array().ok_or_else(|| {
            Problem::new(
                row_path.clone(),
                Kind::WrongType {
                    expected: Type::Array,
                    found: row.clone(),
                },
            )
        })?;
        for (b, button) in buttons.iter().enumerate() {
            let at = row_path.index(b);
            let button = Obj::new(button, &at, &["text", "url", "callback_data"])?;
            button.required_str("text")?;
            let url = button.str("url")?;
            let data = button.str("callback_data")?;
            if url.is_some() == data.is_some() {
                return Err(Problem::invalid(
                    at,
                    "a button needs exactly one of url and callback_data",
                ));
            }
            if data.is_some_and(|d| !(1..=64).contains(&d.len())) {
                return Err(Problem::invalid(
                    button.at("callback_data"),
                    "BUTTON_DATA_INVALID: callback_data must be 1-64 bytes",
                ));
            }
        }
    }
    Ok(())
}

/// A field problem as a `Bad Request:` description.
fn describe(problem: &Problem) -> String {
    let field = problem.path.dotted();
    match &problem.kind {
        Kind::Unknown => format!(
            "unknown parameter \"{field}\" (the Bot API does not list it; Telegram ignores it, the sandbox refuses it)"
        ),
        Kind::Missing => format!("parameter \"{field}\" is required"),
        Kind::WrongType { expected, .. } => {
            format!(
                "field \"{field}\" must be of type {}",
                telegram_type(*expected)
            )
        }
        _ => format!("field \"{field}\" {}", problem.reason()),
    }
}

/// Telegram's own type names.
fn telegram_type(kind: Type) -> &'static str {
    match kind {
        Type::String => "String",
        Type::Integer => "Integer",
        Type::Number => "Float",
        Type::Boolean => "Boolean",
        Type::Array => "Array",
        Type::Object => "Object",
        Type::IntegerOrString => "Integer or String",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_found_by_id_or_username() {
        let chats = [TelegramChat {
            id: -1001,
            username: Some("@alerts".into()),
            title: "Alerts".into(),
        }];
        assert!(find_chat(&chats, &json!(-1001)).is_some());
        assert!(find_chat(&chats, &json!("-1001")).is_some());
        assert!(find_chat(&chats, &json!("@alerts")).is_some());
        assert!(find_chat(&chats, &json!("@other")).is_none());
        assert!(find_chat(&chats, &json!(42)).is_none());
    }

    #[test]
    fn tokens_are_redacted() {
        assert_eq!(
            redacted_path("/bot123456:sandbox/sendMessage"),
            "/bot[redacted]/sendMessage"
        );
    }

    #[test]
    fn problems_read_like_telegram() {
        let unknown = Problem::new(
            Path::default().key("disable_web_page_preview"),
            Kind::Unknown,
        );
        assert!(describe(&unknown).starts_with("unknown parameter \"disable_web_page_preview\""));
        let typed = Problem::new(
            Path::default().key("disable_notification"),
            Kind::WrongType {
                expected: Type::Boolean,
                found: json!("yes"),
            },
        );
        assert_eq!(
            describe(&typed),
            "field \"disable_notification\" must be of type Boolean"
        );
    }
}
