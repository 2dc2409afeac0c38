//! Issue 15, item 3: DNS rebinding. Without an API token, Klaxon answers only requests whose
//! `Host` is one of its own names (loopback names, the listen address, `PUBLIC_URL`'s host,
//! `allowed_hosts`); a page on `attacker.example` resolved to 127.0.0.1 gets 421
//! `host_not_allowed` and reads nothing.

use klaxon::settings::ApiToken;
use klaxon::settings::allowed_hosts::parse_list;
use reqwest::header::HOST;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestServer, assert_error};

const TOKEN: &str = "host-check-token-0123456789";
const PATHS: [&str; 3] = ["/", "/v1/events", "/live/panels"];

async fn loopback_server() -> TestServer {
    TestServer::start_with(|s| {
        s.allowed_hosts = parse_list(["klaxon.internal", ".corp.example"]).unwrap();
        s.voice.public_url = Some("https://abc123.tunnel.example".into());
    })
    .await
}

#[tokio::test]
async fn without_a_token_foreign_hosts_are_refused() {
    let server = loopback_server().await;
    let port = server.addr.port();
    let refused = [
        "attacker.example".to_owned(),
        format!("attacker.example:{port}"),
        "attacker.example:5000".to_owned(),
        format!("127.0.0.1.attacker.example:{port}"),
        format!("localhost.attacker.example:{port}"),
        format!("klaxon.internal.attacker.example:{port}"),
        "tunnel.example".to_owned(),
        format!("10.0.0.1:{port}"),
        format!("192.168.1.20:{port}"),
        "8.8.8.8".to_owned(),
        format!("0.0.0.0:{port}"),
        format!("[2001:db8::1]:{port}"),
        format!("[fe80::1]:{port}"),
        format!("localhost:{port}:{port}"),
        "evilcorp.example".to_owned(),
    ];
    let mut probes = 0;
    for host in &refused {
        for path in PATHS {
            let answer = server
                .send(server.http.get(server.url(path)).header(HOST, host))
                .await;
            assert_error(&answer, 421, "host_not_allowed");
            let message = answer.1["error"]["message"].as_str().unwrap();
            assert!(message.contains("KLAXON_ALLOWED_HOSTS"), "{message}");
            probes += 1;
        }
    }
    // A write to a foreign host is refused too, before anything is stored.
    let write = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header(HOST, "attacker.example")
                .json(&json!({"type": "t", "payload": {}})),
        )
        .await;
    assert_error(&write, 421, "host_not_allowed");
    assert_eq!(server.count_events().await, 0);
    probes += 1;
    println!("host_check: {probes} requests to foreign hosts refused");
}

#[tokio::test]
async fn without_a_token_own_hosts_are_served() {
    let server = loopback_server().await;
    let port = server.addr.port();
    let served = [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_owned(),
        format!("127.1.2.3:{port}"),
        format!("localhost:{port}"),
        "LocalHost".to_owned(),
        format!("localhost.:{port}"),
        format!("klaxon.localhost:{port}"),
        format!("[::1]:{port}"),
        "[::1]".to_owned(),
        "abc123.tunnel.example".to_owned(),
        format!("klaxon.internal:{port}"),
        "corp.example".to_owned(),
        format!("klaxon.corp.example:{port}"),
    ];
    let mut probes = 0;
    for host in &served {
        for path in PATHS {
            let answer = server
                .http
                .get(server.url(path))
                .header(HOST, host)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{path} for Host: {host}");
            probes += 1;
        }
    }
    // Load balancers probe /health by IP; it reveals only the version.
    let (status, _) = server
        .send(
            server
                .http
                .get(server.url("/health"))
                .header(HOST, "10.0.0.1:5000"),
        )
        .await;
    assert_eq!(status, 200);
    probes += 1;
    // HTTP/1.0 without a Host header is not a browser: served.
    let answer = raw_http10(&server, "/v1/events").await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    probes += 1;
    println!("host_check: {probes} requests to Klaxon's own hosts served");
}

#[tokio::test]
async fn with_a_token_the_host_is_not_checked() {
    let server = TestServer::start_with(|s| s.api_token = Some(ApiToken::new(TOKEN))).await;
    for path in PATHS {
        let answer = server
            .http
            .get(server.url(path))
            .header(HOST, "klaxon.example.com")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    // Without the token, a foreign host is told about the token, not about the host.
    let (status, body) = server
        .send(
            server
                .http
                .get(server.url("/v1/events"))
                .header(HOST, "attacker.example"),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

/// `GET path HTTP/1.0` with no headers at all; the answer as text.
async fn raw_http10(server: &TestServer, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
