//! What the user wrote: the TOML file's shape, and the environment variables that overlay it.
//!
//! Unknown keys are an error (`deny_unknown_fields`): a misspelt `prot = 5000` silently doing
//! nothing is worse than a refusal to start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::http::RawHttp;
use crate::config::ConfigError;
use crate::config::file;
use crate::delivery::settings::RawDelivery;
use crate::llm::settings::RawAi;
use crate::merge::settings::RawMerge;
use crate::pipeline::settings::RawPipeline;
use crate::store::settings::RawStore;
use crate::voice::settings::{RawPerson, RawPolicy, RawVoice};

/// The settings file, as parsed. Every field is optional; defaults live in `settings.rs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The file this came from, for error messages; `None` when there is no file.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database_url: Option<String>,
    pub api_token: Option<String>,
    /// Extra host names served without an API token (see `allowed_hosts.rs`).
    pub allowed_hosts: Option<Vec<String>>,
    pub log_format: Option<String>,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub ai: RawAi,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub pipelines: Vec<RawPipeline>,
    #[serde(default)]
    pub voice: RawVoice,
    #[serde(default)]
    pub people: BTreeMap<String, RawPerson>,
    #[serde(default)]
    pub policies: Vec<RawPolicy>,
    #[serde(default)]
    pub merge: RawMerge,
    #[serde(default)]
    pub alert_sources: Vec<crate::ingress::alerts::settings::RawAlertSource>,
    #[serde(default)]
    pub schedules: Vec<crate::oncall::RawSchedule>,
}

/// `[ingest]`: how events get in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    pub signing_secrets: Option<Vec<String>>,
    pub signature_tolerance_secs: Option<i64>,
    pub max_body_bytes: Option<usize>,
}

impl Raw {
    /// Reads and parses a settings file.
    pub fn from_file(path: &Path) -> Result<Raw, ConfigError> {
        let mut raw: Raw = file::read_toml(path)?;
        raw.path = Some(path.to_owned());
        Ok(raw)
    }

    /// Parses settings text; `path` is only used to label errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Raw, ConfigError> {
        let mut raw: Raw = file::parse_toml(path, text)?;
        raw.path = Some(path.to_owned());
        Ok(raw)
    }
}
