//! The prefilter that keeps regexes off plain prose: where in a string a digit-led shape or an
//! IPv6 address can be, found by a byte scan.
//!
//! In our measurements the regex crate's lazy DFA costs about 1.6 ns a byte (3.3 µs for 2 KB)
//! whatever the pattern, unless the pattern has a literal it can look for first, and each call
//! costs about 45 ns more. Digit-led shapes (card, SSN, phone, IPv4, IBAN) have no such literal,
//! and IPv6's `:` is in every timestamp. So those passes search only the [`windows`] found
//! here: runs of the bytes their shapes are made of, kept only when they could hold a finding,
//! with runs close together merged so that one call covers them.
//!
//! Searching the windows finds exactly what searching the whole text finds (the tests in
//! `detect.rs` compare the two on generated text). A candidate is made only of its run's bytes,
//! so it lies inside one run and cannot start before it; a run that is dropped holds no
//! candidate that could pass its check; and a window ends where the next byte cannot change a
//! `\b` at its end.

use std::ops::Range;

use super::checks::is_word_byte;

/// Which runs a pass searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunKind {
    /// Runs of [`is_number_byte`]s holding at least [`MIN_DIGITS_IN_FINDING`] digits, plus the
    /// word characters right after them. Those are included so that `\b` at the end of the
    /// searched slice sees what the whole text would; no candidate can start among them, as
    /// the first is lower-case or `_` (anything else would have extended the run) and there is
    /// no word boundary after it.
    Numbers,
    /// Runs of hex digits, colons and dots with a decimal digit and either `::` or at least
    /// six colons: every textual IPv6 address has one or the other (`1:2:3:4:5:6:7:8`,
    /// `1:2:3:4:5:6:1.2.3.4`), a time such as `10:00:00` neither. The IPv6 pattern has no
    /// `\b`, so nothing after a run matters.
    Colons,
}

/// The fewest digits any confirmed digit-led finding holds: an IPv4 address such as `1.1.1.1`.
/// Each check in `checks.rs` guarantees at least this many.
const MIN_DIGITS_IN_FINDING: usize = 4;

/// Runs at most this far apart are searched in one call: below it, scanning the gap with the
/// DFA costs less than a second call would.
const MERGE_GAP_BYTES: usize = 24;

/// A window that grows this long by merging means the text is dense with numbers (a list of
/// order lines, say). Finding each run then costs more than it saves, so the window is
/// stretched to the end of the text and searched in one DFA pass.
const DENSE_WINDOW_BYTES: usize = 256;

/// The stretches of `text` to search, in order and without overlaps.
pub(super) fn windows(text: &str, kind: RunKind) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let mut next = 0;
    let mut pending: Option<Range<usize>> = None;
    std::iter::from_fn(move || {
        loop {
            let Some(run) = kind.next_run(bytes, next) else {
                return pending.take();
            };
            next = run.end;
            match &mut pending {
                // A number run can start inside the previous one's trailing word; it merges.
                Some(window) if run.start <= window.end + MERGE_GAP_BYTES => {
                    window.end = run.end;
                    if window.len() >= DENSE_WINDOW_BYTES {
                        window.end = bytes.len();
                        next = bytes.len();
                    }
                }
                _ => {
                    if let Some(done) = pending.replace(run) {
                        return Some(done);
                    }
                }
            }
        }
    })
}

impl RunKind {
    /// The first qualifying run at or after `from`; its end is past `from`.
    fn next_run(self, bytes: &[u8], mut from: usize) -> Option<Range<usize>> {
        // Each arm passes concrete functions, so the byte loops are compiled for its kind.
        loop {
            let (run, qualifies, end) = match self {
                RunKind::Numbers => {
                    let run =
                        run_around(bytes, from + DIGIT.find_in(&bytes[from..])?, is_number_byte);
                    let digits = bytes[run.clone()]
                        .iter()
                        .filter(|b| b.is_ascii_digit())
                        .count();
                    let end = bytes[run.end..]
                        .iter()
                        .position(|&b| !is_word_byte(b))
                        .map_or(bytes.len(), |after| run.end + after);
                    (run, digits >= MIN_DIGITS_IN_FINDING, end)
                }
                RunKind::Colons => {
                    let run =
                        run_around(bytes, from + COLON.find_in(&bytes[from..])?, is_ipv6_byte);
                    let run_bytes = &bytes[run.clone()];
                    let colons = run_bytes.iter().filter(|&&b| b == b':').count();
                    let compressed = run_bytes.windows(2).any(|pair| pair == b"::");
                    let has_digit = run_bytes.iter().any(u8::is_ascii_digit);
                    let end = run.end;
                    (run, has_digit && (compressed || colons >= 6), end)
                }
            };
            if qualifies {
                return Some(run.start..end);
            }
            from = end;
        }
    }
}

/// The maximal run of `is_run_byte` bytes around `bytes[seed]`.
fn run_around(bytes: &[u8], seed: usize, is_run_byte: impl Fn(u8) -> bool) -> Range<usize> {
    let start = bytes[..seed]
        .iter()
        .rposition(|&b| !is_run_byte(b))
        .map_or(0, |before| before + 1);
    let end = bytes[seed..]
        .iter()
        .position(|&b| !is_run_byte(b))
        .map_or(bytes.len(), |after| seed + after);
    start..end
}

/// The bytes digit-led shapes are made of: digits, upper-case letters (IBAN), and the
/// separators of cards, phone numbers and addresses.
fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit()
        || b.is_ascii_uppercase()
        || matches!(b, b' ' | b'+' | b'(' | b')' | b'.' | b'-')
}

/// The bytes of an IPv6 address, including an IPv4 tail.
fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// A set of bytes written as `b ^ key < limit`, the form that can be tested eight at a time.
#[derive(Debug, Clone, Copy)]
struct Needle {
    key: u8,
    limit: u8,
}

const DIGIT: Needle = Needle {
    key: b'0',
    limit: 10,
};
const COLON: Needle = Needle {
    key: b':',
    limit: 1,
};

impl Needle {
    #[inline]
    fn matches(self, b: u8) -> bool {
        b ^ self.key < self.limit
    }

    /// The index of the first matching byte. This scan is most of the cost of plain prose, so
    /// it tests a word at a time with the classic "has a byte less than n" trick, which is
    /// exact about whether there is one (`key` and `limit` are ASCII, so bytes of 0x80 and up
    /// never match).
    #[inline]
    fn find_in(self, bytes: &[u8]) -> Option<usize> {
        const ONES: u64 = u64::from_le_bytes([0x01; 8]);
        const HIGH_BITS: u64 = ONES * 0x80;
        let (words, rest) = bytes.as_chunks::<8>();
        for (index, word) in words.iter().enumerate() {
            let keyed = u64::from_le_bytes(*word) ^ (ONES * u64::from(self.key));
            let any = keyed.wrapping_sub(ONES * u64::from(self.limit)) & !keyed & HIGH_BITS != 0;
            if any && let Some(at) = word.iter().position(|&b| self.matches(b)) {
                return Some(index * 8 + at);
            }
        }
        rest.iter()
            .position(|&b| self.matches(b))
            .map(|at| words.len() * 8 + at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_agree_with_a_plain_search() {
        for needle in [DIGIT, COLON] {
            for len in 0..20 {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut bytes = vec![b'x'; len];
                        bytes[at] = byte;
                        let expected = bytes.iter().position(|&b| needle.matches(b));
                        assert_eq!(
                            needle.find_in(&bytes),
                            expected,
                            "{needle:?} {byte:#x} at {at}"
                        );
                    }
                }
            }
        }
        assert!((0..=255u8).filter(|&b| DIGIT.matches(b)).eq(b'0'..=b'9'));
        assert!((0..=255u8).filter(|&b| COLON.matches(b)).eq([b':']));
    }

    #[test]
    fn windows_skip_prose_and_merge_close_runs() {
        let text = "we shipped 40 parcels at 10:00:00 and were charged twice on 2026-11-23, \
                    then the courier lost all of them; card 4111 1111 1111 1111 for ::1 today";
        let found: Vec<&str> = windows(text, RunKind::Numbers).map(|w| &text[w]).collect();
        assert_eq!(found, [" 2026-11-23", " 4111 1111 1111 1111 for"]);
        let found: Vec<&str> = windows(text, RunKind::Colons).map(|w| &text[w]).collect();
        assert_eq!(found, ["::1"]);
        let close = "ids 1234 and 5678 x 9999";
        let found: Vec<&str> = windows(close, RunKind::Numbers)
            .map(|w| &close[w])
            .collect();
        assert_eq!(found, [" 1234 and 5678 x 9999"]);
    }
}
