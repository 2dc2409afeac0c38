//! `DATABASE_URL=postgres://…`: the PostgreSQL connection string, its TLS mode, and a
//! `Display` that never shows the password.
//!
//! The URL is libpq's, so `sslmode` means what `psql` users expect: `disable`, `prefer`
//! (the default: encrypt when the server offers TLS, without checking its certificate),
//! `require` (encrypt, no certificate check), `verify-ca` and `verify-full` (encrypt and check
//! the certificate against the Mozilla roots or `sslrootcert=<file>`). The connection itself
//! is made by the store; this type only validates and carries the settings.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// How the connection to PostgreSQL is encrypted (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A validated PostgreSQL URL. Holds the password, so neither `Debug` nor `Display` shows
/// the URL as given.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The URL without `sslmode`/`sslrootcert`, which Klaxon applies itself.
    connect: String,
    pub tls: TlsMode,
    /// `sslrootcert`: a PEM file of CA certificates to trust instead of the Mozilla roots.
    pub root_cert: Option<PathBuf>,
}

impl PostgresUrl {
    /// The connection string for the driver (contains the password: never log it).
    pub fn connection_string(&self) -> &str {
        &self.connect
    }

    /// The same server with `options` added (e.g. `-csearch_path=…`), for tests that give
    /// every server its own schema.
    pub fn with_options(&self, options: &str) -> PostgresUrl {
        let separator = if self.connect.contains('?') { '&' } else { '?' };
        let encoded: String = options
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        PostgresUrl {
            connect: format!("{}{separator}options={encoded}", self.connect),
            ..self.clone()
        }
    }

    /// `url` with any password replaced by `[redacted]`.
    pub fn redact(url: &str) -> String {
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let base = match base.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}"),
                    None => base.to_owned(),
                },
                None => base.to_owned(),
            },
            None => base.to_owned(),
        };
        match query {
            None => base,
            Some(query) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                            format!("{key}=[redacted]")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", query.join("&"))
            }
        }
    }
}

impl FromStr for PostgresUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", mode)) => {
                    tls = match mode {
                        "disable" => TlsMode::Disable,
                        "allow" | "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" => TlsMode::VerifyCa,
                        "verify-full" => TlsMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                            ));
                        }
                    }
                }
                Some(("sslrootcert", path)) => root_cert = Some(PathBuf::from(path)),
                _ => kept.push(pair),
            }
        }
        let connect = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        tokio_postgres::Config::from_str(&connect)
            .map_err(|e| format!("invalid PostgreSQL URL {}: {e}", PostgresUrl::redact(url)))?;
        Ok(PostgresUrl {
            connect,
            tls,
            root_cert,
        })
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&PostgresUrl::redact(&self.connect))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self}, {:?})", self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let url: PostgresUrl =
            "postgres://klaxon:s3cret@db.example:5432/klaxon?sslmode=verify-full"
                .parse()
                .unwrap();
        assert_eq!(url.tls, TlsMode::VerifyFull);
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://klaxon:[redacted]@db.example:5432/klaxon"));
        let query = PostgresUrl::redact("postgres://h/db?user=a&password=s3cret");
        assert!(!query.contains("s3cret"), "{query}");
    }

    #[test]
    fn libpq_ssl_modes_are_understood() {
        let url: PostgresUrl = "postgresql://root@127.0.0.1/postgres".parse().unwrap();
        assert_eq!(url.tls, TlsMode::Prefer);
        assert!(
            "postgres://h/db?sslmode=bogus"
                .parse::<PostgresUrl>()
                .is_err()
        );
        let url: PostgresUrl = "postgres://h/db?sslmode=disable&application_name=k"
            .parse()
            .unwrap();
        assert_eq!(url.tls, TlsMode::Disable);
        assert_eq!(
            url.connection_string(),
            "postgres://h/db?application_name=k"
        );
    }
}
