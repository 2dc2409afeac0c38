//! Dial pacing: a token bucket in front of `POST /v2/calls`.
//!
//! Telnyx checks dials per second as a rolling 5-second sum (150 for the default 30/s) and
//! answers 429/90103 above it (docs/telnyx.md §1.2). A burst of escalations (a Merge outage opening
//! 200 tickets at once) must therefore be spread out here rather than be rejected and retried.
//!
//! The bucket holds up to `burst` tokens and refills at `rate` per second. A caller that finds
//! it empty *reserves* the next token (the count goes negative) and sleeps until it is due, so
//! waiting callers are served in arrival order without holding the lock while they sleep. Over
//! any window of `t` seconds at most `burst + rate × t` dials start. A dial whose future is
//! dropped while waiting leaves its token unused: the pace only ever errs on the slow side.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The bucket's arithmetic, with the clock passed in so it can be tested exactly.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Negative when callers are waiting: minus the tokens they have reserved.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    /// Takes one token and returns how long to wait before using it.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = self.updated.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Spreads dials to at most `rate` per second after an initial burst. Shared by all clones of
/// a [`super::TelnyxClient`], so the limit holds per process.
#[derive(Debug)]
pub struct DialPacer {
    bucket: Mutex<TokenBucket>,
}

impl DialPacer {
    /// `rate` must be positive and finite (checked by the client's configuration); `burst` is
    /// at least one token.
    pub fn new(rate: f64, burst: u32) -> Self {
        DialPacer {
            bucket: Mutex::new(TokenBucket::new(
                rate,
                f64::from(burst.max(1)),
                Instant::now(),
            )),
        }
    }

    /// The burst the client uses for a rate: one second's worth, at least one dial.
    pub fn burst_for(rate: f64) -> u32 {
        // Saturating float-to-int cast; the rate is already validated as positive and finite.
        (rate.floor() as u32).max(1)
    }

    /// Waits until the next dial may start.
    pub async fn acquire(&self) {
        let wait = {
            // The critical section cannot panic, so a poisoned lock still holds a sound
            // bucket; keep pacing rather than fail every later dial.
            let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            bucket.reserve(Instant::now())
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_out_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 10.0, start);
        let waits: Vec<Duration> = (0..25).map(|_| bucket.reserve(start)).collect();
        assert!(waits[..10].iter().all(Duration::is_zero));
        // The 11th waits one interval, the 25th fifteen: (25 - 10) / 10 s.
        assert_eq!(waits[10], Duration::from_millis(100));
        assert!(
            (waits[24].as_secs_f64() - 1.5).abs() < 1e-9,
            "{:?}",
            waits[24]
        );
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "arrival order");
    }

    #[test]
    fn the_bucket_refills_but_never_beyond_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0, start);
        for _ in 0..5 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        let later = start + Duration::from_millis(200);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert!(!bucket.reserve(later).is_zero());
        let idle = start + Duration::from_secs(60);
        let ready = (0..10)
            .take_while(|_| bucket.reserve(idle).is_zero())
            .count();
        assert_eq!(ready, 5, "a long pause refills only up to the burst");
    }

    #[test]
    fn any_window_stays_under_the_telnyx_sum() {
        // 200 dials at once at 25/s with a 25 burst: no 5-second window may hold more than 150.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(25.0, f64::from(DialPacer::burst_for(25.0)), start);
        let starts: Vec<f64> = (0..200)
            .map(|_| bucket.reserve(start).as_secs_f64())
            .collect();
        for (i, &t) in starts.iter().enumerate() {
            let in_window = starts[i..].iter().take_while(|&&u| u < t + 5.0).count();
            assert!(in_window <= 150, "{in_window} dials in the window from {t}");
        }
    }

    #[test]
    fn burst_is_one_second_at_least_one() {
        assert_eq!(DialPacer::burst_for(10.0), 10);
        assert_eq!(DialPacer::burst_for(0.5), 1);
        assert_eq!(DialPacer::burst_for(2.9), 2);
    }
}
