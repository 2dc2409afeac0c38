//! Line time after the outcome is known: for each way a call ends, how long the leg stays up
//! after the moment that decided it (the voicemail verdict, the last silent menu, the key
//! pressed, the winner of a parallel ring, the other side of a bridge hanging up). Every
//! second of it is paid for, and a voicemail box records it.
//!
//! Klaxon in process against the sandbox carrier at human speaking pace (330 ms a word, AMD
//! in 0.7 s) with short rings and menu timeouts, so the goodbyes take their real time while
//! the run stays short. Both ends of each figure are the carrier's clock: the decisive
//! webhook's send time and the leg's end. Goal: ≤ 1 s on every leg Klaxon ends, goodbye
//! included. A voicemail message left by policy is reported apart: it is meant to take time.
//!
//! Run: `cargo bench --bench line_time` (about a minute).

mod common;

use std::time::{Duration, SystemTime};

use klaxon::sandbox::carrier::{LegSnapshot, LegState, Timing};
use serde_json::{Value, json};

/// Runs per scenario.
const RUNS: usize = 3;

/// Human speech and detection, quick rings and menu timeouts (a Telnyx second is 100 ms).
fn timing() -> Timing {
    Timing {
        ring: Duration::from_millis(300),
        second: Duration::from_millis(100),
        per_word: Duration::from_millis(330),
        amd: Duration::from_millis(700),
        response: Duration::from_millis(300),
        conversation: Duration::from_secs(2),
        ..Timing::realistic()
    }
}

/// A scenario: its policy, and how to read the decisive moment and the leg we ended.
struct Scenario {
    name: &'static str,
    policy: &'static str,
    /// (number of the leg Klaxon ends, number of the leg whose event decides, event type,
    /// which of that leg's events of the type: first or last)
    ended: &'static str,
    decided_by: &'static str,
    event: &'static str,
    last: bool,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "voicemail, hung up",
        policy: r#"targets = ["+15551000007", "+15551000012"]"#,
        ended: "+15551000007",
        decided_by: "+15551000007",
        event: "call.machine.detection.ended",
        last: false,
    },
    Scenario {
        name: "silent through every menu round",
        policy: r#"targets = ["+15551000009", "+15551000012"]"#,
        ended: "+15551000009",
        decided_by: "+15551000009",
        event: "call.gather.ended",
        last: true,
    },
    Scenario {
        name: "passed on (3)",
        policy: r#"targets = ["+15551000003", "+15551000012"]"#,
        ended: "+15551000003",
        decided_by: "+15551000003",
        event: "call.gather.ended",
        last: false,
    },
    Scenario {
        name: "acknowledged (2)",
        policy: r#"targets = ["+15551000002"]"#,
        ended: "+15551000002",
        decided_by: "+15551000002",
        event: "call.gather.ended",
        last: false,
    },
    // Both answer at once: the one who got the menu won; the other is the leg we end.
    Scenario {
        name: "parallel: the other person, answered",
        policy: "targets = [\"+15551000002\", \"+15551000022\"]\nring = \"parallel\"",
        ended: RACE_LOSER,
        decided_by: RACE_WINNER,
        event: "call.machine.detection.ended",
        last: false,
    },
    Scenario {
        name: "parallel: the other phone, still ringing",
        policy: "targets = [\"+15551000002\", \"+15551000004\"]\nring = \"parallel\"",
        ended: "+15551000004",
        decided_by: "+15551000002",
        event: "call.machine.detection.ended",
        last: false,
    },
    Scenario {
        name: "bridged: the customer hung up",
        policy: r#"targets = ["+15551000000"]"#,
        ended: "+15551000000",
        decided_by: "+15552000001",
        event: "call.hangup",
        last: false,
    },
];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "klaxon line time after the outcome is known (sandbox carrier, 330 ms a word, {RUNS} runs each; goal ≤ 1 s)"
        );
        for scenario in &SCENARIOS {
            let mut seconds = Vec::new();
            for _ in 0..RUNS {
                let rig = Rig::ring(scenario.policy, "hang_up").await;
                rig.run_ticket().await;
                let legs = rig.carrier.legs();
                let ended = leg(&legs, scenario.ended);
                let decided = rig.event_at(leg(&legs, scenario.decided_by), scenario.event, scenario.last);
                seconds.push(after(decided, ended.ended_at));
            }
            report(scenario.name, &mut seconds, "≤ 1 s");
        }
        // Left a message by policy: the line is up for the message by design.
        let mut seconds = Vec::new();
        for _ in 0..RUNS {
            let rig = Rig::ring(r#"targets = ["+15551000007", "+15551000012"]"#, "leave_message").await;
            rig.run_ticket().await;
            let legs = rig.carrier.legs();
            let voicemail = leg(&legs, "+15551000007");
            let greeting = rig.event_at(voicemail, "call.machine.greeting.ended", false);
            seconds.push(after(greeting, voicemail.ended_at));
        }
        report("voicemail message left (greeting end → hang-up)", &mut seconds, "the message's length");
    });
}

/// Stand-ins for the numbers of a parallel race, known only once it ran.
const RACE_WINNER: &str = "the leg that got the menu";
const RACE_LOSER: &str = "the leg that did not";

fn leg<'a>(legs: &'a [LegSnapshot], to: &str) -> &'a LegSnapshot {
    let got_menu = |l: &&LegSnapshot| l.commands.iter().any(|c| c == "gather_using_speak");
    match to {
        RACE_WINNER => return legs.iter().find(got_menu).expect("a winner"),
        RACE_LOSER => return legs.iter().find(|l| !got_menu(l)).expect("a loser"),
        _ => {}
    }
    legs.iter()
        .find(|l| l.to == to)
        .unwrap_or_else(|| panic!("a leg to {to}: {legs:#?}"))
}

fn after(decided: SystemTime, ended: Option<SystemTime>) -> f64 {
    let ended = ended.expect("the leg ended");
    ended
        .duration_since(decided)
        .unwrap_or_default()
        .as_secs_f64()
}

fn report(name: &str, seconds: &mut [f64], goal: &str) {
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let max = seconds[seconds.len() - 1];
    println!("  {name:<50} median {median:>6.2} s   max {max:>6.2} s   (goal {goal})");
    common::record("line_time", name, max, "s", goal);
}

/// Klaxon in process with its own sandbox carrier at [`timing`].
type Rig = common::in_process::InProcess;

impl Rig {
    /// Klaxon whose ticket pipeline rings policy `team`: `steps` and its voicemail rule.
    async fn ring(steps: &str, voicemail: &str) -> Rig {
        let toml = format!(
            r#"
[[pipelines]]
name = "tickets"
on = "support.ticket.*"
[[pipelines.destinations]]
voice = {{ policy = "team", connect_to = "customer_phone" }}

[[policies]]
name = "team"
voicemail = "{voicemail}"
[[policies.steps]]
{steps}
"#
        );
        Rig::start(&toml, timing(), &[]).await
    }

    /// Sends a ticket and waits until its escalation ended and every leg is down.
    async fn run_ticket(&self) {
        let body = json!({
            "type": "support.ticket.created",
            "payload": {"subject": "Checkout down", "customer_phone": "+15552000001"},
        });
        let accepted = self
            .http
            .post(format!("{}/v1/events", self.url))
            .json(&body)
            .send()
            .await
            .expect("ticket sent");
        assert!(accepted.status().is_success(), "{:?}", accepted.status());
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let page: Value = self
                .http
                .get(format!("{}/v1/escalations", self.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ended = page["data"][0]["ended_at"].is_string();
            let legs = self.carrier.legs();
            if ended && !legs.is_empty() && legs.iter().all(|l| l.state == LegState::Ended) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the calls did not end: {legs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// When the carrier first sent `event_type` for `leg` (or last, with `last`).
    fn event_at(&self, leg: &LegSnapshot, event_type: &str, last: bool) -> SystemTime {
        let sent = self.carrier.webhooks_sent();
        let mut matching = sent
            .iter()
            .filter(|w| w.call_control_id == leg.call_control_id && w.event_type == event_type);
        let found = if last {
            matching.next_back()
        } else {
            matching.next()
        };
        found
            .unwrap_or_else(|| panic!("{event_type} for {}", leg.to))
            .at
    }
}
