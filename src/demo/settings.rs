//! The settings `klaxon demo` runs Klaxon with, built in code: no file, no `.env`, and none
//! of the process's environment variables.
//!
//! Ignoring the environment is deliberate: a developer with `TELNYX_API_KEY`, `MERGE_API_KEY`
//! or `AI_API_KEY` exported must still get a demo in which no phone rings and no real CRM
//! is written to. Every variable Klaxon reads is answered from [`DemoEnv`] instead.
//!
//! The demo needs the built-in pipelines (the Merge ticket and deal desk ones) *and* some of
//! its own: an after-hours ticket chain, a webhook, critical tickets to Slack and, with
//! `--table-url`, every event to a PostgreSQL table. Declaring any pipeline replaces the
//! built-in ones, so the settings are resolved twice from the same text: once without
//! `[[pipelines]]`, which yields the built-in set for these policies and rules, and once with
//! only the demo's pipelines; the second list is appended to the first. The built-in pipelines
//! are thus exactly what `klaxon serve` would run, placeholders filled by the same code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ConfigErrors;
use crate::sandbox::chat::SLACK_BOT_TOKEN;
use crate::sandbox::merge::sample;
use crate::sandbox::model::MODEL_ID;
use crate::settings::{Raw, Settings};
use crate::store::DatabaseUrl;

use super::table::{TABLE, TableUrl};

/// The environment variable the demo webhook's secret is read from (see [`DemoEnv`]).
pub const WEBHOOK_SECRET_ENV: &str = "KLAXON_DEMO_WEBHOOK_SECRET";
/// The pipeline that sends billing events to the demo webhook.
pub const WEBHOOK_PIPELINE: &str = "billing-alerts";
/// The demo webhook's destination, as deliveries name it.
pub const WEBHOOK_DESTINATION: &str = "billing-alerts.finance";
/// The variable the Slack destination's bot token is read from: the demo's sandbox Slack's.
pub const SLACK_TOKEN_ENV: &str = "KLAXON_DEMO_SLACK_TOKEN";
/// The variable the table destination's URL is read from: `--table-url`, when given.
pub const TABLE_URL_ENV: &str = "KLAXON_DEMO_TABLE_URL";
/// The pipeline that posts critical support tickets to Slack.
pub const SLACK_PIPELINE: &str = "critical-to-slack";
/// The pipeline that writes every event to the table (only with `--table-url`).
pub const TABLE_PIPELINE: &str = "event-table";
/// The Slack channel the demo posts to: the only one the sandbox Slack has.
pub const SLACK_CHANNEL: &str = crate::sandbox::chat::SLACK_CHANNEL_NAME;

/// Someone the demo rings or connects to.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    /// The `[people]` key.
    pub key: &'static str,
    pub name: &'static str,
    /// What the demo prints next to the name.
    pub role: &'static str,
    /// The last digit is what the sandbox carrier's callee does: 0 says "connect me",
    /// 2 presses 2, 7 is a voicemail; a connected party (leg B) just answers.
    pub phone: &'static str,
    /// The CRM user's e-mail: how a deal's owner is found.
    pub email: Option<&'static str>,
}

pub const PEOPLE: &[Person] = &[
    Person {
        key: "riley",
        name: "Riley Park",
        role: "on-call",
        phone: "+15551000000",
        email: None,
    },
    Person {
        key: "dana",
        name: "Dana Whitfield",
        role: "night on-call",
        phone: "+15551000007",
        email: None,
    },
    Person {
        key: "eli",
        name: "Eli Navarro",
        role: "second on-call",
        phone: "+15551000002",
        email: None,
    },
    Person {
        key: "morgan",
        name: "Morgan Lee",
        role: "VP Sales",
        phone: "+15551000010",
        email: None,
    },
    Person {
        key: "alex",
        name: "Alex Evans",
        role: "account executive",
        phone: "+15552000101",
        email: Some("ae@example.com"),
    },
];

/// Numbers the demo reaches that are not `[people]`: (phone, name, role). Anna is the
/// sandbox Merge's contact on the urgent ticket; "connect me" reaches her.
pub const OTHERS: &[(&str, &str, &str)] =
    &[("+15552000001", "Anna Schmidt", "the ticket's contact")];

/// Where the demo's sandboxes listen, and its secrets.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub merge_api_base: String,
    pub model_base_url: String,
    pub receiver_url: String,
    /// The demo's sandbox Slack, standing in for `https://slack.com`.
    pub slack_api_base: String,
    /// `--table-url`: where every event is also written, if anywhere.
    pub table_url: Option<TableUrl>,
    /// Signs the sandbox Merge's webhooks; Klaxon refuses them unsigned.
    pub merge_webhook_secret: String,
    /// `whsec_…`: signs the demo webhook's deliveries.
    pub webhook_secret: String,
}

/// How fast the sandbox carrier's callees act and the demo webhook is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Seconds, like a phone: for a human watching.
    Realistic,
    /// Milliseconds: for CI.
    Fast,
}

impl Pace {
    fn timing(self) -> &'static str {
        match self {
            Pace::Realistic => "realistic",
            Pace::Fast => "fast",
        }
    }

    /// Delays before the demo webhook's retries: short, so the retry is seen.
    fn retry_schedule(self) -> &'static str {
        match self {
            Pace::Realistic => r#"["2s", "3s", "5s", "10s"]"#,
            Pace::Fast => r#"["50ms", "100ms", "200ms", "400ms"]"#,
        }
    }

    /// How long a scenario may take before it counts as failed.
    pub fn scenario_timeout(self) -> Duration {
        match self {
            Pace::Realistic => Duration::from_secs(90),
            Pace::Fast => Duration::from_secs(15),
        }
    }

    /// How long the last calls' final webhooks (a hang-up after the outcome) may take to
    /// arrive before Klaxon is stopped, so they are not refused by a store shutting down.
    pub fn settle(self) -> Duration {
        match self {
            Pace::Realistic => Duration::from_secs(1),
            Pace::Fast => Duration::from_millis(100),
        }
    }

    /// How often the demo reads Klaxon's API while waiting.
    pub fn poll_interval(self) -> Duration {
        match self {
            Pace::Realistic => Duration::from_millis(100),
            Pace::Fast => Duration::from_millis(20),
        }
    }
}

/// The only variables Klaxon sees during the demo. Anything not listed is unset, whatever
/// the real environment holds.
pub struct DemoEnv {
    vars: Vec<(&'static str, String)>,
}

impl DemoEnv {
    pub fn new(endpoints: &Endpoints, pace: Pace) -> DemoEnv {
        let tokens = format!(
            "{}={},{}={}",
            sample::LINKED_ZENDESK,
            sample::ZENDESK_ACCOUNT_TOKEN,
            sample::LINKED_HUBSPOT,
            sample::HUBSPOT_ACCOUNT_TOKEN
        );
        let mut env = DemoEnv {
            vars: vec![
                // The demo's own sandbox Merge, so it can show what Klaxon wrote there.
                ("MERGE_API_KEY", "sandbox".into()),
                ("MERGE_API_BASE", endpoints.merge_api_base.clone()),
                ("MERGE_ACCOUNT_TOKENS", tokens),
                (
                    "MERGE_WEBHOOK_SECRET",
                    endpoints.merge_webhook_secret.clone(),
                ),
                // Only the demo's webhooks: a poll would page for every sample ticket.
                ("MERGE_POLL_INTERVAL", "0".into()),
                ("AI_BASE_URL", endpoints.model_base_url.clone()),
                ("AI_MODEL", MODEL_ID.into()),
                ("KLAXON_SANDBOX_TIMING", pace.timing().into()),
                (WEBHOOK_SECRET_ENV, endpoints.webhook_secret.clone()),
                // The token the demo's own sandbox Slack accepts, so the demo can read back
                // what arrived there (Klaxon's built-in one would be out of its reach).
                (SLACK_TOKEN_ENV, SLACK_BOT_TOKEN.into()),
            ],
        };
        if let Some(url) = &endpoints.table_url {
            env.vars.push((TABLE_URL_ENV, url.expose().to_owned()));
        }
        env
    }

    pub fn get(&self, var: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(name, _)| *name == var)
            .map(|(_, value)| value.clone())
    }
}

/// People, policies and delivery: shared by both resolutions.
fn base_toml(pace: Pace) -> String {
    let mut text = String::new();
    for person in PEOPLE {
        text.push_str(&format!(
            "[people.{}]\nname = \"{}\"\nphone = \"{}\"\n",
            person.key, person.name, person.phone
        ));
        if let Some(email) = person.email {
            text.push_str(&format!("email = \"{email}\"\n"));
        }
    }
    text.push_str(&format!(
        r#"
[delivery]
retry_schedule = {schedule}

# Merge tickets (the built-in merge-ticket-escalation pipeline) ring Riley.
[[policies]]
name = "oncall"
[[policies.steps]]
targets = ["riley"]

# After hours: Dana first, then Eli.
[[policies]]
name = "night_shift"
[[policies.steps]]
targets = ["dana"]
[[policies.steps]]
targets = ["eli"]

# Deals (the built-in merge-deal-desk pipeline) ring Morgan.
[[policies]]
name = "vp_sales"
[[policies.steps]]
targets = ["morgan"]
"#,
        schedule = pace.retry_schedule()
    ));
    text
}

/// The demo's own pipelines, added to the built-in ones.
fn demo_pipelines(endpoints: &Endpoints) -> String {
    let receiver_url = &endpoints.receiver_url;
    let slack_api_base = &endpoints.slack_api_base;
    let mut text = format!(
        r#"
# Support tickets: the model classifies them; critical ones ring the night shift.
[[pipelines]]
name = "after-hours"
on = "support.ticket.created"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"] }} }},
  {{ filter = 'urgency == "critical"' }},
]
[[pipelines.destinations]]
voice = {{ policy = "night_shift", connect_to = "customer_phone" }}

# Billing events go to finance's webhook, signed the Standard Webhooks way.
[[pipelines]]
name = "{WEBHOOK_PIPELINE}"
on = "billing.*"
[[pipelines.destinations]]
name = "finance"
webhook = {{ url = "{receiver_url}", signing = "standard", secret_env = "{WEBHOOK_SECRET_ENV}", allow_private = true, timeout_secs = 5 }}

# Every critical support ticket, new or updated, is posted to #alerts in Slack (the demo's
# sandbox Slack). Only new ones ring the night shift (after-hours).
[[pipelines]]
name = "{SLACK_PIPELINE}"
on = "support.ticket.*"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"] }} }},
  {{ filter = 'urgency == "critical"' }},
]
[[pipelines.destinations]]
name = "alerts"
slack = {{ channel = "{SLACK_CHANNEL}", token_env = "{SLACK_TOKEN_ENV}", api_base = "{slack_api_base}" }}
"#
    );
    // Last, so the other pipelines' runs come first on each event.
    if endpoints.table_url.is_some() {
        text.push_str(&format!(
            r#"
# Every event, whatever its type, is a row in a PostgreSQL table (`--table-url`).
[[pipelines]]
name = "{TABLE_PIPELINE}"
on = "*"
steps = [
  {{ classify = {{ field = "urgency", labels = ["low", "high", "critical"] }} }},
]
[[pipelines.destinations]]
name = "table"
postgres = {{ url_env = "{TABLE_URL_ENV}", table = "{TABLE}", create_table = true, columns = {{ id = "id", type = "type", urgency = "labels.urgency", occurred_at = "occurred_at", payload = "payload" }} }}
"#
        ));
    }
    text
}

/// The settings Klaxon runs the demo with: loopback `listen`, the SQLite file `database`,
/// the built-in pipelines plus the demo's.
pub fn build(
    endpoints: &Endpoints,
    pace: Pace,
    database: &Path,
    listen: SocketAddr,
) -> Result<Settings, ConfigErrors> {
    let env = DemoEnv::new(endpoints, pace);
    let origin = PathBuf::from("<klaxon demo>");
    let base = base_toml(pace);
    let with_pipelines = format!("{base}\n{}", demo_pipelines(endpoints));
    let parse =
        |text: &str| Raw::from_toml(&origin, text).map_err(|error| ConfigErrors(vec![error]));
    let mut settings = Settings::resolve(parse(&base)?, |var| env.get(var))?;
    let declared = Settings::resolve(parse(&with_pipelines)?, |var| env.get(var))?;
    settings.pipelines.extend(declared.pipelines);
    settings.database = DatabaseUrl::Sqlite(database.to_owned());
    settings.listen = listen;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            merge_api_base: "http://127.0.0.1:1/api".into(),
            model_base_url: "http://127.0.0.1:2/v1".into(),
            receiver_url: "http://127.0.0.1:3/hook".into(),
            slack_api_base: "http://127.0.0.1:4/slack".into(),
            table_url: None,
            merge_webhook_secret: "merge-secret".into(),
            webhook_secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        }
    }

    /// The demo's settings for `endpoints`, at fast pace.
    fn demo_settings(endpoints: &Endpoints) -> Settings {
        build(
            endpoints,
            Pace::Fast,
            Path::new("/tmp/demo.db"),
            "127.0.0.1:0".parse().unwrap(),
        )
        .expect("the demo settings are valid")
    }

    #[test]
    fn the_built_in_pipelines_stay_and_the_demo_adds_its_own() {
        let settings = demo_settings(&endpoints());
        let names: Vec<&str> = settings.pipelines.iter().map(|p| p.name.as_str()).collect();
        for expected in [
            "support-escalations",
            "merge-ticket-escalation",
            "merge-deal-desk",
            "after-hours",
            "billing-alerts",
            SLACK_PIPELINE,
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(
            !names.contains(&TABLE_PIPELINE),
            "no table without --table-url: {names:?}"
        );
        assert!(
            settings.voice.telnyx.is_none(),
            "always the sandbox carrier"
        );
        assert!(settings.ai.enabled);
        assert_eq!(settings.ai.base_url, "http://127.0.0.1:2/v1");
        assert_eq!(
            settings.voice.phone_by_email("AE@example.com").as_deref(),
            Some("+15552000101")
        );
        assert_eq!(settings.merge.poll_interval, None);
    }

    #[test]
    fn a_table_url_adds_the_table_pipeline_last_and_its_url_to_the_demo_env() {
        let url = "postgres://demo:s3cret@127.0.0.1:5432/analytics";
        let endpoints = Endpoints {
            table_url: Some(url.parse().expect("a valid URL")),
            ..endpoints()
        };
        let settings = demo_settings(&endpoints);
        let last = settings.pipelines.last().expect("pipelines");
        assert_eq!(last.name, TABLE_PIPELINE);
        assert!(last.takes("merge.opportunity.changed") && last.takes("billing.x"));
        assert_eq!(last.destinations[0].name, "event-table.table");
        assert_eq!(
            DemoEnv::new(&endpoints, Pace::Fast)
                .get(TABLE_URL_ENV)
                .as_deref(),
            Some(url)
        );
        assert_eq!(
            DemoEnv::new(&self::endpoints(), Pace::Fast).get(TABLE_URL_ENV),
            None
        );
    }

    #[test]
    fn critical_tickets_go_to_the_demo_s_own_sandbox_slack() {
        let settings = demo_settings(&endpoints());
        let slack = settings
            .pipelines
            .iter()
            .find(|p| p.name == SLACK_PIPELINE)
            .expect("the Slack pipeline");
        assert!(slack.takes("support.ticket.escalated"));
        assert!(!slack.takes("billing.invoice.payment_failed"));
        let crate::pipeline::spec::DestinationKind::Deliver(destination) =
            &slack.destinations[0].kind
        else {
            panic!("a delivery");
        };
        // The token is set, so Klaxon posts to the demo's sandbox, not to its own.
        assert!(!destination.uses_sandbox());
        assert_eq!(destination.summary(), "slack #alerts");
    }

    #[test]
    fn only_the_demo_env_is_seen() {
        let env = DemoEnv::new(&endpoints(), Pace::Realistic);
        assert_eq!(env.get("TELNYX_API_KEY"), None);
        assert_eq!(env.get("AI_API_KEY"), None);
        assert_eq!(
            env.get("KLAXON_SANDBOX_TIMING").as_deref(),
            Some("realistic")
        );
    }
}
