//! Who may call `/v1/*`: the token, the loopback rule, and signed ingest.

use std::net::{IpAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use klaxon::settings::ApiToken;
use klaxon::signing::{Secret, ingest};
use serde_json::json;

use crate::support::{TestServer, assert_error};

const TOKEN: &str = "test-token-0123456789";
const SECRET_A: &str = "klaxon-ingest-test-secret";
const SECRET_B: &str = "klaxon-ingest-next-secret";
const BODY: &str = r#"{"id":"evt_1","type":"ticket.created","priority":"URGENT"}"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A valid `X-Klaxon-Signature` for `body` under `secret`, timestamped now.
pub fn sign_now(secret: &str, body: &str) -> String {
    ingest::sign(&[Secret::new(secret)], now(), body.as_bytes())
}

async fn with_token() -> TestServer {
    TestServer::start_with(|s| s.api_token = Some(ApiToken::new(TOKEN))).await
}

#[tokio::test]
async fn with_a_token_every_v1_route_requires_it() {
    let server = with_token().await;
    let body = json!({"type": "t"});
    let post = || server.http.post(server.url("/v1/events")).json(&body);

    assert_error(&server.send(post()).await, 401, "unauthorized");
    assert_error(
        &server
            .send(post().bearer_auth("wrong-token-0123456789"))
            .await,
        401,
        "unauthorized",
    );
    assert_error(
        &server
            .send(post().bearer_auth(&TOKEN[..TOKEN.len() - 1]))
            .await,
        401,
        "unauthorized",
    );
    assert_error(
        &server.send(server.http.get(server.url("/v1/events"))).await,
        401,
        "unauthorized",
    );
    assert_eq!(server.count_events().await, 0);

    let (status, _) = server.send(post().bearer_auth(TOKEN)).await;
    assert_eq!(status, 202);
    let (status, page) = server
        .send(server.http.get(server.url("/v1/events")).bearer_auth(TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_node_list_needs_the_token() {
    let server = with_token().await;
    let nodes = || server.http.get(server.url("/v1/nodes"));
    assert_error(&server.send(nodes()).await, 401, "unauthorized");
    let (status, body) = server.send(nodes().bearer_auth(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn health_needs_no_token() {
    let server = with_token().await;
    assert_eq!(server.get("/health").await.0, 200);
}

#[tokio::test]
async fn without_a_token_loopback_clients_are_accepted() {
    let server = TestServer::start().await;
    assert_eq!(server.post_event(&json!({"type": "t"})).await.0, 202);
}

#[tokio::test]
async fn without_a_token_other_clients_are_refused() {
    // Reaching the server from a non-loopback address needs one on this machine.
    let Some(ip) = non_loopback_ip() else {
        eprintln!("NOTICE: skipped: this machine has no non-loopback address to test from");
        return;
    };
    let server = TestServer::start_on(&format!("{ip}:0"), |_| {}).await;
    let url = format!("http://{}/v1/events", server.addr);
    let answer = server
        .send(server.http.post(&url).json(&json!({"type": "t"})))
        .await;
    assert_error(&answer, 403, "loopback_only");
    let answer = server.send(server.http.get(&url)).await;
    assert_error(&answer, 403, "loopback_only");
    assert_eq!(server.count_events().await, 0);
    // With a token, the same client is welcome.
    let server = TestServer::start_on(&format!("{ip}:0"), |s| {
        s.api_token = Some(ApiToken::new(TOKEN))
    })
    .await;
    let url = format!("http://{}/v1/events", server.addr);
    let (status, _) = server
        .send(
            server
                .http
                .post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"type": "t"})),
        )
        .await;
    assert_eq!(status, 202);
}

/// The address this machine would use to reach the outside; no packet is sent.
pub fn non_loopback_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

async fn signed_server(secrets: &[&str]) -> TestServer {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    // A token is set too: a good signature must be enough on its own.
    TestServer::start_with(move |s| {
        s.ingest.signing_secrets = secrets;
        s.api_token = Some(ApiToken::new(TOKEN));
    })
    .await
}

async fn post_signed(
    server: &TestServer,
    header_name: &str,
    header: &str,
    body: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", "application/json")
                .header(header_name, header)
                .body(body.to_owned()),
        )
        .await
}

#[tokio::test]
async fn a_valid_signature_is_accepted_under_either_header_name() {
    let server = signed_server(&[SECRET_A]).await;
    let (status, answer) = post_signed(
        &server,
        "X-Klaxon-Signature",
        &sign_now(SECRET_A, BODY),
        BODY,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let (status, _) = post_signed(
        &server,
        "X-Ingestlayer-Signature",
        &sign_now(SECRET_A, BODY),
        BODY,
    )
    .await;
    assert_eq!(
        status, 200,
        "the body's id is the idempotency key, so this is a duplicate"
    );

    let id = answer["id"].as_str().expect("id");
    let (_, event) = server
        .send(
            server
                .http
                .get(server.url(&format!("/v1/events/{id}")))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(event["source"], "signed");
    assert_eq!(event["idempotency_key"], "evt_1");
    assert_eq!(event["payload"], json!({"priority": "URGENT"}));
}

#[tokio::test]
async fn rotation_accepts_any_configured_secret_against_any_entry() {
    let server = signed_server(&[SECRET_B]).await;
    let t = now();
    let rotation = ingest::sign(
        &[Secret::new(SECRET_A), Secret::new(SECRET_B)],
        t,
        BODY.as_bytes(),
    );
    assert_eq!(rotation.matches("v1=").count(), 2);
    assert_eq!(
        post_signed(&server, "X-Klaxon-Signature", &rotation, BODY)
            .await
            .0,
        202
    );
    // Only the old secret's entry: refused.
    assert_error(
        &post_signed(
            &server,
            "X-Klaxon-Signature",
            &sign_now(SECRET_A, BODY),
            BODY,
        )
        .await,
        401,
        "invalid_signature",
    );
}

#[tokio::test]
async fn tampered_expired_and_malformed_signatures_are_refused() {
    let server = signed_server(&[SECRET_A]).await;
    let good = sign_now(SECRET_A, BODY);
    let tampered_body = BODY.replace("URGENT", "LOW");
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &good, &tampered_body).await,
        401,
        "invalid_signature",
    );

    let stale = ingest::sign(&[Secret::new(SECRET_A)], now() - 301, BODY.as_bytes());
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &stale, BODY).await,
        401,
        "signature_expired",
    );
    let future = ingest::sign(&[Secret::new(SECRET_A)], now() + 301, BODY.as_bytes());
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &future, BODY).await,
        401,
        "signature_expired",
    );

    let no_t = good
        .split(',')
        .filter(|p| !p.starts_with("t="))
        .collect::<Vec<_>>()
        .join(",");
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &no_t, BODY).await,
        400,
        "malformed_signature",
    );
    let no_v1 = format!("t={}", now());
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &no_v1, BODY).await,
        400,
        "malformed_signature",
    );

    assert_eq!(server.count_events().await, 0);
}

#[tokio::test]
async fn a_bad_signature_is_refused_even_from_loopback_without_a_token() {
    let server =
        TestServer::start_with(|s| s.ingest.signing_secrets = vec![Secret::new(SECRET_A)]).await;
    let wrong = sign_now(SECRET_B, BODY);
    assert_error(
        &post_signed(&server, "X-Klaxon-Signature", &wrong, BODY).await,
        401,
        "invalid_signature",
    );
    assert_eq!(server.count_events().await, 0);
}

#[tokio::test]
async fn a_signature_without_configured_secrets_is_refused() {
    let server = TestServer::start().await;
    let answer = post_signed(
        &server,
        "X-Klaxon-Signature",
        &sign_now(SECRET_A, BODY),
        BODY,
    )
    .await;
    assert_error(&answer, 401, "signing_not_configured");
}
