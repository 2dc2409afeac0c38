//! The built-in classifier: picks a label from keywords and the customer's tier, without a
//! model.
//!
//! It runs when no model is configured, and as the fallback when the model times out, fails or
//! answers with something that is not a label. It is deterministic: the same input always gives
//! the same label, and the decision's `reason` names the words and rules that decided it.
//! It always answers with one of the declared labels.
//!
//! # Inputs
//!
//! The classify step hands over its input fields by name (for example `ticket.subject`,
//! `ticket.description`, `customer`). Text is read from every string in them, nested objects
//! and arrays included; numbers are read too. Two kinds of field are special, recognised by the
//! last word(s) of their name (`customer.tier`, `customer_tier`, `customerTier` and a `tier`
//! key inside a `customer` object all count):
//!
//! - **priority fields**: a name containing `priority`, `severity`, `urgency`, `prio` or `sev`;
//! - **tier fields**: a name containing `tier` or `plan`.
//!
//! # Severity scales
//!
//! When every label is a severity name, the labels are treated as a scale. Recognised names,
//! by level (case, spaces and punctuation are ignored, so `P1`, `sev-1` and `High priority`
//! work):
//!
//! | Level | Names |
//! |---|---|
//! | low | `low`, `lowest`, `minor`, `trivial`, `info`, `p4`, `p5`, `sev4`, `sev5` |
//! | normal | `normal`, `medium`, `moderate`, `p3`, `sev3` |
//! | high | `high`, `major`, `important`, `p2`, `sev2` |
//! | critical | `critical`, `urgent`, `highest`, `blocker`, `emergency`, `p0`, `p1`, `sev0`, `sev1` |
//!
//! The level is decided by the first rule that applies:
//!
//! 1. **Explicit priority.** A priority field whose value is a severity name (`"URGENT"`,
//!    `"high"`, `"P1"`, `"sev-2"`) decides alone: text and tier are ignored. A value equal to a
//!    label picks that label directly. With several such fields the highest wins. A priority
//!    field with any other value is read as ordinary text.
//! 2. **No text** at all: the lowest label.
//! 3. **Text score**, from the terms below (whole words, case-insensitive; a term right after
//!    `not`, `no`, `never`, `without`, `isn't`… does not count):
//!    - any *critical* term → critical;
//!    - a *problem* term together with a *wide-impact* term → critical ("errors in
//!      production", "all customers affected");
//!    - a *problem* term → high, or normal if a *low-urgency* term is also present ("how do I
//!      fix this error?");
//!    - only *low-urgency* terms → low;
//!    - none of the above → normal.
//!
//!    Then the **customer tier** adjusts it by one level: a tier field containing `enterprise`,
//!    `premium` or `vip` raises it, `free` lowers it (never below low or above critical).
//!
//! The terms, in short (the full lists are [`CRITICAL_TERMS`], [`WIDE_IMPACT_TERMS`],
//! [`PROBLEM_TERMS`] and [`LOW_URGENCY_TERMS`]):
//!
//! - critical: outage, "is down", data loss, breach, hacked, security incident, "cannot log
//!   in", "locked out", "nobody can", urgent, ASAP, emergency, lost orders, "payment failing",
//!   "charged twice", 500/502/503/504 next to `error`/`http`/`status` (or in a numeric field
//!   named like `status` or `code`), "internal server error", "bad gateway", "service
//!   unavailable";
//! - wide impact: production, prod, all customers, all users, every customer, everyone, entire;
//! - problem: error, failing, failed, broken, bug, crash, slow, timeout, "not working",
//!   exception, degraded, stuck, affected, 404;
//! - low urgency: question, "how do I", "is it possible", feature request, suggestion,
//!   thanks, documentation, "not urgent", "no rush", typo, FYI.
//!
//! Wide-impact words alone ("How do I deploy to production?") raise nothing: they only make
//! a problem critical.
//!
//! Finally the level is mapped onto the labels by their names, not their position, so both
//! `["low","high","critical"]` and `["p1","p2","p3","p4"]` work: the chosen label is the
//! highest one **at or below** the level (for `["low","high","critical"]`, normal becomes
//! `low`), or the lowest label if all are above it. Rounding down is deliberate: the fallback
//! should not page people on a guess. When two labels share a level, the one declared later
//! wins (labels are declared lowest to highest).
//!
//! # Other label sets
//!
//! When not every label is a severity name (`["billing","technical","account"]`), the first
//! label, in declared order, whose name appears as a word or phrase in the text is chosen
//! (`bug_report` matches "bug report"); if none appears, the first label.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde_json::Value;

pub use vocabulary::{CRITICAL_TERMS, LOW_URGENCY_TERMS, PROBLEM_TERMS, WIDE_IMPACT_TERMS};
use vocabulary::{
    LOWERING_TIERS, NEGATIONS, RAISING_TIERS, SERVER_ERROR_CODES, SEVERITY_FILLER, SEVERITY_NAMES,
    STATUS_CONTEXT,
};

mod vocabulary;

#[cfg(test)]
mod tests;

/// The label chosen and why, recorded on the event as the decision's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinDecision {
    /// One of the labels passed to [`classify`], spelled as declared.
    pub label: String,
    /// One sentence naming the words and rules that decided, for people reading the event.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// There is nothing to choose from; pipeline validation should have refused this.
    #[error("no labels to choose from")]
    NoLabels,
}

/// Chooses one of `labels` for the named input `fields`; see the module docs for the rules.
pub fn classify(
    labels: &[String],
    fields: &[(&str, &Value)],
) -> Result<BuiltinDecision, ClassifyError> {
    if labels.is_empty() {
        return Err(ClassifyError::NoLabels);
    }
    let mut leaves = Vec::new();
    for (name, value) in fields {
        collect_leaves(name, value, &mut leaves);
    }
    let scale: Option<Vec<Level>> = labels.iter().map(|l| severity_of(l)).collect();
    Ok(match scale {
        Some(levels) => classify_severity(labels, &levels, &leaves),
        None => classify_by_name(labels, &leaves),
    })
}

/// Klaxon's four-step urgency scale, onto which both label names and text are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Low,
    Normal,
    High,
    Critical,
}

impl Level {
    fn raised(self) -> Level {
        match self {
            Level::Low => Level::Normal,
            Level::Normal => Level::High,
            Level::High | Level::Critical => Level::Critical,
        }
    }

    fn lowered(self) -> Level {
        match self {
            Level::Low | Level::Normal => Level::Low,
            Level::High => Level::Normal,
            Level::Critical => Level::High,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Low => "low",
            Level::Normal => "normal",
            Level::High => "high",
            Level::Critical => "critical",
        })
    }
}

/// How many matched terms a reason lists before eliding the rest.
const MAX_TERMS_IN_REASON: usize = 4;

/// What a field is for, decided by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldRole {
    Priority,
    Tier,
    Text,
}

/// One string or number from the input, with the name it was found under.
struct Leaf {
    /// The innermost key (or the field name), as given.
    key: String,
    role: FieldRole,
    /// Set for numbers, whose key may say they are an HTTP status.
    number: Option<String>,
    text: String,
    tokens: Vec<String>,
}

fn collect_leaves(key: &str, value: &Value, out: &mut Vec<Leaf>) {
    match value {
        Value::String(text) => out.push(Leaf::new(key, text.clone(), None)),
        Value::Number(n) => out.push(Leaf::new(key, n.to_string(), Some(n.to_string()))),
        Value::Array(items) => {
            for item in items {
                collect_leaves(key, item, out);
            }
        }
        Value::Object(map) => {
            for (inner, item) in map {
                collect_leaves(inner, item, out);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

impl Leaf {
    fn new(key: &str, text: String, number: Option<String>) -> Leaf {
        Leaf {
            key: key.to_owned(),
            role: field_role(key),
            number,
            tokens: words(&text),
            text,
        }
    }
}

fn field_role(key: &str) -> FieldRole {
    let words = key_words(key);
    let has = |names: &[&str]| words.iter().any(|w| names.contains(&w.as_str()));
    if has(&["priority", "severity", "urgency", "prio", "sev"]) {
        FieldRole::Priority
    } else if has(&["tier", "plan"]) {
        FieldRole::Tier
    } else {
        FieldRole::Text
    }
}

/// Lowercase words of a field name, split at punctuation and camelCase humps.
fn key_words(key: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(key.len() + 4);
    let mut previous_lower = false;
    for c in key.chars() {
        if c.is_uppercase() && previous_lower {
            spaced.push(' ');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        spaced.push(c);
    }
    words(&spaced)
}

/// Lowercase words of free text. Apostrophes are dropped first so "can't" is `cant` and
/// "isn't" is `isnt`; everything else that is not a letter or digit separates words.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\'', '’'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The level a label or priority value names, if it is a severity name.
fn severity_of(name: &str) -> Option<Level> {
    let compact: String = words(name).concat();
    if let Some(level) = lookup_severity(&compact) {
        return Some(level);
    }
    // "P1 - Critical", "High priority", "SEV 2 (major)": every word is a severity name or
    // filler, "sev"/"p" glued to a following number, and all names agree on one level.
    let tokens = words(name);
    let mut found = None;
    let mut i = 0;
    while i < tokens.len() {
        let glued = match tokens.get(i + 1) {
            Some(next) if matches!(tokens[i].as_str(), "p" | "sev") => {
                Some(format!("{}{next}", tokens[i]))
            }
            _ => None,
        };
        let (level, width) = match glued.as_deref().and_then(lookup_severity) {
            Some(level) => (Some(level), 2),
            None => (lookup_severity(&tokens[i]), 1),
        };
        match level {
            Some(level) if found.is_none_or(|f| f == level) => found = Some(level),
            Some(_) => return None,
            None if SEVERITY_FILLER.contains(&tokens[i].as_str()) => {}
            None => return None,
        }
        i += width;
    }
    found
}

fn lookup_severity(compact: &str) -> Option<Level> {
    SEVERITY_NAMES
        .iter()
        .find(|(name, _)| *name == compact)
        .map(|&(_, level)| level)
}

fn classify_severity(labels: &[String], levels: &[Level], leaves: &[Leaf]) -> BuiltinDecision {
    if let Some(decision) = explicit_priority(labels, levels, leaves) {
        return decision;
    }
    // A priority field that named no severity ("ASAP please") is read as ordinary text.
    let text: Vec<&Leaf> = leaves
        .iter()
        .filter(|l| l.role != FieldRole::Tier)
        .collect();
    if text.iter().all(|l| l.tokens.is_empty()) {
        let index = lowest(levels);
        return decide(
            labels,
            index,
            "no text to classify; lowest label".to_owned(),
        );
    }
    let (scored, mut reason) = score_text(&text);
    let mut level = scored;
    if let Some((tier, raise)) = tier(leaves) {
        level = if raise {
            scored.raised()
        } else {
            scored.lowered()
        };
        let verb = if raise { "raises" } else { "lowers" };
        reason.push_str(&format!("; customer tier {tier:?} {verb} it"));
        if level == scored {
            let bound = if raise { "highest" } else { "lowest" };
            reason.push_str(&format!(" (already {bound})"));
        } else {
            reason.push_str(&format!(" to {level}"));
        }
    }
    let index = at_or_below(levels, level);
    if levels[index] != level {
        reason.push_str(&format!("; nearest label at or below {level}"));
    }
    decide(labels, index, reason)
}

/// Rule 1: a priority field naming a severity decides alone.
fn explicit_priority(
    labels: &[String],
    levels: &[Level],
    leaves: &[Leaf],
) -> Option<BuiltinDecision> {
    let (leaf, level) = leaves
        .iter()
        .filter(|l| l.role == FieldRole::Priority && l.number.is_none())
        .filter_map(|l| severity_of(&l.text).map(|level| (l, level)))
        // The highest wins; among equals, the first field given.
        .fold(
            None,
            |best: Option<(&Leaf, Level)>, (l, level)| match best {
                Some((_, b)) if b >= level => best,
                _ => Some((l, level)),
            },
        )?;
    let reason = format!(
        "explicit priority field {:?} is {:?} ({level})",
        leaf.key, leaf.text
    );
    let same_name = words(&leaf.text).concat();
    let index = match labels.iter().position(|l| words(l).concat() == same_name) {
        Some(index) => index,
        None => at_or_below(levels, level),
    };
    Some(decide(labels, index, reason))
}

/// Rule 3 without the tier: the level the terms give, and the sentence explaining it.
fn score_text(text: &[&Leaf]) -> (Level, String) {
    let [mut critical, wide, problem, low] = find_terms(text);
    critical.extend(server_error_codes(text));
    if !critical.is_empty() {
        (
            Level::Critical,
            format!("critical terms {} → critical", list(&critical)),
        )
    } else if !problem.is_empty() && !wide.is_empty() {
        (
            Level::Critical,
            format!(
                "problem terms {} with wide-impact terms {} → critical",
                list(&problem),
                list(&wide)
            ),
        )
    } else if !problem.is_empty() && !low.is_empty() {
        (
            Level::Normal,
            format!(
                "problem terms {} softened by low-urgency terms {} → normal",
                list(&problem),
                list(&low)
            ),
        )
    } else if !problem.is_empty() {
        (
            Level::High,
            format!("problem terms {} → high", list(&problem)),
        )
    } else if !low.is_empty() {
        (
            Level::Low,
            format!("low-urgency terms {} → low", list(&low)),
        )
    } else {
        (
            Level::Normal,
            "no urgency terms in the text → normal".to_owned(),
        )
    }
}

/// The four term lists, in the order [`find_terms`] returns their hits.
const TERM_LISTS: [&[&str]; 4] = [
    CRITICAL_TERMS,
    WIDE_IMPACT_TERMS,
    PROBLEM_TERMS,
    LOW_URGENCY_TERMS,
];

/// One vocabulary term, filed under its first word.
struct Term {
    list: usize,
    index: usize,
    /// The words after the first.
    rest: Vec<&'static str>,
}

/// Every term by its first word, built once: finding the terms of a ticket is then one hash
/// probe per word of the ticket, whatever the size of the vocabulary.
static TERMS_BY_FIRST_WORD: LazyLock<HashMap<&'static str, Vec<Term>>> = LazyLock::new(|| {
    let mut terms: HashMap<&'static str, Vec<Term>> = HashMap::new();
    for (list, words) in TERM_LISTS.iter().enumerate() {
        for (index, term) in words.iter().enumerate() {
            let mut words = term.split(' ');
            if let Some(first) = words.next() {
                terms.entry(first).or_default().push(Term {
                    list,
                    index,
                    rest: words.collect(),
                });
            }
        }
    }
    terms
});

/// The terms of each list present in the text and not negated, each in list order.
fn find_terms(text: &[&Leaf]) -> [Vec<String>; 4] {
    let mut hits: [Vec<usize>; 4] = Default::default();
    for leaf in text {
        for (i, token) in leaf.tokens.iter().enumerate() {
            let Some(terms) = TERMS_BY_FIRST_WORD.get(token.as_str()) else {
                continue;
            };
            if i > 0 && NEGATIONS.contains(&leaf.tokens[i - 1].as_str()) {
                continue;
            }
            for term in terms {
                let mut next = leaf.tokens.iter().skip(i + 1);
                if term
                    .rest
                    .iter()
                    .all(|w| next.next().is_some_and(|t| t == w))
                {
                    hits[term.list].push(term.index);
                }
            }
        }
    }
    let mut found: [Vec<String>; 4] = Default::default();
    for (list, indexes) in hits.iter_mut().enumerate() {
        indexes.sort_unstable();
        indexes.dedup();
        found[list] = indexes
            .iter()
            .map(|&i| TERM_LISTS[list][i].to_owned())
            .collect();
    }
    found
}

fn contains_phrase(tokens: &[String], phrase: &[&str], honour_negation: bool) -> bool {
    if phrase.is_empty() || tokens.len() < phrase.len() {
        return false;
    }
    tokens.windows(phrase.len()).enumerate().any(|(i, window)| {
        window.iter().zip(phrase).all(|(t, p)| t == p)
            && !(honour_negation && i > 0 && NEGATIONS.contains(&tokens[i - 1].as_str()))
    })
}

/// 5xx codes in a status context: next to a status word in text, or a number in a field
/// named like a status or code.
fn server_error_codes(text: &[&Leaf]) -> Vec<String> {
    let mut found = Vec::new();
    for leaf in text {
        if let Some(number) = &leaf.number {
            let key = key_words(&leaf.key);
            if SERVER_ERROR_CODES.contains(&number.as_str())
                && key.iter().any(|w| w == "status" || w == "code")
            {
                found.push(format!("{} {number}", leaf.key));
            }
            continue;
        }
        for (i, token) in leaf.tokens.iter().enumerate() {
            let code = token.strip_suffix('s').unwrap_or(token);
            if !SERVER_ERROR_CODES.contains(&code) {
                continue;
            }
            let plural = code.len() < token.len();
            let beside = |j: Option<usize>| {
                j.and_then(|j| leaf.tokens.get(j))
                    .is_some_and(|w| STATUS_CONTEXT.contains(&w.as_str()))
            };
            if plural || beside(i.checked_sub(1)) || beside(Some(i + 1)) {
                found.push(token.clone());
            }
        }
    }
    found.dedup();
    found
}

/// The first tier field naming a raising or lowering tier: (its value, raises?).
fn tier(leaves: &[Leaf]) -> Option<(&str, bool)> {
    leaves
        .iter()
        .filter(|l| l.role == FieldRole::Tier)
        .find_map(|l| {
            let has = |names: &[&str]| l.tokens.iter().any(|t| names.contains(&t.as_str()));
            if has(RAISING_TIERS) {
                Some((l.text.as_str(), true))
            } else if has(LOWERING_TIERS) {
                Some((l.text.as_str(), false))
            } else {
                None
            }
        })
}

/// The highest label at or below `level` (the later one among equals), else the lowest label.
fn at_or_below(levels: &[Level], level: Level) -> usize {
    let mut best: Option<usize> = None;
    for (i, &l) in levels.iter().enumerate() {
        if l <= level && best.is_none_or(|b| levels[b] <= l) {
            best = Some(i);
        }
    }
    best.unwrap_or_else(|| lowest(levels))
}

/// The lowest label (the earlier one among equals).
fn lowest(levels: &[Level]) -> usize {
    let mut best = 0;
    for (i, &l) in levels.iter().enumerate() {
        if l < levels[best] {
            best = i;
        }
    }
    best
}

/// For label sets that are not a severity scale: the first label named in the text.
fn classify_by_name(labels: &[String], leaves: &[Leaf]) -> BuiltinDecision {
    for (index, label) in labels.iter().enumerate() {
        let name = words(label);
        let phrase: Vec<&str> = name.iter().map(String::as_str).collect();
        if let Some(leaf) = leaves
            .iter()
            .find(|leaf| contains_phrase(&leaf.tokens, &phrase, false))
        {
            let reason = format!("label name {label:?} appears in field {:?}", leaf.key);
            return decide(labels, index, reason);
        }
    }
    decide(
        labels,
        0,
        "no label name appears in the text; first label".to_owned(),
    )
}

fn decide(labels: &[String], index: usize, reason: String) -> BuiltinDecision {
    let label = labels[index].clone();
    BuiltinDecision {
        reason: format!("{reason}; chose {label:?}"),
        label,
    }
}

/// `"a", "b", "c", …` for a reason sentence.
fn list(terms: &[String]) -> String {
    let mut shown: Vec<String> = terms
        .iter()
        .take(MAX_TERMS_IN_REASON)
        .map(|t| format!("{t:?}"))
        .collect();
    if terms.len() > MAX_TERMS_IN_REASON {
        shown.push("…".to_owned());
    }
    shown.join(", ")
}
