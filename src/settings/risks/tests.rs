//! The risk table: settings as an operator writes them (environment variables) → the risks
//! reported, by kind and severity.

use std::collections::BTreeMap;

use super::*;
use crate::sandbox::carrier::SigningSeed;
use crate::settings::Raw;

const TOKEN: &str = "test-token-0123456789";

fn settings(vars: &[(&str, &str)]) -> Settings {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::resolve(Raw::default(), |name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!("valid test settings: {e}"))
}

/// A row of the table: its name, the environment, and the risks expected.
type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<(RiskKind, Severity)>);

fn kinds(settings: &Settings) -> Vec<(RiskKind, Severity)> {
    settings
        .risks()
        .iter()
        .map(|r| (r.kind, r.severity))
        .collect()
}

#[test]
fn risk_table() {
    use RiskKind::*;
    use Severity::*;
    let public_key = SigningSeed::generate().public_key_base64();
    let telnyx = [
        ("TELNYX_API_KEY", "KEY_TEST"),
        ("TELNYX_CONNECTION_ID", "1494404757140276705"),
        ("TELNYX_PHONE_NUMBER", "+15550100000"),
        ("TELNYX_PUBLIC_KEY", public_key.as_str()),
        ("AI_BASE_URL", "https://api.telnyx.com/v2/ai/openai"),
    ];
    let secret = ("MERGE_WEBHOOK_SECRET", "merge-webhook-key");
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        [&[secret][..], extra].concat()
    };
    let rows: Vec<Row> = vec![
        (
            "defaults: loopback, sandbox Merge, no secret",
            vec![],
            vec![(MergeWebhooksUnsigned, Notice)],
        ),
        ("a Merge secret on loopback: nothing", with(&[]), vec![]),
        (
            "beyond loopback without a token or secret",
            vec![("HOST", "0.0.0.0")],
            vec![
                (ListeningWithoutToken, Warning),
                (MergeWebhooksUnsigned, Warning),
            ],
        ),
        (
            "beyond loopback with a token and a secret: nothing",
            with(&[("HOST", "0.0.0.0"), ("KLAXON_API_TOKEN", TOKEN)]),
            vec![],
        ),
        (
            "a real Merge key without a secret, on loopback",
            vec![("MERGE_API_KEY", "key")],
            vec![(MergeWebhooksUnsigned, Warning)],
        ),
        (
            "unsigned webhooks allowed",
            vec![("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true")],
            vec![(UnsignedWebhooksAllowed, Warning)],
        ),
        (
            "unsigned webhooks allowed next to a secret",
            with(&[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true")]),
            vec![(AllowUnsignedIgnored, Notice)],
        ),
        (
            "PUBLIC_URL over plain http to another host",
            with(&[("PUBLIC_URL", "http://klaxon.example.com")]),
            vec![(PlainHttpPublicUrl, Warning)],
        ),
        (
            "PUBLIC_URL over http to loopback, or https: nothing",
            with(&[("PUBLIC_URL", "http://127.0.0.1:5000")]),
            vec![],
        ),
        (
            "Merge's key over plain http",
            with(&[
                ("MERGE_API_KEY", "key"),
                ("MERGE_API_BASE", "http://merge.example.com/api"),
            ]),
            vec![(CredentialOverPlainHttp, Warning)],
        ),
        (
            "a model key over plain http",
            with(&[
                ("AI_API_KEY", "key"),
                ("AI_BASE_URL", "http://10.0.0.5:8000/v1"),
            ]),
            vec![(CredentialOverPlainHttp, Warning)],
        ),
        (
            "a local model server over http without a key: nothing",
            with(&[("AI_BASE_URL", "http://10.0.0.5:8000/v1")]),
            vec![],
        ),
        (
            "a short ingest secret",
            with(&[("KLAXON_INGEST_SECRETS", "long-enough-secret-0123,short")]),
            vec![(ShortIngestSecret, Warning)],
        ),
        (
            "every Host allowed without a token",
            with(&[("KLAXON_ALLOWED_HOSTS", "*")]),
            vec![(AnyHostAllowed, Warning)],
        ),
        (
            "every Host allowed, but a token is set: nothing",
            with(&[("KLAXON_ALLOWED_HOSTS", "*"), ("KLAXON_API_TOKEN", TOKEN)]),
            vec![],
        ),
        (
            "a named host allowed: nothing",
            with(&[("KLAXON_ALLOWED_HOSTS", "klaxon.corp.example")]),
            vec![],
        ),
    ];
    for (name, vars, expected) in rows {
        assert_eq!(kinds(&settings(&vars)), expected, "{name}");
    }

    let real_telnyx = settings(&[&telnyx[..], &[secret]].concat());
    assert_eq!(kinds(&real_telnyx), vec![], "a complete Telnyx account");
    // Loading refuses this (TELNYX_PUBLIC_KEY is required); settings built in code can get here.
    let mut keyless = real_telnyx;
    keyless.voice.public_keys.clear();
    assert_eq!(kinds(&keyless), vec![(TelnyxWithoutPublicKey, Warning)]);
}

#[test]
fn every_risk_says_what_to_set_and_warnings_come_first() {
    let open = settings(&[
        ("HOST", "0.0.0.0"),
        ("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "true"),
        ("PUBLIC_URL", "http://klaxon.example.com"),
        ("KLAXON_INGEST_SECRETS", "short"),
    ]);
    let risks = open.risks();
    assert_eq!(risks.len(), 4, "{risks:#?}");
    for risk in &risks {
        assert!(risk.fix.starts_with("set ") || risk.fix.starts_with("unset "));
        let line = risk.to_string();
        assert!(
            line.starts_with("warning: ") && line.contains(" Fix: "),
            "{line}"
        );
        assert!(!line.contains("short\""), "no secret is printed: {line}");
    }
    let mixed = settings(&[
        ("MERGE_WEBHOOK_SECRET", "merge-webhook-key"),
        ("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "1"),
        ("KLAXON_INGEST_SECRETS", "short"),
    ]);
    let severities: Vec<Severity> = mixed.risks().iter().map(|r| r.severity).collect();
    assert_eq!(severities, [Severity::Warning, Severity::Notice]);
}

#[test]
fn plain_http_is_judged_by_host() {
    for (url, risky) in [
        ("http://klaxon.example.com", true),
        ("http://10.1.2.3:5000", true),
        ("http://[2001:db8::1]/", true),
        ("https://klaxon.example.com", false),
        ("http://localhost:5000", false),
        ("http://127.0.0.1", false),
        ("http://[::1]:5000", false),
        ("not a url", false),
    ] {
        assert_eq!(plain_http_beyond_loopback(url), risky, "{url}");
    }
}
