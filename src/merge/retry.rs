//! Retry timing for Merge requests, as pure functions of values (no clock reads, no I/O).
//!
//! Merge documents no `Retry-After` on 429 (docs/merge.md §1.4), but we honour `Retry-After` and
//! `retry-after-ms` when present; otherwise exponential backoff with "equal jitter", starting
//! around 1 s and capped around 60 s. Only transient failures are retried: Merge blocks an IP
//! that sends more than 20 failing requests (429 excluded) in 10 s, and Klaxon calls Merge
//! from one IP for every tenant, so retrying a 4xx could cut off all of them at once.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::retry_timing;

/// The millisecond variant of `Retry-After` some gateways send.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// How hard one client call tries before handing the error to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one.
    pub initial_backoff: Duration,
    /// Ceiling for one backoff. A server asking for a longer wait than this is not waited
    /// for: the error goes back to the caller (a job can be rescheduled instead of holding a
    /// worker).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` attempts (1 after the first failure), or `None` when the
    /// server's `hint` is beyond `max_backoff`. `jitter` is a uniform sample from `[0, 1)`.
    ///
    /// Without a hint: half of `initial × 2^(failed-1)` (capped) plus a random share of the
    /// other half. With a hint: the hint plus up to a tenth of it, so clients told the same
    /// time do not all return at once, and never less than the plain backoff.
    pub fn delay(&self, failed: u32, hint: Option<Duration>, jitter: f64) -> Option<Duration> {
        let jitter = retry_timing::clamp_jitter(jitter);
        let backoff =
            retry_timing::equal_jitter(self.initial_backoff, self.max_backoff, failed, jitter);
        match hint {
            Some(hint) if hint > self.max_backoff => None,
            Some(hint) => Some((hint + (hint / 10).mul_f64(jitter)).max(backoff)),
            None => Some(backoff),
        }
    }
}

/// The wait a response asks for: `retry-after-ms`, else `Retry-After` in seconds or as an
/// HTTP date. Unparseable values are ignored; a date in the past means "now".
pub fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // `retry-after-ms` holds milliseconds: read as seconds, a thousandth of it.
    let millis = text(RETRY_AFTER_MS)
        .and_then(retry_timing::seconds)
        .map(|wait| wait / 1000);
    millis.or_else(|| retry_timing::retry_after(text(RETRY_AFTER.as_str())?, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None, 0.0), Some(ms(500)));
        assert_eq!(policy.delay(1, None, 1.0), Some(ms(1000)));
        assert_eq!(policy.delay(3, None, 0.5), Some(ms(3000)));
        assert_eq!(policy.delay(40, None, 1.0), Some(ms(60_000)), "no overflow");
        assert_eq!(policy.delay(1, None, f64::NAN), Some(ms(500)));
    }

    #[test]
    fn a_server_hint_is_a_floor_and_too_long_a_hint_gives_up() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(ms(2000)), 0.0), Some(ms(2000)));
        assert_eq!(policy.delay(1, Some(ms(2000)), 0.5), Some(ms(2100)));
        assert_eq!(policy.delay(3, Some(ms(0)), 0.0), Some(ms(2000)));
        assert_eq!(policy.delay(1, Some(ms(61_000)), 0.0), None);
    }

    #[test]
    fn hints_are_read_from_both_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let hint = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            server_hint(&headers, now)
        };
        assert_eq!(hint(&[]), None);
        assert_eq!(hint(&[("retry-after", "3")]), Some(ms(3000)));
        assert_eq!(hint(&[("retry-after", "soon")]), None);
        assert_eq!(hint(&[("retry-after", "-1")]), None);
        assert_eq!(hint(&[(RETRY_AFTER_MS, "250")]), Some(ms(250)));
        assert_eq!(
            hint(&[(RETRY_AFTER_MS, "250"), ("retry-after", "3")]),
            Some(ms(250))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(hint(&[("retry-after", &date)]), Some(ms(7000)));
    }
}
