//! The built-in detectors: where each [`PiiKind`] can appear in a string, and the check that
//! confirms a candidate.
//!
//! Every enabled kind is one alternative of a single regex, so a string with nothing suspicious
//! costs one pass of the regex crate's lazy DFA and no allocation. The regex only proposes;
//! the checks here (Luhn, IBAN mod-97, SSN number ranges, address parsing, phone digit counts,
//! the characters around a number) decide. A candidate that fails its check is skipped whole,
//! so the digits of a rejected 16-digit order number are never re-read as a phone number.
//!
//! Every alternative is ASCII-only (`(?-u:…)`): a Unicode `\b` sends the regex crate from the
//! DFA to a much slower engine as soon as the text holds a non-ASCII character, and the formats
//! found here are ASCII anyway.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use regex::{CaptureLocations, Regex};

use super::PiiKind;

/// One candidate shape. A kind can have several shapes (both IP families report `ip`).
///
/// [`Shape::BY_PRIORITY`] is the order of the alternatives: when two shapes could start at the
/// same character, the earlier one is tried first. Real overlaps are rare (the shapes differ in
/// their separators), but it puts a `Bearer` header ahead of the JWT inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Secret,
    Email,
    Iban,
    Card,
    Ssn,
    Phone,
    Ipv4,
    Ipv6,
}

impl Shape {
    const BY_PRIORITY: [Shape; 8] = [
        Shape::Secret,
        Shape::Email,
        Shape::Iban,
        Shape::Card,
        Shape::Ssn,
        Shape::Phone,
        Shape::Ipv4,
        Shape::Ipv6,
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

    fn group_name(self) -> &'static str {
        match self {
            Shape::Secret => "secret",
            Shape::Email => "email",
            Shape::Iban => "iban",
            Shape::Card => "card",
            Shape::Ssn => "ssn",
            Shape::Phone => "phone",
            Shape::Ipv4 => "ipv4",
            Shape::Ipv6 => "ipv6",
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
                r"|\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,5}|[ .-]\d{1,5}){1,6}\b",
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
                r"(?P<auth_scheme>\b(?i:bearer|basic) +)[A-Za-z0-9._~+/=-]{8,}",
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

/// The compiled candidate regex for a set of kinds, and where each shape's group is.
#[derive(Debug, Clone)]
pub(super) struct BuiltinDetector {
    candidates: Regex,
    /// Capture group of each enabled shape, in priority order.
    shape_groups: Vec<(Shape, usize)>,
    /// Group of the `Bearer `/`Basic ` scheme word; only the credential after it is replaced,
    /// so a reader still sees what kind of header it was. `None` when secrets are off.
    auth_scheme_group: Option<usize>,
}

impl BuiltinDetector {
    /// Compiles the detector for `kinds`; `None` when no built-in kind is enabled.
    pub(super) fn new(kinds: &[PiiKind]) -> Option<Self> {
        let shapes: Vec<Shape> = Shape::BY_PRIORITY
            .into_iter()
            .filter(|shape| kinds.contains(&shape.kind()))
            .collect();
        if shapes.is_empty() {
            return None;
        }
        let alternatives: Vec<String> = shapes
            .iter()
            .map(|shape| format!("(?P<{}>(?-u:{}))", shape.group_name(), shape.pattern()))
            .collect();
        let candidates = Regex::new(&alternatives.join("|"))
            .expect("built-in redaction patterns are constant and compile (tested)");
        let group_of = |name: &str| {
            candidates
                .capture_names()
                .position(|group| group == Some(name))
        };
        let shape_groups = shapes
            .iter()
            .filter_map(|&shape| Some((shape, group_of(shape.group_name())?)))
            .collect();
        let auth_scheme_group = group_of("auth_scheme");
        Some(BuiltinDetector {
            candidates,
            shape_groups,
            auth_scheme_group,
        })
    }

    /// Calls `on_finding` with the kind and byte range of each confirmed finding, left to
    /// right and without overlaps.
    pub(super) fn for_each_finding(
        &self,
        text: &str,
        mut on_finding: impl FnMut(PiiKind, Range<usize>),
    ) {
        // The plain search is the common, allocation-free path; capture locations are only
        // needed once there is a candidate to classify.
        let Some(first) = self.candidates.find(text) else {
            return;
        };
        let mut locations = self.candidates.capture_locations();
        let mut search_from = first.start();
        while let Some(candidate) =
            self.candidates
                .captures_read_at(&mut locations, text, search_from)
        {
            // Every alternative consumes at least one character, so the search always advances.
            search_from = candidate.end();
            let Some(shape) = self
                .shape_groups
                .iter()
                .find(|(_, group)| locations.get(*group).is_some())
                .map(|(shape, _)| *shape)
            else {
                continue;
            };
            if let Some(span) = self.confirm(shape, text, candidate.range(), &locations) {
                on_finding(shape.kind(), span);
            }
        }
    }

    /// The range to replace when the candidate is the real thing.
    fn confirm(
        &self,
        shape: Shape,
        text: &str,
        span: Range<usize>,
        locations: &CaptureLocations,
    ) -> Option<Range<usize>> {
        let candidate = &text[span.clone()];
        let confirmed = match shape {
            Shape::Email => return Some(span),
            Shape::Secret => return self.confirm_secret(text, span, locations),
            Shape::Ipv6 => return confirm_ipv6(text, span),
            Shape::Phone => is_plausible_phone(candidate),
            Shape::Card => is_card_number(candidate),
            Shape::Ssn => is_ssn(candidate),
            Shape::Iban => is_valid_iban(candidate),
            Shape::Ipv4 => candidate.parse::<Ipv4Addr>().is_ok(),
        };
        (confirmed && stands_alone(text, &span)).then_some(span)
    }

    fn confirm_secret(
        &self,
        text: &str,
        span: Range<usize>,
        locations: &CaptureLocations,
    ) -> Option<Range<usize>> {
        let Some((_, scheme_end)) = self.auth_scheme_group.and_then(|g| locations.get(g)) else {
            return Some(span);
        };
        // "Bearer" and "basic" are also English words: a credential mixes letters and digits,
        // "the bearer of this letter" does not. A trailing full stop ends the sentence.
        let credential = text[scheme_end..span.end].trim_end_matches('.');
        let is_credential = credential.bytes().any(|b| b.is_ascii_digit())
            && credential.bytes().any(|b| b.is_ascii_alphabetic());
        is_credential.then(|| scheme_end..scheme_end + credential.len())
    }
}

/// Whether a numeric candidate is a token of its own rather than a slice of a longer one:
/// `2024-415-555-0123`, `1.2.3.4.5` and `A4111111111111111` are ids and versions.
fn stands_alone(text: &str, span: &Range<usize>) -> bool {
    let glued_before = match &text.as_bytes()[..span.start] {
        [.., b] if is_word_byte(*b) => true,
        [.., d, b'-' | b'.'] if d.is_ascii_digit() => true,
        _ => false,
    };
    let glued_after = match &text.as_bytes()[span.end..] {
        [b, ..] if is_word_byte(*b) => true,
        [b'-' | b'.', d, ..] if d.is_ascii_digit() => true,
        _ => false,
    };
    !glued_before && !glued_after
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn confirm_ipv6(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let mut end = span.end;
    // The loose pattern also takes a colon that ends a sentence ("refused by ::1: timeout").
    if text[span.start..end].ends_with(':') && !text[span.start..end].ends_with("::") {
        end -= 1;
    }
    let span = span.start..end;
    let address = &text[span.clone()];
    // Requiring a decimal digit keeps words made of hex letters (`add::cafe`) out.
    let is_address =
        address.bytes().any(|b| b.is_ascii_digit()) && address.parse::<Ipv6Addr>().is_ok();
    // More colon groups on either side means a longer hex string (a fingerprint), not an address.
    let glued_by_colon = text[..span.start].ends_with(':')
        || text.as_bytes()[span.end..]
            .strip_prefix(b":")
            .is_some_and(|rest| rest.first().is_some_and(u8::is_ascii_hexdigit));
    (is_address && !glued_by_colon && stands_alone(text, &span)).then_some(span)
}

fn is_plausible_phone(candidate: &str) -> bool {
    // The North American shape fixes its own length; an international number has a country
    // code and 8 to 15 digits in all (E.164's maximum).
    !candidate.starts_with('+')
        || (8..=15).contains(&candidate.bytes().filter(u8::is_ascii_digit).count())
}

/// A payment card number: 13 to 19 digits, a leading digit that a card network issues (2 to 6:
/// Mastercard, Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay) and a valid Luhn
/// check digit. The leading-digit rule keeps millisecond timestamps (`1732…`) out.
fn is_card_number(candidate: &str) -> bool {
    let digits = candidate.bytes().filter(u8::is_ascii_digit);
    (13..=19).contains(&digits.clone().count())
        && matches!(digits.clone().next(), Some(b'2'..=b'6'))
        && passes_luhn(candidate)
}

/// The Luhn (mod 10) check over the digits of `number`, ignoring any other characters.
pub(super) fn passes_luhn(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(position, digit)| match position % 2 {
            0 => digit,
            _ if digit * 2 > 9 => digit * 2 - 9,
            _ => digit * 2,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` with the numbers the SSA never issues excluded: area 000, 666 and 900-999,
/// group 00, serial 0000.
fn is_ssn(candidate: &str) -> bool {
    let (area, group, serial) = (&candidate[0..3], &candidate[4..6], &candidate[7..11]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// An IBAN (spaces allowed) of 15 to 34 characters whose ISO 13616 mod-97 checksum is 1.
pub(super) fn is_valid_iban(candidate: &str) -> bool {
    let characters = || candidate.bytes().filter(|&b| b != b' ');
    if !(15..=34).contains(&characters().count()) {
        return false;
    }
    // The country code and check digits move to the end; letters count as 10 (A) to 35 (Z).
    let mut remainder: u32 = 0;
    for b in characters().skip(4).chain(characters().take(4)) {
        remainder = match b {
            b'0'..=b'9' => (remainder * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (remainder * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    remainder == 1
}
