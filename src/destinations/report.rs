//! What one attempt at a destination came to: the kind's judgement ([`Verdict`]) and what is
//! kept on the attempt record ([`Report`]). Every kind answers with a `Report`, so the worker
//! records, retries, dead-letters and disables them all the same way. A send that our own
//! pacing held back before anything left Klaxon says so ([`Verdict::Postpone`]): that was no
//! attempt, and the worker neither records nor counts it.

use std::time::Duration;

/// How an attempt ended, as the destination's kind judged the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver took it.
    Delivered,
    /// Try again later: on the retry schedule, but not before `after` when the receiver
    /// said how long to wait (`Retry-After`, Discord's `retry_after`, …).
    Retry { after: Option<Duration> },
    /// Can never succeed as sent (bad token, unknown channel, a 5xx SMTP reply): dead-letter
    /// now, with the reason in the record.
    Dead,
    /// The destination itself is gone (`410 Gone`, a revoked Slack webhook): dead-letter and
    /// switch the destination off until someone enables it.
    Disable,
    /// Not attempted: the destination's pace (`max_per_second`) holds the send back for
    /// `after`, longer than a worker slot should wait. Nothing was sent, so no attempt is
    /// used: the delivery comes due again after `after`, its retry schedule where it was.
    Postpone { after: Duration },
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    /// The HTTP status (or SMTP reply code) when an answer arrived.
    pub status: Option<u16>,
    /// The start of the answer, for debugging a receiver (never a secret).
    pub response: Option<String>,
    /// Why it failed, when it did: the provider's reason (`channel_not_found`), a timeout …
    pub error: Option<String>,
}

impl Report {
    /// The report with `secret` taken out of everything it says: a transport error may quote
    /// the URL that holds it, and an answer could echo it.
    pub fn without_secret(mut self, secret: &str) -> Report {
        if secret.is_empty() {
            return self;
        }
        let scrub = |text: String| text.replace(secret, "[redacted]");
        self.error = self.error.map(scrub);
        self.response = self.response.map(scrub);
        self
    }

    pub fn delivered(status: Option<u16>, response: Option<String>) -> Report {
        Report {
            verdict: Verdict::Delivered,
            status,
            response,
            error: None,
        }
    }

    /// A failure with `verdict`, and what the receiver said.
    pub fn failed(verdict: Verdict, status: Option<u16>, error: impl Into<String>) -> Report {
        Report {
            verdict,
            status,
            response: None,
            error: Some(error.into()),
        }
    }

    /// Held back by our own pacing: `line` (the channel, chat …) has `wait` of sends ahead.
    pub fn postponed(wait: Duration, line: &str) -> Report {
        Report {
            verdict: Verdict::Postpone { after: wait },
            status: None,
            response: None,
            error: Some(format!(
                "paced: the {line}'s queue is {} s long",
                wait.as_secs()
            )),
        }
    }

    pub fn with_response(mut self, response: Option<String>) -> Report {
        self.response = response.filter(|r| !r.is_empty());
        self
    }
}
