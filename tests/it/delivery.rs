//! Signed webhook delivery against real receivers on loopback: signatures checked by an
//! independent implementation, retries on schedule, dead letters, replay, 410, SSRF, restart.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::receiver::Receiver;
use crate::support::{TestServer, assert_error, eventually};

const WAIT: Duration = Duration::from_secs(10);
/// K1 of the Standard Webhooks vectors in docs/signatures.md §4 (raw key 0x00..=0x17).
const STANDARD_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

fn webhook_pipeline(url: &str, signing: &str, extra: &str) -> String {
    format!(
        r#"
[delivery]
retry_schedule = ["100ms", "200ms"]

[[pipelines]]
name = "hooks"
on = "order.*"
[[pipelines.destinations]]
name = "receiver"
webhook = {{ url = "{url}", signing = "{signing}", secret_env = "HOOK_SECRET", allow_private = true {extra} }}
"#
    )
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

async fn send_order(server: &TestServer, n: u32) -> String {
    let (status, body) = server
        .post_event(&json!({"type": "order.created", "payload": {"order": n, "total": 42.5}}))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The delivery created for `event`, once it reached `state`.
async fn delivery_in_state(server: &TestServer, event: &str, state: &str) -> Value {
    eventually(WAIT, || async {
        let (_, detail) = server.get(&format!("/v1/events/{event}")).await;
        let delivery = detail["deliveries"].get(0)?.clone();
        (delivery["state"] == state).then_some(delivery)
    })
    .await
}

#[tokio::test]
async fn standard_webhooks_signature_verifies_with_an_independent_implementation() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&receiver.url(), "standard", ""),
        &[("HOOK_SECRET", STANDARD_SECRET)],
    )
    .await;
    let event = send_order(&server, 1).await;

    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    let key = STANDARD
        .decode(STANDARD_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let signed = [
        id.as_bytes(),
        b".",
        timestamp.as_bytes(),
        b".",
        &request.body,
    ]
    .concat();
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
    assert_eq!(request.header("webhook-signature"), expected);
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(body["id"], event.as_str());
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["payload"], json!({"order": 1, "total": 42.5}));
    assert!(
        body["occurred_at"].is_string() && body["labels"].is_object(),
        "{body}"
    );

    let delivery = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivery["id"], id, "webhook-id is the delivery id");
    assert_eq!(delivery["attempts"], 1);
}

#[tokio::test]
async fn the_library_signer_matches_the_documented_standard_webhooks_vector() {
    // The vector of docs/signatures.md §4, checked with the independent implementation above, so
    // both the test's HMAC and Klaxon's agree with the spec.
    let key: Vec<u8> = (0u8..0x18).collect();
    let signed =
        b"msg_2kLx0n0000000000000001.1717000000.{\"type\":\"example.event\",\"data\":{\"id\":1}}";
    let body = &signed[b"msg_2kLx0n0000000000000001.1717000000.".len()..];
    let ours = klaxon::signing::standard_webhooks::sign(
        "msg_2kLx0n0000000000000001",
        1_717_000_000,
        body,
        &[STANDARD_SECRET.parse().unwrap()],
    );
    assert_eq!(
        ours,
        format!("v1,{}", STANDARD.encode(hmac_sha256(&key, signed)))
    );
}

#[tokio::test]
async fn stripe_style_signature_uses_the_configured_header_and_rotated_secrets() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with_toml(
        &webhook_pipeline(
            &receiver.url(),
            "stripe",
            r#", header = "X-Acme-Signature""#,
        ),
        &[("HOOK_SECRET", "old_secret, new_secret")],
    )
    .await;
    send_order(&server, 2).await;

    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let header = request.header("x-acme-signature");
    let mut parts = header.split(',');
    let t = parts.next().unwrap().strip_prefix("t=").expect("t= first");
    let signatures: Vec<&str> = parts.map(|p| p.strip_prefix("v1=").expect("v1=")).collect();
    let signed = [t.as_bytes(), b".", &request.body].concat();
    for (secret, signature) in ["old_secret", "new_secret"].iter().zip(&signatures) {
        assert_eq!(
            *signature,
            hex::encode(hmac_sha256(secret.as_bytes(), &signed))
        );
    }
    assert_eq!(signatures.len(), 2, "one v1 per secret: {header}");
}

#[tokio::test]
async fn bearer_and_unsigned_deliveries() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&receiver.url(), "bearer", ""),
        &[("HOOK_SECRET", "receiver-token-123")],
    )
    .await;
    send_order(&server, 3).await;
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(request.header("authorization"), "Bearer receiver-token-123");
    assert!(request.headers.get("webhook-signature").is_none());
}

#[tokio::test]
async fn a_down_receiver_is_retried_on_schedule_then_dead_lettered_then_replayed() {
    let mut receiver = Receiver::start().await;
    let url = receiver.url();
    receiver.stop().await;
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&url, "none", ""),
        &[("HOOK_SECRET", "unused")],
    )
    .await;
    let event = send_order(&server, 4).await;

    // 1 attempt + 2 retries (schedule 100 ms, 200 ms), all refused, then dead.
    let dead = delivery_in_state(&server, &event, "dead").await;
    let id = dead["id"].as_str().unwrap();
    let (_, detail) = server.get(&format!("/v1/deliveries/{id}")).await;
    let attempts = detail["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{detail}");
    for attempt in attempts {
        assert!(attempt["status"].is_null());
        assert!(
            attempt["error"].as_str().unwrap().contains("connection"),
            "{attempt}"
        );
    }
    let (_, dlq) = server.get("/v1/deliveries?state=dead").await;
    assert_eq!(dlq["data"].as_array().unwrap().len(), 1);
    assert_eq!(dlq["data"][0]["id"], id);

    // A replay before the receiver is back would just die again; bring it back first.
    receiver.restart().await;
    let replay = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    assert_eq!(replay.0, 202, "{}", replay.1);
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    assert_eq!(delivered["attempts"], 4);
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1, "delivered exactly once after the replay");
    assert_eq!(received[0].header("webhook-id"), id);

    // Replaying something in progress is refused; an unknown id is 404.
    let again = server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    assert_eq!(
        again.0, 202,
        "a succeeded delivery can be sent again: {}",
        again.1
    );
    let missing = server
        .send(
            server
                .http
                .post(server.url("/v1/deliveries/msg_00000000000000000000000000000000/replay")),
        )
        .await;
    assert_error(&missing, 404, "not_found");
}

#[tokio::test]
async fn retries_follow_the_schedule_and_honour_retry_after() {
    let receiver = Receiver::start().await;
    receiver.answer_once(503, vec![("retry-after", "1".into())]);
    receiver.answer_once(500, vec![]);
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&receiver.url(), "none", ""),
        &[("HOOK_SECRET", "unused")],
    )
    .await;
    let event = send_order(&server, 5).await;

    let received = receiver.wait_for(3, WAIT).await;
    let first_gap = received[1].at - received[0].at;
    let second_gap = received[2].at - received[1].at;
    assert!(
        first_gap >= Duration::from_millis(950),
        "Retry-After: 1 honoured: {first_gap:?}"
    );
    assert!(
        second_gap >= Duration::from_millis(170),
        "second retry after ~200 ms: {second_gap:?}"
    );
    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    let (_, detail) = server
        .get(&format!(
            "/v1/deliveries/{}",
            delivered["id"].as_str().unwrap()
        ))
        .await;
    let statuses: Vec<Value> = detail["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(503), json!(500), json!(200)]);
    assert_eq!(detail["attempt_log"][0]["response"], "ok");
}

#[tokio::test]
async fn gone_disables_the_destination_until_enabled() {
    let receiver = Receiver::start().await;
    receiver.answer(410);
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&receiver.url(), "none", ""),
        &[("HOOK_SECRET", "unused")],
    )
    .await;
    let first = send_order(&server, 6).await;
    let dead = delivery_in_state(&server, &first, "dead").await;
    assert_eq!(dead["attempts"], 1, "410 is not retried");

    // Later deliveries are dead-lettered without a request.
    let second = send_order(&server, 7).await;
    let buried = delivery_in_state(&server, &second, "dead").await;
    assert_eq!(buried["attempts"], 0);
    assert!(buried["last_error"].as_str().unwrap().contains("disabled"));
    assert_eq!(receiver.received().len(), 1);
    let (_, destinations) = server.get("/v1/destinations").await;
    assert_eq!(destinations["data"][0]["enabled"], false, "{destinations}");

    receiver.answer(200);
    let enabled = server
        .send(
            server
                .http
                .post(server.url("/v1/destinations/hooks.receiver/enable")),
        )
        .await;
    assert_eq!(enabled.0, 200, "{}", enabled.1);
    let id = buried["id"].as_str().unwrap();
    server
        .send(
            server
                .http
                .post(server.url(&format!("/v1/deliveries/{id}/replay"))),
        )
        .await;
    delivery_in_state(&server, &second, "succeeded").await;
}

#[tokio::test]
async fn gone_seen_by_one_node_disables_the_destination_on_every_node() {
    if !crate::support::postgres::enabled() {
        eprintln!("skipped: several nodes need PostgreSQL (KLAXON_TEST_POSTGRES_URL)");
        return;
    }
    let receiver = Receiver::start().await;
    receiver.answer(410);
    let toml = webhook_pipeline(&receiver.url(), "none", "");
    let env = [("HOOK_SECRET", "unused")];
    let a = TestServer::start_with_toml(&toml, &env).await;
    let b = TestServer::start_with(|settings| {
        crate::support::apply_toml(settings, &toml, &env);
        settings.database = a.database.clone();
    })
    .await;
    let first = send_order(&a, 8).await;
    delivery_in_state(&a, &first, "dead").await;
    // Node b heard about it (LISTEN/NOTIFY): it buries its next delivery without a request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = send_order(&b, 9).await;
    let buried = delivery_in_state(&b, &second, "dead").await;
    assert_eq!(buried["attempts"], 0, "{buried}");
    assert_eq!(receiver.received().len(), 1);

    // Enabled through node b: node a sends again.
    receiver.answer(200);
    let enabled = b
        .send(b.http.post(b.url("/v1/destinations/hooks.receiver/enable")))
        .await;
    assert_eq!(enabled.0, 200, "{}", enabled.1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = send_order(&a, 10).await;
    delivery_in_state(&a, &third, "succeeded").await;
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let receiver = Receiver::start().await;
    let toml = format!(
        r#"
[[pipelines]]
name = "hooks"
on = "order.*"
[[pipelines.destinations]]
name = "by-ip"
webhook = {{ url = "{}", signing = "none" }}
[[pipelines.destinations]]
name = "by-name"
webhook = {{ url = "http://localhost:{}/hook", signing = "none" }}
"#,
        receiver.url(),
        receiver.addr.port()
    );
    let server = TestServer::start_with_toml(&toml, &[]).await;
    let event = send_order(&server, 8).await;
    let deliveries = eventually(WAIT, || async {
        let (_, detail) = server.get(&format!("/v1/events/{event}")).await;
        let deliveries = detail["deliveries"].as_array()?.clone();
        (deliveries.len() == 2 && deliveries.iter().all(|d| d["state"] == "dead"))
            .then_some(deliveries)
    })
    .await;
    for delivery in deliveries {
        assert_eq!(delivery["attempts"], 1, "refusal is final: {delivery}");
        let error = delivery["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("allow_private"),
            "{error}"
        );
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_no_delivery() {
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let toml = webhook_pipeline(&receiver.url(), "none", "")
        .replace(r#"["100ms", "200ms"]"#, r#"["300ms", "300ms", "300ms"]"#);
    let env = [("HOOK_SECRET", "unused")];
    let server = TestServer::start_with_toml(&toml, &env).await;
    let mut events = Vec::new();
    for n in 0..20 {
        events.push(send_order(&server, n).await);
    }
    receiver.wait_for(20, WAIT).await;
    let dir = server.stop_keeping_files().await;

    // While Klaxon is down the receiver recovers; after the restart every delivery lands.
    receiver.answer(200);
    let server = TestServer::start_in(dir, "127.0.0.1:0", |s| {
        crate::support::apply_toml(s, &toml, &env)
    })
    .await;
    for event in &events {
        delivery_in_state(&server, event, "succeeded").await;
    }
    let delivered: std::collections::HashSet<String> = receiver
        .received()
        .iter()
        .filter(|r| r.body.len() > 2)
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered.len(), 20, "every event reached the receiver");
}

#[tokio::test]
async fn delivery_listing_filters_and_rejects_bad_parameters() {
    let receiver = Receiver::start().await;
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&receiver.url(), "none", ""),
        &[("HOOK_SECRET", "unused")],
    )
    .await;
    for n in 0..3 {
        send_order(&server, n).await;
    }
    receiver.wait_for(3, WAIT).await;
    eventually(WAIT, || async {
        let (_, all) = server.get("/v1/deliveries?state=succeeded").await;
        (all["data"].as_array()?.len() == 3).then_some(())
    })
    .await;
    let (_, page) = server
        .get("/v1/deliveries?state=succeeded&destination=hooks.receiver&limit=2")
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let (_, other) = server.get("/v1/deliveries?destination=elsewhere").await;
    assert_eq!(other["data"], serde_json::json!([]));
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, rest) = server
        .get(&format!("/v1/deliveries?state=succeeded&after={cursor}"))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    let event_id = page["data"][0]["event_id"].as_str().unwrap();
    let (_, of_one) = server
        .get(&format!("/v1/deliveries?event_id={event_id}"))
        .await;
    let of_one = of_one["data"].as_array().unwrap();
    assert_eq!(of_one.len(), 1, "one delivery per event here: {of_one:?}");
    assert_eq!(of_one[0]["event_id"], event_id);
    assert_error(
        &server.get("/v1/deliveries?event_id=evt_nope").await,
        400,
        "invalid_event_id",
    );
    assert_error(
        &server.get("/v1/deliveries?state=lost").await,
        400,
        "invalid_state",
    );
    assert_error(
        &server.get("/v1/deliveries?limit=0").await,
        400,
        "invalid_limit",
    );
    assert_error(&server.get("/v1/deliveries/nope").await, 404, "not_found");
}

#[tokio::test]
async fn a_receiver_answering_with_nul_bytes_is_delivered_once() {
    // PostgreSQL refuses NUL in text: the attempt's record once failed, so the delivery was
    // sent again after its lease, forever. The response is kept with U+FFFD in its place.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "accepted\0by\0receiver" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = TestServer::start_with_toml(
        &webhook_pipeline(&url, "none", ""),
        &[("HOOK_SECRET", "unused")],
    )
    .await;
    let event = send_order(&server, 9).await;

    let delivered = delivery_in_state(&server, &event, "succeeded").await;
    let id = delivered["id"].as_str().unwrap();
    let (_, detail) = server.get(&format!("/v1/deliveries/{id}")).await;
    let attempts = detail["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{detail}");
    assert_eq!(
        attempts[0]["response"], "accepted\u{FFFD}by\u{FFFD}receiver",
        "{detail}"
    );
    // Longer than a test server's lease: nothing is sent again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}
