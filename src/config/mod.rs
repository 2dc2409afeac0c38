//! The settings machinery: reading the optional TOML file and the environment, where each
//! value came from ([`Origin`]), and reporting every problem at once ([`ConfigErrors`]).
//!
//! `config` knows no module's settings. Each module owns its raw settings and their
//! validation, next to the code that runs them, and reads them through a [`Reader`] (the
//! environment first, then the file), reporting into the one collector, [`Problems`]; shared
//! value parsers (durations, ranges, switches) are in [`values`]. The aggregate
//! [`crate::settings::Settings`] calls each module's validation.

pub mod dotenv;
mod error;
pub mod file;
mod problems;
mod reader;
pub mod values;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use problems::Problems;
pub use reader::{Env, Reader};

/// The environment variable that names the settings file when `--config` is not given.
pub const CONFIG_ENV: &str = "KLAXON_CONFIG";
