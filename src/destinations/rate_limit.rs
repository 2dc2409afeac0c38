//! A per-key pace for providers that publish one (Slack: about one message per second per
//! channel; Notion: about three requests per second per integration): each send reserves
//! the next free slot of its key and waits for it, so a burst goes out evenly instead of
//! earning 429s. A wait longer than [`MAX_WAIT`] is not slept through (it would hold one of
//! the worker's slots): the send is postponed instead ([`super::Verdict::Postpone`]), which
//! uses none of the delivery's attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The longest a send waits in line before it is postponed to when its turn comes.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Sends per second per key; `None` means no pacing (rate limits off).
pub type Pace = Option<f64>;

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// The next free slot of each key.
    next: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// Waits for `key`'s next slot at `per_second`. `Err(wait)` when the line is longer than
    /// [`MAX_WAIT`]: nothing was reserved, try again after `wait`.
    pub async fn wait(&self, key: &str, pace: Pace) -> Result<(), Duration> {
        let Some(per_second) = pace.filter(|p| *p > 0.0) else {
            return Ok(());
        };
        let interval = Duration::from_secs_f64(1.0 / per_second);
        let now = Instant::now();
        let slot = {
            let Ok(mut next) = self.next.lock() else {
                return Ok(());
            };
            let slot = next.get(key).copied().unwrap_or(now).max(now);
            if slot - now > MAX_WAIT {
                return Err(slot - now);
            }
            next.insert(key.to_owned(), slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_to_one_key_are_spaced_and_other_keys_are_not_held_up() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.wait("slack:#alerts", Some(1.0)).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        limiter.wait("slack:#other", Some(1.0)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        limiter.wait("anything", None).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_longer_than_the_limit_is_refused_not_slept_through() {
        let limiter = RateLimiter::default();
        // One send per 10 s: the first goes now, the second would wait 10 s > MAX_WAIT.
        limiter.wait("k", Some(0.1)).await.unwrap();
        let refused = limiter.wait("k", Some(0.1)).await;
        assert!(
            matches!(refused, Err(wait) if wait > MAX_WAIT),
            "{refused:?}"
        );
        // Nothing was booked by the refusal: after the interval, the key is free again.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        limiter.wait("k", Some(0.1)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
