//! What one client may hold (issue 15): a request head must arrive within the header timeout,
//! an idle keep-alive connection is closed after the idle timeout, no more than
//! `max_connections` are served at once, and no route takes a body over the limit.

use std::time::Duration;

use serde_json::Value;

use crate::support::raw_http::{self, closed_within, connect, read_response, send};
use crate::support::{TestServer, assert_error};

fn timeouts(header: Duration, idle: Duration) -> impl FnOnce(&mut klaxon::Settings) {
    move |s| {
        s.http.header_timeout = header;
        s.http.idle_timeout = idle;
    }
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout() {
    let server =
        TestServer::start_with(timeouts(Duration::from_secs(1), Duration::from_secs(30))).await;
    // Half a head, then nothing; and a connection that never sends a byte.
    let mut slow = connect(server.addr).await;
    send(
        &mut slow,
        "GET /health HTTP/1.1\r\nHost: klaxon.test\r\nX-Slow: ",
    )
    .await;
    let mut silent = connect(server.addr).await;

    let bound = Duration::from_secs(5);
    let (slow, silent) = tokio::join!(
        closed_within(&mut slow, bound),
        closed_within(&mut silent, bound)
    );
    for (name, closed) in [("partial head", slow), ("silent", silent)] {
        let closed =
            closed.unwrap_or_else(|| panic!("{name}: still open 5 s after a 1 s header timeout"));
        assert!(
            closed >= Duration::from_millis(800),
            "{name}: closed after {closed:?}, before the header timeout"
        );
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let server =
        TestServer::start_with(timeouts(Duration::from_secs(1), Duration::from_secs(3))).await;
    let mut client = connect(server.addr).await;
    send(&mut client, &raw_http::get("/health")).await;
    assert_eq!(read_response(&mut client).await, Some(200));

    // Idle for longer than the header timeout: still open, and still serves a request.
    assert_eq!(
        closed_within(&mut client, Duration::from_millis(1500)).await,
        None,
        "an idle connection was closed at the header timeout"
    );
    send(&mut client, &raw_http::get("/health")).await;
    assert_eq!(read_response(&mut client).await, Some(200));

    let closed = closed_within(&mut client, Duration::from_secs(8))
        .await
        .expect("an idle keep-alive connection is closed after the 3 s idle timeout");
    assert!(
        closed >= Duration::from_millis(2500),
        "closed after {closed:?}, before the idle timeout"
    );
}

#[tokio::test]
async fn health_answers_while_hundreds_of_slowloris_sockets_are_open_and_they_all_get_closed() {
    const SOCKETS: usize = 300;
    let server =
        TestServer::start_with(timeouts(Duration::from_secs(2), Duration::from_secs(30))).await;
    let mut sockets = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        let mut socket = connect(server.addr).await;
        send(
            &mut socket,
            "POST /v1/events HTTP/1.1\r\nHost: klaxon.test\r\n",
        )
        .await;
        sockets.push(socket);
    }

    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let health = fresh
        .get(server.url("/health"))
        .send()
        .await
        .expect("/health answers while the slow sockets are open");
    assert_eq!(health.status(), 200);

    // One deadline for all (each sent its half head before the check above), so a server
    // that never closes them fails in seconds, not 300 times over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut closed = 0;
    for socket in &mut sockets {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if closed_within(socket, left).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, SOCKETS,
        "every slow socket is closed after the header timeout"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    const LIMIT: usize = 3;
    let server = TestServer::start_with(|s| {
        s.http.max_connections = Some(LIMIT);
        s.http.header_timeout = Duration::from_secs(10);
        s.http.idle_timeout = Duration::from_secs(30);
    })
    .await;
    // Each sends a whole request and, once served, keeps its connection (and its place).
    let mut sockets = Vec::new();
    for _ in 0..LIMIT + 2 {
        let mut socket = connect(server.addr).await;
        send(&mut socket, &raw_http::get("/health")).await;
        sockets.push(socket);
    }
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for mut socket in sockets {
        match tokio::time::timeout(Duration::from_millis(700), read_response(&mut socket)).await {
            Ok(status) => {
                assert_eq!(status, Some(200));
                served.push(socket);
            }
            Err(_) => waiting.push(socket),
        }
    }
    // The harness's own client may keep one connection from its start-up health check.
    assert!(
        (LIMIT - 1..=LIMIT).contains(&served.len()),
        "{} of {} connections served with a limit of {LIMIT}",
        served.len(),
        LIMIT + 2
    );

    drop(served);
    for mut socket in waiting {
        let status = tokio::time::timeout(Duration::from_secs(5), read_response(&mut socket))
            .await
            .expect("a waiting connection is served once others close");
        assert_eq!(status, Some(200));
    }
}

#[tokio::test]
async fn every_post_route_refuses_a_body_over_the_limit_and_stores_nothing() {
    const LIMIT: usize = 1024;
    let server = TestServer::start_with(|s| s.ingest.max_body_bytes = LIMIT).await;
    let (_, spec) = server.get("/openapi.json").await;
    let mut paths: Vec<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(_, item)| item.get("post").is_some())
        .map(|(path, _)| path.replace("{id}", "x").replace("{name}", "x"))
        .collect();
    // Aliases the spec does not list.
    paths.extend(["/webhooks/telnyx", "/webhooks/ticket", "/webhooks/crm"].map(String::from));
    assert!(paths.iter().any(|p| p == "/webhooks/voice"), "{paths:?}");

    let filler = "x".repeat(2 * LIMIT);
    let body = serde_json::to_vec(&serde_json::json!({"type": "t", "payload": {"x": filler}}))
        .expect("serialise");
    for path in &paths {
        let answer: (reqwest::StatusCode, Value) = server
            .send(
                server
                    .http
                    .post(server.url(path))
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(answer.0, 413, "POST {path}: {}", answer.1);
        assert_error(&answer, 413, "payload_too_large");
    }
    // Without a Content-Length, the body is counted as it arrives.
    for path in ["/webhooks/voice", "/v1/events", "/webhooks/merge"] {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(256).map(|c| Ok(c.to_vec())).collect();
        let answer = server
            .send(
                server
                    .http
                    .post(server.url(path))
                    .header("content-type", "application/json")
                    .body(reqwest::Body::wrap_stream(tokio_stream::iter(chunks))),
            )
            .await;
        assert_error(&answer, 413, "payload_too_large");
    }

    assert_eq!(server.count_events().await, 0);
    assert_eq!(
        crate::support::postgres::count_rows(&server.database, "voice_webhooks").await,
        0
    );
}
