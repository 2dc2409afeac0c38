//! The simulated Notion API: `POST /v1/pages`, under the `/notion` prefix. The body is
//! checked in `notion_page.rs`.
//!
//! Every answer is the page object or Notion's error object `{"object":"error","status",
//! "code","message","request_id"}` (Notion "Status codes"): 401 `unauthorized` for a missing
//! or unknown token; 400 `missing_version` without `Notion-Version`; 400 `validation_error`
//! for a version other than 2025-09-03 (the only one simulated; Notion would accept older
//! ones, whose page shapes differ); 400 `invalid_json`; 400 `validation_error` with
//! `body failed validation: …` for the body, and `X is not a property that exists.` / `X is
//! expected to be …` against a database's configured properties; 404 `object_not_found` for
//! a database, data source or page the integration cannot see; 400 `invalid_request_url`
//! for other paths.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api::{Accepted, Incoming, Outcome};
use super::config::{notion_id_dashed, notion_id_key};
use super::fields::{Kind, Problem, Type};
use super::notion_page::{self, Page, Parent};
use super::reply::Reply;
use super::state::Inner;
use super::{NOTION_VERSION, NotionDatabase, NotionPropertyType};

/// The user every page is created by: the integration's bot.
const BOT_USER_ID: &str = "00000000-0000-4000-8000-00000000b07e";

pub(crate) fn handle(inner: &Inner, incoming: &Incoming<'_>) -> Outcome {
    if incoming.path != "/v1/pages" || incoming.method != Method::POST {
        return Outcome::refused(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_url",
            "Invalid request URL.",
        ));
    }
    let known = incoming.bearer().is_some_and(|token| {
        inner
            .config
            .notion
            .tokens
            .iter()
            .any(|t| t.expose() == token)
    });
    if !known {
        return Outcome::refused(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        ));
    }
    match incoming.header("notion-version") {
        None => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
            ));
        }
        Some(version) if version != NOTION_VERSION => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                "validation_error",
                &format!(
                    "Notion-Version header failed validation: the sandbox simulates `{NOTION_VERSION}` only, instead was `{version}`."
                ),
            ));
        }
        Some(_) => {}
    }
    let body = match serde_json::from_slice::<Value>(incoming.body) {
        Ok(body) if incoming.is_json() => body,
        _ => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "Error parsing JSON body.",
            ));
        }
    };
    let page = match notion_page::check(&body) {
        Ok(page) => page,
        Err(problem) => {
            return Outcome::refused(error(
                StatusCode::BAD_REQUEST,
                "validation_error",
                &format!("body failed validation: {}", describe(&problem, &body)),
            ));
        }
    };
    let database = match find_database(&inner.config.notion.databases, &page.parent) {
        Ok(database) => database,
        Err(reply) => return Outcome::refused(reply),
    };
    if let Err(message) = check_schema(database, &page) {
        return Outcome::refused(error(StatusCode::BAD_REQUEST, "validation_error", &message));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let reply = Reply::json(StatusCode::OK, page_object(&id, database, &body));
    Outcome {
        reply,
        accepted: Some(Accepted {
            endpoint: "pages",
            target: database.id.clone(),
            body,
            id,
        }),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "object": "error",
            "status": status.as_u16(),
            "code": code,
            "message": message,
            "request_id": uuid::Uuid::now_v7().to_string(),
        }),
    )
}

fn not_found(kind: &str, id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "object_not_found",
        &format!(
            "Could not find {kind} with ID: {}. Make sure the relevant pages and databases are shared with your integration.",
            notion_id_dashed(id)
        ),
    )
}

fn find_database<'a>(
    databases: &'a [NotionDatabase],
    parent: &Parent,
) -> Result<&'a NotionDatabase, Reply> {
    match parent {
        Parent::Database(id) => databases
            .iter()
            .find(|d| notion_id_key(&d.id) == notion_id_key(id))
            .ok_or_else(|| not_found("database", id)),
        Parent::DataSource(id) => databases
            .iter()
            .find(|d| notion_id_key(&d.data_source_id) == notion_id_key(id))
            .ok_or_else(|| not_found("data_source", id)),
        // The sandbox has no pages to nest under.
        Parent::Page(id) => Err(not_found("page", id)),
        Parent::Workspace => Err(error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "body failed validation: body.parent.workspace is only available to public integrations; the sandbox simulates internal ones.",
        )),
    }
}

/// Against a database with configured properties, Notion's own messages.
fn check_schema(database: &NotionDatabase, page: &Page) -> Result<(), String> {
    let Some(schema) = &database.properties else {
        return Ok(());
    };
    for (name, kind) in &page.properties {
        match schema.get(name) {
            None => return Err(format!("{name} is not a property that exists.")),
            Some(expected) if expected != kind => {
                return Err(format!("{name} is expected to be {}.", expected.as_str()));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Notion's wording of a body problem, after `body failed validation: `.
fn describe(problem: &Problem, body: &Value) -> String {
    let path = problem.path.dotted();
    let at = if path.is_empty() {
        "body".to_owned()
    } else {
        format!("body.{path}")
    };
    match &problem.kind {
        Kind::Missing => format!("{at} should be defined, instead was `undefined`."),
        Kind::Unknown => {
            let found = body
                .pointer(&problem.path.pointer())
                .map(Value::to_string)
                .unwrap_or_default();
            format!("{at} should be not present, instead was `{found}`.")
        }
        Kind::WrongType { expected, found } => {
            let article = match expected {
                Type::String => "a string",
                Type::Integer | Type::Number => "a number",
                Type::Boolean => "a boolean",
                Type::Array => "an array",
                Type::Object => "an object",
                Type::IntegerOrString => "a number or a string",
            };
            format!("{at} should be {article}, instead was `{found}`.")
        }
        Kind::TooLong { max, actual } | Kind::TooMany { max, actual } => {
            format!("{at}.length should be ≤ `{max}`, instead was `{actual}`.")
        }
        Kind::TooShort { min, actual } | Kind::TooFew { min, actual } => {
            format!("{at}.length should be ≥ `{min}`, instead was `{actual}`.")
        }
        Kind::NotOneOf { allowed, found } => {
            let options: Vec<String> = allowed.iter().map(|a| format!("`\"{a}\"`")).collect();
            format!(
                "{at} should be {}, instead was `{found}`.",
                options.join(", ")
            )
        }
        Kind::OutOfRange { min, max, found } => {
            format!("{at} should be between `{min}` and `{max}`, instead was `{found}`.")
        }
        Kind::Invalid(reason)
        | Kind::Coded {
            message: reason, ..
        } => format!("{at} {reason}."),
    }
}

/// The created page, as Notion answers (`PageObjectResponse`, its commonly read fields).
fn page_object(id: &str, database: &NotionDatabase, body: &Value) -> Value {
    // Notion reports times to the minute.
    let now = OffsetDateTime::now_utc()
        .replace_second(0)
        .and_then(|t| t.replace_nanosecond(0))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    let mut properties = Map::new();
    if let Some(given) = body.get("properties").and_then(Value::as_object) {
        for (name, value) in given {
            properties.insert(name.clone(), property_as_returned(name, value));
        }
    }
    let user = json!({"object": "user", "id": BOT_USER_ID});
    json!({
        "object": "page",
        "id": id,
        "created_time": now,
        "last_edited_time": now,
        "created_by": user,
        "last_edited_by": user,
        "cover": body.get("cover").cloned().unwrap_or(Value::Null),
        "icon": body.get("icon").cloned().unwrap_or(Value::Null),
        "parent": {
            "type": "data_source_id",
            "data_source_id": notion_id_dashed(&database.data_source_id),
            "database_id": notion_id_dashed(&database.id),
        },
        "archived": false,
        "in_trash": false,
        "is_locked": false,
        "properties": properties,
        "url": format!("https://www.notion.so/{}", notion_id_key(id)),
        "public_url": null,
    })
}

/// A property value as a page returns it: with `id` and `type`, rich text items completed
/// with `plain_text`, `href` and default `annotations`.
fn property_as_returned(name: &str, value: &Value) -> Value {
    let mut out = value.clone();
    let kind = value
        .as_object()
        .and_then(|m| m.keys().find(|k| *k != "type"))
        .cloned()
        .unwrap_or_default();
    out["type"] = json!(kind);
    out["id"] = json!(property_id(name));
    let rich = matches!(kind.as_str(), "title" | "rich_text");
    if rich && let Some(Value::Array(items)) = out.get_mut(&kind) {
        for item in items {
            let text = item["text"]["content"]
                .as_str()
                .or_else(|| item["equation"]["expression"].as_str())
                .unwrap_or_default()
                .to_owned();
            let href = item["text"]["link"]["url"].clone();
            if item.get("type").is_none() {
                item["type"] = json!(if item.get("equation").is_some() {
                    "equation"
                } else {
                    "text"
                });
            }
            item["plain_text"] = json!(text);
            item["href"] = href;
            let defaults = json!({"bold": false, "italic": false, "strikethrough": false,
                "underline": false, "code": false, "color": "default"});
            let mut annotations = defaults;
            if let Some(Value::Object(given)) = item.get("annotations") {
                for (k, v) in given {
                    annotations[k] = v.clone();
                }
            }
            item["annotations"] = annotations;
        }
    }
    if kind == NotionPropertyType::Title.as_str() {
        out["id"] = json!("title");
    }
    out
}

/// A short stable id per property name, like Notion's (`%3AxYz`-style ids are opaque).
fn property_id(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{:04x}", hash & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::chat::fields::Path;

    #[test]
    fn problems_read_like_notion() {
        let body =
            json!({"properties": {"Name": {"title": [{"text": {"content": "x", "bold": true}}]}}});
        let unknown = Problem::new(
            Path::default()
                .key("properties")
                .key("Name")
                .key("title")
                .index(0)
                .key("text")
                .key("bold"),
            Kind::Unknown,
        );
        assert_eq!(
            describe(&unknown, &body),
            "body.properties.Name.title[0].text.bold should be not present, instead was `true`."
        );
        let long = Problem::new(
            Path::default().key("children"),
            Kind::TooMany {
                max: 100,
                actual: 101,
            },
        );
        assert_eq!(
            describe(&long, &body),
            "body.children.length should be ≤ `100`, instead was `101`."
        );
        let missing = Problem::new(Path::default().key("parent"), Kind::Missing);
        assert_eq!(
            describe(&missing, &body),
            "body.parent should be defined, instead was `undefined`."
        );
    }

    #[test]
    fn a_configured_schema_is_enforced() {
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("Name".to_owned(), NotionPropertyType::Title);
        let database = NotionDatabase {
            id: "1".into(),
            data_source_id: "2".into(),
            properties: Some(properties),
        };
        let page = |name: &str, kind| Page {
            parent: Parent::Database("1".into()),
            properties: vec![(name.to_owned(), kind)],
        };
        assert_eq!(
            check_schema(&database, &page("Name", NotionPropertyType::Title)),
            Ok(())
        );
        assert_eq!(
            check_schema(&database, &page("Title", NotionPropertyType::Title)),
            Err("Title is not a property that exists.".into())
        );
        assert_eq!(
            check_schema(&database, &page("Name", NotionPropertyType::RichText)),
            Err("Name is expected to be title.".into())
        );
    }
}
