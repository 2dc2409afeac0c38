//! Pipeline settings: what `klaxon check` accepts, and the precise errors it gives.

use std::path::Path;

use klaxon::Settings;
use klaxon::config::Raw;

fn resolve(toml: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
    let raw = Raw::from_toml(Path::new("klaxon.toml"), toml).map_err(|e| e.to_string())?;
    Settings::resolve(raw, |var| {
        env.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    })
    .map_err(|e| e.to_string())
}

const VALID: &str = r#"
[delivery]
retry_schedule = ["5s", "5m", "1h"]

[[pipelines]]
name = "support-escalations"
on = ["support.ticket.created", "support.ticket.updated"]
steps = [
  { classify = { field = "urgency", labels = ["low", "high", "critical"], input = ["subject", "body"], prompt = "Rate urgency", default = "high" } },
  { filter = 'urgency == "critical"' },
  { redact = { fields = ["body"], kinds = ["email", "phone"], patterns = [{ name = "order", regex = "ORD-[0-9]+" }] } },
]
[[pipelines.destinations]]
webhook = { url = "https://api.acme.com/hooks", signing = "standard", secret_env = "ACME_HOOK_SECRET" }
when = 'customer_tier == "enterprise"'
[[pipelines.destinations]]
log = true
"#;

#[test]
fn a_full_pipeline_is_accepted() {
    let settings = resolve(
        VALID,
        &[("ACME_HOOK_SECRET", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX")],
    )
    .unwrap();
    assert!(!settings.builtin_pipelines);
    let pipeline = &settings.pipelines[0];
    assert_eq!(pipeline.steps.len(), 3);
    let names: Vec<&str> = pipeline
        .destinations
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["support-escalations.webhook", "support-escalations.log"]
    );
    assert!(pipeline.takes("support.ticket.updated"));
    assert!(!pipeline.takes("support.ticket.deleted"));
    assert_eq!(settings.delivery.retry_schedule.len(), 3);
}

#[test]
fn no_pipelines_means_the_built_in_ones() {
    let settings = resolve("", &[]).unwrap();
    assert!(settings.builtin_pipelines);
    assert_eq!(settings.pipelines[0].name, "support-escalations");
    assert!(!settings.ai.enabled, "no key, no model");
    let with_key = resolve("", &[("TELNYX_API_KEY", "KEY123")]).unwrap();
    assert!(with_key.ai.enabled, "TELNYX_API_KEY is the fallback key");
}

/// Each broken variant of the valid file, with the key and words its error must carry.
#[test]
fn every_mistake_is_reported_with_its_key() {
    let secret = [("ACME_HOOK_SECRET", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX")];
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{ filter = 'urgency == "critical"' }"#,
            r#"{ filter = 'urgency == ' }"#,
            "pipelines.support-escalations.steps[1].filter",
        ),
        (
            r#"when = 'customer_tier == "enterprise"'"#,
            r#"when = 'customer_tier === 1'"#,
            "pipelines.support-escalations.destinations[0].when",
        ),
        (
            r#"default = "high""#,
            r#"default = "urgent""#,
            "steps[0].classify.default",
        ),
        (
            r#"labels = ["low", "high", "critical"]"#,
            r#"labels = ["low"]"#,
            "steps[0].classify.labels",
        ),
        (
            r#"regex = "ORD-[0-9]+""#,
            r#"regex = "ORD-[0-9+""#,
            "steps[2].redact.patterns",
        ),
        (
            r#"kinds = ["email", "phone"]"#,
            r#"kinds = ["email", "dna"]"#,
            "steps[2].redact.kinds",
        ),
        (
            r#"url = "https://api.acme.com/hooks""#,
            r#"url = "ftp://acme.com""#,
            "destinations[0].webhook.url",
        ),
        (
            r#"signing = "standard""#,
            r#"signing = "md5""#,
            "destinations[0].webhook.signing",
        ),
        (
            r#"secret_env = "ACME_HOOK_SECRET""#,
            r#"secret_env = "MISSING_SECRET""#,
            "MISSING_SECRET is not set",
        ),
        (
            r#"name = "support-escalations""#,
            r#"name = "Support Escalations""#,
            "pipelines.Support Escalations.name",
        ),
        (
            r#"retry_schedule = ["5s", "5m", "1h"]"#,
            r#"retry_schedule = ["5 seconds"]"#,
            "delivery.retry_schedule",
        ),
        (
            "log = true",
            "log = true\nwebhook = { url = \"https://x.io\", signing = \"none\" }",
            "exactly one of",
        ),
    ];
    for (good, bad, expected) in cases {
        assert!(
            VALID.contains(good),
            "the case edits the valid file: {good}"
        );
        let error = resolve(&VALID.replace(good, bad), &secret).expect_err(bad);
        assert!(error.contains(expected), "{bad:?} → {error}");
        assert!(error.starts_with("klaxon.toml"), "names the file: {error}");
    }
}

#[test]
fn a_wrong_standard_webhooks_secret_and_unknown_step_are_refused() {
    let error = resolve(VALID, &[("ACME_HOOK_SECRET", "not-a-whsec")]).unwrap_err();
    assert!(error.contains("whsec_"), "{error}");
    let error = resolve(&VALID.replace("{ filter =", "{ filtre ="), &[]).unwrap_err();
    assert!(
        error.contains("unknown variant") && error.contains("filtre"),
        "{error}"
    );
}
