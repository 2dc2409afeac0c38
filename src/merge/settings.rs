//! Merge.dev settings: how to reach Merge, which linked account uses which token, when a
//! ticket or a deal rings someone, and how often Klaxon polls Merge for changes whose webhook
//! never came. Validated from `[merge]` and the reference apps' variables by [`resolve`]
//! (in `raw.rs`).

mod raw;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::signing::Secret;

pub use raw::{RawMerge, resolve};

pub const DEFAULT_API_BASE: &str = "https://api.merge.dev/api";
/// Merge's ticket priorities that ring the on-call engineer by default.
pub const DEFAULT_TICKET_PRIORITIES: [&str; 2] = ["URGENT", "HIGH"];
/// The deal-desk reference app's stages.
pub const DEFAULT_ALERT_STAGES: [&str; 4] =
    ["negotiation", "contract_sent", "verbal_commit", "closing"];
pub const DEFAULT_DEAL_THRESHOLD: i64 = 50_000;
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Merge.dev: webhooks in, API calls out, and the rules of the built-in Merge pipelines.
#[derive(Debug, Clone)]
pub struct MergeSettings {
    /// `MERGE_WEBHOOK_SECRET` (several, comma-separated, during a rotation). When set,
    /// `/webhooks/merge|ticket|crm` refuse a Merge envelope not signed with one of them.
    pub webhook_secrets: Vec<Secret>,
    /// `MERGE_ALLOW_UNSIGNED_WEBHOOKS`: without a secret, accept unsigned Merge envelopes
    /// from anyone, not only from callers that pass the API's rule. Off by default; a risk
    /// reported at every start (see `crate::settings::risks`). No effect once a secret is set.
    pub allow_unsigned_webhooks: bool,
    /// `MERGE_API_KEY` and friends; `None` means the built-in sandbox Merge.
    pub api: Option<MergeApi>,
    /// `BRIDGE_NUMBER`: who "connect me" reaches when a ticket's contact has no phone.
    pub bridge_number: Option<String>,
    /// `MERGE_POLL_INTERVAL`: how often changed tickets and deals are listed, in case a
    /// webhook was missed. `None` disables it.
    pub poll_interval: Option<Duration>,
    pub rules: MergeRules,
}

impl Default for MergeSettings {
    fn default() -> Self {
        MergeSettings {
            webhook_secrets: Vec::new(),
            allow_unsigned_webhooks: false,
            api: None,
            bridge_number: None,
            poll_interval: Some(DEFAULT_POLL_INTERVAL),
            rules: MergeRules::default(),
        }
    }
}

/// A Merge organisation's API access.
#[derive(Debug, Clone)]
pub struct MergeApi {
    pub api_base: String,
    pub api_key: Secret,
    /// `MERGE_ACCOUNT_TOKEN`: the token used for a linked account not in `account_tokens`
    /// (one tenant, as the reference apps).
    pub account_token: Option<Secret>,
    /// `[merge.account_tokens]` / `MERGE_ACCOUNT_TOKENS=id=token,…`: per linked account.
    pub account_tokens: BTreeMap<String, Secret>,
}

/// When the built-in Merge pipelines ring someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRules {
    /// `TICKET_PRIORITIES`: a ticket rings when its priority becomes one of these.
    pub ticket_priorities: Vec<String>,
    /// `ALERT_STAGES`: normalised stage names (lower case, `_` for spaces).
    pub alert_stages: Vec<String>,
    /// `DEAL_THRESHOLD`: an open deal of at least this amount rings.
    pub deal_threshold: i64,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules {
            ticket_priorities: DEFAULT_TICKET_PRIORITIES.map(str::to_owned).to_vec(),
            alert_stages: DEFAULT_ALERT_STAGES.map(str::to_owned).to_vec(),
            deal_threshold: DEFAULT_DEAL_THRESHOLD,
        }
    }
}
