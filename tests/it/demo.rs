//! `klaxon demo --fast`, the real binary with its output piped, as CI runs it: every scenario
//! reaches its outcome, the output is plain text, and nothing is left behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::binary::BINARY;

/// The demo's four scenarios, as its summary names them.
const SCENARIOS: [&str; 4] = [
    "Urgent Merge ticket, on-call says \"connect me\"",
    "Critical ticket: voicemail, then second on-call",
    "Deal in negotiation: VP warm-transferred to AE",
    "Billing event to a failing webhook receiver",
];

#[test]
fn the_demo_plays_every_scenario_to_its_expected_outcome() {
    let workdir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = std::process::Command::new(BINARY)
        .arg("demo")
        .arg("--fast")
        // A clean environment, plus the variables that would leave sandbox mode if the demo
        // read them: it must not.
        .env_clear()
        .env("TELNYX_API_KEY", "KEY_REAL_ACCOUNT")
        .env("MERGE_API_KEY", "real-merge-key")
        .env("DATABASE_URL", "sqlite://should-not-exist.db")
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run klaxon demo");
    let took = started.elapsed();
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // Piped: no colour, no progress line redrawn with \r.
    assert!(
        !stdout.contains('\x1b'),
        "ANSI escapes in piped output:\n{stdout}"
    );
    assert!(!stdout.contains('\r'), "carriage returns in piped output");

    let summary = stdout
        .split("\nSummary\n")
        .nth(1)
        .unwrap_or_else(|| panic!("a summary:\n{stdout}"));
    for scenario in SCENARIOS {
        let row = summary
            .lines()
            .find(|line| line.contains(scenario))
            .unwrap_or_else(|| panic!("{scenario} in the summary:\n{summary}"));
        assert!(row.trim_end().ends_with("passed"), "{row}");
    }
    assert!(summary.contains("All 4 scenarios reached their expected outcome."));

    // The timelines were printed as they happened.
    for line in [
        "said \"connect me\" → connect",
        "voicemail detected",
        "hung up by us",
        "pressed 2 → acknowledge",
        "bridged",
        "write-back: ticket status → IN_PROGRESS",
        "CRM note added to the deal",
        "attempt 1: 503, will retry",
        "http://127.0.0.1:",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    // Its own temporary database, not the working directory's.
    let left: Vec<_> = std::fs::read_dir(workdir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "files left in the working directory: {left:?}"
    );
}
