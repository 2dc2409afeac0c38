//! The built-in detectors: where each [`PiiKind`] can appear in a string, as regexes grouped
//! into passes.
//!
//! The regexes only propose candidates; the checks in `checks.rs` (Luhn, IBAN mod-97, SSN
//! ranges, address parsing, the characters around a number) decide. A candidate that fails its
//! check is skipped whole, so the digits of a rejected 16-digit order number are never re-read
//! as a phone number.
//!
//! Speed comes from never running a regex over plain prose. E-mail (found from its `@`) and
//! secrets (from their prefixes) each get a regex with a literal the regex crate searches for
//! first. IPv6 and the digit-led shapes (card, SSN, phone, IPv4, IBAN, one alternation) have no
//! such literal and are searched only inside the windows `runs.rs` finds. Passes run in order,
//! each on the previous one's output, so where two could claim the same text (a `Bearer`
//! header holding a JWT, a phone number before an `@`) the earlier pass wins.
//!
//! Every pattern is ASCII-only (`(?-u:…)`): a Unicode `\b` sends the regex crate from the DFA
//! to a much slower engine as soon as the text holds a non-ASCII character, and the formats
//! found here are ASCII anyway.

use std::ops::Range;

use regex::Regex;

use super::PiiKind;
use super::checks;
use super::runs::{self, RunKind};

/// One candidate shape. A kind can have several shapes (both IP families report `ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Secret,
    Email,
    Ipv6,
    Iban,
    Card,
    Ssn,
    Phone,
    Ipv4,
}

impl Shape {
    /// Pass order first, then, inside the number pass, alternative order: when two shapes
    /// could start at the same character, the earlier one is tried first.
    const BY_PRIORITY: [Shape; 8] = [
        Shape::Secret,
        Shape::Email,
        Shape::Ipv6,
        Shape::Iban,
        Shape::Card,
        Shape::Ssn,
        Shape::Phone,
        Shape::Ipv4,
    ];

    fn kind(self) -> PiiKind {
        match self {
            Shape::Secret => PiiKind::Secret,
            Shape::Email => PiiKind::Email,
            Shape::Iban => PiiKind::Iban,
            Shape::Card => PiiKind::Card,
            Shape::Ssn => PiiKind::Ssn,
            Shape::Phone => PiiKind::Phone,
            Shape::Ipv4 | Shape::Ipv6 => PiiKind::Ip,
        }
    }

    /// Where the shape's pass searches: `None` for the whole text (its regex has a literal
    /// to look for first), or the windows of one kind of run.
    fn runs(self) -> Option<RunKind> {
        match self {
            Shape::Secret | Shape::Email => None,
            Shape::Ipv6 => Some(RunKind::Colons),
            Shape::Iban | Shape::Card | Shape::Ssn | Shape::Phone | Shape::Ipv4 => {
                Some(RunKind::Numbers)
            }
        }
    }

    /// The candidate regex, written for ASCII mode (`\b`, `\d` and `\s` are ASCII).
    fn pattern(self) -> &'static str {
        match self {
            Shape::Email => r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
            // International with a `+` (contiguous, or grouped with spaces, dots, dashes and
            // an optional bracketed trunk/area part), then North American with separators.
            // Bare digit runs are not phones: they are far more often ids and amounts.
            Shape::Phone => concat!(
                r"\+[1-9]\d{6,14}\b",
                r"|\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,4}\)[ .-]?\d+|[ .-]\d+){1,6}\b",
                r"|(?:\b1[ .-])?(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}\b",
            ),
            // 4-4-4-4 (most brands), 4-6-5 (Amex) and 4-6-4 (Diners) groupings, or contiguous.
            Shape::Card => {
                r"\b(?:\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{13,19})\b"
            }
            Shape::Ssn => r"\b\d{3}-\d{2}-\d{4}\b",
            Shape::Iban => r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            Shape::Ipv4 => r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
            // Deliberately loose (times and MAC addresses match too); the parser decides.
            Shape::Ipv6 => r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?:\.\d{1,3}){3})?",
            Shape::Secret => concat!(
                r"\b(?i:bearer|basic) +[A-Za-z0-9._~+/=-]{8,}",
                r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}",
                r"|\bsk-[A-Za-z0-9_-]{20,}",
                r"|\bwhsec_[A-Za-z0-9+/=]{16,}",
                r"|\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
                r"|\bxox[abposr]-[A-Za-z0-9-]{10,}",
                r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
                r"|\bAIza[0-9A-Za-z_-]{35}",
                r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*?-----END [A-Z ]*PRIVATE KEY-----",
            ),
        }
    }
}

/// The compiled passes for a set of kinds, in the order they run.
#[derive(Debug, Clone)]
pub(super) struct BuiltinDetector {
    passes: Vec<Pass>,
}

impl BuiltinDetector {
    /// Compiles the passes for `kinds`; `None` when no built-in kind is enabled.
    pub(super) fn new(kinds: &[PiiKind]) -> Option<Self> {
        let enabled = Shape::BY_PRIORITY
            .into_iter()
            .filter(|shape| kinds.contains(&shape.kind()));
        let (digit_led, own_pass): (Vec<Shape>, Vec<Shape>) =
            enabled.partition(|shape| matches!(shape.runs(), Some(RunKind::Numbers)));
        let mut passes: Vec<Pass> = own_pass
            .into_iter()
            .map(|shape| Pass::new(&[shape], shape.runs()))
            .collect();
        if !digit_led.is_empty() {
            passes.push(Pass::new(&digit_led, Some(RunKind::Numbers)));
        }
        (!passes.is_empty()).then_some(BuiltinDetector { passes })
    }

    /// The passes, to run one after the other, each on the previous one's output.
    pub(super) fn passes(&self) -> &[Pass] {
        &self.passes
    }
}

/// One scan over a string for one or more shapes.
#[derive(Debug, Clone)]
pub(super) struct Pass {
    /// The shapes as one alternation, in priority order.
    candidates: Regex,
    /// Each shape anchored at both ends, in the same order, to tell which one produced a
    /// candidate. Capture groups on `candidates` would say so too, but resolving them runs a
    /// slower engine over the whole alternation; these only look at the candidate.
    shapes: Vec<(Shape, Regex)>,
    /// `None`: the whole text.
    runs: Option<RunKind>,
}

impl Pass {
    fn new(shapes: &[Shape], runs: Option<RunKind>) -> Self {
        const INVARIANT: &str = "built-in redaction patterns are constant and compile (tested)";
        let alternation: Vec<String> = shapes
            .iter()
            .map(|shape| format!("(?-u:{})", shape.pattern()))
            .collect();
        Pass {
            candidates: Regex::new(&alternation.join("|")).expect(INVARIANT),
            shapes: shapes
                .iter()
                .map(|&shape| {
                    let whole = format!("^(?-u:{})$", shape.pattern());
                    (shape, Regex::new(&whole).expect(INVARIANT))
                })
                .collect(),
            runs,
        }
    }

    /// Calls `on_finding` with the kind and byte range of each confirmed finding in `text`,
    /// left to right and without overlaps.
    pub(super) fn for_each_finding(
        &self,
        text: &str,
        mut on_finding: impl FnMut(PiiKind, Range<usize>),
    ) {
        let Some(kind) = self.runs else {
            self.search(text, 0..text.len(), &mut on_finding);
            return;
        };
        let mut searched_up_to = 0;
        for window in runs::windows(text, kind) {
            // Windows never overlap; the clamp makes sure a finding is never reported twice
            // even if they did, since overlapping findings cannot be replaced.
            let start = window.start.max(searched_up_to);
            searched_up_to = self.search(text, start..window.end, &mut on_finding);
        }
    }

    /// Searches `window` of `text`, seeing the text before it for `\b`, and returns where the
    /// search stopped.
    fn search(
        &self,
        text: &str,
        window: Range<usize>,
        on_finding: &mut impl FnMut(PiiKind, Range<usize>),
    ) -> usize {
        let mut search_from = window.start;
        while let Some(candidate) = self.candidates.find_at(&text[..window.end], search_from) {
            // Every alternative consumes at least one character, so the search always advances.
            search_from = candidate.end();
            let Some(shape) = self.shape_of(candidate.as_str()) else {
                continue;
            };
            if let Some(span) = confirm(shape, text, candidate.range()) {
                on_finding(shape.kind(), span);
            }
        }
        search_from
    }

    /// The first shape, in priority order, that matches the whole candidate: the alternative
    /// that produced it, since the alternation prefers earlier alternatives at a given start.
    fn shape_of(&self, candidate: &str) -> Option<Shape> {
        match self.shapes.as_slice() {
            [(only, _)] => Some(*only),
            shapes => shapes
                .iter()
                .find(|(_, whole)| whole.is_match(candidate))
                .map(|(shape, _)| *shape),
        }
    }
}

/// The range to replace when the candidate is the real thing.
fn confirm(shape: Shape, text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[span.clone()];
    let confirmed = match shape {
        Shape::Email => return Some(span),
        Shape::Secret => return checks::credential_span(text, span),
        Shape::Ipv6 => return checks::ipv6_span(text, span),
        Shape::Phone => checks::is_plausible_phone(candidate),
        Shape::Card => checks::is_card_number(candidate),
        Shape::Ssn => checks::is_ssn(candidate),
        Shape::Iban => checks::is_valid_iban(candidate),
        Shape::Ipv4 => checks::is_ipv4(candidate),
    };
    (confirmed && checks::stands_alone(text, &span)).then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces that make findings, near misses and every byte class the runs care about.
    const FRAGMENTS: &[&str] = &[
        "4111 1111 1111 1111",
        "4111111111111111",
        "3782 822463 10005",
        "123-45-6789",
        "+14155550123",
        "+44 20 7946 0958",
        "(415) 555-0123",
        "415-555-0123",
        "1-800-555-0199",
        "192.168.1.10",
        "1.1.1.1",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "2001:db8::1",
        "::1",
        "fe80::1ff:fe23:4567:890a",
        "::ffff:192.0.2.128",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:1.2.3.4",
        "2026-11-23T10:00:00Z",
        "10:30",
        "ab:cd",
        "v1.2.3",
        "40",
        "2019",
        "123",
        "0",
        "9",
        "f",
        "E",
        " ",
        " ",
        " ",
        "-",
        ".",
        "(",
        ")",
        "+",
        ":",
        "::",
        "/",
        ",",
        "_",
        "a",
        "x",
        "order",
        "AB",
        "Z",
        "é",
        "@",
    ];

    /// `Pass::search` relies on every candidate being at least one character long.
    #[test]
    fn no_pattern_matches_the_empty_string() {
        for shape in Shape::BY_PRIORITY {
            let whole = Regex::new(&format!("^(?-u:{})$", shape.pattern())).expect("compiles");
            assert!(!whole.is_match(""), "{shape:?}");
        }
    }

    /// Searching only the windows must find exactly what searching everything finds.
    #[test]
    fn windows_find_what_a_full_scan_finds() {
        let findings = |pass: &Pass, text: &str| {
            let mut found = Vec::new();
            pass.for_each_finding(text, |kind, span| found.push((kind, span)));
            found
        };
        for kind in [RunKind::Numbers, RunKind::Colons] {
            let shapes: Vec<Shape> = Shape::BY_PRIORITY
                .into_iter()
                .filter(|shape| shape.runs().is_some_and(|runs| runs == kind))
                .collect();
            let in_windows = Pass::new(&shapes, Some(kind));
            let everywhere = Pass::new(&shapes, None);
            let mut rng = fastrand::Rng::with_seed(0x5eed);
            let mut total = 0;
            for round in 0..20_000 {
                // Long texts too, so that dense windows are stretched to the end.
                let fragments = if round % 4 == 0 {
                    rng.usize(12..80)
                } else {
                    rng.usize(1..12)
                };
                let text: String = (0..fragments)
                    .map(|_| FRAGMENTS[rng.usize(..FRAGMENTS.len())])
                    .collect();
                let expected = findings(&everywhere, &text);
                assert_eq!(findings(&in_windows, &text), expected, "{kind:?} {text:?}");
                total += expected.len();
            }
            assert!(
                total > 3_000,
                "{kind:?}: too few findings ({total}) to be a test"
            );
        }
    }
}
