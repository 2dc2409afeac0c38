//! What Klaxon expects of the PostgreSQL server, checked against the test server itself.
//!
//! TLS, against the server's own certificate (Debian's cluster serves `ssl-cert-snakeoil`,
//! issued to `localhost`): `require` encrypts, `disable` does not, and `verify-full` accepts
//! only a certificate signed by what it trusts and issued to the host it connects to; a
//! server without TLS skips these tests with a notice. And the settings an operator must hear
//! about at start-up (`autovacuum = off`, as on the test machines). PostgreSQL only
//! (`KLAXON_TEST_POSTGRES_URL`).

use std::path::PathBuf;

use klaxon::Settings;
use klaxon::store::{DatabaseUrl, PostgresUrl, TlsMode};
use klaxon::store::{Store, StoreError};

use crate::support::binary::KlaxonProcess;
use crate::support::postgres;

/// The test server and its schema for this test, if the server speaks TLS.
async fn tls_server(dir: &tempfile::TempDir) -> Option<PostgresUrl> {
    let DatabaseUrl::Postgres(url) = postgres::database_for(&dir.path().join("klaxon.db")) else {
        return None;
    };
    let ssl: String = postgres::connect(&url)
        .await
        .query_one("SHOW ssl", &[])
        .await
        .expect("read the server's ssl setting")
        .get(0);
    if ssl != "on" {
        eprintln!("note: the test PostgreSQL has ssl = off; TLS tests skipped");
        return None;
    }
    Some(url)
}

/// `url` with `mode`, an application name to find its connections by, and, when given, a
/// different host and trusted root.
fn with_tls(
    url: &PostgresUrl,
    mode: TlsMode,
    name: &str,
    host: Option<&str>,
    root: Option<PathBuf>,
) -> PostgresUrl {
    let mut connect = format!("{}&application_name={name}", url.connection_string());
    if let Some(host) = host {
        let (scheme, rest) = connect.split_once("://").expect("a URL");
        let (user, rest) = rest.split_once('@').map_or(("", rest), |(u, r)| (u, r));
        let port_and_path = &rest[rest.find([':', '/']).unwrap_or(rest.len())..];
        let at = if user.is_empty() { "" } else { "@" };
        connect = format!("{scheme}://{user}{at}{host}{port_and_path}");
    }
    let mut url: PostgresUrl = connect.parse().expect("a valid test URL");
    url.tls = mode;
    url.root_cert = root;
    url
}

async fn open(url: &PostgresUrl) -> Result<Store, StoreError> {
    let database = DatabaseUrl::Postgres(url.clone());
    Store::open(&database, &Settings::for_database(database.clone()).store).await
}

/// Whether each of the server's connections named `name` is encrypted.
async fn encrypted(checker: &PostgresUrl, name: &str) -> Vec<bool> {
    postgres::connect(checker)
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .expect("read pg_stat_ssl")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The server's certificate file, when the tests can read it (the same machine).
async fn server_certificate(url: &PostgresUrl) -> Option<PathBuf> {
    let file: String = postgres::connect(url)
        .await
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .ok()?
        .get(0);
    let path = PathBuf::from(file);
    std::fs::read(&path).is_ok().then_some(path)
}

#[tokio::test]
async fn require_encrypts_every_connection_and_disable_none() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = tls_server(&dir).await else {
        return;
    };
    for (mode, encrypts) in [(TlsMode::Require, true), (TlsMode::Disable, false)] {
        let name = format!("klaxon_tls_{mode:?}_{}", std::process::id()).to_lowercase();
        let store = open(&with_tls(&server, mode, &name, None, None))
            .await
            .unwrap_or_else(|e| panic!("{mode:?} connects to a server with TLS: {e}"));
        let seen = encrypted(&server, &name).await;
        assert!(!seen.is_empty(), "the store holds connections");
        assert!(
            seen.iter().all(|&ssl| ssl == encrypts),
            "{mode:?}: encrypted connections {seen:?}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_it_does_not_trust() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = tls_server(&dir).await else {
        return;
    };
    // A test server's certificate is self-signed: no Mozilla root vouches for it.
    let url = with_tls(
        &server,
        TlsMode::VerifyFull,
        "klaxon_tls_untrusted",
        None,
        None,
    );
    let refused = open(&url)
        .await
        .err()
        .expect("an untrusted certificate is refused");
    let text = refused.to_string();
    assert!(
        text.contains("certificate") && text.contains("TLS"),
        "says why: {text}"
    );
}

#[tokio::test]
async fn verify_full_accepts_the_trusted_certificate_only_for_its_own_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = tls_server(&dir).await else {
        return;
    };
    let Some(certificate) = server_certificate(&server).await else {
        eprintln!("note: the server's certificate file is not readable here; test skipped");
        return;
    };
    // Debian's snakeoil certificate is issued to `localhost`.
    let name = format!("klaxon_tls_verified_{}", std::process::id());
    let trusted = with_tls(
        &server,
        TlsMode::VerifyFull,
        &name,
        Some("localhost"),
        Some(certificate.clone()),
    );
    let store = open(&trusted)
        .await
        .expect("the server's own certificate, trusted and named, is accepted");
    let seen = encrypted(&server, &name).await;
    assert!(!seen.is_empty() && seen.iter().all(|&ssl| ssl), "{seen:?}");
    store.close().await;

    let by_address = with_tls(
        &server,
        TlsMode::VerifyFull,
        "klaxon_tls_wrong_name",
        Some("127.0.0.1"),
        Some(certificate),
    );
    let refused = open(&by_address)
        .await
        .err()
        .expect("a certificate for another name is refused");
    assert!(
        refused.to_string().contains("not valid for name"),
        "says why: {refused}"
    );
}

#[test]
fn a_server_setting_that_breaks_a_promise_is_logged_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("klaxon.db");
    let DatabaseUrl::Postgres(url) = postgres::database_for(&db) else {
        return;
    };
    let autovacuum: String = tokio::runtime::Runtime::new().unwrap().block_on(async {
        postgres::connect(&url)
            .await
            .query_one("SHOW autovacuum", &[])
            .await
            .expect("read autovacuum")
            .get(0)
    });
    let server = KlaxonProcess::start(&db, &[]);
    let warned = server
        .startup_logs
        .iter()
        .any(|line| line.contains("WARN") && line.contains("autovacuum = off"));
    assert_eq!(
        warned,
        autovacuum == "off",
        "autovacuum is {autovacuum}; start-up said: {:#?}",
        server.startup_logs
    );
    assert!(
        !server
            .startup_logs
            .iter()
            .any(|line| line.contains("NOTICE")),
        "the server's notices stay out of the log: {:#?}",
        server.startup_logs
    );
}
