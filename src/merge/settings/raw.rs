//! `[merge]` as written and the reference apps' Merge variables (`MERGE_API_KEY`,
//! `MERGE_ACCOUNT_TOKEN`, `DEAL_THRESHOLD`, …), validated into [`MergeSettings`]; problems go
//! to the [`Reader`] with where each value came from.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{DEFAULT_API_BASE, DEFAULT_POLL_INTERVAL, MergeApi, MergeRules, MergeSettings};
use crate::config::values::{comma_list, parse_bool, parse_duration};
use crate::config::{Origin, Reader};
use crate::merge::payload::normalise_stage;
use crate::people::is_e164;
use crate::signing::Secret;

/// The values a ticket priority may take: Merge's four, plus `CRITICAL` from other sources.
const PRIORITIES: [&str; 5] = ["URGENT", "HIGH", "NORMAL", "LOW", "CRITICAL"];

/// `[merge]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMerge {
    pub api_base: Option<String>,
    /// `linked_account.id` → account token.
    #[serde(default)]
    pub account_tokens: BTreeMap<String, String>,
    /// `5m`; `0` (or `"0s"`) disables reconciliation.
    pub poll_interval: Option<String>,
    pub ticket_priorities: Option<Vec<String>>,
    pub alert_stages: Option<Vec<String>>,
    pub deal_threshold: Option<i64>,
    pub bridge_number: Option<String>,
    pub allow_unsigned_webhooks: Option<bool>,
}

pub fn resolve(raw: RawMerge, r: &mut Reader<'_>) -> MergeSettings {
    let file = &r.file().clone();
    fn var(r: &Reader<'_>, name: &'static str) -> Option<(String, Origin)> {
        r.var(name).map(|v| (v, Origin::Env(name)))
    }

    let mut account_tokens: BTreeMap<String, Secret> = raw
        .account_tokens
        .into_iter()
        .map(|(id, token)| (id, Secret::new(token)))
        .collect();
    if let Some((text, origin)) = var(r, "MERGE_ACCOUNT_TOKENS") {
        for pair in comma_list(&text) {
            match pair.split_once('=') {
                Some((id, token)) if !id.trim().is_empty() && !token.trim().is_empty() => {
                    account_tokens.insert(id.trim().to_owned(), Secret::new(token.trim()));
                }
                // The value is a secret: say which entry, not what it holds.
                _ => r.fail(
                    origin.clone(),
                    "merge.account_tokens",
                    "expected comma-separated `linked_account_id=token` pairs".into(),
                ),
            }
        }
    }
    let api = var(r, "MERGE_API_KEY").map(|(key, _)| MergeApi {
        api_base: var(r, "MERGE_API_BASE")
            .map(|(v, _)| v)
            .or(raw.api_base)
            .unwrap_or_else(|| DEFAULT_API_BASE.into())
            .trim_end_matches('/')
            .to_owned(),
        api_key: Secret::new(key),
        account_token: var(r, "MERGE_ACCOUNT_TOKEN").map(|(t, _)| Secret::new(t)),
        account_tokens,
    });

    let poll_interval = match var(r, "MERGE_POLL_INTERVAL")
        .or_else(|| raw.poll_interval.map(|v| (v, file.clone())))
    {
        None => Some(DEFAULT_POLL_INTERVAL),
        Some((text, origin)) => {
            // A bare number is seconds, as in most tools' env vars.
            let parsed = match text.trim().parse::<u64>() {
                Ok(secs) => Ok(Duration::from_secs(secs)),
                Err(_) => parse_duration(&text),
            };
            match parsed {
                Ok(d) if d.is_zero() => None,
                Ok(d) if d < Duration::from_secs(10) => {
                    r.fail(
                        origin,
                        "merge.poll_interval",
                        format!(
                            "{text:?} is too often for Merge's rate limits; use 10s or more, or 0 to disable"
                        ),
                    );
                    None
                }
                Ok(d) => Some(d),
                Err(message) => {
                    r.fail(origin, "merge.poll_interval", message);
                    None
                }
            }
        }
    };

    let mut rules = MergeRules::default();
    let priorities = var(r, "TICKET_PRIORITIES")
        .map(|(v, o)| (comma_list(&v), o))
        .or_else(|| raw.ticket_priorities.map(|v| (v, file.clone())));
    if let Some((priorities, origin)) = priorities {
        let upper: Vec<String> = priorities.iter().map(|p| p.trim().to_uppercase()).collect();
        if let Some(bad) = upper.iter().find(|p| !PRIORITIES.contains(&p.as_str())) {
            r.fail(
                origin,
                "merge.ticket_priorities",
                format!(
                    "{bad:?} is not a ticket priority; use {}",
                    PRIORITIES.join(", ")
                ),
            );
        } else if upper.is_empty() {
            r.fail(
                origin,
                "merge.ticket_priorities",
                "name at least one priority".into(),
            );
        } else {
            rules.ticket_priorities = upper;
        }
    }
    let stages = var(r, "ALERT_STAGES")
        .map(|(v, o)| (comma_list(&v), o))
        .or_else(|| raw.alert_stages.map(|v| (v, file.clone())));
    if let Some((stages, _)) = stages {
        rules.alert_stages = stages.iter().map(|s| normalise_stage(s)).collect();
    }
    match var(r, "DEAL_THRESHOLD") {
        // The reference app took a float; amounts in Merge are integers.
        Some((text, origin)) => match text.trim().parse::<f64>() {
            Ok(n) if (0.0..1e15).contains(&n) => rules.deal_threshold = n.ceil() as i64,
            _ => r.fail(
                origin,
                "merge.deal_threshold",
                format!("expected a non-negative amount, got {text:?}"),
            ),
        },
        None => match raw.deal_threshold {
            Some(n) if n >= 0 => rules.deal_threshold = n,
            Some(n) => r.fail(
                file.clone(),
                "merge.deal_threshold",
                format!("must not be negative, got {n}"),
            ),
            None => {}
        },
    }

    let bridge_number = var(r, "BRIDGE_NUMBER")
        .or_else(|| raw.bridge_number.map(|v| (v, file.clone())))
        .and_then(|(number, origin)| {
            if is_e164(&number) {
                Some(number)
            } else {
                r.fail(
                    origin,
                    "merge.bridge_number",
                    format!("{number:?} is not a +E.164 number"),
                );
                None
            }
        });

    let allow_unsigned_webhooks = match var(r, "MERGE_ALLOW_UNSIGNED_WEBHOOKS") {
        Some((text, origin)) => match parse_bool(&text) {
            Some(allowed) => allowed,
            None => {
                r.fail(
                    origin,
                    "merge.allow_unsigned_webhooks",
                    format!("expected true or false, got {text:?}"),
                );
                false
            }
        },
        None => raw.allow_unsigned_webhooks.unwrap_or(false),
    };

    MergeSettings {
        webhook_secrets: var(r, "MERGE_WEBHOOK_SECRET")
            .map(|(v, _)| comma_list(&v).into_iter().map(Secret::new).collect())
            .unwrap_or_default(),
        allow_unsigned_webhooks,
        api,
        bridge_number,
        poll_interval,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    fn resolve_with(raw: RawMerge, vars: &[(&str, &str)]) -> (MergeSettings, Vec<ConfigError>) {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = |name: &str| vars.get(name).cloned();
        let mut reader = Reader::new(Origin::Default, &env);
        let settings = resolve(raw, &mut reader);
        (settings, reader.into_errors())
    }

    #[test]
    fn defaults_are_the_reference_apps_rules_and_a_five_minute_poll() {
        let (settings, errors) = resolve_with(RawMerge::default(), &[]);
        assert!(errors.is_empty());
        assert!(settings.api.is_none(), "no key: the sandbox Merge");
        assert_eq!(settings.poll_interval, Some(Duration::from_secs(300)));
        assert_eq!(settings.rules.ticket_priorities, ["URGENT", "HIGH"]);
        assert_eq!(
            settings.rules.alert_stages,
            ["negotiation", "contract_sent", "verbal_commit", "closing"]
        );
        assert_eq!(settings.rules.deal_threshold, 50_000);
        assert!(
            !settings.allow_unsigned_webhooks,
            "unsigned webhooks fail closed"
        );
    }

    #[test]
    fn allowing_unsigned_webhooks_is_explicit_and_strictly_spelled() {
        let from_file = RawMerge {
            allow_unsigned_webhooks: Some(true),
            ..RawMerge::default()
        };
        assert!(resolve_with(from_file, &[]).0.allow_unsigned_webhooks);
        let (settings, errors) = resolve_with(
            RawMerge::default(),
            &[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "TRUE")],
        );
        assert!(settings.allow_unsigned_webhooks && errors.is_empty());
        let overridden = RawMerge {
            allow_unsigned_webhooks: Some(true),
            ..RawMerge::default()
        };
        let (settings, _) = resolve_with(overridden, &[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "false")]);
        assert!(!settings.allow_unsigned_webhooks, "the environment wins");
        let (settings, errors) = resolve_with(
            RawMerge::default(),
            &[("MERGE_ALLOW_UNSIGNED_WEBHOOKS", "sure")],
        );
        assert!(!settings.allow_unsigned_webhooks);
        assert!(
            errors[0]
                .to_string()
                .contains("merge.allow_unsigned_webhooks")
        );
    }

    #[test]
    fn environment_variables_set_tokens_rules_and_the_poll() {
        let (settings, errors) = resolve_with(
            RawMerge::default(),
            &[
                ("MERGE_API_KEY", "key"),
                ("MERGE_ACCOUNT_TOKEN", "default-token"),
                ("MERGE_ACCOUNT_TOKENS", "acct-1=tok-1, acct-2=tok-2"),
                ("MERGE_POLL_INTERVAL", "0"),
                ("TICKET_PRIORITIES", "urgent"),
                ("ALERT_STAGES", "Contract Sent,Proposal"),
                ("DEAL_THRESHOLD", "25000.50"),
            ],
        );
        assert!(errors.is_empty(), "{errors:?}");
        let api = settings.api.expect("a key configures the API");
        assert_eq!(api.api_base, DEFAULT_API_BASE);
        assert_eq!(api.account_tokens["acct-2"].as_bytes(), b"tok-2");
        assert_eq!(
            api.account_token.expect("default").as_bytes(),
            b"default-token"
        );
        assert_eq!(settings.poll_interval, None, "0 disables the poll");
        assert_eq!(settings.rules.ticket_priorities, ["URGENT"]);
        assert_eq!(settings.rules.alert_stages, ["contract_sent", "proposal"]);
        assert_eq!(settings.rules.deal_threshold, 25_001);
    }

    #[test]
    fn the_file_is_overlaid_by_the_environment() {
        let raw = RawMerge {
            poll_interval: Some("2m".into()),
            deal_threshold: Some(10),
            account_tokens: BTreeMap::from([("acct-1".into(), "from-file".into())]),
            ..RawMerge::default()
        };
        let (settings, errors) = resolve_with(
            raw,
            &[
                ("MERGE_API_KEY", "key"),
                ("DEAL_THRESHOLD", "99"),
                ("MERGE_ACCOUNT_TOKENS", "acct-2=from-env"),
            ],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(settings.poll_interval, Some(Duration::from_secs(120)));
        assert_eq!(settings.rules.deal_threshold, 99);
        let tokens = settings.api.expect("api").account_tokens;
        assert_eq!(tokens.len(), 2, "file and environment tokens are merged");
    }

    #[test]
    fn bad_values_are_reported_with_their_key_and_no_secret() {
        let (_, errors) = resolve_with(
            RawMerge::default(),
            &[
                ("MERGE_ACCOUNT_TOKENS", "secret-without-an-id"),
                ("MERGE_POLL_INTERVAL", "2s"),
                ("TICKET_PRIORITIES", "BLOCKER"),
                ("DEAL_THRESHOLD", "lots"),
                ("BRIDGE_NUMBER", "555"),
            ],
        );
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let keys = [
            "merge.account_tokens",
            "merge.poll_interval",
            "merge.ticket_priorities",
            "merge.deal_threshold",
            "merge.bridge_number",
        ];
        for key in keys {
            assert!(text.iter().any(|t| t.contains(key)), "{key} in {text:?}");
        }
        assert!(!text.iter().any(|t| t.contains("secret-without-an-id")));
    }
}
