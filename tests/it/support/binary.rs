//! The real `klaxon` binary as a child process, for what only a process can show:
//! surviving SIGKILL, exiting cleanly on SIGTERM, the command line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_klaxon");

/// A `klaxon` command with a clean environment, so the developer's own settings never leak
/// into a test.
pub fn command() -> Command {
    let mut command = Command::new(BINARY);
    command.env_clear().env("RUST_LOG", "info");
    command
}

/// `DATABASE_URL` for the test whose database file would be `db`: that SQLite file, or
/// the test's PostgreSQL schema when `KLAXON_TEST_POSTGRES_URL` is set.
pub fn database_url(db: &Path) -> String {
    match super::postgres::database_for(db) {
        klaxon::store::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        klaxon::store::DatabaseUrl::Postgres(url) => url.connection_string().to_owned(),
    }
}

pub struct KlaxonProcess {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, read from the server's "listening" log line.
    pub url: String,
    /// The log lines before that one (start-up: migrations, warnings about the database).
    pub startup_logs: Vec<String>,
    /// Every later log line, for tests that look for a message.
    pub logs: mpsc::Receiver<String>,
}

impl KlaxonProcess {
    /// Starts `klaxon serve` on a free port with the given database file.
    pub fn start(db: &Path, extra_env: &[(&str, &str)]) -> KlaxonProcess {
        let mut child = command()
            .args(["serve", "--log-format", "json"])
            .env("PORT", "0")
            .env("DATABASE_URL", database_url(db))
            .env("KLAXON_LEASE_SECS", "3")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn klaxon");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (lines, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut startup_logs = Vec::new();
        let url = loop {
            let line = logs
                .recv_timeout(Duration::from_secs(10))
                .expect("klaxon logs that it is listening within 10 s");
            let entry: serde_json::Value = serde_json::from_str(&line).expect("json log line");
            if entry["fields"]["message"] == "klaxon is listening" {
                break entry["fields"]["url"]
                    .as_str()
                    .expect("url field")
                    .to_owned();
            }
            startup_logs.push(line);
        };
        KlaxonProcess {
            child,
            url,
            startup_logs,
            logs,
        }
    }

    pub fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL klaxon");
        self.child.wait().expect("reap klaxon");
    }

    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM");
        self.child.wait().expect("reap klaxon")
    }
}

impl Drop for KlaxonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
