//! The page's properties: one MiniJinja template per database property, typed by its key,
//! compiled with the settings and rendered when the event is routed.
//!
//! ```toml
//! properties = { Name = { title = "{{ message.title }}" },
//!                Urgency = { select = "{{ labels.urgency }}" },
//!                Occurred = { date = "{{ event.occurred_at }}" } }
//! ```
//!
//! Templates see what message templates see (`event`, `payload`, `labels`, `trace`) and the
//! rendered `message` (`title`, `text`, `fields`, `urgency`, `link`). Without `properties`, a
//! page gets its title property `Name` (the name Notion gives a new database's title) from
//! the message's title.

use minijinja::Environment;
use serde_json::{Map, Value, json};

use super::text;
use crate::config::Problems;
use crate::destinations::template;

/// The default properties: the title, from the message.
pub const DEFAULT_PROPERTIES: &[(&str, PropertyKind, &str)] = &[(
    "Name",
    PropertyKind::Title,
    "{{ message.title or event.type }}",
)];

/// The property types a template can fill (`people`, `relation`, `files` need ids an event
/// does not have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    Title,
    RichText,
    Select,
    MultiSelect,
    Status,
    Date,
    Url,
    Email,
    PhoneNumber,
    Number,
    Checkbox,
}

impl PropertyKind {
    pub const ALL: [PropertyKind; 11] = [
        PropertyKind::Title,
        PropertyKind::RichText,
        PropertyKind::Select,
        PropertyKind::MultiSelect,
        PropertyKind::Status,
        PropertyKind::Date,
        PropertyKind::Url,
        PropertyKind::Email,
        PropertyKind::PhoneNumber,
        PropertyKind::Number,
        PropertyKind::Checkbox,
    ];

    /// The key of the property value in the request, and in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyKind::Title => "title",
            PropertyKind::RichText => "rich_text",
            PropertyKind::Select => "select",
            PropertyKind::MultiSelect => "multi_select",
            PropertyKind::Status => "status",
            PropertyKind::Date => "date",
            PropertyKind::Url => "url",
            PropertyKind::Email => "email",
            PropertyKind::PhoneNumber => "phone_number",
            PropertyKind::Number => "number",
            PropertyKind::Checkbox => "checkbox",
        }
    }

    fn parse(key: &str) -> Option<PropertyKind> {
        PropertyKind::ALL.into_iter().find(|k| k.as_str() == key)
    }

    /// The property value for `rendered` text; `None` when it is empty or cannot be one.
    pub fn value(self, rendered: &str) -> Option<Value> {
        let key = self.as_str();
        let inner = match self {
            PropertyKind::Title => {
                json!(text::rich_text(&text::one_line(rendered), text::MAX_ITEMS))
            }
            PropertyKind::RichText => {
                json!(text::rich_text(&text::cleaned(rendered), text::MAX_ITEMS))
            }
            PropertyKind::Select | PropertyKind::Status => {
                json!({"name": text::option_name(rendered)?})
            }
            PropertyKind::MultiSelect => {
                let names = text::option_names(rendered);
                json!(
                    names
                        .iter()
                        .map(|name| json!({"name": name}))
                        .collect::<Vec<_>>()
                )
            }
            PropertyKind::Date => json!({"start": text::iso_date(rendered)?}),
            PropertyKind::Url => json!(text::web_url(rendered)?),
            PropertyKind::Email => json!(text::email(rendered)?),
            PropertyKind::PhoneNumber => json!(text::phone(rendered)?),
            PropertyKind::Number => text::number(rendered)?,
            PropertyKind::Checkbox => json!(text::checkbox(rendered)?),
        };
        if inner.as_array().is_some_and(Vec::is_empty) {
            return None;
        }
        Some(json!({ key: inner }))
    }
}

/// A destination's compiled property templates.
pub struct Properties {
    env: Environment<'static>,
    /// Each property's name and type, in settings order; property `i`'s template is named
    /// `property.{i}`.
    specs: Vec<(String, PropertyKind)>,
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Properties")
            .field("specs", &self.specs)
            .finish_non_exhaustive()
    }
}

impl Properties {
    /// Compiles `properties = { … }` (the defaults without it). Problems are keyed below
    /// `properties` (`properties.Urgency.select`).
    pub fn compile(raw: Option<toml::Table>) -> Result<Properties, Problems> {
        let mut problems = Problems::new();
        let mut env = template::environment();
        let mut specs: Vec<(String, PropertyKind)> = Vec::new();
        let given: Vec<(String, PropertyKind, String)> = match raw {
            None => DEFAULT_PROPERTIES
                .iter()
                .map(|(name, kind, source)| ((*name).to_owned(), *kind, (*source).to_owned()))
                .collect(),
            Some(table) => table
                .into_iter()
                .filter_map(|(name, value)| one(&name, value, &mut problems))
                .collect(),
        };
        for (name, kind, source) in given {
            let key = format!("properties.{name}.{}", kind.as_str());
            if kind == PropertyKind::Title
                && let Some((first, _)) = specs.iter().find(|(_, k)| *k == PropertyKind::Title)
            {
                problems.push(
                    &key,
                    format!("a database has one title property, and {first:?} is given as it"),
                );
            }
            let template = format!("property.{}", specs.len());
            if let Err(error) = env.add_template_owned(template, source) {
                problems.push(&key, format!("the template does not compile: {error}"));
            }
            specs.push((name, kind));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Properties { env, specs })
    }

    /// Each property's name and type.
    pub fn specs(&self) -> &[(String, PropertyKind)] {
        &self.specs
    }

    /// The `properties` of the request for `context`. A template that renders empty, or text
    /// that cannot be its type, leaves its property out; one that fails to render is logged
    /// and left out (the page is still created).
    pub fn render(&self, context: &minijinja::Value, event_id: &str) -> Map<String, Value> {
        let mut out = Map::new();
        for (i, (name, kind)) in self.specs.iter().enumerate() {
            let rendered = self
                .env
                .get_template(&format!("property.{i}"))
                .and_then(|template| template.render(context));
            match rendered {
                Ok(rendered) => {
                    if let Some(value) = kind.value(&rendered) {
                        out.insert(name.clone(), value);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, property = %name, event = %event_id, "a Notion property template failed to render");
                }
            }
        }
        out
    }
}

/// One `Name = { type = "template" }` entry, or its problem.
fn one(
    name: &str,
    value: toml::Value,
    problems: &mut Problems,
) -> Option<(String, PropertyKind, String)> {
    let at = format!("properties.{name}");
    if name.trim().is_empty() {
        problems.push("properties", "a property needs a name");
        return None;
    }
    let kinds = || {
        PropertyKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut entries: Vec<(String, toml::Value)> = match value {
        toml::Value::Table(table) => table.into_iter().collect(),
        _ => Vec::new(),
    };
    let (Some((key, source)), None) = (entries.pop(), entries.pop()) else {
        problems.push(
            at,
            format!(
                "should be one type and its template, e.g. {{ rich_text = \"{{{{ payload.description }}}}\" }}; types: {}",
                kinds()
            ),
        );
        return None;
    };
    let Some(kind) = PropertyKind::parse(&key) else {
        problems.push(
            format!("{at}.{key}"),
            format!(
                "not a property type Klaxon can fill: use one of {}",
                kinds()
            ),
        );
        return None;
    };
    match source {
        toml::Value::String(source) => Some((name.to_owned(), kind, source)),
        _ => {
            problems.push(
                format!("{at}.{key}"),
                "should be a template string, e.g. \"{{ payload.subject }}\"",
            );
            None
        }
    }
}
