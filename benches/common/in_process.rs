//! Klaxon in this process against a sandbox carrier of its own: what the phone benchmarks
//! share. Settings come from TOML and environment variables as a user would give them; the
//! database is a fresh SQLite file.

use std::collections::HashMap;
use std::time::Duration;

use klaxon::Settings;
use klaxon::sandbox::carrier::{CarrierConfig, SandboxCarrier, SigningSeed, Timing};
use klaxon::settings::Raw;
use klaxon::store::DatabaseUrl;

/// A running Klaxon, its URL and its carrier.
pub struct InProcess {
    pub url: String,
    pub http: reqwest::Client,
    pub carrier: SandboxCarrier,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// Starts a carrier at `timing` and Klaxon with `toml`, the carrier's Telnyx variables and
    /// `env`; returns once `/health` answers.
    pub async fn start(toml: &str, timing: Timing, env: &[(&'static str, String)]) -> InProcess {
        let seed = SigningSeed::generate();
        let key = seed.public_key_base64();
        let carrier = SandboxCarrier::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            CarrierConfig {
                signing_seed: seed,
                timing,
                ..CarrierConfig::default()
            },
        )
        .expect("carrier");
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let raw = Raw::from_toml(std::path::Path::new("bench.toml"), toml).unwrap();
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("TELNYX_API_KEY", "KEY_BENCH".to_owned()),
            ("TELNYX_API_BASE", carrier.base_url()),
            ("TELNYX_CONNECTION_ID", "1494404757140276705".to_owned()),
            ("TELNYX_PHONE_NUMBER", "+15550100000".to_owned()),
            ("TELNYX_PUBLIC_KEY", key),
            ("PUBLIC_URL", format!("http://{addr}")),
        ]);
        vars.extend(env.iter().cloned());
        let mut settings =
            Settings::resolve(raw, |var| vars.get(var).cloned()).expect("bench settings");
        settings.database = DatabaseUrl::Sqlite(dir.path().join("klaxon.db"));
        settings.listen = addr;
        tokio::spawn(klaxon::serve(settings, listener, std::future::pending()));
        let klaxon = InProcess {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            carrier,
            _dir: dir,
        };
        for _ in 0..100 {
            let health = klaxon
                .http
                .get(format!("{}/health", klaxon.url))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return klaxon;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("Klaxon did not come up at {}", klaxon.url);
    }
}
