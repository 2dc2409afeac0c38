//! Block Kit, as far as alert messages use it. The spec's `blocks` definition is only "an
//! array of objects with a `type`", so these rules come from the Block Kit reference
//! (docs.slack.dev, "Reference: blocks", "Composition objects", "Block elements"):
//!
//! | Block | Rules |
//! |---|---|
//! | any | at most 50 per message; `block_id` ≤ 255 characters |
//! | `section` | `text` (≤ 3000) and/or `fields` (≤ 10, each ≤ 2000); `accessory` a button or image; `expand` |
//! | `header` | `text`: `plain_text` ≤ 150 |
//! | `divider` | nothing else |
//! | `context` | `elements`: 1 to 10 text objects or image elements |
//! | `actions` | `elements`: 1 to 25 buttons |
//! | `image` | `image_url` ≤ 3000, `alt_text` ≤ 2000, `title` `plain_text` ≤ 2000 |
//! | `markdown` | `text` ≤ 12000 |
//!
//! A text object is `{type: plain_text|mrkdwn, text: 1–3000 characters, emoji (plain_text),
//! verbatim (mrkdwn)}`; a button `{type: button, text: plain_text ≤ 75, action_id ≤ 255,
//! url ≤ 3000, value ≤ 2000, style: primary|danger, accessibility_label ≤ 75}`. Other block
//! and element types (inputs, selects, rich text…) are refused as not simulated.

use serde_json::Value;

use super::fields::{Checked, Count, Kind, Obj, Path, Problem, check_len, is_web_url};

const MAX_BLOCKS: usize = 50;
const MAX_BLOCK_ID: usize = 255;
const MAX_TEXT: usize = 3000;

const BLOCK_TYPES: &[&str] = &[
    "section", "header", "divider", "context", "actions", "image", "markdown",
];

/// Checks a message's `blocks` (at `path`).
pub(crate) fn check(blocks: &[Value], path: &Path) -> Checked<()> {
    if blocks.len() > MAX_BLOCKS {
        return Err(Problem::new(
            path.clone(),
            Kind::TooMany {
                max: MAX_BLOCKS,
                actual: blocks.len(),
            },
        ));
    }
    for (index, block) in blocks.iter().enumerate() {
        check_block(block, &path.index(index))?;
    }
    Ok(())
}

fn check_block(block: &Value, path: &Path) -> Checked<()> {
    let kind = block_type(block, path, BLOCK_TYPES)?;
    let b = match kind {
        "section" => Obj::new(
            block,
            path,
            &["type", "block_id", "text", "fields", "accessory", "expand"],
        )?,
        "header" => Obj::new(block, path, &["type", "block_id", "text"])?,
        "divider" => Obj::new(block, path, &["type", "block_id"])?,
        "context" | "actions" => Obj::new(block, path, &["type", "block_id", "elements"])?,
        "image" => Obj::new(
            block,
            path,
            &["type", "block_id", "image_url", "alt_text", "title"],
        )?,
        _ => Obj::new(block, path, &["type", "block_id", "text"])?,
    };
    b.str_max("block_id", MAX_BLOCK_ID, Count::Chars)?;
    match kind {
        "section" => {
            if let Some(text) = b.get("text") {
                text_object(text, &b.at("text"), MAX_TEXT, false)?;
            }
            let fields = b.array_max("fields", 10)?;
            for (index, field) in fields.into_iter().flatten().enumerate() {
                text_object(field, &b.at("fields").index(index), 2000, false)?;
            }
            if !b.has("text") && fields.is_none_or(|f| f.is_empty()) {
                return Err(Problem::new(b.at("text"), Kind::Missing));
            }
            if let Some(accessory) = b.get("accessory") {
                element(accessory, &b.at("accessory"), &["button", "image"])?;
            }
            b.bool("expand")?;
        }
        "header" => {
            let text = b
                .get("text")
                .ok_or_else(|| Problem::new(b.at("text"), Kind::Missing))?;
            text_object(text, &b.at("text"), 150, true)?;
        }
        "context" => {
            for (index, item) in elements(&b, 10)?.iter().enumerate() {
                let at = b.at("elements").index(index);
                match item.get("type").and_then(Value::as_str) {
                    Some("image") => element(item, &at, &["image"])?,
                    _ => text_object(item, &at, MAX_TEXT, false)?,
                }
            }
        }
        "actions" => {
            for (index, item) in elements(&b, 25)?.iter().enumerate() {
                element(item, &b.at("elements").index(index), &["button"])?;
            }
        }
        "image" => {
            image_url(&b)?;
            alt_text(&b)?;
            if let Some(title) = b.get("title") {
                text_object(title, &b.at("title"), 2000, true)?;
            }
        }
        "markdown" => {
            b.required_str("text")?;
            b.str_max("text", 12_000, Count::Chars)?;
        }
        _ => {}
    }
    Ok(())
}

/// The `type` of a block or element, among `allowed`.
fn block_type<'a>(
    value: &'a Value,
    path: &Path,
    allowed: &'static [&'static str],
) -> Checked<&'a str> {
    let kind = match value.get("type") {
        None => return Err(Problem::new(path.key("type"), Kind::Missing)),
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(Problem::new(
                path.key("type"),
                Kind::WrongType {
                    expected: super::fields::Type::String,
                    found: other.clone(),
                },
            ));
        }
    };
    if !value.is_object() {
        return Err(Problem::invalid(path.clone(), "must provide an object"));
    }
    if !allowed.contains(&kind) {
        return Err(Problem::invalid(
            path.key("type"),
            format!(
                "unsupported type: {kind} (the sandbox simulates {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(kind)
}

fn elements<'a>(b: &Obj<'a>, max: usize) -> Checked<&'a Vec<Value>> {
    let items = b
        .array_max("elements", max)?
        .ok_or_else(|| Problem::new(b.at("elements"), Kind::Missing))?;
    if items.is_empty() {
        return Err(Problem::new(
            b.at("elements"),
            Kind::TooFew { min: 1, actual: 0 },
        ));
    }
    Ok(items)
}

/// `{type: plain_text|mrkdwn, text, emoji, verbatim}` with `text` of 1 to `max` characters.
fn text_object(value: &Value, path: &Path, max: usize, plain_only: bool) -> Checked<()> {
    let allowed: &'static [&'static str] = if plain_only {
        &["plain_text"]
    } else {
        &["plain_text", "mrkdwn"]
    };
    let kind = block_type(value, path, allowed)?;
    let known: &[&str] = if kind == "plain_text" {
        &["type", "text", "emoji"]
    } else {
        &["type", "text", "verbatim"]
    };
    let t = Obj::new(value, path, known)?;
    let text = t.required_str("text")?;
    if text.is_empty() {
        return Err(Problem::new(
            t.at("text"),
            Kind::TooShort { min: 1, actual: 0 },
        ));
    }
    check_len(&t.at("text"), text, max, Count::Chars)?;
    t.bool("emoji")?;
    t.bool("verbatim")?;
    Ok(())
}

fn element(value: &Value, path: &Path, allowed: &'static [&'static str]) -> Checked<()> {
    match block_type(value, path, allowed)? {
        "button" => {
            let b = Obj::new(
                value,
                path,
                &[
                    "type",
                    "text",
                    "action_id",
                    "url",
                    "value",
                    "style",
                    "accessibility_label",
                ],
            )?;
            let text = b
                .get("text")
                .ok_or_else(|| Problem::new(b.at("text"), Kind::Missing))?;
            text_object(text, &b.at("text"), 75, true)?;
            b.str_max("action_id", 255, Count::Chars)?;
            b.str_max("value", 2000, Count::Chars)?;
            b.str_max("accessibility_label", 75, Count::Chars)?;
            b.one_of("style", &["primary", "danger"])?;
            if let Some(url) = b.str_max("url", 3000, Count::Chars)?
                && !is_web_url(url)
            {
                return Err(Problem::invalid(b.at("url"), "must be a valid URL"));
            }
        }
        _ => {
            let image = Obj::new(value, path, &["type", "image_url", "alt_text"])?;
            image_url(&image)?;
            alt_text(&image)?;
        }
    }
    Ok(())
}

fn image_url(b: &Obj<'_>) -> Checked<()> {
    let url = b.required_str("image_url")?;
    check_len(&b.at("image_url"), url, 3000, Count::Chars)?;
    if !is_web_url(url) {
        return Err(Problem::invalid(b.at("image_url"), "must be a valid URL"));
    }
    Ok(())
}

fn alt_text(b: &Obj<'_>) -> Checked<()> {
    b.required_str("alt_text")?;
    b.str_max("alt_text", 2000, Count::Chars)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(blocks: Value) -> Checked<()> {
        check(
            blocks.as_array().expect("an array"),
            &Path::default().key("blocks"),
        )
    }

    #[test]
    fn an_alert_layout_passes() {
        let blocks = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Checkout is down", "emoji": true}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*EU* customers get 500s"},
             "fields": [{"type": "mrkdwn", "text": "*Severity*\nP1"}]},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "klaxon"}]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"},
              "url": "https://klaxon.example.com/e/1", "style": "primary"}]},
        ]);
        assert_eq!(checked(blocks), Ok(()));
    }

    #[test]
    fn block_kit_limits_hold() {
        let long_header =
            json!([{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]);
        assert_eq!(
            checked(long_header).map_err(|p| (p.path.pointer(), p.kind)),
            Err((
                "/blocks/0/text/text".to_owned(),
                Kind::TooLong {
                    max: 150,
                    actual: 151
                }
            ))
        );
        let mrkdwn_header = json!([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]);
        assert!(checked(mrkdwn_header).is_err());
        let too_many = Value::Array(vec![json!({"type": "divider"}); 51]);
        assert!(checked(too_many).is_err());
        let empty_section = json!([{"type": "section"}]);
        assert!(checked(empty_section).is_err());
        let unknown = json!([{"type": "divider", "colour": "red"}]);
        assert_eq!(
            checked(unknown).map_err(|p| p.path.pointer()),
            Err("/blocks/0/colour".to_owned())
        );
        let rich = json!([{"type": "rich_text", "elements": []}]);
        assert!(checked(rich).is_err());
    }
}
