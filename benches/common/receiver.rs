//! A webhook receiver for the benchmarks: answers 200 (after an adjustable delay) and notes
//! when each event's delivery first arrived, keyed by the event id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;

pub struct Receiver {
    pub addr: SocketAddr,
    pub arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    delay: Arc<AtomicU64>,
}

#[derive(Clone)]
struct ReceiverState {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    /// Milliseconds to wait before answering.
    delay: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = ReceiverState {
            arrivals: Arc::default(),
            delay: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = Router::new().fallback(receive).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            arrivals: state.arrivals,
            delay: state.delay,
        }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many events' deliveries have arrived.
    pub fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    pub fn reset(&self) {
        self.arrivals.lock().unwrap().clear();
    }
}

async fn receive(State(state): State<ReceiverState>, body: Bytes) -> &'static str {
    let delay = state.delay.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let at = Instant::now();
    // The body starts `{"id":"<event id>",…` (`id` is the first field).
    let id = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| text.split('"').nth(3))
        .unwrap_or_default()
        .to_owned();
    state.arrivals.lock().unwrap().entry(id).or_insert(at);
    "ok"
}
