//! The e-mail destination: an event's [`Message`](super::Message) as a multipart
//! (plain text + HTML) e-mail, sent through an SMTP server of the user's.
//!
//! - settings: `email = { host, port, tls, username, password_env, from, to, timeout_secs,
//!   ca_file, subject_prefix }` ([`RawEmail`] → [`EmailSettings`] by [`settings`]); the
//!   password only ever comes from the environment variable named by `password_env`;
//! - the body: [`render`] (subject, text and HTML as JSON, fixed when the event is routed so
//!   every retry sends the same e-mail);
//! - the attempt: [`EmailSender::send`], over a pool of SMTP connections per destination;
//! - the answer: a 2xx reply is delivered, a 4xx reply or no reply at all (refused, timed
//!   out, TLS failure) is retried, a 5xx reply (a refused recipient, a rejected password)
//!   is dead. Each send carries `Message-ID: <msg_…@klaxon>` from the delivery id, the same
//!   on every retry, so a receiver can recognise a repeat.
//! - rate limit: none of our own; a busy server says `421`/`451` and the retry schedule
//!   backs off.

mod connection;
mod render;
mod send;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde::Deserialize;

pub use render::{EmailBody, render};
pub use send::EmailSender;

/// How long one attempt (connecting, TLS, the login and the whole SMTP conversation) may
/// take unless a destination sets `timeout_secs`. Longer than a webhook's: some servers
/// pause on purpose before greeting a client they do not know.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `timeout_secs` accepted: past it a stuck server holds a worker too long.
pub const MAX_TIMEOUT_SECS: u64 = 120;
/// At most this many addresses in `to`: an alert goes to a team, not a mailing list.
pub const MAX_RECIPIENTS: usize = 50;

/// `email = { host = "smtp.example.com", username = "alerts@example.com",
/// password_env = "SMTP_PASSWORD", from = "Klaxon <alerts@example.com>", to = ["oncall@example.com"] }`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// The SMTP server's name or IP address.
    pub host: String,
    /// Defaults by `tls`: 587 for STARTTLS, 465 for implicit TLS, 25 for none.
    pub port: Option<u16>,
    /// `"starttls"` (required, not opportunistic), `"implicit"` (TLS from the first byte) or
    /// `"none"`. Defaults to `"implicit"` on port 465 and `"starttls"` everywhere else;
    /// `"none"` is never a default.
    pub tls: Option<String>,
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// The recipients, each `Name <address>` or a bare address.
    #[serde(default)]
    pub to: Vec<String>,
    pub timeout_secs: Option<u64>,
    /// A PEM file of extra CA certificates to trust besides the public roots: for a relay
    /// whose certificate an internal CA signed.
    pub ca_file: Option<PathBuf>,
    /// Put before every subject, such as `"[klaxon] "`.
    pub subject_prefix: Option<String>,
}

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP, upgraded with `STARTTLS` before anything is sent; a server that does not
    /// offer it is refused (no silent fallback to plain text).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No encryption: only for a relay on the same host or a trusted network.
    None,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
            TlsMode::None => "none",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        }
    }
}

crate::redacted::redacted_string! {
    /// The SMTP password, read from the environment variable `password_env` names.
    pub struct SmtpPassword;
}

/// An e-mail destination, validated. Its `Debug` shows the user name but never the password.
#[derive(Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// For a whole attempt: connecting, TLS, the login, the SMTP conversation.
    pub timeout: Duration,
    pub subject_prefix: String,
    pub(crate) login: Option<(String, SmtpPassword)>,
    /// `tls` with its TLS setup (server name, trusted roots), built once here so a bad
    /// `ca_file` is a settings problem, not a failed delivery.
    pub(crate) security: Security,
}

/// How a connection is secured, ready to use.
#[derive(Clone)]
pub(crate) enum Security {
    None,
    /// Required: a server that does not offer `STARTTLS` (or a man in the middle who hides
    /// it) gets nothing in clear. lettre upgrades the connection.
    StartTls(TlsParameters),
    /// TLS from the first byte, by tokio-rustls: lettre's own implicit TLS opens the socket
    /// itself, and so leaves Nagle's algorithm on (see [`connection`]).
    Implicit {
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    },
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .field(
                "to",
                &self.to.iter().map(ToString::to_string).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("subject_prefix", &self.subject_prefix)
            .field("username", &self.login.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl EmailSettings {
    /// Where it sends, for `/v1/destinations` and `klaxon check`: the server and the
    /// number of recipients, never the user name or password.
    pub fn summary(&self) -> String {
        let recipients = match self.to.len() {
            1 => "1 recipient".to_owned(),
            n => format!("{n} recipients"),
        };
        format!(
            "smtp {}:{} ({}), {recipients}",
            self.host,
            self.port,
            self.tls.as_str()
        )
    }

    /// The user name, when the server wants a login.
    pub fn username(&self) -> Option<&str> {
        self.login.as_ref().map(|(user, _)| user.as_str())
    }
}

/// Validates the settings; every problem is reported as (key below `email`, message).
pub fn settings(
    raw: RawEmail,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EmailSettings, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut fail = |key: &str, message: String| problems.push((key.to_owned(), message));

    let host = raw.host.trim().to_owned();
    if host.is_empty() {
        fail("host", "the SMTP server's name is missing".into());
    } else if host.contains(['/', ' ', '@'])
        || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err())
    {
        fail(
            "host",
            format!(
                "{:?} is not a host name: give the name or IP address alone, with the port in `port`",
                raw.host
            ),
        );
    }

    let port_is_465 = raw.port == Some(465);
    let tls = match raw.tls.as_deref() {
        None if port_is_465 => Some(TlsMode::Implicit),
        None => Some(TlsMode::StartTls),
        Some("starttls") => Some(TlsMode::StartTls),
        Some("implicit") => Some(TlsMode::Implicit),
        Some("none") => Some(TlsMode::None),
        Some(other) => {
            fail(
                "tls",
                format!("{other:?} is not one of \"starttls\", \"implicit\" or \"none\""),
            );
            None
        }
    };
    let port = match raw.port {
        Some(0) => {
            fail("port", "0 is not a port".into());
            0
        }
        Some(port) => port,
        None => tls.unwrap_or(TlsMode::StartTls).default_port(),
    };

    let login = match (&raw.username, &raw.password_env) {
        (None, None) => None,
        (Some(user), Some(var)) => {
            if user.trim().is_empty() {
                fail("username", "the user name is empty".into());
            }
            match env(var).filter(|v| !v.is_empty()) {
                Some(password) => Some((user.clone(), SmtpPassword::new(password))),
                None => {
                    fail(
                        "password_env",
                        format!("the environment variable {var} is not set"),
                    );
                    None
                }
            }
        }
        (Some(_), None) => {
            fail(
                "password_env",
                "a username needs a password: name the environment variable that holds it".into(),
            );
            None
        }
        (None, Some(_)) => {
            fail(
                "username",
                "password_env is set, so the user name is needed too".into(),
            );
            None
        }
    };
    if tls == Some(TlsMode::None) && raw.password_env.is_some() {
        fail(
            "password_env",
            "tls = \"none\" would send the password in clear text: use \"starttls\" or \"implicit\""
                .into(),
        );
    }

    let from = match raw.from.parse::<Mailbox>() {
        Ok(mailbox) => Some(mailbox),
        Err(_) => {
            fail("from", not_an_address(&raw.from));
            None
        }
    };
    if raw.to.is_empty() {
        fail("to", "no recipients: list at least one address".into());
    } else if raw.to.len() > MAX_RECIPIENTS {
        fail(
            "to",
            format!(
                "{} recipients; at most {MAX_RECIPIENTS} (send to a list address instead)",
                raw.to.len()
            ),
        );
    }
    let mut to = Vec::with_capacity(raw.to.len());
    for (i, address) in raw.to.iter().enumerate() {
        match address.parse::<Mailbox>() {
            Ok(mailbox) => to.push(mailbox),
            Err(_) => fail(&format!("to[{i}]"), not_an_address(address)),
        }
    }

    let timeout = match raw.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(secs @ 1..=MAX_TIMEOUT_SECS) => Duration::from_secs(secs),
        Some(secs) => {
            fail(
                "timeout_secs",
                format!("{secs} is not between 1 and {MAX_TIMEOUT_SECS}"),
            );
            DEFAULT_TIMEOUT
        }
    };

    let subject_prefix = raw.subject_prefix.unwrap_or_default();
    if subject_prefix.chars().any(char::is_control) {
        fail(
            "subject_prefix",
            "a subject is one line: no line breaks or control characters".into(),
        );
    }

    let security = match tls {
        Some(TlsMode::None) => {
            if raw.ca_file.is_some() {
                fail(
                    "ca_file",
                    "tls = \"none\" makes no TLS connection to trust a CA for".into(),
                );
            }
            Some(Security::None)
        }
        Some(mode) if !host.is_empty() => match security(mode, &host, raw.ca_file.as_deref()) {
            Ok(security) => Some(security),
            Err((key, message)) => {
                fail(key, message);
                None
            }
        },
        _ => None,
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    match (tls, security, from) {
        (Some(tls), Some(security), Some(from)) => Ok(EmailSettings {
            host,
            port,
            tls,
            from,
            to,
            timeout,
            subject_prefix,
            login,
            security,
        }),
        // Each `None` above recorded a problem.
        _ => Err(vec![(String::new(), "invalid e-mail settings".into())]),
    }
}

fn not_an_address(address: &str) -> String {
    format!(
        "{address:?} is not an e-mail address (`name@example.com` or `Name <name@example.com>`)"
    )
}

/// The TLS setup for `mode`: `host` is the name checked against the server's certificate;
/// the public roots are trusted, plus `ca_file`'s certificates.
fn security(
    mode: TlsMode,
    host: &str,
    ca_file: Option<&Path>,
) -> Result<Security, (&'static str, String)> {
    let extra = match ca_file {
        Some(path) => ca_certificates(path).map_err(|message| ("ca_file", message))?,
        None => Vec::new(),
    };
    let failed = |e: &dyn fmt::Display| ("ca_file", format!("the TLS setup failed: {e}"));
    match mode {
        TlsMode::None => Ok(Security::None),
        TlsMode::StartTls => {
            let mut builder = TlsParameters::builder(host.to_owned());
            for der in extra {
                let certificate = Certificate::from_der(der.to_vec()).map_err(|e| failed(&e))?;
                builder = builder.add_root_certificate(certificate);
            }
            Ok(Security::StartTls(builder.build().map_err(|e| failed(&e))?))
        }
        TlsMode::Implicit => {
            let server_name = ServerName::try_from(host.to_owned()).map_err(|e| {
                (
                    "host",
                    format!("{host:?} cannot be checked against a certificate: {e}"),
                )
            })?;
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for der in extra {
                roots.add(der).map_err(|e| failed(&e))?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| failed(&e))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Security::Implicit {
                config: Arc::new(config),
                server_name,
            })
        }
    }
}

/// The certificates of a PEM file; at least one.
fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests;
