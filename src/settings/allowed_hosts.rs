//! `allowed_hosts` (`KLAXON_ALLOWED_HOSTS`): the extra host names a server without an API
//! token answers to, beyond loopback names, its listen address and `PUBLIC_URL`'s host. The
//! check itself is [`crate::http::allowed_host`]; this module parses and matches names.
//!
//! An entry is a host name (`klaxon.internal`), a domain with a leading dot that also admits
//! its subdomains (`.corp.example`), an IP address (`192.168.1.20`, `[fd00::5]` or `fd00::5`),
//! or `*` for any host (which switches the check off). Ports are not written: any port
//! matches, since a proxy or port forward may change it.

use std::fmt;
use std::net::IpAddr;

/// A host as it appears in a `Host` header or an entry, without its port: an IP address, or a
/// name in lower case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    Ip(IpAddr),
    Name(String),
}

impl HostName {
    /// Parses a host without its port: `localhost`, `Example.COM.`, `127.0.0.1`, `[::1]`.
    /// IPv6 needs its brackets here, as in a URL; `None` for anything else.
    pub fn parse(host: &str) -> Option<HostName> {
        if let Some(inner) = host.strip_prefix('[') {
            let v6 = inner.strip_suffix(']')?;
            return v6
                .parse()
                .ok()
                .map(|ip: std::net::Ipv6Addr| HostName::Ip(IpAddr::V6(ip)));
        }
        if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
            return Some(HostName::Ip(IpAddr::V4(v4)));
        }
        let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        valid.then_some(HostName::Name(name))
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostName::Ip(ip) => write!(f, "{ip}"),
            HostName::Name(name) => f.write_str(name),
        }
    }
}

/// One `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// `*`: every host.
    Any,
    /// This host exactly (any port).
    Exact(HostName),
    /// `.corp.example`: `corp.example` and every name under it; holds `corp.example`.
    Domain(String),
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHost::Any => f.write_str("*"),
            AllowedHost::Exact(host) => host.fmt(f),
            AllowedHost::Domain(domain) => write!(f, ".{domain}"),
        }
    }
}

impl AllowedHost {
    pub fn matches(&self, host: &HostName) -> bool {
        match (self, host) {
            (AllowedHost::Any, _) => true,
            (AllowedHost::Exact(allowed), host) => allowed == host,
            (AllowedHost::Domain(domain), HostName::Name(name)) => {
                name == domain
                    || name
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            (AllowedHost::Domain(_), HostName::Ip(_)) => false,
        }
    }
}

/// Parses one entry; the error says what is wrong with it.
pub fn parse_entry(entry: &str) -> Result<AllowedHost, String> {
    let entry = entry.trim();
    if entry == "*" {
        return Ok(AllowedHost::Any);
    }
    if entry.contains("://") || entry.contains('/') {
        return Err(format!(
            "{entry:?}: write the host alone, without a scheme or path (e.g. klaxon.example.com)"
        ));
    }
    if let Ok(v6) = entry.parse::<std::net::Ipv6Addr>() {
        return Ok(AllowedHost::Exact(HostName::Ip(IpAddr::V6(v6))));
    }
    if let Some(domain) = entry.strip_prefix('.') {
        return match HostName::parse(domain) {
            Some(HostName::Name(name)) => Ok(AllowedHost::Domain(name)),
            _ => Err(format!("{entry:?} is not a domain name")),
        };
    }
    let has_port = if entry.starts_with('[') {
        !entry.ends_with(']')
    } else {
        entry
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
    };
    if has_port {
        return Err(format!(
            "{entry:?}: write the host without a port (any port matches)"
        ));
    }
    HostName::parse(entry).map(AllowedHost::Exact).ok_or_else(|| {
        format!(
            "{entry:?} is not a host name or IP address (expected e.g. klaxon.internal, .corp.example, 192.168.1.20 or *)"
        )
    })
}

/// Parses a list of entries, reporting every bad one at once.
pub fn parse_list<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<AllowedHost>, String> {
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        match parse_entry(entry) {
            Ok(host) => hosts.push(host),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(hosts)
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> HostName {
        HostName::parse(text).unwrap_or_else(|| panic!("{text} parses"))
    }

    #[test]
    fn host_names_are_normalised() {
        assert_eq!(
            host("Klaxon.Example."),
            HostName::Name("klaxon.example".into())
        );
        assert_eq!(host("[::1]"), HostName::Ip("::1".parse().unwrap()));
        assert_eq!(
            host("127.0.0.1"),
            HostName::Ip("127.0.0.1".parse().unwrap())
        );
        for bad in [
            "",
            ".",
            "a..b",
            "::1",
            "[::1",
            "evil host",
            "a@b",
            "x:80",
            "[127.0.0.1]",
        ] {
            assert_eq!(HostName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entries_parse_and_match() {
        let cases = [
            ("klaxon.internal", "klaxon.internal", true),
            ("KLAXON.internal", "klaxon.INTERNAL", true),
            ("klaxon.internal", "a.klaxon.internal", false),
            (".corp.example", "corp.example", true),
            (".corp.example", "klaxon.corp.example", true),
            (".corp.example", "evilcorp.example", false),
            ("192.168.1.20", "192.168.1.20", true),
            ("192.168.1.20", "192.168.1.2", false),
            ("fd00::5", "[fd00::5]", true),
            ("[fd00::5]", "[fd00:0::5]", true),
            ("*", "anything.example", true),
        ];
        for (entry, candidate, allowed) in cases {
            let parsed = parse_entry(entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(
                parsed.matches(&host(candidate)),
                allowed,
                "{entry} vs {candidate}"
            );
        }
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for bad in [
            "https://klaxon.example",
            "klaxon.example/",
            "klaxon.example:5000",
            "127.0.0.1:80",
            "[::1]:80",
            "evil host",
            ".",
            "..corp",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad:?} is refused");
        }
        let both = parse_list(["ok.example", "a:1", "b/c"]).unwrap_err();
        assert!(both.contains("a:1") && both.contains("b/c"), "{both}");
        assert_eq!(parse_list(["a.example", " ", ""]).unwrap().len(), 1);
    }
}
