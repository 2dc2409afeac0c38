//! The signed webhook: the event as JSON, POSTed to a URL of the user's, signed with
//! Standard Webhooks (the default), Stripe-style `t=,v1=`, a bearer token, or nothing.
//!
//! - settings: `webhook = { url, signing, secret_env, header, allow_private, timeout_secs }`;
//! - the request: [`render`] (the event document, shared by every webhook of a run);
//! - the attempt: [`send`] ([`send::WebhookSender`] holds the SSRF-guarded clients);
//! - the answer: 2xx delivered, `410 Gone` disables the destination, any other status is
//!   retried (after `Retry-After` when given); a refused address is dead at once.
//! - rate limit: none; a receiver slows Klaxon down with `429` + `Retry-After`.

pub mod public_address;
pub mod send;

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::report::{Report, Verdict};
use crate::clock;
use crate::config::{Env, Problems};
use crate::signing::Secret;
use crate::signing::standard_webhooks::WebhookSecret;
use crate::store::DeliveryId;
pub use send::WebhookSender;

/// Outbound webhook timeout unless a destination sets `timeout_secs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Header of `signing = "stripe"` unless `header` is set.
pub const DEFAULT_STRIPE_HEADER: &str = "X-Klaxon-Signature";

/// `webhook = { url = "https://…", signing = "standard", secret_env = "HOOK_SECRET" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub signing: Option<String>,
    /// The environment variable holding the secret(s); several separated by spaces or commas.
    pub secret_env: Option<String>,
    pub header: Option<String>,
    #[serde(default)]
    pub allow_private: bool,
    pub timeout_secs: Option<u64>,
}

/// An outbound webhook, validated.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub url: reqwest::Url,
    pub signing: WebhookSigning,
    /// Allows loopback, private and link-local targets (refused by default: SSRF).
    pub allow_private: bool,
    pub timeout: Duration,
}

/// How outbound requests prove they come from Klaxon. Several secrets sign at once during a
/// rotation.
#[derive(Clone)]
pub enum WebhookSigning {
    None,
    /// `Authorization: Bearer <secret>` (the first secret).
    Bearer(Vec<Secret>),
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64>`.
    Standard(Vec<WebhookSecret>),
    /// Stripe style: `t=<unix>,v1=<hex>` in the named header.
    Stripe {
        header: reqwest::header::HeaderName,
        secrets: Vec<Secret>,
    },
}

impl fmt::Debug for WebhookSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets themselves: settings may be logged.
        match self {
            WebhookSigning::None => f.write_str("None"),
            WebhookSigning::Bearer(s) => write!(f, "Bearer({} secrets)", s.len()),
            WebhookSigning::Standard(s) => write!(f, "Standard({} secrets)", s.len()),
            WebhookSigning::Stripe { header, secrets } => {
                write!(f, "Stripe({header}, {} secrets)", secrets.len())
            }
        }
    }
}

impl WebhookSpec {
    /// Where it goes, for `/v1/destinations`: the URL's origin, never its path or query
    /// (which may hold tokens).
    pub fn summary(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// Validates the settings; every problem is reported with its key below `webhook`.
pub fn settings(raw: RawWebhook, env: Env<'_>) -> Result<WebhookSpec, Problems> {
    let mut problems = Problems::new();
    let url = match reqwest::Url::parse(&raw.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) => {
            problems.push("url", format!("{:?} is not an http(s) URL", raw.url));
            None
        }
        Err(e) => {
            problems.push("url", format!("{:?}: {e}", raw.url));
            None
        }
    };
    let scheme = raw.signing.as_deref().unwrap_or("standard");
    let secrets: Vec<String> = match &raw.secret_env {
        Some(var) => match env(var).filter(|v| !v.trim().is_empty()) {
            Some(value) => value
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => {
                problems.push(
                    "secret_env",
                    format!("the environment variable {var} is not set"),
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    if scheme != "none" && raw.secret_env.is_none() {
        problems.push(
            "secret_env",
            format!(
                "signing = {scheme:?} needs a secret: name the environment variable that holds it, or set signing = \"none\""
            ),
        );
    }
    if raw.header.is_some() && scheme != "stripe" {
        problems.push("header", "only signing = \"stripe\" takes a header name");
    }
    let signing = match scheme {
        "none" => Some(WebhookSigning::None),
        "bearer" => Some(WebhookSigning::Bearer(
            secrets.into_iter().map(Secret::new).collect(),
        )),
        "standard" => {
            let mut parsed = Vec::with_capacity(secrets.len());
            for secret in secrets {
                match secret.parse() {
                    Ok(s) => parsed.push(s),
                    Err(e) => problems.push(
                        "secret_env",
                        format!("a Standard Webhooks secret is `whsec_` + base64: {e}"),
                    ),
                }
            }
            Some(WebhookSigning::Standard(parsed))
        }
        "stripe" => {
            let header = raw.header.as_deref().unwrap_or(DEFAULT_STRIPE_HEADER);
            match reqwest::header::HeaderName::from_bytes(header.as_bytes()) {
                Ok(header) => Some(WebhookSigning::Stripe {
                    header,
                    secrets: secrets.into_iter().map(Secret::new).collect(),
                }),
                Err(_) => {
                    problems.push("header", format!("{header:?} is not a valid header name"));
                    None
                }
            }
        }
        other => {
            problems.push(
                "signing",
                format!("{other:?}: expected \"standard\", \"stripe\", \"bearer\" or \"none\""),
            );
            None
        }
    };
    let timeout = match raw.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(s @ 1..=300) => Duration::from_secs(s),
        Some(s) => {
            problems.push(
                "timeout_secs",
                format!("must be between 1 and 300, got {s}"),
            );
            DEFAULT_TIMEOUT
        }
    };
    match (url, signing) {
        (Some(url), Some(signing)) if problems.is_empty() => Ok(WebhookSpec {
            url,
            signing,
            allow_private: raw.allow_private,
            timeout,
        }),
        _ => Err(problems),
    }
}

/// Makes one attempt with the stored `body` (the event document) and judges the answer.
pub async fn send(
    sender: &WebhookSender,
    spec: &WebhookSpec,
    id: DeliveryId,
    body: &str,
) -> Report {
    match sender.send(spec, id, body, clock::now_secs()).await {
        Ok(answer) => {
            let status = Some(answer.status);
            let snippet = Some(answer.snippet);
            match answer.status {
                200..=299 => Report::delivered(status, None).with_response(snippet),
                410 => Report::failed(
                    Verdict::Disable,
                    status,
                    // The origin only: a path or query may hold a token.
                    format!(
                        "410 Gone from {} at {}",
                        spec.summary(),
                        clock::now_rfc3339()
                    ),
                )
                .with_response(snippet),
                code => Report::failed(
                    Verdict::Retry {
                        after: answer.retry_after,
                    },
                    status,
                    format!("HTTP {code}"),
                )
                .with_response(snippet),
            }
        }
        Err(error) => {
            let verdict = if error.is_retryable() {
                Verdict::Retry { after: None }
            } else {
                Verdict::Dead
            };
            Report::failed(verdict, None, error.to_string())
        }
    }
}
