//! Issue 15, item 4: "One NUL byte fails other clients' events on PostgreSQL."
//!
//! A NUL in an idempotency key used to reach PostgreSQL, which refuses it, and the group
//! commit carrying it failed every event in it with 503. Two fixes, two kinds of test:
//! control characters are refused at the door on both backends alike (each distinct input
//! below is one probe), and a row the database refuses for any reason fails alone: here a
//! trigger poisons one event type, and valid events sent at the same time must all commit.

use std::net::SocketAddr;

use klaxon::sandbox::carrier::SigningSeed;
use klaxon::store::DatabaseUrl;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestServer, apply_toml, assert_error, postgres};

/// The Telnyx key the door test signs its voice webhooks with.
const SEED: [u8; 32] = [42; 32];

#[tokio::test]
async fn control_characters_are_refused_at_the_door() {
    let key = SigningSeed::from_bytes(SEED).public_key_base64();
    let server =
        TestServer::start_with(|s| apply_toml(s, "", &[("TELNYX_PUBLIC_KEY", &key)])).await;
    let events_before = server.count_events().await;
    let mut probes = 0;

    // POST /v1/events: the key from the body, a flat `id`, the header; the type.
    let ingest_cases = [
        (
            json!({"type": "sec.nul", "payload": {}, "idempotency_key": "a\u{0}b"}),
            "invalid_idempotency_key",
        ),
        (
            json!({"type": "sec.nul", "payload": {}, "idempotency_key": "unit\u{1f}sep"}),
            "invalid_idempotency_key",
        ),
        (
            json!({"type": "sec.nul", "payload": {}, "idempotency_key": "del\u{7f}"}),
            "invalid_idempotency_key",
        ),
        (
            json!({"id": "a\u{0}b", "type": "sec.nul", "x": 1}),
            "invalid_idempotency_key",
        ),
        (
            json!({"type": "sec.nul\u{0}", "payload": {}}),
            "invalid_type",
        ),
    ];
    for (body, code) in &ingest_cases {
        let answer = server.post_event(body).await;
        assert_error(&answer, 422, code);
        assert!(
            answer.1["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("control character")),
            "the message says why: {}",
            answer.1
        );
        probes += 1;
    }
    // A tab is the one control character an HTTP header value may carry.
    let answer = server
        .send(
            server
                .http
                .post(server.url("/v1/events"))
                .header("idempotency-key", "a\tb")
                .json(&json!({"type": "sec.nul", "payload": {}})),
        )
        .await;
    assert_error(&answer, 422, "invalid_idempotency_key");
    probes += 1;
    // A NUL in a header is refused by the HTTP parser before Klaxon sees it (no client
    // library will send one, so this one goes over a raw socket).
    let status = raw_post_with_header(server.addr, "Idempotency-Key", b"a\0b").await;
    assert!(
        (400..500).contains(&status),
        "a NUL in a header is a client error, got {status}"
    );
    probes += 1;
    // A payload may carry a NUL inside a JSON string: it is stored as the escape `\u0000`.
    let answer = server
        .post_event(&json!({"type": "sec.nul", "payload": {"note": "a\u{0}b"}}))
        .await;
    assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.1);

    // POST /webhooks/merge (no secret configured, from loopback: accepted unsigned).
    let merge_cases = [
        json!({"hook": {"event": "Ticket.chan\u{0}ged"}, "linked_account": {"id": "acct_1"},
               "data": {"id": "t1"}}),
        json!({"hook": {"event": "Ticket.changed"}, "linked_account": {"id": "acct\u{0}1"},
               "data": {"id": "t1"}}),
    ];
    for body in &merge_cases {
        let request = server.http.post(server.url("/webhooks/merge")).json(body);
        let answer = server.send(request).await;
        assert_error(&answer, 400, "invalid_merge_webhook");
        probes += 1;
    }

    // POST /webhooks/voice, signed like Telnyx's.
    let voice_cases = [
        json!({"data": {"record_type": "event", "id": "a\u{0}b", "event_type": "call.answered",
               "payload": {"call_control_id": "v3:ok"}}}),
        json!({"data": {"record_type": "event", "id": "e1", "event_type": "call.answered",
               "payload": {"call_control_id": "v3:\u{0}"}}}),
    ];
    for body in &voice_cases {
        let answer = post_signed_voice(&server, body).await;
        assert_error(&answer, 400, "invalid_webhook");
        probes += 1;
    }

    assert_eq!(
        server.count_events().await,
        events_before + 1,
        "only the event with the escaped NUL in its payload is stored"
    );
    assert_eq!(
        postgres::count_rows(&server.database, "voice_webhooks").await,
        0,
        "no voice webhook is recorded"
    );
    println!("isolation: {probes} control-character probes refused at the door");
    assert_eq!(probes, 11);
}

#[tokio::test]
async fn a_refused_row_fails_alone_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("klaxon.db");
    let server = TestServer::start_in(dir, "127.0.0.1:0", {
        let path = path.clone();
        // SQLite even when the suite runs on PostgreSQL: both backends are tested each run.
        move |s| s.database = DatabaseUrl::Sqlite(path)
    })
    .await;
    rusqlite::Connection::open(&path)
        .expect("open the test database")
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.type = 'poison.refused'
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
        )
        .expect("install the poison trigger");
    load_with_poison(&server, &DatabaseUrl::Sqlite(path)).await;
}

#[tokio::test]
async fn a_refused_row_fails_alone_on_postgres() {
    if !postgres::enabled() {
        return;
    }
    let server = TestServer::start().await;
    let DatabaseUrl::Postgres(url) = &server.database else {
        panic!("PostgreSQL is enabled, so the test server runs on it");
    };
    // Created in the test's own schema (the first on its search_path).
    postgres::connect(url)
        .await
        .batch_execute(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'poisoned row' USING ERRCODE = '23514'; END $$;
             CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW
             WHEN (NEW.type = 'poison.refused') EXECUTE FUNCTION poison();",
        )
        .await
        .expect("install the poison trigger");
    load_with_poison(&server, &server.database).await;
}

/// Fires 400 valid events, 40 the trigger refuses and 40 with a NUL in their key, all at
/// once, and checks that each fails or succeeds on its own.
async fn load_with_poison(server: &TestServer, database: &DatabaseUrl) {
    const VALID: usize = 400;
    const POISONED: usize = 40;
    const NUL_KEYS: usize = 40;
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Kind {
        Valid,
        Poisoned,
        NulKey,
    }
    // Interleaved, so the bad requests ride in the same group commits as the good ones.
    let kinds = (0..VALID + POISONED + NUL_KEYS).map(|i| match i % 12 {
        5 => Kind::Poisoned,
        11 => Kind::NulKey,
        _ => Kind::Valid,
    });
    let mut tasks = Vec::new();
    for (i, kind) in kinds.enumerate() {
        let body = match kind {
            Kind::Valid => {
                json!({"type": "load.ok", "payload": {"i": i}, "idempotency_key": format!("ok-{i}")})
            }
            Kind::Poisoned => {
                json!({"type": "poison.refused", "payload": {"i": i}, "idempotency_key": format!("bad-{i}")})
            }
            Kind::NulKey => {
                json!({"type": "load.ok", "payload": {"i": i}, "idempotency_key": format!("nul\u{0}{i}")})
            }
        };
        let request = server.http.post(server.url("/v1/events")).json(&body);
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.expect("request reaches the server");
            let status = response.status();
            let answer: Value = response.json().await.expect("a JSON answer");
            (kind, status, answer)
        }));
    }
    let mut counts = [0usize; 3];
    for task in tasks {
        let (kind, status, answer) = task.await.expect("request task");
        assert_ne!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{kind:?} failed with its batch: {answer}"
        );
        match kind {
            Kind::Valid => assert_eq!(status, StatusCode::ACCEPTED, "{answer}"),
            Kind::Poisoned => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
                assert_eq!(answer["error"]["code"], "rejected_by_store", "{answer}");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("poisoned row"),
                    "the store's reason: {answer}"
                );
            }
            Kind::NulKey => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
                assert_eq!(answer["error"]["code"], "invalid_idempotency_key");
            }
        }
        counts[kind as usize] += 1;
    }
    assert_eq!(counts, [VALID, POISONED, NUL_KEYS]);
    assert_eq!(count_of_type(database, "load.ok").await, VALID as i64);
    assert_eq!(count_of_type(database, "poison.refused").await, 0);
    println!(
        "isolation: {} malicious probes ({POISONED} refused by the store, {NUL_KEYS} NUL keys) among {VALID} valid events",
        POISONED + NUL_KEYS
    );
}

async fn count_of_type(database: &DatabaseUrl, event_type: &str) -> i64 {
    match database {
        DatabaseUrl::Sqlite(path) => rusqlite::Connection::open(path)
            .expect("open the test database")
            .query_row(
                "SELECT COUNT(*) FROM events WHERE type = ?1",
                [event_type],
                |row| row.get(0),
            )
            .expect("count events"),
        DatabaseUrl::Postgres(url) => postgres::connect(url)
            .await
            .query_one(
                "SELECT COUNT(*) FROM events WHERE type = $1",
                &[&event_type],
            )
            .await
            .expect("count events")
            .get(0),
    }
}

async fn post_signed_voice(server: &TestServer, body: &Value) -> (StatusCode, Value) {
    let text = body.to_string();
    let timestamp = klaxon::clock::now_secs().to_string();
    let signature = klaxon::signing::telnyx::sign(&SEED, &timestamp, text.as_bytes());
    let request = server
        .http
        .post(server.url("/webhooks/voice"))
        .header("content-type", "application/json")
        .header("telnyx-signature-ed25519", signature)
        .header("telnyx-timestamp", timestamp)
        .body(text);
    server.send(request).await
}

/// Posts a valid event with one extra header sent byte for byte; returns the status code.
async fn raw_post_with_header(addr: SocketAddr, name: &str, value: &[u8]) -> u16 {
    let body = r#"{"type":"sec.nul","payload":{}}"#;
    let mut request = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{name}: ",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(value);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    stream.write_all(&request).await.expect("send the request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {answer:?}"))
}
