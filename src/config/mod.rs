//! Settings: an optional TOML file overlaid by environment variables, validated once.
//!
//! Two types, as in ripgrep's `LowArgs`/`HiArgs`: [`Raw`] is what the user wrote (strings and
//! numbers, straight from serde and the environment), and [`Settings`] is what the program
//! runs on (parsed addresses, typed store location, decoded secrets). The conversion happens
//! exactly once, in [`Settings::load`]; nothing past `main` reads an environment variable, and
//! tests build a [`Settings`] value directly.
//!
//! Every problem is reported with where it came from (file or variable), the key, and what is
//! wrong, and all problems are reported at once so `klaxon check` is useful in one run.

pub mod allowed_hosts;
pub mod dotenv;
mod error;
pub mod file;
pub mod http;
pub mod merge;
pub mod pipelines;
mod problems;
mod raw;
mod reader;
mod risks;
mod settings;
pub mod values;
pub mod voice;

pub use crate::delivery::DeliverySettings;
pub use crate::store::{DatabaseUrl, PostgresUrl, StoreSettings, TlsMode};
pub use allowed_hosts::{AllowedHost, HostName};
pub use error::{ConfigError, ConfigErrors, Origin};
pub use http::HttpSettings;
pub use merge::{MergeApi, MergeRules, MergeSettings};
pub use problems::Problems;
pub use raw::Raw;
pub use reader::{Env, Reader};
pub use risks::{Risk, RiskKind, Severity};
pub use settings::{AiSettings, ApiToken, IngestSettings, LogFormat, Settings};

/// The environment variable that names the settings file when `--config` is not given.
pub const CONFIG_ENV: &str = "KLAXON_CONFIG";
