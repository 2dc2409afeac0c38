//! The checks that turn a regex candidate into a finding: checksums (Luhn, IBAN mod-97),
//! number ranges (SSN), parsing (IP addresses), digit counts (phones) and the characters
//! around a candidate. Each takes the candidate text, or the whole text and the candidate's
//! range when context matters, and knows nothing about regexes.
//!
//! Every check that accepts a digit-led shape guarantees at least
//! `detect::MIN_DIGITS_IN_FINDING` (4) digits; the number-run prefilter relies on it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a number-like candidate is a token of its own rather than a slice of a longer one:
/// `2024-415-555-0123`, `1.2.3.4.5` and `A4111111111111111` are ids and versions.
pub(super) fn stands_alone(text: &str, span: &Range<usize>) -> bool {
    let glued_before = match &text.as_bytes()[..span.start] {
        [.., b] if is_word_byte(*b) => true,
        [.., digit, b'-' | b'.'] if digit.is_ascii_digit() => true,
        _ => false,
    };
    let glued_after = match &text.as_bytes()[span.end..] {
        [b, ..] if is_word_byte(*b) => true,
        [b'-' | b'.', digit, ..] if digit.is_ascii_digit() => true,
        _ => false,
    };
    !glued_before && !glued_after
}

/// The HTTP authentication schemes in the secret pattern, whose credential follows a space.
const AUTH_SCHEMES: [&str; 2] = ["bearer", "basic"];

/// The range to replace for a secret candidate. For `Bearer …`/`Basic …` it is only the
/// credential, so a reader still sees what kind of header it was; those words are also
/// English, so the credential must mix letters and digits ("the bearer of this letter" does
/// not). Other secrets are found by their prefixes and are taken whole.
pub(super) fn credential_span(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[span.clone()];
    let Some(scheme) = AUTH_SCHEMES.into_iter().find(|scheme| {
        candidate
            .get(..scheme.len())
            .is_some_and(|word| word.eq_ignore_ascii_case(scheme))
            && candidate[scheme.len()..].starts_with(' ')
    }) else {
        return Some(span);
    };
    let credential_start = span.end - candidate[scheme.len()..].trim_start_matches(' ').len();
    // A full stop after a token ends the sentence; it is not part of the token.
    let credential = text[credential_start..span.end].trim_end_matches('.');
    let is_credential = credential.bytes().any(|b| b.is_ascii_digit())
        && credential.bytes().any(|b| b.is_ascii_alphabetic());
    is_credential.then(|| credential_start..credential_start + credential.len())
}

/// The range to replace for an IPv6 candidate, which the pattern finds loosely (any run of
/// hex and colons).
pub(super) fn ipv6_span(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let mut end = span.end;
    // The loose pattern also takes a colon that ends a sentence ("refused by ::1: timeout").
    if text[span.start..end].ends_with(':') && !text[span.start..end].ends_with("::") {
        end -= 1;
    }
    let span = span.start..end;
    let address = &text[span.clone()];
    // A decimal digit keeps words spelt in hex letters (`add::cafe`) out.
    let is_address =
        address.bytes().any(|b| b.is_ascii_digit()) && address.parse::<Ipv6Addr>().is_ok();
    // More colon groups on either side mean a longer hex string (a fingerprint).
    let glued_by_colon = text[..span.start].ends_with(':')
        || text.as_bytes()[span.end..]
            .strip_prefix(b":")
            .is_some_and(|rest| rest.first().is_some_and(u8::is_ascii_hexdigit));
    (is_address && !glued_by_colon && stands_alone(text, &span)).then_some(span)
}

/// Dotted quad, each part at most 255 and without leading zeros.
pub(super) fn is_ipv4(candidate: &str) -> bool {
    candidate.parse::<Ipv4Addr>().is_ok()
}

/// The North American shape fixes its own length (10 or 11 digits); an international number
/// has 8 to 15 digits in all, country code included (E.164 allows at most 15).
pub(super) fn is_plausible_phone(candidate: &str) -> bool {
    !candidate.starts_with('+')
        || (8..=15).contains(&candidate.bytes().filter(u8::is_ascii_digit).count())
}

/// A payment card number: 13 to 19 digits, a leading digit a card network issues (2 to 6:
/// Mastercard, Amex/Diners/JCB, Visa, Mastercard/Maestro, Discover/UnionPay) and a valid Luhn
/// check digit. The leading-digit rule also keeps millisecond timestamps (`1732…`) out.
pub(super) fn is_card_number(candidate: &str) -> bool {
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

/// `AAA-GG-SSSS` (the pattern guarantees the shape) without the numbers the SSA never issues:
/// area 000, 666 and 900-999, group 00, serial 0000.
pub(super) fn is_ssn(candidate: &str) -> bool {
    let (area, group, serial) = (&candidate[0..3], &candidate[4..6], &candidate[7..11]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// An upper-case IBAN, spaces allowed, of 15 to 34 characters with at least four digits (every
/// national format has a numeric bank or account part) and an ISO 13616 mod-97 checksum of 1.
pub(super) fn is_valid_iban(candidate: &str) -> bool {
    let characters = || candidate.bytes().filter(|&b| b != b' ');
    if !(15..=34).contains(&characters().count())
        || characters().filter(u8::is_ascii_digit).count() < 4
    {
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
