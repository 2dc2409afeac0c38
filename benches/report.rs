//! Every figure in one table: `cargo bench --bench report`.
//!
//! Runs the five benchmarks (`ingest`, `delivery`, `destinations`, `pipeline`, `voice`) one after another
//! with `cargo bench`, each appending its headline figures to a file named by
//! `KLAXON_BENCH_FIGURES`, then prints them as one Markdown table (the README's). Each
//! benchmark's own detail scrolls by first. Takes about four minutes on two cores.

use std::process::Command;

use serde_json::Value;

const BENCHES: [&str; 5] = ["ingest", "delivery", "destinations", "pipeline", "voice"];

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let figures = dir.path().join("figures.jsonl");
    let mut args = vec!["bench"];
    for bench in BENCHES {
        args.extend(["--bench", bench]);
    }
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .env("KLAXON_BENCH_FIGURES", &figures)
        .status()
        .expect("cargo runs");
    let text = std::fs::read_to_string(&figures).unwrap_or_default();
    let rows: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    println!();
    println!("| Figure | Result | Goal | Benchmark |");
    println!("|---|---|---|---|");
    for row in &rows {
        let value = row["value"].as_f64().unwrap_or(f64::NAN);
        let shown = if value >= 100.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        };
        println!(
            "| {} | {shown} {} | {} | `cargo bench --bench {}` |",
            row["name"].as_str().unwrap_or("?"),
            row["unit"].as_str().unwrap_or(""),
            row["goal"].as_str().unwrap_or("—"),
            row["bench"].as_str().unwrap_or("?"),
        );
    }
    assert!(status.success(), "a benchmark failed: {status}");
    let missing: Vec<_> = BENCHES
        .iter()
        .filter(|b| !rows.iter().any(|r| r["bench"] == **b))
        .collect();
    assert!(missing.is_empty(), "no figures from {missing:?}");
}
