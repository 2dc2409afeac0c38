//! Settings: an optional TOML file overlaid by environment variables, validated once.
//!
//! Two types, as in ripgrep's `LowArgs`/`HiArgs`: [`Raw`] is what the user wrote (strings and
//! numbers, straight from serde and the environment), and [`Settings`] is what the program
//! runs on (parsed addresses, typed store location, decoded secrets). The conversion happens
//! exactly once, in [`Settings::load`]; nothing past `main` reads an environment variable, and
//! tests build a [`Settings`] value directly.
//!
//! This module only assembles: reading the file and the environment and reporting problems is
//! [`crate::config`]'s machinery, and each part's raw settings and validation belong to the
//! module that runs it. Every problem is reported with where it came from (file or variable),
//! the key, and what is wrong, and all problems are reported at once so `klaxon check` is
//! useful in one run. [`Settings::risks`] lists what is valid but risky.

pub mod allowed_hosts;
pub mod http;
mod raw;
mod resolve;
mod risks;

pub use allowed_hosts::{AllowedHost, HostName};
pub use http::HttpSettings;
pub use raw::Raw;
pub use resolve::{ApiToken, IngestSettings, LogFormat, Settings};
pub use risks::{Risk, RiskKind, Severity};
