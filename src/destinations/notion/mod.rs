//! Notion: each event becomes a page in a database (a row of it), through an integration
//! token and `POST /v1/pages`, Notion-Version 2025-09-03.
//!
//! - settings: `notion = { token_env = "NOTION_TOKEN", database_id = "…" }` (or
//!   `data_source_id`, for a database with several data sources), `properties = { Name =
//!   { title = "{{ message.title }}" }, Urgency = { select = "{{ labels.urgency }}" } }` (one
//!   MiniJinja template per database property, typed by its key; [`properties`]),
//!   `content` (default true: the message's text, fields and link as the page's body),
//!   `max_per_second` (default 3, Notion's pace for one integration; 0 = off),
//!   `timeout_secs`, `api_base` (Notion's origin; for a stand-in server) and `template`. In
//!   sandbox mode, a destination whose token variable is unset creates its pages in the
//!   sandbox Notion's database instead (whatever id is configured: the sandbox knows only its
//!   own).
//! - the request ([`page`]): the parent, the properties (rich text cut into items of at most
//!   2,000 characters, select names without commas, dates as ISO 8601; a property whose
//!   template renders empty is left out) and the body blocks. Notion text is plain text:
//!   nothing in an event becomes a mention, a link or markup.
//! - the answer ([`send`]): 200 → delivered, the page's id and URL kept; 429 → retried after
//!   `Retry-After`; 400 `validation_error`, 401 `unauthorized`, 403 `restricted_resource`,
//!   404 `object_not_found` (a database not shared with the integration) → dead with Notion's
//!   message; 409 `conflict_error`, 5xx and transport failures → retried.

mod page;
pub mod properties;
mod send;
#[cfg(test)]
mod tests;
mod text;

use std::time::Duration;

use serde::Deserialize;

pub use page::render;
pub use properties::{Properties, PropertyKind};
pub use send::send;

use super::rate_limit::Pace;
use super::{SettingsContext, provider_settings};
use crate::config::Problems;
use crate::destinations::sandbox_contract as sandbox;

/// Notion's origin.
pub const DEFAULT_API_BASE: &str = "https://api.notion.com";
/// The API version whose request shapes this module sends.
pub const NOTION_VERSION: &str = "2025-09-03";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Notion allows an average of three requests per second per integration.
pub const DEFAULT_PER_SECOND: f64 = 3.0;

/// `notion = { … }`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotion {
    /// The environment variable holding the integration token.
    pub token_env: Option<String>,
    pub database_id: Option<String>,
    pub data_source_id: Option<String>,
    /// `{ <property name> = { <type> = "<template>" } }`; checked by [`properties`], so a
    /// wrong shape is reported at the property's key.
    pub properties: Option<toml::Table>,
    pub content: Option<bool>,
    pub max_per_second: Option<f64>,
    pub timeout_secs: Option<u64>,
    pub api_base: Option<String>,
}

crate::redacted::redacted_string! {
    /// A Notion integration token (`ntn_…`, or the older `secret_…`).
    pub struct NotionToken;
}

/// Where pages are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// A database with one data source (Notion refuses a `database_id` parent otherwise).
    Database(String),
    DataSource(String),
}

/// A Notion destination, validated.
#[derive(Debug)]
pub struct NotionSettings {
    pub parent: Parent,
    /// `None`: no token in sandbox mode; pages go to the sandbox Notion.
    pub token: Option<NotionToken>,
    pub properties: Properties,
    /// Whether the message's text, fields and link become the page's body.
    pub content: bool,
    pub pace: Pace,
    pub timeout: Duration,
    pub api_base: String,
}

impl NotionSettings {
    /// For `/v1/destinations`: the database, never the token.
    pub fn summary(&self) -> String {
        let sandbox = if self.uses_sandbox() {
            " (sandbox)"
        } else {
            ""
        };
        match &self.parent {
            Parent::Database(id) => format!("notion database {id}{sandbox}"),
            Parent::DataSource(id) => format!("notion data source {id}{sandbox}"),
        }
    }

    pub fn uses_sandbox(&self) -> bool {
        self.token.is_none()
    }

    /// The parent as sent: the sandbox's own database (of the same kind) without a token.
    pub fn request_parent(&self) -> Parent {
        match (&self.parent, &self.token) {
            (parent, Some(_)) => parent.clone(),
            (Parent::Database(_), None) => {
                Parent::Database(dashed(sandbox::NOTION_DATABASE_ID).unwrap_or_default())
            }
            (Parent::DataSource(_), None) => {
                Parent::DataSource(dashed(sandbox::NOTION_DATA_SOURCE_ID).unwrap_or_default())
            }
        }
    }
}

/// Validates the settings; problems are keyed below `notion`.
pub fn settings(raw: RawNotion, context: &SettingsContext<'_>) -> Result<NotionSettings, Problems> {
    let mut problems = Problems::new();
    let token = match &raw.token_env {
        Some(var) => match (context.env)(var).filter(|v| !v.trim().is_empty()) {
            Some(value) => Some(NotionToken::new(value.trim())),
            None if context.sandbox => None,
            None => {
                problems.push(
                    "token_env",
                    format!("the environment variable {var} is not set"),
                );
                None
            }
        },
        None if context.sandbox => None,
        None => {
            problems.push(
                "token_env",
                "name the environment variable holding the integration token (token_env = \"NOTION_TOKEN\")",
            );
            None
        }
    };
    let id = |key: &str, value: &str, problems: &mut Problems| match dashed(value) {
        Some(id) => Some(id),
        None => {
            problems.push(
                key,
                format!(
                    "{value:?} is not a Notion id: use the 32 hexadecimal digits from the database's URL or its settings"
                ),
            );
            None
        }
    };
    let parent = match (&raw.database_id, &raw.data_source_id) {
        (Some(_), Some(_)) => {
            problems.push(
                "data_source_id",
                "set database_id or data_source_id, not both",
            );
            None
        }
        (Some(value), None) => id("database_id", value, &mut problems).map(Parent::Database),
        (None, Some(value)) => id("data_source_id", value, &mut problems).map(Parent::DataSource),
        (None, None) if token.is_none() && context.sandbox => {
            dashed(sandbox::NOTION_DATABASE_ID).map(Parent::Database)
        }
        (None, None) => {
            problems.push(
                "database_id",
                "name the database to add pages to (database_id = \"…\"), or its data_source_id",
            );
            None
        }
    };
    let properties = Properties::compile(raw.properties)
        .map_err(|p| {
            for (key, message) in p.into_inner() {
                problems.push(key, message);
            }
        })
        .ok();
    let pace =
        provider_settings::pace(raw.max_per_second, DEFAULT_PER_SECOND, 100.0, &mut problems);
    let timeout = provider_settings::timeout(raw.timeout_secs, DEFAULT_TIMEOUT, &mut problems);
    let api_base = provider_settings::api_base(raw.api_base, DEFAULT_API_BASE, &mut problems);
    match (parent, properties) {
        (Some(parent), Some(properties)) if problems.is_empty() => Ok(NotionSettings {
            parent,
            token,
            properties,
            content: raw.content.unwrap_or(true),
            pace,
            timeout,
            api_base,
        }),
        _ => Err(problems),
    }
}

/// A Notion id as Notion prints it (8-4-4-4-12, lower case), from 32 hexadecimal digits with
/// or without dashes; `None` when it is not one.
fn dashed(id: &str) -> Option<String> {
    let hex: String = id
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}
