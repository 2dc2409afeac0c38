//! The one collector of settings problems. Each module validates its own raw settings and
//! reports here: a key (relative to whoever nests it) and a message, and where the value came
//! from when the module knows (an environment variable); the rest came from the table being
//! read, whose origin the caller adds when it turns problems into [`ConfigError`]s.

use super::error::{ConfigError, Origin};

/// One problem: where (when known), which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    /// `None`: the table being read, whose origin the caller knows.
    origin: Option<Origin>,
    key: String,
    message: String,
}

/// Every problem found, in the order found, so `klaxon check` lists them all at once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn new() -> Problems {
        Problems::default()
    }

    /// A problem with a value of the table being read.
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            origin: None,
            key: key.into(),
            message: message.into(),
        });
    }

    /// A problem with a value that came from `origin` (an environment variable, say).
    pub fn push_from(
        &mut self,
        origin: Origin,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            origin: Some(origin),
            key: key.into(),
            message: message.into(),
        });
    }

    /// Adds `other`'s problems as they are.
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    /// Adds `inner`'s problems below `prefix`: `key` becomes `prefix.key` (or `prefix` for a
    /// problem with the whole table, whose key is empty).
    pub fn nest(&mut self, prefix: &str, inner: Problems) {
        self.0.extend(inner.0.into_iter().map(|p| Problem {
            key: if p.key.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", p.key)
            },
            ..p
        }));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// (key, message) pairs, without origins: what a module's own tests look at.
    pub fn into_inner(self) -> Vec<(String, String)> {
        self.0.into_iter().map(|p| (p.key, p.message)).collect()
    }

    /// The problems as errors; those without their own origin came from `table`.
    pub fn into_errors(self, table: &Origin) -> Vec<ConfigError> {
        self.0
            .into_iter()
            .map(|p| ConfigError::Invalid {
                origin: p.origin.unwrap_or_else(|| table.clone()),
                key: p.key,
                message: p.message,
            })
            .collect()
    }
}

impl From<Vec<(String, String)>> for Problems {
    fn from(problems: Vec<(String, String)>) -> Problems {
        let mut collected = Problems::new();
        for (key, message) in problems {
            collected.push(key, message);
        }
        collected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_problems_keep_their_own_origin_and_take_the_tables_otherwise() {
        let mut kind = Problems::new();
        kind.push("", "wrong shape");
        kind.push("url", "not a URL");
        kind.push_from(Origin::Env("TOKEN"), "token", "empty");
        let mut all = Problems::new();
        all.nest("destinations[0].webhook", kind);
        let errors: Vec<String> = all
            .into_errors(&Origin::Default)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "built-in default: key `destinations[0].webhook`: wrong shape",
                "built-in default: key `destinations[0].webhook.url`: not a URL",
                "environment variable TOKEN: key `destinations[0].webhook.token`: empty",
            ]
        );
    }
}
