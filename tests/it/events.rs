//! Reading events: newest first, filtered by type, paged with a cursor.

use serde_json::{Value, json};

use crate::support::{TestServer, assert_error};

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|e| e["payload"]["n"].to_string())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_event_newest_first() {
    let server = TestServer::start().await;
    for n in 0..7 {
        let kind = if n % 2 == 0 { "even" } else { "odd" };
        let (status, _) = server
            .post_event(&json!({"type": kind, "payload": {"n": n}}))
            .await;
        assert_eq!(status, 202);
    }

    let (_, first) = server.get("/v1/events?limit=3").await;
    assert_eq!(ids(&first), ["6", "5", "4"]);
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = server
        .get(&format!("/v1/events?limit=3&after={cursor}"))
        .await;
    assert_eq!(ids(&second), ["3", "2", "1"]);
    let cursor = second["next_cursor"].as_str().expect("more pages");
    let (_, last) = server
        .get(&format!("/v1/events?limit=3&after={cursor}"))
        .await;
    assert_eq!(ids(&last), ["0"]);
    assert_eq!(last["next_cursor"], Value::Null);

    let (_, odd) = server.get("/v1/events?type=odd").await;
    assert_eq!(ids(&odd), ["5", "3", "1"]);
    assert_eq!(odd["next_cursor"], Value::Null);
}

#[tokio::test]
async fn an_exactly_full_last_page_has_no_cursor() {
    let server = TestServer::start().await;
    for n in 0..2 {
        server
            .post_event(&json!({"type": "t", "payload": {"n": n}}))
            .await;
    }
    let (_, page) = server.get("/v1/events?limit=2").await;
    assert_eq!(ids(&page), ["1", "0"]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_listing_parameters_are_refused() {
    let server = TestServer::start().await;
    assert_error(
        &server.get("/v1/events?limit=0").await,
        400,
        "invalid_limit",
    );
    assert_error(
        &server.get("/v1/events?limit=501").await,
        400,
        "invalid_limit",
    );
    assert_error(
        &server.get("/v1/events?limit=ten").await,
        400,
        "invalid_limit",
    );
    assert_error(
        &server.get("/v1/events?after=nonsense").await,
        400,
        "invalid_cursor",
    );
    assert_eq!(server.get("/v1/events?limit=500").await.0, 200);
}

#[tokio::test]
async fn a_missing_event_is_a_json_404() {
    let server = TestServer::start().await;
    let absent = uuid::Uuid::now_v7();
    assert_error(
        &server.get(&format!("/v1/events/{absent}")).await,
        404,
        "not_found",
    );
    assert_error(&server.get("/v1/events/not-a-uuid").await, 404, "not_found");
}
