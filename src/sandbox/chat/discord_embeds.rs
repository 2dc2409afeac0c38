//! The body of Discord's execute-webhook call (`IncomingWebhookRequestPartial` in
//! discord-openapi.json) and its embeds (`RichEmbed`), checked with the limits Discord
//! enforces. Where the OpenAPI document and Discord's reference disagree, the reference wins
//! (docs "Channel › Embed limits", "Webhook › Execute Webhook"):
//!
//! - content ≤ 2000; at most 10 embeds; `username` 1–80 and not containing "discord" or
//!   "clyde"; `avatar_url` ≤ 2048 (spec);
//! - embed title ≤ 256, description ≤ 4096, ≤ 25 fields of name ≤ 256 and value ≤ 1024 (both
//!   required and non-blank), footer text ≤ 2048 (required when a footer is given), author
//!   name ≤ 256 (required likewise), color 0–16777215, an ISO 8601 timestamp, http(s) URLs;
//!   title, description, field names and values, footer text and author names of all embeds
//!   together ≤ 6000 characters;
//! - `provider` and `video` cannot be set by a webhook (Discord drops them; refused here), and
//!   `type` can only be `rich`;
//! - `allowed_mentions.parse` of `users`, `roles`, `everyone`, and not both `parse: ["users"]`
//!   and a `users` list (likewise roles);
//! - `flags`: only SUPPRESS_EMBEDS (4), SUPPRESS_NOTIFICATIONS (4096), IS_COMPONENTS_V2
//!   (32768).
//!
//! Components, attachments, polls, and the forum-only `thread_name` and `applied_tags` are
//! refused as not simulated.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::fields::{Checked, Count, Kind, Obj, Path, Problem, check_len, is_web_url};

const BODY_FIELDS: &[&str] = &[
    "allowed_mentions",
    "applied_tags",
    "attachments",
    "avatar_url",
    "components",
    "content",
    "embeds",
    "flags",
    "poll",
    "thread_name",
    "tts",
    "username",
];

const EMBED_FIELDS: &[&str] = &[
    "author",
    "color",
    "description",
    "fields",
    "footer",
    "image",
    "provider",
    "thumbnail",
    "timestamp",
    "title",
    "type",
    "url",
    "video",
];

const MAX_CONTENT: usize = 2000;
const MAX_EMBEDS: usize = 10;
const MAX_EMBED_TOTAL: usize = 6000;
const SETTABLE_FLAGS: i64 = (1 << 2) | (1 << 12) | (1 << 15);

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// 50035 Invalid Form Body.
    Form(Problem),
    /// 50006 Cannot send an empty message.
    Empty,
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Refusal {
        Refusal::Form(problem)
    }
}

pub(crate) fn check(body: &Value) -> Result<(), Refusal> {
    let root = Path::default();
    let b = Obj::new(body, &root, BODY_FIELDS)?;
    for unsimulated in [
        "components",
        "attachments",
        "poll",
        "thread_name",
        "applied_tags",
    ] {
        if b.get(unsimulated)
            .is_some_and(|v| !v.as_array().is_some_and(Vec::is_empty))
        {
            return Err(Problem::coded(
                b.at(unsimulated),
                "SANDBOX_NOT_SIMULATED",
                "The sandbox does not simulate this field.",
            )
            .into());
        }
    }
    let content = b.str_max("content", MAX_CONTENT, Count::Chars)?;
    if let Some(username) = b.str("username")? {
        let length = username.chars().count();
        if !(1..=80).contains(&length) {
            return Err(Problem::coded(
                b.at("username"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 80 in length.",
            )
            .into());
        }
        let lower = username.to_lowercase();
        if let Some(word) = ["discord", "clyde"].into_iter().find(|w| lower.contains(w)) {
            return Err(Problem::coded(
                b.at("username"),
                "USERNAME_INVALID_CONTAINS",
                format!("Username cannot contain \"{word}\""),
            )
            .into());
        }
    }
    url(&b, "avatar_url")?;
    b.bool("tts")?;
    if let Some(flags) = b.int("flags")?
        && flags & !SETTABLE_FLAGS != 0
    {
        return Err(Problem::coded(
            b.at("flags"),
            "SANDBOX_FLAGS",
            "Only SUPPRESS_EMBEDS (4), SUPPRESS_NOTIFICATIONS (4096) and IS_COMPONENTS_V2 (32768) can be set.",
        )
        .into());
    }
    if let Some(mentions) = b.get("allowed_mentions") {
        allowed_mentions(mentions, &b.at("allowed_mentions"))?;
    }
    let embeds = b.array_max("embeds", MAX_EMBEDS)?;
    let mut total = 0;
    for (index, embed) in embeds.into_iter().flatten().enumerate() {
        total += check_embed(embed, &b.at("embeds").index(index))?;
    }
    if total > MAX_EMBED_TOTAL {
        return Err(Problem::coded(
            b.at("embeds"),
            "MAX_EMBED_SIZE_EXCEEDED",
            format!("Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"),
        )
        .into());
    }
    if content.is_none_or(|c| c.trim().is_empty()) && embeds.is_none_or(|e| e.is_empty()) {
        return Err(Refusal::Empty);
    }
    Ok(())
}

/// Checks one embed; returns the characters it counts toward the 6000 limit.
fn check_embed(embed: &Value, path: &Path) -> Checked<usize> {
    let e = Obj::new(embed, path, EMBED_FIELDS)?;
    for unsettable in ["provider", "video"] {
        if e.has(unsettable) {
            return Err(Problem::coded(
                e.at(unsettable),
                "SANDBOX_NOT_SETTABLE",
                "Webhooks cannot set this field (Discord drops it; the sandbox refuses it).",
            ));
        }
    }
    if e.str("type")?.is_some_and(|t| t != "rich") {
        return Err(Problem::new(
            e.at("type"),
            Kind::NotOneOf {
                allowed: &["rich"],
                found: e.get("type").cloned().unwrap_or_default(),
            },
        ));
    }
    let mut total = 0;
    total += count(e.str_max("title", 256, Count::Chars)?);
    total += count(e.str_max("description", 4096, Count::Chars)?);
    url(&e, "url")?;
    if let Some(timestamp) = e.str("timestamp")?
        && OffsetDateTime::parse(timestamp, &Rfc3339).is_err()
    {
        return Err(Problem::coded(
            e.at("timestamp"),
            "DATE_TIME_TYPE_PARSE",
            format!("Could not parse {timestamp}. Should be ISO8601."),
        ));
    }
    e.int_in("color", 0, 16_777_215)?;
    if let Some(footer) = e.get("footer") {
        let path = e.at("footer");
        let f = Obj::new(footer, &path, &["text", "icon_url"])?;
        total += required_text(&f, "text", 2048)?;
        url(&f, "icon_url")?;
    }
    if let Some(author) = e.get("author") {
        let path = e.at("author");
        let a = Obj::new(author, &path, &["name", "url", "icon_url"])?;
        total += required_text(&a, "name", 256)?;
        url(&a, "url")?;
        url(&a, "icon_url")?;
    }
    for media in ["image", "thumbnail"] {
        if let Some(value) = e.get(media) {
            let path = e.at(media);
            let m = Obj::new(value, &path, &["url", "height", "width"])?;
            m.required_str("url")?;
            url(&m, "url")?;
            m.int("height")?;
            m.int("width")?;
        }
    }
    let fields = e.array_max("fields", 25)?;
    for (index, field) in fields.into_iter().flatten().enumerate() {
        let path = e.at("fields").index(index);
        let f = Obj::new(field, &path, &["name", "value", "inline"])?;
        total += required_text(&f, "name", 256)?;
        total += required_text(&f, "value", 1024)?;
        f.bool("inline")?;
    }
    Ok(total)
}

fn count(text: Option<&str>) -> usize {
    text.map_or(0, |t| t.chars().count())
}

/// A required, non-blank string of at most `max` characters; returns its length.
fn required_text(o: &Obj<'_>, name: &str, max: usize) -> Checked<usize> {
    let text = o.required_str(name)?;
    if text.trim().is_empty() {
        return Err(Problem::new(o.at(name), Kind::Missing));
    }
    check_len(&o.at(name), text, max, Count::Chars)?;
    Ok(text.chars().count())
}

/// An optional http(s) URL of at most 2048 characters (`attachment://` for uploads is not
/// simulated).
fn url(o: &Obj<'_>, name: &str) -> Checked<()> {
    if let Some(link) = o.str_max(name, 2048, Count::Chars)?
        && !is_web_url(link)
    {
        return Err(Problem::coded(
            o.at(name),
            "URL_TYPE_INVALID_URL",
            "Not a well formed URL.",
        ));
    }
    Ok(())
}

fn allowed_mentions(value: &Value, path: &Path) -> Checked<()> {
    let m = Obj::new(value, path, &["parse", "users", "roles", "replied_user"])?;
    let parse = m.array_max("parse", 3)?.cloned().unwrap_or_default();
    for (index, kind) in parse.iter().enumerate() {
        if !matches!(kind.as_str(), Some("users" | "roles" | "everyone")) {
            return Err(Problem::new(
                m.at("parse").index(index),
                Kind::NotOneOf {
                    allowed: &["users", "roles", "everyone"],
                    found: kind.clone(),
                },
            ));
        }
    }
    for list in ["users", "roles"] {
        let ids = m.array_max(list, 100)?;
        for (index, id) in ids.into_iter().flatten().enumerate() {
            if !id.as_str().is_some_and(is_snowflake) {
                return Err(Problem::coded(
                    m.at(list).index(index),
                    "NUMBER_TYPE_COERCE",
                    format!("Value \"{}\" is not snowflake.", plain(id)),
                ));
            }
        }
        let listed = ids.is_some_and(|ids| !ids.is_empty());
        if listed && parse.iter().any(|p| p.as_str() == Some(list)) {
            return Err(Problem::coded(
                path.clone(),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                format!("parse:[\"{list}\"] and {list}: [ids...] are mutually exclusive."),
            ));
        }
    }
    m.bool("replied_user")?;
    Ok(())
}

/// The spec's `SnowflakeType`: `^(0|[1-9][0-9]*)$`.
pub(crate) fn is_snowflake(id: &str) -> bool {
    id == "0" || (!id.is_empty() && !id.starts_with('0') && id.chars().all(|c| c.is_ascii_digit()))
}

/// A JSON value as Discord quotes it in messages: strings without their quotes.
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form_problem(body: Value) -> (String, Kind) {
        match check(&body) {
            Err(Refusal::Form(problem)) => (problem.path.dotted(), problem.kind),
            other => panic!("expected a form error, got {other:?}"),
        }
    }

    #[test]
    fn an_alert_embed_passes() {
        let body = json!({
            "content": "P1: checkout down",
            "username": "Klaxon",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "Checkout API returns 500",
                "description": "EU customers",
                "url": "https://klaxon.example.com/e/1",
                "color": 15158332,
                "timestamp": "2026-01-05T09:00:00Z",
                "fields": [{"name": "Severity", "value": "P1", "inline": true}],
                "footer": {"text": "klaxon"},
            }],
        });
        assert_eq!(check(&body), Ok(()));
    }

    #[test]
    fn embed_limits_hold() {
        let title = json!({"embeds": [{"title": "x".repeat(257)}]});
        assert_eq!(
            form_problem(title),
            (
                "embeds[0].title".into(),
                Kind::TooLong {
                    max: 256,
                    actual: 257
                }
            )
        );
        let fields = vec![json!({"name": "n", "value": "v"}); 26];
        assert!(matches!(
            form_problem(json!({"embeds": [{"fields": fields}]})).1,
            Kind::TooMany { max: 25, .. }
        ));
        let big = json!({"embeds": [
            {"description": "x".repeat(4000)},
            {"description": "y".repeat(2001)},
        ]});
        assert_eq!(form_problem(big).0, "embeds");
        let eleven = vec![json!({"title": "t"}); 11];
        assert!(matches!(
            form_problem(json!({"embeds": eleven})).1,
            Kind::TooMany { max: 10, .. }
        ));
        assert!(matches!(
            form_problem(json!({"content": "x".repeat(2001)})).1,
            Kind::TooLong { max: 2000, .. }
        ));
        assert!(matches!(
            form_problem(json!({"embeds": [{"color": 16_777_216}]})).1,
            Kind::OutOfRange { .. }
        ));
    }

    #[test]
    fn empty_and_unknown_are_refused() {
        assert_eq!(check(&json!({"content": "  "})), Err(Refusal::Empty));
        assert_eq!(form_problem(json!({"text": "hi"})).1, Kind::Unknown);
        assert_eq!(
            form_problem(json!({"content": "x", "username": "Discord bot"})).0,
            "username"
        );
    }

    #[test]
    fn snowflakes_follow_the_spec_pattern() {
        assert!(is_snowflake("0"));
        assert!(is_snowflake("123"));
        assert!(!is_snowflake("0123"));
        assert!(!is_snowflake("12a"));
        assert!(!is_snowflake(""));
    }
}
