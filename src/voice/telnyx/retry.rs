//! Retry timing for Telnyx requests, as pure functions of values (no clock reads, no I/O).
//!
//! Telnyx's own guidance (docs/telnyx.md §1.3) is to retry a 5xx at once and to resend a command
//! that got no answer; the identical `command_id` makes the duplicate harmless. We add exponential
//! backoff with jitter so a Telnyx incident is not met by every worker hammering in lockstep,
//! and we wait at least as long as Telnyx asks (`x-ratelimit-reset`, `Retry-After`) on a 429.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::retry_timing;

/// Header with the seconds until the rate-limit window resets.
pub const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// A reset value above this is read as a Unix timestamp rather than a number of seconds; no
/// window is 30 years long, and no timestamp is that small.
const EPOCH_THRESHOLD_SECS: u64 = 1_000_000_000;

/// How hard one client call tries before handing the error to its caller.
///
/// The defaults give at most 5 attempts within about 15 s, short enough that a job runner
/// above can still reschedule the step while the person is on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one.
    pub initial_backoff: Duration,
    /// Ceiling for one backoff (server hints may ask for longer).
    pub max_backoff: Duration,
    /// Time from the first attempt after which no new attempt starts; every attempt's own
    /// deadline is also cut to what is left of it. At most 60 s, Telnyx's `command_id`
    /// window, so a resent command is always recognised as a duplicate.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            budget: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` attempts (1 after the first failure). `hint` is the server's
    /// requested wait, `jitter` a uniform sample from `[0, 1)`.
    ///
    /// Without a hint: "equal jitter", half of `initial × 2^(failed-1)` (capped) plus a random
    /// share of the other half, so waits grow but never collapse to zero. With a hint: the hint
    /// plus up to one `initial_backoff` of spread, so clients told the same reset time do not
    /// all return in the same millisecond, and never less than the plain backoff.
    pub fn delay(&self, failed: u32, hint: Option<Duration>, jitter: f64) -> Duration {
        let jitter = retry_timing::clamp_jitter(jitter);
        let backoff =
            retry_timing::equal_jitter(self.initial_backoff, self.max_backoff, failed, jitter);
        match hint {
            Some(hint) => (hint + self.initial_backoff.mul_f64(jitter)).max(backoff),
            None => backoff,
        }
    }
}

/// The wait a response asks for: the larger of `x-ratelimit-reset` and `Retry-After`, each
/// either seconds or an absolute time (Unix seconds, or an HTTP date for `Retry-After`).
/// Unparseable values are ignored; times in the past mean "now".
pub fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let reset = text(RATE_LIMIT_RESET).and_then(|v| seconds_or_epoch(v, now));
    let retry_after = text(RETRY_AFTER.as_str())
        .and_then(|v| seconds_or_epoch(v, now).or_else(|| retry_timing::retry_after(v, now)));
    match (reset, retry_after) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn seconds_or_epoch(value: &str, now: SystemTime) -> Option<Duration> {
    let secs = retry_timing::seconds(value)?;
    if secs < Duration::from_secs(EPOCH_THRESHOLD_SECS) {
        return Some(secs);
    }
    let at = UNIX_EPOCH.checked_add(secs)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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
        assert_eq!(policy.delay(1, None, 0.0), ms(100));
        assert_eq!(policy.delay(1, None, 1.0), ms(200));
        assert_eq!(policy.delay(2, None, 0.0), ms(200));
        assert_eq!(policy.delay(3, None, 0.5), ms(600));
        assert_eq!(policy.delay(6, None, 1.0), ms(4000));
        assert_eq!(policy.delay(40, None, 1.0), ms(4000), "no overflow");
        assert_eq!(policy.delay(1, None, f64::NAN), ms(100));
    }

    #[test]
    fn a_server_hint_is_a_floor_with_spread() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(ms(1000)), 0.0), ms(1000));
        assert_eq!(policy.delay(1, Some(ms(1000)), 0.5), ms(1100));
        assert_eq!(
            policy.delay(4, Some(ms(0)), 0.0),
            ms(800),
            "backoff still applies"
        );
    }

    #[test]
    fn hints_are_read_from_both_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let hint = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            server_hint(&headers, now)
        };
        assert_eq!(hint(&[]), None);
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "2")]), Some(ms(2000)));
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "0.5")]), Some(ms(500)));
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "1800000003")]), Some(ms(3000)));
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "1700000000")]), Some(ms(0)));
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "soon")]), None);
        assert_eq!(hint(&[(RATE_LIMIT_RESET, "-1")]), None);
        assert_eq!(hint(&[("retry-after", "3")]), Some(ms(3000)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(hint(&[("retry-after", &date)]), Some(ms(7000)));
        assert_eq!(
            hint(&[(RATE_LIMIT_RESET, "1"), ("retry-after", "4")]),
            Some(ms(4000))
        );
    }
}
