//! The body of `POST /v1/pages` (`CreatePageParameters` in notion/pages.ts), built when the
//! event is routed: the parent, the rendered properties, and (with `content`) the message as
//! the page's blocks: its text as paragraphs, its fields as a bulleted list, its link.

use serde::Serialize;
use serde_json::{Value, json};

use super::text::{self, MAX_ITEMS};
use super::{NotionSettings, Parent};
use crate::destinations::message::Message;
use crate::destinations::{Routed, template};

/// Characters of the message's text kept in the page body. Notion takes at most 500 KB per
/// request; this keeps a page well under it, escapes and all.
pub const MAX_CONTENT: usize = 50_000;
/// Fields shown in the page body, so the text keeps most of the 100 blocks.
const MAX_FIELDS: usize = 25;

/// The request body, as stored on the delivery.
pub fn render<S: Serialize>(
    settings: &NotionSettings,
    message: &Message,
    event: &Routed<'_, S>,
) -> String {
    let context = minijinja::context! {
        message => minijinja::Value::from_serialize(message),
        ..template::context(event)
    };
    let properties = settings.properties.render(&context, &event.id.to_string());
    let mut body = json!({
        "parent": parent(&settings.request_parent()),
        "properties": properties,
    });
    if settings.content {
        let blocks = blocks(message);
        if !blocks.is_empty() {
            body["children"] = json!(blocks);
        }
    }
    body.to_string()
}

/// The 2025-09-03 parent: a database (with one data source) or a data source.
fn parent(parent: &Parent) -> Value {
    match parent {
        Parent::Database(id) => json!({"type": "database_id", "database_id": id}),
        Parent::DataSource(id) => json!({"type": "data_source_id", "data_source_id": id}),
    }
}

fn block(kind: &str, rich_text: Vec<Value>) -> Value {
    json!({"object": "block", "type": kind, kind: {"rich_text": rich_text}})
}

/// The page's blocks, at most [`MAX_ITEMS`]: the text's paragraphs (split at blank lines;
/// those beyond the budget joined into the last), then the fields, then the link.
pub fn blocks(message: &Message) -> Vec<Value> {
    let mut tail: Vec<Value> = message
        .fields
        .iter()
        .take(MAX_FIELDS)
        .filter_map(|field| {
            let value = text::cleaned(&field.value);
            if value.is_empty() {
                return None;
            }
            let name = text::cut(&text::one_line(&field.name), 100);
            let mut items = vec![
                json!({"type": "text", "text": {"content": name}, "annotations": {"bold": true}}),
                text::item(": "),
            ];
            items.extend(text::rich_text(&value, MAX_ITEMS - items.len()));
            Some(block("bulleted_list_item", items))
        })
        .collect();
    if let Some(url) = message.link.as_deref().and_then(text::web_url) {
        tail.push(block(
            "paragraph",
            vec![json!({"type": "text", "text": {"content": "Open in Klaxon", "link": {"url": url}}})],
        ));
    }
    let body = text::cut(&text::cleaned(&message.text), MAX_CONTENT);
    let paragraphs: Vec<&str> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let budget = MAX_ITEMS - tail.len();
    let mut blocks: Vec<Value> = Vec::with_capacity(MAX_ITEMS);
    if paragraphs.len() > budget {
        for paragraph in &paragraphs[..budget - 1] {
            blocks.push(block("paragraph", text::rich_text(paragraph, MAX_ITEMS)));
        }
        let rest = paragraphs[budget - 1..].join("\n\n");
        blocks.push(block("paragraph", text::rich_text(&rest, MAX_ITEMS)));
    } else {
        for paragraph in paragraphs {
            blocks.push(block("paragraph", text::rich_text(paragraph, MAX_ITEMS)));
        }
    }
    blocks.extend(tail);
    blocks
}
