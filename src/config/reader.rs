//! Reads one setting at a time: the environment first, then the file, recording every problem
//! with where the value came from. Each module's validation takes a [`Reader`]; nothing past
//! `main` reads the process environment itself.

use std::fmt;
use std::str::FromStr;

use super::error::{ConfigError, Origin};
use super::problems::Problems;

/// Reads an environment variable (settings name variables; tests pass their own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The environment, the file's origin, and the problems found so far.
pub struct Reader<'a> {
    file: Origin,
    env: Env<'a>,
    problems: Problems,
}

impl<'a> Reader<'a> {
    /// Reads values of the file at `file` (or [`Origin::Default`] without one) and `env`.
    pub fn new(file: Origin, env: Env<'a>) -> Reader<'a> {
        Reader {
            file,
            env,
            problems: Problems::new(),
        }
    }

    /// Where the file's values come from.
    pub fn file(&self) -> &Origin {
        &self.file
    }

    /// The environment, for validation that reads variables a table names.
    pub fn env(&self) -> Env<'a> {
        self.env
    }

    /// An environment variable, with empty values treated as unset (as shells often export them).
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    /// The variable `var` if set, else the file's value.
    pub fn string(&self, var: &'static str, file: Option<String>) -> Option<(String, Origin)> {
        match self.var(var) {
            Some(v) => Some((v, Origin::Env(var))),
            None => file.map(|v| (v, self.file.clone())),
        }
    }

    /// A typed value: from the environment it is parsed here, from the file serde did it.
    pub fn parsed<T: FromStr>(
        &mut self,
        var: &'static str,
        key: &'static str,
        file: Option<T>,
    ) -> Option<(T, Origin)>
    where
        T::Err: fmt::Display,
    {
        match self.var(var) {
            Some(v) => match v.trim().parse::<T>() {
                Ok(t) => Some((t, Origin::Env(var))),
                Err(e) => {
                    self.fail(Origin::Env(var), key, format!("{e}: {v:?}"));
                    None
                }
            },
            None => file.map(|v| (v, self.file.clone())),
        }
    }

    /// [`Reader::parsed`], then checked to lie within `min..=max`; `None` (with the problem
    /// recorded) when it does not parse or is out of range, or when it is not set.
    pub fn ranged<T>(
        &mut self,
        var: &'static str,
        key: &'static str,
        file: Option<T>,
        min: T,
        max: T,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let (value, origin) = self.parsed(var, key, file)?;
        self.check(key, origin, super::values::in_range(value, min, max))
    }

    /// The value of `result`, or `None` with its message recorded under `key`.
    pub fn check<T>(&mut self, key: &str, origin: Origin, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(origin, key, message);
                None
            }
        }
    }

    /// Records a problem with the value of `key` that came from `origin`.
    pub fn fail(&mut self, origin: Origin, key: impl Into<String>, message: String) {
        self.problems.push_from(origin, key, message);
    }

    /// Records the problems a module found in a table of the file, below `prefix`.
    pub fn report(&mut self, prefix: &str, problems: Problems) {
        self.problems.nest(prefix, problems);
    }

    /// How many problems so far; a validation compares it before and after a part.
    pub fn problem_count(&self) -> usize {
        self.problems.len()
    }

    /// Every problem found, each with its origin.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.problems.into_errors(&self.file)
    }
}
