//! Which database the integration tests use: a temporary SQLite file, or, when
//! `KLAXON_TEST_POSTGRES_URL` is set, a fresh PostgreSQL schema per test on that server.
//!
//! A schema per test (not a database) keeps tests parallel and cheap: the server's
//! `search_path` option points each Klaxon at its own schema, derived from the test's
//! temporary directory, so a restart on the same directory finds the same data.

use std::io::Write;
use std::path::Path;
use std::sync::Once;

use klaxon::store::{DatabaseUrl, PostgresUrl};

/// The variable that turns the PostgreSQL runs on.
pub const ENV: &str = "KLAXON_TEST_POSTGRES_URL";

/// The server to test against, if any. Says once per test binary that PostgreSQL is
/// skipped when it is not set (written past the test harness's output capture).
pub fn server() -> Option<PostgresUrl> {
    static NOTICE: Once = Once::new();
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url.parse().unwrap_or_else(|e| panic!("{ENV}: {e}"))),
        _ => {
            NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\nnote: PostgreSQL tests skipped (the suite ran on SQLite only). To run it on \
                     PostgreSQL too: {ENV}=postgres://root@127.0.0.1:5432/postgres cargo test --test it\n"
                );
            });
            None
        }
    }
}

pub fn enabled() -> bool {
    server().is_some()
}

/// The database for the test whose files live next to `db_file`: that SQLite file, or a
/// PostgreSQL schema named after its directory (created if missing).
pub fn database_for(db_file: &Path) -> DatabaseUrl {
    let Some(server) = server() else {
        return DatabaseUrl::Sqlite(db_file.to_owned());
    };
    let schema = schema_name(db_file);
    drop_old_schemas_once(&server);
    run_blocking({
        let (server, schema) = (server.clone(), schema.clone());
        async move {
            let client = connect(&server).await;
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .expect("create the test schema");
        }
    });
    DatabaseUrl::Postgres(server.with_options(&format!("-csearch_path={schema}")))
}

/// Drops the earlier runs' schemas, once per run, before this run's first schema is made:
/// every test that makes a `klaxon_test_…` schema calls it first, so the clean-up never
/// drops a schema of this run.
pub fn drop_old_schemas_once(server: &PostgresUrl) {
    static CLEAN: Once = Once::new();
    CLEAN.call_once(|| {
        let server = server.clone();
        run_blocking(async move { drop_old_schemas(&server).await });
    });
}

/// Drops the schemas left by earlier runs of the suite (they are kept after a run so a
/// failure can be inspected).
async fn drop_old_schemas(server: &PostgresUrl) {
    let client = connect(server).await;
    let rows = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'klaxon\\_test\\_%'",
            &[],
        )
        .await
        .expect("list old test schemas");
    for row in rows {
        let schema: String = row.get(0);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}

/// `klaxon_test_<hex of the directory and file name>`: unique per temporary directory.
fn schema_name(db_file: &Path) -> String {
    let dir = db_file
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = db_file
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("klaxon_test_{}", hex::encode(format!("{dir}{file}")))
}

/// Rows in `table` of the test database.
pub async fn count_rows(database: &DatabaseUrl, table: &str) -> i64 {
    match database {
        DatabaseUrl::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).expect("open test database");
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count rows")
        }
        DatabaseUrl::Postgres(url) => {
            let client = connect(url).await;
            client
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .await
                .expect("count rows")
                .get(0)
        }
    }
}

/// A plain connection for test checks (no TLS: the test server is local).
pub async fn connect(url: &PostgresUrl) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

/// Runs `work` to completion on a runtime of its own, from sync or async code alike.
fn run_blocking(work: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for test set-up")
            .block_on(work)
    })
    .join()
    .expect("test database set-up did not panic");
}
