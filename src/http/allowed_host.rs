//! The DNS rebinding defence: without an API token, Klaxon answers only requests addressed to
//! a name it knows is its own.
//!
//! Without `KLAXON_API_TOKEN`, the loopback rule ([`super::auth`]) admits any program on the
//! machine, a browser included. A web page on `attacker.example` can make its own name
//! resolve to 127.0.0.1 and then read Klaxon's answers as same-origin; but its requests still
//! say `Host: attacker.example`. So in that mode a request is served only when its `Host`
//! (or, in HTTP/2, its authority) is, with any port:
//!
//! - a loopback name: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`;
//! - the listen address, when it is a specific IP (not `0.0.0.0` or `[::]`);
//! - the host of `PUBLIC_URL` (a tunnel such as ngrok forwards Telnyx's webhooks with it);
//! - an `allowed_hosts` entry (`KLAXON_ALLOWED_HOSTS`; see [`crate::settings::allowed_hosts`]).
//!
//! A request without a `Host` (HTTP/1.0) is not from a browser and is served. `GET /health`
//! is always served: it reveals only the version, and load balancers probe it by IP. Anything
//! else gets 421 `host_not_allowed`, naming the setting.
//!
//! With a token the check is off: a rebinding page can present neither the token nor the
//! live page's `SameSite=Strict` cookie, so it reads nothing.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::auth::is_loopback;
use crate::settings::{AllowedHost, HostName, Settings};

/// The names this server answers to without a token; built once from the settings.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `None` when a token is configured: every host is served.
    allowed: Option<Vec<AllowedHost>>,
}

impl HostPolicy {
    pub fn from_settings(settings: &Settings) -> HostPolicy {
        if settings.api_token.is_some() {
            return HostPolicy { allowed: None };
        }
        let mut allowed = settings.allowed_hosts.clone();
        let listen = settings.listen.ip();
        if !listen.is_unspecified() {
            allowed.push(AllowedHost::Exact(HostName::Ip(listen)));
        }
        let public_host = settings
            .voice
            .public_url
            .as_deref()
            .and_then(|url| reqwest::Url::parse(url).ok())
            .and_then(|url| url.host_str().and_then(HostName::parse));
        if let Some(host) = public_host {
            allowed.push(AllowedHost::Exact(host));
        }
        HostPolicy {
            allowed: Some(allowed),
        }
    }

    /// Whether a request with this `Host` value (port included) is served.
    pub fn admits(&self, host: &str) -> bool {
        let Some(allowed) = &self.allowed else {
            return true;
        };
        let Some(host) = host_without_port(host).and_then(HostName::parse) else {
            return false;
        };
        is_loopback_name(&host) || allowed.iter().any(|entry| entry.matches(&host))
    }
}

/// `example.com` from `example.com:5000`, `[::1]` from `[::1]:5000`; `None` when the port is
/// not a number.
fn host_without_port(host: &str) -> Option<&str> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')? + 1;
        let rest = &host[end..];
        (&host[..end], (!rest.is_empty()).then_some(rest))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    match port.map(|p| p.strip_prefix(':').unwrap_or(p)) {
        Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(name),
    }
}

fn is_loopback_name(host: &HostName) -> bool {
    match host {
        HostName::Ip(ip) => is_loopback(*ip),
        HostName::Name(name) => name == "localhost" || name.ends_with(".localhost"),
    }
}

/// The request's `Host` header as text (a byte that is not UTF-8 becomes U+FFFD), or the
/// HTTP/2 authority; `None` when it has neither.
pub fn request_host(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .or_else(|| request.uri().authority().map(ToString::to_string))
}

/// The refusal for a request whose host the policy does not admit (421), or `None` to let
/// it on.
pub fn refusal(policy: &HostPolicy, request: &Request) -> Option<Response> {
    if policy.allowed.is_none() || request.uri().path() == "/health" {
        return None;
    }
    let headers = request.headers();
    let admitted = match headers.get(header::HOST) {
        // A Host that is not UTF-8 is refused: no rule admits it.
        Some(value) => value.to_str().is_ok_and(|host| policy.admits(host)),
        None => request
            .uri()
            .authority()
            .is_none_or(|authority| policy.admits(authority.as_str())),
    };
    if admitted {
        return None;
    }
    let host = request_host(request).unwrap_or_default();
    tracing::info!(%host, "refused a request for a host this server does not answer to");
    Some(
        ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this server does not answer to the host {host:?}: without KLAXON_API_TOKEN it serves only loopback names, its listen address and PUBLIC_URL's host; add the name to allowed_hosts (KLAXON_ALLOWED_HOSTS) or set KLAXON_API_TOKEN"
            ),
        )
        .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::allowed_hosts::parse_list;
    use crate::store::DatabaseUrl;

    fn policy(configure: impl FnOnce(&mut Settings)) -> HostPolicy {
        let mut settings = Settings::for_database(DatabaseUrl::Sqlite("unused.db".into()));
        configure(&mut settings);
        HostPolicy::from_settings(&settings)
    }

    #[test]
    fn loopback_names_and_configured_hosts_are_served_others_refused() {
        let policy = policy(|s| {
            s.listen = "192.168.1.20:5000".parse().unwrap();
            s.voice.public_url = Some("https://abc123.ngrok.app".into());
            s.allowed_hosts = parse_list(["klaxon.internal", ".corp.example"]).unwrap();
        });
        let admitted = [
            "localhost",
            "localhost:5000",
            "LOCALHOST.",
            "app.localhost:8080",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.9.8.7:1",
            "[::1]",
            "[::1]:5000",
            "[::ffff:7f00:1]:5000",
            "192.168.1.20:5000",
            "192.168.1.20:8000",
            "abc123.ngrok.app",
            "klaxon.internal:5000",
            "corp.example",
            "klaxon.corp.example:443",
        ];
        let refused = [
            "attacker.example",
            "attacker.example:5000",
            "127.0.0.1.attacker.example",
            "localhost.attacker.example",
            "localhost:evil",
            "attacker.example:5000:5000",
            "10.0.0.1",
            "192.168.1.21:5000",
            "8.8.8.8",
            "[2001:db8::1]:5000",
            "[::1]x",
            "0.0.0.0:5000",
            "evilcorp.example",
            "ngrok.app",
            "",
            "a b",
        ];
        for host in admitted {
            assert!(policy.admits(host), "{host:?} is served");
        }
        for host in refused {
            assert!(!policy.admits(host), "{host:?} is refused");
        }
        println!(
            "allowed_host: {} hosts admitted, {} refused",
            admitted.len(),
            refused.len()
        );
    }

    #[test]
    fn an_unspecified_listen_address_admits_no_ip_and_a_token_admits_all() {
        let open = policy(|s| s.listen = "0.0.0.0:5000".parse().unwrap());
        assert!(!open.admits("0.0.0.0:5000"));
        assert!(!open.admits("192.168.1.20:5000"));
        let token = policy(|s| s.api_token = Some(crate::settings::ApiToken::new("x".repeat(20))));
        assert!(token.admits("attacker.example"));
    }
}
