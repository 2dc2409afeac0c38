//! The five scenarios and what they share: how to start one, follow what Klaxon does about
//! it through the API, and judge the outcome.
//!
//! Each scenario file owns its trigger and its verdict; [`follow`] prints timelines. A
//! scenario never fails the demo by returning an error: whatever goes wrong becomes its
//! [`Outcome`], "FAILED" with the reason, and the other scenarios carry on.

mod chat;
mod deal;
mod follow;
mod night;
mod ticket;
mod webhook;

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::api::{ApiError, Klaxon};
use super::printer::{Console, Line};
use super::receiver::FlakyReceiver;
use super::settings::Pace;
use super::summary::Outcome;
use super::table::DemoTable;
use super::timeline::{Leg, Tone};
use crate::sandbox::chat::SandboxChat;
use crate::sandbox::merge::SandboxMerge;

/// A scenario: what it is, and what it must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// The short name printed on each of its lines.
    pub tag: &'static str,
    pub title: &'static str,
    pub expected: &'static str,
}

pub const SCENARIOS: [Scenario; 5] = [
    Scenario {
        tag: "ticket",
        title: "Urgent Merge ticket, on-call says \"connect me\"",
        expected: "connected; ticket IN_PROGRESS + comment",
    },
    Scenario {
        tag: "night",
        title: "Critical ticket: voicemail, then second on-call",
        expected: "acknowledged on attempt 2",
    },
    Scenario {
        tag: "deal",
        title: "Deal in negotiation: VP warm-transferred to AE",
        expected: "connected to the AE; CRM note",
    },
    Scenario {
        tag: "webhook",
        title: "Billing event to a failing webhook receiver",
        expected: "succeeded after ≥ 2 attempts",
    },
    Scenario {
        tag: "chat",
        title: "Critical ticket in Slack, every event in a table",
        expected: "in Slack #alerts; a table row per event",
    },
];

/// Everything a scenario works with; borrowed, as all scenarios run in one task.
pub struct Stage<'a> {
    pub klaxon: Klaxon,
    pub merge: &'a SandboxMerge,
    pub receiver: &'a FlakyReceiver,
    /// The sandbox Slack (and Discord, Telegram, Notion) the demo's chat destination posts to.
    pub chat: &'a SandboxChat,
    /// `--table-url`'s table, if given.
    pub table: Option<&'a DemoTable>,
    /// How many scenarios have finished: after that, they send no more events.
    pub finished: watch::Receiver<usize>,
    pub console: Console,
    pub pace: Pace,
    /// The wall-clock time the demo started, to place timeline entries.
    pub started_at: OffsetDateTime,
}

/// Why a scenario did not reach its outcome.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Other(String),
}

/// Runs scenario `index` of [`SCENARIOS`].
pub async fn run(stage: &Stage<'_>, index: usize) -> Outcome {
    let scenario = SCENARIOS[index % SCENARIOS.len()];
    let reporter = Reporter {
        stage,
        index,
        tag: scenario.tag,
    };
    let started = std::time::Instant::now();
    let verdict = match index {
        0 => ticket::run(&reporter).await,
        1 => night::run(&reporter).await,
        2 => deal::run(&reporter).await,
        3 => webhook::run(&reporter).await,
        _ => chat::run(&reporter).await,
    };
    let (got, passed) = match verdict {
        Ok(verdict) => (verdict.got, verdict.passed),
        Err(failed) => (failed.to_string(), false),
    };
    let tone = if passed { Tone::Good } else { Tone::Bad };
    reporter.say("", None, &format!("{} → {got}", scenario.title), tone);
    Outcome {
        title: scenario.title,
        expected: scenario.expected,
        got,
        passed,
        took: started.elapsed(),
    }
}

/// What a scenario saw, and whether it is what was expected.
pub struct Verdict {
    pub got: String,
    pub passed: bool,
}

/// A scenario's voice on the console.
pub struct Reporter<'a> {
    pub stage: &'a Stage<'a>,
    index: usize,
    tag: &'static str,
}

impl Reporter<'_> {
    /// Prints a line now.
    pub fn say(&self, subject: &str, leg: Option<Leg>, text: &str, tone: Tone) {
        self.say_at(self.stage.console.elapsed(), subject, leg, text, tone);
    }

    /// Prints a line dated `at` (since the demo started).
    pub fn say_at(&self, at: Duration, subject: &str, leg: Option<Leg>, text: &str, tone: Tone) {
        self.stage.console.line(&Line {
            at,
            scenario: self.index,
            tag: self.tag,
            subject,
            leg,
            text,
            tone,
        });
    }

    /// Waits until `count` scenarios have finished. Each of them gives up after its own
    /// timeouts, so this waits for as long as a few of those.
    pub async fn others_finished(&self, count: usize) -> Result<(), Failed> {
        let mut finished = self.stage.finished.clone();
        let patience = self.stage.pace.scenario_timeout() * 4;
        match tokio::time::timeout(patience, finished.wait_for(|done| *done >= count)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Failed::Timeout("the other scenarios to finish")),
        }
    }

    /// Polls `check` until it returns `Some`, or fails after the scenario timeout.
    pub async fn wait_for<T, F, Fut>(&self, what: &'static str, mut check: F) -> Result<T, Failed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, Failed>>,
    {
        let deadline = tokio::time::Instant::now() + self.stage.pace.scenario_timeout();
        loop {
            if let Some(found) = check().await? {
                return Ok(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failed::Timeout(what));
            }
            tokio::time::sleep(self.stage.pace.poll_interval()).await;
        }
    }
}
