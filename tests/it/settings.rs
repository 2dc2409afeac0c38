//! Pipeline settings: what `klaxon check` accepts, and the precise errors it gives.

use std::path::Path;

use klaxon::Settings;
use klaxon::settings::Raw;

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
    assert!(
        settings.voice.telnyx.is_none(),
        "no key: the sandbox carrier"
    );
    let with_key = resolve("", &TELNYX_ACCOUNT).unwrap();
    assert!(
        with_key.ai.enabled,
        "TELNYX_API_KEY is the fallback model key"
    );
    assert!(with_key.voice.telnyx.is_some());
}

/// A complete Telnyx account in the environment (the public key is the vector of
/// docs/signatures.md §1).
const TELNYX_ACCOUNT: [(&str, &str); 5] = [
    ("TELNYX_API_KEY", "KEY123"),
    ("TELNYX_CONNECTION_ID", "1494404757140276705"),
    ("TELNYX_PHONE_NUMBER", "+18005551234"),
    (
        "TELNYX_PUBLIC_KEY",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    ),
    ("PUBLIC_URL", "https://klaxon.example.com"),
];

#[test]
fn a_telnyx_key_needs_the_rest_of_the_account() {
    let error = resolve("", &[("TELNYX_API_KEY", "KEY123")]).unwrap_err();
    for needed in [
        "TELNYX_CONNECTION_ID",
        "TELNYX_PHONE_NUMBER",
        "TELNYX_PUBLIC_KEY",
    ] {
        assert!(error.contains(needed), "{needed} in {error}");
    }
}

#[test]
fn policies_come_from_the_reference_variables_and_the_file() {
    let settings = resolve(
        r#"
[people.alice]
name = "Alice Chen"
phone = "+14155550101"

[[policies]]
name = "platform"
repeat = 1
[[policies.steps]]
targets = ["alice", "+14155550102"]
ring_timeout_secs = 20
attempts = 2
"#,
        &[
            ("ONCALL_NUMBER", "+14155550001, +14155550002"),
            ("VP_SALES_NUMBER", "+14155550009"),
        ],
    )
    .unwrap();
    let oncall = &settings.voice.policies["oncall"];
    assert_eq!(oncall.steps.len(), 2, "a comma list is successive steps");
    assert_eq!(oncall.steps[1].targets[0].number, "+14155550002");
    assert_eq!(settings.voice.policies["vp_sales"].steps.len(), 1);
    let platform = &settings.voice.policies["platform"];
    assert_eq!(platform.repeat, 1);
    assert_eq!(
        platform.steps[0].targets[0].name.as_deref(),
        Some("Alice Chen")
    );
    assert_eq!(platform.steps[0].ring_timeout_secs, 20);

    let error = resolve(
        r#"
[[policies]]
name = "bad"
[[policies.steps]]
targets = ["bob", "0123"]
ring_timeout_secs = 2
"#,
        &[("ONCALL_NUMBER", "555-1234")],
    )
    .unwrap_err();
    for expected in [
        "policies.bad.steps[0].targets",
        "\"bob\" is neither",
        "ring_timeout_secs",
        "ONCALL_NUMBER",
    ] {
        assert!(error.contains(expected), "{expected} in {error}");
    }
}

#[test]
fn a_voice_destination_must_name_a_known_policy() {
    let toml = r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = { policy = "oncall", connect_to = "customer_phone" }
"#;
    let error = resolve(toml, &[]).unwrap_err();
    assert!(error.contains("no escalation policy \"oncall\""), "{error}");
    let settings = resolve(toml, &[("ONCALL_NUMBER", "+14155550001")]).unwrap();
    assert_eq!(settings.pipelines[0].destinations[0].name, "tickets.voice");
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

/// The built-in deal desk's transition condition, as `DEAL_THRESHOLD` and `ALERT_STAGES` set it.
fn deal_desk_rings_for(env: &[(&str, &str)], deal: serde_json::Value) -> bool {
    use klaxon::pipeline::condition::ConditionInput;
    use klaxon::pipeline::spec::Step;
    let mut env = env.to_vec();
    env.push(("VP_SALES_NUMBER", "+15550100001"));
    let settings = resolve("", &env).expect("valid");
    let pipeline = settings
        .pipelines
        .iter()
        .find(|p| p.name == "merge-deal-desk")
        .expect("the deal desk is built in when vp_sales exists");
    assert!(matches!(pipeline.steps[0], Step::MergeLookup(_)));
    let Step::Transition(transition) = &pipeline.steps[1] else {
        panic!("the second step is the transition")
    };
    transition
        .when
        .evaluate(&ConditionInput {
            event_type: "merge.opportunity.changed",
            payload: &deal,
            labels: &Default::default(),
        })
        .expect("evaluates without error")
}

#[test]
fn the_built_in_deal_desk_rings_for_open_deals_in_an_alert_stage_or_over_the_threshold() {
    use serde_json::json;
    let none: &[(&str, &str)] = &[];
    let negotiation =
        json!({"id": "o", "stage_name": "negotiation", "amount": 100, "status": "OPEN"});
    assert!(deal_desk_rings_for(none, negotiation));
    let big = json!({"id": "o", "stage": "st-1", "amount": 50_000, "status": null});
    assert!(
        deal_desk_rings_for(none, big),
        "a null status counts as open"
    );
    let small = json!({"id": "o", "stage_name": "discovery", "amount": 49_999, "status": "OPEN"});
    assert!(!deal_desk_rings_for(none, small));
    let won = json!({"id": "o", "stage_name": "negotiation", "amount": 90_000, "status": "WON"});
    assert!(!deal_desk_rings_for(none, won), "a closed deal never rings");
    let bare = json!({"id": "o", "amount": null});
    assert!(!deal_desk_rings_for(none, bare));

    let custom = [
        ("ALERT_STAGES", "Proposal Made"),
        ("DEAL_THRESHOLD", "1000"),
    ];
    let proposal = json!({"id": "o", "stage_name": "proposal_made", "amount": 10});
    assert!(deal_desk_rings_for(&custom, proposal));
    let over = json!({"id": "o", "stage_name": "negotiation", "amount": 1_000});
    assert!(deal_desk_rings_for(&custom, over));
    let neither = json!({"id": "o", "stage_name": "negotiation", "amount": 999});
    assert!(
        !deal_desk_rings_for(&custom, neither),
        "negotiation is no longer an alert stage"
    );
}

#[test]
fn the_inbound_policy_must_exist_when_named_and_defaults_to_oncall() {
    let settings = resolve("", &[]).unwrap();
    assert_eq!(settings.voice.inbound_policy, "oncall");
    let error = resolve("[voice]\ninbound_policy = \"sre\"\n", &[]).unwrap_err();
    assert!(error.contains("voice.inbound_policy"), "{error}");
    assert!(error.contains("no policy is named \"sre\""), "{error}");
    let error = resolve("", &[("INBOUND_POLICY", "sre")]).unwrap_err();
    assert!(error.contains("INBOUND_POLICY"), "{error}");
    let named = "[[policies]]\nname = \"sre\"\n[[policies.steps]]\ntargets = [\"+14155550001\"]\n";
    let settings = resolve(named, &[("INBOUND_POLICY", "sre")]).unwrap();
    assert_eq!(settings.voice.inbound_policy, "sre");
}
