//! Test helpers: start Klaxon in-process on port 0, or the real binary as a child process,
//! on SQLite or (with `KLAXON_TEST_POSTGRES_URL`) PostgreSQL.

pub mod binary;
pub mod browser;
pub mod chat_spec;
pub mod merge_spec;
pub mod model;
pub mod openapi;
pub mod postgres;
pub mod raw_http;
pub mod receiver;
pub mod smtp;
pub mod telnyx_spec;
pub mod voice_rig;

use std::net::SocketAddr;

use klaxon::Settings;
use klaxon::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A Klaxon server running in this process on its own temporary database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub db_path: std::path::PathBuf,
    /// The SQLite file at `db_path`, or this test's PostgreSQL schema.
    pub database: DatabaseUrl,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), klaxon::server::ServeError>>,
    dir: TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts with default settings changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer::start_on("127.0.0.1:0", configure).await
    }

    pub async fn start_on(bind: &str, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, bind, configure).await
    }

    /// Starts with the pipelines and other settings of a TOML file, `env` standing in for
    /// the environment (secrets, model URL).
    pub async fn start_with_toml(toml: &str, env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, "127.0.0.1:0", |s| apply_toml(s, toml, env)).await
    }

    /// Starts on the database kept in `dir` by [`TestServer::stop_keeping_files`]: a restart.
    pub async fn start_in(
        dir: TempDir,
        bind: &str,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        TestServer::start_knowing_address(dir, bind, |s, _| configure(s)).await
    }

    /// Like [`TestServer::start_in`], but `configure` also learns the address the server
    /// will listen on (for settings that point back at it, such as `PUBLIC_URL`).
    pub async fn start_knowing_address(
        dir: TempDir,
        bind: &str,
        configure: impl FnOnce(&mut Settings, SocketAddr),
    ) -> TestServer {
        TestServer::launch(dir, bind, configure, 200).await
    }

    /// Starts in `dir` and waits for a first `/health` answer of `health_status` (503 for a
    /// server started degraded on purpose).
    pub async fn start_expecting_health(
        dir: TempDir,
        configure: impl FnOnce(&mut Settings),
        health_status: u16,
    ) -> TestServer {
        TestServer::launch(dir, "127.0.0.1:0", |s, _| configure(s), health_status).await
    }

    async fn launch(
        dir: TempDir,
        bind: &str,
        configure: impl FnOnce(&mut Settings, SocketAddr),
        health_status: u16,
    ) -> TestServer {
        let db_path = dir.path().join("klaxon.db");
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .expect("bind test port");
        let addr = listener.local_addr().expect("bound address");
        let database = postgres::database_for(&db_path);
        let mut settings = Settings::for_database(database.clone());
        // Short leases, so a restarted test server takes its jobs back quickly.
        settings.store.lease = std::time::Duration::from_secs(3);
        configure(&mut settings, addr);
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(klaxon::serve(settings, listener, async {
            let _ = stop.await;
        }));
        let server = TestServer {
            addr,
            http: reqwest::Client::new(),
            db_path,
            database,
            shutdown,
            task,
            dir,
        };
        // The listener is bound already, so this request waits in its backlog until the
        // store is open and the server accepts: one request, no polling.
        let (status, health) = server.get("/health").await;
        assert_eq!(
            status, health_status,
            "test server's first health answer: {health}"
        );
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a JSON body to `/v1/events`; returns status and JSON answer.
    pub async fn post_event(&self, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url("/v1/events")).json(body))
            .await
    }

    /// The newest escalation, once it has ended.
    pub async fn ended_escalation(&self, within: std::time::Duration) -> Value {
        eventually(within, || async {
            let (_, page) = self.get("/v1/escalations").await;
            let first = page["data"].get(0)?.clone();
            (first["status"] != "active").then_some(first)
        })
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("answer with status {status} is not JSON: {text:?}"));
        (status, body)
    }

    /// How many events are stored, read straight from the database.
    pub async fn count_events(&self) -> i64 {
        postgres::count_rows(&self.database, "events").await
    }

    /// Graceful shutdown. Returns the temporary directory so the caller can still read
    /// the database file; it is deleted when the returned value is dropped.
    pub async fn stop_keeping_files(self) -> TempDir {
        let _ = self.shutdown.send(());
        self.task
            .await
            .expect("serve task did not panic")
            .expect("serve returned Ok after a graceful stop");
        self.dir
    }
}

/// Replaces `settings` (all but the database and listen address) with those of `toml`.
pub fn apply_toml(settings: &mut Settings, toml: &str, env: &[(&str, &str)]) {
    let raw = klaxon::settings::Raw::from_toml(std::path::Path::new("test.toml"), toml)
        .unwrap_or_else(|e| panic!("test settings parse: {e}"));
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let resolved = Settings::resolve(raw, |var| {
        env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("test settings are valid: {e}"));
    let (database, listen) = (settings.database.clone(), settings.listen);
    *settings = resolved;
    settings.database = database;
    settings.listen = listen;
}

/// Polls `check` every 20 ms until it returns `Some`, for state that settles in the
/// background (a delivery's final state); panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached within {timeout:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asserts a JSON error answer with the given status and code.
pub fn assert_error(answer: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(answer.0.as_u16(), status, "status of {}", answer.1);
    assert_eq!(
        answer.1["error"]["code"], code,
        "error code in {}",
        answer.1
    );
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message in {}",
        answer.1
    );
}
