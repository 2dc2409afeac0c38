//! Valid but risky settings: what `klaxon check` lists and what `serve` logs at every start.
//!
//! [`Settings::risks`] is the one place that decides what counts as risky, so the check and
//! the start-up log can never disagree. A risk never stops Klaxon (invalid settings do, in
//! `settings.rs`): an operator may have a proxy, a firewall or a test bench that makes the
//! setting fine, but they should have read the sentence once.

use std::fmt;
use std::net::IpAddr;

use super::Settings;
use super::allowed_hosts::AllowedHost;

/// Ingest secrets shorter than this can be guessed offline from one signed request.
const MIN_SECRET_LEN: usize = 16;

/// One risky setting: what is wrong and what to set instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Risk {
    pub kind: RiskKind,
    pub severity: Severity,
    /// What can go wrong, in one sentence.
    pub problem: String,
    /// What to set to remove the risk.
    pub fix: String,
}

/// Which risk; tests and callers branch on this, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskKind {
    /// `HOST` is not loopback and `KLAXON_API_TOKEN` is not set.
    ListeningWithoutToken,
    /// `MERGE_WEBHOOK_SECRET` is not set.
    MergeWebhooksUnsigned,
    /// `MERGE_ALLOW_UNSIGNED_WEBHOOKS` is on without a secret: anyone may ring phones.
    UnsignedWebhooksAllowed,
    /// `MERGE_ALLOW_UNSIGNED_WEBHOOKS` is on but a secret is set, so it does nothing.
    AllowUnsignedIgnored,
    /// A real Telnyx account without `TELNYX_PUBLIC_KEY`: every call webhook is refused.
    TelnyxWithoutPublicKey,
    /// `PUBLIC_URL` is `http://` to a host other than loopback.
    PlainHttpPublicUrl,
    /// A credential is sent over `http://` to a host other than loopback.
    CredentialOverPlainHttp,
    /// An ingest signing secret shorter than 16 characters.
    ShortIngestSecret,
    /// `KLAXON_ALLOWED_HOSTS=*` without a token: the DNS rebinding defence is off.
    AnyHostAllowed,
}

/// How loudly to say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Harmless on this machine alone, but wrong the day it is exposed.
    Notice,
    /// Someone else can cause calls or writes, read secrets, or real traffic is refused.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Notice => "notice",
            Severity::Warning => "warning",
        })
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} Fix: {}", self.severity, self.problem, self.fix)
    }
}

impl Settings {
    /// Every risky setting, warnings first.
    pub fn risks(&self) -> Vec<Risk> {
        let mut risks = Vec::new();
        let mut add = |kind, severity, problem: String, fix: &str| {
            risks.push(Risk {
                kind,
                severity,
                problem,
                fix: fix.to_owned(),
            });
        };
        let exposed = !self.listen.ip().is_loopback();
        let host = self.listen.ip();

        if exposed && self.api_token.is_none() {
            add(
                RiskKind::ListeningWithoutToken,
                Severity::Warning,
                format!(
                    "listening on {host} without KLAXON_API_TOKEN: the API, the live page and unsigned webhooks answer 403 to every other host, so anything in front of Klaxon (a proxy on another machine) cannot use them."
                ),
                "set KLAXON_API_TOKEN to 16+ random characters, or HOST=127.0.0.1.",
            );
        }

        if self.api_token.is_none() && self.allowed_hosts.contains(&AllowedHost::Any) {
            add(
                RiskKind::AnyHostAllowed,
                Severity::Warning,
                "KLAXON_ALLOWED_HOSTS is `*` without KLAXON_API_TOKEN: a web page in any browser on this machine can reach the API through a DNS name it controls (DNS rebinding).".into(),
                "list the names Klaxon is reached by in KLAXON_ALLOWED_HOSTS, or set KLAXON_API_TOKEN.",
            );
        }

        let merge = &self.merge;
        if merge.webhook_secrets.is_empty() {
            if merge.allow_unsigned_webhooks {
                add(
                    RiskKind::UnsignedWebhooksAllowed,
                    Severity::Warning,
                    format!(
                        "MERGE_ALLOW_UNSIGNED_WEBHOOKS is on: anyone who reaches /webhooks/merge, /webhooks/ticket or /webhooks/crm (listening on {host}) can store Merge events and ring phones."
                    ),
                    "set MERGE_WEBHOOK_SECRET to Merge's webhook signature key and unset MERGE_ALLOW_UNSIGNED_WEBHOOKS.",
                );
            } else {
                let real_merge = merge.api.is_some();
                let severity = if exposed || real_merge {
                    Severity::Warning
                } else {
                    Severity::Notice
                };
                let consequence = if real_merge {
                    "Merge's own deliveries carry no API token, so they are refused (401/403) and only reconciliation polls see changes."
                } else {
                    "unsigned webhooks are accepted only with the API token or from loopback."
                };
                add(
                    RiskKind::MergeWebhooksUnsigned,
                    severity,
                    format!("MERGE_WEBHOOK_SECRET is not set: {consequence}"),
                    "set MERGE_WEBHOOK_SECRET to the signature key in Merge's dashboard (Webhooks → Security).",
                );
            }
        } else if merge.allow_unsigned_webhooks {
            add(
                RiskKind::AllowUnsignedIgnored,
                Severity::Notice,
                "MERGE_ALLOW_UNSIGNED_WEBHOOKS is on but has no effect: MERGE_WEBHOOK_SECRET is set, so Merge webhooks must be signed.".into(),
                "unset MERGE_ALLOW_UNSIGNED_WEBHOOKS.",
            );
        }

        let voice = &self.voice;
        if voice.telnyx.is_some() && voice.public_keys.is_empty() {
            add(
                RiskKind::TelnyxWithoutPublicKey,
                Severity::Warning,
                "TELNYX_API_KEY is set without TELNYX_PUBLIC_KEY: every call webhook is refused (401), so calls are placed but nobody's answer is heard.".into(),
                "set TELNYX_PUBLIC_KEY to the account's public key (Mission Control → Keys & Credentials).",
            );
        }
        if let Some(url) = &voice.public_url
            && plain_http_beyond_loopback(url)
        {
            add(
                RiskKind::PlainHttpPublicUrl,
                Severity::Warning,
                format!(
                    "PUBLIC_URL {url} is plain http: call events (who answered, digits pressed) cross the network unencrypted."
                ),
                "set PUBLIC_URL to an https:// address (a TLS proxy in front of Klaxon).",
            );
        }

        let credentials = [
            (
                "TELNYX_API_BASE",
                voice.telnyx.as_ref().map(|t| t.api_base.as_str()),
            ),
            (
                "MERGE_API_BASE",
                merge.api.as_ref().map(|m| m.api_base.as_str()),
            ),
            (
                "AI_BASE_URL",
                self.ai
                    .api_key
                    .as_ref()
                    .filter(|_| self.ai.enabled)
                    .map(|_| self.ai.base_url.as_str()),
            ),
        ];
        for (variable, base) in credentials {
            if let Some(base) = base
                && plain_http_beyond_loopback(base)
            {
                add(
                    RiskKind::CredentialOverPlainHttp,
                    Severity::Warning,
                    format!(
                        "{variable} {base} is plain http: its API key crosses the network unencrypted."
                    ),
                    &format!("set {variable} to an https:// address."),
                );
            }
        }

        if self
            .ingest
            .signing_secrets
            .iter()
            .any(|s| s.as_bytes().len() < MIN_SECRET_LEN)
        {
            add(
                RiskKind::ShortIngestSecret,
                Severity::Warning,
                format!(
                    "an ingest signing secret is shorter than {MIN_SECRET_LEN} characters: one signed request is enough to guess it offline."
                ),
                "set KLAXON_INGEST_SECRETS to secrets of 32+ random characters.",
            );
        }

        risks.sort_by_key(|r| std::cmp::Reverse(r.severity));
        risks
    }
}

/// `http://` to anything but `localhost` or a loopback address.
fn plain_http_beyond_loopback(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    if parsed.scheme() != "http" {
        return false;
    }
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => !host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests;
