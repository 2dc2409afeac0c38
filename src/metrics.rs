//! Process metrics in the Prometheus text format, served at `/metrics`.
//!
//! One process-wide registry ([`metrics()`]) so that any layer can count without its
//! constructor growing a parameter: counters and histograms with labels, updated with a short
//! lock (well under a microsecond; ingest does about 35k events/s). Label values that come
//! from users (event types) are capped per family, so a sender inventing types cannot grow
//! memory without bound. Gauges that describe the store (job queue depth, age of the oldest
//! due job) are read at scrape time by the HTTP handler and passed to [`Metrics::render`].
//!
//! Hand-written rather than a crate: the exposition format is a few lines of text, and the
//! well-known crates bring an HTTP server or a global recorder Klaxon has no use for.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Distinct label sets kept per family; later ones are counted under `other`.
const MAX_SERIES: usize = 500;
const OTHER: &str = "other";

/// Latency buckets in seconds: from 0.5 ms (a local commit) to 30 s (a slow receiver).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric Klaxon exposes.
pub struct Metrics {
    pub events_ingested: Counters,
    pub pipeline_decisions: Counters,
    pub deliveries: Counters,
    pub delivery_postponements: Counters,
    pub delivery_seconds: Histogram,
    pub escalations: Counters,
    pub dead_air_seconds: Histogram,
    pub model_calls: Counters,
    pub classifications: Counters,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    events_ingested: Counters::new(
        "klaxon_events_ingested_total",
        "Events stored, by source and type.",
        &["source", "type"],
    ),
    pipeline_decisions: Counters::new(
        "klaxon_pipeline_decisions_total",
        "Pipeline runs, by pipeline and outcome (routed or filtered).",
        &["pipeline", "outcome"],
    ),
    deliveries: Counters::new(
        "klaxon_delivery_attempts_total",
        "Delivery attempts (webhooks and Merge write-backs), by destination and outcome (succeeded, retry, dead).",
        &["destination", "outcome"],
    ),
    delivery_postponements: Counters::new(
        "klaxon_delivery_postponements_total",
        "Sends held back by a destination's own pace (max_per_second) and postponed without an attempt, by destination.",
        &["destination"],
    ),
    delivery_seconds: Histogram::new(
        "klaxon_delivery_attempt_seconds",
        "Duration of one delivery attempt.",
    ),
    escalations: Counters::new(
        "klaxon_escalations_total",
        "Finished phone escalations, by outcome.",
        &["outcome"],
    ),
    dead_air_seconds: Histogram::new(
        "klaxon_dead_air_seconds",
        "From a callee answering to Klaxon's first command on that call.",
    ),
    model_calls: Counters::new(
        "klaxon_model_calls_total",
        "Calls to the chat model, by purpose (classify, briefing) and result (ok, error).",
        &["purpose", "result"],
    ),
    classifications: Counters::new(
        "klaxon_classifications_total",
        "classify decisions, by source (model, cache, builtin, fallback).",
        &["source"],
    ),
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Values read from the store at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueGauges {
    /// Delivery jobs due now (pending or failed, due time passed).
    pub due_jobs: u64,
    /// Jobs waiting, due or not.
    pub waiting_jobs: u64,
    /// How long the oldest due job has been due.
    pub oldest_due_age: Option<Duration>,
}

impl Metrics {
    /// The exposition text (`text/plain; version=0.0.4`).
    pub fn render(&self, queue: QueueGauges) -> String {
        let mut out = String::with_capacity(4096);
        self.events_ingested.render(&mut out);
        self.pipeline_decisions.render(&mut out);
        self.deliveries.render(&mut out);
        self.delivery_postponements.render(&mut out);
        self.delivery_seconds.render(&mut out);
        self.escalations.render(&mut out);
        self.dead_air_seconds.render(&mut out);
        self.model_calls.render(&mut out);
        self.classifications.render(&mut out);
        gauge(
            &mut out,
            "klaxon_jobs_due",
            "Delivery jobs due now and not yet done.",
            queue.due_jobs as f64,
        );
        gauge(
            &mut out,
            "klaxon_jobs_waiting",
            "Delivery jobs pending or awaiting a retry.",
            queue.waiting_jobs as f64,
        );
        gauge(
            &mut out,
            "klaxon_oldest_due_job_age_seconds",
            "How long the oldest due delivery job has waited (0 when none is due).",
            queue.oldest_due_age.map_or(0.0, |d| d.as_secs_f64()),
        );
        out
    }
}

/// A counter family with labels.
pub struct Counters {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counters {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Counters {
            name,
            help,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to the series with these label values (in the family's label order).
    pub fn inc(&self, values: &[&str]) {
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        if let Some(count) = series.get_mut(&key(values)) {
            *count += 1;
            return;
        }
        let key = if series.len() < MAX_SERIES {
            key(values)
        } else {
            vec![OTHER.to_owned(); values.len()]
        };
        *series.entry(key).or_insert(0) += 1;
    }

    /// The current value of one series (for tests).
    pub fn get(&self, values: &[&str]) -> u64 {
        self.series
            .lock()
            .map(|s| s.get(&key(values)).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        let Ok(series) = self.series.lock() else {
            return;
        };
        for (values, count) in series.iter() {
            let _ = writeln!(out, "{}{} {count}", self.name, labels(self.labels, values));
        }
    }
}

/// A histogram without labels, over [`LATENCY_BUCKETS`].
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    state: Mutex<HistogramState>,
}

#[derive(Default)]
struct HistogramState {
    /// Per bucket, not cumulative; the last slot is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(name: &'static str, help: &'static str) -> Self {
        Histogram {
            name,
            help,
            state: Mutex::new(HistogramState {
                counts: vec![0; LATENCY_BUCKETS.len() + 1],
                ..HistogramState::default()
            }),
        }
    }

    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Ok(mut state) = self.state.lock() {
            state.counts[bucket] += 1;
            state.sum += seconds;
            state.count += 1;
        }
    }

    /// Observations so far (for tests).
    pub fn count(&self) -> u64 {
        self.state.lock().map(|s| s.count).unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let Ok(state) = self.state.lock() else {
            return;
        };
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += state.counts[i];
            let _ = writeln!(out, "{}_bucket{{le=\"{bound}\"}} {cumulative}", self.name);
        }
        let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {}", self.name, state.count);
        let _ = writeln!(out, "{}_sum {}", self.name, state.sum);
        let _ = writeln!(out, "{}_count {}", self.name, state.count);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn key(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// `{source="api",type="a\"b"}` with the format's escapes.
fn labels(names: &[&str], values: &[String]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name}=\"{}\"", label_value(value)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// A label value as the text format writes it: `\\`, `\"` and `\n` escaped (the format's only
/// escapes), and every other control character (NUL, `\r`, tab, C1) replaced with U+FFFD,
/// since the format cannot escape them and scrapers split or stop on them.
fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_escaped_labels() {
        let counters = Counters::new("t_total", "Test.", &["kind"]);
        counters.inc(&["a\"b"]);
        counters.inc(&["a\"b"]);
        let mut out = String::new();
        counters.render(&mut out);
        assert!(out.contains("# TYPE t_total counter"), "{out}");
        assert!(out.contains("t_total{kind=\"a\\\"b\"} 2"), "{out}");
    }

    #[test]
    fn control_characters_never_reach_the_exposition_raw() {
        let cases = [
            ("a\0b", "a\u{fffd}b"),
            ("cr\rtab\t", "cr\u{fffd}tab\u{fffd}"),
            (
                "esc\x1b del\x7f c1\u{85}",
                "esc\u{fffd} del\u{fffd} c1\u{fffd}",
            ),
            ("line\nbreak", "line\\nbreak"),
            ("back\\slash \"q\"", "back\\\\slash \\\"q\\\""),
            ("Zürich ☎", "Zürich ☎"),
        ];
        for (raw, written) in cases {
            assert_eq!(label_value(raw), written, "{raw:?}");
        }
        let counters = Counters::new("t_total", "Test.", &["type"]);
        counters.inc(&["evil\0type\r\n# TYPE x counter"]);
        let mut out = String::new();
        counters.render(&mut out);
        assert!(!out.contains('\0') && !out.contains('\r'), "{out:?}");
        assert_eq!(out.lines().count(), 3, "one series line: {out:?}");
        println!("metric labels: {} control-character probes", cases.len());
    }

    #[test]
    fn series_beyond_the_cap_are_counted_as_other() {
        let counters = Counters::new("t_total", "Test.", &["type"]);
        for i in 0..MAX_SERIES + 10 {
            counters.inc(&[&format!("type-{i}")]);
        }
        assert_eq!(counters.get(&["other"]), 10);
        assert_eq!(counters.get(&["type-0"]), 1);
    }

    #[test]
    fn histograms_are_cumulative() {
        let histogram = Histogram::new("t_seconds", "Test.");
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(100));
        let mut out = String::new();
        histogram.render(&mut out);
        assert!(out.contains("t_seconds_bucket{le=\"0.0005\"} 1"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"0.005\"} 2"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"30\"} 2"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"+Inf\"} 3"), "{out}");
        assert!(out.contains("t_seconds_count 3"), "{out}");
    }
}
