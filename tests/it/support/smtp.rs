//! A real SMTP server for the e-mail tests: aiosmtpd (PyPI), run as a child process by
//! `smtp_server.py` beside this file, on a free loopback port; plain, STARTTLS or implicit
//! TLS, with or without a login, with scripted replies.
//!
//! The Python that has aiosmtpd is, in order: `KLAXON_TEST_SMTP_PYTHON` (`.ci/run` sets it to
//! the venv it installs), `target/smtp-venv/bin/python`, `python3`. TLS certificates (a CA
//! and a server certificate for `127.0.0.1` signed by it) are made at start with the
//! `openssl` command. Without either, [`SmtpServer::start`] prints a notice and returns `None`
//! so the test can skip, except under CI (`CI` set), where the test fails instead: CI must not
//! pass by skipping.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use tempfile::TempDir;

/// How the server secures connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Implicit,
}

/// A running aiosmtpd; stopped on drop.
pub struct SmtpServer {
    pub port: u16,
    /// The CA that signed the server's certificate, for the sender's `ca_file` (TLS only).
    pub ca_file: Option<PathBuf>,
    dir: TempDir,
    child: Child,
}

/// One message the server accepted, as Python's e-mail parser read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Whether the connection it came over was TLS.
    pub tls: bool,
    pub authenticated_as: Option<String>,
    /// The client's address and port: one connection, one peer.
    pub peer: String,
    /// The message as it came over the wire.
    pub raw: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    /// The leaf parts, decoded (transfer encoding and charset undone).
    pub parts: Vec<ReceivedPart>,
    /// What the parser found wrong with the message's structure.
    pub defects: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedPart {
    pub content_type: String,
    pub charset: Option<String>,
    pub content: String,
}

impl Received {
    /// The values of every header called `name`.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one header called `name`.
    pub fn header(&self, name: &str) -> &str {
        match self.headers(name).as_slice() {
            [value] => value,
            other => panic!("{name}: expected one header, found {other:?}"),
        }
    }

    /// The one part of `content_type`.
    pub fn part(&self, content_type: &str) -> &ReceivedPart {
        let found: Vec<&ReceivedPart> = self
            .parts
            .iter()
            .filter(|p| p.content_type == content_type)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one {content_type} part in {:?}",
            self.parts
        );
        found[0]
    }
}

impl SmtpServer {
    /// Starts a server, with a login when `login` is given; `None` (after a notice) when
    /// Python with aiosmtpd or openssl is missing and `CI` is not set.
    pub fn start(tls: SmtpTls, login: Option<(&str, &str)>) -> Option<SmtpServer> {
        let python = python()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(python);
        command.arg(script()).arg(dir.path());
        let ca_file = match tls {
            SmtpTls::None => {
                command.args(["--tls", "none"]);
                None
            }
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let (ca, cert, key) = certificates(dir.path())?;
                let mode = if tls == SmtpTls::StartTls {
                    "starttls"
                } else {
                    "implicit"
                };
                command.args(["--tls", mode]).arg("--cert").arg(cert);
                command.arg("--key").arg(key);
                Some(ca)
            }
        };
        if let Some((user, password)) = login {
            command.args(["--user", user, "--password", password]);
        }
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let mut child = command
            // The server stops when this pipe closes: when the test ends, even by a panic.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("the SMTP server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("the SMTP server did not start: {line:?}\n{log}");
        };
        Some(SmtpServer {
            port,
            ca_file,
            dir,
            child,
        })
    }

    /// The next message is answered with `reply` (`451 4.3.0 Try again later`) instead of
    /// being accepted; several calls queue several replies.
    pub fn answer_next(&self, reply: &str) {
        use std::io::Write;
        let _ = std::fs::remove_file(self.dir.path().join("replies.off"));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("replies"))
            .expect("replies file");
        writeln!(file, "{reply}").expect("write the reply");
    }

    /// Drops the replies queued by [`SmtpServer::answer_next`] and not used yet, so every
    /// later message is accepted, even by a handler that was taking a reply at this moment
    /// (the server checks a flag file before the queue, and would otherwise write the rest of
    /// the queue it had read back).
    pub fn forget_queued_replies(&self) {
        std::fs::write(self.dir.path().join("replies.off"), "").expect("write the flag");
        match std::fs::remove_file(self.dir.path().join("replies")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove the queued replies: {e}"),
        }
    }

    /// The messages accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(self.dir.path().join("mail")) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(_) => Vec::new(),
        };
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("read a received message");
                serde_json::from_str(&text).expect("a received message's record")
            })
            .collect()
    }

    /// Waits until `count` messages were accepted (an SMTP reply comes after the handler
    /// stored the message, so this is normally at once) and returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        super::eventually(Duration::from_secs(10), || async {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_server.py")
}

/// The first Python that can import aiosmtpd, looked for once per test run.
fn python() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/smtp-venv/bin/python");
        let candidates = std::env::var_os("KLAXON_TEST_SMTP_PYTHON")
            .map(PathBuf::from)
            .into_iter()
            .chain([venv, PathBuf::from("python3")]);
        for candidate in candidates {
            let works = Command::new(&candidate)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if works {
                return Some(candidate);
            }
        }
        None
    });
    if found.is_none() {
        skip(
            "no Python with aiosmtpd: set KLAXON_TEST_SMTP_PYTHON, or `python3 -m venv target/smtp-venv && target/smtp-venv/bin/pip install aiosmtpd`, or run .ci/run",
        );
    }
    found.as_deref()
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it, in `dir`:
/// (CA, certificate, key). P-256 keys: quick to make.
fn certificates(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let path = |name: &str| dir.join(name);
    std::fs::write(
        path("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write the certificate extensions");
    let new_key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = Command::new("openssl");
    ca.args(["req", "-x509", "-days", "2", "-subj", "/CN=Klaxon test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .args(new_key)
        .arg("-keyout")
        .arg(path("ca.key"))
        .arg("-out")
        .arg(path("ca.pem"));
    let mut request = Command::new("openssl");
    request
        .args(["req", "-subj", "/CN=127.0.0.1"])
        .args(new_key)
        .arg("-keyout")
        .arg(path("server.key"))
        .arg("-out")
        .arg(path("server.csr"));
    let mut sign = Command::new("openssl");
    sign.args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(path("server.csr"))
        .arg("-CA")
        .arg(path("ca.pem"))
        .arg("-CAkey")
        .arg(path("ca.key"))
        .arg("-extfile")
        .arg(path("server.ext"))
        .arg("-out")
        .arg(path("server.pem"));
    for mut step in [ca, request, sign] {
        let output = match step.output() {
            Ok(output) => output,
            Err(e) => {
                skip(&format!(
                    "the openssl command is missing ({e}): apt-get install openssl"
                ));
                return None;
            }
        };
        assert!(
            output.status.success(),
            "{step:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Some((path("ca.pem"), path("server.pem"), path("server.key")))
}

fn skip(notice: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI is set, so: {notice}");
    eprintln!("NOTICE: skipped: {notice}");
}
