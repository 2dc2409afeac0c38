//! What the program runs on: typed, validated settings, built once from [`Raw`] and the
//! environment (environment wins over the file, the file wins over the defaults).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::allowed_hosts::{self, AllowedHost};
use super::http::{self, HttpSettings};
use super::raw::Raw;
use crate::config::Reader;
use crate::config::{ConfigErrors, Origin};
use crate::delivery::{self, DeliverySettings};
use crate::llm::{self, settings::AiSettings};
use crate::merge::settings::{self as merge, MergeSettings};
use crate::pipeline::settings as pipelines;
use crate::pipeline::spec::PipelineSpec;
use crate::signing::Secret;
use crate::store::{self, DatabaseUrl, StoreSettings};
use crate::voice::{self, settings::VoiceSettings};

/// Default listen address, as in the reference apps.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const DEFAULT_PORT: u16 = 5000;
/// The default store: `sqlite://klaxon.db`, in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "klaxon.db";
/// Bodies above this are refused with 413 before they are parsed.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    /// When set, `/v1/*` needs `Authorization: Bearer <token>`; when not, loopback only.
    pub api_token: Option<ApiToken>,
    /// Without an API token, the `Host` names served besides loopback names, the listen
    /// address and `PUBLIC_URL`'s host: the DNS rebinding defence ([`crate::http::allowed_host`]).
    pub allowed_hosts: Vec<AllowedHost>,
    pub log_format: LogFormat,
    pub http: HttpSettings,
    pub ingest: IngestSettings,
    pub store: StoreSettings,
    pub ai: AiSettings,
    pub delivery: DeliverySettings,
    /// The declared pipelines, or the built-in ones when none are declared.
    pub pipelines: Vec<PipelineSpec>,
    /// True when `pipelines` are the built-in ones.
    pub builtin_pipelines: bool,
    pub voice: VoiceSettings,
    pub merge: MergeSettings,
    /// `[[alert_sources]]`; their built-in pipelines are in `pipelines`.
    pub alert_sources: Vec<crate::ingress::alerts::AlertSource>,
    /// `[[schedules]]`: on-call rotations and the people they name.
    pub oncall: crate::oncall::OncallSettings,
}

/// How events get in.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Secrets for `X-Klaxon-Signature`; several during a rotation. Empty disables signed ingest.
    pub signing_secrets: Vec<Secret>,
    pub signature_tolerance_secs: i64,
    pub max_body_bytes: usize,
}

/// The API token. Its `Debug` never shows the value, so settings can be logged safely.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    pub fn new(token: impl Into<String>) -> Self {
        ApiToken(token.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected \"text\" or \"json\", got {other:?}")),
        }
    }
}

impl Settings {
    /// Loads settings: the file at `path` (if any), overlaid by the variables `env` returns.
    /// `env` is injected so tests need not touch the process environment.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigErrors> {
        let raw = match path {
            Some(path) => Raw::from_file(path)?,
            None => Raw::default(),
        };
        Settings::resolve(raw, env)
    }

    /// Settings for a given database with everything else at its default; what tests start from.
    pub fn for_database(database: DatabaseUrl) -> Settings {
        let mut settings =
            Settings::resolve(Raw::default(), |_| None).expect("the built-in defaults are valid");
        settings.database = database;
        settings
    }

    /// Validates `raw` overlaid by `env`, collecting every problem.
    pub fn resolve(
        raw: Raw,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigErrors> {
        let mut r = Reader::new(
            raw.path
                .clone()
                .map(Origin::File)
                .unwrap_or(Origin::Default),
            &env,
        );

        let host = r
            .string("HOST", raw.host)
            .and_then(|(s, o)| r.check("host", o, parse_host(&s)))
            .unwrap_or(DEFAULT_HOST);
        let port = r
            .parsed("PORT", "port", raw.port)
            .map_or(DEFAULT_PORT, |(v, _)| v);
        let database = match r.string("DATABASE_URL", raw.database_url) {
            Some((s, o)) => r.check("database_url", o, s.parse()),
            None => Some(DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_SQLITE_FILE))),
        };
        let api_token = r
            .string("KLAXON_API_TOKEN", raw.api_token)
            .and_then(|(s, o)| r.check("api_token", o, parse_token(&s)));
        let allowed_hosts = match r.var("KLAXON_ALLOWED_HOSTS") {
            Some(list) => {
                let parsed = allowed_hosts::parse_list(list.split(','));
                r.check("allowed_hosts", Origin::Env("KLAXON_ALLOWED_HOSTS"), parsed)
            }
            None => raw.allowed_hosts.and_then(|list| {
                let parsed = allowed_hosts::parse_list(list.iter().map(String::as_str));
                let origin = r.file().clone();
                r.check("allowed_hosts", origin, parsed)
            }),
        }
        .unwrap_or_default();
        let log_format = r
            .string("KLAXON_LOG_FORMAT", raw.log_format)
            .and_then(|(s, o)| r.check("log_format", o, s.parse()))
            .unwrap_or_default();

        let signing_secrets = match r.var("KLAXON_INGEST_SECRETS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => raw.ingest.signing_secrets.unwrap_or_default(),
        };
        let signing_secrets = signing_secrets.into_iter().map(Secret::new).collect();
        let signature_tolerance_secs = r
            .ranged(
                "KLAXON_SIGNATURE_TOLERANCE_SECS",
                "ingest.signature_tolerance_secs",
                raw.ingest.signature_tolerance_secs,
                1,
                86_400,
            )
            .unwrap_or(DEFAULT_SIGNATURE_TOLERANCE_SECS);
        let max_body_bytes = r
            .ranged(
                "KLAXON_MAX_BODY_BYTES",
                "ingest.max_body_bytes",
                raw.ingest.max_body_bytes,
                1024,
                64 << 20,
            )
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let store = store::settings::resolve(raw.store, &mut r);
        let http = http::resolve(raw.http, &mut r);
        let ai = llm::settings::resolve(raw.ai, &mut r);
        let delivery = delivery::settings::resolve(raw.delivery, &mut r);

        let oncall = crate::oncall::settings::resolve(
            raw.schedules,
            raw.people.iter().map(|(k, p)| p.member(k)).collect(),
            &mut r,
        );
        let voice = voice::settings::resolve(
            voice::settings::RawVoiceInput {
                voice: raw.voice,
                people: raw.people,
                policies: raw.policies,
                schedules: oncall.names().map(str::to_owned).collect(),
            },
            &mut r,
        );
        let merge = merge::resolve(raw.merge, &mut r);
        let builtin_pipelines = raw.pipelines.is_empty();
        let mut pipelines = if builtin_pipelines {
            pipelines::builtin(&voice, &merge.rules)
        } else {
            pipelines::resolve(raw.pipelines, &voice, &mut r)
        };
        let (alert_sources, alert_pipelines) = crate::ingress::alerts::settings::resolve(
            raw.alert_sources,
            &voice,
            &pipelines,
            &mut r,
        );
        pipelines.extend(alert_pipelines);

        let errors = r.into_errors();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Settings {
            listen: SocketAddr::new(host, port),
            database: database.unwrap_or_else(|| DatabaseUrl::Sqlite(DEFAULT_SQLITE_FILE.into())),
            api_token,
            allowed_hosts,
            log_format,
            http,
            ingest: IngestSettings {
                signing_secrets,
                signature_tolerance_secs,
                max_body_bytes,
            },
            store,
            ai,
            delivery,
            pipelines,
            builtin_pipelines,
            voice,
            merge,
            alert_sources,
            oncall,
        })
    }
}

fn parse_host(host: &str) -> Result<IpAddr, String> {
    if host == "localhost" {
        return Ok(DEFAULT_HOST);
    }
    host.parse()
        .map_err(|_| format!("expected an IP address such as 127.0.0.1 or 0.0.0.0, got {host:?}"))
}

fn parse_token(token: &str) -> Result<ApiToken, String> {
    if token.len() < 16 {
        return Err("the API token must be at least 16 characters long".into());
    }
    Ok(ApiToken::new(token))
}
