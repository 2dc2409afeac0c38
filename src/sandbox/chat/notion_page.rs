//! The body of `POST /v1/pages`: `CreatePageBodyParameters` in notion/pages.ts (API version
//! 2025-09-03), with the types it uses from common.ts and the limits of Notion's "Request
//! limits" page (rich text `text.content` and `link.url` ≤ 2000 characters, an equation ≤
//! 1000, any rich text array ≤ 100 items, URLs ≤ 2000, emails and phone numbers ≤ 200,
//! ≤ 100 multi-select options, ≤ 100 blocks per request). Lengths are counted in UTF-16
//! code units, as Notion's JavaScript does.
//!
//! Blocks (`children`, `content`) and icons are checked in `notion_blocks.rs`.
//!
//! Simulated: parents `database_id`, `data_source_id` (and `page_id`, `workspace`, which
//! `notion.rs` refuses for want of pages); property values `title`, `rich_text`, `number`,
//! `url`, `select`, `multi_select`, `status`, `email`, `phone_number`, `date`, `checkbox`;
//! rich text `text` and `equation` items; blocks `paragraph`, `heading_1`–`heading_3`,
//! `bulleted_list_item`, `numbered_list_item`, `quote`, `to_do`, `callout`, `divider`,
//! `code`, without nested children; `icon` (emoji, external), `cover` (external),
//! `markdown`. Anything else the TypeScript allows (people, relation, files, mentions,
//! templates, positions…) is refused as not simulated.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::NotionPropertyType;
use super::fields::{Checked, Count, Kind, Obj, Path, Problem, Type, check_len, wrong};
use super::notion_blocks;

/// `ApiColor` in common.ts.
pub(crate) const API_COLORS: &[&str] = &[
    "default",
    "gray",
    "brown",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "red",
    "default_background",
    "gray_background",
    "brown_background",
    "orange_background",
    "yellow_background",
    "green_background",
    "blue_background",
    "purple_background",
    "pink_background",
    "red_background",
];

/// `SelectColor` in common.ts.
const SELECT_COLORS: &[&str] = &[
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
];

const PROPERTY_TYPES: &[(&str, NotionPropertyType)] = &[
    ("title", NotionPropertyType::Title),
    ("rich_text", NotionPropertyType::RichText),
    ("number", NotionPropertyType::Number),
    ("url", NotionPropertyType::Url),
    ("select", NotionPropertyType::Select),
    ("multi_select", NotionPropertyType::MultiSelect),
    ("status", NotionPropertyType::Status),
    ("email", NotionPropertyType::Email),
    ("phone_number", NotionPropertyType::PhoneNumber),
    ("date", NotionPropertyType::Date),
    ("checkbox", NotionPropertyType::Checkbox),
];

/// The property types pages.ts allows that the sandbox does not simulate.
const UNSIMULATED_PROPERTIES: &[&str] = &["people", "relation", "files", "place", "verification"];

pub(crate) const MAX_TEXT: usize = 2000;
pub(crate) const MAX_ITEMS: usize = 100;

/// Where the page goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parent {
    Database(String),
    DataSource(String),
    Page(String),
    Workspace,
}

/// What the rest of the request needs from a valid body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub parent: Parent,
    /// Each property's name and type, in body order.
    pub properties: Vec<(String, NotionPropertyType)>,
}

pub(crate) fn check(body: &Value) -> Checked<Page> {
    let root = Path::default();
    let b = Obj::new(
        body,
        &root,
        &[
            "parent",
            "properties",
            "icon",
            "cover",
            "content",
            "children",
            "markdown",
            "allow_async",
            "template",
            "position",
        ],
    )?;
    for unsimulated in ["allow_async", "template", "position"] {
        if b.has(unsimulated) {
            return Err(Problem::invalid(
                b.at(unsimulated),
                "is not simulated by the sandbox",
            ));
        }
    }
    let parent = parent(
        b.get("parent")
            .ok_or_else(|| Problem::new(b.at("parent"), Kind::Missing))?,
        &b.at("parent"),
    )?;
    let mut properties = Vec::new();
    if let Some(value) = b.get("properties") {
        let at = b.at("properties");
        let map = value
            .as_object()
            .ok_or_else(|| wrong(&at, Type::Object, value))?;
        for (name, value) in map {
            properties.push((name.clone(), property(value, &at.key(name))?));
        }
    }
    let mut block_lists = 0;
    for list in ["children", "content"] {
        if let Some(blocks) = b.array_max(list, MAX_ITEMS)? {
            block_lists += 1;
            for (index, block) in blocks.iter().enumerate() {
                notion_blocks::block(block, &b.at(list).index(index))?;
            }
        }
    }
    b.str("markdown")?;
    if block_lists + usize::from(b.has("markdown")) > 1 {
        return Err(Problem::invalid(
            root,
            "should have only one of children, content and markdown",
        ));
    }
    if let Some(icon) = b.get("icon") {
        notion_blocks::icon(icon, &b.at("icon"), true)?;
    }
    if let Some(cover) = b.get("cover") {
        notion_blocks::icon(cover, &b.at("cover"), false)?;
    }
    Ok(Page { parent, properties })
}

fn parent(value: &Value, path: &Path) -> Checked<Parent> {
    let p = Obj::new(
        value,
        path,
        &[
            "type",
            "page_id",
            "database_id",
            "data_source_id",
            "workspace",
        ],
    )?;
    let kinds: Vec<&str> = ["page_id", "database_id", "data_source_id", "workspace"]
        .into_iter()
        .filter(|k| p.map.contains_key(*k))
        .collect();
    let [kind] = kinds.as_slice() else {
        return Err(Problem::invalid(
            path.clone(),
            "should have exactly one of page_id, database_id, data_source_id and workspace",
        ));
    };
    if let Some(declared) = p.str("type")?
        && declared != *kind
    {
        return Err(Problem::invalid(
            p.at("type"),
            format!("should be `\"{kind}\"`, instead was `\"{declared}\"`"),
        ));
    }
    if *kind == "workspace" {
        return match p.bool("workspace")? {
            Some(true) => Ok(Parent::Workspace),
            _ => Err(Problem::invalid(p.at("workspace"), "should be `true`")),
        };
    }
    let id = p.required_str(kind)?;
    if !is_uuid(id) {
        return Err(Problem::invalid(
            p.at(kind),
            format!("should be a valid uuid, instead was `\"{id}\"`"),
        ));
    }
    Ok(match *kind {
        "database_id" => Parent::Database(id.to_owned()),
        "data_source_id" => Parent::DataSource(id.to_owned()),
        _ => Parent::Page(id.to_owned()),
    })
}

/// 32 hexadecimal digits, dashes allowed between them.
fn is_uuid(id: &str) -> bool {
    let hex: Vec<char> = id.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.iter().all(char::is_ascii_hexdigit)
}

/// One property value: one type key, and optionally `type` naming it.
fn property(value: &Value, path: &Path) -> Checked<NotionPropertyType> {
    let map = value
        .as_object()
        .ok_or_else(|| wrong(path, Type::Object, value))?;
    let keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "type")
        .collect();
    let [key] = keys.as_slice() else {
        return Err(Problem::invalid(
            path.clone(),
            "should have exactly one property value (title, rich_text, number, url, select, multi_select, status, email, phone_number, date or checkbox)",
        ));
    };
    if UNSIMULATED_PROPERTIES.contains(key) {
        return Err(Problem::invalid(
            path.key(key),
            "is not simulated by the sandbox",
        ));
    }
    let Some((name, kind)) = PROPERTY_TYPES.iter().find(|(name, _)| name == key) else {
        return Err(Problem::new(path.key(key), Kind::Unknown));
    };
    let p = Obj::new(value, path, &[name, "type"])?;
    if let Some(declared) = p.str("type")?
        && declared != *name
    {
        return Err(Problem::invalid(
            p.at("type"),
            format!("should be `\"{name}\"`, instead was `\"{declared}\"`"),
        ));
    }
    let at = p.at(name);
    let inner = &map[*name];
    match kind {
        NotionPropertyType::Title | NotionPropertyType::RichText => rich_text(inner, &at)?,
        NotionPropertyType::Number => {
            if !(inner.is_null() || inner.as_f64().is_some_and(f64::is_finite)) {
                return Err(wrong(&at, Type::Number, inner));
            }
        }
        NotionPropertyType::Url => nullable_text(inner, &at, 2000)?,
        NotionPropertyType::Email | NotionPropertyType::PhoneNumber => {
            nullable_text(inner, &at, 200)?
        }
        NotionPropertyType::Select | NotionPropertyType::Status => {
            if !inner.is_null() {
                option(inner, &at)?;
            }
        }
        NotionPropertyType::MultiSelect => {
            let items = inner
                .as_array()
                .ok_or_else(|| wrong(&at, Type::Array, inner))?;
            too_many(&at, items.len())?;
            for (index, item) in items.iter().enumerate() {
                option(item, &at.index(index))?;
            }
        }
        NotionPropertyType::Date => {
            if !inner.is_null() {
                date(inner, &at)?;
            }
        }
        NotionPropertyType::Checkbox => {
            if !inner.is_boolean() {
                return Err(wrong(&at, Type::Boolean, inner));
            }
        }
    }
    Ok(*kind)
}

fn too_many(path: &Path, actual: usize) -> Checked<()> {
    if actual > MAX_ITEMS {
        return Err(Problem::new(
            path.clone(),
            Kind::TooMany {
                max: MAX_ITEMS,
                actual,
            },
        ));
    }
    Ok(())
}

fn nullable_text(value: &Value, path: &Path, max: usize) -> Checked<()> {
    match value {
        Value::Null => Ok(()),
        Value::String(text) => check_len(path, text, max, Count::Utf16),
        other => Err(wrong(path, Type::String, other)),
    }
}

/// `Array<RichTextItemRequest>`: text and equation items.
pub(crate) fn rich_text(value: &Value, path: &Path) -> Checked<()> {
    let items = value
        .as_array()
        .ok_or_else(|| wrong(path, Type::Array, value))?;
    too_many(path, items.len())?;
    for (index, item) in items.iter().enumerate() {
        let at = path.index(index);
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None if item.get("equation").is_some() => "equation",
            None if item.get("mention").is_some() => "mention",
            None => "text",
        };
        match kind {
            "text" => {
                let t = Obj::new(item, &at, &["type", "text", "annotations"])?;
                let text_at = t.at("text");
                let text = t
                    .get("text")
                    .ok_or_else(|| Problem::new(text_at.clone(), Kind::Missing))?;
                let c = Obj::new(text, &text_at, &["content", "link"])?;
                c.required_str("content")?;
                c.str_max("content", MAX_TEXT, Count::Utf16)?;
                if let Some(link) = c.get("link") {
                    let link_at = c.at("link");
                    let l = Obj::new(link, &link_at, &["url"])?;
                    l.required_str("url")?;
                    l.str_max("url", MAX_TEXT, Count::Utf16)?;
                }
                annotations(&t)?;
            }
            "equation" => {
                let e = Obj::new(item, &at, &["type", "equation", "annotations"])?;
                let eq_at = e.at("equation");
                let equation = e
                    .get("equation")
                    .ok_or_else(|| Problem::new(eq_at.clone(), Kind::Missing))?;
                let x = Obj::new(equation, &eq_at, &["expression"])?;
                x.required_str("expression")?;
                x.str_max("expression", 1000, Count::Utf16)?;
                annotations(&e)?;
            }
            "mention" => {
                return Err(Problem::invalid(
                    at.key("mention"),
                    "is not simulated by the sandbox",
                ));
            }
            _ => {
                return Err(Problem::new(
                    at.key("type"),
                    Kind::NotOneOf {
                        allowed: &["text", "mention", "equation"],
                        found: Value::from(kind),
                    },
                ));
            }
        }
    }
    Ok(())
}

fn annotations(item: &Obj<'_>) -> Checked<()> {
    if let Some(value) = item.get("annotations") {
        let at = item.at("annotations");
        let a = Obj::new(
            value,
            &at,
            &[
                "bold",
                "italic",
                "strikethrough",
                "underline",
                "code",
                "color",
            ],
        )?;
        for flag in ["bold", "italic", "strikethrough", "underline", "code"] {
            a.bool(flag)?;
        }
        a.one_of("color", API_COLORS)?;
    }
    Ok(())
}

/// A select, status or multi-select option: by `id` or by `name`.
fn option(value: &Value, path: &Path) -> Checked<()> {
    let o = Obj::new(value, path, &["id", "name", "color", "description"])?;
    let id = o.str("id")?;
    let name = o.str_max("name", 100, Count::Utf16)?;
    if id.is_none() && name.is_none() {
        return Err(Problem::new(o.at("name"), Kind::Missing));
    }
    if let Some(name) = name
        && name.contains(',')
    {
        return Err(Problem::invalid(
            o.at("name"),
            format!("is an invalid select option, commas not allowed: {name}"),
        ));
    }
    o.one_of("color", SELECT_COLORS)?;
    o.str("description")?;
    Ok(())
}

/// `DateRequest`: an ISO 8601 `start`, an optional `end` and `time_zone`.
fn date(value: &Value, path: &Path) -> Checked<()> {
    let d = Obj::new(value, path, &["start", "end", "time_zone"])?;
    let start = d.required_str("start")?;
    for (field, text) in [("start", Some(start)), ("end", d.str("end")?)] {
        if let Some(text) = text
            && !is_iso8601(text)
        {
            return Err(Problem::invalid(
                d.at(field),
                format!("should be a valid ISO 8601 date string, instead was `\"{text}\"`"),
            ));
        }
    }
    d.str("time_zone")?;
    Ok(())
}

fn is_iso8601(text: &str) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok()
        || Date::parse(text, format_description!("[year]-[month]-[day]")).is_ok()
        || PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
        .is_ok()
        || PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .is_ok()
        || PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(body: Value) -> (String, Kind) {
        let problem = check(&body).expect_err("refused");
        (problem.path.dotted(), problem.kind)
    }

    #[test]
    fn an_alert_page_passes() {
        let body = json!({
            "parent": {"database_id": "00000000-0000-0000-0000-000000000001"},
            "properties": {
                "Name": {"title": [{"text": {"content": "Checkout down"}}]},
                "Severity": {"select": {"name": "P1"}},
                "When": {"date": {"start": "2026-01-05T09:00:00Z"}},
                "Link": {"url": "https://klaxon.example.com/e/1"},
                "Acknowledged": {"checkbox": false},
                "Count": {"type": "number", "number": 3},
            },
            "children": [
                {"object": "block", "type": "paragraph",
                 "paragraph": {"rich_text": [{"type": "text", "text": {"content": "EU customers"}}]}},
            ],
        });
        let page = check(&body).expect("valid");
        assert_eq!(
            page.parent,
            Parent::Database("00000000-0000-0000-0000-000000000001".into())
        );
        assert_eq!(page.properties.len(), 6);
    }

    #[test]
    fn notion_limits_hold() {
        let long = json!({"parent": {"data_source_id": "00000000000000000000000000000002"},
            "properties": {"Name": {"title": [{"text": {"content": "x".repeat(2001)}}]}}});
        assert_eq!(
            problem(long),
            (
                "properties.Name.title[0].text.content".into(),
                Kind::TooLong {
                    max: 2000,
                    actual: 2001
                }
            )
        );
        let many = vec![json!({"text": {"content": "x"}}); 101];
        assert!(matches!(
            problem(
                json!({"parent": {"database_id": "00000000000000000000000000000001"},
                "properties": {"Notes": {"rich_text": many}}})
            )
            .1,
            Kind::TooMany { max: 100, .. }
        ));
        assert_eq!(problem(json!({"properties": {}})).0, "parent");
        assert_eq!(
            problem(
                json!({"parent": {"database_id": "00000000000000000000000000000001"},
                "properties": {"When": {"date": {"start": "tomorrow"}}}})
            )
            .0,
            "properties.When.date.start"
        );
        assert_eq!(
            problem(
                json!({"parent": {"database_id": "00000000000000000000000000000001"},
                "properties": {"Name": {"title": [{"text": {"content": "x"}, "plain_text": "x"}]}}})
            )
            .1,
            Kind::Unknown
        );
        assert!(check(&json!({"parent": {"database_id": "nope"}})).is_err());
    }
}
