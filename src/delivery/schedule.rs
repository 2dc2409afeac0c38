//! When to try again: the configured delays with ±10 % jitter, stretched by a receiver's
//! `Retry-After`, and the point where a delivery is dead-lettered instead.

use std::time::Duration;

/// A `Retry-After` longer than this is capped: a receiver cannot park a delivery for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// After attempt `attempt` (1-based since creation or replay) failed: when to try again, in
/// unix ms, or `None` when the schedule is used up.
pub fn next_attempt_at(
    schedule: &[Duration],
    attempt: u32,
    retry_after: Option<Duration>,
    now_ms: i64,
) -> Option<i64> {
    let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
    let base = *schedule.get(index)?;
    // Jitter spreads retries of many deliveries that failed together (a receiver outage)
    // so they do not return as one burst.
    let jittered = base.mul_f64(0.9 + fastrand::f64() * 0.2);
    let delay = match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    };
    Some(now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: &[Duration] = &[Duration::from_secs(5), Duration::from_secs(300)];

    #[test]
    fn follows_the_schedule_with_jitter_then_gives_up() {
        for _ in 0..100 {
            let first = next_attempt_at(SCHEDULE, 1, None, 0).unwrap();
            assert!((4_500..=5_500).contains(&first), "{first}");
            let second = next_attempt_at(SCHEDULE, 2, None, 0).unwrap();
            assert!((270_000..=330_000).contains(&second), "{second}");
        }
        assert_eq!(next_attempt_at(SCHEDULE, 3, None, 0), None);
        assert_eq!(next_attempt_at(SCHEDULE, 0, None, 0), None);
    }

    #[test]
    fn retry_after_stretches_but_never_shortens_the_delay() {
        let later = next_attempt_at(SCHEDULE, 1, Some(Duration::from_secs(60)), 0).unwrap();
        assert_eq!(later, 60_000);
        let sooner = next_attempt_at(SCHEDULE, 1, Some(Duration::from_secs(1)), 0).unwrap();
        assert!(sooner >= 4_500);
        let capped = next_attempt_at(SCHEDULE, 1, Some(Duration::from_secs(10 << 20)), 0).unwrap();
        assert_eq!(capped, 24 * 3600 * 1000);
    }
}
