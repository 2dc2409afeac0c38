//! `klaxon destinations test <name>`: the real binary sends one test message through a
//! configured destination, prints how the destination answered, and exits 0 only when it
//! was delivered.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use crate::support::binary::command;

/// A receiver on loopback that records each body and answers with `status`.
async fn receiver(status: StatusCode) -> (String, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                move |State(bodies): State<Arc<Mutex<Vec<String>>>>, body: Bytes| async move {
                    bodies
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    status
                },
            ),
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook?token=kx-secret-7f3a",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

/// Runs `klaxon destinations test <name>` with `toml` as its settings, in sandbox mode.
async fn test_command(toml: String, name: &str) -> (i32, String, String) {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("klaxon.toml");
        std::fs::write(&file, toml).unwrap();
        let output = command()
            .current_dir(dir.path())
            .args(["destinations", "test", &name, "--config"])
            .arg(&file)
            .output()
            .expect("run klaxon");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn settings(webhook_url: &str) -> String {
    format!(
        r##"
[[pipelines]]
name = "alerts"
on = "ticket.*"
[[pipelines.destinations]]
name = "hook"
webhook = {{ url = "{webhook_url}", signing = "none", allow_private = true }}
[[pipelines.destinations]]
name = "slack"
slack = {{ token_env = "SLACK_BOT_TOKEN", channel = "#ops" }}
"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_message_reaches_a_webhook_and_the_answer_is_printed() {
    let (url, bodies) = receiver(StatusCode::OK).await;
    let (code, stdout, stderr) = test_command(settings(&url), "alerts.hook").await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("result:   delivered"), "{stdout}");
    assert!(stdout.contains("status:   200"), "{stdout}");
    assert!(
        !stdout.contains("kx-secret-7f3a"),
        "never the URL's token: {stdout}"
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one message: {bodies:?}");
    let document: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(document["type"], "klaxon.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_explained_and_fails_the_command() {
    let (url, bodies) = receiver(StatusCode::GONE).await;
    // The short name works when it is unique.
    let (code, stdout, stderr) = test_command(settings(&url), "hook").await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("status:   410"), "{stdout}");
    assert!(stdout.contains("disabled"), "{stdout}");
    assert!(
        !stdout.contains("kx-secret-7f3a"),
        "never the URL's token: {stdout}"
    );
    assert_eq!(bodies.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_destination_without_a_token_is_tried_on_the_sandbox() {
    let (url, _) = receiver(StatusCode::OK).await;
    let (code, stdout, stderr) = test_command(settings(&url), "slack").await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("alerts.slack (slack, slack #ops (sandbox))"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Test message from Klaxon"),
        "the sandbox's echo: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_lists_the_destinations_there_are() {
    let (url, _) = receiver(StatusCode::OK).await;
    let (code, stdout, stderr) = test_command(settings(&url), "pager").await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("no destination \"pager\"") && stderr.contains("alerts.hook, alerts.slack"),
        "{stderr}"
    );
}
