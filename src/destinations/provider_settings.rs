//! The settings every kind that calls a provider's API takes (Slack, Discord, Telegram,
//! Notion): `max_per_second`, `timeout_secs` and `api_base`, checked one way for all of them.

use std::time::Duration;

use super::rate_limit::Pace;
use crate::config::Problems;

/// The longest `timeout_secs` a provider call may set.
const MAX_TIMEOUT_SECS: u64 = 60;

/// `max_per_second`: `default` when unset, `0` turns pacing off, else up to `max`.
pub fn pace(value: Option<f64>, default: f64, max: f64, problems: &mut Problems) -> Pace {
    match value {
        None => Some(default),
        Some(0.0) => None,
        Some(p) if p > 0.0 && p <= max => Some(p),
        Some(p) => {
            problems.push(
                "max_per_second",
                format!("{p} is not between 0 (off) and {max}"),
            );
            None
        }
    }
}

/// `timeout_secs`: `default` when unset, else 1 to 60 seconds.
pub fn timeout(value: Option<u64>, default: Duration, problems: &mut Problems) -> Duration {
    match value {
        None => default,
        Some(s @ 1..=MAX_TIMEOUT_SECS) => Duration::from_secs(s),
        Some(s) => {
            problems.push(
                "timeout_secs",
                format!("must be between 1 and {MAX_TIMEOUT_SECS}, got {s}"),
            );
            default
        }
    }
}

/// `api_base`: the provider's origin (`default` when unset), without a trailing slash.
pub fn api_base(value: Option<String>, default: &str, problems: &mut Problems) -> String {
    let api_base = value
        .unwrap_or_else(|| default.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        problems.push("api_base", format!("{api_base:?} is not an http(s) URL"));
    }
    api_base
}
