//! The simulated Slack: `POST /api/chat.postMessage` (Web API) and `POST /services/T/B/X`
//! (incoming webhooks), under the `/slack` prefix.
//!
//! The body's fields and types are those of `chat.postMessage` in
//! slack-web-openapi-v2.json (its form parameters, as JSON values: `blocks` and
//! `attachments` arrays, booleans as booleans); incoming webhooks take the same body without
//! `channel`. Newer arguments absent from that 2021 document (`metadata`, `markdown_text`)
//! are refused like any unknown field. Block Kit is checked in `slack_blocks.rs`.
//!
//! Web API errors are HTTP 200 `{"ok":false,"error":…}` (the spec's "default" response);
//! webhook errors are plain-text codes with a 4xx status (Slack's "Sending messages using
//! incoming webhooks", "Handling errors").

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::api::{Accepted, Incoming, Outcome};
use super::fields::{Checked, Count, Kind, Obj, Path, Problem, Seg, check_len, is_web_url};
use super::reply::Reply;
use super::slack_blocks;
use super::state::Inner;
use super::{Service, SlackChannel};

/// `chat.postMessage`'s form parameters in the spec, less `token` (a header with JSON).
const POST_MESSAGE_FIELDS: &[&str] = &[
    "as_user",
    "attachments",
    "blocks",
    "channel",
    "icon_emoji",
    "icon_url",
    "link_names",
    "mrkdwn",
    "parse",
    "reply_broadcast",
    "text",
    "thread_ts",
    "unfurl_links",
    "unfurl_media",
    "username",
];

/// Slack truncates longer messages and documents `msg_too_long` for them
/// (chat.postMessage, "Truncating content" and "Errors"); the sandbox refuses instead.
const MAX_TEXT_CHARS: usize = 40_000;
/// chat.postMessage "Errors": `too_many_attachments`, "more than 100 attachments".
const MAX_ATTACHMENTS: usize = 100;

/// The legacy secondary-attachment fields (docs.slack.dev, "Legacy: secondary message
/// attachments").
const ATTACHMENT_FIELDS: &[&str] = &[
    "author_icon",
    "author_link",
    "author_name",
    "blocks",
    "color",
    "fallback",
    "fields",
    "footer",
    "footer_icon",
    "image_url",
    "mrkdwn_in",
    "pretext",
    "text",
    "thumb_url",
    "title",
    "title_link",
    "ts",
];

/// The ids the sandbox's bot posts as: the patterns of `defs_user_id` and
/// `defs_workspace_id` in the spec.
const BOT_USER: &str = "U0SANDBOX";
const BOT_ID: &str = "B0SANDBOX";
const TEAM: &str = "T0SANDBOX";

/// Why a message body was refused.
#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    /// A field problem: `invalid_blocks` under `blocks`, else `invalid_arguments` (or, for
    /// a webhook, `invalid_payload`).
    Invalid(Problem),
    NoText,
    TooLong,
    TooManyAttachments,
}

pub(crate) fn handle(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    let posted = incoming.method == Method::POST;
    match incoming.path {
        "/api/chat.postMessage" if posted => post_message(inner, incoming),
        path if path.starts_with("/services/") && posted => webhook(inner, incoming, path),
        path if path.starts_with("/api/") => {
            // Slack answers an unknown method with 404 and `unknown_method`.
            let method = path.trim_start_matches("/api/");
            Outcome::refused(Reply::json(
                StatusCode::NOT_FOUND,
                json!({"ok": false, "error": "unknown_method", "req_method": method}),
            ))
        }
        _ => Outcome::refused(Reply::text(StatusCode::NOT_FOUND, "Not Found")),
    }
}

/// `/services/T000/B000/XXXX` → `/services/T000/B000/[redacted]`.
pub(crate) fn redacted_path(path: &str) -> String {
    match path.strip_prefix("/services/") {
        Some(hook) => match hook.rsplit_once('/') {
            Some((public, _secret)) => format!("/services/{public}/[redacted]"),
            None => "/services/[redacted]".to_owned(),
        },
        None => path.to_owned(),
    }
}

fn web_error(error: &str) -> Reply {
    Reply::json(StatusCode::OK, json!({"ok": false, "error": error}))
}

fn post_message(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    let config = &inner.config.slack;
    let Some(token) = incoming.bearer() else {
        return Outcome::refused(web_error("not_authed"));
    };
    if !config.tokens.iter().any(|t| t.expose() == token) {
        return Outcome::refused(web_error("invalid_auth"));
    }
    if !incoming.is_json() {
        return Outcome::refused(invalid_arguments(
            "invalid_arguments",
            "the sandbox accepts chat.postMessage with a JSON body (Content-Type: application/json) only",
        ));
    }
    let Ok(body) = serde_json::from_slice::<Value>(incoming.body) else {
        return Outcome::refused(web_error("invalid_json"));
    };
    if let Err(refusal) = check_message(&body, POST_MESSAGE_FIELDS) {
        return Outcome::refused(match refusal {
            Refusal::Invalid(problem) => {
                let error = if in_blocks(&problem) {
                    "invalid_blocks"
                } else {
                    "invalid_arguments"
                };
                invalid_arguments(error, &message_of(&problem))
            }
            Refusal::NoText => web_error("no_text"),
            Refusal::TooLong => web_error("msg_too_long"),
            Refusal::TooManyAttachments => web_error("too_many_attachments"),
        });
    }
    let wanted = body["channel"].as_str().unwrap_or_default();
    let Some(channel) = find_channel(&config.channels, wanted) else {
        return Outcome::refused(web_error("channel_not_found"));
    };
    let ts = next_ts(inner);
    let reply = Reply::json(
        StatusCode::OK,
        json!({
            "ok": true,
            "channel": channel.id,
            "ts": ts,
            "message": posted_message(&body, &ts),
        }),
    );
    Outcome {
        reply,
        accepted: Some(Accepted {
            endpoint: "chat.postMessage",
            target: channel.id.clone(),
            body,
            id: ts,
        }),
    }
}

fn webhook(inner: &Inner, incoming: &Incoming<'_>, path: &str) -> Outcome {
    let config = &inner.config.slack;
    let hook_path = path.trim_start_matches("/services/");
    let Some(hook) = config.hooks.iter().find(|h| h.path.expose() == hook_path) else {
        return Outcome::refused(Reply::text(StatusCode::NOT_FOUND, "no_service"));
    };
    let body = match serde_json::from_slice::<Value>(incoming.body) {
        Ok(body) if incoming.is_json() => body,
        // A form body (`payload=…`) is not simulated; neither parses as a JSON message.
        _ => return Outcome::refused(Reply::text(StatusCode::BAD_REQUEST, "invalid_payload")),
    };
    let webhook_fields: Vec<&str> = POST_MESSAGE_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "channel")
        .collect();
    if let Err(refusal) = check_message(&body, &webhook_fields) {
        let code = match refusal {
            Refusal::Invalid(problem) if in_blocks(&problem) => "invalid_blocks",
            Refusal::Invalid(_) => "invalid_payload",
            Refusal::NoText => "no_text",
            Refusal::TooLong => "msg_too_long",
            Refusal::TooManyAttachments => "too_many_attachments",
        };
        return Outcome::refused(Reply::text(StatusCode::BAD_REQUEST, code));
    }
    let Some(channel) = find_channel(&config.channels, &hook.channel) else {
        return Outcome::refused(Reply::text(StatusCode::NOT_FOUND, "channel_not_found"));
    };
    Outcome {
        reply: Reply::text(StatusCode::OK, "ok"),
        accepted: Some(Accepted {
            endpoint: "incoming-webhook",
            target: channel.id.clone(),
            body,
            id: next_ts(inner),
        }),
    }
}

/// By ID (`C0SANDBOX`) or by name, with or without `#`.
fn find_channel<'a>(channels: &'a [SlackChannel], wanted: &str) -> Option<&'a SlackChannel> {
    let name = wanted.trim_start_matches('#');
    channels.iter().find(|c| c.id == wanted || c.name == name)
}

/// A `ts` of the `defs_ts` pattern (`^\d{10}\.\d{6}$`): the second now and a sequence
/// number, unique within this sandbox.
fn next_ts(inner: &Inner) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let sequence = inner.next_sequence(Service::Slack) % 1_000_000;
    format!("{secs:010}.{sequence:06}")
}

/// The `message` of a successful `chat.postMessage`, within the spec's `objs_message`.
fn posted_message(body: &Value, ts: &str) -> Value {
    let mut message = json!({
        "type": "message",
        "text": body["text"].as_str().unwrap_or_default(),
        "user": BOT_USER,
        "bot_id": BOT_ID,
        "team": TEAM,
        "ts": ts,
    });
    if let Some(blocks) = body.get("blocks").filter(|b| b.is_array()) {
        message["blocks"] = blocks.clone();
    }
    if let Some(username) = body.get("username").and_then(Value::as_str) {
        message["username"] = json!(username);
    }
    if let Some(Value::Array(attachments)) = body.get("attachments") {
        // `objs_message` numbers attachments with an `id`.
        let numbered: Vec<Value> = attachments
            .iter()
            .zip(1..)
            .map(|(attachment, id)| {
                let mut attachment = attachment.clone();
                attachment["id"] = json!(id);
                attachment
            })
            .collect();
        if !numbered.is_empty() {
            message["attachments"] = Value::Array(numbered);
        }
    }
    message
}

fn check_message(body: &Value, known: &[&str]) -> Result<(), Refusal> {
    let root = Path::default();
    let fields = Obj::new(body, &root, known).map_err(Refusal::Invalid)?;
    check_fields(&fields, known.contains(&"channel")).map_err(Refusal::Invalid)?;
    let text = fields.str("text").map_err(Refusal::Invalid)?;
    if text.is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return Err(Refusal::TooLong);
    }
    let attachments = fields.array("attachments").map_err(Refusal::Invalid)?;
    if attachments.is_some_and(|a| a.len() > MAX_ATTACHMENTS) {
        return Err(Refusal::TooManyAttachments);
    }
    let has_blocks = fields
        .array("blocks")
        .map_err(Refusal::Invalid)?
        .is_some_and(|b| !b.is_empty());
    let has_attachments = attachments.is_some_and(|a| !a.is_empty());
    if text.is_none_or(|t| t.trim().is_empty()) && !has_blocks && !has_attachments {
        return Err(Refusal::NoText);
    }
    Ok(())
}

fn check_fields(fields: &Obj<'_>, needs_channel: bool) -> Checked<()> {
    if needs_channel {
        let channel = fields.required_str("channel")?;
        if channel.is_empty() {
            return Err(Problem::new(fields.at("channel"), Kind::Missing));
        }
    }
    for flag in [
        "as_user",
        "link_names",
        "mrkdwn",
        "reply_broadcast",
        "unfurl_links",
        "unfurl_media",
    ] {
        fields.bool(flag)?;
    }
    fields.str("icon_emoji")?;
    fields.str("username")?;
    fields.one_of("parse", &["none", "full"])?;
    if let Some(url) = fields.str("icon_url")?
        && !is_web_url(url)
    {
        return Err(Problem::invalid(fields.at("icon_url"), "must be a URL"));
    }
    if let Some(ts) = fields.str("thread_ts")?
        && !is_ts(ts)
    {
        return Err(Problem::invalid(
            fields.at("thread_ts"),
            "must be a message ts (0123456789.012345)",
        ));
    }
    if let Some(blocks) = fields.array("blocks")? {
        slack_blocks::check(blocks, &fields.at("blocks"))?;
    }
    if let Some(attachments) = fields.array("attachments")? {
        for (index, attachment) in attachments.iter().enumerate() {
            check_attachment(attachment, &fields.at("attachments").index(index))?;
        }
    }
    Ok(())
}

fn check_attachment(value: &Value, path: &Path) -> Checked<()> {
    let a = Obj::new(value, path, ATTACHMENT_FIELDS)?;
    for text in [
        "author_name",
        "color",
        "fallback",
        "footer",
        "pretext",
        "text",
        "title",
    ] {
        a.str(text)?;
    }
    for url in [
        "author_icon",
        "author_link",
        "footer_icon",
        "image_url",
        "thumb_url",
        "title_link",
    ] {
        if let Some(link) = a.str(url)?
            && !is_web_url(link)
        {
            return Err(Problem::invalid(a.at(url), "must be a URL"));
        }
    }
    if let Some(ts) = a.get("ts")
        && !(ts.is_i64() || ts.is_string())
    {
        return Err(Problem::invalid(a.at("ts"), "must be a Unix time"));
    }
    if let Some(fields) = a.array("fields")? {
        for (index, field) in fields.iter().enumerate() {
            let path = a.at("fields").index(index);
            let f = Obj::new(field, &path, &["short", "title", "value"])?;
            f.str("title")?;
            f.str("value")?;
            f.bool("short")?;
        }
    }
    if let Some(mrkdwn_in) = a.array("mrkdwn_in")? {
        for (index, item) in mrkdwn_in.iter().enumerate() {
            if !matches!(item.as_str(), Some("pretext" | "text" | "fields")) {
                return Err(Problem::invalid(
                    a.at("mrkdwn_in").index(index),
                    "must be one of: pretext, text, fields",
                ));
            }
        }
    }
    if let Some(blocks) = a.array("blocks")? {
        slack_blocks::check(blocks, &a.at("blocks"))?;
    }
    if let Some(text) = a.str("text")? {
        check_len(&a.at("text"), text, MAX_TEXT_CHARS, Count::Chars)?;
    }
    Ok(())
}

fn is_ts(ts: &str) -> bool {
    ts.split_once('.').is_some_and(|(secs, micros)| {
        secs.len() == 10
            && micros.len() == 6
            && secs
                .chars()
                .chain(micros.chars())
                .all(|c| c.is_ascii_digit())
    })
}

fn in_blocks(problem: &Problem) -> bool {
    matches!(problem.path.0.first(), Some(Seg::Key(key)) if key == "blocks")
}

/// Slack's wording: `[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]`.
fn message_of(problem: &Problem) -> String {
    let (reason, at) = match &problem.kind {
        Kind::Missing => {
            let mut parent = problem.path.clone();
            parent.0.pop();
            (
                format!("missing required field: {}", problem.path.leaf()),
                parent,
            )
        }
        Kind::Unknown => (
            format!(
                "unknown field: {} (Slack ignores it; the sandbox refuses it)",
                problem.path.leaf()
            ),
            problem.path.clone(),
        ),
        Kind::WrongType { expected, .. } => (
            format!("must provide a {}", expected.name()),
            problem.path.clone(),
        ),
        Kind::TooLong { max, .. } => (
            format!("must be less than {} characters", max + 1),
            problem.path.clone(),
        ),
        Kind::TooShort { min, .. } => (
            format!("must be more than {} characters", min.saturating_sub(1)),
            problem.path.clone(),
        ),
        Kind::TooMany { max, .. } => (
            format!("no more than {max} items allowed"),
            problem.path.clone(),
        ),
        Kind::TooFew { min, .. } => (
            format!("must provide at least {min} items"),
            problem.path.clone(),
        ),
        Kind::NotOneOf { allowed, .. } => (
            format!("must be one of: {}", allowed.join(", ")),
            problem.path.clone(),
        ),
        Kind::OutOfRange { min, max, .. } => (
            format!("must be between {min} and {max}"),
            problem.path.clone(),
        ),
        Kind::Invalid(reason)
        | Kind::Coded {
            message: reason, ..
        } => (reason.clone(), problem.path.clone()),
    };
    format!("[ERROR] {reason} [json-pointer:{}]", at.pointer())
}

/// `invalid_blocks` / `invalid_arguments` carry their reasons in `errors` and
/// `response_metadata.messages`.
fn invalid_arguments(error: &str, message: &str) -> Reply {
    let mut body = Map::new();
    body.insert("ok".into(), json!(false));
    body.insert("error".into(), json!(error));
    body.insert(
        "errors".into(),
        json!([message.trim_start_matches("[ERROR] ")]),
    );
    body.insert("response_metadata".into(), json!({ "messages": [message] }));
    Reply::json(StatusCode::OK, Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: Value) -> Refusal {
        check_message(&body, POST_MESSAGE_FIELDS).expect_err("refused")
    }

    #[test]
    fn a_plain_message_passes() {
        let body =
            json!({"channel": "#alerts", "text": "Disk full on db-1", "unfurl_links": false});
        assert_eq!(check_message(&body, POST_MESSAGE_FIELDS), Ok(()));
    }

    #[test]
    fn typical_mistakes_are_refused_as_slack_words_them() {
        let Refusal::Invalid(problem) = refusal(json!({"channel": "C1", "txt": "hi"})) else {
            panic!("an unknown field is invalid_arguments");
        };
        assert!(message_of(&problem).starts_with("[ERROR] unknown field: txt"));
        assert_eq!(refusal(json!({"channel": "C1"})), Refusal::NoText);
        assert_eq!(
            refusal(json!({"channel": "C1", "text": "x".repeat(40_001)})),
            Refusal::TooLong
        );
        let Refusal::Invalid(problem) = refusal(json!({"channel": "C1", "unfurl_links": "no"}))
        else {
            panic!("a wrong type is invalid_arguments");
        };
        assert_eq!(
            message_of(&problem),
            "[ERROR] must provide a boolean [json-pointer:/unfurl_links]"
        );
        let Refusal::Invalid(problem) = refusal(json!({"text": "hi"})) else {
            panic!("no channel");
        };
        assert_eq!(problem.kind, Kind::Missing);
    }

    #[test]
    fn hooks_keep_their_secret_out_of_logs() {
        assert_eq!(
            redacted_path("/services/T000/B000/XXXX"),
            "/services/T000/B000/[redacted]"
        );
        assert_eq!(
            redacted_path("/api/chat.postMessage"),
            "/api/chat.postMessage"
        );
    }

    #[test]
    fn timestamps_have_slacks_shape() {
        assert!(is_ts("1700000000.000100"));
        assert!(!is_ts("1700000000.1"));
        assert!(!is_ts("abc"));
    }
}
