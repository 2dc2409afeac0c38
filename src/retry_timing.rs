//! How long to wait before trying a request again, as pure functions of values (no clock
//! reads, no I/O): exponential backoff with "equal jitter", and a server's `Retry-After`.
//! The Telnyx and Merge clients and webhook delivery each add their own policy on top (how
//! many tries, which failures, what to do with a hint).

use std::time::{Duration, SystemTime};

/// The wait after `failed` attempts (1 after the first failure): half of
/// `initial × 2^(failed-1)`, capped at `cap`, plus `jitter` (a uniform sample from `[0, 1)`)
/// of the other half, so waits grow and spread but never collapse to zero. A jitter that is
/// not a number counts as 0.
pub fn equal_jitter(initial: Duration, cap: Duration, failed: u32, jitter: f64) -> Duration {
    let jitter = clamp_jitter(jitter);
    let doublings = failed.saturating_sub(1).min(20);
    let exponential = initial.saturating_mul(1u32 << doublings).min(cap);
    exponential / 2 + (exponential / 2).mul_f64(jitter)
}

/// `jitter` within `[0, 1]`, and 0 when it is not a number.
pub fn clamp_jitter(jitter: f64) -> f64 {
    if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// A `Retry-After` value: delay seconds (fractions accepted) or an HTTP date, which in the
/// past means "now". Anything else, a negative number included, is no hint.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    seconds(value).or_else(|| {
        let at = httpdate::parse_http_date(value).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// A non-negative, finite number of seconds (fractions accepted), as servers write waits.
pub fn seconds(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let backoff = |failed, jitter| equal_jitter(ms(1000), ms(60_000), failed, jitter);
        assert_eq!(backoff(1, 0.0), ms(500));
        assert_eq!(backoff(1, 1.0), ms(1000));
        assert_eq!(backoff(3, 0.5), ms(3000));
        assert_eq!(backoff(40, 1.0), ms(60_000), "no overflow");
        assert_eq!(backoff(1, f64::NAN), ms(500));
        assert_eq!(backoff(1, 7.0), ms(1000), "jitter clamped");
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 1.5 ", now), Some(ms(1500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
        assert_eq!(retry_after("NaN", now), None);
    }
}
