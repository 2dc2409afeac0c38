//! The blocks of a new page (`children` or `content` of `CreatePageBodyParameters`,
//! `BlockObjectRequest` in notion/common.ts) and its icon and cover, as far as the sandbox
//! simulates them: `paragraph`, `heading_1`–`heading_3`, `bulleted_list_item`,
//! `numbered_list_item`, `quote`, `to_do`, `callout`, `divider` and `code` (its `language`
//! one of `LanguageRequest`), without nested children; emoji and external icons, external
//! covers. Other block types (images, tables, toggles…) are refused as not simulated.

use serde_json::Value;

use super::fields::{Checked, Count, Kind, Obj, Path, Problem, Type, wrong};
use super::notion_page::{API_COLORS, MAX_TEXT, rich_text};

const TEXT_BLOCKS: &[&str] = &[
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "quote",
    "to_do",
    "callout",
];

/// `LanguageRequest` in common.ts.
const LANGUAGES: &[&str] = &[
    "abap",
    "abc",
    "agda",
    "arduino",
    "ascii art",
    "assembly",
    "bash",
    "basic",
    "bnf",
    "c",
    "c#",
    "c++",
    "clojure",
    "coffeescript",
    "coq",
    "css",
    "dart",
    "dhall",
    "diff",
    "docker",
    "ebnf",
    "elixir",
    "elm",
    "erlang",
    "f#",
    "flow",
    "fortran",
    "gherkin",
    "glsl",
    "go",
    "graphql",
    "groovy",
    "haskell",
    "hcl",
    "html",
    "idris",
    "java",
    "javascript",
    "json",
    "julia",
    "kotlin",
    "latex",
    "less",
    "lisp",
    "livescript",
    "llvm ir",
    "lua",
    "makefile",
    "markdown",
    "markup",
    "matlab",
    "mathematica",
    "mermaid",
    "nix",
    "notion formula",
    "objective-c",
    "ocaml",
    "pascal",
    "perl",
    "php",
    "plain text",
    "powershell",
    "prolog",
    "protobuf",
    "purescript",
    "python",
    "r",
    "racket",
    "reason",
    "ruby",
    "rust",
    "sass",
    "scala",
    "scheme",
    "scss",
    "shell",
    "smalltalk",
    "solidity",
    "sql",
    "swift",
    "toml",
    "typescript",
    "vb.net",
    "verilog",
    "vhdl",
    "visual basic",
    "webassembly",
    "xml",
    "yaml",
    "java/c/c++/c#",
];

/// One block of `children` or `content`, without nested children.
pub(crate) fn block(value: &Value, path: &Path) -> Checked<()> {
    let map = value
        .as_object()
        .ok_or_else(|| wrong(path, Type::Object, value))?;
    let keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "type" | "object"))
        .collect();
    let [kind] = keys.as_slice() else {
        return Err(Problem::invalid(
            path.clone(),
            "should have exactly one block type",
        ));
    };
    let known: Vec<&str> = TEXT_BLOCKS
        .iter()
        .copied()
        .chain(["divider", "code"])
        .collect();
    if !known.contains(kind) {
        return Err(Problem::invalid(
            path.key(kind),
            format!(
                "is not simulated by the sandbox (it simulates {} blocks)",
                known.join(", ")
            ),
        ));
    }
    let b = Obj::new(value, path, &[kind, "type", "object"])?;
    if b.str("type")?.is_some_and(|t| t != *kind) {
        return Err(Problem::invalid(
            b.at("type"),
            format!("should be `\"{kind}\"`"),
        ));
    }
    b.one_of("object", &["block"])?;
    let at = b.at(kind);
    let content = &map[*kind];
    match *kind {
        "divider" => {
            Obj::new(content, &at, &[])?;
        }
        "code" => {
            let c = Obj::new(content, &at, &["rich_text", "language", "caption"])?;
            rich_text(
                c.get("rich_text")
                    .ok_or_else(|| Problem::new(c.at("rich_text"), Kind::Missing))?,
                &c.at("rich_text"),
            )?;
            if c.one_of("language", LANGUAGES)?.is_none() {
                return Err(Problem::new(c.at("language"), Kind::Missing));
            }
            if let Some(caption) = c.get("caption") {
                rich_text(caption, &c.at("caption"))?;
            }
        }
        text_block => {
            let mut fields = vec!["rich_text", "color"];
            match text_block {
                "heading_1" | "heading_2" | "heading_3" => fields.push("is_toggleable"),
                "to_do" => fields.push("checked"),
                "callout" => fields.push("icon"),
                _ => {}
            }
            let c = Obj::new(content, &at, &fields)?;
            rich_text(
                c.get("rich_text")
                    .ok_or_else(|| Problem::new(c.at("rich_text"), Kind::Missing))?,
                &c.at("rich_text"),
            )?;
            c.one_of("color", API_COLORS)?;
            c.bool("is_toggleable")?;
            c.bool("checked")?;
            if let Some(icon) = c.get("icon") {
                self::icon(icon, &c.at("icon"), true)?;
            }
        }
    }
    Ok(())
}

/// A page or callout icon (`emoji` or `external`), or a cover (`external` only).
pub(crate) fn icon(value: &Value, path: &Path, emoji_allowed: bool) -> Checked<()> {
    let kind = match value.get("type").and_then(Value::as_str) {
        Some(kind) => kind,
        None if value.get("emoji").is_some() => "emoji",
        None => "external",
    };
    match kind {
        "emoji" if emoji_allowed => {
            let i = Obj::new(value, path, &["type", "emoji"])?;
            i.required_str("emoji")?;
        }
        "external" => {
            let i = Obj::new(value, path, &["type", "external"])?;
            let at = i.at("external");
            let external = i
                .get("external")
                .ok_or_else(|| Problem::new(at.clone(), Kind::Missing))?;
            let e = Obj::new(external, &at, &["url"])?;
            e.required_str("url")?;
            e.str_max("url", MAX_TEXT, Count::Utf16)?;
        }
        _ => {
            return Err(Problem::invalid(
                path.key("type"),
                format!("`{kind}` is not simulated by the sandbox"),
            ));
        }
    }
    Ok(())
}
