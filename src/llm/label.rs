//! Checking a model's answer against the declared labels.
//!
//! Guided decoding should make the answer one label exactly, but models without it answer
//! `"High"`, `'high'`, `high.` or `**high**`. Those are forgiven; a sentence is not.

use super::LlmError;

/// Quote characters a model wraps an answer in, beyond ASCII punctuation.
const QUOTES: &[char] = &['‘', '’', '“', '”', '«', '»'];

/// The declared label that `reply` names, if any.
///
/// Both sides are compared after trimming whitespace, quotes and punctuation from the ends and
/// lowercasing, so `" 'HIGH'. "` names `high`. The label is returned as declared.
pub fn match_label<'a>(reply: &str, labels: &'a [String]) -> Option<&'a String> {
    let reply = normalise(reply);
    if reply.is_empty() {
        return None;
    }
    labels.iter().find(|label| normalise(label) == reply)
}

/// Refuses label lists no answer could be matched against unambiguously.
pub(super) fn check_labels(labels: &[String]) -> Result<(), LlmError> {
    let invalid = |reason| Err(LlmError::InvalidLabels { reason });
    if labels.is_empty() {
        return invalid("no labels to choose from");
    }
    let normalised: Vec<String> = labels.iter().map(|l| normalise(l)).collect();
    if normalised.iter().any(String::is_empty) {
        return invalid("a label is blank or only punctuation");
    }
    for (i, label) in normalised.iter().enumerate() {
        if normalised[..i].contains(label) {
            return invalid("two labels differ only in case, quotes or punctuation");
        }
    }
    Ok(())
}

fn normalise(text: &str) -> String {
    text.trim_matches(|c: char| {
        c.is_whitespace() || c.is_ascii_punctuation() || QUOTES.contains(&c)
    })
    .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn forgives_case_quotes_and_punctuation_only() {
        let declared = labels(&["low", "High", "needs-review"]);
        let cases: &[(&str, Option<&str>)] = &[
            ("high", Some("High")),
            ("  HIGH\n", Some("High")),
            ("\"high\"", Some("High")),
            ("'high'.", Some("High")),
            ("“high”", Some("High")),
            ("**high**", Some("High")),
            ("Needs-Review!", Some("needs-review")),
            ("low", Some("low")),
            ("highest", None),
            ("high priority", None),
            ("The answer is high", None),
            ("", None),
            ("...", None),
        ];
        for (reply, want) in cases {
            let got = match_label(reply, &declared).map(String::as_str);
            assert_eq!(got, *want, "reply {reply:?}");
        }
    }

    #[test]
    fn refuses_label_lists_that_cannot_be_matched() {
        assert!(check_labels(&labels(&["low", "high"])).is_ok());
        for bad in [&[][..], &["low", " "], &["low", "?"], &["high", "HIGH"]] {
            assert!(
                matches!(
                    check_labels(&labels(bad)),
                    Err(LlmError::InvalidLabels { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
