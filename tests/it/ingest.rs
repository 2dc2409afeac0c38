//! `POST /v1/events`: accepted events are stored once; bad input is refused and stores nothing.

use serde_json::json;

use crate::support::{TestServer, assert_error};

#[tokio::test]
async fn an_accepted_event_can_be_read_back() {
    let server = TestServer::start().await;
    let (status, answer) = server
        .post_event(&json!({
            "type": "support.ticket.created",
            "payload": {"ticket_id": "T-1", "subject": "Site down"},
            "occurred_at": "2026-11-22T10:00:00+01:00"
        }))
        .await;
    assert_eq!(status, 202);
    assert_eq!(answer["duplicate"], false);
    let id = answer["id"].as_str().expect("id is a string");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        7
    );

    let (status, event) = server.get(&format!("/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(event["type"], "support.ticket.created");
    assert_eq!(event["payload"]["subject"], "Site down");
    assert_eq!(event["occurred_at"], "2026-11-22T09:00:00Z");
    assert_eq!(event["source"], "api");
}

#[tokio::test]
async fn same_key_same_body_returns_the_original() {
    let server = TestServer::start().await;
    let body = json!({"type": "t.created", "payload": {"n": 1}, "idempotency_key": "k-1"});
    let (first, original) = server.post_event(&body).await;
    let (again, repeat) = server.post_event(&body).await;
    assert_eq!((first.as_u16(), again.as_u16()), (202, 200));
    assert_eq!(repeat["id"], original["id"]);
    assert_eq!(repeat["duplicate"], true);
    assert_eq!(server.count_events().await, 1);
}

#[tokio::test]
async fn same_key_in_header_with_reordered_body_is_still_a_duplicate() {
    let server = TestServer::start().await;
    let post = |body: &'static str| {
        server
            .http
            .post(server.url("/v1/events"))
            .header("content-type", "application/json")
            .header("idempotency-key", "hdr-1")
            .body(body)
    };
    let (first, original) = server
        .send(post(r#"{"type":"t","payload":{"a":1,"b":2}}"#))
        .await;
    let (again, repeat) = server
        .send(post(r#"{"payload":{"b":2,"a":1},"type":"t"}"#))
        .await;
    assert_eq!((first.as_u16(), again.as_u16()), (202, 200));
    assert_eq!(repeat["id"], original["id"]);
}

#[tokio::test]
async fn same_key_different_body_is_a_conflict() {
    let server = TestServer::start().await;
    let (status, _) = server
        .post_event(&json!({"type": "t", "payload": {"n": 1}, "idempotency_key": "k"}))
        .await;
    assert_eq!(status, 202);
    let answer = server
        .post_event(&json!({"type": "t", "payload": {"n": 2}, "idempotency_key": "k"}))
        .await;
    assert_error(&answer, 409, "idempotency_conflict");
    assert_eq!(server.count_events().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_of_one_key_store_exactly_one_row() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let body = json!({"type": "t", "payload": {"same": true}, "idempotency_key": "race"});
    let requests = (0..50).map(|_| {
        let server = server.clone();
        let body = body.clone();
        tokio::spawn(async move { server.post_event(&body).await })
    });
    let answers: Vec<_> = futures_join_all(requests).await;
    let created = answers.iter().filter(|(s, _)| *s == 202).count();
    let duplicates = answers
        .iter()
        .filter(|(s, a)| *s == 200 && a["duplicate"] == true)
        .count();
    assert_eq!((created, duplicates), (1, 49));
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|(_, a)| a["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "every answer names the same event");
    assert_eq!(server.count_events().await, 1);
}

#[tokio::test]
async fn keys_are_scoped_per_source() {
    // The same key from the API and from a signed producer are two different events.
    let secret = "klaxon-ingest-test-secret";
    let server = TestServer::start_with(|s| {
        s.ingest.signing_secrets = vec![klaxon::signing::Secret::new(secret)];
    })
    .await;
    let body = r#"{"id":"evt_1","type":"ticket.created","priority":"URGENT"}"#;
    let (api, _) = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    let header = crate::auth::sign_now(secret, body);
    let (signed, _) = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", "application/json")
                .header("x-klaxon-signature", header)
                .body(body),
        )
        .await;
    assert_eq!((api.as_u16(), signed.as_u16()), (202, 202));
    assert_eq!(server.count_events().await, 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let server = TestServer::start().await;
    let raw = |content_type: &'static str, body: Vec<u8>| {
        server
            .http
            .post(server.url("/v1/events"))
            .header("content-type", content_type)
            .body(body)
    };
    let json = "application/json";
    let cases = [
        (raw(json, b"{\"type\": ".to_vec()), 400, "malformed_json"),
        (
            raw(json, br#"{"payload":{}}"#.to_vec()),
            422,
            "missing_type",
        ),
        (raw(json, br#"{"type":42}"#.to_vec()), 422, "invalid_type"),
        (
            raw(json, br#"{"type":"t","payload":"x"}"#.to_vec()),
            422,
            "invalid_payload",
        ),
        (
            raw("text/plain", br#"{"type":"t"}"#.to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            raw("application/x-www-form-urlencoded", b"type=t".to_vec()),
            415,
            "unsupported_media_type",
        ),
        (raw(json, oversized_body()), 413, "payload_too_large"),
    ];
    for (request, status, code) in cases {
        let answer = server.send(request).await;
        assert_error(&answer, status, code);
    }
    // No Content-Type at all.
    let answer = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .body(r#"{"type":"t"}"#),
        )
        .await;
    assert_error(&answer, 415, "unsupported_media_type");
    // A chunked body with no Content-Length that grows past the limit.
    let chunks = chunked_stream(oversized_body());
    let answer = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", json)
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    assert_error(&answer, 413, "payload_too_large");

    assert_eq!(server.count_events().await, 0);
}

#[tokio::test]
async fn content_type_parameters_are_accepted() {
    let server = TestServer::start().await;
    let (status, _) = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("content-type", "Application/JSON; charset=utf-8")
                .body(r#"{"type":"t"}"#),
        )
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = TestServer::start().await;
    assert_error(&server.get("/v2/nothing").await, 404, "not_found");
    let answer = server
        .send(server.http.delete(server.url("/v1/events")))
        .await;
    assert_error(&answer, 405, "method_not_allowed");
}

/// A valid event whose payload makes the body just over 1 MiB.
fn oversized_body() -> Vec<u8> {
    let filler = "x".repeat(1024 * 1024);
    serde_json::to_vec(&json!({"type": "t", "payload": {"filler": filler}})).expect("serialise")
}

fn chunked_stream(
    body: Vec<u8>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    tokio_stream::iter(chunks)
}

async fn futures_join_all<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task did not panic"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_every_accepted_event() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let requests = (0..100).map(|n| {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .post_event(&json!({"type": "t", "payload": {"n": n}}))
                .await
                .0
        })
    });
    let statuses = futures_join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 202));
    let server = std::sync::Arc::into_inner(server).expect("requests are done");
    let database = server.database.clone();
    let dir_guard = server.stop_keeping_files().await;
    let count = crate::support::postgres::count_rows(&database, "events").await;
    assert_eq!(count, 100);
    drop(dir_guard);
}
