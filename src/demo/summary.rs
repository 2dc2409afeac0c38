//! The table the demo ends with: each scenario, what it should have reached, what it did,
//! how long it took, and whether that counts as passed. Pure, so its layout is unit-tested.

use std::time::Duration;

use super::printer::Style;

/// What one scenario came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub title: &'static str,
    pub expected: &'static str,
    /// What was observed, in the words of `expected` when it matched.
    pub got: String,
    pub passed: bool,
    pub took: Duration,
}

/// The summary table and its last line. Columns are padded before colour is added, so they
/// line up with and without colour.
pub fn table(outcomes: &[Outcome], style: Style) -> String {
    let header = ["#", "scenario", "expected", "got", "time", "result"];
    let rows: Vec<[String; 6]> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            [
                (i + 1).to_string(),
                o.title.to_owned(),
                o.expected.to_owned(),
                o.got.clone(),
                format!("{:.1}s", o.took.as_secs_f64()),
                if o.passed { "passed" } else { "FAILED" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let pad = |cell: &str, width: usize, right: bool| {
        let fill = " ".repeat(width.saturating_sub(cell.chars().count()));
        if right {
            format!("{fill}{cell}")
        } else {
            format!("{cell}{fill}")
        }
    };
    // The number and the time are right-aligned; the last column is not padded.
    let render = |cells: &[String; 6]| {
        let mut out: Vec<String> = Vec::with_capacity(6);
        for (i, cell) in cells.iter().enumerate() {
            let last = i == cells.len() - 1;
            out.push(if last {
                cell.clone()
            } else {
                pad(cell, widths[i], i == 0 || i == 4)
            });
        }
        out
    };
    let mut text = String::new();
    let head = render(&header.map(String::from));
    text.push_str(&format!("  {}\n", style.bold(&head.join("  "))));
    for (row, outcome) in rows.iter().zip(outcomes) {
        let mut cells = render(row);
        if let Some(result) = cells.last_mut() {
            *result = if outcome.passed {
                style.good(result)
            } else {
                style.bad(result)
            };
        }
        text.push_str(&format!("  {}\n", cells.join("  ")));
    }
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let verdict = if passed == outcomes.len() {
        style.good(&format!(
            "All {} scenarios reached their expected outcome.",
            outcomes.len()
        ))
    } else {
        style.bad(&format!(
            "{passed} of {} scenarios reached their expected outcome.",
            outcomes.len()
        ))
    };
    text.push('\n');
    text.push_str(&verdict);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(title: &'static str, passed: bool, secs: u64) -> Outcome {
        Outcome {
            title,
            expected: "connected",
            got: if passed { "connected" } else { "unreached" }.into(),
            passed,
            took: Duration::from_millis(secs * 1000 + 250),
        }
    }

    #[test]
    fn columns_line_up_and_the_verdict_counts() {
        let text = table(
            &[outcome("ticket", true, 4), outcome("a deal", false, 12)],
            Style::plain(),
        );
        let expected = [
            "  #  scenario  expected   got         time  result",
            "  1  ticket    connected  connected   4.2s  passed",
            "  2  a deal    connected  unreached  12.2s  FAILED",
            "",
            "1 of 2 scenarios reached their expected outcome.",
        ]
        .join("\n");
        assert_eq!(text, expected);
    }

    #[test]
    fn all_passed_says_so_and_colour_does_not_move_columns() {
        let outcomes = [outcome("ticket", true, 1)];
        let plain = table(&outcomes, Style::plain());
        assert!(plain.ends_with("All 1 scenarios reached their expected outcome."));
        let coloured = table(&outcomes, Style::detect(true, false));
        let stripped = coloured
            .replace("\x1b[0m", "")
            .replace("\x1b[1m", "")
            .replace("\x1b[32m", "");
        assert_eq!(stripped, plain);
    }
}
