//! Where a delivery row goes, as the worker routes it: a [`Target`], stored serialized on the
//! row (`deliveries.target`), so a job's kind is never guessed from its destination's name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A delivery's kind. Kinds configured in `[[pipelines.destinations]]` find their settings
/// by the delivery's destination name; Merge write-back jobs carry everything in their body.
///
/// Serialized as an internally tagged object (`{"kind":"slack"}`) so a kind can later carry
/// data without a schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Webhook,
    Email,
    Slack,
    Notion,
    Discord,
    Telegram,
    /// A row in a PostgreSQL table (`postgres = { … }` in the settings).
    #[serde(rename = "postgres")]
    PostgresTable,
    /// A status change and comment on the Merge ticket an escalation came from.
    MergeTicket,
    /// A CRM note on the Merge deal an escalation came from.
    MergeNote,
}

impl Target {
    /// The kind's name in settings, the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Webhook => "webhook",
            Target::Email => "email",
            Target::Slack => "slack",
            Target::Notion => "notion",
            Target::Discord => "discord",
            Target::Telegram => "telegram",
            Target::PostgresTable => "postgres",
            Target::MergeTicket => "merge_ticket",
            Target::MergeNote => "merge_note",
        }
    }

    /// The stored form.
    pub fn to_json(self) -> String {
        // A unit variant with a tag: serializing cannot fail.
        serde_json::to_string(&self).unwrap_or_default()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = serde_json::Error;

    /// Parses the stored form.
    fn from_str(stored: &str) -> Result<Target, Self::Err> {
        serde_json::from_str(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_is_a_tagged_object_and_round_trips() {
        assert_eq!(Target::Webhook.to_json(), r#"{"kind":"webhook"}"#);
        assert_eq!(Target::MergeTicket.to_json(), r#"{"kind":"merge_ticket"}"#);
        assert_eq!(Target::PostgresTable.to_json(), r#"{"kind":"postgres"}"#);
        for target in [
            Target::Webhook,
            Target::PostgresTable,
            Target::MergeTicket,
            Target::MergeNote,
        ] {
            assert_eq!(target.to_json().parse::<Target>().unwrap(), target);
        }
        assert!("{\"kind\":\"pager\"}".parse::<Target>().is_err());
    }
}
