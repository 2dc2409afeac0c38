//! Message templates: how an event becomes the [`Message`] a chat, e-mail or Notion
//! destination sends, written in Jinja syntax (MiniJinja) and compiled once, when the
//! settings load, so `klaxon check` reports a broken template with its key.
//!
//! ```toml
//! [pipelines.destinations.slack]
//! channel = "#alerts"
//! token_env = "SLACK_BOT_TOKEN"
//! template = { title = "{{ payload.subject }}", text = "…", fields = [{ name = "Customer", value = "{{ payload.customer.name }}" }] }
//! ```
//!
//! Templates see `event` (`id`, `type`, `occurred_at`), `payload` (after redaction), `labels`
//! and `trace` (`pipeline`, `steps`). A missing field renders as nothing; a field whose
//! value renders empty is left out. Output is plain text: each kind escapes it for its own
//! markup, so a template cannot inject markup either.

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::Routed;
use super::message::{Message, MessageField};
use crate::config::Problems;

/// The default title: the urgency (when classified) and what the event is about.
pub const DEFAULT_TITLE: &str = "{% if labels.urgency %}[{{ labels.urgency | upper }}] {% endif %}\
{{ payload.subject or payload.title or payload.name or payload.summary or event.type }}";
/// The default text: the event's own description, when it has one.
pub const DEFAULT_TEXT: &str =
    "{{ payload.description or payload.body or payload.message or payload.details or '' }}";
/// The default fields; those that render empty are left out.
pub const DEFAULT_FIELDS: &[(&str, &str)] = &[
    ("Event", "{{ event.type }}"),
    ("Urgency", "{{ labels.urgency }}"),
    ("Priority", "{{ payload.priority }}"),
    ("Status", "{{ payload.status }}"),
    (
        "Customer",
        "{{ payload.customer.name or payload.customer or payload.account }}",
    ),
];

/// Characters kept of one rendered field: templates of a few fields should not become
/// walls of text (kinds apply their own, stricter limits on top).
const MAX_FIELD_CHARS: usize = 1_000;

/// `template = { title, text, fields = [{ name, value }] }`; each part is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplate {
    pub title: Option<String>,
    pub text: Option<String>,
    pub fields: Option<Vec<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: String,
    pub value: String,
}

/// A destination's compiled templates.
pub struct MessageTemplate {
    env: Environment<'static>,
    /// The field names, in order; field `i`'s template is named `field.{i}`.
    fields: Vec<String>,
    /// `PUBLIC_URL`, for the link to the event on the live page.
    public_url: Option<String>,
}

impl std::fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageTemplate")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl MessageTemplate {
    /// Compiles the templates (the defaults for parts not given). Problems are keyed below
    /// `template` (`template.title`, `template.fields[1].value`).
    pub fn compile(
        raw: Option<RawTemplate>,
        public_url: Option<&str>,
    ) -> Result<MessageTemplate, Problems> {
        let raw = raw.unwrap_or_default();
        let mut env = environment();
        let mut problems = Problems::new();
        let add = |env: &mut Environment<'static>,
                   problems: &mut Problems,
                   name: String,
                   key: String,
                   source: String| {
            if let Err(error) = env.add_template_owned(name, source) {
                problems.push(key, format!("the template does not compile: {error}"));
            }
        };
        add(
            &mut env,
            &mut problems,
            "title".into(),
            "template.title".into(),
            raw.title.unwrap_or_else(|| DEFAULT_TITLE.to_owned()),
        );
        add(
            &mut env,
            &mut problems,
            "text".into(),
            "template.text".into(),
            raw.text.unwrap_or_else(|| DEFAULT_TEXT.to_owned()),
        );
        let fields: Vec<(String, String)> = match raw.fields {
            Some(fields) => fields.into_iter().map(|f| (f.name, f.value)).collect(),
            None => DEFAULT_FIELDS
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        let mut names = Vec::with_capacity(fields.len());
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if name.trim().is_empty() {
                problems.push(
                    format!("template.fields[{i}].name"),
                    "give the field a name",
                );
            }
            add(
                &mut env,
                &mut problems,
                format!("field.{i}"),
                format!("template.fields[{i}].value"),
                value,
            );
            names.push(name);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(MessageTemplate {
            env,
            fields: names,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        })
    }

    /// The message for `event`. A part that fails to render (a filter given the wrong type,
    /// say) is replaced by a note saying so, and logged: the event is still delivered.
    pub fn render<S: Serialize>(&self, event: &Routed<'_, S>) -> Message {
        let context = context(event);
        let part = |name: &str| -> String {
            let rendered = self
                .env
                .get_template(name)
                .and_then(|template| template.render(&context));
            match rendered {
                Ok(text) if text.trim().len() == text.len() => text,
                Ok(text) => text.trim().to_owned(),
                Err(error) => {
                    tracing::warn!(%error, template = name, event = %event.id, "a message template failed to render");
                    format!("(template {name} failed: {})", error.kind())
                }
            }
        };
        let fields = self
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let value = part(&format!("field.{i}"));
                (!value.is_empty()).then(|| MessageField {
                    name: name.clone(),
                    value: truncated(value, MAX_FIELD_CHARS),
                })
            })
            .collect();
        let urgency = ["urgency", "severity", "priority"]
            .iter()
            .find_map(|key| event.labels.get(*key).or_else(|| event.payload.get(*key)))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Message {
            title: one_line(&part("title")),
            text: part("text"),
            fields,
            urgency,
            link: self
                .public_url
                .as_ref()
                .map(|base| format!("{base}/#{}", event.id)),
            event_id: event.id.to_string(),
            event_type: event.event_type.to_owned(),
            occurred_at: event.occurred_at.to_owned(),
        }
    }
}

/// An environment for templates that fill text into messages: a missing field is nothing,
/// not an error. Kinds with templates of their own (Notion's properties) compile them here.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// What templates see of `event`: `event` (`id`, `type`, `occurred_at`), `payload`, `labels`
/// and `trace`.
pub fn context<S: Serialize>(event: &Routed<'_, S>) -> minijinja::Value {
    minijinja::context! {
        event => minijinja::context! {
            id => event.id.to_string(),
            type => event.event_type,
            occurred_at => event.occurred_at,
        },
        payload => minijinja::Value::from_serialize(event.payload),
        labels => minijinja::Value::from_serialize(event.labels),
        trace => minijinja::Value::from_serialize(event.trace),
    }
}

/// A title is one line: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncated(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::store::EventId;

    fn render(template: &MessageTemplate, payload: Value, labels: Value) -> Message {
        let labels: Map<String, Value> = labels.as_object().cloned().unwrap_or_default();
        let trace = json!({"pipeline": "support", "steps": []});
        let id: EventId = "0190f1c2-a3b4-7c8d-9e0f-112233445566".parse().unwrap();
        template.render(&Routed::new(
            id,
            "support.ticket.created",
            "2026-12-05T08:00:00Z",
            &payload,
            &labels,
            &trace,
        ))
    }

    #[test]
    fn the_default_template_reads_well_without_configuration() {
        let template = MessageTemplate::compile(None, Some("https://klaxon.example.com/")).unwrap();
        let message = render(
            &template,
            json!({"subject": "Checkout is down\nfor everyone", "priority": "URGENT", "description": "500s since 09:12"}),
            json!({"urgency": "critical"}),
        );
        assert_eq!(message.title, "[CRITICAL] Checkout is down for everyone");
        assert_eq!(message.text, "500s since 09:12");
        let fields: Vec<(&str, &str)> = message
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("Event", "support.ticket.created"),
                ("Urgency", "critical"),
                ("Priority", "URGENT")
            ]
        );
        assert_eq!(message.urgency.as_deref(), Some("critical"));
        assert_eq!(
            message.link.as_deref(),
            Some("https://klaxon.example.com/#0190f1c2-a3b4-7c8d-9e0f-112233445566")
        );
    }

    #[test]
    fn custom_templates_see_the_event_labels_and_trace() {
        let raw: RawTemplate = toml::from_str(
            r#"
            title = "{{ event.type }} via {{ trace.pipeline }}"
            text = "{% for k, v in labels | items %}{{ k }}={{ v }} {% endfor %}"
            fields = [{ name = "Who", value = "{{ payload.customer.name }}" }, { name = "Missing", value = "{{ payload.nope.deeper }}" }]
            "#,
        )
        .unwrap();
        let template = MessageTemplate::compile(Some(raw), None).unwrap();
        let message = render(
            &template,
            json!({"customer": {"name": "<b>Acme</b>"}}),
            json!({"urgency": "high"}),
        );
        assert_eq!(message.title, "support.ticket.created via support");
        assert_eq!(message.text, "urgency=high");
        // Plain text, unescaped: each kind escapes for its own markup. Empty fields drop out.
        assert_eq!(message.fields.len(), 1);
        assert_eq!(message.fields[0].value, "<b>Acme</b>");
        assert_eq!(message.link, None);
    }

    #[test]
    fn a_broken_template_is_reported_with_its_key() {
        let raw: RawTemplate = toml::from_str(
            r#"
            title = "{{ payload.subject "
            fields = [{ name = "", value = "{% if %}" }]
            "#,
        )
        .unwrap();
        let problems = MessageTemplate::compile(Some(raw), None)
            .unwrap_err()
            .into_inner();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "template.title",
                "template.fields[0].name",
                "template.fields[0].value"
            ]
        );
        assert!(problems[0].1.contains("does not compile"), "{problems:?}");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncated("abcdef".into(), 4), "abc…");
        assert_eq!(truncated("abc".into(), 4), "abc");
    }
}
