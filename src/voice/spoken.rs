//! The last check on every text Klaxon speaks: nothing read aloud is an id.
//!
//! A listener cannot use "six seven seven zero zero e seven a…", an e-mail address spelled out
//! or a URL; they waste the first seconds of a call and read like a bug. Templates and the
//! model are asked for names, subjects, amounts and stages, and [`speakable`] removes whatever
//! slipped through anyway (a UUID in a payload field, a phone number the model repeated), then
//! tidies the sentence it was taken from. [`contains_id`] is the same judgement as a question,
//! for tests that scan what was said.
//!
//! What counts as an id, and what is kept:
//!
//! - removed: UUIDs (dashed or not), e-mail addresses, URLs, phone numbers (`+` and 7 to 15
//!   digits, a formatted 10-digit number, or a bare run of 7 or more digits), `prefix_123`
//!   and `prefix-1234` record ids, hex runs of 8 or more mixing letters and digits, and long
//!   tokens (12 or more characters, or 8 or more with letters and digits interleaved) mixing
//!   letters and digits;
//! - kept: amounts ("80000", "80,000", "$1200000", "1.5M", "120,000 dollars"), short numbers,
//!   times and dates, ordinary words, hyphenated words ("COVID-19", "follow-up").
//!
//! Shape is all there is to go on, so the rules err towards silence: a bare amount of seven
//! digits or more ("1200000" with no currency) reads as a phone number, and a standard named
//! like a ticket key ("ISO-9001") as a record id. Klaxon's own templates group amounts in
//! thousands, so only a model's wording can lose one.
//!
//! This module decides nothing about *what* to say; it only guarantees what is never said.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Stands for removed text while the sentence is tidied, so the tidy rules know where
/// something was taken out. A control character: it never occurs in a spoken text.
const GAP: char = '\u{1}';

/// A spoken text with every id, address and phone number removed, and the sentence around
/// each removal tidied ("Customer: <uuid>." loses the whole label). Text with nothing to
/// remove is returned unchanged.
pub fn speakable(text: &str) -> String {
    let spans = id_spans(text);
    if spans.is_empty() {
        return text.to_owned();
    }
    let mut marked = String::with_capacity(text.len());
    let mut from = 0;
    for span in spans {
        marked.push_str(&text[from..span.start]);
        marked.push(GAP);
        from = span.end;
    }
    marked.push_str(&text[from..]);
    tidy(&marked)
}

/// The first id, address or phone number in `text` that [`speakable`] would remove, or
/// `None` when the text can be read aloud as it is.
pub fn contains_id(text: &str) -> Option<String> {
    id_spans(text)
        .into_iter()
        .next()
        .map(|span| text[span].to_owned())
}

/// Every stretch of `text` that must not be spoken, in order, not overlapping.
fn id_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    spans.extend(pattern_spans(&URL, text).map(trim_trailing_punctuation(text)));
    spans.extend(pattern_spans(&EMAIL, text));
    spans.extend(pattern_spans(&UUID, text));
    spans.extend(phone_spans(text));
    spans.extend(id_token_spans(text));
    merge(spans)
}

// Constant patterns, covered by the unit tests below: they cannot fail at run time.
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:https?://|www\.)[^\s<>]+").expect("constant pattern"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("constant pattern")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")
        .expect("constant pattern")
});
/// `+` and digits in groups: +E.164 as written by people ("+1 (415) 555-0123").
static INTERNATIONAL_PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+\d(?:[ .\-]?\(?\d\)?)+").expect("constant pattern"));
/// A North American number as written: "(415) 555-0123", "415.555.0123".
static FORMATTED_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\(\d{3}\)\s?|\b\d{3}[ .\-])\d{3}[ .\-]\d{4}\b").expect("constant pattern")
});
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{7,}").expect("constant pattern"));
/// Words that make a bare number an amount: "1200000 dollars" is money, not a phone.
static CURRENCY_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s?(?:dollars?|euros?|pounds?|usd|eur|gbp|chf|cents?)\b")
        .expect("constant pattern")
});

fn pattern_spans<'t>(pattern: &'t Regex, text: &'t str) -> impl Iterator<Item = Range<usize>> + 't {
    pattern.find_iter(text).map(|m| m.range())
}

/// A URL found at the end of a sentence ends before the sentence's full stop.
fn trim_trailing_punctuation(text: &str) -> impl Fn(Range<usize>) -> Range<usize> + '_ {
    move |span| {
        let kept = text[span.clone()].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"']);
        span.start..span.start + kept.len()
    }
}

fn phone_spans(text: &str) -> Vec<Range<usize>> {
    let international = pattern_spans(&INTERNATIONAL_PHONE, text).filter(|span| {
        let digits = text[span.clone()]
            .bytes()
            .filter(u8::is_ascii_digit)
            .count();
        (7..=15).contains(&digits)
    });
    let runs = pattern_spans(&DIGIT_RUN, text).filter(|span| !is_amount(text, span));
    international
        .chain(pattern_spans(&FORMATTED_PHONE, text))
        .chain(runs)
        .collect()
}

/// Whether the digit run at `span` is part of a number people say as an amount: after a
/// currency sign, before a currency word, or with a decimal part ("3.14159265").
fn is_amount(text: &str, span: &Range<usize>) -> bool {
    let (before, after) = (&text[..span.start], &text[span.end..]);
    let after_currency_sign = before.trim_end_matches(' ').ends_with(['$', '€', '£']);
    let decimal = starts_with_decimal(before.chars().rev()) || starts_with_decimal(after.chars());
    after_currency_sign || CURRENCY_AFTER.is_match(after) || decimal
}

/// Whether `chars` open with a decimal separator and a digit (".5"; read backwards for the
/// digits before a number).
fn starts_with_decimal(mut chars: impl Iterator<Item = char>) -> bool {
    matches!(chars.next(), Some('.' | ',')) && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Whitespace-separated tokens that are record ids, by their shape alone.
fn id_token_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for token in text.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += token.len();
        let trimmed = token.trim_end();
        let core = trimmed.trim_start_matches(WRAPPING);
        let lead = trimmed.len() - core.len();
        let core = core.trim_end_matches(WRAPPING);
        if is_id_token(core) {
            spans.push(start + lead..start + lead + core.len());
        }
    }
    spans
}

/// Punctuation around a token that is not part of it.
const WRAPPING: &[char] = &[
    '.', ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '"', '\'', '<', '>', '#',
];

/// Whether a token, punctuation removed, looks like an id rather than a word or a number.
fn is_id_token(token: &str) -> bool {
    if token.is_empty()
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return false;
    }
    let has_digit = token.chars().any(|c| c.is_ascii_digit());
    let has_letter = token.chars().any(|c| c.is_ascii_alphabetic());
    // `esc_7`, `cus_9f8e`: snake-case with a number is how systems name records.
    let snake_with_number = token.contains('_') && has_digit;
    // `deal-7001`, `INC-20931`: a record number with its prefix; `COVID-19` stays a word.
    let prefixed_number = token.split_once('-').is_some_and(|(prefix, number)| {
        prefix.chars().all(|c| c.is_ascii_alphabetic())
            && number.len() >= 3
            && number.chars().all(|c| c.is_ascii_digit())
    });
    let hex =
        token.len() >= 8 && has_digit && has_letter && token.chars().all(|c| c.is_ascii_hexdigit());
    let long_mixed = token.len() >= 12 && has_digit && has_letter && !token.contains('-');
    let interleaved = token
        .split(['-', '_'])
        .any(|part| part.len() >= 8 && letter_digit_changes(part) >= 2);
    snake_with_number || prefixed_number || hex || long_mixed || interleaved
}

/// How often the text switches between letters and digits: "a1b2" 3, "Q4" 1, "2026" 0.
fn letter_digit_changes(part: &str) -> usize {
    let kinds: Vec<bool> = part
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.is_ascii_digit())
        .collect();
    kinds.windows(2).filter(|pair| pair[0] != pair[1]).count()
}

/// Sorted, with overlapping or touching spans joined.
fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// Rules applied, in order, to text whose removals are marked with [`GAP`].
static TIDY_RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // "ticket id <gap>", "ref: <gap>": the word only introduced what was removed.
        (r"(?i)\b(?:ids?|uuid|ref|reference)\s*[:#=]?\s*\x01", "\x01"),
        // "Customer: <gap>." — a label left with nothing after it goes with it.
        (
            r"[A-Za-z][\w\-]*(?: [A-Za-z][\w\-]*){0,2}:[ \t]*(?:\x01[ \t,;/]*)+(?P<end>[.,;)\n]|$)",
            "$end",
        ),
        // "(<gap>)", "(<gap>, <gap>)"
        (r"\(\s*(?:\x01[\s,;/]*)+\)", ""),
        // "from <gap> or <gap>": the joins between removals go too.
        (r"\x01(?:[ \t]*(?:,|;|/|and|or)?[ \t]*\x01)+", "\x01"),
        (r"\x01", ""),
        (r"[ \t]+", " "),
        (r" +([.,;:!?)])", "$1"),
        (r"\( +", "("),
        (r"\(\)", ""),
        (r"[,;:]+ *([.!?])", "$1"),
        (r"([.!?]) *[.,;:]+", "$1"),
        (r", *,", ","),
        (r"(?m)^[ .,;:]+", ""),
        (r"(?m) +$", ""),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("constant pattern"), replacement))
    .collect()
});

/// Removes the gaps and the punctuation and labels they left stranded.
fn tidy(marked: &str) -> String {
    let mut text = marked.to_owned();
    for (pattern, replacement) in TIDY_RULES.iter() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_briefing_from_the_issue_loses_its_customer_id() {
        let said = "URGENT merge ticket changed: Checkout down. Customer: 67700e7a-ce5f-4c62-8654-356618b655c1.";
        assert_eq!(
            contains_id(said).as_deref(),
            Some("67700e7a-ce5f-4c62-8654-356618b655c1")
        );
        assert_eq!(
            speakable(said),
            "URGENT merge ticket changed: Checkout down."
        );
    }

    #[test]
    fn ids_addresses_and_numbers_are_removed_and_the_sentence_tidied() {
        let cases = [
            (
                "Call from dana@acme.example about checkout.",
                "Call from about checkout.",
            ),
            (
                "Contact: dana@acme.example. Account: Acme Retail.",
                "Account: Acme Retail.",
            ),
            (
                "Dana Customer (dana@acme.example) reports checkout down.",
                "Dana Customer reports checkout down.",
            ),
            (
                "See https://acme-support.zendesk.com/agent/tickets/4821.",
                "See.",
            ),
            ("Ring her on +1 (415) 555-0123 now.", "Ring her on now."),
            ("Her number is +15552000001.", "Her number is."),
            ("Call 415-555-0123 today.", "Call today."),
            ("Call back on 5552000001 today.", "Call back on today."),
            (
                "Ticket id 1c000000-0000-4000-8000-000000000001 is open.",
                "Ticket is open.",
            ),
            ("Escalation esc_7 ended.", "Escalation ended."),
            ("Deal deal-7001 moved.", "Deal moved."),
            (
                "Owner 7c000000000040008000000000000001 changed.",
                "Owner changed.",
            ),
            ("Commit 9f3c2a1b broke it.", "Commit broke it."),
            ("Key a1b2c3d4e5f6g7h8 leaked.", "Key leaked."),
            ("ULID 01HZX3K4M5N6P7Q8R9S0T1V2W3 seen.", "ULID seen."),
            (
                "Customer: 67700e7a-ce5f-4c62-8654-356618b655c1, account: Acme Retail.",
                "account: Acme Retail.",
            ),
            (
                "Owners: 7c000000-0000-4000-8000-000000000001, 7c000000-0000-4000-8000-000000000002.",
                "",
            ),
        ];
        for (said, expected) in cases {
            assert_eq!(speakable(said), expected, "from {said:?}");
            assert!(contains_id(said).is_some(), "{said:?}");
            assert_eq!(contains_id(&speakable(said)), None, "{said:?}");
        }
    }

    #[test]
    fn amounts_words_and_ordinary_numbers_are_kept_as_they_are() {
        for said in [
            "Deal Globex platform renewal, 120,000 dollars, now in negotiation, account Acme GmbH.",
            "An 80000 deal.",
            "$80,000 at stake.",
            "A 1.5M renewal.",
            "A $1200000 renewal, or 1200000 dollars, or 2500000 EUR.",
            "Pi is 3.14159265 roughly.",
            "Critical support ticket: Checkout down for EU customers, for Acme Retail (Dana Customer).",
            "COVID-19 follow-up for the Q4-2026 plan, ticket 4821, at 10:30 on 2026-11-20.",
            "Last activity 2026-11-20T10:00:00Z.",
            "Press 1 to connect, 2 to acknowledge, 3 to hear it again.",
            "Say connect me, or press 1.",
            "deadbeef and B-52 and 24/7 support.",
            "",
        ] {
            assert_eq!(contains_id(said), None, "{said:?}");
            assert_eq!(speakable(said), said);
        }
    }

    #[test]
    fn a_text_that_was_only_an_id_becomes_empty() {
        assert_eq!(speakable("67700e7a-ce5f-4c62-8654-356618b655c1"), "");
        assert_eq!(speakable("  dana@acme.example  "), "");
    }

    #[test]
    fn multi_line_texts_keep_their_lines() {
        let said = "Briefing: Checkout down.\nCustomer: 67700e7a-ce5f-4c62-8654-356618b655c1\nAccount: Acme";
        assert_eq!(speakable(said), "Briefing: Checkout down.\n\nAccount: Acme");
    }
}
