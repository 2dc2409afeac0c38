//! A real OpenAI-compatible model server on loopback that counts its calls and keeps their
//! bodies, so tests can prove the classification cache, the fallback when the model fails,
//! and what the model was shown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone)]
struct Shared {
    calls: Arc<AtomicUsize>,
    /// Every request body, in arrival order.
    requests: Arc<std::sync::Mutex<Vec<Value>>>,
    /// 200 answers with `label`; anything else fails with that status.
    status: Arc<AtomicU16>,
    label: Arc<std::sync::Mutex<String>>,
}

pub struct ModelServer {
    pub addr: SocketAddr,
    shared: Shared,
}

impl ModelServer {
    /// A model that answers `label` to every classification.
    pub async fn start(label: &str) -> ModelServer {
        let shared = Shared {
            calls: Arc::default(),
            requests: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            label: Arc::new(std::sync::Mutex::new(label.to_owned())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind model server");
        let addr = listener.local_addr().expect("model address");
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ModelServer { addr, shared }
    }

    /// The base URL to configure as `AI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The body of every call so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Every later call fails with `status`.
    pub fn fail_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }
}

async fn complete(State(shared): State<Shared>, Json(request): Json<Value>) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    shared.requests.lock().unwrap().push(request.clone());
    let status = shared.status.load(Ordering::SeqCst);
    if status != 200 {
        return (StatusCode::from_u16(status).unwrap(), "model unavailable").into_response();
    }
    // A real constrained model can only answer one of the offered choices.
    let label = shared.label.lock().unwrap().clone();
    let offered = request["guided_choice"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !offered.iter().any(|c| c == &json!(label)) {
        return (
            StatusCode::BAD_REQUEST,
            "guided_choice does not offer the label",
        )
            .into_response();
    }
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop"}],
    }))
    .into_response()
}
