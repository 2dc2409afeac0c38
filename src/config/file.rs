//! The settings file: read and parsed into whatever shape the caller declares, with errors
//! that name the file (and, from the TOML parser, the line, column and key).

use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::ConfigError;

/// Reads and parses the TOML file at `path`.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    parse_toml(path, &text)
}

/// Parses TOML text; `path` only labels errors.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().replace('\n', "\n  "),
    })
}
