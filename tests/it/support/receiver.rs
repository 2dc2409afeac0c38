//! A real webhook receiver on loopback: records every request and answers with a scripted
//! status, so tests can watch retries, dead letters and replays from the receiving end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tokio::sync::Notify;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("request has header {name}: {:?}", self.headers))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Default)]
struct Script {
    /// Statuses for the next requests, in order; then `otherwise`.
    next: VecDeque<(u16, Vec<(&'static str, String)>)>,
    otherwise: u16,
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
    arrived: Arc<Notify>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap(), Shared::new()).await
    }

    async fn start_on(addr: SocketAddr, shared: Shared) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new().fallback(receive).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            shared,
            server: Some(server),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers `status` to every later request.
    pub fn answer(&self, status: u16) {
        self.shared.script.lock().unwrap().otherwise = status;
    }

    /// Answers `status` (with `headers`) to the next request only.
    pub fn answer_once(&self, status: u16, headers: Vec<(&'static str, String)>) {
        self.shared
            .script
            .lock()
            .unwrap()
            .next
            .push_back((status, headers));
    }

    /// Stops listening: connections are refused until [`Receiver::restart`].
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        self.stop().await;
        let again = Receiver::start_on(self.addr, self.shared.clone()).await;
        self.server = again.server;
    }

    /// Forgets what was received so far.
    pub fn clear(&self) {
        self.shared.received.lock().unwrap().clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                panic!(
                    "expected {n} requests within {timeout:?}, got {}",
                    self.received().len()
                );
            }
        }
    }
}

impl Shared {
    fn new() -> Shared {
        Shared {
            received: Arc::default(),
            script: Arc::new(Mutex::new(Script {
                next: VecDeque::new(),
                otherwise: 200,
            })),
            arrived: Arc::new(Notify::new()),
        }
    }
}

async fn receive(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (status, extra) = {
        let mut script = shared.script.lock().unwrap();
        script
            .next
            .pop_front()
            .unwrap_or((script.otherwise, Vec::new()))
    };
    shared.received.lock().unwrap().push(Received {
        headers,
        body,
        at: Instant::now(),
    });
    shared.arrived.notify_waiters();
    let mut response = (StatusCode::from_u16(status).unwrap(), "ok").into_response();
    for (name, value) in extra {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}
